#include "audit/digest.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/files.h"
#include "crypto/hash.h"

namespace coffer::audit {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr std::string_view kTable = "audit.digest";
constexpr std::string_view kKeysKey = "keys";
constexpr std::string_view kLastKey = "last";
constexpr std::string_view kPrivatePrefix = "private/";
constexpr std::string_view kSealContextPrefix = "audit/digest-key/";
constexpr std::string_view kPublicKeysFile = "public-keys.json";
constexpr std::string_view kDigestMarker = "_CloudTrail-Digest_";
constexpr std::string_view kJsonSuffix = ".json";
constexpr std::string_view kSigSuffix = ".sig";
constexpr std::string_view kAlgorithm = "SHA256withRSA";
constexpr std::string_view kHashAlgorithm = "SHA-256";
constexpr unsigned kDirectoryMode = 0700;
constexpr unsigned kDigestFileMode = 0600;
constexpr unsigned kPublicKeysFileMode = 0644;
constexpr size_t kStampSize = 16;  // "20261130T100956Z"
constexpr const char* kRestartField = "cofferChainRestart";
constexpr std::string_view kRestartHint =
    "; if segments were moved out of the journal after damage, start a new digest chain: "
    "start the server once with --restart-digest-chain";

// ---------------------------------------------------------------------------
// Small helpers

int64_t ToEpochSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint FromEpochSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }
TimePoint FloorSeconds(TimePoint t) { return FromEpochSeconds(ToEpochSeconds(t)); }

// "2026-11-30T10:09:56Z" exactly; nullopt otherwise.
std::optional<TimePoint> ParseIso8601(std::string_view s) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return std::nullopt;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (s[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  time_t secs = timegm(&tm);
  TimePoint t = FromEpochSeconds(secs);
  if (FormatIso8601(t) != s) return std::nullopt;  // 2026-02-31 and the like
  return t;
}

bool AllOf(std::string_view s, std::string_view extra, bool allow_upper) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (allow_upper && c >= 'A' && c <= 'Z') || extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string HashHex(std::string_view data) { return HexEncode(crypto::Sha256(AsBytes(data))); }

// CloudTrail's string to sign.
std::string StringToSign(std::string_view end_time, std::string_view bucket,
                         std::string_view object, std::string_view digest_hash_hex,
                         std::string_view previous_signature) {
  std::string s;
  s.append(end_time).append("\n");
  s.append(bucket).append("/").append(object).append("\n");
  s.append(digest_hash_hex).append("\n");
  s.append(previous_signature.empty() ? std::string_view("null") : previous_signature);
  return s;
}

// The "eventTime" of a CloudTrail record, or empty.
std::string EventTime(std::string_view payload) {
  json record = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) return "";
  auto it = record.find("eventTime");
  if (it == record.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

json TimeOrNull(const std::string& t) { return t.empty() ? json(nullptr) : json(t); }

// A digest file name: "…_CloudTrail-Digest_…_YYYYMMDDTHHMMSSZ.json". Returns the
// time stamp, or empty when `name` is not one.
std::string DigestStamp(std::string_view name) {
  if (name.find(kDigestMarker) == std::string_view::npos) return "";
  if (name.size() < kStampSize + kJsonSuffix.size() + 1 ||
      name.substr(name.size() - kJsonSuffix.size()) != kJsonSuffix) {
    return "";
  }
  std::string_view stamp = name.substr(name.size() - kJsonSuffix.size() - kStampSize, kStampSize);
  if (name[name.size() - kJsonSuffix.size() - kStampSize - 1] != '_') return "";
  for (size_t i = 0; i < kStampSize; ++i) {
    bool ok = (i == 8)    ? stamp[i] == 'T'
              : (i == 15) ? stamp[i] == 'Z'
                          : std::isdigit(static_cast<unsigned char>(stamp[i]));
    if (!ok) return "";
  }
  return std::string(stamp);
}

// The digest files of `dir`, oldest first. A missing directory has none.
Result<std::vector<std::string>> ListDigests(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> found;  // stamp, name
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return std::vector<std::string>{};
    return PosixError("list " + dir, ec.value());
  }
  for (const auto& entry : it) {
    std::string name = entry.path().filename().string();
    std::string stamp = DigestStamp(name);
    if (!stamp.empty()) found.emplace_back(stamp, name);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> names;
  for (auto& [stamp, name] : found) names.push_back(std::move(name));
  return names;
}

// public-keys.json, ListPublicKeys' shape.
std::string PublicKeysJson(const std::vector<DigestPublicKey>& keys) {
  ordered_json list = ordered_json::array();
  for (const DigestPublicKey& k : keys) {
    ordered_json entry;
    entry["Value"] = Base64Encode(k.der);
    entry["ValidityStartTime"] = ToEpochSeconds(k.validity_start);
    if (k.validity_end) entry["ValidityEndTime"] = ToEpochSeconds(*k.validity_end);
    entry["Fingerprint"] = k.fingerprint;
    list.push_back(std::move(entry));
  }
  ordered_json doc;
  doc["PublicKeyList"] = std::move(list);
  return doc.dump();
}

Result<std::vector<DigestPublicKey>> ParsePublicKeys(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  auto bad = [](std::string what) { return DataLossError("public keys: " + what); };
  if (!doc.is_object() || !doc.contains("PublicKeyList") || !doc["PublicKeyList"].is_array()) {
    return bad("not a {\"PublicKeyList\":[…]} object");
  }
  std::vector<DigestPublicKey> keys;
  for (const json& e : doc["PublicKeyList"]) {
    if (!e.is_object() || !e.contains("Value") || !e["Value"].is_string() ||
        !e.contains("Fingerprint") || !e["Fingerprint"].is_string() ||
        !e.contains("ValidityStartTime") || !e["ValidityStartTime"].is_number_integer() ||
        (e.contains("ValidityEndTime") && !e["ValidityEndTime"].is_number_integer())) {
      return bad("malformed entry");
    }
    DigestPublicKey k;
    Result<Bytes> der = Base64Decode(e["Value"].get<std::string>());
    if (!der.ok()) return bad("Value is not base64");
    k.der = std::move(der).value();
    k.fingerprint = e["Fingerprint"].get<std::string>();
    if (crypto::RsaPublicKeyFingerprint(k.der) != k.fingerprint) {
      return bad("Fingerprint " + k.fingerprint + " is not the MD5 of its Value");
    }
    k.validity_start = FromEpochSeconds(e["ValidityStartTime"].get<int64_t>());
    if (e.contains("ValidityEndTime")) {
      k.validity_end = FromEpochSeconds(e["ValidityEndTime"].get<int64_t>());
    }
    keys.push_back(std::move(k));
  }
  return keys;
}

// The store's record of the newest digest.
struct LastDigest {
  std::string file;
  std::string object;
  std::string bucket;
  std::string end_time;   // ISO 8601, as in the digest
  std::string signature;  // hex
  std::string hash;       // hex SHA-256 of the digest bytes
  uint64_t last_sequence = 0;
  std::string last_record_hash;  // hex; empty when no record was ever covered
  // Set by RestartDigestChain: the next digest starts a new chain after record
  // last_sequence (last_record_hash). The fields above still describe the
  // previous chain's last digest, except last_sequence and last_record_hash.
  bool restart = false;
  std::string restart_time;               // the new chain's digestStartTime
  uint64_t previous_last_sequence = 0;    // the last record the previous chain signed
  std::string previous_last_record_hash;  // and its hash
};

std::string EncodeLast(const LastDigest& d) {
  ordered_json j;
  j["file"] = d.file;
  j["object"] = d.object;
  j["bucket"] = d.bucket;
  j["end_time"] = d.end_time;
  j["signature"] = d.signature;
  j["hash"] = d.hash;
  j["last_sequence"] = d.last_sequence;
  j["last_record_hash"] = d.last_record_hash;
  if (d.restart) {
    j["restart_time"] = d.restart_time;
    j["previous_last_sequence"] = d.previous_last_sequence;
    j["previous_last_record_hash"] = d.previous_last_record_hash;
  }
  return j.dump();
}

Result<LastDigest> DecodeLast(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  LastDigest d;
  try {
    d.file = j.at("file").get<std::string>();
    d.object = j.at("object").get<std::string>();
    d.bucket = j.at("bucket").get<std::string>();
    d.end_time = j.at("end_time").get<std::string>();
    d.signature = j.at("signature").get<std::string>();
    d.hash = j.at("hash").get<std::string>();
    d.last_sequence = j.at("last_sequence").get<uint64_t>();
    d.last_record_hash = j.at("last_record_hash").get<std::string>();
    if (j.contains("restart_time")) {
      d.restart = true;
      d.restart_time = j.at("restart_time").get<std::string>();
      d.previous_last_sequence = j.at("previous_last_sequence").get<uint64_t>();
      d.previous_last_record_hash = j.value("previous_last_record_hash", std::string());
    }
  } catch (const json::exception&) {
    return DataLossError("the state store's record of the last audit digest is malformed");
  }
  return d;
}

// The store's record of the newest digest; nullopt before the first.
Result<std::optional<LastDigest>> LoadLast(const state::StateStore& store) {
  std::optional<LastDigest> last;
  RETURN_IF_ERROR(store.View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> text, tx.Get(kTable, kLastKey));
    if (text) {
      ASSIGN_OR_RETURN(last, DecodeLast(*text));
    }
    return Status::Ok();
  }));
  return last;
}

// What `last` was before a new chain was due: the previous chain's last digest.
LastDigest PreviousChain(const LastDigest& last) {
  LastDigest previous = last;
  if (last.restart) {
    previous.restart = false;
    previous.restart_time.clear();
    previous.last_sequence = last.previous_last_sequence;
    previous.last_record_hash = last.previous_last_record_hash;
    previous.previous_last_sequence = 0;
    previous.previous_last_record_hash.clear();
  }
  return previous;
}

Status SaveLast(state::StateStore& store, const LastDigest& last) {
  const std::string encoded = EncodeLast(last);
  return store.Update(
      [&](state::Transaction& tx) -> Status { return tx.Put(kTable, kLastKey, encoded); });
}

// The public keys as the store keeps them (ListPublicKeys' JSON); nullopt before
// the first key pair.
Result<std::optional<std::string>> StoredKeysJson(const state::StateStore& store) {
  std::optional<std::string> keys_json;
  RETURN_IF_ERROR(store.View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(keys_json, tx.Get(kTable, kKeysKey));
    return Status::Ok();
  }));
  return keys_json;
}

}  // namespace

Result<uint64_t> LastSignedSequence(const state::StateStore& store) {
  ASSIGN_OR_RETURN(std::optional<LastDigest> last, LoadLast(store));
  return last ? last->last_sequence : 0;
}

namespace {

// One logFiles entry as built or as read.
struct LogFileEntry {
  std::string segment;  // "0000000000000001.journal"
  uint64_t first = 0;
  uint64_t last = 0;
  std::string hash;              // hex
  std::string last_record_hash;  // hex
  std::string newest;            // event times, empty when none
  std::string oldest;
};

// Accumulates the log file `{"Records":[p1,p2,…]}` of one segment's records.
class LogFileBuilder {
 public:
  explicit LogFileBuilder(std::string segment) { entry_.segment = std::move(segment); }
  void Add(const JournalRecord& r) {
    if (entry_.first == 0) {
      entry_.first = r.sequence;
      hasher_.Update(AsBytes("{\"Records\":["));
    } else {
      hasher_.Update(AsBytes(","));
    }
    entry_.last = r.sequence;
    hasher_.Update(AsBytes(r.payload));
    last_hash_ = r.hash;
    std::string t = EventTime(r.payload);
    if (!t.empty()) {
      if (entry_.newest.empty() || t > entry_.newest) entry_.newest = t;
      if (entry_.oldest.empty() || t < entry_.oldest) entry_.oldest = t;
    }
  }
  const std::string& segment() const { return entry_.segment; }
  LogFileEntry Finish() {
    hasher_.Update(AsBytes("]}"));
    entry_.hash = HexEncode(hasher_.Finish());
    entry_.last_record_hash = HexEncode(last_hash_);
    return std::move(entry_);
  }

 private:
  LogFileEntry entry_;
  crypto::Sha256Hasher hasher_;
  RecordHash last_hash_{};
};

std::string SegmentObject(const std::string& segment) {
  return std::string(journal_format::kDirectoryName) + "/" + segment;
}

// The fields of a parsed digest that verification and adoption use.
struct ParsedDigest {
  std::string end_time;
  std::string start_time;
  std::string bucket;
  std::string object;
  std::string fingerprint;
  std::string newest, oldest;  // empty for null
  bool has_previous = false;
  std::string previous_bucket, previous_object, previous_hash, previous_signature;
  // cofferChainRestart, in the first digest of a chain that follows another.
  struct Restart {
    uint64_t after_sequence = 0;
    std::string after_record_hash;  // empty for null (after_sequence 0)
    std::string previous_digest;    // the previous chain's last digest, a file name
    std::string previous_signature;
    uint64_t previous_last_sequence = 0;
  };
  std::optional<Restart> restart;
  std::vector<LogFileEntry> log_files;
};

// Parses and checks the format of a digest's bytes; the error says what is wrong.
Result<ParsedDigest> ParseDigest(std::string_view bytes) {
  json j = json::parse(bytes, nullptr, false);
  if (!j.is_object()) return InvalidArgumentError("invalid format: not a JSON object");
  ParsedDigest d;
  auto str = [&](const json& o, const char* name, std::string& out, bool nullable) -> Status {
    auto it = o.find(name);
    if (it == o.end()) return InvalidArgumentError(std::string("invalid format: no ") + name);
    if (it->is_null() && nullable) {
      out.clear();
      return Status::Ok();
    }
    if (!it->is_string()) {
      return InvalidArgumentError(std::string("invalid format: ") + name + " is not a string");
    }
    out = it->get<std::string>();
    return Status::Ok();
  };
  std::string account, algorithm;
  RETURN_IF_ERROR(str(j, "awsAccountId", account, false));
  RETURN_IF_ERROR(str(j, "digestStartTime", d.start_time, false));
  RETURN_IF_ERROR(str(j, "digestEndTime", d.end_time, false));
  RETURN_IF_ERROR(str(j, "digestS3Bucket", d.bucket, false));
  RETURN_IF_ERROR(str(j, "digestS3Object", d.object, false));
  RETURN_IF_ERROR(str(j, "digestPublicKeyFingerprint", d.fingerprint, false));
  RETURN_IF_ERROR(str(j, "digestSignatureAlgorithm", algorithm, false));
  RETURN_IF_ERROR(str(j, "newestEventTime", d.newest, true));
  RETURN_IF_ERROR(str(j, "oldestEventTime", d.oldest, true));
  std::string previous_algorithm;
  RETURN_IF_ERROR(str(j, "previousDigestS3Bucket", d.previous_bucket, true));
  RETURN_IF_ERROR(str(j, "previousDigestS3Object", d.previous_object, true));
  RETURN_IF_ERROR(str(j, "previousDigestHashValue", d.previous_hash, true));
  RETURN_IF_ERROR(str(j, "previousDigestHashAlgorithm", previous_algorithm, true));
  RETURN_IF_ERROR(str(j, "previousDigestSignature", d.previous_signature, true));
  if (algorithm != kAlgorithm) {
    return InvalidArgumentError("invalid format: digestSignatureAlgorithm is " + algorithm);
  }
  if (!ParseIso8601(d.end_time) || !ParseIso8601(d.start_time)) {
    return InvalidArgumentError("invalid format: digestStartTime or digestEndTime");
  }
  int nulls = d.previous_bucket.empty() + d.previous_object.empty() + d.previous_hash.empty() +
              previous_algorithm.empty() + d.previous_signature.empty();
  if (nulls != 0 && nulls != 5) {
    return InvalidArgumentError("invalid format: previousDigest* fields are partly null");
  }
  d.has_previous = nulls == 0;
  if (d.has_previous && previous_algorithm != kHashAlgorithm) {
    return InvalidArgumentError("invalid format: previousDigestHashAlgorithm is " +
                                previous_algorithm);
  }
  if (auto r = j.find(kRestartField); r != j.end()) {
    auto number = [&](const char* name, uint64_t& out) -> Status {
      auto it = r->find(name);
      if (it == r->end() || !it->is_number_unsigned()) {
        return InvalidArgumentError(std::string("invalid format: ") + kRestartField + "." + name);
      }
      out = it->get<uint64_t>();
      return Status::Ok();
    };
    if (!r->is_object() || d.has_previous) {
      return InvalidArgumentError(std::string("invalid format: ") + kRestartField +
                                  " in a digest that is not the first of its chain");
    }
    ParsedDigest::Restart restart;
    RETURN_IF_ERROR(number("afterSequence", restart.after_sequence));
    RETURN_IF_ERROR(str(*r, "afterRecordHash", restart.after_record_hash, true));
    RETURN_IF_ERROR(str(*r, "previousChainLastDigest", restart.previous_digest, false));
    RETURN_IF_ERROR(str(*r, "previousChainLastDigestSignature", restart.previous_signature, false));
    RETURN_IF_ERROR(number("previousChainLastSequence", restart.previous_last_sequence));
    if ((restart.after_sequence == 0) != restart.after_record_hash.empty() ||
        restart.after_sequence > restart.previous_last_sequence) {
      return InvalidArgumentError(std::string("invalid format: ") + kRestartField);
    }
    d.restart = std::move(restart);
  }
  auto files = j.find("logFiles");
  if (files == j.end() || !files->is_array()) {
    return InvalidArgumentError("invalid format: logFiles is not an array");
  }
  for (const json& e : *files) {
    if (!e.is_object()) return InvalidArgumentError("invalid format: a logFiles entry");
    LogFileEntry entry;
    std::string bucket, object, algo;
    RETURN_IF_ERROR(str(e, "s3Bucket", bucket, false));
    RETURN_IF_ERROR(str(e, "s3Object", object, false));
    RETURN_IF_ERROR(str(e, "hashValue", entry.hash, false));
    RETURN_IF_ERROR(str(e, "hashAlgorithm", algo, false));
    RETURN_IF_ERROR(str(e, "newestEventTime", entry.newest, true));
    RETURN_IF_ERROR(str(e, "oldestEventTime", entry.oldest, true));
    RETURN_IF_ERROR(str(e, "cofferLastRecordHash", entry.last_record_hash, false));
    auto first = e.find("cofferFirstSequence");
    auto last = e.find("cofferLastSequence");
    if (first == e.end() || last == e.end() || !first->is_number_unsigned() ||
        !last->is_number_unsigned()) {
      return InvalidArgumentError("invalid format: cofferFirstSequence/cofferLastSequence");
    }
    entry.first = first->get<uint64_t>();
    entry.last = last->get<uint64_t>();
    std::string prefix = SegmentObject("");
    if (bucket != d.bucket || algo != kHashAlgorithm || entry.first == 0 ||
        entry.first > entry.last || object.rfind(prefix, 0) != 0) {
      return InvalidArgumentError("invalid format: logFiles entry for " + object);
    }
    entry.segment = object.substr(prefix.size());
    d.log_files.push_back(std::move(entry));
  }
  return d;
}

// The hex chain hash of journal record `sequence`; nullopt when the journal does
// not hold it.
Result<std::optional<std::string>> RecordHashAt(const std::string& journal_dir, uint64_t sequence) {
  ASSIGN_OR_RETURN(std::unique_ptr<JournalReader> reader,
                   JournalReader::Open(journal_dir, sequence));
  JournalRecord record;
  ASSIGN_OR_RETURN(bool found, reader->Next(&record));
  if (!found || record.sequence != sequence) return std::optional<std::string>();
  return std::optional<std::string>(HexEncode(record.hash));
}

// The file name a digestS3Object names: its last element without ".gz".
std::string FileOfObject(std::string_view object) {
  size_t slash = object.rfind('/');
  std::string_view base = slash == std::string_view::npos ? object : object.substr(slash + 1);
  if (base.size() > 3 && base.substr(base.size() - 3) == ".gz") base.remove_suffix(3);
  return std::string(base);
}

}  // namespace

std::string DigestDirectory(const std::string& data_dir) {
  return JournalDirectory(data_dir) + "/digests";
}

Result<std::vector<DigestPublicKey>> LoadDigestPublicKeys(const std::string& data_dir) {
  std::string path = DigestDirectory(data_dir) + "/" + std::string(kPublicKeysFile);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::vector<DigestPublicKey>{};
  ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  return ParsePublicKeys(text);
}

// ---------------------------------------------------------------------------
// DigestSigner

DigestSigner::DigestSigner(std::string data_dir, state::StateStore& store,
                           const state::Vault& vault, const Clock& clock, DigestOptions options)
    : data_dir_(std::move(data_dir)),
      store_(store),
      vault_(vault),
      clock_(clock),
      options_(std::move(options)) {}

DigestSigner::~DigestSigner() = default;

Result<std::unique_ptr<DigestSigner>> DigestSigner::Create(std::string data_dir,
                                                           state::StateStore& store,
                                                           const state::Vault& vault,
                                                           const Clock& clock,
                                                           DigestOptions options) {
  if (!AllOf(options.account_id, "", false) ||
      options.account_id.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgumentError("digest account id must be digits: '" + options.account_id + "'");
  }
  if (!AllOf(options.region, "-", false)) {
    return InvalidArgumentError("digest region must be [a-z0-9-]: '" + options.region + "'");
  }
  if (!AllOf(options.trail_name, "._-", true)) {
    return InvalidArgumentError("digest trail name must be [A-Za-z0-9._-]: '" + options.trail_name +
                                "'");
  }
  if (!AllOf(options.bucket, ".-", false)) {
    return InvalidArgumentError("digest bucket must be [a-z0-9.-]: '" + options.bucket + "'");
  }
  if (options.period < std::chrono::seconds(1)) {
    return InvalidArgumentError("digest period must be at least one second");
  }
  if (options.key_bits < crypto::kRsaMinBits || options.key_bits > crypto::kRsaMaxBits) {
    return InvalidArgumentError("digest key size " + std::to_string(options.key_bits) +
                                " is out of range");
  }
  RETURN_IF_ERROR(EnsureDirectory(JournalDirectory(data_dir), journal_format::kDirectoryMode));
  RETURN_IF_ERROR(EnsureDirectory(DigestDirectory(data_dir), kDirectoryMode));
  std::unique_ptr<DigestSigner> signer(
      new DigestSigner(std::move(data_dir), store, vault, clock, std::move(options)));
  RETURN_IF_ERROR(signer->LoadOrCreateKey());
  std::lock_guard<std::mutex> lock(signer->mu_);
  RETURN_IF_ERROR(signer->SyncPublicKeysFile());
  return signer;
}

Status DigestSigner::LoadOrCreateKey() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::optional<std::string> keys_json, StoredKeysJson(store_));
  if (!keys_json) {
    // First use: a new key pair. Should another signer have won the race, its key
    // is kept and this one dropped.
    ASSIGN_OR_RETURN(std::unique_ptr<crypto::RsaPrivateKey> key,
                     crypto::RsaPrivateKey::Generate(options_.key_bits));
    DigestPublicKey pub{key->public_key().der(), key->public_key().Fingerprint(),
                        FloorSeconds(clock_.Now()), std::nullopt};
    ASSIGN_OR_RETURN(crypto::SecretBytes der, key->PrivateKeyDer());
    ASSIGN_OR_RETURN(Bytes sealed,
                     vault_.Seal(std::string(kSealContextPrefix) + pub.fingerprint, der));
    std::string encoded = PublicKeysJson({pub});
    RETURN_IF_ERROR(store_.Update([&](state::Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(std::optional<std::string> existing, tx.Get(kTable, kKeysKey));
      if (existing) return Status::Ok();
      RETURN_IF_ERROR(
          tx.Put(kTable, std::string(kPrivatePrefix) + pub.fingerprint, AsChars(sealed)));
      return tx.Put(kTable, kKeysKey, encoded);
    }));
    ASSIGN_OR_RETURN(keys_json, StoredKeysJson(store_));
    if (!keys_json) return InternalError("the audit digest key was not stored");
  }
  ASSIGN_OR_RETURN(std::vector<DigestPublicKey> keys, ParsePublicKeys(*keys_json));
  if (keys.empty() || keys.back().validity_end) {
    return DataLossError("the state store holds no current audit digest key");
  }
  const std::string& fingerprint = keys.back().fingerprint;
  std::optional<std::string> sealed;
  RETURN_IF_ERROR(store_.View([&](const state::ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(sealed, tx.Get(kTable, std::string(kPrivatePrefix) + fingerprint));
    return Status::Ok();
  }));
  if (!sealed) {
    return DataLossError("the private audit digest key " + fingerprint +
                         " is missing from the state store");
  }
  ASSIGN_OR_RETURN(crypto::SecretBytes der,
                   vault_.Unseal(std::string(kSealContextPrefix) + fingerprint, AsBytes(*sealed)));
  Result<std::unique_ptr<crypto::RsaPrivateKey>> key = crypto::RsaPrivateKey::FromDer(der);
  if (!key.ok()) {
    return DataLossError("the stored audit digest key " + fingerprint +
                         " is not an RSA key: " + key.status().message());
  }
  if (key.value()->public_key().Fingerprint() != fingerprint ||
      key.value()->public_key().der() != keys.back().der) {
    return DataLossError("the stored audit digest key is not the key " + fingerprint);
  }
  keys_ = std::move(keys);
  key_ = std::move(key).value();
  return Status::Ok();
}

// Checked before every digest (a small file): one removed or changed while the
// server runs is written again.
Status DigestSigner::SyncPublicKeysFile() {
  std::string path = DigestDirectory(data_dir_) + "/" + std::string(kPublicKeysFile);
  std::string wanted = PublicKeysJson(keys_);
  std::error_code ec;
  bool same = false;
  if (std::filesystem::exists(path, ec)) {
    Result<std::string> current = ReadWholeFile(path);
    same = current.ok() && *current == wanted;
  }
  if (!same) RETURN_IF_ERROR(WriteFileAtomically(path, wanted, kPublicKeysFileMode));
  return Status::Ok();
}

std::vector<DigestPublicKey> DigestSigner::PublicKeys() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_;
}

std::string DigestSigner::current_fingerprint() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.back().fingerprint;
}

std::string DigestSigner::FileName(TimePoint end) const {
  return options_.account_id + "_CloudTrail-Digest_" + options_.region + "_" + options_.trail_name +
         "_" + options_.region + "_" + FormatAmzDate(end) + std::string(kJsonSuffix);
}

std::string DigestSigner::S3Object(TimePoint end) const {
  std::string iso = FormatIso8601(end);  // YYYY-MM-DD…
  return "AWSLogs/" + options_.account_id + "/CloudTrail-Digest/" + options_.region + "/" +
         iso.substr(0, 4) + "/" + iso.substr(5, 2) + "/" + iso.substr(8, 2) + "/" + FileName(end) +
         ".gz";
}

Status DigestSigner::RotateKey() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(std::unique_ptr<crypto::RsaPrivateKey> key,
                   crypto::RsaPrivateKey::Generate(options_.key_bits));
  TimePoint now = FloorSeconds(clock_.Now());
  if (now < keys_.back().validity_start) now = keys_.back().validity_start;
  std::vector<DigestPublicKey> keys = keys_;
  std::string old_fingerprint = keys.back().fingerprint;
  keys.back().validity_end = now;
  keys.push_back(
      DigestPublicKey{key->public_key().der(), key->public_key().Fingerprint(), now, std::nullopt});
  ASSIGN_OR_RETURN(crypto::SecretBytes der, key->PrivateKeyDer());
  ASSIGN_OR_RETURN(Bytes sealed,
                   vault_.Seal(std::string(kSealContextPrefix) + keys.back().fingerprint, der));
  std::string encoded = PublicKeysJson(keys);
  std::string current = PublicKeysJson(keys_);
  RETURN_IF_ERROR(store_.Update([&](state::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(std::optional<std::string> stored, tx.Get(kTable, kKeysKey));
    if (!stored || *stored != current) {
      return FailedPreconditionError("the audit digest keys changed in the state store");
    }
    RETURN_IF_ERROR(
        tx.Put(kTable, std::string(kPrivatePrefix) + keys.back().fingerprint, AsChars(sealed)));
    RETURN_IF_ERROR(tx.Delete(kTable, std::string(kPrivatePrefix) + old_fingerprint));
    return tx.Put(kTable, kKeysKey, encoded);
  }));
  keys_ = std::move(keys);
  key_ = std::move(key);
  return SyncPublicKeysFile();
}

Result<std::optional<DigestInfo>> DigestSigner::WriteDigest() {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(SyncPublicKeysFile());
  const std::string dir = DigestDirectory(data_dir_);
  const TimePoint now = FloorSeconds(clock_.Now());

  ASSIGN_OR_RETURN(std::optional<LastDigest> last, LoadLast(store_));

  // The files must agree with the store: the last digest is there, and nothing
  // newer but the one digest a crash may have left before the store was updated.
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListDigests(dir));
  std::vector<std::string> newer;
  if (last) {
    if (std::find(files.begin(), files.end(), last->file) == files.end()) {
      return DataLossError("audit digest " + last->file +
                           " (the last one written) is missing from " + dir +
                           "; run `coffer audit verify`");
    }
    std::string stamp = DigestStamp(last->file);
    for (const std::string& f : files) {
      if (DigestStamp(f) > stamp) newer.push_back(f);
    }
  } else {
    newer = files;
  }
  if (!newer.empty()) {
    // Adopt it only if it is exactly what this signer would have recorded.
    std::string name = newer.front();
    auto refuse = [&](std::string why) {
      return DataLossError("unexpected audit digest " + name + " in " + dir + ": " + why +
                           "; run `coffer audit verify`");
    };
    if (newer.size() > 1) return refuse("more than one digest newer than the state store's last");
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(dir + "/" + name));
    Result<std::string> sig_file = ReadWholeFile(dir + "/" + name + std::string(kSigSuffix));
    if (!sig_file.ok()) return refuse("no signature: " + sig_file.status().message());
    const std::string& sig = *sig_file;
    Result<ParsedDigest> parsed = ParseDigest(bytes);
    if (!parsed.ok()) return refuse(parsed.status().message());
    Result<Bytes> signature = HexDecode(sig);
    const bool restart = last && last->restart;
    std::string expected_previous = last && !restart ? last->signature : "";
    if (restart != parsed->restart.has_value() ||
        (restart && (parsed->restart->after_sequence != last->last_sequence ||
                     parsed->restart->previous_digest != last->file))) {
      return refuse(restart ? "it does not start the new chain the state store expects"
                            : "it starts a new chain the state store does not expect");
    }
    if (!signature.ok() || FileOfObject(parsed->object) != name ||
        parsed->previous_signature != expected_previous ||
        parsed->fingerprint != keys_.back().fingerprint ||
        !key_->public_key().VerifySha256(
            AsBytes(StringToSign(parsed->end_time, parsed->bucket, parsed->object, HashHex(bytes),
                                 parsed->previous_signature)),
            *signature)) {
      return refuse("it does not continue the chain with the current key");
    }
    LastDigest adopted;
    adopted.file = name;
    adopted.object = parsed->object;
    adopted.bucket = parsed->bucket;
    adopted.end_time = parsed->end_time;
    adopted.signature = sig;
    adopted.hash = HashHex(bytes);
    adopted.last_sequence = last ? last->last_sequence : 0;
    adopted.last_record_hash = last ? last->last_record_hash : "";
    if (!parsed->log_files.empty()) {
      adopted.last_sequence = parsed->log_files.back().last;
      adopted.last_record_hash = parsed->log_files.back().last_record_hash;
    }
    RETURN_IF_ERROR(SaveLast(store_, adopted));
    last = std::move(adopted);
  }

  if (last && now <= *ParseIso8601(last->end_time)) return std::optional<DigestInfo>();

  const uint64_t bound = options_.durable_sequence ? options_.durable_sequence() : UINT64_MAX;
  const std::string journal_dir = JournalDirectory(data_dir_);
  // A new chain is due, but the last record the previous chain signed is back as
  // signed (the moved segments were put back before the new chain's first
  // digest): through the hash chain, so is every record before it, and the
  // previous chain goes on.
  if (last && last->restart && last->previous_last_sequence > 0 &&
      !last->previous_last_record_hash.empty() && last->previous_last_sequence <= bound) {
    ASSIGN_OR_RETURN(std::optional<std::string> hash,
                     RecordHashAt(journal_dir, last->previous_last_sequence));
    if (hash == last->previous_last_record_hash) last = PreviousChain(*last);
  }

  // The records since the previous digest, up to the last durable one.
  const uint64_t from = (last ? last->last_sequence : 0) + 1;
  std::vector<LogFileEntry> entries;
  uint64_t records = 0;
  std::string newest, oldest;
  if (bound < from - 1) {
    return DataLossError("the journal's durable sequence " + std::to_string(bound) +
                         " is behind the last signed record " + std::to_string(from - 1) +
                         std::string(kRestartHint));
  }
  if (const uint64_t anchor = last ? last->last_sequence : 0; anchor > 0 || from <= bound) {
    // Read from the last record the previous digest covered: it must still be
    // the record that digest signed, or the journal was cut or changed since
    // (then nothing more is signed, even when no record is new).
    ASSIGN_OR_RETURN(std::unique_ptr<JournalReader> reader,
                     JournalReader::Open(journal_dir, anchor > 0 ? anchor : from));
    if (anchor > 0) {
      JournalRecord record;
      ASSIGN_OR_RETURN(bool found, reader->Next(&record));
      if (!found || record.sequence != anchor || HexEncode(record.hash) != last->last_record_hash) {
        return DataLossError("audit journal record " + std::to_string(anchor) +
                             " is not the record the previous digest signed (the journal was "
                             "cut or changed); no digest written; run `coffer audit verify`" +
                             std::string(kRestartHint));
      }
    }
    std::optional<LogFileBuilder> builder;
    uint64_t expected = from;
    while (expected <= bound) {
      JournalRecord record;
      ASSIGN_OR_RETURN(bool more, reader->Next(&record));
      if (!more) {
        const auto& problem = reader->problem();
        if (problem && problem->kind == JournalProblem::Kind::kDamage) {
          return DataLossError("audit journal damaged, no digest written: " + problem->ToString());
        }
        if (bound != UINT64_MAX) {
          return DataLossError("audit journal ends before record " + std::to_string(expected) +
                               ", which was acknowledged as durable");
        }
        break;
      }
      if (record.sequence != expected) {
        return DataLossError("audit journal: record " + std::to_string(expected) +
                             " expected, record " + std::to_string(record.sequence) + " found");
      }
      if (!builder || builder->segment() != record.segment) {
        if (builder) entries.push_back(builder->Finish());
        builder.emplace(record.segment);
      }
      builder->Add(record);
      ++records;
      ++expected;
    }
    if (builder) entries.push_back(builder->Finish());
  }
  for (const LogFileEntry& e : entries) {
    if (!e.newest.empty() && (newest.empty() || e.newest > newest)) newest = e.newest;
    if (!e.oldest.empty() && (oldest.empty() || e.oldest < oldest)) oldest = e.oldest;
  }

  // The digest.
  const std::string name = FileName(now);
  const std::string object = S3Object(now);
  const std::string end_time = FormatIso8601(now);
  // The first digest of a new chain links to nothing, as CloudTrail's first digest
  // does, and names the previous chain's end in cofferChainRestart instead.
  const bool restart = last && last->restart;
  const bool linked = last && !restart;
  const std::string start_time = restart  ? last->restart_time
                                 : linked ? last->end_time
                                          : FormatIso8601(keys_.front().validity_start);
  ordered_json d;
  d["awsAccountId"] = options_.account_id;
  d["digestStartTime"] = start_time;
  d["digestEndTime"] = end_time;
  d["digestS3Bucket"] = options_.bucket;
  d["digestS3Object"] = object;
  d["digestPublicKeyFingerprint"] = keys_.back().fingerprint;
  d["digestSignatureAlgorithm"] = kAlgorithm;
  d["newestEventTime"] = TimeOrNull(newest);
  d["oldestEventTime"] = TimeOrNull(oldest);
  d["previousDigestS3Bucket"] = linked ? json(last->bucket) : json(nullptr);
  d["previousDigestS3Object"] = linked ? json(last->object) : json(nullptr);
  d["previousDigestHashValue"] = linked ? json(last->hash) : json(nullptr);
  d["previousDigestHashAlgorithm"] = linked ? json(kHashAlgorithm) : json(nullptr);
  d["previousDigestSignature"] = linked ? json(last->signature) : json(nullptr);
  if (restart) {
    ordered_json r;
    r["afterSequence"] = last->last_sequence;
    r["afterRecordHash"] = last->last_sequence > 0 ? json(last->last_record_hash) : json(nullptr);
    r["previousChainLastDigest"] = last->file;
    r["previousChainLastDigestSignature"] = last->signature;
    r["previousChainLastSequence"] = last->previous_last_sequence;
    d[kRestartField] = std::move(r);
  }
  ordered_json log_files = ordered_json::array();
  for (const LogFileEntry& e : entries) {
    ordered_json f;
    f["s3Bucket"] = options_.bucket;
    f["s3Object"] = SegmentObject(e.segment);
    f["hashValue"] = e.hash;
    f["hashAlgorithm"] = kHashAlgorithm;
    f["newestEventTime"] = TimeOrNull(e.newest);
    f["oldestEventTime"] = TimeOrNull(e.oldest);
    f["cofferFirstSequence"] = e.first;
    f["cofferLastSequence"] = e.last;
    f["cofferLastRecordHash"] = e.last_record_hash;
    log_files.push_back(std::move(f));
  }
  d["logFiles"] = std::move(log_files);
  const std::string bytes = d.dump();
  const std::string hash = HashHex(bytes);
  ASSIGN_OR_RETURN(Bytes signature,
                   key_->SignSha256(AsBytes(StringToSign(end_time, options_.bucket, object, hash,
                                                         linked ? last->signature : ""))));
  const std::string signature_hex = HexEncode(signature);

  RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name + std::string(kSigSuffix), signature_hex,
                                      kDigestFileMode));
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/" + name, bytes, kDigestFileMode));

  LastDigest next;
  next.file = name;
  next.object = object;
  next.bucket = options_.bucket;
  next.end_time = end_time;
  next.signature = signature_hex;
  next.hash = hash;
  next.last_sequence = last ? last->last_sequence : 0;
  next.last_record_hash = last ? last->last_record_hash : "";
  if (!entries.empty()) {
    next.last_sequence = entries.back().last;
    next.last_record_hash = entries.back().last_record_hash;
  }
  RETURN_IF_ERROR(SaveLast(store_, next));

  DigestInfo info;
  info.file = name;
  info.s3_object = object;
  info.start_time = *ParseIso8601(start_time);
  info.end_time = now;
  info.records = records;
  info.first_sequence = entries.empty() ? 0 : entries.front().first;
  info.last_sequence = next.last_sequence;
  info.signature = signature_hex;
  info.fingerprint = keys_.back().fingerprint;
  if (restart) info.chain_restart_after = last->last_sequence;
  return std::optional<DigestInfo>(std::move(info));
}

// ---------------------------------------------------------------------------
// Verification

std::string DigestProblem::ToString() const {
  std::string out;
  if (!digest.empty()) out += "digest " + digest + ": ";
  if (journal) {
    out += "audit journal " + journal->ToString();
    if (!what.empty()) out += " (" + what + ")";
    return out;
  }
  if (sequence != 0) out += "record " + std::to_string(sequence) + ": ";
  out += what;
  return out;
}

namespace {

// Checks a digest's signature with the key its fingerprint names, valid at its
// end time; the problem, or empty when it verifies.
std::string SignatureProblem(const ParsedDigest& d, const std::string& bytes,
                             const Bytes& signature, const std::vector<DigestPublicKey>& keys) {
  const DigestPublicKey* key = nullptr;
  for (const DigestPublicKey& k : keys) {
    if (k.fingerprint == d.fingerprint) key = &k;
  }
  if (key == nullptr) return "public key " + d.fingerprint + " not found in public-keys.json";
  TimePoint end = *ParseIso8601(d.end_time);
  if (end < key->validity_start || (key->validity_end && end > *key->validity_end)) {
    return "public key " + d.fingerprint + " not valid at " + d.end_time;
  }
  Result<std::unique_ptr<crypto::RsaPublicKey>> public_key =
      crypto::RsaPublicKey::FromDer(key->der);
  if (!public_key.ok()) {
    return "public key " + d.fingerprint + ": " + public_key.status().message();
  }
  std::string to_sign =
      StringToSign(d.end_time, d.bucket, d.object, HashHex(bytes), d.previous_signature);
  if (!public_key.value()->VerifySha256(AsBytes(to_sign), signature)) {
    return "signature verification failed";
  }
  return "";
}

// VerifyDigests with the public keys given, or those of public-keys.json.
Result<DigestVerifyReport> VerifyDigestsWith(const std::string& data_dir,
                                             std::optional<std::vector<DigestPublicKey>> given) {
  DigestVerifyReport report;
  const std::string dir = DigestDirectory(data_dir);
  const std::string journal_dir = JournalDirectory(data_dir);
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDigests(dir));

  auto fail = [&](std::string digest, uint64_t sequence, std::string what) {
    report.problem = DigestProblem{std::move(digest), sequence, std::nullopt, std::move(what)};
    return report;
  };

  std::vector<DigestPublicKey> keys;
  if (given) {
    keys = std::move(*given);
  } else if (!names.empty()) {
    Result<std::vector<DigestPublicKey>> loaded = LoadDigestPublicKeys(data_dir);
    if (!loaded.ok()) return fail(names.front(), 0, loaded.status().message());
    keys = std::move(loaded).value();
  }

  // Where later chains start: the records of an earlier chain past a later start
  // were lost, so only those up to it are compared (cap[i], for digest i). Only
  // a signed start counts, so that a planted file cannot hide an earlier problem.
  std::vector<uint64_t> cap(names.size(), UINT64_MAX);
  for (size_t i = names.size(); i-- > 1;) {
    cap[i - 1] = cap[i];
    Result<std::string> bytes = ReadWholeFile(dir + "/" + names[i]);
    Result<std::string> sig = ReadWholeFile(dir + "/" + names[i] + std::string(kSigSuffix));
    if (!bytes.ok() || !sig.ok()) continue;  // reported in order below
    Result<ParsedDigest> parsed = ParseDigest(*bytes);
    Result<Bytes> signature = HexDecode(*sig);
    if (parsed.ok() && parsed->restart && signature.ok() &&
        SignatureProblem(*parsed, *bytes, *signature, keys).empty()) {
      cap[i - 1] = std::min(cap[i - 1], parsed->restart->after_sequence);
    }
  }

  std::unique_ptr<JournalReader> reader;
  std::error_code ec;
  if (std::filesystem::exists(journal_dir, ec)) {
    ASSIGN_OR_RETURN(reader, JournalReader::Open(journal_dir, 1));
  }
  uint64_t read_through = 0;  // the last record read from the journal (and verified)
  RecordHash read_hash{};     // its hash
  // Reads the next record, which must be read_through + 1; a problem is reported
  // for `digest`.
  auto read_next = [&](const std::string& digest, JournalRecord* record) -> Result<bool> {
    if (reader == nullptr) {
      fail(digest, read_through + 1, "the journal is missing (" + journal_dir + ")");
      return false;
    }
    ASSIGN_OR_RETURN(bool more, reader->Next(record));
    if (!more) {
      const auto& problem = reader->problem();
      if (problem) {
        report.problem = DigestProblem{
            digest, problem->sequence, *problem,
            problem->kind == JournalProblem::Kind::kTornTail ? "a signed record is cut short" : ""};
      } else {
        fail(digest, read_through + 1,
             "missing from the journal (it ends at record " + std::to_string(read_through) + ")");
      }
      return false;
    }
    return true;
  };

  struct Previous {
    std::string file, bucket, object, hash, signature, end_time;
  };
  std::optional<Previous> previous;
  uint64_t chain_next = 1;  // the record the chain's next logFiles entry must start at
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(dir + "/" + name));
    std::string sig_path = dir + "/" + name + std::string(kSigSuffix);
    if (!std::filesystem::exists(sig_path, ec)) return fail(name, 0, "signature file missing");
    ASSIGN_OR_RETURN(std::string sig, ReadWholeFile(sig_path));
    Result<Bytes> signature = HexDecode(sig);
    if (!signature.ok() || signature->empty()) return fail(name, 0, "signature is not hex");
    Result<ParsedDigest> parsed = ParseDigest(bytes);
    if (!parsed.ok()) return fail(name, 0, parsed.status().message());
    const ParsedDigest& d = *parsed;
    if (FileOfObject(d.object) != name) {
      return fail(
          name, 0,
          "digestS3Object names " + FileOfObject(d.object) + ": the digest was moved or swapped");
    }
    if (std::string problem = SignatureProblem(d, bytes, *signature, keys); !problem.empty()) {
      return fail(name, 0, std::move(problem));
    }
    const TimePoint end = *ParseIso8601(d.end_time);
    // The chain.
    if (!previous) {
      if (d.has_previous) {
        return fail(name, 0, "previous digest " + FileOfObject(d.previous_object) + " is missing");
      }
      if (d.restart) {
        return fail(
            name, 0,
            "starts a new chain after digest " + d.restart->previous_digest + ", which is missing");
      }
    } else if (!d.has_previous) {
      if (!d.restart) return fail(name, 0, "starts a new chain after digest " + previous->file);
      const ParsedDigest::Restart& r = *d.restart;
      if (r.previous_digest != previous->file) {
        return fail(
            name, 0,
            r.previous_digest > previous->file
                ? "starts a new chain after digest " + r.previous_digest + ", which is missing"
                : "starts a new chain after digest " + r.previous_digest +
                      ", but the digest before it is " + previous->file);
      }
      if (r.previous_signature != previous->signature) {
        return fail(name, 0,
                    "its previous chain's last signature does not match digest " + previous->file);
      }
      if (r.previous_last_sequence != chain_next - 1) {
        return fail(name, 0,
                    "says the previous chain signed up to record " +
                        std::to_string(r.previous_last_sequence) + ", but it signed up to record " +
                        std::to_string(chain_next - 1));
      }
      if (r.after_sequence <= cap[i]) {
        // The records before the new chain are those the previous one left.
        if (read_through != r.after_sequence) {
          return fail(name, r.after_sequence,
                      "the new chain starts after it, but the previous chain's records verify up "
                      "to record " +
                          std::to_string(read_through));
        }
        if (r.after_sequence > 0 && r.after_record_hash != HexEncode(read_hash)) {
          return fail(name, r.after_sequence,
                      "its hash does not match the new chain's afterRecordHash (the record was "
                      "changed)");
        }
      }
      report.chain_starts.push_back({name, r.after_sequence, r.previous_last_sequence});
      chain_next = r.after_sequence + 1;
    } else {
      if (d.restart) {
        return fail(name, 0,
                    "invalid format: cofferChainRestart in a digest that continues a chain");
      }
      if (d.previous_bucket != previous->bucket || d.previous_object != previous->object) {
        std::string wanted = FileOfObject(d.previous_object);
        return fail(name, 0,
                    wanted > previous->file
                        ? "previous digest " + wanted + " is missing"
                        : "names previous digest " + wanted + ", but the digest before it is " +
                              previous->file);
      }
      if (d.previous_hash != previous->hash) {
        return fail(name, 0, "previousDigestHashValue does not match digest " + previous->file);
      }
      if (d.previous_signature != previous->signature) {
        return fail(name, 0, "previousDigestSignature does not match digest " + previous->file);
      }
      if (d.start_time != previous->end_time) {
        return fail(name, 0,
                    "digestStartTime " + d.start_time + " is not the previous digest's end " +
                        previous->end_time);
      }
    }
    // The records it covers.
    uint64_t covered = 0;
    std::string newest, oldest;
    for (const LogFileEntry& entry : d.log_files) {
      if (entry.first != chain_next) {
        return fail(name, chain_next,
                    "logFiles entry for " + entry.segment + " starts at record " +
                        std::to_string(entry.first) + ", not at the next record " +
                        std::to_string(chain_next));
      }
      chain_next = entry.last + 1;
      if (entry.first > cap[i]) {
        // A later chain starts before these: they are no longer in the journal.
        report.lost_records += entry.last - entry.first + 1;
      } else if (entry.last > cap[i]) {
        return fail(name, entry.first,
                    "a later chain starts after record " + std::to_string(cap[i]) +
                        ", inside the logFiles entry for records " + std::to_string(entry.first) +
                        " to " + std::to_string(entry.last) + " of " + entry.segment);
      } else {
        LogFileBuilder builder(entry.segment);
        while (read_through < entry.last) {
          JournalRecord record;
          ASSIGN_OR_RETURN(bool more, read_next(name, &record));
          if (!more) return report;
          if (record.segment != entry.segment) {
            return fail(name, record.sequence,
                        "is in segment " + record.segment + ", the digest says " + entry.segment);
          }
          builder.Add(record);
          read_through = record.sequence;
          read_hash = record.hash;
          ++covered;
        }
        LogFileEntry got = builder.Finish();
        // The payloads first: a changed one may be any record of the entry, and
        // the entry's hash cannot tell which. Then the last record as encoded.
        if (got.hash != entry.hash) {
          return fail(name, entry.first,
                      "records " + std::to_string(entry.first) + " to " +
                          std::to_string(entry.last) + " of " + entry.segment +
                          " do not match the digest's hashValue (a record was changed)");
        }
        if (got.last_record_hash != entry.last_record_hash) {
          return fail(name, entry.last,
                      "its hash does not match the digest's cofferLastRecordHash (the record was "
                      "changed)");
        }
        if (got.newest != entry.newest || got.oldest != entry.oldest) {
          return fail(name, entry.first,
                      "the event times of records " + std::to_string(entry.first) + " to " +
                          std::to_string(entry.last) + " do not match the digest's");
        }
        report.verified_through = entry.last;
      }
      if (!entry.newest.empty() && (newest.empty() || entry.newest > newest)) newest = entry.newest;
      if (!entry.oldest.empty() && (oldest.empty() || entry.oldest < oldest)) oldest = entry.oldest;
    }
    if (newest != d.newest || oldest != d.oldest) {
      return fail(name, 0, "newestEventTime/oldestEventTime do not match its logFiles");
    }
    report.digests++;
    report.records += covered;
    report.last_sequence = read_through;
    report.last_digest = name;
    report.last_digest_end = end;
    previous = Previous{name, d.bucket, d.object, HashHex(bytes), sig, d.end_time};
  }
  // The records not signed yet.
  if (reader != nullptr) {
    while (true) {
      JournalRecord record;
      ASSIGN_OR_RETURN(bool more, reader->Next(&record));
      if (!more) break;
      report.unsigned_records++;
    }
    const auto& problem = reader->problem();
    if (problem) {
      if (problem->kind == JournalProblem::Kind::kTornTail) {
        report.torn_tail = true;
      } else {
        report.problem = DigestProblem{"", problem->sequence, *problem, ""};
      }
    }
  }
  return report;
}

}  // namespace

Result<DigestVerifyReport> VerifyDigests(const std::string& data_dir) {
  return VerifyDigestsWith(data_dir, std::nullopt);
}

// ---------------------------------------------------------------------------
// A new chain after signed records were lost

Result<bool> DigestChainRestartDue(const state::StateStore& store) {
  ASSIGN_OR_RETURN(std::optional<LastDigest> last, LoadLast(store));
  return last && last->restart;
}

Result<DigestChainRestart> RestartDigestChain(const std::string& data_dir, state::StateStore& store,
                                              const Clock& clock) {
  DigestChainRestart out;
  ASSIGN_OR_RETURN(std::optional<LastDigest> last, LoadLast(store));
  if (!last) {
    out.reason = "no audit digest was written yet";
    return out;
  }
  const std::string restart_time = FormatIso8601(FloorSeconds(clock.Now()));
  // A new chain already due is planned again: more may have been lost since, or
  // the lost segments put back.
  const LastDigest previous = PreviousChain(*last);
  const uint64_t previous_last = previous.last_sequence;
  // The keys and the last digest as the store knows them, not as files an
  // intruder could replace.
  ASSIGN_OR_RETURN(std::optional<std::string> keys_json, StoredKeysJson(store));
  if (!keys_json) return DataLossError("the state store holds no audit digest key");
  ASSIGN_OR_RETURN(std::vector<DigestPublicKey> keys, ParsePublicKeys(*keys_json));
  const std::string dir = DigestDirectory(data_dir);
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListDigests(dir));
  Result<std::string> newest = files.empty() ? Result<std::string>(NotFoundError("none"))
                                             : ReadWholeFile(dir + "/" + files.back());
  if (files.empty() || files.back() != last->file || !newest.ok() ||
      HashHex(*newest) != last->hash) {
    return FailedPreconditionError(
        "the newest digest in " + dir + " is not " + last->file +
        " as the state store recorded it; run `coffer audit verify`, and start the server "
        "without --restart-digest-chain once, so that it adopts or refuses a newer one");
  }
  const std::string journal_dir = JournalDirectory(data_dir);
  ASSIGN_OR_RETURN(VerifyReport journal, VerifyJournal(journal_dir));
  if (journal.damaged()) {
    return FailedPreconditionError("the audit journal is damaged (" + journal.problem->ToString() +
                                   "): recover it first (`coffer audit verify` says how)");
  }
  ASSIGN_OR_RETURN(DigestVerifyReport digests, VerifyDigestsWith(data_dir, keys));
  if (digests.ok()) {
    out.reason = "every digest verifies against the journal, so the chain goes on";
    if (last->restart) {
      RETURN_IF_ERROR(SaveLast(store, previous));
      out.reason += " (the new chain that was due is no longer needed)";
    }
    return out;
  }
  const DigestProblem& problem = *digests.problem;
  const uint64_t after = digests.verified_through;
  if (problem.sequence == 0 || problem.digest.empty() || after > previous_last) {
    return FailedPreconditionError("the digests themselves do not verify (" + problem.ToString() +
                                   "), which a new chain would not mend");
  }
  // Record `after` anchors the new chain. The records after it that take the
  // place of signed ones must have been written after the recovery: after every
  // digest of the previous chain, and not after now. An older one is a signed
  // record that was changed, or the rest of a cut segment. (Segment names are
  // sequence numbers, which a recovered journal reuses, so they cannot tell. Whoever
  // rewrites the journal can set the times too; the loss still shows in every
  // verification.)
  std::string after_hash;
  if (after > 0) {
    ASSIGN_OR_RETURN(std::optional<std::string> hash, RecordHashAt(journal_dir, after));
    if (!hash) {
      return FailedPreconditionError("audit journal record " + std::to_string(after) +
                                     " cannot be read back");
    }
    after_hash = std::move(*hash);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<JournalReader> reader,
                   JournalReader::Open(journal_dir, after + 1));
  JournalRecord record;
  while (true) {
    ASSIGN_OR_RETURN(bool more, reader->Next(&record));
    if (!more || record.sequence > previous_last) break;
    const std::string time = EventTime(record.payload);
    if (!time.empty() && time >= last->end_time && time <= restart_time) continue;
    return FailedPreconditionError(
        "audit journal record " + std::to_string(record.sequence) + " (eventTime " +
        (time.empty() ? std::string("none") : time) + ") takes the place of a record digest " +
        last->file + " or an earlier one signed, but was not written after it and before now: " +
        "a signed record was changed, or the rest of a cut segment. Put the signed segments back "
        "from a copy, or move " +
        record.segment +
        " and every later segment out of the journal (keep them as evidence) and start again. "
        "(If the clock was set back since that digest, the times cannot tell.)");
  }
  // A torn tail among the records the old chain signed is cut at the next start
  // once the new chain is due: its bytes are kept beside the segment first.
  if (journal.problem && journal.problem->sequence <= previous_last) {
    const JournalProblem& torn = *journal.problem;
    const std::string path = journal_dir + "/" + torn.segment;
    ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
    if (torn.offset > bytes.size()) return DataLossError(path + " changed while it was read");
    std::string stamp = restart_time;
    std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
    const std::string kept = path + ".torn-" + std::to_string(torn.sequence) + "-" + stamp;
    RETURN_IF_ERROR(WriteFileAtomically(kept, bytes.substr(torn.offset), kDigestFileMode));
    out.kept_torn_tail = kept;
  }

  if (last->restart && last->last_sequence == after && last->last_record_hash == after_hash) {
    out.restarted = true;
    out.after_sequence = after;
    out.previous_last_sequence = previous_last;
    out.previous_last_digest = last->file;
    out.reason = "a new digest chain after record " + std::to_string(after) + " is already due";
    return out;
  }
  LastDigest marker = previous;
  marker.restart = true;
  marker.restart_time = restart_time;
  marker.previous_last_sequence = previous_last;
  marker.previous_last_record_hash = previous.last_record_hash;
  marker.last_sequence = after;
  marker.last_record_hash = after_hash;
  RETURN_IF_ERROR(SaveLast(store, marker));
  out.restarted = true;
  out.after_sequence = after;
  out.previous_last_sequence = previous_last;
  out.previous_last_digest = last->file;
  out.reason = problem.ToString();
  return out;
}

}  // namespace coffer::audit
