#pragma once
// The fixture of the KMS engine tests: a KeyService over a real
// SqliteStateStore and a key-file Vault in a fresh temporary directory, with a
// FakeClock and a SeededRandom, so that every test is hermetic and
// deterministic and time moves only when a test advances the clock. Reopen()
// destroys the service, the vault and the store and opens them again from the
// same directory, as a restarted server would.
//
// Also: matchers for Status/Result (IsOk, IsError(name, message)), printers
// that show a Status readably, and helpers for files and blobs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/hash.h"
#include "crypto/secret_bytes.h"
#include "kms/key_service.h"
#include "kms/types.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer {

namespace kms {
inline void PrintTo(KeyState s, std::ostream* os) { *os << KeyStateName(s); }
}  // namespace kms

}  // namespace coffer

namespace coffer::kms::testing {

// 2026-01-01T00:00:00Z. Whole milliseconds, as the store keeps dates.
inline constexpr int64_t kStartMillis = 1767225600000;

using ::coffer::testing::IsError;
using ::coffer::testing::IsOk;
using ::coffer::testing::StatusOf;

// A Status of either, by value (for tables of operations).
inline Status StatusFrom(const Status& s) { return s; }
template <typename T>
Status StatusFrom(const Result<T>& r) {
  return r.status();
}

inline crypto::SecretBytes Secret(std::string_view s) { return crypto::SecretBytes(s); }
inline std::string Reveal(const crypto::SecretBytes& s) {
  return ToString(crypto::RevealSecret(s));
}

// The material version a blob names (bytes 17..20, big-endian).
inline uint32_t BlobMaterialVersion(const Bytes& blob) {
  return blob.size() >= 21 ? LoadU32(blob.data() + 17) : 0;
}
// Sets the material version and key id of a blob and recomputes the header
// check, giving a well-formed header that names something else.
inline void RewriteBlobHeader(Bytes& blob, const uint8_t* key_id16, uint32_t version) {
  std::copy(key_id16, key_id16 + 16, blob.begin() + 1);
  blob[17] = static_cast<uint8_t>(version >> 24);
  blob[18] = static_cast<uint8_t>(version >> 16);
  blob[19] = static_cast<uint8_t>(version >> 8);
  blob[20] = static_cast<uint8_t>(version);
  Bytes digest = crypto::Sha256(ByteView(blob.data(), 21));
  std::copy(digest.begin(), digest.begin() + 4, blob.begin() + 21);
}

// ---- files -------------------------------------------------------------------

using ::coffer::testing::DirectoryContents;
using ::coffer::testing::ReadFile;
using ::coffer::testing::WriteFile;

// ---- the fixture ---------------------------------------------------------------

class KmsTest : public ::testing::Test {
 protected:
  KmsTest() : clock_(FromEpochMillis(kStartMillis)), random_(0x6b6d73) {}

  void SetUp() override {
    temp_.emplace();
    dir_ = temp_->path();
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  void TearDown() override {
    Close();
    temp_.reset();  // removes the directory
  }

  std::string StatePath() const { return dir_ + "/state.db"; }
  std::string RootKeyPath() const { return dir_ + "/root.key"; }

  // Opens the store, the vault and the service from dir_.
  void Open() {
    auto store = state::SqliteStateStore::Open(StatePath());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(RootKeyPath(), random_);
    auto vault = state::Vault::Open(*store_, *provider_, random_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(vault).value();
    auto service = KeyService::Create(options_, *store_, *vault_, clock_, random_);
    ASSERT_TRUE(service.ok()) << service.status().ToString();
    service_ = std::move(service).value();
  }

  void Close() {
    service_.reset();
    vault_.reset();
    provider_.reset();
    store_.reset();
  }

  // A restart: everything is destroyed and opened again from the same directory.
  void Reopen() {
    Close();
    ASSERT_NO_FATAL_FAILURE(Open());
  }

  KeyService& kms() { return *service_; }

  std::string Arn(std::string_view uuid) const { return service_->KeyArn(uuid); }
  std::string AliasArn(std::string_view alias) const { return service_->AliasArn(alias); }

  // Creates a key and returns its uuid ("" after recording a failure).
  std::string NewKey(const CreateKeyRequest& request = {}) {
    auto created = service_->CreateKey(request);
    if (!created.ok()) {
      ADD_FAILURE() << "CreateKey: " << created.status().ToString();
      return "";
    }
    return created->key_id;
  }

  // The state of a key as DescribeKey reports it.
  std::optional<KeyState> StateOf(std::string_view key_id) {
    auto described = service_->DescribeKey(key_id);
    if (!described.ok()) return std::nullopt;
    return described->key_state;
  }

  // Puts an enabled key into `state` through the API.
  void SetState(const std::string& uuid, KeyState state) {
    switch (state) {
      case KeyState::kEnabled:
        break;
      case KeyState::kDisabled:
        ASSERT_OK(service_->DisableKey(uuid));
        break;
      case KeyState::kPendingDeletion:
        ASSERT_OK(service_->ScheduleKeyDeletion(uuid, 7));
        break;
      case KeyState::kPendingImport:
        FAIL() << "keys cannot be put into PendingImport";
    }
    ASSERT_EQ(StateOf(uuid), state);
  }

  // Encrypts and returns the blob (empty after recording a failure).
  Bytes EncryptBlob(std::string_view key_id, std::string_view plaintext,
                    const EncryptionContext& context = {}) {
    EncryptRequest req;
    req.key_id = std::string(key_id);
    req.plaintext = Secret(plaintext);
    req.encryption_context = context;
    auto out = service_->Encrypt(req);
    if (!out.ok()) {
      ADD_FAILURE() << "Encrypt: " << out.status().ToString();
      return {};
    }
    return out->ciphertext_blob;
  }

  // Decrypts and returns the plaintext as text.
  Result<std::string> DecryptText(const Bytes& blob, const EncryptionContext& context = {},
                                  std::optional<std::string> key_id = std::nullopt) {
    DecryptRequest req;
    req.ciphertext_blob = blob;
    req.encryption_context = context;
    req.key_id = std::move(key_id);
    auto out = service_->Decrypt(req);
    if (!out.ok()) return out.status();
    return Reveal(out->plaintext);
  }

  KmsOptions options_;
  FakeClock clock_;
  SeededRandom random_;
  std::optional<::coffer::testing::TempDir> temp_;
  std::string dir_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<KeyService> service_;
};

}  // namespace coffer::kms::testing
