#include "cli/demo.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "common/clock.h"
#include "crypto/random.h"
#include "kms/key_service.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"

namespace coffer::cli {
namespace {

// One open data directory: the state store, the vault and the KMS engine.
struct Engine {
  std::unique_ptr<state::SqliteStateStore> store;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider;
  std::unique_ptr<state::Vault> vault;
  std::unique_ptr<kms::KeyService> kms;
};

Result<Engine> OpenEngine(const std::string& dir, Clock& clock, Random& random) {
  Engine e;
  ASSIGN_OR_RETURN(e.store, state::SqliteStateStore::Open(dir + "/state.db"));
  e.provider = std::make_unique<state::KeyFileRootKeyProvider>(dir + "/root.key", random);
  ASSIGN_OR_RETURN(e.vault, state::Vault::Open(*e.store, *e.provider, random));
  ASSIGN_OR_RETURN(e.kms, kms::KeyService::Create({}, *e.store, *e.vault, clock, random));
  return e;
}

void Step(const char* title) { std::printf("\n==> %s\n", title); }
void Show(const std::string& line) { std::printf("    %s\n", line.c_str()); }

// Tracks whether every step behaved as the story says it should.
struct Checker {
  bool ok = true;
  void Expect(bool condition, const std::string& what) {
    if (!condition) {
      ok = false;
      std::printf("    UNEXPECTED: %s\n", what.c_str());
    }
  }
  template <typename T>
  bool Succeeded(const Result<T>& r, const std::string& what) {
    Expect(r.ok(), what + " failed: " + r.status().ToString());
    return r.ok();
  }
  bool Succeeded(const Status& s, const std::string& what) {
    Expect(s.ok(), what + " failed: " + s.ToString());
    return s.ok();
  }
  template <typename T>
  void Refused(const Result<T>& r, const std::string& error_name) {
    Expect(!r.ok() && r.status().error_name() == error_name,
           "expected " + error_name + ", got " + (r.ok() ? "success" : r.status().ToString()));
    if (!r.ok()) Show("refused: " + r.status().ToString());
  }
};

std::string Preview(ByteView blob) {
  std::string b64 = Base64Encode(blob);
  return b64.substr(0, 48) + "… (" + std::to_string(blob.size()) + " bytes)";
}

int Play(const std::string& dir) {
  Checker check;
  crypto::OpenSslRandom random;
  // A clock we can move: the deletion window is shown by advancing it 7 days.
  FakeClock clock(SystemClock().Now());

  Step("Open a fresh data directory: state store and root key");
  auto opened = OpenEngine(dir, clock, random);
  if (!check.Succeeded(opened, "opening the data directory")) return 1;
  auto engine = std::move(opened).value();
  struct stat st {};
  ::stat((dir + "/root.key").c_str(), &st);
  Show("data directory: " + dir);
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
  Show(std::string("root key file:  ") + dir + "/root.key (mode " + mode + ")");
  check.Expect((st.st_mode & 077) == 0, "the root key file must be readable by its owner only");

  Step("Create a customer managed key with alias, description and tags");
  kms::CreateKeyRequest create;
  create.description = "Encrypts the customers database backups";
  create.tags = {{"Purpose", "rds-backup"}, {"Owner", "dba-team"}};
  auto key = engine.kms->CreateKey(create);
  if (!check.Succeeded(key, "CreateKey")) return 1;
  std::string alias = "alias/rds-backup-key";
  check.Succeeded(engine.kms->CreateAlias(alias, key->key_id), "CreateAlias");
  Show("KeyId:   " + key->key_id);
  Show("Arn:     " + key->arn);
  Show("Alias:   " + alias);
  Show("State:   " + std::string(kms::KeyStateName(key->key_state)));
  auto policy = engine.kms->GetKeyPolicy(alias, std::nullopt);
  if (check.Succeeded(policy, "GetKeyPolicy")) Show("Policy:  " + *policy);

  Step("Encrypt a customer record under the key, bound to an encryption context");
  const std::string record = "customer 1001, Alice Doe, card 4111-1111-1111-1111";
  kms::EncryptRequest enc;
  enc.key_id = alias;
  enc.plaintext = crypto::SecretBytes(std::string_view(record));
  enc.encryption_context = {{"database", "customers"}};
  auto encrypted = engine.kms->Encrypt(enc);
  if (!check.Succeeded(encrypted, "Encrypt")) return 1;
  Show("plaintext:      " + record);
  Show("CiphertextBlob: " + Preview(encrypted->ciphertext_blob));

  Step("Decrypt: the key is found from the blob; the context must match exactly");
  kms::DecryptRequest dec;
  dec.ciphertext_blob = encrypted->ciphertext_blob;
  dec.encryption_context = enc.encryption_context;
  auto decrypted = engine.kms->Decrypt(dec);
  if (check.Succeeded(decrypted, "Decrypt")) {
    std::string text = ToString(crypto::RevealSecret(decrypted->plaintext));
    check.Expect(text == record, "the decrypted record differs");
    Show("decrypted:      " + text);
  }
  dec.encryption_context = {{"database", "orders"}};
  Show("with context database=orders:");
  check.Refused(engine.kms->Decrypt(dec), "InvalidCiphertextException");
  dec.encryption_context = enc.encryption_context;

  Step("GenerateDataKey: a data key for a backup stream");
  kms::GenerateDataKeyRequest gdk;
  gdk.key_id = key->arn;
  gdk.key_spec = "AES_256";
  gdk.encryption_context = {{"database", "customers"}, {"type", "FULL"}};
  auto data_key = engine.kms->GenerateDataKey(gdk);
  if (check.Succeeded(data_key, "GenerateDataKey")) {
    Show("plaintext data key: " + std::to_string(data_key->plaintext.size()) +
         " bytes (kept in memory only, never printed)");
    Show("encrypted data key: " + Preview(data_key->ciphertext_blob));
  }

  Step("Disable the key: it can no longer encrypt or decrypt");
  check.Succeeded(engine.kms->DisableKey(alias), "DisableKey");
  check.Refused(engine.kms->Decrypt(dec), "DisabledException");

  Step("Schedule deletion with a 7-day window, then cancel it");
  auto scheduled = engine.kms->ScheduleKeyDeletion(alias, 7);
  if (check.Succeeded(scheduled, "ScheduleKeyDeletion")) {
    Show("KeyState: PendingDeletion, DeletionDate: " + FormatIso8601(scheduled->deletion_date));
  }
  check.Refused(engine.kms->Encrypt(enc), "KMSInvalidStateException");
  check.Succeeded(engine.kms->CancelKeyDeletion(alias), "CancelKeyDeletion");
  auto described = engine.kms->DescribeKey(alias);
  if (check.Succeeded(described, "DescribeKey")) {
    Show("after cancel, KeyState: " + std::string(kms::KeyStateName(described->key_state)));
    check.Expect(described->key_state == kms::KeyState::kDisabled,
                 "a cancelled key comes back Disabled");
  }
  check.Succeeded(engine.kms->EnableKey(alias), "EnableKey");

  Step("Rotate the key: old ciphertexts still decrypt, new ones use the new material");
  std::string before = engine.kms->DescribeKey(alias)->current_key_material_id;
  check.Succeeded(engine.kms->RotateKeyOnDemand(alias), "RotateKeyOnDemand");
  std::string after = engine.kms->DescribeKey(alias)->current_key_material_id;
  check.Expect(before != after, "the current key material must change on rotation");
  Show("material " + before.substr(0, 16) + "… -> " + after.substr(0, 16) + "…");
  auto old_decrypted = engine.kms->Decrypt(dec);
  if (check.Succeeded(old_decrypted, "Decrypt of a pre-rotation ciphertext")) {
    Show("pre-rotation ciphertext decrypts: " +
         ToString(crypto::RevealSecret(old_decrypted->plaintext)));
  }

  Step("Restart: everything is still there, sealed under the root key");
  engine = Engine{};
  opened = OpenEngine(dir, clock, random);
  if (!check.Succeeded(opened, "reopening the data directory")) return 1;
  engine = std::move(opened).value();
  auto again = engine.kms->Decrypt(dec);
  if (check.Succeeded(again, "Decrypt after restart")) Show("decrypts after restart: yes");
  auto tags = engine.kms->ListResourceTags(alias, std::nullopt, std::nullopt);
  if (check.Succeeded(tags, "ListResourceTags")) {
    for (const auto& t : tags->tags) Show("tag " + t.tag_key + "=" + t.tag_value);
  }

  Step("A wrong root key is refused, and nothing is changed");
  {
    std::string other_dir = dir + "/wrong-key";
    std::filesystem::create_directory(other_dir);
    crypto::OpenSslRandom other_random;
    auto store = state::SqliteStateStore::Open(dir + "/state.db");
    state::KeyFileRootKeyProvider wrong(other_dir + "/root.key", other_random);
    // The wrong key file is made by opening a scratch store with it first.
    auto scratch = state::SqliteStateStore::Open(other_dir + "/state.db");
    if (check.Succeeded(scratch, "opening a scratch store") &&
        check.Succeeded(store, "opening the store")) {
      check.Succeeded(state::Vault::Open(**scratch, wrong, other_random).status(),
                      "creating another root key");
      check.Refused(state::Vault::Open(**store, wrong, other_random), "");
    }
  }

  Step("Schedule deletion again and let 7 days pass: the key is deleted");
  check.Succeeded(engine.kms->ScheduleKeyDeletion(alias, 7).status(), "ScheduleKeyDeletion");
  clock.Advance(Days(7));
  auto work = engine.kms->RunScheduledWork();
  if (check.Succeeded(work, "RunScheduledWork")) {
    Show("keys deleted: " + std::to_string(work->keys_deleted));
  }
  check.Refused(engine.kms->DescribeKey(key->arn), "NotFoundException");
  check.Refused(engine.kms->Decrypt(dec), "AccessDeniedException");

  std::printf("\n%s\n", check.ok ? "Every step behaved as expected."
                                 : "Some steps did not behave as expected (see above).");
  return check.ok ? 0 : 1;
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  std::string dir = options.data_dir;
  bool temporary = dir.empty();
  if (temporary) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-demo-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror("coffer demo: cannot create a temporary directory");
      return 1;
    }
    dir = tmpl;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::fprintf(stderr, "coffer demo: cannot create %s: %s\n", dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
    if (!std::filesystem::is_empty(dir)) {
      std::fprintf(stderr, "coffer demo: %s is not empty; the demo needs a fresh directory\n",
                   dir.c_str());
      return 1;
    }
  }
  int rc = Play(dir);
  if (temporary && !options.keep) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return rc;
}

}  // namespace coffer::cli
