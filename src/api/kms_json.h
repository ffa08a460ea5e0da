#pragma once
// The AWS JSON 1.1 codec of KMS: requests with `X-Amz-Target: TrentService.<Op>`
// and `Content-Type: application/x-amz-json-1.1`, decoded into the engine's typed
// requests (kms/types.h) and authorized as AWS KMS authorizes them; replies
// encoded as AWS KMS encodes them (shared reference aws-protocols.md, kms.md;
// shapes and limits from botocore's kms-service-2 model).
//
// Decoding follows AWS's request framework (Coral):
//   - the body is one JSON object (an empty body counts as `{}`); malformed JSON
//     is a SerializationException with no message;
//   - a member of the wrong JSON type is a SerializationException with Coral's
//     text ("NUMBER_VALUE cannot be converted to String", "Start of structure or
//     map found where not expected", "Unexpected field type"…); blobs are
//     standard base64 with padding;
//   - unknown members are ignored; a JSON null counts as absent;
//   - missing required members and the model's constraints (length, range,
//     enum, pattern) are one ValidationException listing every violation:
//     "2 validation errors detected: Value null at 'keyId' failed to satisfy
//     constraint: Member must not be null; Value '0' at 'limit' …", members
//     named in lowerCamelCase, list members as 'tags.1.member.tagKey'. The
//     values of plaintexts and ciphertexts are never shown.
// Then PrepareKmsCall resolves the key the call acts on (an alias works
// wherever a KeyId does) and returns the engine's NotFound errors as they are,
// before any authorization (AWS answers NotFound before AccessDenied).
//
// Replies: keys are named by ARN where AWS does (KeyMetadata.KeyId,
// KeyListEntry.KeyId and AliasListEntry.TargetKeyId are key ids, as in AWS);
// timestamps are epoch seconds as JSON numbers; blobs are base64; operations
// without output reply with an empty body, as AWS KMS does.
//
// Secrets: plaintexts and data keys are decoded into crypto::SecretBytes and
// the request's copy of their base64 text is wiped; a reply that carries one is
// written into a single buffer and its intermediate copies are wiped. No secret
// ever appears in an error message or a log line.
//
// Thread safety: PrepareKmsCall and the returned Call::run may be called from
// any thread (the KeyService is thread-safe). A Call refers to `service`, which
// must outlive it.
#include <string>
#include <string_view>
#include <vector>

#include "api/operation.h"
#include "common/status.h"
#include "kms/key_service.h"

namespace coffer::api {

// The eventSource of KMS calls' CloudTrail records.
inline constexpr std::string_view kKmsEventSource = "kms.amazonaws.com";

// Decodes and validates one KMS request and returns the Call that runs it.
// `operation` is the X-Amz-Target after "TrentService." ("Encrypt").
//
// The Call's authorizations, in order:
//   - key operations: "kms:<Op>" on the key's ARN (PolicyScope::kKmsKey);
//   - Decrypt: on the key that produced the ciphertext (a KeyId naming another
//     key is an IncorrectKeyException); ReEncrypt: kms:ReEncryptFrom on the
//     source key, then kms:ReEncryptTo on the destination key;
//   - CreateAlias / UpdateAlias / DeleteAlias: "kms:<Op>" on the alias ARN
//     (kIdentity), then on the key the alias names or will name (kKmsKey; for
//     UpdateAlias the current key, then the new one);
//   - CreateKey, ListKeys, ListAliases, GenerateRandom: kIdentity on "*";
//     CreateKey with Tags also needs kms:TagResource (kIdentity, "*").
// Condition keys: kms:EncryptionContext:<k> and kms:EncryptionContextKeys and
// kms:EncryptionAlgorithm (crypto operations), kms:RequestAlias (a KeyId that is
// an alias name or alias ARN: the alias name), kms:ReEncryptOnSameKey,
// aws:RequestTag/<k> and aws:TagKeys (CreateKey, TagResource; aws:TagKeys for
// UntagResource), kms:BypassPolicyLockoutSafetyCheck (CreateKey, PutKeyPolicy),
// kms:KeySpec, kms:KeyUsage, kms:KeyOrigin, kms:MultiRegion (CreateKey),
// kms:ScheduleKeyDeletionPendingWindowInDays, kms:RotationPeriodInDays.
// CreateKey and PutKeyPolicy set Call::lockout_check_policy unless
// BypassPolicyLockoutSafetyCheck is true.
//
// The Call's record (as AWS KMS records each operation: KMS Developer Guide, "Logging
// AWS KMS API calls with AWS CloudTrail" and its per-operation examples):
//   - requestParameters: the request's members in lowerCamelCase, values as given,
//     Tags as [{tagKey, tagValue}]; the encryption algorithm(s) of Encrypt, Decrypt
//     and ReEncrypt always (SYMMETRIC_DEFAULT when not given); never Plaintext,
//     CiphertextBlob, GrantTokens or Recipient; null when the request has none;
//   - readOnly: true for Describe/Get/List* and every cryptographic operation;
//   - resources (type AWS::KMS::Key, aliases included as AWS records them): the key
//     acted on (Decrypt: the ciphertext's key; ReEncrypt: source then destination;
//     CreateAlias: key then alias; UpdateAlias and DeleteAlias: alias then key;
//     CreateKey: the new key, in the Reply); none for ListKeys, ListAliases,
//     GenerateRandom;
//   - responseElements: null but for CreateKey ({keyMetadata}), CancelKeyDeletion and
//     RotateKeyOnDemand ({keyId}), ScheduleKeyDeletion ({keyId, deletionDate, keyState,
//     pendingWindowInDays}); never a plaintext, data key or ciphertext.
//
// Errors: UnknownOperationException (no message) for a name that is not a KMS
// operation; UnsupportedOperationException for a KMS operation coffer does not
// implement (Sign, CreateGrant…); SerializationException, ValidationException;
// the engine's NotFoundException, IncorrectKeyException, InvalidCiphertextException
// and AccessDeniedException (a ciphertext whose key does not exist).
Result<Call> PrepareKmsCall(kms::KeyService& service, std::string_view operation,
                            std::string_view body);

// The operations PrepareKmsCall runs, and those of the model it refuses as
// unsupported; both in the model's names, sorted.
const std::vector<std::string_view>& KmsSupportedOperations();
const std::vector<std::string_view>& KmsUnsupportedOperations();
// readOnly of the record of `operation` (for a call refused before it was
// decoded: malformed JSON, a failed authentication).
bool KmsOperationIsReadOnly(std::string_view operation);

// The wire form of an error of a KMS call (from PrepareKmsCall, Call::run, the
// pipeline's authentication and authorization): `{"__type":"NotFoundException",
// "message":"…"}`, "message" left out when empty; see api/json_errors.h.
std::string KmsErrorBody(const Status& status);
// 400 for client errors, 500 for KMSInternalException and StatusCode::kInternal,
// 503 for DependencyTimeoutException and StatusCode::kUnavailable.
int KmsErrorHttpStatus(const Status& status);
// The __type, for the X-Amzn-ErrorType header.
std::string KmsErrorType(const Status& status);

}  // namespace coffer::api
