#pragma once
// Signed digests over the audit journal, in CloudTrail's digest format
// (docs/formats/audit-digest.md).
//
// DigestSigner writes, each time WriteDigest() is called (the server calls it
// every period(), one hour by default), a digest naming the journal records made
// durable since the previous digest with the SHA-256 of their payloads (as
// CloudTrail's log-file hashValue) and the chain hash of the last one, signs it
// SHA256withRSA, and chains it to the previous digest's signature. The RSA private
// key is sealed with the Vault in the state store; the public keys, with their
// validity, are kept in clear in DATA_DIR/audit/digests/public-keys.json, so that
// VerifyDigests() checks everything offline without the root key or the store.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/journal.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/rsa.h"
#include "state/root_key.h"
#include "state/state_store.h"

namespace coffer::audit {

// "DATA_DIR/audit/digests".
std::string DigestDirectory(const std::string& data_dir);

struct DigestOptions {
  // Fields of every digest and parts of its name. Required: account_id (digits)
  // and region ([a-z0-9-]).
  std::string account_id;
  std::string region;
  std::string trail_name = "coffer";    // [A-Za-z0-9._-]
  std::string bucket = "coffer-audit";  // digestS3Bucket and logFiles[].s3Bucket
  // How often the caller is meant to call WriteDigest(); at least one second.
  Duration period = std::chrono::hours(1);
  // The last durable sequence of the journal (wire Journal::last_sequence()):
  // records past it are never signed. Unset: every record the journal holds (for
  // a journal no writer appends to, and tests).
  std::function<uint64_t()> durable_sequence;
  // The RSA modulus size of new key pairs.
  int key_bits = crypto::kRsaDefaultBits;
};

// A public key of the signer, as ListPublicKeys returns it.
struct DigestPublicKey {
  Bytes der;                // DER PKCS#1 RSAPublicKey
  std::string fingerprint;  // hex MD5 of der
  TimePoint validity_start;
  std::optional<TimePoint> validity_end;  // none: the current key
};

// The public keys of a data directory (public-keys.json), oldest first. An empty
// list when there is no such file. kDataLoss when the file is malformed.
Result<std::vector<DigestPublicKey>> LoadDigestPublicKeys(const std::string& data_dir);

// The last journal record a digest of this data directory signed, as `store`
// (the DigestSigner's) remembers it; 0 when none was. Records up to it were
// acknowledged: JournalOptions::signed_sequence.
Result<uint64_t> LastSignedSequence(const state::StateStore& store);

// A new digest chain after a loss of signed records (docs/formats/audit-digest.md,
// "A new chain after signed records were lost").
struct DigestChainRestart {
  // Whether the next digest starts a new chain (just planned, or already due);
  // false when nothing was changed, and `reason` says why (no digest yet, or the
  // chain verifies and goes on).
  bool restarted = false;
  uint64_t after_sequence = 0;          // the new chain covers the records after this one
  uint64_t previous_last_sequence = 0;  // the last record the previous chain signed
  std::string previous_last_digest;     // the previous chain's last digest (file name)
  std::string reason;  // why the previous chain cannot go on, or why nothing was done
  // A torn tail among the records the previous chain signed, which the journal's
  // next open cuts, is first copied here (SEGMENT.torn-SEQUENCE-TIME in the journal
  // directory, which readers ignore); empty when there was none.
  std::string kept_torn_tail;
};

// Records in `store` (the DigestSigner's, before a signer is created on it) that
// the next digest starts a new chain, when the current one cannot go on because
// records it signed are no longer in the journal of `data_dir` as they were
// signed: segments were moved out after damage (audit-journal.md, Recovery). The
// new chain starts after R, the last record whose signature still verifies; its
// first digest names R, the previous chain's last digest, its signature and last
// record, so every later VerifyDigests reports the records lost in between. The
// last signed sequence becomes R, so that the journal's next open takes a torn
// tail past R for a crash's (its bytes are kept first when the old chain signed
// them). Checks offline first, with the keys and the last digest the store holds.
// Changes nothing (restarted false) when no digest was written or the digests
// verify against the journal. A new chain already due is planned again: moved
// further, or dropped when the digests verify again (segments put back). Errors,
// changing nothing: kFailedPrecondition when the journal is damaged (recover it
// first), when the digests themselves do not verify (a signature, a link, a
// missing digest: not a loss of records), when the newest digest file is not the
// store's last, or when a record in the place of a signed one (R + 1 up to the
// previous chain's last) was not written between the previous chain's last digest
// and now (a signed record changed, or the rest of a cut segment: the message says
// which segment to move out); store and I/O errors.
Result<DigestChainRestart> RestartDigestChain(const std::string& data_dir, state::StateStore& store,
                                              const Clock& clock);

// Whether the next digest of `store`'s signer starts a new chain.
Result<bool> DigestChainRestartDue(const state::StateStore& store);

// What one WriteDigest() wrote.
struct DigestInfo {
  std::string file;       // its file name in DigestDirectory(); the signature is file + ".sig"
  std::string s3_object;  // digestS3Object
  TimePoint start_time;   // digestStartTime
  TimePoint end_time;     // digestEndTime
  uint64_t records = 0;   // records covered; 0 for an empty period
  uint64_t first_sequence = 0;  // of the first covered record; 0 when none
  uint64_t last_sequence = 0;   // the last sequence covered by this or an earlier digest
  std::string signature;        // hex
  std::string fingerprint;      // of the signing key
  // It starts a new chain after RestartDigestChain: its first record is this + 1.
  std::optional<uint64_t> chain_restart_after;
};

// Writes the digests of one data directory. Thread-safe (calls are serialized).
// One DigestSigner per data directory.
class DigestSigner {
 public:
  // Loads the signing key from `store` (unsealing it with `vault`), or on first
  // use generates a key pair and stores its private key sealed. Creates
  // DATA_DIR/audit/digests (0700) and rewrites public-keys.json when it differs
  // from the store. `store`, `vault` and `clock` must outlive the signer. Errors:
  // kInvalidArgument for bad options, kDataLoss when the stored key does not open
  // or is not the key its fingerprint names, store and I/O errors.
  static Result<std::unique_ptr<DigestSigner>> Create(std::string data_dir,
                                                      state::StateStore& store,
                                                      const state::Vault& vault, const Clock& clock,
                                                      DigestOptions options);

  // Writes the digest covering the records made durable since the previous one
  // (none: an empty-period digest, as CloudTrail writes every hour), its
  // signature beside it, then records it in the store. nullopt, writing nothing,
  // when the clock has not passed the previous digest's end time (two digests
  // cannot share a second). Errors: kDataLoss when the journal is damaged, when the
  // previous digest's file is gone, or when the digest files do not match the
  // store's record of the last digest; store and I/O errors (nothing is recorded
  // in the store then, and the next call writes the digest again).
  Result<std::optional<DigestInfo>> WriteDigest();

  // Replaces the signing key pair: the current public key's validity ends now,
  // the new one's starts now; the old private key is deleted from the store.
  // Earlier digests keep verifying with the old public key.
  Status RotateKey();

  // Every public key, oldest first (the last is the current one).
  std::vector<DigestPublicKey> PublicKeys() const;
  std::string current_fingerprint() const;
  Duration period() const { return options_.period; }

  ~DigestSigner();
  DigestSigner(const DigestSigner&) = delete;
  DigestSigner& operator=(const DigestSigner&) = delete;

 private:
  DigestSigner(std::string data_dir, state::StateStore& store, const state::Vault& vault,
               const Clock& clock, DigestOptions options);
  Status LoadOrCreateKey();
  Status SyncPublicKeysFile();  // mu_ held
  std::string FileName(TimePoint end) const;
  std::string S3Object(TimePoint end) const;

  const std::string data_dir_;
  state::StateStore& store_;
  const state::Vault& vault_;
  const Clock& clock_;
  const DigestOptions options_;

  mutable std::mutex mu_;
  std::vector<DigestPublicKey> keys_;
  std::unique_ptr<crypto::RsaPrivateKey> key_;
};

// The first problem VerifyDigests found.
struct DigestProblem {
  // The digest file at fault, or whose records are at fault; empty for damage in
  // the journal after the last digest.
  std::string digest;
  // The record at fault (0 when the problem is in the digest itself).
  uint64_t sequence = 0;
  // Set when the journal reader found the problem (checksums, sequence, chain).
  std::optional<JournalProblem> journal;
  std::string what;

  // "digest NAME: record 7: …" / "digest NAME: signature verification failed".
  std::string ToString() const;
};

// A digest that starts a new chain after records signed by the previous chain were
// lost (RestartDigestChain).
struct DigestChainStart {
  std::string digest;                   // the new chain's first digest (file name)
  uint64_t after_sequence = 0;          // its records start after this one
  uint64_t previous_last_sequence = 0;  // the previous chain signed up to this one
};

struct DigestVerifyReport {
  uint64_t digests = 0;        // digests that verified
  uint64_t records = 0;        // journal records they cover, all verified
  uint64_t last_sequence = 0;  // the last record they cover
  // The last record whose digest entry verified, also when a later one did not.
  uint64_t verified_through = 0;
  // New chains, oldest first, and the signed records no longer in the journal
  // because of them (their digests verify; the records cannot be compared).
  std::vector<DigestChainStart> chain_starts;
  uint64_t lost_records = 0;
  std::string last_digest;  // file name of the last digest that verified
  std::optional<TimePoint> last_digest_end;
  uint64_t unsigned_records = 0;  // records after the last digest (not yet signed)
  bool torn_tail = false;         // the journal ends in a torn tail (after the signed records)
  std::optional<DigestProblem> problem;

  bool ok() const { return !problem.has_value(); }
};

// Checks, offline and read-only, every digest in DATA_DIR/audit/digests in time
// order: its signature with the public key (public-keys.json) that was valid at
// its end time, the chain of previous-digest links (a new chain must name the
// previous chain's last digest), and that the journal records it covers match
// it, except records a later chain's start says were lost; then the journal
// records after the last digest. Stops at the first problem. An error Status only
// when files cannot be read.
Result<DigestVerifyReport> VerifyDigests(const std::string& data_dir);

}  // namespace coffer::audit
