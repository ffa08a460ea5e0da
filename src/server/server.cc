#include "server/server.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/logging.h"
#include "crypto/random.h"
#include "server/http_listener.h"
#include "server/services.h"

namespace coffer::server {
namespace {

// How often the scheduler looks for due work (deletions, rotations, expired
// sessions). Due dates are whole days or hours away; a few seconds of delay is fine.
constexpr std::chrono::seconds kSchedulerPeriod{5};

// Runs the scheduled work of the services every period until stopped.
class Scheduler {
 public:
  explicit Scheduler(Services& services) : services_(services), thread_([this] { Loop(); }) {}
  ~Scheduler() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      lock.unlock();
      if (Status s = RunScheduledWork(services_); !s.ok()) {
        Log().error("scheduled work failed: {}", s.ToString());
      }
      lock.lock();
      cv_.wait_for(lock, kSchedulerPeriod, [this] { return stop_; });
    }
  }

  Services& services_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

void PrintRootKey(const ServerConfig& config, const ListenAddress& bound,
                  const iam::NewAccessKey& key, std::FILE* out) {
  ByteView secret = RevealSecret(key.secret_access_key);
  std::fprintf(out,
               "First start: created account %s (%s) and its root access key.\n"
               "It is written to %s (mode 0600) and shown here this once:\n"
               "  aws_access_key_id     = %s\n"
               "  aws_secret_access_key = %.*s\n"
               "Use it with: AWS_SHARED_CREDENTIALS_FILE=%s aws --endpoint-url %s://%s "
               "--region %s%s%s kms list-keys\n",
               config.account_id.c_str(), config.region.c_str(),
               RootCredentialsPath(config.data_dir).c_str(), key.access_key_id.c_str(),
               static_cast<int>(secret.size()), reinterpret_cast<const char*>(secret.data()),
               RootCredentialsPath(config.data_dir).c_str(), config.tls() ? "https" : "http",
               bound.ToString().c_str(), config.region.c_str(),
               // A certificate of its own CA (or self-signed) needs to be trusted.
               config.tls() ? " --ca-bundle " : "", config.tls() ? config.tls_cert->c_str() : "");
}

// Each connection is a descriptor: the soft limit on open files (often 1024,
// the default max_connections) is raised to the hard limit, so that the
// listener's own limit answers 503 before accept() runs out of descriptors.
void RaiseOpenFileLimit(const ServerConfig& config) {
  // Besides connections: the state store, the journal, digests, backups.
  constexpr rlim_t kReserve = 128;
  const rlim_t wanted = static_cast<rlim_t>(config.limits.max_connections) + kReserve;
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < wanted) {
    Log().warn(
        "open files are limited to {} (ulimit -n), fewer than max_connections {} needs; "
        "lower max_connections or raise the limit",
        static_cast<uint64_t>(limit.rlim_cur), config.limits.max_connections);
  }
}

}  // namespace

Status RunServer(const ServerConfig& config, std::shared_ptr<objstore::ObjectStore> buckets,
                 std::FILE* out) {
  // Block the stop signals in every thread started from here on; this thread
  // waits for them with sigwait().
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // The terminal closed: stop as cleanly; unless started with SIGHUP ignored
  // (nohup), which a blocked signal would otherwise override.
  if (struct sigaction hup{}; sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN) {
    sigaddset(&stop_signals, SIGHUP);
  }
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  RaiseOpenFileLimit(config);

  SystemClock clock;
  crypto::OpenSslRandom random;
  ServicesOptions options;
  options.data_dir = config.data_dir;
  options.account_id = config.account_id;
  options.region = config.region;
  if (config.root_key == RootKeySource::kPassphrase) options.passphrase = config.passphrase;
  if (config.root_key == RootKeySource::kKeyFile) options.root_key_file = config.root_key_file;
  options.digest_period = config.audit_digest_period;
  options.restart_digest_chain = config.restart_digest_chain;
  options.buckets = std::move(buckets);
  // The address bound and the TLS files loaded first: a port in use or a bad
  // certificate is refused before the data directory is set up.
  HttpListener::Options listener_options = ListenerOptions(config);
  listener_options.clock = &clock;
  ASSIGN_OR_RETURN(std::unique_ptr<HttpListener> listener, HttpListener::Bind(listener_options));
  ASSIGN_OR_RETURN(std::unique_ptr<Services> services, OpenServices(options, clock, random));
  // Every audited call is refused while the journal refuses records: so is /health.
  listener->SetHealthCheck(
      [&journal = services->audit->journal()] { return journal.status().ok(); });
  RETURN_IF_ERROR(listener->Serve(services->endpoint->AsHandler()));
  Scheduler scheduler(*services);

  ListenAddress bound{config.listen.host, listener->port()};
  if (services->new_root_key) PrintRootKey(config, bound, *services->new_root_key, out);
  std::fprintf(out, "coffer listening on %s://%s\n", listener->secure() ? "https" : "http",
               bound.ToString().c_str());
  std::fflush(out);
  Log().info("listening on {} (data directory {})", bound.ToString(), config.data_dir);
  listener->SetReady(true);

  auto name = [](int sig) {
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "SIGHUP";
  };
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  Log().info("received {}; stopping", name(signal_number));
  // A second stop signal ends the wait for requests in flight: the process exits at
  // once, as after SIGKILL. Nothing answered is lost (each answer waited for its
  // durable audit record), and the next start recovers the rest.
  std::thread([stop_signals, name] {
    int second = 0;
    if (sigwait(&stop_signals, &second) != 0) return;
    Log().warn("received {} again; exiting now, without waiting for requests in flight",
               name(second));
    Log().flush();
    std::_Exit(1);
  }).detach();
  listener->SetReady(false);
  listener->Stop();
  // The key uses of the last seconds (the scheduler writes them every period).
  if (Status s = services->iam->FlushKeyUses(); !s.ok()) {
    Log().error("cannot write when access keys were last used: {}", s.ToString());
  }
  return Status::Ok();
}

}  // namespace coffer::server
