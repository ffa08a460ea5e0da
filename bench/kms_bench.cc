// Micro-benchmark of the KMS engine in-process: Encrypt, Decrypt and
// GenerateDataKey on a real SQLite state store in a temporary directory, with
// the material cache warm (as in a running server). Reports operations per
// second (items_per_second).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>

#include "common/clock.h"
#include "crypto/random.h"
#include "kms/key_service.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"

namespace coffer {
namespace {

class KmsFixture {
 public:
  KmsFixture() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    store_ = std::move(state::SqliteStateStore::Open(dir_ + "/state.db")).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(dir_ + "/root.key", random_);
    vault_ = std::move(state::Vault::Open(*store_, *provider_, random_)).value();
    kms_ = std::move(kms::KeyService::Create({}, *store_, *vault_, clock_, random_)).value();
    key_arn_ = kms_->CreateKey({})->arn;
    if (!kms_->CreateAlias("alias/bench", key_arn_).ok()) std::abort();
  }
  ~KmsFixture() {
    kms_.reset();
    vault_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  kms::KeyService& kms() { return *kms_; }
  const std::string& key_arn() const { return key_arn_; }

 private:
  std::string dir_;
  SystemClock clock_;
  crypto::OpenSslRandom random_;
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<kms::KeyService> kms_;
  std::string key_arn_;
};

KmsFixture& Fixture() {
  static KmsFixture f;
  return f;
}

void BM_Encrypt(benchmark::State& st) {
  auto& f = Fixture();
  kms::EncryptRequest req;
  req.key_id = st.range(1) ? "alias/bench" : f.key_arn();
  req.plaintext = crypto::SecretBytes(static_cast<size_t>(st.range(0)));
  req.encryption_context = {{"database", "customers"}};
  for (auto _ : st) {
    auto r = f.kms().Encrypt(req);
    if (!r.ok()) st.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Encrypt)
    ->ArgNames({"bytes", "by_alias"})
    ->Args({32, 0})
    ->Args({4096, 0})
    ->Args({32, 1});

void BM_Decrypt(benchmark::State& st) {
  auto& f = Fixture();
  kms::EncryptRequest enc;
  enc.key_id = f.key_arn();
  enc.plaintext = crypto::SecretBytes(static_cast<size_t>(st.range(0)));
  enc.encryption_context = {{"database", "customers"}};
  kms::DecryptRequest req;
  req.ciphertext_blob = f.kms().Encrypt(enc)->ciphertext_blob;
  req.encryption_context = enc.encryption_context;
  for (auto _ : st) {
    auto r = f.kms().Decrypt(req);
    if (!r.ok()) st.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Decrypt)->ArgName("bytes")->Arg(32)->Arg(4096);

void BM_GenerateDataKey(benchmark::State& st) {
  auto& f = Fixture();
  kms::GenerateDataKeyRequest req;
  req.key_id = f.key_arn();
  req.key_spec = "AES_256";
  req.encryption_context = {{"database", "customers"}};
  for (auto _ : st) {
    auto r = f.kms().GenerateDataKey(req);
    if (!r.ok()) st.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_GenerateDataKey);

}  // namespace
}  // namespace coffer

BENCHMARK_MAIN();
