#pragma once
// S3-compatible servers the s3 backend is tested against, started by the test
// on a free loopback port and stopped with it:
//   moto     moto_server (Python; on the image under pyenv, or COFFER_MOTO_SERVER)
//   s3rver   the npm package, installed by `npm ci` in tests/objstore/node
//            (scripts/install-deps.sh does it)
// A peer that is not installed fails the test when CI=true, and skips it
// otherwise, saying what to install.
#include <sys/types.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "testing/files.h"

namespace coffer::testing {

enum class S3PeerKind { kMoto, kS3rver };

class S3Peer {
 public:
  // Starts the peer and waits until it answers HTTP. kFailedPrecondition when
  // it is not installed; kUnavailable when it did not start.
  static Result<std::unique_ptr<S3Peer>> Start(S3PeerKind kind);
  ~S3Peer();
  S3Peer(const S3Peer&) = delete;
  S3Peer& operator=(const S3Peer&) = delete;

  S3PeerKind kind() const { return kind_; }
  int port() const { return port_; }
  // "http://127.0.0.1:PORT"
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The peer's output so far (for failure messages).
  std::string Output() const;

 private:
  S3Peer(S3PeerKind kind) : kind_(kind) {}
  S3PeerKind kind_;
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

const char* S3PeerName(S3PeerKind kind);

// True when a missing peer must fail the test (CI=true).
bool PeersRequired();

}  // namespace coffer::testing
