// `coffer audit verify` (offline, over a real journal) and `coffer audit events`
// (LookupEvents through a fake transport): requests, paging, output.
#include "cli/audit_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <deque>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audit/journal.h"
#include "cli/fake_transport.h"
#include "cli/sigv4_check.h"
#include "testing/files.h"

namespace coffer::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

const TimePoint kNow = FromEpochMillis(1764497396000);

TEST(ParseTimeArgumentTest, IsoAndEpoch) {
  EXPECT_EQ(*ParseTimeArgument("2026-01-01T00:00:00Z"), FromEpochMillis(1767225600000));
  EXPECT_EQ(*ParseTimeArgument("2026-01-01T00:00:01.5Z"), FromEpochMillis(1767225601500));
  EXPECT_EQ(*ParseTimeArgument("2026-01-01T00:00:01+00:00"), FromEpochMillis(1767225601000));
  EXPECT_EQ(*ParseTimeArgument("2026-01-01"), FromEpochMillis(1767225600000));
  EXPECT_EQ(*ParseTimeArgument("1767225600"), FromEpochMillis(1767225600000));
  EXPECT_EQ(*ParseTimeArgument("1767225600.25"), FromEpochMillis(1767225600250));
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-01-01T25:00:00Z",
                          "2026-01-01T00:00:00+01:00", "12.x", "2026/01/01"}) {
    EXPECT_FALSE(ParseTimeArgument(bad).ok()) << bad;
  }
}

TEST(FormatEventsTableTest, OneLinePerEvent) {
  Json events = {
      {"Events",
       {{{"EventId", "a"},
         {"EventName", "Decrypt"},
         {"EventTime", 1767225600},
         {"EventSource", "kms.amazonaws.com"},
         {"Username", "alice"},
         {"Resources", {{{"ResourceType", "AWS::KMS::Key"}, {"ResourceName", "arn:k1"}}}},
         {"CloudTrailEvent", R"({"errorCode":"AccessDeniedException"})"}},
        {{"EventId", "b"},
         {"EventName", "GetCallerIdentity"},
         {"EventTime", 1767225599},
         {"EventSource", "sts.amazonaws.com"},
         {"Resources", Json::array()},
         {"CloudTrailEvent", "{}"}}}}};
  auto table = FormatEventsTable(events.dump());
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(*table,
            "EVENT TIME            EVENT NAME         USER NAME  EVENT SOURCE       ERROR        "
            "          RESOURCES\n"
            "2026-01-01T00:00:00Z  Decrypt            alice      kms.amazonaws.com  "
            "AccessDeniedException  arn:k1\n"
            "2025-12-31T23:59:59Z  GetCallerIdentity  -          sts.amazonaws.com  -            "
            "          -\n");
  EXPECT_FALSE(FormatEventsTable("[]").ok());
}

class AuditCommandsTest : public ::testing::Test {
 protected:
  AuditCommandsTest() {
    env_["HOME"] = dir_.path();
    env_["AWS_CONFIG_FILE"] = dir_.File("config");
    env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_.File("credentials");
    env_["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE";
    env_["AWS_SECRET_ACCESS_KEY"] = "secret";
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CLI::App app{"coffer"};
    app.require_subcommand(1);
    ClientEnvironment env;
    env.env = env_;
    env.make_transport =
        [this](const HttpClientOptions&) -> Result<std::unique_ptr<HttpTransport>> {
      return std::unique_ptr<HttpTransport>(new testing::FakeTransport(
          [this](const net::HttpRequest&) -> Result<net::HttpResponse> {
            if (pages_.empty()) return net::HttpResponse{200, {}, R"({"Events":[]})"};
            net::HttpResponse r = pages_.front();
            pages_.pop_front();
            return r;
          },
          &sent_));
    };
    env.clock = &clock_;
    env.out = &out_;
    env.err = &err_;
    env.in = &in_;
    auto group = RegisterAuditCommands(app, env);
    args.insert(args.begin(), "audit");
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& e) {
      return app.exit(e, out_, err_);
    }
    EXPECT_TRUE(group->Selected());
    int rc = group->Run();
    for (const auto& s : sent_) {
      Status verified =
          testing::VerifySignedRequest(s.request, "secret", kNow, "us-east-1", "cloudtrail");
      EXPECT_TRUE(verified.ok()) << verified.ToString();
    }
    return rc;
  }

  static Json Event(std::string id, int64_t time) {
    return {{"EventId", id},
            {"EventName", "Encrypt"},
            {"ReadOnly", "true"},
            {"EventTime", time},
            {"EventSource", "kms.amazonaws.com"},
            {"Username", "root"},
            {"Resources", Json::array()},
            {"CloudTrailEvent", "{}"}};
  }
  void AddPage(std::vector<Json> events, std::optional<std::string> next = std::nullopt) {
    Json page = {{"Events", events}};
    if (next) page["NextToken"] = *next;
    pages_.push_back(net::HttpResponse{200, {}, page.dump()});
  }
  Json Body(size_t i) const { return Json::parse(sent_.at(i).request.body); }

  testing::TempDir dir_;
  Environment env_;
  FakeClock clock_{kNow};
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
  std::deque<net::HttpResponse> pages_;
  std::vector<testing::SentRequest> sent_;
};

TEST_F(AuditCommandsTest, EventsFollowsNextTokenUpToMaxResults) {
  AddPage({Event("e1", 30), Event("e2", 20)}, "token-1");
  AddPage({Event("e3", 10)}, "token-2");
  ASSERT_EQ(Run({"events", "--username", "root", "--start-time", "2025-11-30T00:00:00Z",
                 "--end-time", "1764497396", "--max-results", "3", "--output", "json"}),
            0)
      << err_.str();
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_EQ(*sent_[0].request.Header("X-Amz-Target"),
            "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents");
  EXPECT_EQ(
      Body(0),
      (Json{{"LookupAttributes", {{{"AttributeKey", "Username"}, {"AttributeValue", "root"}}}},
            {"StartTime", 1764460800.0},
            {"EndTime", 1764497396.0},
            {"MaxResults", 3}}));
  Json second = Body(1);
  EXPECT_EQ(second["MaxResults"], 1);
  EXPECT_EQ(second["NextToken"], "token-1");
  EXPECT_EQ(second["LookupAttributes"], Body(0)["LookupAttributes"]);
  EXPECT_EQ(out_.str().back(), '\n');
  Json printed = Json::parse(out_.str());
  ASSERT_EQ(printed["Events"].size(), 3u);
  EXPECT_EQ(printed["Events"][2]["EventId"], "e3");
  EXPECT_EQ(printed["NextToken"], "token-2");  // more would match
}

TEST_F(AuditCommandsTest, EventsTableAndEveryFilter) {
  AddPage({Event("e1", 1767225600)});
  ASSERT_EQ(Run({"events", "--read-only", "true"}), 0) << err_.str();
  EXPECT_EQ(Body(0)["LookupAttributes"][0],
            (Json{{"AttributeKey", "ReadOnly"}, {"AttributeValue", "true"}}));
  EXPECT_EQ(Body(0)["MaxResults"], 50);
  EXPECT_THAT(out_.str(), HasSubstr("2026-01-01T00:00:00Z  Encrypt"));
  EXPECT_THAT(out_.str(), Not(HasSubstr("more events")));
  const std::pair<const char*, const char*> filters[] = {
      {"--event-name", "EventName"},       {"--resource-name", "ResourceName"},
      {"--resource-type", "ResourceType"}, {"--event-source", "EventSource"},
      {"--access-key-id", "AccessKeyId"},  {"--event-id", "EventId"}};
  for (const auto& [option, key] : filters) {
    sent_.clear();
    ASSERT_EQ(Run({"events", option, "v"}), 0) << option;
    EXPECT_EQ(Body(0)["LookupAttributes"][0]["AttributeKey"], key);
  }
}

TEST_F(AuditCommandsTest, EventsRefusesTwoFiltersAndBadTimes) {
  EXPECT_NE(Run({"events", "--username", "a", "--event-name", "b"}), 0);
  EXPECT_EQ(Run({"events", "--start-time", "last tuesday"}), kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("--start-time"));
  EXPECT_TRUE(sent_.empty());
}

TEST_F(AuditCommandsTest, EventsReportsServiceErrors) {
  pages_.push_back(
      net::HttpResponse{400, {}, R"({"__type":"AccessDeniedException","message":"not for you"})"});
  EXPECT_EQ(Run({"events"}), kExitServiceError);
  EXPECT_THAT(err_.str(), HasSubstr("An error occurred (AccessDeniedException) when calling the "
                                    "LookupEvents operation: not for you"));
}

TEST_F(AuditCommandsTest, VerifyAHealthyJournal) {
  const std::string data = dir_.File("data");
  std::filesystem::create_directories(data);
  {
    auto journal = audit::Journal::Open(audit::JournalDirectory(data));
    ASSERT_TRUE(journal.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*journal)->AppendAndWait("{\"n\":1}").ok());
  }
  auto report = audit::VerifyJournal(audit::JournalDirectory(data));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(Run({"verify", "--data-dir", data}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("records:  3 (sequence 1 to 3)"));
  EXPECT_THAT(out_.str(), HasSubstr("segments: 1"));
  EXPECT_THAT(out_.str(), HasSubstr(HexEncode(ByteView(report->last_hash.data(), 32))));
  EXPECT_THAT(out_.str(), HasSubstr("OK"));
}

TEST_F(AuditCommandsTest, VerifyNamesTheFirstBadRecord) {
  const std::string data = dir_.File("data");
  std::filesystem::create_directories(data);
  {
    auto journal = audit::Journal::Open(audit::JournalDirectory(data));
    ASSERT_TRUE(journal.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((*journal)->AppendAndWait("{\"n\":1}").ok());
  }
  const std::string segment = audit::JournalDirectory(data) + "/" + audit::SegmentFileName(1);
  std::string bytes = testing::ReadFile(segment);
  // The second record's payload: 24 (segment header) + 59 (record 1) + 52 (header).
  const size_t at = 24 + (52 + 7) + 52 + 2;
  bytes[at] ^= 1;
  testing::WriteFile(segment, bytes);
  EXPECT_EQ(Run({"verify", "--data-dir", data}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("DAMAGED: first bad record: 0000000000000001.journal offset "
                                    "83, record 2: checksum mismatch (payload)"));
  EXPECT_THAT(out_.str(), HasSubstr("records:  1"));
  EXPECT_EQ(Run({"verify", "--data-dir", dir_.File("nothing-here")}), 2);
}

}  // namespace
}  // namespace coffer::cli
