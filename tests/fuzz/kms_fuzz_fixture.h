#pragma once
// The KMS engine for fuzz targets: one KeyService per process over a real
// SqliteStateStore and a key-file Vault in a temporary directory (on tmpfs when
// /dev/shm exists, since the store syncs every write; removed at exit), with a
// FakeClock and a SeededRandom, as tests/kms/kms_fixture.h builds it. Since the
// randomness is seeded, the keys, their material and the sample blobs are the same
// in every process: the blobs in the seed corpus, written by ciphertext_blob_seeds
// from samples(), decrypt.
//
// The keys, in this order: an enabled key with the alias "alias/fuzz"; a key rotated
// twice (material versions 1 to 3); a disabled key; a key pending deletion.
//
// Reset() puts everything back as it was after set-up (the store from a copy, the
// clock, the randomness reseeded), for targets whose calls change the state: each
// input then meets the same service. Not thread-safe; fuzz targets run one input at
// a time.
#include <stdlib.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "kms/key_service.h"
#include "kms/types.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"

namespace coffer::fuzz {

class FuzzKms {
 public:
  enum KeyIndex { kEnabledKey = 0, kRotatedKey = 1, kDisabledKey = 2, kPendingDeletionKey = 3 };
  static constexpr std::string_view kAlias = "alias/fuzz";

  // A ciphertext made while setting up, with what decrypts it.
  struct Sample {
    std::string name;  // for the seed file
    Bytes blob;
    kms::EncryptionContext context;
  };

  // The fixture of this process, set up on first use. Aborts if it cannot be.
  static FuzzKms& Get() {
    static FuzzKms kms;
    return kms;
  }

  ~FuzzKms() {
    Close();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  FuzzKms(const FuzzKms&) = delete;
  FuzzKms& operator=(const FuzzKms&) = delete;

  kms::KeyService& service() { return *service_; }
  const std::array<std::string, 4>& key_ids() const { return key_ids_; }
  const std::vector<Sample>& samples() const { return samples_; }

  // The encryption contexts of the samples, and one that differs only in case.
  static const std::vector<kms::EncryptionContext>& Contexts() {
    static const std::vector<kms::EncryptionContext> contexts = {
        {}, {{"purpose", "fuzz"}}, {{"purpose", "fuzz"}, {"tenant", "db1"}}, {{"Purpose", "fuzz"}}};
    return contexts;
  }

  // Back to the state right after set-up. Invalidates service().
  void Reset() {
    Close();
    std::error_code ec;
    for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(StatePath() + suffix, ec);
    std::filesystem::copy_file(TemplatePath(), StatePath(),
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) Die("restore the state store", ec.message());
    clock_.Set(kStart);
    Open(kServingSeed);
  }

 private:
  static constexpr uint64_t kSetUpSeed = 0x66757a7a;
  // After set-up another stream, so that new ids never repeat those of the set-up.
  static constexpr uint64_t kServingSeed = kSetUpSeed + 1;
  static constexpr TimePoint kStart{std::chrono::milliseconds(1767225600000)};  // 2026-01-01

  FuzzKms() : dir_(MakeDirectory()), clock_(kStart) {
    Open(kSetUpSeed);
    for (std::string& id : key_ids_) {
      auto created = service_->CreateKey({});
      Must(created.status(), "CreateKey");
      id = created->key_id;
    }
    Must(service_->CreateAlias(kAlias, key_ids_[kEnabledKey]), "CreateAlias");
    const auto& contexts = Contexts();
    AddSample("enabled-key", key_ids_[kEnabledKey], "hello kms", contexts[0]);
    AddSample("enabled-key-context", std::string(kAlias), "a customer record", contexts[1]);
    AddSample("rotated-key-v1", key_ids_[kRotatedKey], "before rotation", contexts[0]);
    for (int i = 0; i < 2; ++i) {
      Must(service_->RotateKeyOnDemand(key_ids_[kRotatedKey]).status(), "RotateKeyOnDemand");
    }
    AddSample("rotated-key-v3", key_ids_[kRotatedKey], "after two rotations", contexts[2]);
    AddSample("disabled-key", key_ids_[kDisabledKey], "x", contexts[0]);
    Must(service_->DisableKey(key_ids_[kDisabledKey]), "DisableKey");
    AddSample("pending-deletion-key", key_ids_[kPendingDeletionKey], "y", contexts[1]);
    Must(service_->ScheduleKeyDeletion(key_ids_[kPendingDeletionKey], 7).status(),
         "ScheduleKeyDeletion");
    // A data key, as GenerateDataKey seals it (32 bytes of key).
    kms::GenerateDataKeyRequest data_key;
    data_key.key_id = std::string(kAlias);
    data_key.key_spec = "AES_256";
    data_key.encryption_context = contexts[2];
    auto generated = service_->GenerateDataKey(data_key);
    Must(generated.status(), "GenerateDataKey");
    samples_.push_back({"data-key", generated->ciphertext_blob, contexts[2]});

    // The state to come back to; closing the store checkpoints its WAL into the file.
    Close();
    std::error_code ec;
    std::filesystem::copy_file(StatePath(), TemplatePath(),
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) Die("copy the state store", ec.message());
    Open(kServingSeed);
  }

  static std::string MakeDirectory() {
    std::error_code ec;
    const char* tmpdir = std::getenv("TMPDIR");
    std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm"
                       : tmpdir != nullptr && *tmpdir != '\0'        ? tmpdir
                                                                     : "/tmp";
    std::string pattern = base + "/coffer-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) Die("mkdtemp", pattern);
    return pattern;
  }
  std::string StatePath() const { return dir_ + "/state.db"; }
  std::string TemplatePath() const { return dir_ + "/state.template.db"; }

  // Opens the store, the vault and the service from dir_.
  void Open(uint64_t seed) {
    random_ = std::make_unique<SeededRandom>(seed);
    auto store = state::SqliteStateStore::Open(StatePath());
    Must(store.status(), "open the state store");
    store_ = std::move(store).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(dir_ + "/root.key", *random_);
    auto vault = state::Vault::Open(*store_, *provider_, *random_);
    Must(vault.status(), "open the vault");
    vault_ = std::move(vault).value();
    auto service = kms::KeyService::Create(kms::KmsOptions{}, *store_, *vault_, clock_, *random_);
    Must(service.status(), "create the key service");
    service_ = std::move(service).value();
  }

  void Close() {
    service_.reset();
    vault_.reset();
    provider_.reset();
    store_.reset();
  }

  void AddSample(std::string name, std::string key_id, std::string_view plaintext,
                 const kms::EncryptionContext& context) {
    kms::EncryptRequest request;
    request.key_id = std::move(key_id);
    request.plaintext = crypto::SecretBytes(plaintext);
    request.encryption_context = context;
    auto encrypted = service_->Encrypt(request);
    Must(encrypted.status(), "Encrypt");
    samples_.push_back({std::move(name), encrypted->ciphertext_blob, context});
  }

  static void Must(const Status& s, const char* what) {
    if (!s.ok()) Die(what, s.ToString());
  }
  [[noreturn]] static void Die(const char* what, const std::string& why) {
    std::fprintf(stderr, "FuzzKms: %s: %s\n", what, why.c_str());
    std::abort();
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<SeededRandom> random_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<kms::KeyService> service_;
  std::array<std::string, 4> key_ids_;
  std::vector<Sample> samples_;
};

}  // namespace coffer::fuzz
