#pragma once
// The root of trust. Every secret coffer stores (KMS key material, secret
// access keys, signing keys) is sealed with AES-256-GCM under a key derived
// from one 32-byte root key, which never touches the state store.
//
// A RootKeyProvider produces the root key:
//  - KeyFileRootKeyProvider: a 32-byte file, generated on first use with mode
//    0600 (the embedded default). A file readable by group or others is refused.
//  - PassphraseRootKeyProvider: scrypt over a passphrase; the salt and the
//    scrypt parameters are stored in the state store beside the check value.
//
// Vault binds a provider to a store: on first use it records the provider kind,
// its parameters and a check value (a sealed constant); afterwards it refuses,
// before anything is written, a root key that does not open the check value.
#include <memory>
#include <optional>
#include <string>

#include "common/random.h"
#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "crypto/kdf.h"
#include "crypto/secret_bytes.h"
#include "state/state_store.h"

namespace coffer::state {

class RootKeyProvider {
 public:
  virtual ~RootKeyProvider() = default;
  // "key-file" or "passphrase": recorded in the store, checked on every open.
  virtual std::string Kind() const = 0;

  struct Unlocked {
    crypto::SecretBytes root_key;  // 32 bytes
    std::string params;            // to store on first use (not secret)
  };
  // `stored_params` is what this provider returned on first use, or nullopt
  // when the store is new (the provider may then create its key).
  virtual Result<Unlocked> Unlock(const std::optional<std::string>& stored_params) = 0;
};

class KeyFileRootKeyProvider final : public RootKeyProvider {
 public:
  KeyFileRootKeyProvider(std::string path, Random& random)
      : path_(std::move(path)), random_(random) {}
  std::string Kind() const override { return "key-file"; }
  Result<Unlocked> Unlock(const std::optional<std::string>& stored_params) override;

 private:
  std::string path_;
  Random& random_;
};

class PassphraseRootKeyProvider final : public RootKeyProvider {
 public:
  PassphraseRootKeyProvider(crypto::SecretBytes passphrase, Random& random,
                            crypto::ScryptParams params = {})
      : passphrase_(std::move(passphrase)), random_(random), params_(params) {}
  std::string Kind() const override { return "passphrase"; }
  Result<Unlocked> Unlock(const std::optional<std::string>& stored_params) override;

 private:
  crypto::SecretBytes passphrase_;
  Random& random_;
  crypto::ScryptParams params_;  // used only on first use
};

// Seals and opens secrets under the root key. `context` names what is sealed
// and where (for example "kms/material/<key-id>/3"); it is authenticated, so a
// sealed value moved to another place does not open. Safe for concurrent use.
class Vault {
 public:
  // Unlocks `provider` against `store`. Errors: kFailedPrecondition when the
  // key does not match the store or the provider kind differs (nothing is
  // written); errors of the provider (missing or unsafe key file, …).
  static Result<std::unique_ptr<Vault>> Open(StateStore& store, RootKeyProvider& provider,
                                             Random& random);

  Result<Bytes> Seal(std::string_view context, const crypto::SecretBytes& secret) const;
  // kDataLoss when the sealed bytes are damaged or belong to another context.
  Result<crypto::SecretBytes> Unseal(std::string_view context, ByteView sealed) const;

 private:
  Vault(std::unique_ptr<crypto::AesGcm> aead, Random& random)
      : aead_(std::move(aead)), random_(random) {}
  std::unique_ptr<crypto::AesGcm> aead_;
  Random& random_;
};

}  // namespace coffer::state
