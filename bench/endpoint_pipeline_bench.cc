// Micro-benchmark of the request pipeline in-process (no sockets): a signed
// TrentService.Encrypt request as the aws CLI sends it, through authentication
// (SigV4), decoding, authorization (key policy + identity policies) and the
// engine, on a real SQLite state store, with its audit record. Reports requests
// per second (items_per_second) and the CPU per request of the whole process
// (process_cpu_us: the journal's and the indexer's threads included).
// BM_SignedEncrypt syncs each audit batch as the server does (one caller: one
// fsync per request); BM_SignedEncryptUnsynced leaves the disk out, so that its
// CPU figure is the request path's own. The per-request cost the HTTP listener
// adds on top is measured by bench/endpoint_bench.py with wrk.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>

#include <filesystem>

#include "api/endpoint.h"
#include "common/clock.h"
#include "crypto/random.h"
#include "net/sigv4.h"
#include "server/services.h"

namespace coffer {
namespace {

class PipelineFixture {
 public:
  explicit PipelineFixture(bool sync) : clock_(SystemClock().Now()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    server::ServicesOptions options;
    options.data_dir = dir_ + "/data";
    options.audit.journal.sync = sync;
    services_ = std::move(server::OpenServices(options, clock_, random_)).value();
    key_arn_ = services_->kms->CreateKey({})->arn;
    const iam::NewAccessKey& root = *services_->new_root_key;
    credentials_.access_key_id = root.access_key_id;
    credentials_.secret_access_key = root.secret_access_key;
  }
  ~PipelineFixture() {
    services_.reset();
    std::filesystem::remove_all(dir_);
  }

  // A request signed now (the fake clock does not move, so it stays valid).
  net::HttpRequest EncryptRequest() {
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.remote_address = "127.0.0.1";
    r.body = "{\"KeyId\": \"" + key_arn_ + "\", \"Plaintext\": \"Y3VzdG9tZXIgcmVjb3JkIDAwMDE=\"}";
    r.headers = {{"Host", "127.0.0.1:7878"},
                 {"Content-Type", "application/x-amz-json-1.1"},
                 {"X-Amz-Target", "TrentService.Encrypt"},
                 {"User-Agent", "aws-cli/2.9.19"}};
    std::vector<net::sigv4::HeaderField> view_headers;
    for (const auto& h : r.headers) view_headers.push_back({h.name, h.value});
    net::sigv4::HttpRequestView view{
        .method = r.method,
        .raw_path = "/",
        .raw_query = "",
        .headers = view_headers,
        .body = ByteView(reinterpret_cast<const uint8_t*>(r.body.data()), r.body.size())};
    std::vector<std::string> signed_headers = {"content-type", "host", "x-amz-date",
                                               "x-amz-target"};
    auto added =
        net::sigv4::Sign(view, credentials_, "us-east-1", "kms", clock_.Now(), signed_headers);
    if (!added.ok()) std::abort();
    for (const auto& h : *added) r.headers.push_back({h.name, h.value});
    return r;
  }

  api::Endpoint& endpoint() { return *services_->endpoint; }

 private:
  std::string dir_;
  FakeClock clock_;
  crypto::OpenSslRandom random_;
  std::unique_ptr<server::Services> services_;
  std::string key_arn_;
  net::sigv4::Credentials credentials_;
};

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

PipelineFixture& Fixture(bool sync) {
  static PipelineFixture synced(true);
  static PipelineFixture unsynced(false);
  return sync ? synced : unsynced;
}

void RunSignedEncrypt(benchmark::State& st, bool sync) {
  auto& f = Fixture(sync);
  net::HttpRequest request = f.EncryptRequest();
  const double cpu_before = ProcessCpuSeconds();
  for (auto _ : st) {
    net::HttpResponse response = f.endpoint().Handle(request);
    if (response.status != 200) {
      st.SkipWithError(response.body.c_str());
      break;
    }
    benchmark::DoNotOptimize(response);
  }
  st.SetItemsProcessed(st.iterations());
  if (st.thread_index() == 0 && st.iterations() > 0) {
    st.counters["process_cpu_us"] =
        (ProcessCpuSeconds() - cpu_before) * 1e6 / static_cast<double>(st.iterations());
  }
}
void BM_SignedEncrypt(benchmark::State& st) { RunSignedEncrypt(st, true); }
void BM_SignedEncryptUnsynced(benchmark::State& st) { RunSignedEncrypt(st, false); }
BENCHMARK(BM_SignedEncrypt)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(BM_SignedEncryptUnsynced)->ThreadRange(1, 2)->UseRealTime();

}  // namespace
}  // namespace coffer

BENCHMARK_MAIN();
