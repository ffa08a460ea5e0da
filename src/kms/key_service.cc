#include "kms/key_service.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <shared_mutex>

#include "common/list_marker.h"
#include "common/logging.h"
#include "common/text.h"
#include "crypto/aes_gcm.h"
#include "crypto/hkdf.h"
#include "crypto/random.h"
#include "kms/ciphertext_blob.h"
#include "kms/errors.h"
#include "kms/grants.h"
#include "kms/key_records.h"
#include "policy/policy.h"

namespace coffer::kms {

bool NamesAlias(std::string_view key_id) {
  return key_id.starts_with("alias/") ||
         (key_id.starts_with("arn:") && key_id.find(":alias/") != std::string_view::npos);
}

std::string_view KeyStateName(KeyState s) {
  switch (s) {
    case KeyState::kEnabled:
      return "Enabled";
    case KeyState::kDisabled:
      return "Disabled";
    case KeyState::kPendingDeletion:
      return "PendingDeletion";
    case KeyState::kPendingImport:
      return "PendingImport";
  }
  return "Unavailable";
}

namespace {

// The region of an ARN ("arn:PARTITION:SERVICE:REGION:…"); empty when there is none.
std::string_view ArnRegion(std::string_view arn) {
  size_t start = 0;
  for (int field = 0; field < 3; ++field) {
    start = arn.find(':', start);
    if (start == std::string_view::npos) return {};
    ++start;
  }
  size_t end = arn.find(':', start);
  return end == std::string_view::npos ? std::string_view() : arn.substr(start, end - start);
}

using state::ReadTransaction;
using state::Transaction;

constexpr size_t kMaterialSize = 32;
constexpr int kMinPendingWindow = 7, kMaxPendingWindow = 30, kDefaultPendingWindow = 30;
constexpr int kMinRotationPeriod = 90, kMaxRotationPeriod = 2560, kDefaultRotationPeriod = 365;
constexpr size_t kMaxPlaintext = 4096, kMaxCiphertext = 6144;
constexpr size_t kMaxKeyIdLength = 2048;
constexpr int kMaxNumberOfBytes = 1024;

// What an operation is, for the key state × operation matrix (kms.md).
enum class Op {
  kDescribe,        // DescribeKey
  kManage,          // UpdateKeyDescription, EnableKey, DisableKey, tags, ScheduleKeyDeletion
  kPolicy,          // GetKeyPolicy, PutKeyPolicy
  kList,            // ListAliases, ListResourceTags, ListKeyPolicies, ListKeyRotations
  kAliasTarget,     // CreateAlias / UpdateAlias pointing at the key
  kRotationConfig,  // Enable/DisableKeyRotation, RotateKeyOnDemand
  kRotationStatus,  // GetKeyRotationStatus
  kCrypto,          // Encrypt, Decrypt, ReEncrypt, GenerateDataKey*
  kCancelDeletion,  // CancelKeyDeletion
  kCreateGrant,     // CreateGrant: the key states of a cryptographic operation
};

// `arn_of_key()` gives the key's ARN for an error message (built only then).
template <typename ArnOfKey>
Status CheckState(Op op, const KeyRecord& key, const ArnOfKey& arn_of_key) {
  if (key.state == KeyState::kEnabled && op != Op::kCancelDeletion) return Status::Ok();
  const std::string arn = arn_of_key();
  switch (key.state) {
    case KeyState::kEnabled:
      break;
    case KeyState::kDisabled:
      if (op == Op::kCrypto || op == Op::kRotationConfig || op == Op::kCreateGrant) {
        return errors::Disabled(arn);
      }
      break;
    case KeyState::kPendingDeletion:
      if (op != Op::kDescribe && op != Op::kPolicy && op != Op::kList &&
          op != Op::kRotationStatus && op != Op::kCancelDeletion) {
        return errors::PendingDeletion(arn);
      }
      break;
    case KeyState::kPendingImport:
      if (op == Op::kCrypto || op == Op::kManage || op == Op::kCreateGrant) {
        return errors::PendingImport(arn);
      }
      break;
  }
  if (op == Op::kCancelDeletion && key.state != KeyState::kPendingDeletion) {
    return errors::NotPendingDeletion(arn);
  }
  return Status::Ok();
}

bool IsAliasName(std::string_view s) { return s.starts_with("alias/"); }

bool AliasCharsValid(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ':' ||
           c == '/' || c == '_' || c == '-';
  });
}

// Limit: the model allows 1..1000; each List operation has its own maximum,
// above which AWS returns at most that many.
Result<size_t> PageSize(std::optional<int> limit, int default_size, int max_size) {
  if (!limit) return static_cast<size_t>(default_size);
  errors::Validation v;
  v.Range("limit", *limit, 1, 1000);
  RETURN_IF_ERROR(v.ToStatus());
  return static_cast<size_t>(std::min(*limit, max_size));
}

Status ValidateMarker(const std::optional<std::string>& marker) {
  if (!marker) return Status::Ok();
  errors::Validation v;
  v.Length("marker", *marker, 1, 1024);
  RETURN_IF_ERROR(v.ToStatus());
  return Status::Ok();
}

// The scope of the Marker of a list of one key's entries: "tags/KEY", "rotations/KEY".
std::string KeyListScope(std::string_view list, std::string_view key_uuid) {
  return std::string(list) + "/" + std::string(key_uuid);
}

// Where a list of one key's entries goes on: InvalidMarker for a marker that
// list (that operation, on that key) did not give.
Result<std::string> KeyMarkerPosition(std::string_view marker, std::string_view scope) {
  std::optional<std::string> position = DecodeListMarker(marker, scope);
  if (!position) return errors::InvalidMarker();
  return std::move(*position);
}

Status ValidateTags(const std::vector<Tag>& tags) {
  errors::Validation v;
  for (size_t i = 0; i < tags.size(); ++i) {
    std::string at = "tags." + std::to_string(i + 1) + ".member.";
    v.Length(at + "tagKey", tags[i].tag_key, 1, 128);
    v.Length(at + "tagValue", tags[i].tag_value, 0, 256);
  }
  RETURN_IF_ERROR(v.ToStatus());
  std::set<std::string_view> seen;
  for (const auto& t : tags) {
    if (StartsWithIgnoringAsciiCase(t.tag_key, "aws:")) {
      return errors::Tag("Tags beginning with aws: are reserved");
    }
    if (!seen.insert(t.tag_key).second) return errors::Tag("Duplicate tag keys");
  }
  return Status::Ok();
}

Status TooManyTags(int) { return errors::Tag("Too many tags"); }

// A uuid ParseUuid accepted (hex digits and '-'), in lower case.
std::string LowerUuid(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

class KeyService::Impl {
 public:
  Impl(KmsOptions options, state::StateStore& store, const state::Vault& vault, Clock& clock,
       Random& random)
      : options_(std::move(options)),
        store_(store),
        vault_(vault),
        clock_(clock),
        random_(random),
        arn_prefix_("arn:aws:kms:" + options_.region + ":" + options_.account_id + ":") {}

  std::string KeyArn(std::string_view uuid) const { return ArnOf("key/", uuid); }
  std::string AliasArn(std::string_view alias) const { return ArnOf("", alias); }
  // arn_prefix_ + a + b, in one allocation.
  std::string ArnOf(std::string_view a, std::string_view b) const {
    std::string arn;
    arn.reserve(arn_prefix_.size() + a.size() + b.size());
    arn += arn_prefix_;
    arn += a;
    arn += b;
    return arn;
  }
  std::string DefaultKeyPolicy() const { return policy::DefaultKeyPolicy(options_.account_id); }

  // ---- key id resolution -------------------------------------------------

  // The uuid of the key `key_id` names, in any of AWS's forms. With `kUnchecked`, a
  // key id or key ARN is not looked up (an alias still is): for a caller that loads
  // the key next and answers KeyNotFound itself.
  enum class Existence { kChecked, kUnchecked };
  Result<std::string> ResolveUuid(const ReadTransaction& tx, std::string_view key_id,
                                  Existence existence = Existence::kChecked) const {
    std::string_view rest = key_id;
    if (rest.starts_with("arn:")) {
      if (!rest.starts_with(arn_prefix_)) {
        // A well-formed ARN of another account or region names no key here; for a
        // key of another region AWS says which ("Invalid arn us-west-2").
        if (rest.find(":key/") != std::string_view::npos) {
          std::string_view region = ArnRegion(rest);
          if (rest.starts_with("arn:aws:kms:") && !region.empty() && region != options_.region) {
            return errors::InvalidArnRegion(region);
          }
          return errors::KeyNotFound(key_id);
        }
        if (rest.find(":alias/") != std::string_view::npos) return errors::AliasNotFound(key_id);
        return errors::InvalidKeyId(key_id);
      }
      rest.remove_prefix(arn_prefix_.size());
      if (rest.starts_with("key/")) {
        std::array<uint8_t, 16> raw{};
        if (!ParseUuid(rest.substr(4), raw)) return errors::InvalidKeyId(key_id);
        std::string uuid = LowerUuid(rest.substr(4));
        RETURN_IF_ERROR(CheckExists(tx, uuid, existence));
        return uuid;
      }
      if (!IsAliasName(rest)) return errors::InvalidKeyId(key_id);
      return ResolveAlias(tx, rest);
    }
    if (IsAliasName(rest)) return ResolveAlias(tx, rest);
    std::array<uint8_t, 16> raw{};
    if (!ParseUuid(rest, raw)) return errors::InvalidKeyId(key_id);
    std::string uuid = LowerUuid(rest);
    RETURN_IF_ERROR(CheckExists(tx, uuid, existence));
    return uuid;
  }

  Status CheckExists(const ReadTransaction& tx, const std::string& uuid,
                     Existence existence) const {
    if (existence == Existence::kUnchecked) return Status::Ok();
    ASSIGN_OR_RETURN(auto found, tx.Get(kKeysTable, uuid));
    if (!found) return errors::KeyNotFound(KeyArn(uuid));
    return Status::Ok();
  }

  Result<std::string> ResolveAlias(const ReadTransaction& tx, std::string_view alias) const {
    ASSIGN_OR_RETURN(auto found, tx.Get(kAliasesTable, alias));
    if (!found) return errors::AliasNotFound(AliasArn(alias));
    ASSIGN_OR_RETURN(AliasRecord a, DecodeAliasRecord(*found));
    return a.target;
  }

  Result<KeyRecord> LoadKey(const ReadTransaction& tx, const std::string& uuid) const {
    ASSIGN_OR_RETURN(auto found, tx.Get(kKeysTable, uuid));
    if (!found) return errors::KeyNotFound(KeyArn(uuid));
    return Decode(uuid, *found);
  }

  // DecodeKeyRecord, memoized by the stored bytes: a key record is decoded once
  // per version of it. Keyed on the bytes read inside the transaction, so the
  // memo can never answer with a record other than the one stored (whatever
  // other process or node wrote it).
  Result<KeyRecord> Decode(const std::string& uuid, const std::string& stored) const {
    {
      std::shared_lock lock(decoded_mu_);
      if (auto it = decoded_.find(uuid); it != decoded_.end() && it->second.first == stored) {
        return it->second.second;
      }
    }
    ASSIGN_OR_RETURN(KeyRecord record, DecodeKeyRecord(stored));
    std::unique_lock lock(decoded_mu_);
    if (decoded_.size() >= kMaxDecodedRecords) decoded_.clear();
    decoded_.insert_or_assign(uuid, std::make_pair(stored, record));
    return record;
  }

  Result<std::map<std::string, std::string>> LoadTags(const ReadTransaction& tx,
                                                      const std::string& uuid) const {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kTagsTable, uuid));
    if (!stored) return std::map<std::string, std::string>{};
    return DecodeTags(*stored);
  }

  Status SaveKey(Transaction& tx, const KeyRecord& key) const {
    return tx.Put(kKeysTable, key.id, EncodeKeyRecord(key));
  }

  // The forms of key id `op` takes. An alias target has its own check and
  // message ("Aliases must refer to keys"), made before it is resolved.
  static KeyIdForms FormsOf(Op op) {
    switch (op) {
      case Op::kDescribe:
      case Op::kCrypto:
      case Op::kAliasTarget:
        return KeyIdForms::kAliasesToo;
      default:
        return KeyIdForms::kKeyOnly;
    }
  }

  static Status CheckForm(std::string_view key_id, KeyIdForms forms) {
    if (forms == KeyIdForms::kKeyOnly && NamesAlias(key_id)) return errors::InvalidKeyId(key_id);
    return Status::Ok();
  }

  static Status ValidateKeyId(std::string_view field, std::string_view key_id) {
    errors::Validation v;
    v.Length(field, key_id, 1, kMaxKeyIdLength);
    return v.ToStatus();
  }

  // Resolves and loads a key and checks its state for `op`.
  Result<KeyRecord> Find(const ReadTransaction& tx, std::string_view key_id, Op op) const {
    RETURN_IF_ERROR(ValidateKeyId("keyId", key_id));
    RETURN_IF_ERROR(CheckForm(key_id, FormsOf(op)));
    // LoadKey answers KeyNotFound for a key that is not there: no separate lookup.
    ASSIGN_OR_RETURN(std::string uuid, ResolveUuid(tx, key_id, Existence::kUnchecked));
    ASSIGN_OR_RETURN(KeyRecord key, LoadKey(tx, uuid));
    RETURN_IF_ERROR(CheckState(op, key, [&] { return KeyArn(uuid); }));
    return key;
  }

  // Runs `fn` on the key named by `key_id` (checked for `op`) in a read-write
  // transaction, saving the record afterwards.
  Status Mutate(std::string_view key_id, Op op,
                const std::function<Status(Transaction&, KeyRecord&)>& fn) {
    return store_.Update([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(KeyRecord key, Find(tx, key_id, op));
      RETURN_IF_ERROR(fn(tx, key));
      return SaveKey(tx, key);
    });
  }

  Result<KeyRecord> Read(std::string_view key_id, Op op) const {
    std::optional<KeyRecord> out;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(KeyRecord key, Find(tx, key_id, op));
      out = std::move(key);
      return Status::Ok();
    }));
    return std::move(*out);
  }

  KeyMetadata Metadata(const KeyRecord& key) const {
    KeyMetadata m;
    m.aws_account_id = options_.account_id;
    m.key_id = key.id;
    m.arn = KeyArn(key.id);
    m.creation_date = key.creation_date;
    m.enabled = key.state == KeyState::kEnabled;
    m.description = key.description;
    m.key_state = key.state;
    if (key.state == KeyState::kPendingDeletion) m.deletion_date = key.deletion_date;
    m.current_key_material_id = key.current_material_id;
    return m;
  }

  // ---- key material -------------------------------------------------------

  // New material for version `version` of key `uuid`, sealed and recorded.
  Result<MaterialRecord> NewMaterial(Transaction& tx, const std::string& uuid, uint32_t version,
                                     std::optional<std::string> rotation_type) {
    crypto::SecretBytes material = crypto::RandomSecret(random_, kMaterialSize);
    std::array<uint8_t, 32> id_bytes{};
    random_.Fill(id_bytes);
    MaterialRecord r;
    r.version = version;
    r.material_id = HexEncode(id_bytes);
    r.created = clock_.Now();
    r.rotation_type = std::move(rotation_type);
    ASSIGN_OR_RETURN(r.sealed, vault_.Seal(MaterialSealContext(uuid, version), material));
    RETURN_IF_ERROR(tx.Put(kMaterialTable, MaterialKey(uuid, version), EncodeMaterialRecord(r)));
    return r;
  }

  // One version of a key's material and its KeyMaterialId.
  struct Material {
    crypto::SecretBytes secret;
    std::string id;
  };

  // The material of version `version` of key `uuid`: from the cache, or
  // unsealed from the store. Material never changes once written, so caching
  // it is safe; callers check the key's record (state, existence) first.
  Result<std::shared_ptr<const Material>> MaterialFor(const std::string& uuid, uint32_t version) {
    std::string cache_key = MaterialKey(uuid, version);
    {
      std::lock_guard lock(cache_mu_);
      if (auto it = cache_.find(cache_key); it != cache_.end()) return it->second;
    }
    std::optional<std::string> stored;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(stored, tx.Get(kMaterialTable, cache_key));
      return Status::Ok();
    }));
    if (!stored) return NotFoundError("no material version " + std::to_string(version));
    ASSIGN_OR_RETURN(MaterialRecord r, DecodeMaterialRecord(*stored));
    ASSIGN_OR_RETURN(crypto::SecretBytes material,
                     vault_.Unseal(MaterialSealContext(uuid, version), r.sealed));
    auto shared = std::make_shared<const Material>(Material{std::move(material), r.material_id});
    std::lock_guard lock(cache_mu_);
    cache_.emplace(cache_key, shared);
    return shared;
  }

  void ForgetMaterial(const std::string& uuid) {
    std::lock_guard lock(cache_mu_);
    for (auto it = cache_.begin(); it != cache_.end();) {
      it = it->first.starts_with(uuid + "/") ? cache_.erase(it) : std::next(it);
    }
  }

  static Result<std::unique_ptr<crypto::AesGcm>> MessageCipher(const crypto::SecretBytes& material,
                                                               ByteView header, ByteView nonce) {
    Bytes info = ToBytes(kBlobKeyInfo);
    Append(info, header.first(kBlobCheckedSize));
    ASSIGN_OR_RETURN(crypto::SecretBytes key,
                     crypto::Hkdf(crypto::HashAlgorithm::kSha256, material, nonce, info, 32));
    return crypto::AesGcm::Create(key);
  }

  // Sets `material_id` (when given) to the KeyMaterialId of the material used.
  Result<Bytes> SealBlob(const KeyRecord& key, ByteView plaintext, const EncryptionContext& context,
                         std::string* material_id = nullptr) {
    ASSIGN_OR_RETURN(Bytes encoded_context, EncodeEncryptionContext(context));
    ASSIGN_OR_RETURN(auto material, MaterialFor(key.id, key.current_version));
    Bytes blob = BlobHeader(key.id, key.current_version);
    std::array<uint8_t, kBlobNonceSize> nonce{};
    random_.Fill(nonce);
    Append(blob, nonce);
    ASSIGN_OR_RETURN(auto cipher, MessageCipher(material->secret, blob, nonce));
    Bytes aad(blob.begin(), blob.begin() + kBlobHeaderSize);
    Append(aad, encoded_context);
    static constexpr std::array<uint8_t, crypto::kAesGcmIvSize> kZeroIv{};
    ASSIGN_OR_RETURN(Bytes sealed, cipher->Seal(kZeroIv, plaintext, aad));
    Append(blob, sealed);
    if (material_id != nullptr) *material_id = material->id;
    return blob;
  }

  // Steps 4 and 5 of docs/formats/ciphertext-blob.md; the caller did 1–3.
  // Sets `material_id` (when given) to the KeyMaterialId of the material used.
  Result<crypto::SecretBytes> OpenBlob(const BlobView& blob, const KeyRecord& key,
                                       const EncryptionContext& context,
                                       std::string* material_id = nullptr) {
    if (blob.material_version > key.current_version) return errors::InvalidCiphertext();
    auto material = MaterialFor(key.id, blob.material_version);
    if (!material.ok()) {
      return material.status().code() == StatusCode::kNotFound ? errors::InvalidCiphertext()
                                                               : material.status();
    }
    auto encoded_context = EncodeEncryptionContext(context);
    if (!encoded_context.ok()) return errors::InvalidCiphertext();
    ASSIGN_OR_RETURN(auto cipher, MessageCipher((*material)->secret, blob.header, blob.nonce));
    Bytes aad(blob.header.begin(), blob.header.end());
    Append(aad, *encoded_context);
    Bytes ct(blob.ciphertext.begin(), blob.ciphertext.end());
    Append(ct, blob.tag);
    static constexpr std::array<uint8_t, crypto::kAesGcmIvSize> kZeroIv{};
    auto plain = cipher->Open(kZeroIv, ct, aad);
    if (!plain.ok()) return errors::InvalidCiphertext();
    if (material_id != nullptr) *material_id = (*material)->id;
    return std::move(plain).value();
  }

  // Parses a blob and finds its key, checked for a crypto operation, and the
  // optional KeyId of the request against it.
  Result<std::pair<BlobView, KeyRecord>> FindBlobKey(ByteView blob_bytes,
                                                     const std::optional<std::string>& key_id,
                                                     std::string_view key_id_field) const {
    ASSIGN_OR_RETURN(BlobView blob, ParseBlob(blob_bytes));
    std::optional<KeyRecord> key;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      if (key_id) {
        RETURN_IF_ERROR(ValidateKeyId(key_id_field, *key_id));
        ASSIGN_OR_RETURN(std::string named, ResolveUuid(tx, *key_id));
        if (named != blob.key_id) return errors::IncorrectKey();
      }
      ASSIGN_OR_RETURN(auto found, tx.Get(kKeysTable, blob.key_id));
      if (!found) return errors::CiphertextKeyUnknown();
      ASSIGN_OR_RETURN(KeyRecord k, Decode(blob.key_id, *found));
      RETURN_IF_ERROR(CheckState(Op::kCrypto, k, [&] { return KeyArn(k.id); }));
      key = std::move(k);
      return Status::Ok();
    }));
    return std::make_pair(blob, std::move(*key));
  }

  static void ValidateAlgorithm(errors::Validation& v, std::string_view field,
                                const std::optional<std::string>& alg) {
    if (alg)
      v.Enum(field, *alg,
             {"SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"});
  }
  static Status CheckSymmetricAlgorithm(const std::optional<std::string>& alg) {
    if (alg && *alg != "SYMMETRIC_DEFAULT") {
      return errors::InvalidKeyUsage("The encryption algorithm " + *alg +
                                     " is not supported for this key's key spec "
                                     "(SYMMETRIC_DEFAULT).");
    }
    return Status::Ok();
  }

  // ---- rotation -----------------------------------------------------------

  Status Rotate(Transaction& tx, KeyRecord& key, const char* type) {
    ASSIGN_OR_RETURN(MaterialRecord m, NewMaterial(tx, key.id, key.current_version + 1, type));
    key.current_version = m.version;
    key.current_material_id = m.material_id;
    return Status::Ok();
  }

  // ---- aliases ------------------------------------------------------------

  // The names of the aliases of key `uuid` ("alias/…"), sorted.
  Result<std::vector<std::string>> AliasesOf(const ReadTransaction& tx,
                                             const std::string& uuid) const {
    ASSIGN_OR_RETURN(auto all, tx.Scan(kAliasesTable, "", "", 0));
    std::vector<std::string> names;
    for (const auto& a : all) {
      ASSIGN_OR_RETURN(AliasRecord r, DecodeAliasRecord(a.value));
      if (r.target == uuid) names.push_back(a.key);
    }
    return names;  // the scan's order: by name
  }

  // LimitExceeded when `uuid` already has max_aliases_per_key aliases.
  Status CheckAliasQuota(const ReadTransaction& tx, const std::string& uuid) const {
    ASSIGN_OR_RETURN(std::vector<std::string> aliases, AliasesOf(tx, uuid));
    const size_t count = aliases.size();
    if (count >= static_cast<size_t>(options_.max_aliases_per_key)) {
      return errors::LimitExceeded("Aliases per key quota for this account in this region is " +
                                   std::to_string(options_.max_aliases_per_key) +
                                   ", current usage is " + std::to_string(count) + ".");
    }
    return Status::Ok();
  }

  // ---- deletion -----------------------------------------------------------

  Status DeleteKeyNow(Transaction& tx, const std::string& uuid) {
    RETURN_IF_ERROR(tx.Delete(kKeysTable, uuid));
    RETURN_IF_ERROR(tx.Delete(kPoliciesTable, uuid));
    RETURN_IF_ERROR(tx.Delete(kTagsTable, uuid));
    ASSIGN_OR_RETURN(auto materials, tx.Scan(kMaterialTable, uuid + "/", "", 0));
    for (const auto& m : materials) RETURN_IF_ERROR(tx.Delete(kMaterialTable, m.key));
    ASSIGN_OR_RETURN(std::vector<std::string> aliases, AliasesOf(tx, uuid));
    for (const std::string& name : aliases) RETURN_IF_ERROR(tx.Delete(kAliasesTable, name));
    ASSIGN_OR_RETURN(auto grants, tx.Scan(kGrantsTable, uuid + "/", "", 0));
    for (const auto& g : grants) RETURN_IF_ERROR(tx.Delete(kGrantsTable, g.key));
    return Status::Ok();
  }

  // ---- grants -------------------------------------------------------------

  static std::string GrantKey(std::string_view uuid, std::string_view grant_id) {
    return std::string(uuid) + "/" + std::string(grant_id);
  }

  Grant ToGrant(const GrantRecord& r) const {
    Grant g;
    g.key_id = KeyArn(r.key);
    g.grant_id = r.grant_id;
    g.name = r.name;
    g.creation_date = r.creation_date;
    g.grantee_principal = r.grantee_principal;
    g.retiring_principal = r.retiring_principal;
    g.issuing_account = "arn:aws:iam::" + options_.account_id + ":root";
    g.operations = r.operations;
    g.constraints = r.constraints;
    return g;
  }

  // The grants of key `uuid`, in grant id order.
  Result<std::vector<GrantRecord>> GrantsOfKey(const ReadTransaction& tx,
                                               const std::string& uuid) const {
    ASSIGN_OR_RETURN(auto stored, tx.Scan(kGrantsTable, uuid + "/", "", 0));
    std::vector<GrantRecord> out;
    out.reserve(stored.size());
    for (const auto& e : stored) {
      ASSIGN_OR_RETURN(GrantRecord r, DecodeGrantRecord(e.value));
      out.push_back(std::move(r));
    }
    return out;
  }

  // The grant a RetireGrant request names, loaded: by its token (checked against
  // the digest kept), or by key id and grant id.
  Result<GrantRecord> FindGrantToRetire(const ReadTransaction& tx,
                                        const RetireGrantRequest& req) const {
    if (req.grant_token) {
      std::optional<GrantTokenParts> parts = ParseGrantToken(*req.grant_token);
      if (!parts) return errors::InvalidGrantToken();
      if (req.key_id) {
        ASSIGN_OR_RETURN(std::string uuid, ResolveUuid(tx, *req.key_id));
        if (uuid != parts->key_uuid) return errors::InvalidGrantToken();
      }
      if (req.grant_id && *req.grant_id != parts->grant_id) return errors::InvalidGrantToken();
      ASSIGN_OR_RETURN(auto stored,
                       tx.Get(kGrantsTable, GrantKey(parts->key_uuid, parts->grant_id)));
      // A retired or revoked grant, or a key deleted since: the token names nothing.
      if (!stored) return errors::GrantNotFound(parts->grant_id);
      ASSIGN_OR_RETURN(GrantRecord r, DecodeGrantRecord(*stored));
      const std::string digest = GrantTokenDigest(*req.grant_token);
      bool known = false;
      for (const std::string& t : r.token_sha256s) {
        known |= crypto::ConstantTimeEquals(AsBytes(t), AsBytes(digest));
      }
      if (!known) return errors::InvalidGrantToken();
      return r;
    }
    if (!req.key_id || !req.grant_id) {
      return errors::ValidationError(
          "Either a grant token, or both a key ID and a grant ID, must be specified.");
    }
    ASSIGN_OR_RETURN(KeyRecord key, Find(tx, *req.key_id, Op::kList));
    return FindGrant(tx, key.id, *req.grant_id);
  }

  Result<GrantRecord> FindGrant(const ReadTransaction& tx, const std::string& uuid,
                                std::string_view grant_id) const {
    if (!IsGrantId(grant_id)) return errors::InvalidGrantId(grant_id);
    ASSIGN_OR_RETURN(auto stored, tx.Get(kGrantsTable, GrantKey(uuid, grant_id)));
    if (!stored) return errors::GrantNotFound(grant_id);
    return DecodeGrantRecord(*stored);
  }

  KmsOptions options_;
  state::StateStore& store_;
  const state::Vault& vault_;
  Clock& clock_;
  Random& random_;
  const std::string arn_prefix_;  // "arn:aws:kms:REGION:ACCOUNT:"

  std::mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Material>> cache_;

  static constexpr size_t kMaxDecodedRecords = 4096;
  mutable std::shared_mutex decoded_mu_;
  // uuid -> (stored bytes, decoded record)
  mutable std::unordered_map<std::string, std::pair<std::string, KeyRecord>> decoded_;
};

// ===========================================================================

KeyService::KeyService(KmsOptions options, state::StateStore& store, const state::Vault& vault,
                       Clock& clock, Random& random)
    : impl_(std::make_unique<Impl>(std::move(options), store, vault, clock, random)) {}
KeyService::~KeyService() = default;

Result<std::unique_ptr<KeyService>> KeyService::Create(KmsOptions options, state::StateStore& store,
                                                       const state::Vault& vault, Clock& clock,
                                                       Random& random) {
  if (options.account_id.size() != 12 ||
      !std::all_of(options.account_id.begin(), options.account_id.end(), ::isdigit)) {
    return InvalidArgumentError("account id must be 12 digits, got '" + options.account_id + "'");
  }
  if (options.region.empty()) return InvalidArgumentError("region must not be empty");
  return std::unique_ptr<KeyService>(
      new KeyService(std::move(options), store, vault, clock, random));
}

std::string KeyService::KeyArn(std::string_view uuid) const { return impl_->KeyArn(uuid); }
std::string KeyService::NewKeyId() { return impl_->random_.Uuid(); }
std::string KeyService::AliasArn(std::string_view alias) const { return impl_->AliasArn(alias); }
std::string KeyService::DefaultKeyPolicy() const { return impl_->DefaultKeyPolicy(); }

// ---- keys -------------------------------------------------------------------

Result<KeyMetadata> KeyService::CreateKey(const CreateKeyRequest& req) {
  errors::Validation v;
  if (req.policy) v.Length("policy", *req.policy, 1, 131072);
  if (req.description) v.Length("description", *req.description, 0, 8192);
  if (req.key_usage) {
    v.Enum("keyUsage", *req.key_usage,
           {"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"});
  }
  if (req.origin)
    v.Enum("origin", *req.origin, {"AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"});
  if (req.custom_key_store_id) v.Length("customKeyStoreId", *req.custom_key_store_id, 1, 64);
  RETURN_IF_ERROR(v.ToStatus());
  if (req.key_spec && req.customer_master_key_spec) {
    return errors::ValidationError(
        "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
        "CustomerMasterKeySpec is deprecated.");
  }
  std::string spec =
      req.key_spec.value_or(req.customer_master_key_spec.value_or("SYMMETRIC_DEFAULT"));
  if (spec != "SYMMETRIC_DEFAULT") {
    return errors::Unsupported("KeySpec " + spec +
                               " is not supported by coffer; only SYMMETRIC_DEFAULT keys are.");
  }
  if (req.key_usage && *req.key_usage != "ENCRYPT_DECRYPT") {
    return errors::ValidationError("KeyUsage " + *req.key_usage +
                                   " is not compatible with KeySpec SYMMETRIC_DEFAULT");
  }
  if (req.origin && *req.origin != "AWS_KMS") {
    return errors::Unsupported("Origin " + *req.origin + " is not supported by coffer.");
  }
  if (req.custom_key_store_id || req.xks_key_id) {
    return errors::Unsupported("Custom key stores are not supported by coffer.");
  }
  if (req.multi_region.value_or(false)) {
    return errors::Unsupported("Multi-Region keys are not supported by coffer.");
  }
  std::map<std::string, std::string> tags;
  RETURN_IF_ERROR(ValidateTags(req.tags));
  for (const auto& t : req.tags) tags[t.tag_key] = t.tag_value;
  if (static_cast<int>(tags.size()) > impl_->options_.max_tags_per_key) {
    return TooManyTags(impl_->options_.max_tags_per_key);
  }
  std::string policy = req.policy.value_or(impl_->DefaultKeyPolicy());
  if (req.policy) {
    if (policy.size() > impl_->options_.max_policy_bytes) {
      return errors::LimitExceeded("The key policy is larger than " +
                                   std::to_string(impl_->options_.max_policy_bytes) + " bytes.");
    }
    RETURN_IF_ERROR(CheckPolicyDocument(policy));
  }

  KeyRecord key;
  key.id = req.key_id.empty() ? impl_->random_.Uuid() : req.key_id;
  if (std::array<uint8_t, 16> raw{}; !ParseUuid(key.id, raw)) {
    return InternalError("CreateKey: the new key's id " + key.id + " is not a UUID");
  }
  key.creation_date = impl_->clock_.Now();
  key.policy_saved = key.creation_date;
  key.description = req.description.value_or("");
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto taken, tx.Get(kKeysTable, key.id));
    if (taken) return InternalError("CreateKey: a key with the id " + key.id + " exists");
    ASSIGN_OR_RETURN(MaterialRecord m, impl_->NewMaterial(tx, key.id, 1, std::nullopt));
    key.current_version = 1;
    key.current_material_id = m.material_id;
    RETURN_IF_ERROR(impl_->SaveKey(tx, key));
    RETURN_IF_ERROR(tx.Put(kPoliciesTable, key.id, policy));
    if (!tags.empty()) RETURN_IF_ERROR(tx.Put(kTagsTable, key.id, EncodeTags(tags)));
    return Status::Ok();
  }));
  return impl_->Metadata(key);
}

Result<KeyMetadata> KeyService::DescribeKey(std::string_view key_id) {
  ASSIGN_OR_RETURN(KeyRecord key, impl_->Read(key_id, Op::kDescribe));
  return impl_->Metadata(key);
}

Result<ListKeysResponse> KeyService::ListKeys(std::optional<int> limit,
                                              std::optional<std::string> marker) {
  ASSIGN_OR_RETURN(size_t page, PageSize(limit, 100, 1000));
  RETURN_IF_ERROR(ValidateMarker(marker));
  std::array<uint8_t, 16> raw{};
  if (marker && !ParseUuid(*marker, raw)) return errors::InvalidMarker();
  ListKeysResponse out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto entries, tx.Scan(kKeysTable, "", marker.value_or(""), page + 1));
    out.truncated = entries.size() > page;
    if (out.truncated) entries.resize(page);
    for (const auto& e : entries) out.keys.push_back({e.key, impl_->KeyArn(e.key)});
    if (out.truncated) out.next_marker = entries.back().key;
    return Status::Ok();
  }));
  return out;
}

Status KeyService::UpdateKeyDescription(std::string_view key_id, std::string_view description) {
  errors::Validation v;
  v.Length("description", description, 0, 8192);
  RETURN_IF_ERROR(v.ToStatus());
  return impl_->Mutate(key_id, Op::kManage, [&](Transaction&, KeyRecord& key) {
    key.description = std::string(description);
    return Status::Ok();
  });
}

Status KeyService::EnableKey(std::string_view key_id) {
  return impl_->Mutate(key_id, Op::kManage, [&](Transaction&, KeyRecord& key) {
    key.state = KeyState::kEnabled;
    return Status::Ok();
  });
}

Status KeyService::DisableKey(std::string_view key_id) {
  return impl_->Mutate(key_id, Op::kManage, [&](Transaction&, KeyRecord& key) {
    key.state = KeyState::kDisabled;
    return Status::Ok();
  });
}

Result<ScheduleKeyDeletionResponse> KeyService::ScheduleKeyDeletion(
    std::string_view key_id, std::optional<int> pending_window_in_days) {
  int window = pending_window_in_days.value_or(kDefaultPendingWindow);
  errors::Validation v;
  if (pending_window_in_days) v.Range("pendingWindowInDays", window, 1, 365);
  RETURN_IF_ERROR(v.ToStatus());
  if (window < kMinPendingWindow || window > kMaxPendingWindow) {
    return errors::ValidationError("PendingWindowInDays must be between 7 and 30");
  }
  ScheduleKeyDeletionResponse out;
  RETURN_IF_ERROR(impl_->Mutate(key_id, Op::kManage, [&](Transaction&, KeyRecord& key) {
    key.state = KeyState::kPendingDeletion;
    key.deletion_date = impl_->clock_.Now() + Days(window);
    key.pending_window_days = window;
    out.key_id = impl_->KeyArn(key.id);
    out.deletion_date = *key.deletion_date;
    out.pending_window_in_days = window;
    return Status::Ok();
  }));
  return out;
}

Result<std::string> KeyService::CancelKeyDeletion(std::string_view key_id) {
  std::string arn;
  RETURN_IF_ERROR(impl_->Mutate(key_id, Op::kCancelDeletion, [&](Transaction&, KeyRecord& key) {
    key.state = KeyState::kDisabled;  // as AWS: a cancelled key comes back disabled
    key.deletion_date.reset();
    key.pending_window_days.reset();
    arn = impl_->KeyArn(key.id);
    return Status::Ok();
  }));
  return arn;
}

// ---- aliases ----------------------------------------------------------------

namespace {
Status ValidateAliasName(std::string_view alias, bool for_create) {
  errors::Validation v;
  v.Length("aliasName", alias, 1, 256);
  if (v.ok() && !AliasCharsValid(alias)) {
    v.Add("aliasName", alias, "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$");
  }
  RETURN_IF_ERROR(v.ToStatus());
  if (!IsAliasName(alias) || alias.size() == 6) {
    return errors::ValidationError(
        "Alias must start with the prefix \"alias/\". Please see "
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
  }
  if (for_create && alias.starts_with("alias/aws/")) {
    return errors::InvalidAliasName("Cannot create alias with prefix 'alias/aws/'");
  }
  return Status::Ok();
}
}  // namespace

Status KeyService::CreateAlias(std::string_view alias_name, std::string_view target_key_id) {
  RETURN_IF_ERROR(ValidateAliasName(alias_name, /*for_create=*/true));
  RETURN_IF_ERROR(Impl::ValidateKeyId("targetKeyId", target_key_id));
  if (NamesAlias(target_key_id)) {
    return errors::ValidationError("Aliases must refer to keys. Not aliases");
  }
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kAliasesTable, alias_name));
    if (existing) return errors::AliasExists(impl_->AliasArn(alias_name));
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, target_key_id, Op::kAliasTarget));
    RETURN_IF_ERROR(impl_->CheckAliasQuota(tx, key.id));
    AliasRecord r{std::string(alias_name), key.id, impl_->clock_.Now(), impl_->clock_.Now()};
    return tx.Put(kAliasesTable, alias_name, EncodeAliasRecord(r));
  });
}

Status KeyService::UpdateAlias(std::string_view alias_name, std::string_view target_key_id) {
  RETURN_IF_ERROR(ValidateAliasName(alias_name, /*for_create=*/false));
  RETURN_IF_ERROR(Impl::ValidateKeyId("targetKeyId", target_key_id));
  if (NamesAlias(target_key_id)) {
    return errors::ValidationError("Aliases must refer to keys. Not aliases");
  }
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kAliasesTable, alias_name));
    if (!existing) return errors::AliasNotFound(impl_->AliasArn(alias_name));
    ASSIGN_OR_RETURN(AliasRecord r, DecodeAliasRecord(*existing));
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, target_key_id, Op::kAliasTarget));
    // The per-key alias quota holds for aliases moved onto a key too (kms.md;
    // UpdateAlias has LimitExceededException in kms-service-2).
    if (r.target != key.id) RETURN_IF_ERROR(impl_->CheckAliasQuota(tx, key.id));
    r.target = key.id;
    r.last_updated_date = impl_->clock_.Now();
    return tx.Put(kAliasesTable, alias_name, EncodeAliasRecord(r));
  });
}

Status KeyService::DeleteAlias(std::string_view alias_name) {
  RETURN_IF_ERROR(ValidateAliasName(alias_name, /*for_create=*/false));
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kAliasesTable, alias_name));
    if (!existing) return errors::AliasNotFound(impl_->AliasArn(alias_name));
    return tx.Delete(kAliasesTable, alias_name);
  });
}

Result<ListAliasesResponse> KeyService::ListAliases(std::optional<std::string> key_id,
                                                    std::optional<int> limit,
                                                    std::optional<std::string> marker) {
  ASSIGN_OR_RETURN(size_t page, PageSize(limit, 50, 100));
  RETURN_IF_ERROR(ValidateMarker(marker));
  if (marker && !IsAliasName(*marker)) return errors::InvalidMarker();
  ListAliasesResponse out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    std::optional<std::string> only;
    if (key_id) {
      RETURN_IF_ERROR(Impl::ValidateKeyId("keyId", *key_id));
      RETURN_IF_ERROR(Impl::CheckForm(*key_id, KeyIdForms::kKeyOnly));
      ASSIGN_OR_RETURN(only, impl_->ResolveUuid(tx, *key_id));
    }
    std::string after = marker.value_or("");
    while (out.aliases.size() <= page) {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(kAliasesTable, "", after, 256));
      if (entries.empty()) break;
      for (const auto& e : entries) {
        after = e.key;
        ASSIGN_OR_RETURN(AliasRecord r, DecodeAliasRecord(e.value));
        if (only && r.target != *only) continue;
        out.aliases.push_back(
            {r.name, impl_->AliasArn(r.name), r.target, r.creation_date, r.last_updated_date});
        if (out.aliases.size() > page) break;
      }
    }
    out.truncated = out.aliases.size() > page;
    if (out.truncated) {
      out.aliases.resize(page);
      out.next_marker = out.aliases.back().alias_name;
    }
    return Status::Ok();
  }));
  return out;
}

// ---- tags -------------------------------------------------------------------

Status KeyService::TagResource(std::string_view key_id, const std::vector<Tag>& tags) {
  RETURN_IF_ERROR(ValidateTags(tags));
  return impl_->Mutate(key_id, Op::kManage, [&](Transaction& tx, KeyRecord& key) -> Status {
    ASSIGN_OR_RETURN(auto current, impl_->LoadTags(tx, key.id));
    for (const auto& t : tags) current[t.tag_key] = t.tag_value;
    if (static_cast<int>(current.size()) > impl_->options_.max_tags_per_key) {
      return TooManyTags(impl_->options_.max_tags_per_key);
    }
    return tx.Put(kTagsTable, key.id, EncodeTags(current));
  });
}

Status KeyService::UntagResource(std::string_view key_id,
                                 const std::vector<std::string>& tag_keys) {
  for (const auto& k : tag_keys) {
    errors::Validation v;
    v.Length("tagKeys.member", k, 1, 128);
    RETURN_IF_ERROR(v.ToStatus());
  }
  return impl_->Mutate(key_id, Op::kManage, [&](Transaction& tx, KeyRecord& key) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kTagsTable, key.id));
    if (!stored) return Status::Ok();
    ASSIGN_OR_RETURN(auto current, DecodeTags(*stored));
    for (const auto& k : tag_keys) current.erase(k);  // absent keys are ignored, as AWS
    if (current.empty()) return tx.Delete(kTagsTable, key.id);
    return tx.Put(kTagsTable, key.id, EncodeTags(current));
  });
}

Result<ListResourceTagsResponse> KeyService::ListResourceTags(std::string_view key_id,
                                                              std::optional<int> limit,
                                                              std::optional<std::string> marker) {
  ASSIGN_OR_RETURN(size_t page, PageSize(limit, 50, 50));
  RETURN_IF_ERROR(ValidateMarker(marker));
  ListResourceTagsResponse out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, key_id, Op::kList));
    ASSIGN_OR_RETURN(auto tags, impl_->LoadTags(tx, key.id));
    auto it = tags.begin();
    if (marker) {
      ASSIGN_OR_RETURN(std::string after, KeyMarkerPosition(*marker, KeyListScope("tags", key.id)));
      it = tags.upper_bound(after);
    }
    for (; it != tags.end() && out.tags.size() < page; ++it)
      out.tags.push_back({it->first, it->second});
    out.truncated = it != tags.end();
    if (out.truncated) {
      out.next_marker = EncodeListMarker(KeyListScope("tags", key.id), out.tags.back().tag_key);
    }
    return Status::Ok();
  }));
  return out;
}

// ---- key policies -------------------------------------------------------------

namespace {
Status ValidatePolicyName(const std::optional<std::string>& name) {
  if (!name) return Status::Ok();
  errors::Validation v;
  v.Length("policyName", *name, 1, 128);
  if (v.ok() && !std::all_of(name->begin(), name->end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
      })) {
    v.Add("policyName", *name, "Member must satisfy regular expression pattern: [\\w]+");
  }
  RETURN_IF_ERROR(v.ToStatus());
  if (*name != "default") {
    return Status(StatusCode::kNotFound, "NotFoundException", "No such policy exists: " + *name);
  }
  return Status::Ok();
}
}  // namespace

Result<std::string> KeyService::GetKeyPolicy(std::string_view key_id,
                                             std::optional<std::string> policy_name) {
  RETURN_IF_ERROR(ValidatePolicyName(policy_name));
  ASSIGN_OR_RETURN(policy::SavedPolicy policy, KeyPolicyOf(key_id));
  if (impl_->options_.show_policy) return impl_->options_.show_policy(policy.text, policy.saved);
  return std::move(policy.text);
}

Result<policy::SavedPolicy> KeyService::KeyPolicyOf(std::string_view key_id) {
  policy::SavedPolicy policy;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, key_id, Op::kPolicy));
    ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, key.id));
    if (!stored) return errors::Internal("the key has no stored policy");
    policy.text = std::move(*stored);
    policy.saved = key.policy_saved;
    return Status::Ok();
  }));
  return policy;
}

Result<KeyService::ResourceFacts> KeyService::ResourceFactsOf(std::string_view key_id, bool tags,
                                                              bool aliases) {
  ResourceFacts facts;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, key_id, Op::kPolicy));
    if (tags) {
      ASSIGN_OR_RETURN(facts.tags, impl_->LoadTags(tx, key.id));
    }
    if (aliases) {
      ASSIGN_OR_RETURN(facts.aliases, impl_->AliasesOf(tx, key.id));
    }
    return Status::Ok();
  }));
  return facts;
}

Status KeyService::PutKeyPolicy(std::string_view key_id, std::optional<std::string> policy_name,
                                std::string_view policy) {
  errors::Validation v;
  v.Length("policy", policy, 1, 131072);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(ValidatePolicyName(policy_name));
  if (policy.size() > impl_->options_.max_policy_bytes) {
    return errors::LimitExceeded("The key policy is larger than " +
                                 std::to_string(impl_->options_.max_policy_bytes) + " bytes.");
  }
  RETURN_IF_ERROR(CheckPolicyDocument(policy));
  return impl_->Mutate(key_id, Op::kPolicy, [&](Transaction& tx, KeyRecord& key) {
    key.policy_saved = impl_->clock_.Now();
    return tx.Put(kPoliciesTable, key.id, policy);  // stored verbatim
  });
}

Result<std::vector<std::string>> KeyService::ListKeyPolicies(std::string_view key_id) {
  ASSIGN_OR_RETURN(KeyRecord key, impl_->Read(key_id, Op::kList));
  (void)key;
  return std::vector<std::string>{"default"};
}

// ---- rotation -------------------------------------------------------------------

Status KeyService::EnableKeyRotation(std::string_view key_id,
                                     std::optional<int> rotation_period_in_days) {
  int period = rotation_period_in_days.value_or(kDefaultRotationPeriod);
  errors::Validation v;
  v.Range("rotationPeriodInDays", period, kMinRotationPeriod, kMaxRotationPeriod);
  RETURN_IF_ERROR(v.ToStatus());
  return impl_->Mutate(key_id, Op::kRotationConfig, [&](Transaction&, KeyRecord& key) {
    // A changed period counts from the last rotation (or the key's creation).
    if (!key.rotation_enabled || key.rotation_period_days != period) {
      TimePoint base = impl_->clock_.Now();
      if (key.rotation_enabled && key.next_rotation_date) {
        base = *key.next_rotation_date - Days(key.rotation_period_days);
      }
      key.next_rotation_date = base + Days(period);
    }
    key.rotation_enabled = true;
    key.rotation_period_days = period;
    return Status::Ok();
  });
}

Status KeyService::DisableKeyRotation(std::string_view key_id) {
  return impl_->Mutate(key_id, Op::kRotationConfig, [&](Transaction&, KeyRecord& key) {
    key.rotation_enabled = false;
    key.next_rotation_date.reset();
    return Status::Ok();
  });
}

Result<KeyRotationStatus> KeyService::GetKeyRotationStatus(std::string_view key_id) {
  ASSIGN_OR_RETURN(KeyRecord key, impl_->Read(key_id, Op::kRotationStatus));
  KeyRotationStatus out;
  out.key_id = impl_->KeyArn(key.id);
  // While a key is pending deletion its rotation status is false; cancelling the
  // deletion brings the stored status back (GetKeyRotationStatus, kms-service-2).
  out.key_rotation_enabled = key.rotation_enabled && key.state != KeyState::kPendingDeletion;
  if (out.key_rotation_enabled) {
    out.rotation_period_in_days = key.rotation_period_days;
    out.next_rotation_date = key.next_rotation_date;
  }
  return out;
}

Result<std::string> KeyService::RotateKeyOnDemand(std::string_view key_id) {
  std::string arn;
  RETURN_IF_ERROR(
      impl_->Mutate(key_id, Op::kRotationConfig, [&](Transaction& tx, KeyRecord& key) -> Status {
        if (key.on_demand_rotations >= impl_->options_.max_on_demand_rotations) {
          return errors::LimitExceeded(
              "The on-demand rotations limit has been reached for the given keyId. No more "
              "on-demand rotations can be performed for this key: " +
              impl_->KeyArn(key.id));
        }
        RETURN_IF_ERROR(impl_->Rotate(tx, key, "ON_DEMAND"));
        ++key.on_demand_rotations;
        arn = impl_->KeyArn(key.id);
        return Status::Ok();
      }));
  return arn;
}

Result<ListKeyRotationsResponse> KeyService::ListKeyRotations(std::string_view key_id,
                                                              std::optional<int> limit,
                                                              std::optional<std::string> marker,
                                                              bool all_key_material) {
  ASSIGN_OR_RETURN(size_t page, PageSize(limit, 100, 1000));
  RETURN_IF_ERROR(ValidateMarker(marker));
  uint32_t after = all_key_material ? 0 : 1;  // the first material is version 1
  ListKeyRotationsResponse out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, key_id, Op::kList));
    if (marker) {
      ASSIGN_OR_RETURN(std::string version,
                       KeyMarkerPosition(*marker, KeyListScope("rotations", key.id)));
      char* end = nullptr;
      unsigned long v = std::strtoul(version.c_str(), &end, 10);
      if (!std::isdigit(static_cast<unsigned char>(version[0])) || *end != '\0' || v < 1 ||
          v > 0xffffffffUL) {
        return errors::InvalidMarker();
      }
      after = static_cast<uint32_t>(v);
    }
    ASSIGN_OR_RETURN(auto entries,
                     tx.Scan(kMaterialTable, key.id + "/", MaterialKey(key.id, after), page + 1));
    out.truncated = entries.size() > page;
    if (out.truncated) entries.resize(page);
    for (const auto& e : entries) {
      ASSIGN_OR_RETURN(MaterialRecord m, DecodeMaterialRecord(e.value));
      RotationsListEntry r;
      r.key_id = impl_->KeyArn(key.id);
      r.key_material_id = m.material_id;
      if (m.version > 1) {  // the first material came with the key: no rotation
        r.rotation_date = m.created;
        r.rotation_type = m.rotation_type;
      }
      r.key_material_state = m.version == key.current_version ? "CURRENT" : "NON_CURRENT";
      out.rotations.push_back(std::move(r));
      if (out.truncated) {
        out.next_marker =
            EncodeListMarker(KeyListScope("rotations", key.id), std::to_string(m.version));
      }
    }
    return Status::Ok();
  }));
  return out;
}

// ---- cryptography -------------------------------------------------------------

namespace {
void ValidateGrantTokens(errors::Validation& v, const std::vector<std::string>& tokens) {
  if (tokens.size() > 10) {
    v.Add("grantTokens", std::to_string(tokens.size()) + " tokens",
          "Member must have length less than or equal to 10");
  }
}
}  // namespace

Result<EncryptResponse> KeyService::Encrypt(const EncryptRequest& req) {
  errors::Validation v;
  v.Length("keyId", req.key_id, 1, kMaxKeyIdLength);
  if (req.plaintext.empty()) {
    v.AddSensitive("plaintext", "Member must have length greater than or equal to 1");
  } else if (req.plaintext.size() > kMaxPlaintext) {
    v.AddSensitive("plaintext", "Member must have length less than or equal to 4096");
  }
  Impl::ValidateAlgorithm(v, "encryptionAlgorithm", req.encryption_algorithm);
  ValidateGrantTokens(v, req.grant_tokens);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(KeyRecord key, impl_->Read(req.key_id, Op::kCrypto));
  RETURN_IF_ERROR(Impl::CheckSymmetricAlgorithm(req.encryption_algorithm));
  if (req.dry_run) return errors::DryRun();
  EncryptResponse out;
  ASSIGN_OR_RETURN(out.ciphertext_blob, impl_->SealBlob(key, crypto::RevealSecret(req.plaintext),
                                                        req.encryption_context));
  out.key_id = impl_->KeyArn(key.id);
  return out;
}

namespace {

// CiphertextBlob: 1 to 6144 bytes, absent only in a dry run with
// IGNORE_CIPHERTEXT (`key_only`), where the key id stands in for it. Never
// echoed into a message; its length is in bytes (not characters, as
// Validation::Length counts).
void ValidateCiphertext(errors::Validation& v, const Bytes& blob, bool key_only) {
  if (blob.empty()) {
    if (!key_only)
      v.AddSensitive("ciphertextBlob", "Member must have length greater than or equal to 1");
  } else if (blob.size() > kMaxCiphertext) {
    v.AddSensitive("ciphertextBlob", "Member must have length less than or equal to 6144");
  }
}

}  // namespace

Result<DecryptResponse> KeyService::Decrypt(const DecryptRequest& req) {
  errors::Validation v;
  const bool key_only = req.dry_run && req.ignore_ciphertext;
  ValidateCiphertext(v, req.ciphertext_blob, key_only);
  if (key_only && !req.key_id) v.AddNull("keyId");
  if (req.key_id) v.Length("keyId", *req.key_id, 1, kMaxKeyIdLength);
  Impl::ValidateAlgorithm(v, "encryptionAlgorithm", req.encryption_algorithm);
  ValidateGrantTokens(v, req.grant_tokens);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(Impl::CheckSymmetricAlgorithm(req.encryption_algorithm));
  if (key_only) {
    RETURN_IF_ERROR(impl_->Read(*req.key_id, Op::kCrypto).status());
    return errors::DryRun();
  }
  ASSIGN_OR_RETURN(auto found, impl_->FindBlobKey(req.ciphertext_blob, req.key_id, "keyId"));
  auto& [blob, key] = found;
  DecryptResponse out;
  // DecryptResponse.KeyMaterialId (kms-service-2: present for symmetric keys).
  ASSIGN_OR_RETURN(out.plaintext,
                   impl_->OpenBlob(blob, key, req.encryption_context, &out.key_material_id));
  // A dry run checks the ciphertext too (unless IGNORE_CIPHERTEXT): it fails
  // where the call would.
  if (req.dry_run) return errors::DryRun();
  out.key_id = impl_->KeyArn(key.id);
  return out;
}

Result<ReEncryptResponse> KeyService::ReEncrypt(const ReEncryptRequest& req) {
  errors::Validation v;
  const bool key_only = req.dry_run && req.ignore_ciphertext;
  ValidateCiphertext(v, req.ciphertext_blob, key_only);
  v.Length("destinationKeyId", req.destination_key_id, 1, kMaxKeyIdLength);
  if (key_only && !req.source_key_id) v.AddNull("sourceKeyId");
  if (req.source_key_id) v.Length("sourceKeyId", *req.source_key_id, 1, kMaxKeyIdLength);
  Impl::ValidateAlgorithm(v, "sourceEncryptionAlgorithm", req.source_encryption_algorithm);
  Impl::ValidateAlgorithm(v, "destinationEncryptionAlgorithm",
                          req.destination_encryption_algorithm);
  ValidateGrantTokens(v, req.grant_tokens);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(Impl::CheckSymmetricAlgorithm(req.source_encryption_algorithm));
  RETURN_IF_ERROR(Impl::CheckSymmetricAlgorithm(req.destination_encryption_algorithm));
  if (key_only) {
    RETURN_IF_ERROR(impl_->Read(*req.source_key_id, Op::kCrypto).status());
    RETURN_IF_ERROR(impl_->Read(req.destination_key_id, Op::kCrypto).status());
    return errors::DryRun();
  }
  ASSIGN_OR_RETURN(auto found,
                   impl_->FindBlobKey(req.ciphertext_blob, req.source_key_id, "sourceKeyId"));
  ASSIGN_OR_RETURN(KeyRecord dest, impl_->Read(req.destination_key_id, Op::kCrypto));
  auto& [blob, source] = found;
  ReEncryptResponse out;
  ASSIGN_OR_RETURN(
      crypto::SecretBytes plain,
      impl_->OpenBlob(blob, source, req.source_encryption_context, &out.source_key_material_id));
  if (req.dry_run) return errors::DryRun();  // as Decrypt's
  ASSIGN_OR_RETURN(out.ciphertext_blob, impl_->SealBlob(dest, crypto::RevealSecret(plain),
                                                        req.destination_encryption_context,
                                                        &out.destination_key_material_id));
  out.source_key_id = impl_->KeyArn(source.id);
  out.key_id = impl_->KeyArn(dest.id);
  return out;
}

Result<GenerateDataKeyResponse> KeyService::GenerateDataKey(const GenerateDataKeyRequest& req) {
  errors::Validation v;
  v.Length("keyId", req.key_id, 1, kMaxKeyIdLength);
  if (req.number_of_bytes) v.Range("numberOfBytes", *req.number_of_bytes, 1, kMaxNumberOfBytes);
  if (req.key_spec) v.Enum("keySpec", *req.key_spec, {"AES_256", "AES_128"});
  ValidateGrantTokens(v, req.grant_tokens);
  RETURN_IF_ERROR(v.ToStatus());
  if (req.number_of_bytes.has_value() == req.key_spec.has_value()) {
    return errors::ValidationError("Please specify either number of bytes or key spec.");
  }
  size_t size = req.number_of_bytes ? static_cast<size_t>(*req.number_of_bytes)
                                    : (*req.key_spec == "AES_128" ? 16 : 32);
  ASSIGN_OR_RETURN(KeyRecord key, impl_->Read(req.key_id, Op::kCrypto));
  if (req.dry_run) return errors::DryRun();
  GenerateDataKeyResponse out;
  out.plaintext = crypto::RandomSecret(impl_->random_, size);
  ASSIGN_OR_RETURN(out.ciphertext_blob,
                   impl_->SealBlob(key, crypto::RevealSecret(out.plaintext), req.encryption_context,
                                   &out.key_material_id));
  out.key_id = impl_->KeyArn(key.id);
  return out;
}

Result<GenerateDataKeyResponse> KeyService::GenerateDataKeyWithoutPlaintext(
    const GenerateDataKeyRequest& req) {
  ASSIGN_OR_RETURN(GenerateDataKeyResponse out, GenerateDataKey(req));
  out.plaintext = crypto::SecretBytes();
  return out;
}

Result<crypto::SecretBytes> KeyService::GenerateRandom(std::optional<int> number_of_bytes) {
  errors::Validation v;
  if (number_of_bytes) v.Range("numberOfBytes", *number_of_bytes, 1, kMaxNumberOfBytes);
  RETURN_IF_ERROR(v.ToStatus());
  if (!number_of_bytes) {
    return errors::ValidationError("NumberOfBytes is required.");
  }
  return crypto::RandomSecret(impl_->random_, static_cast<size_t>(*number_of_bytes));
}

// ---- scheduled work ------------------------------------------------------------

Result<ScheduledWorkReport> KeyService::RunScheduledWork() {
  ScheduledWorkReport report;
  TimePoint now = impl_->clock_.Now();
  std::vector<std::string> due;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto keys, tx.Scan(kKeysTable, "", "", 0));
    for (const auto& e : keys) {
      ASSIGN_OR_RETURN(KeyRecord k, DecodeKeyRecord(e.value));
      bool delete_due =
          k.state == KeyState::kPendingDeletion && k.deletion_date && *k.deletion_date <= now;
      bool rotate_due = k.state == KeyState::kEnabled && k.rotation_enabled &&
                        k.next_rotation_date && *k.next_rotation_date <= now;
      if (delete_due || rotate_due) due.push_back(k.id);
    }
    return Status::Ok();
  }));
  // Each key in its own transaction, re-checked inside it: a key cancelled or
  // re-enabled meanwhile is left alone.
  for (const std::string& uuid : due) {
    bool deleted = false, rotated = false;
    RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto stored, tx.Get(kKeysTable, uuid));
      if (!stored) return Status::Ok();
      ASSIGN_OR_RETURN(KeyRecord k, DecodeKeyRecord(*stored));
      if (k.state == KeyState::kPendingDeletion && k.deletion_date && *k.deletion_date <= now) {
        deleted = true;
        return impl_->DeleteKeyNow(tx, uuid);
      }
      if (k.state == KeyState::kEnabled && k.rotation_enabled && k.next_rotation_date &&
          *k.next_rotation_date <= now) {
        RETURN_IF_ERROR(impl_->Rotate(tx, k, "AUTOMATIC"));
        k.next_rotation_date = now + Days(k.rotation_period_days);
        rotated = true;
        return impl_->SaveKey(tx, k);
      }
      return Status::Ok();
    }));
    if (deleted) {
      impl_->ForgetMaterial(uuid);
      ++report.keys_deleted;
      Log().info("kms: deleted key {} (its deletion date passed)", impl_->KeyArn(uuid));
    }
    if (rotated) {
      ++report.keys_rotated;
      Log().info("kms: rotated key {} (automatic rotation due)", impl_->KeyArn(uuid));
    }
  }
  return report;
}

// ---- grants --------------------------------------------------------------------

namespace {
// Two grants are the same request when everything CreateGrant was given matches.
bool SameGrant(const GrantRecord& r, const CreateGrantRequest& req) {
  // The operations as a set: their order says nothing.
  auto sorted = [](std::vector<std::string> ops) {
    std::sort(ops.begin(), ops.end());
    ops.erase(std::unique(ops.begin(), ops.end()), ops.end());
    return ops;
  };
  return r.grantee_principal == req.grantee_principal &&
         r.retiring_principal == req.retiring_principal &&
         sorted(r.operations) == sorted(req.operations) && r.constraints == req.constraints;
}

// A list of grants, one page: `all` (each with its position in the list, in
// order), after the position `marker` gives (InvalidMarker for a marker of another
// `scope`), at most `page` entries; the marker of the next page names the last
// entry's position.
Status TakePage(std::vector<std::pair<std::string, Grant>>& all,
                const std::optional<std::string>& marker, size_t page, std::string_view scope,
                ListGrantsResponse& out) {
  auto it = all.begin();
  if (marker) {
    ASSIGN_OR_RETURN(std::string after, KeyMarkerPosition(*marker, scope));
    it = std::find_if(all.begin(), all.end(), [&](const auto& e) { return e.first > after; });
  }
  std::string last;
  for (; it != all.end() && out.grants.size() < page; ++it) {
    last = it->first;
    out.grants.push_back(std::move(it->second));
  }
  out.truncated = it != all.end();
  if (out.truncated) out.next_marker = EncodeListMarker(scope, last);
  return Status::Ok();
}
}  // namespace

Result<CreateGrantResponse> KeyService::CreateGrant(const CreateGrantRequest& req) {
  RETURN_IF_ERROR(Impl::ValidateKeyId("keyId", req.key_id));
  if (NamesAlias(req.key_id)) return errors::KeyAliasNotSupported();
  RETURN_IF_ERROR(CheckCreateGrant(req));
  CreateGrantResponse out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, req.key_id, Op::kCreateGrant));
    ASSIGN_OR_RETURN(std::vector<GrantRecord> grants, impl_->GrantsOfKey(tx, key.id));
    if (req.name) {
      // A retry of a named request: the grant it made, with a new token.
      for (const GrantRecord& g : grants) {
        if (g.name == req.name && SameGrant(g, req)) {
          if (req.dry_run) return errors::DryRun();
          out.grant_id = g.grant_id;
          out.grant_token = NewGrantToken(key.id, g.grant_id, impl_->random_);
          GrantRecord updated = g;
          // "All grant tokens for the same grant ID can be used interchangeably"
          // (CreateGrant, Name): the new one joins the others.
          updated.token_sha256s.push_back(GrantTokenDigest(out.grant_token));
          if (updated.token_sha256s.size() > kMaxGrantTokens) {
            updated.token_sha256s.erase(updated.token_sha256s.begin());
          }
          return tx.Put(kGrantsTable, Impl::GrantKey(key.id, g.grant_id),
                        EncodeGrantRecord(updated));
        }
      }
    }
    if (grants.size() >= static_cast<size_t>(impl_->options_.max_grants_per_key)) {
      return errors::LimitExceeded("Grants per key quota for this account in this region is " +
                                   std::to_string(impl_->options_.max_grants_per_key) +
                                   ", current usage is " + std::to_string(grants.size()) + ".");
    }
    if (req.dry_run) return errors::DryRun();
    std::array<uint8_t, kGrantIdBytes> id{};
    impl_->random_.Fill(id);
    GrantRecord r;
    r.key = key.id;
    r.grant_id = HexEncode(id);
    r.name = req.name;
    r.creation_date = impl_->clock_.Now();
    r.grantee_principal = req.grantee_principal;
    r.retiring_principal = req.retiring_principal;
    r.operations = req.operations;
    r.constraints = req.constraints;
    out.grant_id = r.grant_id;
    out.grant_token = NewGrantToken(key.id, r.grant_id, impl_->random_);
    r.token_sha256s = {GrantTokenDigest(out.grant_token)};
    return tx.Put(kGrantsTable, Impl::GrantKey(key.id, r.grant_id), EncodeGrantRecord(r));
  }));
  return out;
}

Result<ListGrantsResponse> KeyService::ListGrants(std::string_view key_id, std::optional<int> limit,
                                                  std::optional<std::string> marker,
                                                  std::optional<std::string> grant_id,
                                                  std::optional<std::string> grantee_principal) {
  ASSIGN_OR_RETURN(size_t page, PageSize(limit, 50, 100));
  RETURN_IF_ERROR(ValidateMarker(marker));
  ListGrantsResponse out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, key_id, Op::kList));
    if (grant_id && !IsGrantId(*grant_id)) return errors::InvalidGrantId(*grant_id);
    ASSIGN_OR_RETURN(std::vector<GrantRecord> records, impl_->GrantsOfKey(tx, key.id));
    std::vector<std::pair<std::string, Grant>> grants;
    for (const GrantRecord& r : records) {
      if (grant_id && r.grant_id != *grant_id) continue;
      if (grantee_principal && r.grantee_principal != *grantee_principal) continue;
      grants.emplace_back(r.grant_id, impl_->ToGrant(r));
    }
    return TakePage(grants, marker, page, KeyListScope("grants", key.id), out);
  }));
  return out;
}

Result<ListGrantsResponse> KeyService::ListRetirableGrants(std::string_view retiring_principal,
                                                           std::optional<int> limit,
                                                           std::optional<std::string> marker) {
  ASSIGN_OR_RETURN(size_t page, PageSize(limit, 50, 100));
  RETURN_IF_ERROR(ValidateMarker(marker));
  ListGrantsResponse out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    // Every key's grants, in (key, grant id) order: the table's.
    ASSIGN_OR_RETURN(auto stored, tx.Scan(kGrantsTable, "", "", 0));
    std::vector<std::pair<std::string, Grant>> grants;
    for (const auto& e : stored) {
      ASSIGN_OR_RETURN(GrantRecord r, DecodeGrantRecord(e.value));
      if (r.retiring_principal != retiring_principal) continue;
      grants.emplace_back(e.key, impl_->ToGrant(r));
    }
    return TakePage(grants, marker, page, "retirable/" + std::string(retiring_principal), out);
  }));
  return out;
}

Result<Grant> KeyService::GrantToRetire(const RetireGrantRequest& req) {
  std::optional<GrantRecord> found;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(GrantRecord r, impl_->FindGrantToRetire(tx, req));
    found = std::move(r);
    return Status::Ok();
  }));
  return impl_->ToGrant(*found);
}

Status KeyService::RetireGrant(const RetireGrantRequest& req) {
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(GrantRecord r, impl_->FindGrantToRetire(tx, req));
    if (req.dry_run) return errors::DryRun();
    return tx.Delete(kGrantsTable, Impl::GrantKey(r.key, r.grant_id));
  });
}

Status KeyService::RevokeGrant(std::string_view key_id, std::string_view grant_id, bool dry_run) {
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(KeyRecord key, impl_->Find(tx, key_id, Op::kList));
    ASSIGN_OR_RETURN(GrantRecord r, impl_->FindGrant(tx, key.id, grant_id));
    if (dry_run) return errors::DryRun();
    return tx.Delete(kGrantsTable, Impl::GrantKey(key.id, r.grant_id));
  });
}

Result<std::vector<Grant>> KeyService::GrantsOf(std::string_view key_arn) {
  std::vector<Grant> out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::string uuid, impl_->ResolveUuid(tx, key_arn));
    ASSIGN_OR_RETURN(std::vector<GrantRecord> records, impl_->GrantsOfKey(tx, uuid));
    for (const GrantRecord& r : records) out.push_back(impl_->ToGrant(r));
    return Status::Ok();
  }));
  return out;
}

// ---- for authorization -----------------------------------------------------------

Result<std::string> KeyService::ResolveKeyArn(std::string_view key_id, KeyIdForms forms) {
  RETURN_IF_ERROR(Impl::ValidateKeyId("keyId", key_id));
  RETURN_IF_ERROR(Impl::CheckForm(key_id, forms));
  std::string uuid;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(uuid, impl_->ResolveUuid(tx, key_id));
    return Status::Ok();
  }));
  return impl_->KeyArn(uuid);
}

Result<std::string> KeyService::KeyArnOfCiphertext(ByteView ciphertext_blob) {
  ASSIGN_OR_RETURN(BlobView blob, ParseBlob(ciphertext_blob));
  bool exists = false;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, tx.Get(kKeysTable, blob.key_id));
    exists = found.has_value();
    return Status::Ok();
  }));
  if (!exists) return errors::CiphertextKeyUnknown();
  return impl_->KeyArn(blob.key_id);
}

}  // namespace coffer::kms
