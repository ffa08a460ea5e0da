// The wiring of a data directory (server/services): first start creates the
// directory, the store, the root key and the root's credentials file; later starts
// open them and create nothing; a directory is refused (changing no file) when
// opened as another account or region, or with a root key that does not open it.
#include "server/services.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "audit/digest.h"
#include "audit/journal.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/random.h"
#include "crypto/secret_bytes.h"
#include "net/http.h"
#include "net/sigv4.h"
#include "testing/files.h"

namespace coffer::server {
namespace {

using ::coffer::testing::FileMode;
using ::coffer::testing::ReadFile;
using ::coffer::testing::SnapshotDirectory;
using ::coffer::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::UnorderedElementsAre;

// 2026-01-01T00:00:00Z.
constexpr int64_t kStartMillis = 1767225600000;

struct Creds {
  std::string access_key_id;
  std::string secret;
};

// The [default] profile of an AWS shared-credentials file, as botocore reads it
// ("key = value" lines; nullopt when the file is not in that form).
std::optional<Creds> ParseCredentialsFile(const std::string& text) {
  Creds c;
  bool in_default = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    if (line.front() == '[') {
      in_default = line == "[default]";
      continue;
    }
    size_t eq = line.find(" = ");
    if (eq == std::string::npos || !in_default) return std::nullopt;
    std::string key = line.substr(0, eq);
    std::string value = line.substr(eq + 3);
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret = value;
  }
  if (c.access_key_id.empty() || c.secret.empty()) return std::nullopt;
  return c;
}

class ServicesTest : public ::testing::Test {
 protected:
  ServicesTest() : clock_(FromEpochMillis(kStartMillis)), random_(0x737663) {
    options_.data_dir = temp_.File("data");
  }

  Result<std::unique_ptr<Services>> Open(const ServicesOptions& options) {
    return OpenServices(options, clock_, random_);
  }
  Result<std::unique_ptr<Services>> Open() { return Open(options_); }

  // Opens the data directory for the first time and closes it again.
  void Create() {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->new_root_key.has_value());
  }

  // STS GetCallerIdentity signed with `c` as the aws CLI signs it, through the endpoint.
  net::HttpResponse CallerIdentity(Services& s, const Creds& c) {
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.headers = {{"Host", "127.0.0.1:7878"},
                 {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    r.body = "Action=GetCallerIdentity&Version=2011-06-15";
    std::vector<net::sigv4::HeaderField> fields;
    for (const auto& h : r.headers) fields.push_back({h.name, h.value});
    net::sigv4::HttpRequestView view{
        .method = r.method,
        .raw_path = r.Path(),
        .raw_query = r.Query(),
        .headers = fields,
        .body = AsBytes(r.body),
    };
    std::vector<std::string> signed_headers = {"content-type", "host", "x-amz-date"};
    auto added = net::sigv4::Sign(view, {c.access_key_id, crypto::SecretBytes(c.secret), ""},
                                  options_.region, "sts", clock_.Now(), signed_headers);
    EXPECT_TRUE(added.ok()) << added.status().ToString();
    if (added.ok()) {
      for (auto& h : *added) r.headers.push_back({h.name, h.value});
    }
    return s.endpoint->Handle(r);
  }

  // KMS ListKeys, the same way.
  net::HttpResponse ListKeys(Services& s, const Creds& c) {
    net::HttpRequest r;
    r.method = "POST";
    r.target = "/";
    r.headers = {{"Host", "127.0.0.1:7878"},
                 {"Content-Type", "application/x-amz-json-1.1"},
                 {"X-Amz-Target", "TrentService.ListKeys"}};
    r.body = "{}";
    std::vector<net::sigv4::HeaderField> fields;
    for (const auto& h : r.headers) fields.push_back({h.name, h.value});
    net::sigv4::HttpRequestView view{
        .method = r.method,
        .raw_path = r.Path(),
        .raw_query = r.Query(),
        .headers = fields,
        .body = AsBytes(r.body),
    };
    std::vector<std::string> signed_headers = {"content-type", "host", "x-amz-date",
                                               "x-amz-target"};
    auto added = net::sigv4::Sign(view, {c.access_key_id, crypto::SecretBytes(c.secret), ""},
                                  options_.region, "kms", clock_.Now(), signed_headers);
    EXPECT_TRUE(added.ok()) << added.status().ToString();
    if (added.ok()) {
      for (auto& h : *added) r.headers.push_back({h.name, h.value});
    }
    return s.endpoint->Handle(r);
  }

  std::string Dir() const { return options_.data_dir; }
  std::string CredentialsPath() const { return RootCredentialsPath(options_.data_dir); }

  // A start, one call, and the digest a period later that signs it.
  void CallAndDigest(const Creds& root) {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(ListKeys(**s, root).status, 200);
    clock_.Advance(options_.digest_period);
    Status digest = RunScheduledWork(**s);
    ASSERT_TRUE(digest.ok()) << digest.ToString();
  }

  // Every segment of the audit journal moved out, as after damage in its first one.
  void MoveJournalOut() {
    const std::string journal = audit::JournalDirectory(Dir());
    const std::string moved = temp_.File("moved");
    std::filesystem::create_directory(moved);
    for (const auto& e : std::filesystem::directory_iterator(journal)) {
      if (e.path().extension() == ".journal") {
        std::filesystem::rename(e.path(), moved + "/" + e.path().filename().string());
      }
    }
  }

  TempDir temp_;
  FakeClock clock_;
  SeededRandom random_;
  ServicesOptions options_;
};

// The audit events of calls signed with `access_key_id`, newest first.
Result<audit::LookupResult> LookupByAccessKey(Services& s, const std::string& access_key_id) {
  audit::LookupRequest by_key;
  by_key.attribute = {audit::LookupAttributeKey::kAccessKeyId, access_key_id};
  return s.audit->Lookup(by_key);
}

TEST_F(ServicesTest, RootCredentialsPathIsInTheDataDirectory) {
  EXPECT_EQ(RootCredentialsPath("/var/lib/coffer"), "/var/lib/coffer/root-credentials");
}

TEST_F(ServicesTest, FirstStartCreatesTheDirectoryAndTheRootCredentials) {
  ASSERT_FALSE(std::filesystem::exists(Dir()));
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Services& services = **s;
  ASSERT_TRUE(services.store && services.root_key && services.vault && services.kms &&
              services.iam && services.endpoint);

  ASSERT_TRUE(std::filesystem::is_directory(Dir()));
  EXPECT_EQ(FileMode(Dir()), 0700);
  EXPECT_EQ(FileMode(CredentialsPath()), 0600);
  EXPECT_EQ(FileMode(Dir() + "/root.key"), 0600);
  EXPECT_EQ(FileMode(Dir() + "/state.db"), 0600);

  ASSERT_TRUE(services.new_root_key.has_value());
  const iam::NewAccessKey& key = *services.new_root_key;
  EXPECT_THAT(key.access_key_id, MatchesRegex("AKIA[A-Z2-7]{16}"));
  EXPECT_EQ(key.user_name, "");
  const std::string secret = ToString(crypto::RevealSecret(key.secret_access_key));
  EXPECT_EQ(secret.size(), 40u);

  // Exactly the AWS shared-credentials format, profile [default].
  const std::string text = ReadFile(CredentialsPath());
  EXPECT_EQ(text, "[default]\naws_access_key_id = " + key.access_key_id +
                      "\naws_secret_access_key = " + secret + "\n");
  std::optional<Creds> parsed = ParseCredentialsFile(text);
  ASSERT_TRUE(parsed.has_value()) << text;
  EXPECT_EQ(parsed->access_key_id, key.access_key_id);
  EXPECT_EQ(parsed->secret, secret);
}

TEST_F(ServicesTest, MissingParentsOfTheDataDirectoryAreCreatedPrivate) {
  // As the default ~/.local/share/coffer on an account that has no ~/.local yet.
  ServicesOptions options = options_;
  options.data_dir = temp_.File("home/.local/share/coffer");
  auto s = Open(options);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(FileMode(temp_.File("home")), 0700);
  EXPECT_EQ(FileMode(temp_.File("home/.local")), 0700);
  EXPECT_EQ(FileMode(temp_.File("home/.local/share")), 0700);
  EXPECT_EQ(FileMode(options.data_dir), 0700);
}

TEST_F(ServicesTest, TheKeyInTheFileAuthenticatesThroughTheEndpoint) {
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::optional<Creds> creds = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(creds.has_value());

  net::HttpResponse who = CallerIdentity(**s, *creds);
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_THAT(who.body, HasSubstr("<Arn>arn:aws:iam::111122223333:root</Arn>"));
  EXPECT_THAT(who.body, HasSubstr("<Account>111122223333</Account>"));
  net::HttpResponse keys = ListKeys(**s, *creds);
  EXPECT_EQ(keys.status, 200) << keys.body;
  EXPECT_EQ(keys.body, R"({"Keys":[],"Truncated":false})");

  // A key that is not the file's is not the root's.
  Creds other = *creds;
  other.secret[0] = other.secret[0] == 'A' ? 'B' : 'A';
  EXPECT_EQ(CallerIdentity(**s, other).status, 403);
}

TEST_F(ServicesTest, ReopeningCreatesNoNewKeyAndLeavesTheFileUnchanged) {
  ASSERT_NO_FATAL_FAILURE(Create());
  const std::string text = ReadFile(CredentialsPath());
  std::optional<Creds> creds = ParseCredentialsFile(text);
  ASSERT_TRUE(creds.has_value());

  for (int i = 0; i < 2; ++i) {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_FALSE((*s)->new_root_key.has_value());
    EXPECT_EQ(ReadFile(CredentialsPath()), text);
    EXPECT_EQ(FileMode(CredentialsPath()), 0600);
    net::HttpResponse who = CallerIdentity(**s, *creds);
    EXPECT_EQ(who.status, 200) << who.body;
  }
  EXPECT_THAT(SnapshotDirectory(Dir()), ::testing::Contains(::testing::Key("root-credentials")));
}

TEST_F(ServicesTest, ReopeningDoesNotRewriteADeletedCredentialsFile) {
  // The secret is shown once: after the operator removed the file, it stays gone.
  ASSERT_NO_FATAL_FAILURE(Create());
  std::filesystem::remove(CredentialsPath());
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE((*s)->new_root_key.has_value());
  EXPECT_FALSE(std::filesystem::exists(CredentialsPath()));
}

TEST_F(ServicesTest, ARootKeyThatCannotBeDeliveredIsNotCreated) {
  // Something in the way of root-credentials: the first start fails, and creates
  // no account whose key nobody has.
  std::filesystem::create_directories(CredentialsPath() + "/in-the-way");
  auto failed = Open();
  ASSERT_FALSE(failed.ok());
  std::filesystem::remove_all(CredentialsPath());
  // The next start creates the account, and the key in the file works.
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->new_root_key.has_value());
  std::optional<Creds> creds = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(creds.has_value());
  EXPECT_EQ(creds->access_key_id, (*s)->new_root_key->access_key_id);
}

TEST_F(ServicesTest, DataAndKeysSurviveAReopen) {
  std::string key_arn;
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    auto key = (*s)->kms->CreateKey({});
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_arn = key->arn;
  }
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  std::optional<Creds> creds = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(creds.has_value());
  net::HttpResponse keys = ListKeys(**s, *creds);
  EXPECT_EQ(keys.status, 200) << keys.body;
  EXPECT_THAT(keys.body, HasSubstr(key_arn));
}

TEST_F(ServicesTest, AnotherAccountIdIsRefusedAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(Create());
  const auto before = SnapshotDirectory(Dir());
  ServicesOptions other = options_;
  other.account_id = "444455556666";
  auto s = Open(other);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_EQ(s.status().message(),
            "the data directory " + Dir() +
                " belongs to account 111122223333 in region us-east-1; it cannot be opened as "
                "account 444455556666 in region us-east-1");
  EXPECT_EQ(SnapshotDirectory(Dir()), before);

  // And the directory still opens as what it is.
  auto again = Open();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)->new_root_key.has_value());
}

TEST_F(ServicesTest, AnotherRegionIsRefusedAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(Create());
  const auto before = SnapshotDirectory(Dir());
  ServicesOptions other = options_;
  other.region = "eu-west-1";
  auto s = Open(other);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "the data directory " + Dir() +
                " belongs to account 111122223333 in region us-east-1; it cannot be opened as "
                "account 111122223333 in region eu-west-1");
  EXPECT_EQ(SnapshotDirectory(Dir()), before);
}

TEST_F(ServicesTest, AnInvalidAccountIdOnFirstStartCreatesNoCredentials) {
  ServicesOptions bad = options_;
  bad.account_id = "1234";
  auto s = Open(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(CredentialsPath()));
  // A mistyped first start does not bind the directory to the mistake.
  auto good = Open();
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_TRUE((*good)->new_root_key.has_value());
  EXPECT_TRUE(std::filesystem::exists(CredentialsPath()));
}

TEST_F(ServicesTest, AWrongRootKeyFileIsRefusedAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(Create());
  // Another data directory's key: a well-formed key file that does not open this one.
  ServicesOptions elsewhere;
  elsewhere.data_dir = temp_.File("elsewhere");
  {
    auto s = Open(elsewhere);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
  }
  const std::string other_key = elsewhere.data_dir + "/root.key";
  const auto before = SnapshotDirectory(Dir());
  const auto before_elsewhere = SnapshotDirectory(elsewhere.data_dir);

  ServicesOptions wrong = options_;
  wrong.root_key_file = other_key;
  auto s = Open(wrong);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition) << s.status().ToString();
  EXPECT_THAT(s.status().message(), HasSubstr("the root key does not open this data directory"));
  EXPECT_EQ(SnapshotDirectory(Dir()), before);
  EXPECT_EQ(SnapshotDirectory(elsewhere.data_dir), before_elsewhere);

  // The same key copied over DATA_DIR/root.key.
  const std::string own_key = ReadFile(Dir() + "/root.key");
  ::coffer::testing::WriteFile(Dir() + "/root.key", ReadFile(other_key), 0600);
  const auto swapped = SnapshotDirectory(Dir());
  s = Open();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("the root key does not open this data directory"));
  EXPECT_EQ(SnapshotDirectory(Dir()), swapped);

  // A missing key file is not replaced by a new one.
  std::filesystem::remove(Dir() + "/root.key");
  const auto without = SnapshotDirectory(Dir());
  s = Open();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("does not exist"));
  EXPECT_EQ(SnapshotDirectory(Dir()), without);

  // The right key opens it again, with nothing lost.
  ::coffer::testing::WriteFile(Dir() + "/root.key", own_key, 0600);
  auto ok = Open();
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_FALSE((*ok)->new_root_key.has_value());
  std::optional<Creds> creds = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(creds.has_value());
  EXPECT_EQ(CallerIdentity(**ok, *creds).status, 200);
}

TEST_F(ServicesTest, ADirectoryOpenElsewhereIsRefused) {
  auto first = Open();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const auto before = SnapshotDirectory(Dir());
  auto second = Open();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "the data directory " + Dir() + " is in use by another coffer process; stop it first");
  EXPECT_EQ(SnapshotDirectory(Dir()), before);
  first->reset();  // closing releases it
  auto third = Open();
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_FALSE((*third)->new_root_key.has_value());
}

TEST_F(ServicesTest, AnExistingDirectoryKeepsItsMode) {
  std::filesystem::create_directory(Dir());
  ::chmod(Dir().c_str(), 0750);
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(FileMode(Dir()), 0750);
  EXPECT_EQ(FileMode(CredentialsPath()), 0600);
}

TEST_F(ServicesTest, FirstStartWritesOnlyTheExpectedFiles) {
  ASSERT_NO_FATAL_FAILURE(Create());
  std::vector<std::string> names;
  for (const auto& [name, digest] : SnapshotDirectory(Dir())) names.push_back(name);
  // The audit journal directory exists from the first start; it holds no segment
  // until the first call is recorded. The digest signer's public key is in clear,
  // for offline verification.
  // The audit index is a store of its own, marked clean once closed.
  EXPECT_THAT(
      names, UnorderedElementsAre("audit", "audit/digests", "audit/digests/public-keys.json",
                                  "audit-index.clean", "audit-index.db", "lock", "root-credentials",
                                  "root.key", "state.db"));
}

TEST_F(ServicesTest, ScheduledWorkWritesASignedDigestEveryPeriod) {
  ASSERT_NO_FATAL_FAILURE(Create());
  std::optional<Creds> root = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(root.has_value());
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(ListKeys(**s, *root).status, 200);
    // Before a period has passed: no digest.
    ASSERT_TRUE(RunScheduledWork(**s).ok());
    auto none = audit::VerifyDigests(Dir());
    ASSERT_TRUE(none.ok());
    EXPECT_EQ(none->digests, 0u);
    // A period later: one digest over the durable records, and only one.
    clock_.Advance(options_.digest_period);
    ASSERT_TRUE(RunScheduledWork(**s).ok());
    ASSERT_TRUE(RunScheduledWork(**s).ok());
  }
  auto report = audit::VerifyDigests(Dir());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << report->problem->ToString();
  EXPECT_EQ(report->digests, 1u);
  EXPECT_GE(report->records, 1u);
}

// A new chain due in the very second the last digest was written (a restart
// right after it) is written at the next run of the scheduled work, not a
// period later.
TEST_F(ServicesTest, ANewChainDueInTheSecondOfTheLastDigestIsWrittenAtTheNextRun) {
  ASSERT_NO_FATAL_FAILURE(Create());
  std::optional<Creds> root = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(root.has_value());
  ASSERT_NO_FATAL_FAILURE(CallAndDigest(*root));
  MoveJournalOut();
  options_.restart_digest_chain = true;
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE(RunScheduledWork(**s).ok());  // the same second: nothing yet
  auto before = audit::VerifyDigests(Dir());
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_TRUE(before->chain_starts.empty());
  clock_.Advance(std::chrono::seconds(5));  // the next run, well within the period
  ASSERT_TRUE(RunScheduledWork(**s).ok());
  auto after = audit::VerifyDigests(Dir());
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(after->chain_starts.size(), 1u);
  EXPECT_EQ(after->chain_starts[0].after_sequence, 0u);
}

// The recovery of a damaged journal moved signed records out; a start with
// restart_digest_chain begins a new digest chain and signs at once.
TEST_F(ServicesTest, ANewDigestChainAfterSignedRecordsWereMovedOut) {
  ASSERT_NO_FATAL_FAILURE(Create());
  std::optional<Creds> root = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(root.has_value());
  ASSERT_NO_FATAL_FAILURE(CallAndDigest(*root));
  auto signed_before = audit::VerifyDigests(Dir());
  ASSERT_TRUE(signed_before.ok() && signed_before->ok());
  const uint64_t lost = signed_before->records;
  ASSERT_GE(lost, 1u);
  MoveJournalOut();
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(ListKeys(**s, *root).status, 200);
    clock_.Advance(options_.digest_period);
    Status refused = RunScheduledWork(**s);
    EXPECT_EQ(refused.code(), StatusCode::kDataLoss);
    EXPECT_THAT(refused.message(), HasSubstr("--restart-digest-chain"));
    // Tried again once per period, not at every run of the scheduled work.
    EXPECT_TRUE(RunScheduledWork(**s).ok());
    clock_.Advance(options_.digest_period);
    EXPECT_EQ(RunScheduledWork(**s).code(), StatusCode::kDataLoss);
  }
  options_.restart_digest_chain = true;
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE(RunScheduledWork(**s).ok());  // without waiting a period
  }
  auto report = audit::VerifyDigests(Dir());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->ok()) << report->problem->ToString();
  ASSERT_EQ(report->chain_starts.size(), 1u);
  EXPECT_EQ(report->chain_starts[0].after_sequence, 0u);
  EXPECT_EQ(report->lost_records, lost);
  EXPECT_EQ(report->records, 1u);  // the call made since
  // Given again, with nothing lost, the flag changes nothing.
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE(RunScheduledWork(**s).ok());
  }
  report = audit::VerifyDigests(Dir());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problem->ToString();
  EXPECT_EQ(report->chain_starts.size(), 1u);
}

TEST_F(ServicesTest, EveryCallIsJournaledInTheDataDirectoryAndIndexed) {
  ASSERT_NO_FATAL_FAILURE(Create());
  std::optional<Creds> root = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(root.has_value());
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE((*s)->audit->Health().ok());
    EXPECT_EQ(ListKeys(**s, *root).status, 200);
    EXPECT_EQ(CallerIdentity(**s, Creds{root->access_key_id, "wrong"}).status, 403);
    EXPECT_EQ((*s)->audit->journal().last_sequence(), 2u);
  }
  // The records are in DATA_DIR/audit, and verify.
  auto report = audit::VerifyJournal(audit::JournalDirectory(Dir()));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->records, 2u);
  // After a restart the index still finds them, and new calls continue the journal.
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto found = LookupByAccessKey(**s, root->access_key_id);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->events.size(), 2u);
  EXPECT_EQ(found->events[0].summary.event_name, "GetCallerIdentity");
  EXPECT_EQ(found->events[1].summary.event_name, "ListKeys");
  EXPECT_EQ(found->events[1].summary.username, "root");
  EXPECT_EQ(ListKeys(**s, *root).status, 200);
  EXPECT_EQ((*s)->audit->journal().last_sequence(), 3u);
}

// The index is never synced while the server runs: a start that follows anything
// but a clean close (no marker) throws it away and rebuilds it from the journal.
TEST_F(ServicesTest, AnIndexNotClosedCleanlyIsRebuiltFromTheJournal) {
  ASSERT_NO_FATAL_FAILURE(Create());
  std::optional<Creds> root = ParseCredentialsFile(ReadFile(CredentialsPath()));
  ASSERT_TRUE(root.has_value());
  {
    auto s = Open();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    // While open, no marker: a crash now leaves none.
    EXPECT_NE(::access((Dir() + "/audit-index.clean").c_str(), F_OK), 0);
    EXPECT_EQ(ListKeys(**s, *root).status, 200);
    EXPECT_EQ(ListKeys(**s, *root).status, 200);
  }
  ASSERT_EQ(::access((Dir() + "/audit-index.clean").c_str(), F_OK), 0);
  // As after a power loss: no marker, and an index file that is garbage.
  ASSERT_EQ(::unlink((Dir() + "/audit-index.clean").c_str()), 0);
  {
    std::ofstream damaged(Dir() + "/audit-index.db", std::ios::binary | std::ios::trunc);
    damaged << std::string(8192, 'x');
  }
  auto s = Open();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto found = LookupByAccessKey(**s, root->access_key_id);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_EQ(found->events.size(), 2u);
  EXPECT_EQ(found->events[0].summary.event_name, "ListKeys");
}

}  // namespace
}  // namespace coffer::server
