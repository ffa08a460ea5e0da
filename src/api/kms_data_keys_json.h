#pragma once
// The KMS keyring's two calls (envelope/kms_keyring.h) as KMS JSON 1.1
// request and reply bodies, over any transport: the coffer client's signed
// HTTP requests, or the server's in-process path (Endpoint::InvokeKms). Data
// keys are decoded straight into SecretBytes and the reply texts that held
// them are wiped. Safe for concurrent use when `call` is.
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "envelope/kms_keyring.h"

namespace coffer::api {

using EncryptionContext = envelope::EncryptionContext;

// The bodies of Decrypt and GenerateDataKey requests (empty context and key id left out).
std::string DecryptRequest(ByteView ciphertext, const EncryptionContext& context,
                           std::string_view key_id);
std::string GenerateDataKeyRequest(std::string_view key_id, int number_of_bytes,
                                   const EncryptionContext& context);

class JsonKmsDataKeys : public envelope::KmsDataKeys {
 public:
  // Sends one KMS operation ("GenerateDataKey") with its JSON body and returns
  // the reply body, or the service's error unchanged.
  using CallFn = std::function<Result<std::string>(std::string_view operation, std::string body)>;
  explicit JsonKmsDataKeys(CallFn call) : call_(std::move(call)) {}

  Result<DataKey> GenerateDataKey(const std::string& key_id, int bytes,
                                  const EncryptionContext& context) override;
  Result<Plaintext> Decrypt(const std::string& key_id, ByteView ciphertext_blob,
                            const EncryptionContext& context) override;

 private:
  CallFn call_;
};

}  // namespace coffer::api
