// Fuzz target: the KMS ciphertext blob (docs/formats/ciphertext-blob.md): the parser
// (kms::ParseBlob) and the engine's readers of blobs, KeyService::Decrypt,
// KeyArnOfCiphertext and ReEncrypt, on a real KeyService (kms_fuzz_fixture.h).
//
// Input: two control bytes, then the blob.
//   byte 0, bit 0     recompute the header check (bytes 21..24) after the edits below,
//                     which a fuzzer cannot do by itself
//           bit 1     put the id of fixture key (byte 0 >> 4) & 3 into bytes 1..16
//           bits 2-3  the request's KeyId: none, the key's ARN, "alias/fuzz", another key
//   byte 1, bits 0-1  the encryption context (FuzzKms::Contexts())
//           bits 2-3  EncryptionAlgorithm: none, SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, "AES"
//           bit 4     DryRun
// An input shorter than 2 bytes is a blob with no control bytes. Seeds: blobs the
// engine made under every fixture key (ciphertext_blob_seeds), and damaged ones.
//
// Properties (besides no crash, no sanitizer report):
//  - ParseBlob fails only with InvalidCiphertextException; what it parses is the
//    layout of the format, and BlobHeader() rebuilds the header it read;
//  - KeyArnOfCiphertext fails where ParseBlob does and names the blob's key;
//  - Decrypt fails only with the errors a Decrypt may return, never an internal one;
//    it succeeds only for a blob that parses, with the plaintext's length, naming the
//    key of KeyArnOfCiphertext;
//  - what Decrypt opens, ReEncrypt to another key and another context re-seals, and
//    Decrypt opens that to the same plaintext.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "crypto/hash.h"
#include "fuzz_util.h"
#include "kms/ciphertext_blob.h"
#include "kms/key_service.h"
#include "kms_fuzz_fixture.h"

namespace coffer::fuzz {
namespace {

bool IsDecryptError(const Status& s) {
  static const std::set<std::string, std::less<>> kNames = {
      "InvalidCiphertextException", "AccessDeniedException",    "DisabledException",
      "KMSInvalidStateException",   "IncorrectKeyException",    "NotFoundException",
      "ValidationException",        "DryRunOperationException", "InvalidKeyUsageException"};
  return kNames.contains(s.error_name());
}

void CheckParsed(ByteView blob, const kms::BlobView& v) {
  FUZZ_CHECK(blob.size() >= kms::kBlobOverhead);
  FUZZ_CHECK(v.key_id.size() == 36);
  FUZZ_CHECK(v.material_version != 0);
  FUZZ_CHECK(v.header.data() == blob.data() && v.header.size() == kms::kBlobHeaderSize);
  FUZZ_CHECK(v.nonce.data() == blob.data() + kms::kBlobHeaderSize &&
             v.nonce.size() == kms::kBlobNonceSize);
  FUZZ_CHECK(v.ciphertext.data() == v.nonce.data() + kms::kBlobNonceSize &&
             v.ciphertext.size() == blob.size() - kms::kBlobOverhead);
  FUZZ_CHECK(v.tag.data() == blob.data() + blob.size() - kms::kBlobTagSize &&
             v.tag.size() == kms::kBlobTagSize);
  Bytes header = kms::BlobHeader(v.key_id, v.material_version);
  FUZZ_CHECK(std::equal(header.begin(), header.end(), v.header.begin(), v.header.end()));
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  FuzzKms& fixture = FuzzKms::Get();
  kms::KeyService& service = fixture.service();

  uint8_t control = 0, options = 0;
  if (size >= 2) {
    control = data[0];
    options = data[1];
    data += 2;
    size -= 2;
  }
  Bytes blob(data, data + size);
  const std::string& spliced_key = fixture.key_ids()[(control >> 4) & 3];
  if ((control & 2) != 0 && blob.size() >= 17) {
    std::array<uint8_t, 16> id{};
    if (ParseUuid(spliced_key, id)) std::copy(id.begin(), id.end(), blob.begin() + 1);
  }
  if ((control & 1) != 0 && blob.size() >= kms::kBlobHeaderSize) {
    Bytes digest = crypto::Sha256(ByteView(blob.data(), kms::kBlobCheckedSize));
    std::copy(digest.begin(), digest.begin() + 4, blob.begin() + kms::kBlobCheckedSize);
  }

  // The parser.
  Result<kms::BlobView> parsed = kms::ParseBlob(blob);
  if (parsed.ok()) {
    CheckParsed(blob, *parsed);
  } else {
    FUZZ_CHECK_MSG(parsed.status().error_name() == "InvalidCiphertextException",
                   parsed.status().ToString());
  }

  // The key of a ciphertext, as authorization asks for it.
  Result<std::string> arn = service.KeyArnOfCiphertext(blob);
  if (!parsed.ok()) {
    FUZZ_CHECK_MSG(!arn.ok() && arn.status() == parsed.status(), arn.status().ToString());
  } else if (arn.ok()) {
    FUZZ_CHECK(*arn == service.KeyArn(parsed->key_id));
  } else {
    FUZZ_CHECK_MSG(arn.status().error_name() == "AccessDeniedException", arn.status().ToString());
  }

  // Decrypt.
  kms::DecryptRequest request;
  request.ciphertext_blob = blob;
  request.encryption_context = FuzzKms::Contexts()[options & 3];
  switch ((control >> 2) & 3) {
    case 0:
      break;
    case 1:
      request.key_id =
          parsed.ok() ? service.KeyArn(parsed->key_id) : fixture.key_ids()[FuzzKms::kEnabledKey];
      break;
    case 2:
      request.key_id = std::string(FuzzKms::kAlias);
      break;
    case 3:
      request.key_id = fixture.key_ids()[FuzzKms::kRotatedKey];
      break;
  }
  switch ((options >> 2) & 3) {
    case 0:
      break;
    case 1:
      request.encryption_algorithm = "SYMMETRIC_DEFAULT";
      break;
    case 2:
      request.encryption_algorithm = "RSAES_OAEP_SHA_1";
      break;
    case 3:
      request.encryption_algorithm = "AES";
      break;
  }
  request.dry_run = (options & 16) != 0;
  Result<kms::DecryptResponse> decrypted = service.Decrypt(request);
  if (!decrypted.ok()) {
    FUZZ_CHECK_MSG(IsDecryptError(decrypted.status()), decrypted.status().ToString());
    return 0;
  }
  FUZZ_CHECK(parsed.ok() && arn.ok() && !request.dry_run);
  FUZZ_CHECK(decrypted->key_id == *arn);
  FUZZ_CHECK(crypto::RevealSecret(decrypted->plaintext).size() == parsed->ciphertext.size());
  FUZZ_CHECK(decrypted->key_material_id.size() == 64);

  // Re-sealed under another key and context, it opens to the same plaintext.
  kms::ReEncryptRequest re;
  re.ciphertext_blob = blob;
  re.source_encryption_context = request.encryption_context;
  re.destination_key_id = fixture.key_ids()[FuzzKms::kRotatedKey];
  re.destination_encryption_context = FuzzKms::Contexts()[2];
  Result<kms::ReEncryptResponse> reencrypted = service.ReEncrypt(re);
  FUZZ_CHECK_MSG(reencrypted.ok(), reencrypted.status().ToString());
  FUZZ_CHECK(reencrypted->source_key_id == *arn);
  kms::DecryptRequest again;
  again.ciphertext_blob = reencrypted->ciphertext_blob;
  again.encryption_context = re.destination_encryption_context;
  Result<kms::DecryptResponse> opened = service.Decrypt(again);
  FUZZ_CHECK_MSG(opened.ok(), opened.status().ToString());
  FUZZ_CHECK(opened->plaintext == decrypted->plaintext);
  return 0;
}
