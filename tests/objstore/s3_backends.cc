#include "objstore/s3_backends.h"

#include <map>
#include <mutex>

namespace coffer::objstore::testing {
namespace {

using coffer::testing::S3Peer;
using coffer::testing::S3PeerKind;

// One peer of each kind per process, started on first use, stopped at exit.
coffer::testing::S3Peer* SharedPeer(S3PeerKind kind, std::string& why) {
  static std::mutex mu;
  static std::map<S3PeerKind, std::unique_ptr<S3Peer>> peers;
  static std::map<S3PeerKind, std::string> failures;
  std::lock_guard lock(mu);
  if (auto it = peers.find(kind); it != peers.end()) return it->second.get();
  if (auto it = failures.find(kind); it != failures.end()) {
    why = it->second;
    return nullptr;
  }
  Result<std::unique_ptr<S3Peer>> peer = S3Peer::Start(kind);
  if (!peer.ok()) {
    why = std::string(coffer::testing::S3PeerName(kind)) + ": " + peer.status().message();
    failures[kind] = why;
    return nullptr;
  }
  return (peers[kind] = std::move(peer).value()).get();
}

}  // namespace

std::string PeerBackend::Name() const {
  std::string name = kind_ == S3PeerKind::kMoto ? "Moto" : "S3rver";
  if (addressing_ == S3Addressing::kVirtualHost) name += "VirtualHost";
  return name;
}

std::optional<S3Options> PeerBackend::Options(std::string& why) const {
  S3Peer* peer = SharedPeer(kind_, why);
  if (peer == nullptr) return std::nullopt;
  S3Options options;
  // Virtual-host addressing needs a name: *.localhost resolves to loopback.
  options.endpoint = addressing_ == S3Addressing::kVirtualHost
                         ? "http://localhost:" + std::to_string(peer->port())
                         : peer->endpoint();
  // moto as an AWS region other than us-east-1 (CreateBucketConfiguration is sent);
  // s3rver as us-east-1.
  options.region = kind_ == S3PeerKind::kMoto ? "eu-west-1" : "us-east-1";
  options.addressing = addressing_;
  // moto takes any key; s3rver knows one (and checks the signature made with it).
  if (kind_ == S3PeerKind::kMoto) {
    options.credentials = {"AKIDEXAMPLE", crypto::SecretBytes(std::string_view("secret")), ""};
  } else {
    options.credentials = {"S3RVER", crypto::SecretBytes(std::string_view("S3RVER")), ""};
  }
  options.part_size = kMinPartSize;
  options.parts_in_flight = 3;
  options.read_chunk_size = 256 << 10;
  options.retry = RetryPolicy{4, std::chrono::milliseconds(50), std::chrono::milliseconds(500)};
  options.http.proxy_from_environment = false;
  return options;
}

std::unique_ptr<S3ObjectStore> PeerBackend::Make(S3Options options, S3Environment env,
                                                 std::string& why) {
  Result<std::unique_ptr<S3ObjectStore>> store =
      S3ObjectStore::Create(std::move(options), std::move(env));
  if (!store.ok()) {
    why = store.status().ToString();
    return nullptr;
  }
  return std::move(store).value();
}

std::unique_ptr<ObjectStore> PeerBackend::Open(std::string& why, bool& must_run) const {
  must_run = coffer::testing::PeersRequired();
  std::optional<S3Options> options = Options(why);
  if (!options) return nullptr;
  must_run = true;  // the peer runs: a store that cannot be made is a failure
  return Make(std::move(*options), {}, why);
}

}  // namespace coffer::objstore::testing
