#include "objstore/s3_peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <regex>
#include <thread>
#include <vector>

namespace coffer::testing {
namespace {

bool Executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string FindInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t colon = dirs.find(':', start);
    std::string dir =
        dirs.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty() && Executable(dir + "/" + name)) return dir + "/" + name;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

bool CanConnect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

const char* S3PeerName(S3PeerKind kind) { return kind == S3PeerKind::kMoto ? "moto" : "s3rver"; }

bool PeersRequired() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

Result<std::unique_ptr<S3Peer>> S3Peer::Start(S3PeerKind kind) {
  std::unique_ptr<S3Peer> peer(new S3Peer(kind));
  std::vector<std::string> argv;
  std::regex port_line;
  if (kind == S3PeerKind::kMoto) {
    std::string moto;
    if (const char* env = std::getenv("COFFER_MOTO_SERVER"); env != nullptr && *env != '\0') {
      moto = env;
    } else {
      moto = FindInPath("moto_server");
      if (moto.empty() && Executable("/root/.pyenv/shims/moto_server")) {
        moto = "/root/.pyenv/shims/moto_server";
      }
    }
    if (moto.empty() || !Executable(moto)) {
      return FailedPreconditionError(
          "moto_server is not installed (pip's moto[server]; or set COFFER_MOTO_SERVER)");
    }
    argv = {moto, "-H", "127.0.0.1", "-p", "0"};
    port_line = std::regex(R"(Running on http://127\.0\.0\.1:([0-9]+))");
  } else {
    std::string script =
        std::string(COFFER_OBJSTORE_NODE_DIR) + "/node_modules/s3rver/bin/s3rver.js";
    std::string node = FindInPath("node");
    if (node.empty()) return FailedPreconditionError("node is not installed (Debian: nodejs)");
    if (::access(script.c_str(), R_OK) != 0) {
      return FailedPreconditionError(
          "s3rver is not installed: run `npm ci` in tests/objstore/node (scripts/install-deps.sh "
          "does)");
    }
    std::string data = peer->dir_.path() + "/data";
    ::mkdir(data.c_str(), 0700);
    // s3rver's continuation tokens use DES, which Node.js 17+ has only in OpenSSL's
    // legacy provider.
    argv = {node, "--openssl-legacy-provider", script, "-d", data, "-a", "127.0.0.1", "-p", "0"};
    port_line = std::regex(R"(listening on 127\.0\.0\.1:([0-9]+))");
  }

  std::string log = peer->dir_.File("output.log");
  pid_t pid = ::fork();
  if (pid < 0) return InternalError("fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);                     // its own group: stopped with every process it starts
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // and with this test, however it ends
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int null = ::open("/dev/null", O_RDONLY);
    if (fd < 0 || null < 0) ::_exit(127);
    ::dup2(null, 0);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  peer->pid_ = pid;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string output = ReadFile(log);
    std::smatch m;
    if (peer->port_ == 0 && std::regex_search(output, m, port_line)) {
      peer->port_ = std::stoi(m[1]);
    }
    if (peer->port_ != 0 && CanConnect(peer->port_)) return peer;
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      peer->pid_ = -1;
      return UnavailableError(std::string(S3PeerName(kind)) + " exited at start: " + output);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return UnavailableError(std::string(S3PeerName(kind)) +
                          " did not start within 60 s: " + peer->Output());
}

S3Peer::~S3Peer() {
  // COFFER_PEER_LOG=1 shows what the peer logged (for debugging a failure).
  if (const char* show = std::getenv("COFFER_PEER_LOG"); show != nullptr && *show == '1') {
    std::fprintf(stderr, "---- %s output ----\n%s\n", S3PeerName(kind_), Output().c_str());
  }
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      ::kill(-pid_, SIGKILL);  // anything it left in its group
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string S3Peer::Output() const { return ReadFile(dir_.File("output.log")); }

}  // namespace coffer::testing
