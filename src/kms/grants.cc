#include "kms/grants.h"

#include <algorithm>
#include <array>

#include "common/bytes.h"
#include "common/text.h"
#include "crypto/hash.h"
#include "kms/errors.h"

namespace coffer::kms {
namespace {

// The operations of a symmetric encryption key (every key coffer makes).
bool SymmetricKeyOperation(std::string_view op) {
  return op != "Sign" && op != "Verify" && op != "GetPublicKey" && op != "GenerateMac" &&
         op != "VerifyMac" && op != "DeriveSharedSecret";
}

constexpr size_t kTokenSize = 1 + 16 + kGrantIdBytes + 32;

bool Lists(const std::vector<std::string>& operations, std::string_view op) {
  return std::find(operations.begin(), operations.end(), op) != operations.end();
}

// Every pair of a grant constraint's `pairs` is in `context`. In a constraint
// (unlike a Decrypt's context) the key is compared without case and the value
// with it (GrantConstraints in the KMS API reference).
bool Includes(const EncryptionContext& context, const EncryptionContext& pairs) {
  return std::all_of(pairs.begin(), pairs.end(), [&](const auto& kv) {
    return std::any_of(context.begin(), context.end(), [&](const auto& pair) {
      return EqualsIgnoringAsciiCase(pair.first, kv.first) && pair.second == kv.second;
    });
  });
}

// `context` is what the constraint EncryptionContextEquals `pairs` asks for: each
// holds the other (keys without case), so that a context pair no constraint pair
// names cannot hide behind two constraint keys that differ only in case.
bool EqualsConstraint(const EncryptionContext& context, const EncryptionContext& pairs) {
  return Includes(context, pairs) && Includes(pairs, context);
}

}  // namespace

const std::vector<std::string_view>& GrantOperationNames() {
  static const auto* names = new std::vector<std::string_view>{
      "Decrypt",
      "Encrypt",
      "GenerateDataKey",
      "GenerateDataKeyWithoutPlaintext",
      "ReEncryptFrom",
      "ReEncryptTo",
      "Sign",
      "Verify",
      "GetPublicKey",
      "CreateGrant",
      "RetireGrant",
      "DescribeKey",
      "GenerateDataKeyPair",
      "GenerateDataKeyPairWithoutPlaintext",
      "GenerateMac",
      "VerifyMac",
      "DeriveSharedSecret",
  };
  return *names;
}

Status CheckCreateGrant(const CreateGrantRequest& request) {
  if (request.operations.empty()) {
    return errors::ValidationError("Grants must contain at least one operation.");
  }
  if (std::all_of(request.operations.begin(), request.operations.end(),
                  [](const std::string& op) { return op == "CreateGrant"; })) {
    return errors::ValidationError("Grants must not contain only the CreateGrant operation.");
  }
  for (const std::string& op : request.operations) {
    if (!SymmetricKeyOperation(op)) {
      return errors::ValidationError("Grant operation " + op +
                                     " is not valid for a symmetric encryption KMS key.");
    }
  }
  if (request.constraints) {
    const GrantConstraints& c = *request.constraints;
    if (c.encryption_context_subset && c.encryption_context_equals) {
      return errors::ValidationError("More than one constraint supplied");
    }
    const EncryptionContext* pairs =
        c.encryption_context_subset
            ? &*c.encryption_context_subset
            : (c.encryption_context_equals ? &*c.encryption_context_equals : nullptr);
    if (pairs != nullptr && pairs->size() > kMaxConstraintPairs) {
      return errors::ValidationError("A grant constraint may hold at most " +
                                     std::to_string(kMaxConstraintPairs) +
                                     " encryption context pairs.");
    }
  }
  return Status::Ok();
}

bool GrantAllows(const Grant& grant, std::string_view operation, const EncryptionContext* context) {
  if (!Lists(grant.operations, operation)) return false;
  if (!grant.constraints || context == nullptr) return true;
  const GrantConstraints& c = *grant.constraints;
  if (c.encryption_context_equals && !EqualsConstraint(*context, *c.encryption_context_equals)) {
    return false;
  }
  if (c.encryption_context_subset && !Includes(*context, *c.encryption_context_subset)) {
    return false;
  }
  return true;
}

bool GrantPermitsChild(const Grant& parent, const CreateGrantRequest& child) {
  for (const std::string& op : child.operations) {
    if (!Lists(parent.operations, op)) return false;
  }
  if (!parent.constraints) return true;
  const GrantConstraints& p = *parent.constraints;
  if (!p.encryption_context_subset && !p.encryption_context_equals) return true;
  if (!child.constraints) return false;
  const GrantConstraints& c = *child.constraints;
  if (p.encryption_context_equals) {
    return c.encryption_context_equals &&
           EqualsConstraint(*c.encryption_context_equals, *p.encryption_context_equals);
  }
  // The parent's Subset: the child's pairs, of either kind, hold all of it.
  const EncryptionContext* pairs = c.encryption_context_subset   ? &*c.encryption_context_subset
                                   : c.encryption_context_equals ? &*c.encryption_context_equals
                                                                 : nullptr;
  return pairs != nullptr && Includes(*pairs, *p.encryption_context_subset);
}

std::string NewGrantToken(std::string_view key_uuid, std::string_view grant_id, Random& random) {
  Bytes raw;
  raw.reserve(kTokenSize);
  raw.push_back(kGrantTokenVersion);
  std::array<uint8_t, 16> uuid{};
  ParseUuid(key_uuid, uuid);
  raw.insert(raw.end(), uuid.begin(), uuid.end());
  auto id = HexDecode(grant_id);
  if (id.ok()) raw.insert(raw.end(), id->begin(), id->end());
  std::array<uint8_t, 32> nonce{};
  random.Fill(nonce);
  raw.insert(raw.end(), nonce.begin(), nonce.end());
  return Base64Encode(raw);
}

std::optional<GrantTokenParts> ParseGrantToken(std::string_view token) {
  auto raw = Base64Decode(token);
  if (!raw.ok() || raw->size() != kTokenSize || (*raw)[0] != kGrantTokenVersion) {
    return std::nullopt;
  }
  GrantTokenParts parts;
  parts.key_uuid = FormatUuid(raw->data() + 1);
  parts.grant_id = HexEncode(ByteView(raw->data() + 17, kGrantIdBytes));
  return parts;
}

std::string GrantTokenDigest(std::string_view token) {
  return HexEncode(
      crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(token.data()), token.size())));
}

bool IsGrantId(std::string_view grant_id) {
  return grant_id.size() == 2 * kGrantIdBytes &&
         std::all_of(grant_id.begin(), grant_id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace coffer::kms
