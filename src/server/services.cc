#include "server/services.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/files.h"
#include "common/logging.h"
#include "engines/postgres_engine.h"
#include "engines/sqlite_engine.h"
#include "objstore/bucket_router.h"
#include "server/delegation.h"
#include "state/root_key.h"

namespace coffer::server {
namespace {

constexpr std::string_view kServerTable = "server";
// Key records, policies, aliases and credentials read on every request: served
// from memory after the first read (a few KiB per key or principal).
constexpr size_t kStateReadCache = 16 * 1024 * 1024;
constexpr std::string_view kAccountKey = "account";

// The account id and region are fixed at first start: every ARN stored in the data
// directory names them.
Status CheckAccount(state::StateStore& store, const ServicesOptions& options) {
  std::string wanted = options.account_id + ' ' + options.region;
  return store.Update([&](state::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> stored, tx.Get(kServerTable, kAccountKey));
    if (!stored) return tx.Put(kServerTable, kAccountKey, wanted);
    if (*stored == wanted) return Status::Ok();
    size_t space = stored->find(' ');
    return FailedPreconditionError(
        "the data directory " + options.data_dir + " belongs to account " +
        stored->substr(0, space) + " in region " + stored->substr(space + 1) +
        "; it cannot be opened as account " + options.account_id + " in region " + options.region);
  });
}

std::string CredentialsFile(const iam::NewAccessKey& key) {
  ByteView secret = RevealSecret(key.secret_access_key);
  std::string text =
      "[default]\naws_access_key_id = " + key.access_key_id + "\naws_secret_access_key = ";
  text.append(reinterpret_cast<const char*>(secret.data()), secret.size());
  text += '\n';
  return text;
}

// One process at a time per data directory: the services cache what they read
// (credentials, parsed policies), which is only right while no one else writes.
Result<int> LockDataDirectory(const std::string& data_dir) {
  std::string path = data_dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return PosixError("open " + path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPreconditionError("the data directory " + data_dir +
                                     " is in use by another coffer process; stop it first");
    }
    return PosixError("lock " + path, err);
  }
  return fd;
}

// The audit index is derived from the journal and never synced while the
// server runs (SqliteOptions::durable = false). A clean close syncs it and
// leaves a marker; a start without the marker (a crash, a kill, a power loss)
// throws the index away, and AuditLog::Open rebuilds it from the journal.
std::string AuditIndexPath(const std::string& data_dir) { return data_dir + "/audit-index.db"; }
// Under load the indexer's transactions touch more pages than SQLite's default
// 2 MB cache holds, and read them again from the file on every batch: 16 MiB
// took about a quarter off the indexer's CPU per call (3.0-3.6 against
// 2.1-2.7 us at 27k Encrypt/s), for about 18 MB more of resident memory.
constexpr size_t kAuditIndexPageCache = 16 << 20;
std::string AuditIndexCleanMarker(const std::string& data_dir) {
  return data_dir + "/audit-index.clean";
}

Status PrepareAuditIndex(const std::string& data_dir) {
  const std::string marker = AuditIndexCleanMarker(data_dir);
  // Removed at once, so that whatever happens from now on leaves no marker.
  if (::unlink(marker.c_str()) == 0) return SyncDirectory(data_dir);
  if (errno != ENOENT) return PosixError("remove " + marker, errno);
  const std::string index = AuditIndexPath(data_dir);
  bool existed = false;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string path = index + suffix;
    if (::unlink(path.c_str()) == 0) {
      existed = true;
    } else if (errno != ENOENT) {
      return PosixError("remove " + path, errno);
    }
  }
  if (existed) {
    Log().warn("the audit index {} was not closed cleanly; rebuilding it from the journal", index);
  }
  return Status::Ok();
}

// After the index store is closed: its files synced, then the marker.
void MarkAuditIndexClean(const std::string& data_dir) {
  const std::string index = AuditIndexPath(data_dir);
  for (const char* suffix : {"", "-wal"}) {
    const std::string path = index + suffix;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      Log().warn("audit index: cannot open {} to sync it; it will be rebuilt at the next start",
                 path);
      return;
    }
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc != 0) {
      Log().warn("audit index: cannot sync {}; it will be rebuilt at the next start", path);
      return;
    }
  }
  Status marked = WriteFileAtomically(AuditIndexCleanMarker(data_dir), "", 0600);
  if (!marked.ok()) Log().warn("audit index: {}", marked.ToString());
}

}  // namespace

Services::~Services() {
  backup.reset();  // interrupts running tasks, which still record their end
  delegation.reset();
  endpoint.reset();
  digests.reset();
  const bool index_open = audit_index != nullptr && audit != nullptr;
  audit.reset();  // writes and indexes what is queued, while the stores are open
  audit_index.reset();
  if (index_open) MarkAuditIndexClean(data_dir);
  iam.reset();
  kms.reset();
  vault.reset();
  root_key.reset();
  store.reset();
  if (lock_fd >= 0) ::close(lock_fd);
}

std::string RootCredentialsPath(const std::string& data_dir) {
  return data_dir + "/root-credentials";
}

Result<std::unique_ptr<Services>> OpenServices(const ServicesOptions& options, Clock& clock,
                                               Random& random) {
  if (options.data_dir.empty()) return InvalidArgumentError("no data directory given");
  // Missing parents too (the default ~/.local/share/coffer on a new account), 0700.
  RETURN_IF_ERROR(EnsureDirectory(options.data_dir, 0700, /*parents=*/true));
  if (struct stat st{}; ::stat(options.data_dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    Log().warn(
        "data directory {} is open to other users (mode {:o}); its secrets are 0600, "
        "but `chmod 700` it",
        options.data_dir, st.st_mode & 0777);
  }
  auto s = std::make_unique<Services>();
  ASSIGN_OR_RETURN(s->lock_fd, LockDataDirectory(options.data_dir));
  ASSIGN_OR_RETURN(s->store, state::SqliteStateStore::Open(
                                 options.data_dir + "/state.db",
                                 {.exclusive = true, .read_cache_bytes = kStateReadCache}));
  if (options.passphrase) {
    s->root_key = std::make_unique<state::PassphraseRootKeyProvider>(*options.passphrase, random);
  } else {
    s->root_key = std::make_unique<state::KeyFileRootKeyProvider>(
        options.root_key_file.empty() ? options.data_dir + "/root.key" : options.root_key_file,
        random);
  }
  ASSIGN_OR_RETURN(s->vault, state::Vault::Open(*s->store, *s->root_key, random));

  kms::KmsOptions kms_options;
  kms_options.account_id = options.account_id;
  kms_options.region = options.region;
  // IAM is made next; GetKeyPolicy runs only once both are.
  kms_options.show_policy = [iam = &s->iam](const std::string& text,
                                            std::optional<TimePoint> saved) {
    return (*iam)->PolicyAsShown(text, saved);
  };
  ASSIGN_OR_RETURN(s->kms,
                   kms::KeyService::Create(kms_options, *s->store, *s->vault, clock, random));
  iam::IamOptions iam_options;
  iam_options.account_id = options.account_id;
  iam_options.region = options.region;
  ASSIGN_OR_RETURN(s->iam,
                   iam::IdentityService::Create(iam_options, *s->store, *s->vault, clock, random));
  s->data_dir = options.data_dir;
  RETURN_IF_ERROR(PrepareAuditIndex(options.data_dir));
  ASSIGN_OR_RETURN(
      s->audit_index,
      state::SqliteStateStore::Open(
          AuditIndexPath(options.data_dir),
          {.exclusive = true, .durable = false, .page_cache_bytes = kAuditIndexPageCache}));
  if (options.restart_digest_chain) {
    ASSIGN_OR_RETURN(audit::DigestChainRestart restart,
                     audit::RestartDigestChain(options.data_dir, *s->store, clock));
    if (!restart.kept_torn_tail.empty()) {
      Log().warn("audit journal: a torn tail among signed records is kept in {}",
                 restart.kept_torn_tail);
    }
    if (restart.restarted) {
      Log().warn(
          "audit digests: a new chain starts after record {}; records {} to {}, signed by the "
          "chain that ends with digest {}, are no longer in the journal as signed ({})",
          restart.after_sequence, restart.after_sequence + 1, restart.previous_last_sequence,
          restart.previous_last_digest, restart.reason);
    } else {
      Log().info("audit digests: no new chain started: {}", restart.reason);
    }
  }
  // A torn tail among records a digest signed is damage, not a crash's.
  audit::AuditLogOptions audit_options = options.audit;
  ASSIGN_OR_RETURN(audit_options.journal.signed_sequence, audit::LastSignedSequence(*s->store));
  ASSIGN_OR_RETURN(s->audit, audit::AuditLog::Open(audit::JournalDirectory(options.data_dir),
                                                   *s->audit_index, std::move(audit_options)));
  audit::DigestOptions digest_options;
  digest_options.account_id = options.account_id;
  digest_options.region = options.region;
  digest_options.period = options.digest_period;
  // Only records that are durable (and so answered) are ever signed.
  digest_options.durable_sequence = [audit = s->audit.get()] {
    return audit->journal().last_sequence();
  };
  ASSIGN_OR_RETURN(s->digests, audit::DigestSigner::Create(options.data_dir, *s->store, *s->vault,
                                                           clock, digest_options));
  s->clock = &clock;
  s->digest_period = options.digest_period;
  // The first digest of a new chain is written at once, not a period later.
  ASSIGN_OR_RETURN(bool restart_due, audit::DigestChainRestartDue(*s->store));
  s->next_digest = restart_due ? clock.Now() : clock.Now() + options.digest_period;
  api::EndpointOptions endpoint_options;
  endpoint_options.account_id = options.account_id;
  endpoint_options.region = options.region;
  ASSIGN_OR_RETURN(s->endpoint, api::Endpoint::Create(endpoint_options, *s->kms, *s->iam, *s->audit,
                                                      clock, random, s->audit.get()));
  s->buckets = options.buckets;
  if (s->buckets == nullptr) {
    ASSIGN_OR_RETURN(s->buckets, objstore::BucketRouter::Create(options.data_dir + "/buckets", {}));
  }
  s->delegation = std::make_unique<EndpointDelegation>(*s->endpoint, *s->iam, clock);
  backup::BackupServiceOptions backup_options;
  backup_options.account_id = options.account_id;
  backup_options.region = options.region;
  backup_options.max_running_tasks = options.max_running_tasks;
  backup_options.reserved_directories = {options.data_dir};
  ASSIGN_OR_RETURN(s->backup,
                   backup::BackupService::Open(backup_options, *s->store, *s->vault, *s->buckets,
                                               *s->delegation, OpenEngine, clock, random));
  s->endpoint->AttachBackupService(s->backup.get());
  s->endpoint->AttachDigestPublicKeys(
      [digests = s->digests.get()] { return digests->PublicKeys(); });
  // Only once the services accepted the account id and region (they write nothing
  // when created): a mistyped first start must not bind the directory to the typo.
  RETURN_IF_ERROR(CheckAccount(*s->store, options));

  // First start: the root access key, written once where the aws CLI can read it,
  // durably and before the account is committed: a crash or a failed write leaves
  // either no account (the next start creates it) or an account whose key is on disk.
  ASSIGN_OR_RETURN(s->new_root_key,
                   s->iam->InitializeAccount([&](const iam::NewAccessKey& key) -> Status {
                     return WriteFileAtomically(RootCredentialsPath(options.data_dir),
                                                CredentialsFile(key), 0600);
                   }));
  return s;
}

Result<std::unique_ptr<engines::DatabaseEngine>> OpenEngine(const backup::Instance& instance) {
  if (instance.engine == "sqlite") {
    ASSIGN_OR_RETURN(auto engine, engines::SqliteEngine::Create(instance.path));
    return std::unique_ptr<engines::DatabaseEngine>(std::move(engine));
  }
  if (instance.engine == "postgres") {
    ASSIGN_OR_RETURN(auto engine, engines::PostgresEngine::Create(instance.dsn));
    return std::unique_ptr<engines::DatabaseEngine>(std::move(engine));
  }
  return Status(StatusCode::kInvalidArgument, "InvalidParameterValue",
                "Invalid DB engine: '" + instance.engine + "'.");
}

Status RunScheduledWork(Services& services) {
  ASSIGN_OR_RETURN(kms::ScheduledWorkReport report, services.kms->RunScheduledWork());
  if (report.keys_deleted > 0 || report.keys_rotated > 0) {
    Log().info("scheduled work: {} keys deleted, {} keys rotated", report.keys_deleted,
               report.keys_rotated);
  }
  ASSIGN_OR_RETURN(int tasks, services.backup->RunScheduledWork());
  if (tasks > 0) Log().info("scheduled work: {} backup tasks past their history removed", tasks);
  ASSIGN_OR_RETURN(int sessions, services.iam->RunScheduledWork());
  if (sessions > 0) Log().info("scheduled work: {} expired sessions removed", sessions);
  // One signed digest per period, covering what became durable since the last one.
  TimePoint now = services.clock->Now();
  if (now >= services.next_digest) {
    // Due again a period from now whatever this one comes to: a digest that
    // cannot be written is retried (and its error logged) once per period.
    services.next_digest = now + services.digest_period;
    ASSIGN_OR_RETURN(std::optional<audit::DigestInfo> digest, services.digests->WriteDigest());
    // None: the last digest ends this very second (a restart right after one was
    // written). Due again at the next run, not a period later.
    if (!digest) services.next_digest = now;
    if (digest && digest->chain_restart_after) {
      Log().info("audit digest {} starts a new chain: {} records (after record {}, up to {})",
                 digest->file, digest->records, *digest->chain_restart_after,
                 digest->last_sequence);
    } else if (digest) {
      Log().info("audit digest {}: {} records (sequence {} to {})", digest->file, digest->records,
                 digest->first_sequence, digest->last_sequence);
    }
  }
  return Status::Ok();
}

}  // namespace coffer::server
