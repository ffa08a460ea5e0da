#pragma once
// The services of one data directory, opened together: the state store, the root
// of trust (Vault), the KMS engine, IAM/STS and the HTTP endpoint over them.
// server/ is one of the two places that choose concrete implementations
// (ARCHITECTURE.md, Layers): SQLite for state, a key file or a passphrase for the
// root key.
//
// Layout of a data directory (created 0700 when missing):
//   lock              held (flock) by the one process that has the directory open
//   state.db          the state store (SQLite, 0600, opened exclusively)
//   root.key          the root key, when the key-file provider is used (0600)
//   root-credentials  the account root's access key, written once on first start
//                     (AWS shared-credentials format, profile [default], 0600)
//   buckets/          the file buckets (objstore::BucketRouter), unless given
//   audit/            the audit journal (docs/formats/audit-journal.md, 0700); its
//                     LookupEvents index is in state.db (docs/formats/audit-index.md)
#include <memory>
#include <optional>
#include <string>

#include "api/endpoint.h"
#include "audit/audit_log.h"
#include "audit/digest.h"
#include "backup/backup_service.h"
#include "common/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "crypto/secret_bytes.h"
#include "iam/identity_service.h"
#include "kms/key_service.h"
#include "objstore/object_store.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"

namespace coffer::server {

struct ServicesOptions {
  std::string data_dir;
  std::string account_id = "111122223333";
  std::string region = "us-east-1";
  // When set, the root key is derived from this passphrase; otherwise it is read
  // from (or, for a new data directory, created in) DATA_DIR/root.key.
  std::optional<crypto::SecretBytes> passphrase;
  // The key file of the key-file provider; empty: DATA_DIR/root.key.
  std::string root_key_file;
  // The audit log: its journal syncs every batch and fills zeros ahead of its
  // records (JournalOptions::zero_fill_ahead), so that a sync writes the batch alone.
  audit::AuditLogOptions audit = {.journal = {.zero_fill_ahead = uint64_t{2} << 20}};
  // How often a signed digest is written over the journal (docs/formats/audit-digest.md).
  Duration digest_period = std::chrono::hours(1);
  // Start a new digest chain when signed records are no longer in the journal
  // (audit::RestartDigestChain), before the journal opens; its first digest is
  // written at the first scheduled run.
  bool restart_digest_chain = false;
  // The buckets backup tasks read and write; null: file buckets under
  // DATA_DIR/buckets only.
  std::shared_ptr<objstore::ObjectStore> buckets;
  // Backup and restore tasks that run at once.
  int max_running_tasks = 2;
};

class EndpointDelegation;

struct Services {
  std::string data_dir;
  int lock_fd = -1;  // DATA_DIR/lock, flock()ed; closed last
  std::unique_ptr<state::SqliteStateStore> store;
  std::unique_ptr<state::RootKeyProvider> root_key;
  std::unique_ptr<state::Vault> vault;
  std::unique_ptr<kms::KeyService> kms;
  std::unique_ptr<iam::IdentityService> iam;
  // The LookupEvents index: a state store of its own (DATA_DIR/audit-index.db),
  // so that its commits never hold up the key and identity reads of `store`.
  // Derived data, never synced while open: rebuilt from the journal at a start
  // that follows anything but a clean close (docs/formats/audit-index.md).
  std::unique_ptr<state::SqliteStateStore> audit_index;
  std::unique_ptr<audit::AuditLog> audit;        // DATA_DIR/audit, indexed in `audit_index`
  std::unique_ptr<audit::DigestSigner> digests;  // DATA_DIR/audit/digests
  Clock* clock = nullptr;
  Duration digest_period{};
  TimePoint next_digest{};  // RunScheduledWork writes a digest once the clock passes it
  std::unique_ptr<api::Endpoint> endpoint;
  std::shared_ptr<objstore::ObjectStore> buckets;
  std::unique_ptr<EndpointDelegation> delegation;  // the backup tasks' role sessions
  std::unique_ptr<backup::BackupService> backup;   // stopped first
  // Set on the first start of a data directory only: the root access key just created
  // (also written to DATA_DIR/root-credentials). Never logged.
  std::optional<iam::NewAccessKey> new_root_key;

  ~Services();
};

// Opens (creating on first start) the data directory. The account id and region of a
// data directory are fixed at first start; opening it with others is refused.
Result<std::unique_ptr<Services>> OpenServices(const ServicesOptions& options, Clock& clock,
                                               Random& random);

// "DATA_DIR/root-credentials".
std::string RootCredentialsPath(const std::string& data_dir);

// Opens the database engine of a backup instance: sqlite (its directory) or
// postgres (its DSN).
Result<std::unique_ptr<engines::DatabaseEngine>> OpenEngine(const backup::Instance& instance);

// Runs the scheduled work of every service (key deletion and rotation, expiry of
// temporary credentials, the audit digest when one is due, the end of the backup
// task history) as of the clock's now.
// Logs what it did.
Status RunScheduledWork(Services& services);

}  // namespace coffer::server
