#include "audit/digest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audit/journal.h"
#include "common/random.h"
#include "crypto/crc32c.h"
#include "crypto/hash.h"
#include "crypto/rsa.h"
#include "state/root_key.h"
#include "state/sqlite_state_store.h"
#include "testing/files.h"

namespace coffer::audit {
namespace {

using ::coffer::crypto::Crc32c;
using ::coffer::testing::FileMode;
using ::coffer::testing::ReadFile;
using ::coffer::testing::TempDir;
using ::coffer::testing::WriteFile;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr std::string_view kAccount = "111122223333";
constexpr std::string_view kRegion = "us-east-1";
// 2025-11-30T10:00:00Z.
const TimePoint kStart = FromEpochMillis(1'764'496'800'000);
// Two records of Payload() fit (24 + 2 × 138 bytes), a third does not.
constexpr uint64_t kTwoRecordSegments = 400;

std::string Digests(const std::string& data_dir) { return DigestDirectory(data_dir); }

std::string Payload(uint64_t n, TimePoint t) {
  return R"({"eventVersion":"1.08","eventTime":")" + FormatIso8601(t) +
         R"(","eventName":"Encrypt","n":)" + std::to_string(n) + "}";
}

// Flips bit 0 of byte `offset` of `path`.
void FlipByte(const std::string& path, size_t offset) {
  std::string data = ReadFile(path);
  ASSERT_LT(offset, data.size()) << path;
  data[offset] ^= 0x01;
  WriteFile(path, data, FileMode(path));
}

void CopyTree(const std::string& from, const std::string& to) {
  std::filesystem::copy(
      from, to,
      std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing);
}

// Where record `sequence` is.
JournalRecord FindRecord(const std::string& data_dir, uint64_t sequence) {
  auto reader = JournalReader::Open(JournalDirectory(data_dir));
  EXPECT_TRUE(reader.ok());
  JournalRecord record;
  while (true) {
    auto more = reader.value()->Next(&record);
    EXPECT_TRUE(more.ok());
    if (!more.ok() || !*more) break;
    if (record.sequence == sequence) return record;
  }
  ADD_FAILURE() << "no record " << sequence;
  return record;
}

class DigestTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }
  void TearDown() override {
    signer_.reset();
    if (journal_) journal_->Close();
  }

  void OpenStore() {
    vault_.reset();
    store_.reset();
    auto store = state::SqliteStateStore::Open(dir_.File("state.db"));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    provider_ = std::make_unique<state::KeyFileRootKeyProvider>(dir_.File("root.key"), random_);
    auto vault = state::Vault::Open(*store_, *provider_, random_);
    ASSERT_TRUE(vault.ok()) << vault.status().ToString();
    vault_ = std::move(vault).value();
  }

  DigestOptions Options() {
    DigestOptions options;
    options.account_id = std::string(kAccount);
    options.region = std::string(kRegion);
    return options;
  }

  DigestSigner& Signer(DigestOptions options) {
    signer_.reset();
    auto signer = DigestSigner::Create(dir_.path(), *store_, *vault_, clock_, std::move(options));
    EXPECT_TRUE(signer.ok()) << signer.status().ToString();
    signer_ = std::move(signer).value();
    return *signer_;
  }
  DigestSigner& Signer() { return Signer(Options()); }

  void OpenJournal(uint64_t segment_size = journal_format::kDefaultSegmentSize) {
    JournalOptions options;
    options.sync = false;
    options.segment_size = segment_size;
    auto journal = Journal::Open(JournalDirectory(dir_.path()), options);
    ASSERT_TRUE(journal.ok()) << journal.status().ToString();
    journal_ = std::move(journal).value();
  }

  // Appends `n` records, one second apart; returns their payloads.
  std::vector<std::string> Append(int n) {
    if (!journal_) OpenJournal();
    std::vector<std::string> payloads;
    for (int i = 0; i < n; ++i) {
      clock_.Advance(std::chrono::seconds(1));
      std::string payload = Payload(++appended_, clock_.Now());
      auto sequence = journal_->AppendAndWait(payload);
      EXPECT_TRUE(sequence.ok()) << sequence.status().ToString();
      EXPECT_EQ(sequence.ok() ? *sequence : 0, appended_);
      payloads.push_back(payload);
      payloads_.push_back(payload);
    }
    return payloads;
  }

  // Advances the clock by a period and writes a digest.
  DigestInfo Write() {
    clock_.Advance(std::chrono::hours(1));
    auto info = signer_->WriteDigest();
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_TRUE(info.ok() && info->has_value());
    return info.ok() && info->has_value() ? **info : DigestInfo{};
  }

  DigestVerifyReport Verify(const std::string& data_dir) {
    auto report = VerifyDigests(data_dir);
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : DigestVerifyReport{};
  }

  // Four digests over 2, 3, 0 and 2 records (sequences 1-2, 3-5, none, 6-7).
  std::vector<DigestInfo> FourDigests() {
    Signer();
    std::vector<DigestInfo> infos;
    Append(2);
    infos.push_back(Write());
    Append(3);
    infos.push_back(Write());
    infos.push_back(Write());
    Append(2);
    infos.push_back(Write());
    journal_->Close();
    journal_.reset();
    return infos;
  }

  // Three digests over records 1-2, 3-5 and 6-7, two records a segment
  // (segments 1, 3, 5 and 7).
  std::vector<DigestInfo> ThreeDigestsOverSmallSegments() {
    Signer();
    OpenJournal(kTwoRecordSegments);
    std::vector<DigestInfo> infos;
    Append(2);
    infos.push_back(Write());
    Append(3);
    infos.push_back(Write());
    Append(2);
    infos.push_back(Write());
    return infos;
  }

  // The recovery after damage (audit-journal.md): the segments from the one
  // holding record `from` on are moved out of the journal, which goes on from
  // the record before; then `n` new records are appended.
  void LoseRecordsFrom(uint64_t from, int n) {
    journal_->Close();
    journal_.reset();
    const std::string journal = JournalDirectory(dir_.path());
    for (const auto& entry : std::filesystem::directory_iterator(journal)) {
      const std::string name = entry.path().filename().string();
      if (name.size() != 24 || !name.ends_with(".journal")) continue;
      if (std::stoull(name.substr(0, 16)) < from) continue;
      std::filesystem::rename(entry.path(),
                              moved_.path() + "/" + name + "." + std::to_string(++moves_));
    }
    OpenJournal(kTwoRecordSegments);
    appended_ = from - 1;
    Append(n);
  }

  DigestChainRestart Restart() {
    auto restart = RestartDigestChain(dir_.path(), *store_, clock_);
    EXPECT_TRUE(restart.ok()) << restart.status().ToString();
    return restart.ok() ? *restart : DigestChainRestart{};
  }

  // The signer's record of its last digest in the store, and putting one back
  // (as if the process died after writing a digest's files, before the store).
  std::optional<std::string> StoredLast() {
    std::optional<std::string> last;
    EXPECT_TRUE(store_
                    ->View([&](const state::ReadTransaction& tx) -> Status {
                      ASSIGN_OR_RETURN(last, tx.Get("audit.digest", "last"));
                      return Status::Ok();
                    })
                    .ok());
    return last;
  }
  void RestoreLast(const std::string& last) {
    EXPECT_TRUE(store_
                    ->Update([&](state::Transaction& tx) -> Status {
                      return tx.Put("audit.digest", "last", last);
                    })
                    .ok());
  }

  void PlanANewChainThenPutTheSegmentsBack() {
    ThreeDigestsOverSmallSegments();
    journal_->Close();
    journal_.reset();
    const std::string journal = JournalDirectory(dir_.path());
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(journal)) {
      const std::string name = entry.path().filename().string();
      if (name.ends_with(".journal") && name >= SegmentFileName(3)) names.push_back(name);
    }
    for (const std::string& name : names) {
      std::filesystem::rename(journal + "/" + name, moved_.path() + "/" + name);
    }
    ASSERT_EQ(Restart().after_sequence, 2u);
    EXPECT_EQ(LastSigned(), 2u);
    for (const std::string& name : names) {
      std::filesystem::rename(moved_.path() + "/" + name, journal + "/" + name);
    }
  }
  void ExpectThePreviousChainGoesOn() {
    OpenJournal(kTwoRecordSegments);
    Append(1);
    DigestInfo next = Write();
    EXPECT_FALSE(next.chain_restart_after.has_value());
    EXPECT_EQ(next.first_sequence, 8u);
    EXPECT_EQ(LastSigned(), 8u);
    DigestVerifyReport report = Verify(dir_.path());
    EXPECT_TRUE(report.ok()) << report.problem->ToString();
    EXPECT_TRUE(report.chain_starts.empty());
  }

  uint64_t LastSigned() {
    auto last = LastSignedSequence(*store_);
    EXPECT_TRUE(last.ok()) << last.status().ToString();
    return last.ok() ? *last : 0;
  }

  // A copy of the data directory to damage.
  std::string Copy() {
    copies_.push_back(std::make_unique<TempDir>());
    CopyTree(dir_.path(), copies_.back()->path());
    return copies_.back()->path();
  }

  TempDir dir_;
  SeededRandom random_{7};
  FakeClock clock_{kStart};
  std::unique_ptr<state::SqliteStateStore> store_;
  std::unique_ptr<state::KeyFileRootKeyProvider> provider_;
  std::unique_ptr<state::Vault> vault_;
  std::unique_ptr<DigestSigner> signer_;
  std::unique_ptr<Journal> journal_;
  uint64_t appended_ = 0;
  std::vector<std::string> payloads_;
  std::vector<std::unique_ptr<TempDir>> copies_;
  TempDir moved_;  // segments moved out of the journal
  int moves_ = 0;
};

TEST_F(DigestTest, RoundTripAcrossSeveralDigests) {
  DigestSigner& signer = Signer();
  EXPECT_EQ(signer.period(), std::chrono::hours(1));
  EXPECT_EQ(LastSignedSequence(*store_).value(), 0u);
  std::vector<std::string> first = Append(3);
  DigestInfo d1 = Write();
  EXPECT_EQ(LastSignedSequence(*store_).value(), 3u);
  EXPECT_EQ(d1.records, 3u);
  EXPECT_EQ(d1.first_sequence, 1u);
  EXPECT_EQ(d1.last_sequence, 3u);
  EXPECT_EQ(d1.start_time, kStart);
  EXPECT_EQ(d1.file, "111122223333_CloudTrail-Digest_us-east-1_coffer_us-east-1_" +
                         FormatAmzDate(d1.end_time) + ".json");
  EXPECT_EQ(d1.s3_object,
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2025/11/30/" + d1.file + ".gz");
  DigestInfo d2 = Write();  // an hour without records
  EXPECT_EQ(d2.records, 0u);
  EXPECT_EQ(d2.first_sequence, 0u);
  EXPECT_EQ(d2.last_sequence, 3u);
  EXPECT_EQ(d2.start_time, d1.end_time);
  Append(2);
  DigestInfo d3 = Write();
  EXPECT_EQ(d3.first_sequence, 4u);
  EXPECT_EQ(d3.last_sequence, 5u);
  EXPECT_EQ(LastSignedSequence(*store_).value(), 5u);

  // The files: digest and signature, 0600; the public keys in clear.
  const std::string dir = Digests(dir_.path());
  for (const DigestInfo& d : {d1, d2, d3}) {
    EXPECT_EQ(FileMode(dir + "/" + d.file), 0600u) << d.file;
    EXPECT_EQ(ReadFile(dir + "/" + d.file + ".sig"), d.signature);
    EXPECT_EQ(d.fingerprint, signer.current_fingerprint());
  }
  EXPECT_EQ(FileMode(dir), 0700u);

  // The first digest, field by field, and its signature checked independently
  // of VerifyDigests: CloudTrail's string to sign, SHA256withRSA.
  std::string bytes1 = ReadFile(dir + "/" + d1.file);
  json j1 = json::parse(bytes1);
  EXPECT_EQ(j1["awsAccountId"], kAccount);
  EXPECT_EQ(j1["digestStartTime"], FormatIso8601(kStart));
  EXPECT_EQ(j1["digestEndTime"], FormatIso8601(d1.end_time));
  EXPECT_EQ(j1["digestS3Bucket"], "coffer-audit");
  EXPECT_EQ(j1["digestS3Object"], d1.s3_object);
  EXPECT_EQ(j1["digestSignatureAlgorithm"], "SHA256withRSA");
  EXPECT_EQ(j1["digestPublicKeyFingerprint"], signer.current_fingerprint());
  EXPECT_TRUE(j1["previousDigestSignature"].is_null());
  EXPECT_TRUE(j1["previousDigestS3Object"].is_null());
  EXPECT_TRUE(j1["previousDigestHashValue"].is_null());
  EXPECT_EQ(j1["oldestEventTime"], FormatIso8601(kStart + std::chrono::seconds(1)));
  EXPECT_EQ(j1["newestEventTime"], FormatIso8601(kStart + std::chrono::seconds(3)));
  ASSERT_EQ(j1["logFiles"].size(), 1u);
  const json& log = j1["logFiles"][0];
  EXPECT_EQ(log["s3Object"], "audit/0000000000000001.journal");
  EXPECT_EQ(log["hashAlgorithm"], "SHA-256");
  std::string log_file = "{\"Records\":[" + first[0] + "," + first[1] + "," + first[2] + "]}";
  EXPECT_EQ(log["hashValue"], HexEncode(crypto::Sha256(AsBytes(log_file))));
  EXPECT_EQ(log["cofferFirstSequence"], 1);
  EXPECT_EQ(log["cofferLastSequence"], 3);
  EXPECT_EQ(log["cofferLastRecordHash"], HexEncode(FindRecord(dir_.path(), 3).hash));

  std::vector<DigestPublicKey> keys = signer.PublicKeys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].validity_start, kStart);
  EXPECT_FALSE(keys[0].validity_end.has_value());
  auto public_key = crypto::RsaPublicKey::FromDer(keys[0].der);
  ASSERT_TRUE(public_key.ok());
  EXPECT_EQ(public_key.value()->Fingerprint(), keys[0].fingerprint);
  auto to_sign = [&](const json& j, const std::string& bytes) {
    return j["digestEndTime"].get<std::string>() + "\n" + j["digestS3Bucket"].get<std::string>() +
           "/" + j["digestS3Object"].get<std::string>() + "\n" +
           HexEncode(crypto::Sha256(AsBytes(bytes))) + "\n" +
           (j["previousDigestSignature"].is_null()
                ? std::string("null")
                : j["previousDigestSignature"].get<std::string>());
  };
  EXPECT_TRUE(
      public_key.value()->VerifySha256(AsBytes(to_sign(j1, bytes1)), *HexDecode(d1.signature)));

  std::string bytes2 = ReadFile(dir + "/" + d2.file);
  json j2 = json::parse(bytes2);
  EXPECT_EQ(j2["previousDigestSignature"], d1.signature);
  EXPECT_EQ(j2["previousDigestS3Object"], d1.s3_object);
  EXPECT_EQ(j2["previousDigestS3Bucket"], "coffer-audit");
  EXPECT_EQ(j2["previousDigestHashAlgorithm"], "SHA-256");
  EXPECT_EQ(j2["previousDigestHashValue"], HexEncode(crypto::Sha256(AsBytes(bytes1))));
  EXPECT_TRUE(j2["logFiles"].empty());
  EXPECT_TRUE(j2["newestEventTime"].is_null());
  EXPECT_TRUE(
      public_key.value()->VerifySha256(AsBytes(to_sign(j2, bytes2)), *HexDecode(d2.signature)));

  // public-keys.json has ListPublicKeys' shape.
  json listed = json::parse(ReadFile(dir + "/public-keys.json"));
  ASSERT_EQ(listed["PublicKeyList"].size(), 1u);
  EXPECT_EQ(listed["PublicKeyList"][0]["Fingerprint"], keys[0].fingerprint);
  EXPECT_EQ(listed["PublicKeyList"][0]["Value"], Base64Encode(keys[0].der));
  auto loaded = LoadDigestPublicKeys(dir_.path());
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].der, keys[0].der);

  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 3u);
  EXPECT_EQ(report.records, 5u);
  EXPECT_EQ(report.last_sequence, 5u);
  EXPECT_EQ(report.last_digest, d3.file);
  EXPECT_EQ(report.last_digest_end, d3.end_time);
  EXPECT_EQ(report.unsigned_records, 0u);

  // Records after the last digest are reported as not yet signed.
  Append(2);
  report = Verify(dir_.path());
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.unsigned_records, 2u);
}

TEST_F(DigestTest, NoSecondDigestWithinTheSameSecond) {
  Signer();
  Append(1);
  DigestInfo d1 = Write();
  clock_.Advance(std::chrono::milliseconds(999));
  auto again = signer_->WriteDigest();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE(again->has_value());
  clock_.Advance(std::chrono::milliseconds(1));
  again = signer_->WriteDigest();
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ((*again)->end_time, d1.end_time + std::chrono::seconds(1));
  EXPECT_TRUE(Verify(dir_.path()).ok());
}

TEST_F(DigestTest, DigestSpansSegments) {
  Signer();
  OpenJournal(/*segment_size=*/300);  // about two records per segment
  Append(5);
  DigestInfo d1 = Write();
  EXPECT_EQ(d1.records, 5u);
  json j = json::parse(ReadFile(Digests(dir_.path()) + "/" + d1.file));
  ASSERT_GE(j["logFiles"].size(), 2u);
  uint64_t next = 1;
  for (const json& entry : j["logFiles"]) {
    EXPECT_EQ(entry["cofferFirstSequence"], next);
    EXPECT_EQ(entry["s3Object"], "audit/" + SegmentFileName(next));
    next = entry["cofferLastSequence"].get<uint64_t>() + 1;
  }
  EXPECT_EQ(next, 6u);
  Append(3);
  Write();
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.records, 8u);
}

TEST_F(DigestTest, SignsOnlyDurableRecords) {
  uint64_t durable = 2;
  DigestOptions options = Options();
  options.durable_sequence = [&durable] { return durable; };
  Signer(std::move(options));
  Append(3);
  DigestInfo d1 = Write();
  EXPECT_EQ(d1.last_sequence, 2u);
  durable = 3;
  DigestInfo d2 = Write();
  EXPECT_EQ(d2.first_sequence, 3u);
  EXPECT_EQ(d2.last_sequence, 3u);
  // A durable sequence the journal does not reach is refused.
  durable = 9;
  clock_.Advance(std::chrono::hours(1));
  auto refused = signer_->WriteDigest();
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_TRUE(Verify(dir_.path()).ok());
}

TEST_F(DigestTest, DetectsAChangedDigest) {
  std::vector<DigestInfo> d = FourDigests();
  ASSERT_TRUE(Verify(dir_.path()).ok());
  // One hex digit of the previous-digest hash inside digest 2: still valid JSON.
  std::string copy = Copy();
  std::string path = Digests(copy) + "/" + d[1].file;
  std::string bytes = ReadFile(path);
  size_t pos = bytes.find("\"previousDigestHashValue\":\"");
  ASSERT_NE(pos, std::string::npos);
  pos += std::string("\"previousDigestHashValue\":\"").size() + 5;
  bytes[pos] = bytes[pos] == '0' ? '1' : '0';
  WriteFile(path, bytes);
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[1].file);
  EXPECT_EQ(report.problem->what, "signature verification failed");
  EXPECT_EQ(report.digests, 1u);

  // Any byte flipped in the middle of digest 3 (valid JSON or not).
  copy = Copy();
  path = Digests(copy) + "/" + d[2].file;
  FlipByte(path, ReadFile(path).size() / 2);
  report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[2].file);
  EXPECT_EQ(report.digests, 2u);
}

TEST_F(DigestTest, DetectsAChangedSignature) {
  std::vector<DigestInfo> d = FourDigests();
  std::string copy = Copy();
  std::string path = Digests(copy) + "/" + d[2].file + ".sig";
  std::string sig = ReadFile(path);
  sig[10] = sig[10] == 'a' ? 'b' : 'a';
  WriteFile(path, sig);
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[2].file);
  EXPECT_EQ(report.problem->what, "signature verification failed");

  copy = Copy();
  std::filesystem::remove(Digests(copy) + "/" + d[0].file + ".sig");
  report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[0].file);
  EXPECT_EQ(report.problem->what, "signature file missing");
}

TEST_F(DigestTest, DetectsAChangedRecord) {
  std::vector<DigestInfo> d = FourDigests();
  // A flipped payload byte of record 4 (covered by digest 2): the journal's checks
  // name it.
  std::string copy = Copy();
  JournalRecord r4 = FindRecord(copy, 4);
  FlipByte(JournalDirectory(copy) + "/" + r4.segment,
           r4.offset + journal_format::kRecordHeaderSize + 3);
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[1].file);
  EXPECT_EQ(report.problem->sequence, 4u);
  ASSERT_TRUE(report.problem->journal.has_value());
  EXPECT_EQ(report.problem->journal->what, "checksum mismatch (payload)");
  EXPECT_EQ(report.digests, 1u);
  EXPECT_THAT(report.problem->ToString(), HasSubstr(d[1].file));
  EXPECT_THAT(report.problem->ToString(), HasSubstr("record 4"));

  // The last record rewritten with its checksums fixed: no later record's chain
  // link catches it, the digest does.
  copy = Copy();
  JournalRecord r7 = FindRecord(copy, 7);
  std::string segment_path = JournalDirectory(copy) + "/" + r7.segment;
  std::string data = ReadFile(segment_path);
  size_t payload = r7.offset + journal_format::kRecordHeaderSize;
  size_t n_pos = data.find("\"n\":7", payload);
  ASSERT_NE(n_pos, std::string::npos);
  data[n_pos + 4] = '8';
  std::string new_payload = data.substr(payload, r7.payload.size());
  uint8_t* header = reinterpret_cast<uint8_t*>(data.data() + r7.offset);
  uint32_t payload_check = Crc32c(AsBytes(new_payload));
  for (int i = 0; i < 4; ++i) header[4 + i] = static_cast<uint8_t>(payload_check >> (24 - 8 * i));
  uint32_t header_check = Crc32c(ByteView(header, journal_format::kRecordHeaderCheckOffset));
  for (int i = 0; i < 4; ++i) header[48 + i] = static_cast<uint8_t>(header_check >> (24 - 8 * i));
  WriteFile(segment_path, data);
  auto journal_report = VerifyJournal(JournalDirectory(copy));
  ASSERT_TRUE(journal_report.ok());
  EXPECT_TRUE(journal_report->ok());  // the journal alone sees nothing
  report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[3].file);
  // The digest's hash covers records 6 and 7 together: it names both.
  EXPECT_EQ(report.problem->sequence, 6u);
  EXPECT_FALSE(report.problem->journal.has_value());
  EXPECT_THAT(report.problem->what, HasSubstr("records 6 to 7 of " + r7.segment +
                                              " do not match the digest's hashValue"));
}

TEST_F(DigestTest, DetectsTruncatedSignedRecords) {
  std::vector<DigestInfo> d = FourDigests();
  std::string copy = Copy();
  JournalRecord r7 = FindRecord(copy, 7);
  std::filesystem::resize_file(JournalDirectory(copy) + "/" + r7.segment, r7.offset);
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[3].file);
  EXPECT_EQ(report.problem->sequence, 7u);
  EXPECT_THAT(report.problem->what, HasSubstr("missing from the journal"));
}

TEST_F(DigestTest, SignsNothingMoreOnceSignedRecordsAreReplaced) {
  std::vector<DigestInfo> d = FourDigests();
  // Records 6 and 7 (signed by the last digest) cut, and two others written in
  // their place: the journal is whole again, and ends where the digest did.
  JournalRecord r6 = FindRecord(dir_.path(), 6);
  std::filesystem::resize_file(JournalDirectory(dir_.path()) + "/" + r6.segment, r6.offset);
  appended_ = 5;
  Append(2);
  const auto before = std::filesystem::directory_iterator(DigestDirectory(dir_.path()));
  const size_t files = std::distance(begin(before), end(before));
  clock_.Advance(std::chrono::hours(1));
  auto refused = signer_->WriteDigest();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("record 7 is not the record the previous digest signed"));
  const auto after = std::filesystem::directory_iterator(DigestDirectory(dir_.path()));
  EXPECT_EQ(static_cast<size_t>(std::distance(begin(after), end(after))), files);
  DigestVerifyReport report = Verify(dir_.path());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[3].file);
}

TEST_F(DigestTest, DetectsADeletedDigest) {
  std::vector<DigestInfo> d = FourDigests();
  std::string copy = Copy();
  std::filesystem::remove(Digests(copy) + "/" + d[1].file);
  std::filesystem::remove(Digests(copy) + "/" + d[1].file + ".sig");
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[2].file);
  EXPECT_EQ(report.problem->what, "previous digest " + d[1].file + " is missing");

  copy = Copy();
  std::filesystem::remove(Digests(copy) + "/" + d[0].file);
  report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[1].file);
  EXPECT_EQ(report.problem->what, "previous digest " + d[0].file + " is missing");
  EXPECT_EQ(report.digests, 0u);
}

TEST_F(DigestTest, DetectsSwappedDigests) {
  std::vector<DigestInfo> d = FourDigests();
  std::string copy = Copy();
  std::string dir = Digests(copy);
  for (std::string suffix : {"", ".sig"}) {
    std::string a = ReadFile(dir + "/" + d[1].file + suffix);
    std::string b = ReadFile(dir + "/" + d[2].file + suffix);
    WriteFile(dir + "/" + d[1].file + suffix, b);
    WriteFile(dir + "/" + d[2].file + suffix, a);
  }
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[1].file);
  EXPECT_EQ(report.problem->what,
            "digestS3Object names " + d[2].file + ": the digest was moved or swapped");
}

TEST_F(DigestTest, NeedsThePublicKeys) {
  std::vector<DigestInfo> d = FourDigests();
  std::string copy = Copy();
  std::filesystem::remove(Digests(copy) + "/public-keys.json");
  DigestVerifyReport report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[0].file);
  EXPECT_THAT(report.problem->what, HasSubstr("not found"));

  // Another key in the file, under the right fingerprint's name, does not help.
  copy = Copy();
  auto other = crypto::RsaPrivateKey::Generate();
  ASSERT_TRUE(other.ok());
  std::string path = Digests(copy) + "/public-keys.json";
  json keys = json::parse(ReadFile(path));
  keys["PublicKeyList"][0]["Value"] = Base64Encode(other.value()->public_key().der());
  WriteFile(path, keys.dump());
  report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[0].file);
  EXPECT_THAT(report.problem->what, HasSubstr("is not the MD5"));
}

TEST_F(DigestTest, TheNextDigestWritesThePublicKeysBack) {
  Signer();
  Append(1);
  Write();
  const std::string path = Digests(dir_.path()) + "/public-keys.json";
  const std::string keys = ReadFile(path);
  std::filesystem::remove(path);
  Append(1);
  Write();
  EXPECT_EQ(ReadFile(path), keys);
  WriteFile(path, "{}");
  Write();
  EXPECT_EQ(ReadFile(path), keys);
  EXPECT_TRUE(Verify(dir_.path()).ok());
}

TEST_F(DigestTest, KeyRotation) {
  DigestSigner& signer = Signer();
  std::string old_fingerprint = signer.current_fingerprint();
  std::vector<DigestInfo> d;
  for (int i = 0; i < 3; ++i) {
    Append(1);
    d.push_back(Write());
  }
  clock_.Advance(std::chrono::minutes(5));
  TimePoint rotated = clock_.Now();
  ASSERT_TRUE(signer.RotateKey().ok());
  std::string new_fingerprint = signer.current_fingerprint();
  EXPECT_NE(new_fingerprint, old_fingerprint);
  for (int i = 0; i < 3; ++i) {
    Append(2);
    d.push_back(Write());
  }
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(d[i].fingerprint, i < 3 ? old_fingerprint : new_fingerprint) << i;
  }
  std::vector<DigestPublicKey> keys = signer.PublicKeys();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].fingerprint, old_fingerprint);
  EXPECT_EQ(keys[0].validity_end, rotated);
  EXPECT_EQ(keys[1].validity_start, rotated);
  EXPECT_FALSE(keys[1].validity_end.has_value());
  auto on_disk = LoadDigestPublicKeys(dir_.path());
  ASSERT_TRUE(on_disk.ok());
  ASSERT_EQ(on_disk->size(), 2u);
  EXPECT_EQ((*on_disk)[0].validity_end, rotated);

  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 6u);
  EXPECT_EQ(report.records, 9u);

  // A restart signs with the new key and continues the chain.
  signer_.reset();
  OpenStore();
  DigestSigner& restarted = Signer();
  EXPECT_EQ(restarted.current_fingerprint(), new_fingerprint);
  Append(1);
  DigestInfo d7 = Write();
  EXPECT_EQ(d7.fingerprint, new_fingerprint);
  json j7 = json::parse(ReadFile(Digests(dir_.path()) + "/" + d7.file));
  EXPECT_EQ(j7["previousDigestSignature"], d[5].signature);
  report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 7u);

  // The old key's validity cut short: the digests signed after its new end fail.
  std::string copy = Copy();
  std::string path = Digests(copy) + "/public-keys.json";
  json list = json::parse(ReadFile(path));
  list["PublicKeyList"][0]["ValidityEndTime"] =
      std::chrono::duration_cast<std::chrono::seconds>(d[1].end_time.time_since_epoch()).count();
  WriteFile(path, list.dump());
  report = Verify(copy);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[2].file);
  EXPECT_THAT(report.problem->what, HasSubstr("not valid at"));
}

TEST_F(DigestTest, NothingSecretInClearUnderTheDataDirectory) {
  DigestSigner& signer = Signer();
  std::vector<crypto::SecretBytes> private_keys;
  auto private_key = [&](const std::string& fingerprint) {
    std::optional<std::string> sealed;
    EXPECT_TRUE(store_
                    ->View([&](const state::ReadTransaction& tx) -> Status {
                      ASSIGN_OR_RETURN(sealed, tx.Get("audit.digest", "private/" + fingerprint));
                      return Status::Ok();
                    })
                    .ok());
    EXPECT_TRUE(sealed.has_value());
    auto der = vault_->Unseal("audit/digest-key/" + fingerprint, AsBytes(sealed.value_or("")));
    EXPECT_TRUE(der.ok()) << der.status().ToString();
    // It is the signing key.
    auto key = crypto::RsaPrivateKey::FromDer(der.ok() ? *der : crypto::SecretBytes());
    EXPECT_TRUE(key.ok());
    if (key.ok()) {
      EXPECT_EQ(key.value()->public_key().Fingerprint(), fingerprint);
    }
    return der.ok() ? *der : crypto::SecretBytes();
  };
  private_keys.push_back(private_key(signer.current_fingerprint()));
  Append(2);
  Write();
  ASSERT_TRUE(signer.RotateKey().ok());
  private_keys.push_back(private_key(signer.current_fingerprint()));
  Append(2);
  Write();
  signer_.reset();
  store_.reset();  // flush SQLite's files

  // Every 16-byte window of each private key DER (at 8-byte steps), searched in
  // every file under the data directory.
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::string content = ReadFile(entry.path().string());
    for (const crypto::SecretBytes& key : private_keys) {
      ByteView der = RevealSecret(key);
      ASSERT_GT(der.size(), 1000u);
      // The modulus and public exponent are in the private key too, and public:
      // skip the windows that overlap them (the public DER's content after its
      // 4-byte SEQUENCE header).
      auto parsed = crypto::RsaPrivateKey::FromDer(key);
      ASSERT_TRUE(parsed.ok());
      std::string public_part = ToString(ByteView(parsed.value()->public_key().der()).subspan(4));
      size_t public_at = std::string(AsChars(der)).find(public_part);
      ASSERT_NE(public_at, std::string::npos);
      for (size_t i = 0; i + 16 <= der.size(); i += 8) {
        if (i + 16 > public_at && i < public_at + public_part.size()) continue;
        std::string window(AsChars(der.subspan(i, 16)));
        ASSERT_EQ(content.find(window), std::string::npos)
            << entry.path() << " holds private key bytes at DER offset " << i;
        std::string hex = HexEncode(der.subspan(i, 16));
        ASSERT_EQ(content.find(hex), std::string::npos) << entry.path() << " (hex)";
        std::string b64 = Base64Encode(der.subspan(i, 15));
        ASSERT_EQ(content.find(b64), std::string::npos) << entry.path() << " (base64)";
      }
    }
  }
  EXPECT_GE(files, 8u);  // state.db, root.key, journal, keys, 2 digests + signatures
  // The rotated-out private key is gone from the store.
  OpenStore();
  std::optional<std::string> old;
  ASSERT_TRUE(store_
                  ->View([&](const state::ReadTransaction& tx) -> Status {
                    auto rows = tx.Scan("audit.digest", "private/", "", 0);
                    if (!rows.ok()) return rows.status();
                    old = std::to_string(rows->size());
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(old, "1");
}

TEST_F(DigestTest, AdoptsADigestACrashLeftBeforeTheStoreUpdate) {
  Signer();
  Append(1);
  Write();
  std::optional<std::string> last1 = StoredLast();
  ASSERT_TRUE(last1.has_value());
  Append(1);
  DigestInfo d2 = Write();
  RestoreLast(*last1);
  Signer();
  Append(1);
  DigestInfo d3 = Write();
  EXPECT_EQ(d3.first_sequence, 3u);
  json j3 = json::parse(ReadFile(Digests(dir_.path()) + "/" + d3.file));
  EXPECT_EQ(j3["previousDigestSignature"], d2.signature);
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 3u);
}

TEST_F(DigestTest, RefusesToContinueWhenDigestFilesDoNotMatchTheStore) {
  std::vector<DigestInfo> d = FourDigests();
  // The newest digest deleted: the signer does not quietly continue from an older one.
  std::filesystem::remove(Digests(dir_.path()) + "/" + d[3].file);
  clock_.Advance(std::chrono::hours(1));
  auto refused = signer_->WriteDigest();
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr(d[3].file));

  // A foreign file in the digest name space is not adopted.
  WriteFile(Digests(dir_.path()) + "/" + d[3].file,
            ReadFile(Digests(dir_.path()) + "/" + d[2].file));
  WriteFile(Digests(dir_.path()) +
                "/111122223333_CloudTrail-Digest_us-east-1_coffer_us-east-1_"
                "20991231T000000Z.json",
            ReadFile(Digests(dir_.path()) + "/" + d[2].file));
  refused = signer_->WriteDigest();
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr("20991231T000000Z"));
}

TEST_F(DigestTest, RefusesToSignADamagedJournal) {
  Signer();
  Append(3);
  journal_->Close();
  journal_.reset();
  JournalRecord r2 = FindRecord(dir_.path(), 2);
  FlipByte(JournalDirectory(dir_.path()) + "/" + r2.segment,
           r2.offset + journal_format::kRecordHeaderSize);
  clock_.Advance(std::chrono::hours(1));
  auto refused = signer_->WriteDigest();
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr("record 2"));
  EXPECT_TRUE(LoadDigestPublicKeys(dir_.path()).ok());
  auto files = std::filesystem::directory_iterator(Digests(dir_.path()));
  size_t n = 0;
  for (const auto& f : files) n += f.path().extension() == ".sig";
  EXPECT_EQ(n, 0u);  // nothing signed
}

TEST_F(DigestTest, EmptyJournalAndNoDigestsVerify) {
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.digests, 0u);
  Signer();
  DigestInfo d1 = Write();  // no journal yet: an empty period
  EXPECT_EQ(d1.records, 0u);
  report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 1u);
}

TEST_F(DigestTest, RefusesBadOptions) {
  auto create = [&](DigestOptions options) {
    return DigestSigner::Create(dir_.path(), *store_, *vault_, clock_, std::move(options))
        .status()
        .code();
  };
  DigestOptions o = Options();
  o.account_id = "";
  EXPECT_EQ(create(o), StatusCode::kInvalidArgument);
  o = Options();
  o.account_id = "1111/2222";
  EXPECT_EQ(create(o), StatusCode::kInvalidArgument);
  o = Options();
  o.region = "us_east_1";
  EXPECT_EQ(create(o), StatusCode::kInvalidArgument);
  o = Options();
  o.trail_name = "a/b";
  EXPECT_EQ(create(o), StatusCode::kInvalidArgument);
  o = Options();
  o.period = std::chrono::milliseconds(10);
  EXPECT_EQ(create(o), StatusCode::kInvalidArgument);
  o = Options();
  o.key_bits = 1024;
  EXPECT_EQ(create(o), StatusCode::kInvalidArgument);
  EXPECT_EQ(create(Options()), StatusCode::kOk);
}

TEST_F(DigestTest, ANewChainStartsAfterTheRecordsThatStillVerify) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);  // records 3 and 4 are new ones; 3 to 7 were signed
  clock_.Advance(std::chrono::hours(1));
  auto refused = signer_->WriteDigest();
  EXPECT_EQ(refused.status().code(), StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(), HasSubstr("--restart-digest-chain"));
  EXPECT_FALSE(Verify(dir_.path()).ok());

  const TimePoint restarted_at = clock_.Now();
  DigestChainRestart restart = Restart();
  EXPECT_TRUE(restart.restarted);
  EXPECT_EQ(restart.after_sequence, 2u);
  EXPECT_EQ(restart.previous_last_sequence, 7u);
  EXPECT_EQ(restart.previous_last_digest, d[2].file);
  EXPECT_THAT(restart.reason, HasSubstr("record 3"));
  // A crash's torn tail after record 2 is a crash's again (before: damage).
  EXPECT_EQ(LastSigned(), 2u);
  DigestChainRestart again = Restart();  // planned again: nothing more was lost
  EXPECT_TRUE(again.restarted);
  EXPECT_EQ(again.after_sequence, 2u);
  EXPECT_THAT(again.reason, HasSubstr("already due"));
  EXPECT_EQ(LastSigned(), 2u);

  DigestInfo first = Write();
  ASSERT_TRUE(first.chain_restart_after.has_value());
  EXPECT_EQ(*first.chain_restart_after, 2u);
  EXPECT_EQ(first.records, 2u);
  EXPECT_EQ(first.first_sequence, 3u);
  EXPECT_EQ(first.last_sequence, 4u);
  json j = json::parse(ReadFile(Digests(dir_.path()) + "/" + first.file));
  for (const char* field :
       {"previousDigestS3Bucket", "previousDigestS3Object", "previousDigestHashValue",
        "previousDigestHashAlgorithm", "previousDigestSignature"}) {
    EXPECT_TRUE(j[field].is_null()) << field;
  }
  EXPECT_EQ(j["digestStartTime"], FormatIso8601(restarted_at));
  const json& r = j["cofferChainRestart"];
  EXPECT_EQ(r["afterSequence"], 2);
  EXPECT_EQ(r["afterRecordHash"], HexEncode(FindRecord(dir_.path(), 2).hash));
  EXPECT_EQ(r["previousChainLastDigest"], d[2].file);
  EXPECT_EQ(r["previousChainLastDigestSignature"], d[2].signature);
  EXPECT_EQ(r["previousChainLastSequence"], 7);
  EXPECT_EQ(LastSigned(), 4u);

  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 4u);
  EXPECT_EQ(report.records, 4u);       // 1-2 of the first chain, 3-4 of the new one
  EXPECT_EQ(report.lost_records, 5u);  // 3-7 as the first chain signed them
  EXPECT_EQ(report.last_sequence, 4u);
  ASSERT_EQ(report.chain_starts.size(), 1u);
  EXPECT_EQ(report.chain_starts[0].digest, first.file);
  EXPECT_EQ(report.chain_starts[0].after_sequence, 2u);
  EXPECT_EQ(report.chain_starts[0].previous_last_sequence, 7u);

  // The new chain goes on like any other, and needs no second start.
  Append(1);
  DigestInfo next = Write();
  EXPECT_FALSE(next.chain_restart_after.has_value());
  EXPECT_EQ(
      json::parse(ReadFile(Digests(dir_.path()) + "/" + next.file))["previousDigestSignature"],
      first.signature);
  report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 5u);
  EXPECT_EQ(report.records, 5u);
  DigestChainRestart intact = Restart();
  EXPECT_FALSE(intact.restarted);
  EXPECT_THAT(intact.reason, HasSubstr("verifies"));
}

TEST_F(DigestTest, ALaterChainMayStartBeforeAnEarlierOne) {
  ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 3);
  ASSERT_TRUE(Restart().restarted);
  Write();  // the second chain: 3 to 5
  // Then segment 1 is lost too: the third chain starts at the beginning.
  LoseRecordsFrom(1, 1);
  DigestChainRestart restart = Restart();
  EXPECT_TRUE(restart.restarted);
  EXPECT_EQ(restart.after_sequence, 0u);
  EXPECT_EQ(restart.previous_last_sequence, 5u);
  DigestInfo third = Write();
  json r = json::parse(ReadFile(Digests(dir_.path()) + "/" + third.file))["cofferChainRestart"];
  EXPECT_TRUE(r["afterRecordHash"].is_null());
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  ASSERT_EQ(report.chain_starts.size(), 2u);
  EXPECT_EQ(report.records, 1u);
  EXPECT_EQ(report.lost_records, 7u + 3u);
  EXPECT_EQ(report.last_sequence, 1u);
}

TEST_F(DigestTest, NoNewChainWithoutALossOfRecords) {
  DigestChainRestart none = Restart();
  EXPECT_FALSE(none.restarted);
  EXPECT_THAT(none.reason, HasSubstr("no audit digest"));

  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  // A digest at fault, not the journal: its signature changed.
  const std::string sig = Digests(dir_.path()) + "/" + d[1].file + ".sig";
  const std::string original = ReadFile(sig);
  std::string changed = original;
  changed[0] = changed[0] == '0' ? '1' : '0';
  WriteFile(sig, changed, FileMode(sig));
  auto refused = RestartDigestChain(dir_.path(), *store_, clock_);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("signature verification failed"));
  WriteFile(sig, original, FileMode(sig));
  // A damaged journal: recovered first.
  journal_->Close();
  journal_.reset();
  JournalRecord r4 = FindRecord(dir_.path(), 4);
  FlipByte(JournalDirectory(dir_.path()) + "/" + r4.segment,
           r4.offset + journal_format::kRecordHeaderSize + 3);
  refused = RestartDigestChain(dir_.path(), *store_, clock_);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("damaged"));
  EXPECT_EQ(LastSigned(), 7u);  // nothing changed
}

TEST_F(DigestTest, AfterANewChainATornTailIsACrashsAgain) {
  ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  journal_->Close();
  journal_.reset();
  // A write cut short after record 4: 20 bytes of a record header.
  JournalRecord r4 = FindRecord(dir_.path(), 4);
  const std::string segment = JournalDirectory(dir_.path()) + "/" + r4.segment;
  WriteFile(segment, ReadFile(segment) + std::string(20, '\x07'), FileMode(segment));
  auto open = [&] {
    JournalOptions options;
    options.sync = false;
    options.segment_size = kTwoRecordSegments;
    options.signed_sequence = LastSigned();
    auto journal = Journal::Open(JournalDirectory(dir_.path()), options);
    EXPECT_TRUE(journal.ok()) << journal.status().ToString();
    return journal.ok() ? journal.value()->status() : journal.status();
  };
  // Record 5 was signed by the chain that lost it: damage, nothing cut.
  EXPECT_EQ(open().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(Restart().restarted);
  EXPECT_TRUE(open().ok());
  EXPECT_EQ(FindRecord(dir_.path(), 4).sequence, 4u);
}

TEST_F(DigestTest, VerifyDetectsAMissingDigestBeforeANewChain) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  ASSERT_TRUE(Restart().restarted);
  DigestInfo first = Write();
  std::filesystem::remove(Digests(dir_.path()) + "/" + d[2].file);
  DigestVerifyReport report = Verify(dir_.path());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, first.file);
  EXPECT_EQ(report.problem->what,
            "starts a new chain after digest " + d[2].file + ", which is missing");
}

TEST_F(DigestTest, AdoptsANewChainsFirstDigestACrashLeftBeforeTheStoreUpdate) {
  ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  ASSERT_TRUE(Restart().restarted);
  std::optional<std::string> pending = StoredLast();
  ASSERT_TRUE(pending.has_value());
  DigestInfo first = Write();
  RestoreLast(*pending);
  Signer();
  Append(1);
  DigestInfo next = Write();
  EXPECT_FALSE(next.chain_restart_after.has_value());
  EXPECT_EQ(next.first_sequence, 5u);
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.digests, 5u);
  ASSERT_EQ(report.chain_starts.size(), 1u);
  EXPECT_EQ(report.chain_starts[0].digest, first.file);
}

TEST_F(DigestTest, NoNewChainOverAChangedRecord) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  journal_->Close();
  journal_.reset();
  // Record 4 edited in place, and record 3 given a time after the last digest:
  // the journal written again, so that checksums and chain hold and only the
  // digests can tell.
  std::vector<std::string> payloads = payloads_;
  payloads[3].insert(payloads[3].size() - 1, ",\"edited\":true");
  json third = json::parse(payloads[2]);
  third["eventTime"] = FormatIso8601(clock_.Now());
  payloads[2] = third.dump();
  for (const auto& entry : std::filesystem::directory_iterator(JournalDirectory(dir_.path()))) {
    if (entry.path().extension() == ".journal") std::filesystem::remove(entry.path());
  }
  OpenJournal(kTwoRecordSegments);
  for (const std::string& payload : payloads) ASSERT_TRUE(journal_->AppendAndWait(payload).ok());
  ASSERT_TRUE(VerifyJournal(JournalDirectory(dir_.path())).ok());
  auto refused = RestartDigestChain(dir_.path(), *store_, clock_);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      refused.status().message(),
      HasSubstr("record 4 (eventTime " + json::parse(payloads[3])["eventTime"].get<std::string>() +
                ") takes the place of a record digest " + d[2].file +
                " or an earlier one signed, but was not written after it"));
  EXPECT_THAT(refused.status().message(), HasSubstr("move 0000000000000003.journal and every"));
  EXPECT_EQ(LastSigned(), 7u);
}

// A torn record after others of its digest entry: they are the rest of a cut
// segment, which is moved out as after damage.
TEST_F(DigestTest, NoNewChainOverTheRestOfACutSegment) {
  Signer();
  OpenJournal(kTwoRecordSegments);
  Append(2);
  DigestInfo d = Write();
  journal_->Close();
  journal_.reset();
  JournalRecord r2 = FindRecord(dir_.path(), 2);
  const std::string segment = JournalDirectory(dir_.path()) + "/" + r2.segment;
  std::filesystem::resize_file(segment, r2.offset + 60);
  auto refused = RestartDigestChain(dir_.path(), *store_, clock_);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      refused.status().message(),
      HasSubstr("record 1 (eventTime " + json::parse(payloads_[0])["eventTime"].get<std::string>() +
                ") takes the place of a record digest " + d.file));
  EXPECT_THAT(refused.status().message(), HasSubstr("move " + r2.segment + " and every"));
  // Done so, the new chain starts at the beginning.
  std::filesystem::rename(segment, moved_.path() + "/" + r2.segment);
  DigestChainRestart restart = Restart();
  EXPECT_TRUE(restart.restarted);
  EXPECT_EQ(restart.after_sequence, 0u);
  EXPECT_TRUE(restart.kept_torn_tail.empty());
}

TEST_F(DigestTest, ATornTailAmongSignedRecordsIsKeptBeforeItIsCut) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  journal_->Close();
  journal_.reset();
  // Record 7, signed, cut short.
  JournalRecord r7 = FindRecord(dir_.path(), 7);
  const std::string segment = JournalDirectory(dir_.path()) + "/" + r7.segment;
  const std::string whole = ReadFile(segment);
  std::filesystem::resize_file(segment, r7.offset + 60);
  DigestChainRestart restart = Restart();
  EXPECT_TRUE(restart.restarted);
  EXPECT_EQ(restart.after_sequence, 6u);
  ASSERT_FALSE(restart.kept_torn_tail.empty());
  EXPECT_THAT(restart.kept_torn_tail, HasSubstr(r7.segment + ".torn-7-"));
  EXPECT_EQ(ReadFile(restart.kept_torn_tail), whole.substr(r7.offset, 60));
  EXPECT_EQ(FileMode(restart.kept_torn_tail), 0600u);
  // The journal's open cuts it now; its readers ignore the kept copy.
  OpenJournal(kTwoRecordSegments);
  appended_ = 6;
  Append(1);
  EXPECT_EQ(Write().chain_restart_after, std::optional<uint64_t>(6));
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.lost_records, 1u);
}

TEST_F(DigestTest, AnUnsignedChainStartDoesNotHideAChangedRecord) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  // A planted "new chain after record 0", with a signature copied from elsewhere.
  json fake = json::parse(ReadFile(Digests(dir_.path()) + "/" + d[2].file));
  const std::string name =
      "111122223333_CloudTrail-Digest_us-east-1_coffer_us-east-1_20991231T235959Z.json";
  fake["digestS3Object"] =
      "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2099/12/31/" + name + ".gz";
  for (const char* field :
       {"previousDigestS3Bucket", "previousDigestS3Object", "previousDigestHashValue",
        "previousDigestHashAlgorithm", "previousDigestSignature"}) {
    fake[field] = nullptr;
  }
  fake["cofferChainRestart"] = {{"afterSequence", 0},
                                {"afterRecordHash", nullptr},
                                {"previousChainLastDigest", d[2].file},
                                {"previousChainLastDigestSignature", d[2].signature},
                                {"previousChainLastSequence", 7}};
  WriteFile(Digests(dir_.path()) + "/" + name, fake.dump());
  WriteFile(Digests(dir_.path()) + "/" + name + ".sig", d[2].signature);
  DigestVerifyReport report = Verify(dir_.path());
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.problem->digest, d[1].file);
  EXPECT_EQ(report.problem->sequence, 3u);
}

TEST_F(DigestTest, ANewChainDueIsPlannedAgainAfterAFurtherLoss) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  ASSERT_EQ(Restart().after_sequence, 2u);
  // Before the new chain's first digest, segment 1 goes too.
  LoseRecordsFrom(1, 1);
  clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ(signer_->WriteDigest().status().code(), StatusCode::kDataLoss);
  DigestChainRestart restart = Restart();
  EXPECT_TRUE(restart.restarted);
  EXPECT_EQ(restart.after_sequence, 0u);
  EXPECT_EQ(restart.previous_last_sequence, 7u);
  EXPECT_EQ(restart.previous_last_digest, d[2].file);
  EXPECT_EQ(LastSigned(), 0u);
  DigestInfo first = Write();
  EXPECT_EQ(first.chain_restart_after, std::optional<uint64_t>(0));
  DigestVerifyReport report = Verify(dir_.path());
  EXPECT_TRUE(report.ok()) << report.problem->ToString();
  EXPECT_EQ(report.lost_records, 7u);
  EXPECT_EQ(report.records, 1u);
}

// Segments moved out, a new chain planned, then the segments put back before
// its first digest: the previous chain goes on, from a start with the flag
// (planned again) or from the next digest.
TEST_F(DigestTest, ANewChainDueIsDroppedWhenTheSegmentsArePutBack) {
  ASSERT_NO_FATAL_FAILURE(PlanANewChainThenPutTheSegmentsBack());
  DigestChainRestart dropped = Restart();
  EXPECT_FALSE(dropped.restarted);
  EXPECT_THAT(dropped.reason, HasSubstr("no longer needed"));
  EXPECT_EQ(LastSigned(), 7u);
  ExpectThePreviousChainGoesOn();
}

TEST_F(DigestTest, ANewChainDueIsDroppedByTheNextDigestWhenTheSegmentsAreBack) {
  ASSERT_NO_FATAL_FAILURE(PlanANewChainThenPutTheSegmentsBack());
  ExpectThePreviousChainGoesOn();
}

TEST_F(DigestTest, ANewChainTrustsTheStoreNotTheFiles) {
  std::vector<DigestInfo> d = ThreeDigestsOverSmallSegments();
  LoseRecordsFrom(3, 2);
  // public-keys.json replaced: the store's keys decide.
  const std::string keys = Digests(dir_.path()) + "/public-keys.json";
  const std::string original_keys = ReadFile(keys);
  WriteFile(keys, "{\"PublicKeyList\":[]}", FileMode(keys));
  // The newest digest replaced by another with its name: refused.
  const std::string newest = Digests(dir_.path()) + "/" + d[2].file;
  const std::string original = ReadFile(newest);
  WriteFile(newest, ReadFile(Digests(dir_.path()) + "/" + d[1].file), FileMode(newest));
  auto refused = RestartDigestChain(dir_.path(), *store_, clock_);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("as the state store recorded it"));
  WriteFile(newest, original, FileMode(newest));
  EXPECT_TRUE(Restart().restarted);
  // The next digest writes the store's keys back.
  Write();
  EXPECT_EQ(ReadFile(keys), original_keys);
  EXPECT_TRUE(Verify(dir_.path()).ok());
}

TEST_F(DigestTest, RefusesADamagedStoredKey) {
  Signer();
  signer_.reset();
  vault_.reset();
  // Same store, the private key's seal damaged.
  std::string fingerprint;
  ASSERT_TRUE(store_
                  ->Update([&](state::Transaction& tx) -> Status {
                    auto rows = tx.Scan("audit.digest", "private/", "", 0);
                    if (!rows.ok()) return rows.status();
                    EXPECT_EQ(rows->size(), 1u);
                    std::string sealed = (*rows)[0].value;
                    sealed[sealed.size() / 2] ^= 1;
                    return tx.Put("audit.digest", (*rows)[0].key, sealed);
                  })
                  .ok());
  auto vault = state::Vault::Open(*store_, *provider_, random_);
  ASSERT_TRUE(vault.ok());
  vault_ = std::move(vault).value();
  auto signer = DigestSigner::Create(dir_.path(), *store_, *vault_, clock_, Options());
  EXPECT_EQ(signer.status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace coffer::audit
