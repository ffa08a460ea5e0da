#include "engines/postgres_engine.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>

#include "common/files.h"
#include "common/logging.h"

extern char** environ;

namespace coffer::engines {
namespace {

constexpr std::string_view kStagingPrefix = "coffer_restoring_";
// NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers.
constexpr size_t kMaxNameBytes = 63;
// The comment of a staging database that a norecovery restore completed.
constexpr std::string_view kNoRecoveryMark = "coffer:norecovery target=";
constexpr std::string_view kInProgressMark = "coffer:restore-in-progress target=";
// What is kept of a tool's standard error for the message of a failure.
constexpr size_t kMaxToolOutput = 8192;
// How long a tool that is told to stop (SIGTERM) gets before SIGKILL.
constexpr auto kTerminateGrace = std::chrono::seconds(5);
// Seconds libpq waits for a connection when the DSN does not say.
constexpr const char* kConnectTimeout = "30";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) { return Lower(a) == Lower(b); }

bool IsStagingName(std::string_view name) { return Lower(name).starts_with(kStagingPrefix); }

Status NotFoundDatabase(std::string_view database) {
  return Status(StatusCode::kNotFound, "DatabaseNotFound",
                "Database " + std::string(database) + " does not exist");
}

Status AlreadyExistsDatabase(std::string_view database) {
  return Status(StatusCode::kAlreadyExists, "DatabaseAlreadyExists",
                "Database " + std::string(database) + " already exists");
}

Status NotRestoring(std::string_view database) {
  return Status(StatusCode::kFailedPrecondition, "DatabaseNotRestoring",
                "Database " + std::string(database) + " is not in the restoring state");
}

Status DifferentialNotSupported() {
  // StatusCode has no "unimplemented": the engine cannot do what is asked in
  // any state, which callers see by the error name.
  return Status(StatusCode::kFailedPrecondition, "DifferentialNotSupported",
                "The postgres engine does not support DIFFERENTIAL backups (pg_dump takes "
                "FULL backups only)");
}

// Without the trailing newline libpq puts at the end of its messages.
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A value of a libpq connection string, quoted: 'it\'s'.
std::string QuoteConninfoValue(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

// ---------------------------------------------------------------------------
// Child processes.

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// A close-on-exec descriptor numbered 3 or above: a descriptor that became 0, 1
// or 2 (because the process runs with those closed) would keep FD_CLOEXEC
// through the child's dup2 onto itself.
Result<UniqueFd> AboveStandard(int fd) {
  if (fd > 2) return UniqueFd(fd);
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int err = errno;
  ::close(fd);
  if (moved < 0) return PosixError("fcntl(F_DUPFD_CLOEXEC)", err);
  return UniqueFd(moved);
}

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return PosixError("pipe", errno);
  Pipe p;
  auto read = AboveStandard(fds[0]);
  auto write = AboveStandard(fds[1]);
  if (!read.ok()) return read.status();
  if (!write.ok()) return write.status();
  p.read = std::move(read).value();
  p.write = std::move(write).value();
  return p;
}

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "ended with wait status " + std::to_string(status);
}

// A running child process; destruction kills (SIGKILL) and reaps it if it was
// not waited for.
class Child {
 public:
  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { Kill(); }

  // Starts `program` with `args` (argv[1…]) and the environment `env`, its
  // standard input, output and error on the given descriptors (-1: /dev/null).
  // All other descriptors are closed in the child; signals are at their
  // defaults and unblocked there.
  Status Start(const std::string& program, const std::vector<std::string>& args,
               const std::vector<std::string>& env, int in_fd, int out_fd, int err_fd) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    if (int rc = ::posix_spawn_file_actions_init(&actions); rc != 0) {
      return PosixError("posix_spawn_file_actions_init", rc);
    }
    if (int rc = ::posix_spawnattr_init(&attr); rc != 0) {
      ::posix_spawn_file_actions_destroy(&actions);
      return PosixError("posix_spawnattr_init", rc);
    }
    int rc = 0;
    const int fds[3] = {in_fd, out_fd, err_fd};
    for (int target = 0; target < 3 && rc == 0; ++target) {
      rc = fds[target] >= 0
               ? ::posix_spawn_file_actions_adddup2(&actions, fds[target], target)
               : ::posix_spawn_file_actions_addopen(&actions, target, "/dev/null",
                                                    target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) {
      sigaddset(&defaults, s);
    }
    if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&attr, &defaults);
    if (rc == 0) {
      rc = ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    }
    if (rc == 0)
      rc = ::posix_spawn(&pid_, program.c_str(), &actions, &attr, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      return PosixError("start " + program, rc);
    }
    return Status::Ok();
  }

  // Waits for the child to end; its wait status.
  Result<int> Wait() {
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, 0);
      if (r == pid_) break;
      if (r < 0 && errno == EINTR) continue;
      int err = errno;
      pid_ = -1;
      return PosixError("waitpid", err);
    }
    pid_ = -1;
    return status;
  }

  // SIGTERM, then SIGKILL if the child is still there after kTerminateGrace;
  // reaps it.
  void Terminate() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kTerminateGrace;
    auto pause = std::chrono::milliseconds(1);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_ || (r < 0 && errno != EINTR)) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    Kill();
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

// Reads a descriptor to its end on a thread of its own, keeping the first
// kMaxToolOutput bytes: a tool's standard error, drained so that the tool never
// blocks on it.
class OutputCollector {
 public:
  explicit OutputCollector(UniqueFd fd)
      : fd_(std::move(fd)), thread_([this] {
          char buffer[4096];
          for (;;) {
            ssize_t n = ::read(fd_.get(), buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return;
            size_t keep = std::min(static_cast<size_t>(n), kMaxToolOutput - text_.size());
            text_.append(buffer, keep);
            dropped_ += static_cast<size_t>(n) - keep;
          }
        }) {}
  ~OutputCollector() { Join(); }

  // After the writers closed their ends (the child ended).
  std::string Join() {
    if (thread_.joinable()) thread_.join();
    std::string out = Trim(text_);
    if (dropped_ > 0) out += " […" + std::to_string(dropped_) + " more bytes]";
    return out;
  }

 private:
  UniqueFd fd_;
  std::string text_;
  size_t dropped_ = 0;
  std::thread thread_;
};

// A sink that writes into a pipe to a child. SIGPIPE is blocked (and a pending
// one taken back) around each write, so that a child that stopped reading
// gives EPIPE here whatever the process's disposition of SIGPIPE.
class PipeSink final : public ByteSink {
 public:
  PipeSink(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  Status Write(ByteView data) override {
    if (!error_.ok()) return error_;
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigset_t pending;
    sigpending(&pending);
    const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n >= 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EPIPE) {
        reader_gone_ = true;
        if (!was_pending) {
          const timespec zero{};
          while (::sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
          }
        }
      }
      error_ = PosixError("write to " + name_, errno);
      break;
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return error_;
  }
  Status Close() override { return error_; }
  void Abort() override {}

  // The child closed its end before the stream ended.
  bool reader_gone() const { return reader_gone_; }

 private:
  int fd_;
  std::string name_;
  Status error_;
  bool reader_gone_ = false;
};

bool Executable(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// `name` in the directories of PATH; empty when it is nowhere.
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    size_t colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + name;
    if (Executable(candidate)) return candidate;
    if (colon == std::string_view::npos) return "";
    dirs.remove_prefix(colon + 1);
  }
}

// A tool failed: DataLoss when it found the archive unreadable, else Internal.
Status ToolError(std::string_view what, int wait_status, const std::string& output) {
  std::string message = std::string(what) + " " + DescribeExit(wait_status);
  if (!output.empty()) message += ": " + output;
  for (std::string_view archive_error :
       {"input file", "valid archive", "file header", "unexpected end of file",
        "could not read from input", "data block", "unexpected block", "bad dumpId", "corrupt"}) {
    if (output.find(archive_error) != std::string::npos) return DataLossError(std::move(message));
  }
  return InternalError(std::move(message));
}

}  // namespace

// ---------------------------------------------------------------------------
// libpq.

class PostgresEngine::Connection {
 public:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { PQfinish(conn_); }

  struct ResultDeleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

  // Runs one statement with text parameters ($1…).
  Result<ResultPtr> Exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    ResultPtr r(params.empty() ? PQexec(conn_, sql.c_str())
                               : PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()),
                                              nullptr, values.data(), nullptr, nullptr, 0));
    ExecStatusType status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
    return Error(r.get());
  }

  // A Status for the failed statement `r` (or the connection's last error).
  Status Error(const PGresult* r) const {
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string message =
        "PostgreSQL: " + (primary != nullptr ? std::string(primary) : Trim(PQerrorMessage(conn_)));
    std::string_view code = state != nullptr ? state : "";
    // 23505: two sessions creating (or renaming to) one name at once.
    if (code == "42P04" || code == "23505") {
      return Status(StatusCode::kAlreadyExists, std::move(message));
    }
    if (code == "3D000") return NotFoundError(std::move(message));
    if (code == "42501") return Status(StatusCode::kPermissionDenied, std::move(message));
    if (code.starts_with("53")) return ResourceExhaustedError(std::move(message));
    if (code.empty() || code.starts_with("08") || code.starts_with("57P") || code == "55006" ||
        code == "40001" || code == "40P01") {
      return UnavailableError(std::move(message));
    }
    return InternalError(std::move(message));
  }

  // The identifier quoted for SQL ("Customers").
  std::string Identifier(const std::string& name) {
    char* quoted = PQescapeIdentifier(conn_, name.c_str(), name.size());
    if (quoted == nullptr) return "\"\"";  // only out of memory: the statement then fails
    std::string out(quoted);
    PQfreemem(quoted);
    return out;
  }
  // A string literal for SQL ('…').
  std::string Literal(const std::string& text) {
    char* quoted = PQescapeLiteral(conn_, text.c_str(), text.size());
    if (quoted == nullptr) return "''";
    std::string out(quoted);
    PQfreemem(quoted);
    return out;
  }

  // Names of every database of the cluster.
  Result<std::vector<std::string>> AllDatabases() {
    ASSIGN_OR_RETURN(ResultPtr r, Exec("SELECT datname FROM pg_catalog.pg_database"));
    std::vector<std::string> names;
    for (int i = 0; i < PQntuples(r.get()); ++i) names.emplace_back(PQgetvalue(r.get(), i, 0));
    return names;
  }

  // The comment of the database `name`; nullopt when there is no such database.
  Result<std::optional<std::string>> DatabaseComment(const std::string& name) {
    ASSIGN_OR_RETURN(ResultPtr r, Exec("SELECT coalesce(pg_catalog.shobj_description(oid, "
                                       "'pg_database'), '') FROM pg_catalog.pg_database "
                                       "WHERE datname = $1",
                                       {name}));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(PQgetvalue(r.get(), 0, 0));
  }

  PGconn* get() const { return conn_; }

 private:
  PGconn* conn_;
};

Result<std::unique_ptr<PostgresEngine>> PostgresEngine::Create(const std::string& dsn,
                                                               PostgresOptions options) {
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &parse_error);
  if (parsed == nullptr) {
    // libpq's message may quote the DSN, password included: it is not repeated.
    PQfreemem(parse_error);
    return InvalidArgumentError(
        "the PostgreSQL DSN is not a libpq connection string (keyword=value pairs or a "
        "postgresql:// URI)");
  }
  std::unique_ptr<PostgresEngine> engine(new PostgresEngine());
  bool has_timeout = false;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string keyword = o->keyword;
    if (keyword == "password") {
      engine->password_ = o->val;
      engine->has_password_ = true;
      continue;
    }
    if (*o->val == '\0') continue;
    if (keyword == "connect_timeout") has_timeout = true;
    engine->params_.emplace_back(std::move(keyword), o->val);
  }
  PQconninfoFree(parsed);
  if (!has_timeout) engine->params_.emplace_back("connect_timeout", kConnectTimeout);

  {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, engine->Connect());
    engine->version_num_ = PQserverVersion(conn->get());
    const char* version = PQparameterStatus(conn->get(), "server_version");
    std::string v = version != nullptr ? version : "";
    // "15.18 (Debian 15.18-0+deb12u1)" -> "15.18".
    engine->version_ = v.substr(0, v.find(' '));
  }

  const int major =
      engine->version_num_ >= 100000 ? engine->version_num_ / 10000 : engine->version_num_ / 100;
  std::string debian_dir = "/usr/lib/postgresql/" + std::to_string(major) + "/bin";
  if (!options.tools_dir.empty()) {
    engine->pg_dump_ = options.tools_dir + "/pg_dump";
    engine->pg_restore_ = options.tools_dir + "/pg_restore";
  } else if (Executable(debian_dir + "/pg_dump") && Executable(debian_dir + "/pg_restore")) {
    engine->pg_dump_ = debian_dir + "/pg_dump";
    engine->pg_restore_ = debian_dir + "/pg_restore";
  } else {
    engine->pg_dump_ = FindOnPath("pg_dump");
    engine->pg_restore_ = FindOnPath("pg_restore");
  }
  for (const std::string* tool : {&engine->pg_dump_, &engine->pg_restore_}) {
    if (tool->empty() || !Executable(*tool)) {
      return FailedPreconditionError(
          "the postgres engine needs pg_dump and pg_restore (PostgreSQL's client tools, "
          "Debian's postgresql-client)" +
          (tool->empty() ? std::string() : ": no " + *tool));
    }
  }
  return engine;
}

PostgresEngine::~PostgresEngine() {
  // Not a guarantee (the allocator may keep it), only no needless copy.
  std::fill(password_.begin(), password_.end(), '\0');
}

Result<std::unique_ptr<PostgresEngine::Connection>> PostgresEngine::Connect() const {
  std::vector<const char*> keywords, values;
  for (const auto& [k, v] : params_) {
    keywords.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  if (has_password_) {
    keywords.push_back("password");
    values.push_back(password_.c_str());
  }
  keywords.push_back("fallback_application_name");
  values.push_back("coffer");
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectdbParams(keywords.data(), values.data(), 0);
  if (raw == nullptr) return InternalError("libpq: out of memory");
  auto conn = std::make_unique<Connection>(raw);
  if (PQstatus(raw) != CONNECTION_OK) {
    return UnavailableError("connect to PostgreSQL: " + Trim(PQerrorMessage(raw)));
  }
  // The server's notices ("database … does not exist, skipping") go to the
  // log, not to standard error.
  PQsetNoticeProcessor(
      raw, [](void*, const char* message) { Log().debug("postgres: {}", Trim(message)); }, nullptr);
  return conn;
}

std::string PostgresEngine::ToolConninfo(const std::string& database) const {
  std::string out;
  for (const auto& [k, v] : params_) {
    // sslpassword is a secret too, and libpq reads it from no variable: the
    // tools go without it.
    if (k == "dbname" || k == "sslpassword") continue;
    out += k + "=" + QuoteConninfoValue(v) + " ";
  }
  out += "dbname=" + QuoteConninfoValue(database);
  return out;
}

std::vector<std::string> PostgresEngine::ToolEnvironment() const {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    // Messages in English, whatever the locale: their text classifies failures.
    if (entry.starts_with("LC_ALL=") || entry.starts_with("LANGUAGE=")) continue;
    if (has_password_ && entry.starts_with("PGPASSWORD=")) continue;
    env.emplace_back(entry);
  }
  env.emplace_back("LC_ALL=C");
  if (has_password_) env.push_back("PGPASSWORD=" + password_);
  return env;
}

std::string PostgresEngine::StagingName(std::string_view target) {
  // FNV-1a, 64 bits: only a stable, short name (a collision makes one restore
  // wait for another's name, never mixes them: the comment records the target).
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : Lower(target)) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return std::string(kStagingPrefix) + hex;
}

Result<std::vector<std::string>> PostgresEngine::ListDatabases() {
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  ASSIGN_OR_RETURN(
      Connection::ResultPtr r,
      conn->Exec("SELECT datname FROM pg_catalog.pg_database WHERE NOT datistemplate AND "
                 "datallowconn AND datname <> 'postgres' AND "
                 "pg_catalog.has_database_privilege(oid, 'CONNECT')"));
  std::vector<std::string> names;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    std::string name = PQgetvalue(r.get(), i, 0);
    if (IsStagingName(name) || !ValidateDatabaseName(name).ok()) continue;
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> PostgresEngine::Exists(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  ASSIGN_OR_RETURN(std::vector<std::string> names, conn->AllDatabases());
  const std::string staging = StagingName(database);
  return std::any_of(names.begin(), names.end(), [&](const std::string& name) {
    return EqualsIgnoreCase(name, database) || name == staging;
  });
}

Result<uint64_t> PostgresEngine::DatabaseSize(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  ASSIGN_OR_RETURN(auto r, conn->Exec("SELECT pg_catalog.pg_database_size(datname) FROM "
                                      "pg_catalog.pg_database WHERE lower(datname) = "
                                      "lower($1) ORDER BY datname = $1 DESC LIMIT 1",
                                      {std::string(database)}));
  if (PQntuples(r.get()) == 0) return uint64_t{0};
  return static_cast<uint64_t>(std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10));
}

Status PostgresEngine::BackupFull(std::string_view database, ByteSink& sink) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  // The database as the server spells it: the exact name, else the one that
  // differs only by case.
  std::string actual;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
    ASSIGN_OR_RETURN(std::vector<std::string> names, conn->AllDatabases());
    std::vector<std::string> candidates;
    for (const std::string& name : names) {
      if (!IsStagingName(name)) candidates.push_back(name);
    }
    Result<std::string> picked = PickDatabase(candidates, database);
    if (!picked.ok()) {
      const std::string staging = StagingName(database);
      if (picked.status().code() == StatusCode::kNotFound &&
          std::find(names.begin(), names.end(), staging) != names.end()) {
        return Status(StatusCode::kFailedPrecondition, "DatabaseRestoring",
                      "Database " + std::string(database) +
                          " is in the restoring state: finish or drop its restore first");
      }
      return picked.status();
    }
    actual = std::move(picked).value();
  }

  ASSIGN_OR_RETURN(Pipe out, MakePipe());
  ASSIGN_OR_RETURN(Pipe err, MakePipe());
  // Declared before the child: a child still running is killed before its
  // output is joined.
  std::optional<OutputCollector> errors;
  Child child;
  RETURN_IF_ERROR(child.Start(
      pg_dump_,
      {"--format=custom", "--compress=0", "--no-password", "--dbname=" + ToolConninfo(actual)},
      ToolEnvironment(), -1, out.write.get(), err.write.get()));
  out.write.Reset();
  err.write.Reset();
  errors.emplace(std::move(err.read));
  std::unique_ptr<ByteSource> dump = DescriptorSource(out.read.get(), "pg_dump's output");
  Result<uint64_t> pumped = PumpStream(*dump, sink);
  if (!pumped.ok()) {
    // The sink failed: pg_dump stops (EPIPE, then SIGTERM) and is reaped.
    out.read.Reset();
    child.Terminate();
    errors->Join();
    return pumped.status();
  }
  ASSIGN_OR_RETURN(int status, child.Wait());
  std::string output = errors->Join();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  // Dropped since it was looked up.
  if (output.find("database \"" + actual + "\" does not exist") != std::string::npos) {
    return NotFoundDatabase(database);
  }
  return InternalError("pg_dump of " + actual + " " + DescribeExit(status) +
                       (output.empty() ? "" : ": " + output));
}

Status PostgresEngine::CommitFullBackup(std::string_view database) {
  return ValidateDatabaseName(database);
}

Status PostgresEngine::BackupDifferential(std::string_view database, ByteSink&) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  return DifferentialNotSupported();
}

Status PostgresEngine::RestoreDifferential(std::string_view target, ByteSource&,
                                           const RestoreOptions&) {
  RETURN_IF_ERROR(ValidateDatabaseName(target));
  return DifferentialNotSupported();
}

Status PostgresEngine::DropNamed(Connection& conn, const std::string& database) const {
  const std::string id = conn.Identifier(database);
  if (version_num_ >= 130000) {
    return conn.Exec("DROP DATABASE IF EXISTS " + id + " WITH (FORCE)").status();
  }
  // Before PostgreSQL 13: end the sessions first (a new one may still slip in).
  RETURN_IF_ERROR(conn.Exec("SELECT pg_catalog.pg_terminate_backend(pid) FROM "
                            "pg_catalog.pg_stat_activity WHERE datname = $1 AND "
                            "pid <> pg_catalog.pg_backend_pid()",
                            {database})
                      .status());
  return conn.Exec("DROP DATABASE IF EXISTS " + id).status();
}

void PostgresEngine::DropStaging(const std::string& staging) const {
  Status st;
  if (auto conn = Connect(); conn.ok()) {
    st = DropNamed(**conn, staging);
  } else {
    st = conn.status();
  }
  if (!st.ok()) {
    Log().warn("postgres: could not drop the staging database {} of a failed restore: {}", staging,
               st.ToString());
  }
}

Status PostgresEngine::RestoreFull(std::string_view target_view, ByteSource& source,
                                   const RestoreOptions& options) {
  RETURN_IF_ERROR(ValidateDatabaseName(target_view));
  const std::string target(target_view);
  if (target.size() > kMaxNameBytes) {
    return InvalidArgumentError("'" + target +
                                "' is longer than the 63 bytes of a PostgreSQL database name");
  }
  if (IsStagingName(target)) {
    return InvalidArgumentError("database names starting with " + std::string(kStagingPrefix) +
                                " are coffer's staging databases");
  }
  const std::string staging = StagingName(target);
  {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
    ASSIGN_OR_RETURN(std::vector<std::string> names, conn->AllDatabases());
    for (const std::string& name : names) {
      if (EqualsIgnoreCase(name, target) || name == staging) return AlreadyExistsDatabase(target);
    }
    // template0: nothing but what the archive brings (template1 may hold objects
    // that would collide with it).
    Status created =
        conn->Exec("CREATE DATABASE " + conn->Identifier(staging) + " TEMPLATE template0").status();
    if (created.code() == StatusCode::kAlreadyExists) return AlreadyExistsDatabase(target);
    RETURN_IF_ERROR(created);
  }
  // From here on every failure drops the staging database.
  struct DropOnFailure {
    const PostgresEngine* engine;
    const std::string& staging;
    bool armed = true;
    ~DropOnFailure() {
      if (armed) engine->DropStaging(staging);
    }
  } drop{this, staging};

  {
    ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
    RETURN_IF_ERROR(conn->Exec("COMMENT ON DATABASE " + conn->Identifier(staging) + " IS " +
                               conn->Literal(std::string(kInProgressMark) + target))
                        .status());
  }

  ASSIGN_OR_RETURN(Pipe in, MakePipe());
  ASSIGN_OR_RETURN(Pipe err, MakePipe());
  std::optional<OutputCollector> errors;  // before the child, as in BackupFull
  Child child;
  RETURN_IF_ERROR(child.Start(
      pg_restore_,
      {"--no-owner", "--exit-on-error", "--no-password", "--dbname=" + ToolConninfo(staging)},
      ToolEnvironment(), in.read.get(), err.write.get(), err.write.get()));
  in.read.Reset();
  err.write.Reset();
  errors.emplace(std::move(err.read));
  PipeSink feed(in.write.get(), "pg_restore's input");
  Result<uint64_t> pumped = PumpStream(source, feed);
  if (!pumped.ok() && !feed.reader_gone()) {
    // The source failed (or the pipe otherwise did): pg_restore must not take
    // what it got for a whole archive.
    child.Terminate();
    in.write.Reset();
    std::string output = errors->Join();
    if (!output.empty()) Log().debug("postgres: pg_restore into {}: {}", staging, output);
    return pumped.status();
  }
  in.write.Reset();  // the end of the stream
  ASSIGN_OR_RETURN(int status, child.Wait());
  std::string output = errors->Join();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return ToolError("pg_restore of the backup into " + target, status, output);
  }
  if (!pumped.ok()) {
    // pg_restore completed and closed its input before the stream ended.
    return DataLossError("the backup for " + target +
                         " has more data after the end of its pg_dump archive");
  }
  // The last moment a cancel can take effect: from here on the database appears.
  RETURN_IF_ERROR(Interrupted());

  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  const std::string staging_id = conn->Identifier(staging);
  if (options.norecovery) {
    RETURN_IF_ERROR(
        conn->Exec("ALTER DATABASE " + staging_id + " ALLOW_CONNECTIONS false").status());
    RETURN_IF_ERROR(conn->Exec("COMMENT ON DATABASE " + staging_id + " IS " +
                               conn->Literal(std::string(kNoRecoveryMark) + target))
                        .status());
    drop.armed = false;
    return Status::Ok();
  }
  // The rename, only if the name is still free (whatever its case).
  RETURN_IF_ERROR(conn->Exec("BEGIN").status());
  ASSIGN_OR_RETURN(std::vector<std::string> names, conn->AllDatabases());
  for (const std::string& name : names) {
    if (EqualsIgnoreCase(name, target)) {
      conn->Exec("ROLLBACK").status().IgnoreError();
      return AlreadyExistsDatabase(target);
    }
  }
  const std::string target_id = conn->Identifier(target);
  Status renamed = conn->Exec("ALTER DATABASE " + staging_id + " RENAME TO " + target_id).status();
  if (renamed.ok()) renamed = conn->Exec("COMMENT ON DATABASE " + target_id + " IS NULL").status();
  if (renamed.ok()) renamed = conn->Exec("COMMIT").status();
  if (!renamed.ok()) {
    conn->Exec("ROLLBACK").status().IgnoreError();
    if (renamed.code() == StatusCode::kAlreadyExists) return AlreadyExistsDatabase(target);
    return renamed;
  }
  drop.armed = false;
  return Status::Ok();
}

Status PostgresEngine::FinishRestore(std::string_view target_view) {
  RETURN_IF_ERROR(ValidateDatabaseName(target_view));
  const std::string staging = StagingName(target_view);
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  ASSIGN_OR_RETURN(std::optional<std::string> comment, conn->DatabaseComment(staging));
  if (!comment.has_value() || !comment->starts_with(kNoRecoveryMark)) {
    // Missing, or a restore still running (or crashed: DropRestoring).
    return NotRestoring(target_view);
  }
  // The name the restore was asked for (the same but for case, or a hash
  // collision: then refused).
  const std::string target = comment->substr(kNoRecoveryMark.size());
  if (!EqualsIgnoreCase(target, target_view) || !ValidateDatabaseName(target).ok()) {
    return NotRestoring(target_view);
  }
  const std::string staging_id = conn->Identifier(staging);
  const std::string target_id = conn->Identifier(target);
  RETURN_IF_ERROR(conn->Exec("BEGIN").status());
  auto rollback = [&](Status st) {
    conn->Exec("ROLLBACK").status().IgnoreError();
    return st;
  };
  ASSIGN_OR_RETURN(std::vector<std::string> names, conn->AllDatabases());
  for (const std::string& name : names) {
    if (EqualsIgnoreCase(name, target)) return rollback(AlreadyExistsDatabase(target));
  }
  for (const std::string& sql :
       {"ALTER DATABASE " + staging_id + " ALLOW_CONNECTIONS true",
        "ALTER DATABASE " + staging_id + " RENAME TO " + target_id,
        "COMMENT ON DATABASE " + target_id + " IS NULL", std::string("COMMIT")}) {
    Status st = conn->Exec(sql).status();
    // Renamed by a concurrent FinishRestore, or dropped, since it was read.
    if (st.code() == StatusCode::kNotFound) return rollback(NotRestoring(target_view));
    if (st.code() == StatusCode::kAlreadyExists) return rollback(AlreadyExistsDatabase(target));
    if (!st.ok()) return rollback(st);
  }
  return Status::Ok();
}

Status PostgresEngine::DropRestoring(std::string_view target) {
  RETURN_IF_ERROR(ValidateDatabaseName(target));
  const std::string staging = StagingName(target);
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  ASSIGN_OR_RETURN(std::optional<std::string> comment, conn->DatabaseComment(staging));
  if (!comment.has_value()) {
    return Status(StatusCode::kNotFound, "DatabaseNotFound",
                  "No database " + std::string(target) + " is in the restoring state");
  }
  return DropNamed(*conn, staging);
}

Result<std::string> PostgresEngine::DropDatabase(std::string_view database) {
  RETURN_IF_ERROR(ValidateDatabaseName(database));
  if (IsStagingName(database)) {
    return InvalidArgumentError("database names starting with " + std::string(kStagingPrefix) +
                                " are coffer's staging databases");
  }
  // What ListDatabases lists (never "postgres", a template or a staging
  // database), less the DSN's own database; names compared here, not by the
  // server's locale.
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDatabases());
  ASSIGN_OR_RETURN(std::unique_ptr<Connection> conn, Connect());
  ASSIGN_OR_RETURN(auto current, conn->Exec("SELECT pg_catalog.current_database()"));
  const std::string own = PQgetvalue(current.get(), 0, 0);
  std::erase(names, own);
  Result<std::string> name = PickDatabase(names, database);
  if (!name.ok()) {
    if (name.status().code() != StatusCode::kNotFound) return name.status();
    if (database == "postgres" || database == "template0" || database == "template1" ||
        database == own) {
      return InvalidArgumentError("database " + std::string(database) +
                                  " is the server's own or the one the instance's DSN names: "
                                  "coffer does not drop it");
    }
    Status restoring = DropRestoring(database);
    if (restoring.code() == StatusCode::kNotFound) return NotFoundDatabase(database);
    RETURN_IF_ERROR(restoring);
    return std::string(database);
  }
  RETURN_IF_ERROR(DropNamed(*conn, *name));
  return *name;
}

}  // namespace coffer::engines
