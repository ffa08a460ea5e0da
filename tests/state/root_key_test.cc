#include "state/root_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "common/random.h"
#include "crypto/hkdf.h"
#include "state/sqlite_state_store.h"
#include "state/vault_format.h"
#include "testing/files.h"

namespace coffer::state {
namespace {

using ::coffer::testing::FileMode;
using ::coffer::testing::ReadFile;
using ::coffer::testing::SnapshotDirectory;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

namespace fmt = vault_format;

constexpr crypto::ScryptParams kFastScrypt{.n = 1024, .r = 8, .p = 1};

crypto::SecretBytes Secret(std::string_view s) { return crypto::SecretBytes(s); }

std::string RandomBytes(Random& random, size_t n) {
  std::string s(n, '\0');
  random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  return s;
}

class RootKeyTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }

  void OpenStore() {
    auto store = SqliteStateStore::Open(db_path_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
  }
  void CloseStore() { store_.reset(); }

  Result<std::unique_ptr<Vault>> OpenWithKeyFile(const std::string& key_path) {
    KeyFileRootKeyProvider provider(key_path, key_random_);
    return Vault::Open(*store_, provider, iv_random_);
  }
  Result<std::unique_ptr<Vault>> OpenWithPassphrase(std::string_view passphrase,
                                                    crypto::ScryptParams params = kFastScrypt) {
    PassphraseRootKeyProvider provider(Secret(passphrase), key_random_, params);
    return Vault::Open(*store_, provider, iv_random_);
  }

  std::optional<std::string> Meta(std::string_view key) {
    std::optional<std::string> value;
    EXPECT_TRUE(store_
                    ->View([&](const ReadTransaction& txn) -> Status {
                      ASSIGN_OR_RETURN(value, txn.Get(fmt::kMetaTable, key));
                      return Status::Ok();
                    })
                    .ok());
    return value;
  }
  void SetMeta(std::string_view key, std::optional<std::string_view> value) {
    ASSERT_TRUE(store_
                    ->Update([&](Transaction& txn) {
                      return value ? txn.Put(fmt::kMetaTable, key, *value)
                                   : txn.Delete(fmt::kMetaTable, key);
                    })
                    .ok());
  }

  // Seals `secret` under `vault` and stores it in table "secrets".
  void StoreSealed(const Vault& vault, const std::string& context, std::string_view secret) {
    auto sealed = vault.Seal(context, Secret(secret));
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    ASSERT_TRUE(store_
                    ->Update([&](Transaction& txn) {
                      return txn.Put("secrets", context, AsChars(*sealed));
                    })
                    .ok());
  }
  void ExpectUnseals(const Vault& vault, const std::string& context, std::string_view secret) {
    std::optional<std::string> sealed;
    ASSERT_TRUE(store_
                    ->View([&](const ReadTransaction& txn) -> Status {
                      ASSIGN_OR_RETURN(sealed, txn.Get("secrets", context));
                      return Status::Ok();
                    })
                    .ok());
    ASSERT_TRUE(sealed.has_value());
    auto opened = vault.Unseal(context, AsBytes(*sealed));
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_TRUE(*opened == Secret(secret));
  }

  TempDir dir_;
  std::string db_path_ = dir_.File("state.db");
  std::string key_path_ = dir_.File("root.key");
  SeededRandom key_random_{1};
  SeededRandom iv_random_{2};
  std::unique_ptr<SqliteStateStore> store_;
};

// ---- key file ----

TEST_F(RootKeyTest, FirstUseCreatesA0600KeyFileAndRecordsTheKind) {
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  EXPECT_EQ(FileMode(key_path_), 0600u);
  EXPECT_EQ(ReadFile(key_path_).size(), 32u);
  EXPECT_EQ(Meta(fmt::kKindKey), "key-file");
  EXPECT_EQ(Meta(fmt::kParamsKey), "");
  ASSERT_TRUE(Meta(fmt::kCheckKey).has_value());
  EXPECT_EQ(Meta(fmt::kCheckKey)->size(), fmt::kSealedValueMinSize + fmt::kCheckPlaintext.size());
  // No temp file is left beside the key.
  for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr(".tmp")));
  }
}

TEST_F(RootKeyTest, ReopenWithTheSameKeyFileUnsealsStoredValues) {
  {
    auto vault = OpenWithKeyFile(key_path_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    StoreSealed(**vault, "kms/material/k1/1", "key material one");
  }
  const std::string key = ReadFile(key_path_);
  CloseStore();
  OpenStore();
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  ExpectUnseals(**vault, "kms/material/k1/1", "key material one");
  EXPECT_EQ(ReadFile(key_path_), key);  // the key file is never rewritten
}

TEST_F(RootKeyTest, AnExistingKeyFileIsUsedForANewStore) {
  const std::string key = RandomBytes(key_random_, 32);
  WriteFile(key_path_, key, 0600);
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  EXPECT_EQ(ReadFile(key_path_), key);
}

TEST_F(RootKeyTest, ADifferentKeyFileIsRefusedAndNothingChanges) {
  {
    auto vault = OpenWithKeyFile(key_path_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    StoreSealed(**vault, "kms/material/k1/1", "key material one");
  }
  const std::string other_key = dir_.File("other.key");
  WriteFile(other_key, RandomBytes(key_random_, 32), 0600);
  CloseStore();
  const auto at_rest = SnapshotDirectory(dir_.path());

  OpenStore();
  const auto open = SnapshotDirectory(dir_.path());  // with -wal and -shm
  auto vault = OpenWithKeyFile(other_key);
  ASSERT_FALSE(vault.ok());
  EXPECT_EQ(vault.status(),
            FailedPreconditionError("the root key does not open this data directory (wrong key "
                                    "file or passphrase); nothing was changed"));
  EXPECT_EQ(SnapshotDirectory(dir_.path()), open);
  CloseStore();
  EXPECT_EQ(SnapshotDirectory(dir_.path()), at_rest);

  // And the right key still works.
  OpenStore();
  auto right = OpenWithKeyFile(key_path_);
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  ExpectUnseals(**right, "kms/material/k1/1", "key material one");
}

TEST_F(RootKeyTest, KeyFileReadableByGroupOrOthersIsRefused) {
  const std::string key = RandomBytes(key_random_, 32);
  for (mode_t mode : {0640, 0604, 0644, 0660}) {
    WriteFile(key_path_, key, mode);
    auto vault = OpenWithKeyFile(key_path_);
    ASSERT_FALSE(vault.ok()) << std::oct << mode;
    EXPECT_EQ(vault.status().code(), StatusCode::kFailedPrecondition);
    char expected[128];
    std::snprintf(expected, sizeof expected,
                  "is readable by group or others (mode %04o); chmod 600 it", mode);
    EXPECT_THAT(vault.status().message(), HasSubstr(expected));
    EXPECT_THAT(vault.status().message(), HasSubstr(key_path_));
  }
  WriteFile(key_path_, key, 0620);
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_FALSE(vault.ok());
  EXPECT_THAT(vault.status().message(), HasSubstr("accessible by group or others (mode 0620)"));
  // Nothing was recorded: the store is still new.
  EXPECT_EQ(Meta(fmt::kKindKey), std::nullopt);
  EXPECT_EQ(ReadFile(key_path_), key);
}

TEST_F(RootKeyTest, KeyFileOfTheWrongSizeIsRefused) {
  for (size_t size : {0, 16, 31, 33, 64}) {
    WriteFile(key_path_, RandomBytes(key_random_, size), 0600);
    auto vault = OpenWithKeyFile(key_path_);
    ASSERT_FALSE(vault.ok()) << size;
    EXPECT_EQ(vault.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(vault.status().message(),
                HasSubstr("must hold exactly 32 bytes, it holds " + std::to_string(size)));
  }
  EXPECT_EQ(Meta(fmt::kKindKey), std::nullopt);
}

TEST_F(RootKeyTest, MissingKeyFileForAnExistingStoreIsRefusedAndNotRecreated) {
  ASSERT_TRUE(OpenWithKeyFile(key_path_).ok());
  ASSERT_EQ(::unlink(key_path_.c_str()), 0);
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_FALSE(vault.ok());
  EXPECT_EQ(vault.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(vault.status().message(), HasSubstr("does not exist"));
  EXPECT_THAT(vault.status().message(), HasSubstr(key_path_));
  EXPECT_NE(::access(key_path_.c_str(), F_OK), 0);
}

TEST_F(RootKeyTest, KeyFileInAMissingDirectoryIsAnError) {
  auto vault = OpenWithKeyFile(dir_.File("no/such/root.key"));
  ASSERT_FALSE(vault.ok());
  EXPECT_THAT(vault.status().message(), HasSubstr("no/such/root.key"));
  EXPECT_EQ(Meta(fmt::kKindKey), std::nullopt);
}

TEST_F(RootKeyTest, KeyFileProviderRefusesStoredParameters) {
  KeyFileRootKeyProvider provider(key_path_, key_random_);
  auto unlocked = provider.Unlock(std::string("scrypt$N=2"));
  ASSERT_FALSE(unlocked.ok());
  EXPECT_EQ(unlocked.status().code(), StatusCode::kDataLoss);
}

// ---- passphrase ----

TEST_F(RootKeyTest, PassphraseRightOpensWrongIsRefused) {
  {
    auto vault = OpenWithPassphrase("correct horse battery staple");
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    StoreSealed(**vault, "iam/secret/AKIA1", "wJalrXUtnFEMI");
  }
  EXPECT_EQ(Meta(fmt::kKindKey), "passphrase");
  EXPECT_THAT(*Meta(fmt::kParamsKey),
              MatchesRegex("scrypt\\$N=1024\\$r=8\\$p=1\\$salt=[A-Za-z0-9+/]{22}=="));
  CloseStore();
  OpenStore();

  const auto before = SnapshotDirectory(dir_.path());
  auto wrong = OpenWithPassphrase("correct horse battery stapler");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong.status().message(), HasSubstr("wrong key file or passphrase"));
  EXPECT_EQ(SnapshotDirectory(dir_.path()), before);

  // The stored parameters win over the provider's defaults: this derives with
  // N = 1024, not 2^17.
  auto right = OpenWithPassphrase("correct horse battery staple", crypto::ScryptParams{});
  ASSERT_TRUE(right.ok()) << right.status().ToString();
  ExpectUnseals(**right, "iam/secret/AKIA1", "wJalrXUtnFEMI");
}

TEST_F(RootKeyTest, PassphraseWithDefaultParameters) {
  const auto start = std::chrono::steady_clock::now();
  auto vault = OpenWithPassphrase("a passphrase", crypto::ScryptParams{});
  ASSERT_TRUE(vault.ok()) << vault.status().ToString();
  EXPECT_THAT(*Meta(fmt::kParamsKey), HasSubstr("scrypt$N=131072$r=8$p=1$salt="));
  auto again = OpenWithPassphrase("a passphrase", crypto::ScryptParams{});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST_F(RootKeyTest, EmptyPassphraseIsRefused) {
  auto vault = OpenWithPassphrase("");
  ASSERT_FALSE(vault.ok());
  EXPECT_EQ(vault.status(), InvalidArgumentError("the passphrase is empty"));
  EXPECT_EQ(Meta(fmt::kKindKey), std::nullopt);
}

TEST_F(RootKeyTest, SaltIsRandomPerStore) {
  PassphraseRootKeyProvider provider(Secret("pass"), key_random_, kFastScrypt);
  auto a = provider.Unlock(std::nullopt);
  auto b = provider.Unlock(std::nullopt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->params, b->params);
  EXPECT_FALSE(a->root_key == b->root_key);
  // Unlocking with the stored parameters gives the same key and parameters back.
  auto again = provider.Unlock(a->params);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->root_key == a->root_key);
  EXPECT_EQ(again->params, a->params);
  EXPECT_EQ(again->root_key.size(), 32u);
}

TEST_F(RootKeyTest, MalformedPassphraseParametersAreRefused) {
  const std::string salt = Base64Encode(AsBytes(RandomBytes(key_random_, 16)));
  const std::string short_salt = Base64Encode(AsBytes(RandomBytes(key_random_, 8)));
  const std::vector<std::string> bad = {
      "",
      "scrypt",
      "scrypt$N=1024$r=8$p=1",
      "scrypt$N=1024$r=8$p=1$salt=" + salt + "$x=1",
      "scrypt$N=1024$r=8$p=1$salt=" + salt + "$",
      "bcrypt$N=1024$r=8$p=1$salt=" + salt,
      " scrypt$N=1024$r=8$p=1$salt=" + salt,
      "scrypt$n=1024$r=8$p=1$salt=" + salt,
      "scrypt$N=1000$r=8$p=1$salt=" + salt,
      "scrypt$N=1$r=8$p=1$salt=" + salt,
      "scrypt$N=01024$r=8$p=1$salt=" + salt,
      "scrypt$N=+1024$r=8$p=1$salt=" + salt,
      "scrypt$N=1024 $r=8$p=1$salt=" + salt,
      "scrypt$N=99999999999999999999999$r=8$p=1$salt=" + salt,
      "scrypt$N=1024$r=0$p=1$salt=" + salt,
      "scrypt$N=1024$r=8$p=0$salt=" + salt,
      "scrypt$N=1024$r=8$p=4294967296$salt=" + salt,
      "scrypt$N=1024$r=8$p=1$salt=",
      "scrypt$N=1024$r=8$p=1$salt=not base64!",
      "scrypt$N=1024$r=8$p=1$salt=" + short_salt,
      "scrypt$r=8$N=1024$p=1$salt=" + salt,
  };
  PassphraseRootKeyProvider provider(Secret("pass"), key_random_, kFastScrypt);
  for (const std::string& params : bad) {
    auto unlocked = provider.Unlock(params);
    ASSERT_FALSE(unlocked.ok()) << params;
    EXPECT_EQ(unlocked.status().code(), StatusCode::kDataLoss) << params;
    EXPECT_THAT(unlocked.status().message(), HasSubstr("malformed")) << params;
  }
  // The well-formed neighbour of all of these is accepted.
  EXPECT_TRUE(provider.Unlock("scrypt$N=1024$r=8$p=1$salt=" + salt).ok());
}

// ---- binding a provider to a store ----

TEST_F(RootKeyTest, ProviderKindMismatchIsRefused) {
  ASSERT_TRUE(OpenWithPassphrase("pass").ok());
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_FALSE(vault.ok());
  EXPECT_EQ(vault.status(), FailedPreconditionError(
                                "this data directory is sealed with a passphrase, not a key file"));
  EXPECT_NE(::access(key_path_.c_str(), F_OK), 0);  // no key file was made

  TempDir other;
  auto store = SqliteStateStore::Open(other.File("state.db"));
  ASSERT_TRUE(store.ok());
  KeyFileRootKeyProvider key_file(other.File("root.key"), key_random_);
  ASSERT_TRUE(Vault::Open(**store, key_file, iv_random_).ok());
  PassphraseRootKeyProvider passphrase(Secret("pass"), key_random_, kFastScrypt);
  auto refused = Vault::Open(**store, passphrase, iv_random_);
  EXPECT_EQ(
      refused.status(),
      FailedPreconditionError("this data directory is sealed with a key file, not a passphrase"));
}

TEST_F(RootKeyTest, DamagedCheckValueIsRefused) {
  ASSERT_TRUE(OpenWithKeyFile(key_path_).ok());
  std::string check = *Meta(fmt::kCheckKey);
  check[check.size() / 2] ^= 0x01;
  SetMeta(fmt::kCheckKey, check);
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_FALSE(vault.ok());
  EXPECT_EQ(vault.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(vault.status().message(), HasSubstr("does not open this data directory"));
}

// A check value that opens but is not the constant is refused too.
TEST_F(RootKeyTest, CheckValueWithTheWrongConstantIsRefused) {
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_TRUE(vault.ok());
  auto sealed = (*vault)->Seal(fmt::kCheckContext, Secret("something else"));
  ASSERT_TRUE(sealed.ok());
  SetMeta(fmt::kCheckKey, AsChars(*sealed));
  EXPECT_EQ(OpenWithKeyFile(key_path_).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(RootKeyTest, IncompleteRootKeyRecordIsDataLoss) {
  ASSERT_TRUE(OpenWithKeyFile(key_path_).ok());
  SetMeta(fmt::kCheckKey, std::nullopt);
  auto vault = OpenWithKeyFile(key_path_);
  ASSERT_FALSE(vault.ok());
  EXPECT_EQ(vault.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(vault.status().message(), HasSubstr("incomplete"));
}

// ---- sealing ----

class VaultSealTest : public RootKeyTest {
 protected:
  void SetUp() override {
    RootKeyTest::SetUp();
    auto vault = OpenWithKeyFile(key_path_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(vault).value();
  }
  std::unique_ptr<Vault> vault_;
};

TEST_F(VaultSealTest, RoundTrip) {
  for (std::string_view secret : {std::string_view(""), std::string_view("k"),
                                  std::string_view("\x00\xff key material \x00", 17)}) {
    auto sealed = vault_->Seal("ctx", Secret(secret));
    ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
    EXPECT_EQ(sealed->size(), fmt::kSealedValueMinSize + secret.size());
    EXPECT_EQ((*sealed)[0], 0x01);
    auto opened = vault_->Unseal("ctx", *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_TRUE(*opened == Secret(secret));
  }
}

TEST_F(VaultSealTest, SealingTwiceGivesDifferentBytes) {
  auto a = vault_->Seal("ctx", Secret("same"));
  auto b = vault_->Seal("ctx", Secret("same"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST_F(VaultSealTest, WrongContextDoesNotOpen) {
  auto sealed = vault_->Seal("kms/material/k1/1", Secret("material"));
  ASSERT_TRUE(sealed.ok());
  for (std::string_view context :
       {"kms/material/k1/2", "kms/material/k2/1", "", "kms/material/k1/1 "}) {
    auto opened = vault_->Unseal(context, *sealed);
    ASSERT_FALSE(opened.ok()) << context;
    EXPECT_EQ(opened.status(), DataLossError("sealed value for " + std::string(context) +
                                             " does not open (damaged or moved)"));
  }
}

TEST_F(VaultSealTest, EveryFlippedBitTruncationAndExtensionIsDataLoss) {
  auto sealed = vault_->Seal("ctx", Secret("some key material"));
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    for (int bit : {0, 7}) {
      Bytes damaged = *sealed;
      damaged[i] ^= static_cast<uint8_t>(1 << bit);
      auto opened = vault_->Unseal("ctx", damaged);
      ASSERT_FALSE(opened.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
      EXPECT_THAT(opened.status().message(),
                  ::testing::StartsWith("sealed value for ctx does not open (damaged or moved)"));
    }
  }
  for (size_t n = 0; n < sealed->size(); ++n) {
    auto opened = vault_->Unseal("ctx", ByteView(*sealed).first(n));
    ASSERT_FALSE(opened.ok()) << n;
    EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  }
  Bytes longer = *sealed;
  longer.push_back(0);
  EXPECT_EQ(vault_->Unseal("ctx", longer).status().code(), StatusCode::kDataLoss);
}

TEST_F(VaultSealTest, AnotherRootKeyDoesNotOpen) {
  TempDir other;
  auto store = SqliteStateStore::Open(other.File("state.db"));
  ASSERT_TRUE(store.ok());
  KeyFileRootKeyProvider provider(other.File("root.key"), key_random_);
  auto other_vault = Vault::Open(**store, provider, iv_random_);
  ASSERT_TRUE(other_vault.ok());
  auto sealed = vault_->Seal("ctx", Secret("material"));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ((*other_vault)->Unseal("ctx", *sealed).status().code(), StatusCode::kDataLoss);
}

// The bytes follow docs/formats/sealed-values.md: opened here with the
// documented derivation, not through Vault.
TEST_F(VaultSealTest, FormatIsAsDocumented) {
  auto sealed = vault_->Seal("kms/material/k1/1", Secret("documented"));
  ASSERT_TRUE(sealed.ok());
  const crypto::SecretBytes root_key(ReadFile(key_path_));
  auto seal_key = crypto::Hkdf(crypto::HashAlgorithm::kSha256, root_key, ByteView(),
                               AsBytes("coffer vault seal v1"), 32);
  ASSERT_TRUE(seal_key.ok());
  auto aead = crypto::AesGcm::Create(*seal_key);
  ASSERT_TRUE(aead.ok());
  Bytes aad = {0x01};
  Append(aad, AsBytes("kms/material/k1/1"));
  ByteView bytes(*sealed);
  auto opened = (*aead)->Open(bytes.subspan(1, 12), bytes.subspan(13), aad);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_TRUE(*opened == Secret("documented"));

  // The check value is the documented constant sealed under "vault/check".
  const std::string check = *Meta("root_key.check");
  Bytes check_aad = {0x01};
  Append(check_aad, AsBytes("vault/check"));
  auto constant =
      (*aead)->Open(AsBytes(check).subspan(1, 12), AsBytes(check).subspan(13), check_aad);
  ASSERT_TRUE(constant.ok());
  EXPECT_TRUE(*constant == Secret("coffer root key check v1"));
}

}  // namespace
}  // namespace coffer::state
