// Micro-benchmark of the request pipeline in-process (no sockets): a signed
// TrentService.Encrypt request as the aws CLI sends it, through authentication
// (SigV4), decoding, authorization (key policy + identity policies) and the
// engine, on a real SQLite state store. Reports requests per second
// (items_per_second); the per-request cost the HTTP listener adds on top is
// measured by bench/endpoint_bench.py with wrk.
#include <benchmark/benchmark.h>
#include <stdlib.h>

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
  PipelineFixture() : clock_(SystemClock().Now()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "coffer-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
    server::ServicesOptions options;
    options.data_dir = dir_ + "/data";
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

PipelineFixture& Fixture() {
  static PipelineFixture f;
  return f;
}

void BM_SignedEncrypt(benchmark::State& st) {
  auto& f = Fixture();
  net::HttpRequest request = f.EncryptRequest();
  for (auto _ : st) {
    net::HttpResponse response = f.endpoint().Handle(request);
    if (response.status != 200) {
      st.SkipWithError(response.body.c_str());
      break;
    }
    benchmark::DoNotOptimize(response);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_SignedEncrypt)->ThreadRange(1, 2)->UseRealTime();

}  // namespace
}  // namespace coffer

BENCHMARK_MAIN();
