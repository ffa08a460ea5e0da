// The CloudTrail JSON 1.1 codec (src/api/cloudtrail_json.cc) over a fake lookup:
// LookupEvents' validation and errors, what it asks the audit log, the reply shape,
// NextToken binding, its own record, and unsupported/unknown operations.
#include "api/cloudtrail_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testing/api_call.h"

namespace coffer::api {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

TimePoint At(int64_t seconds) { return FromEpochMillis(seconds * 1000); }

class FakeLookup final : public audit::EventLookup {
 public:
  Result<audit::LookupResult> Lookup(const audit::LookupRequest& request) const override {
    last = request;
    ++calls;
    return result;
  }
  mutable audit::LookupRequest last;
  mutable int calls = 0;
  audit::LookupResult result;
};

class CloudTrailJsonTest : public ::testing::Test {
 protected:
  Result<Call> Prepare(const Json& body, std::string_view op = "LookupEvents") {
    return testing::UnlessRefused(PrepareCloudTrailCall(&lookup_, op, body.dump()));
  }
  void ExpectError(const Json& body, const std::string& type, const std::string& message = "") {
    auto call = Prepare(body);
    ASSERT_FALSE(call.ok()) << body.dump();
    EXPECT_EQ(call.status().error_name(), type) << body.dump();
    if (!message.empty()) {
      EXPECT_THAT(call.status().message(), HasSubstr(message));
    }
  }
  Json Run(const Json& body) {
    auto call = Prepare(body);
    EXPECT_TRUE(call.ok()) << call.status().ToString();
    if (!call.ok()) return Json();
    auto reply = call->run();
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    return reply.ok() ? Json::parse(reply->body) : Json();
  }
  static Json Attr(std::string key, std::string value) {
    return Json::array({{{"AttributeKey", key}, {"AttributeValue", value}}});
  }

  FakeLookup lookup_;
};

TEST_F(CloudTrailJsonTest, RequestBecomesALookup) {
  Run({{"LookupAttributes", Attr("Username", "alice")},
       {"StartTime", 100},
       {"EndTime", 200.5},
       {"MaxResults", 7}});
  ASSERT_EQ(lookup_.calls, 1);
  ASSERT_TRUE(lookup_.last.attribute.has_value());
  EXPECT_EQ(lookup_.last.attribute->key, audit::LookupAttributeKey::kUsername);
  EXPECT_EQ(lookup_.last.attribute->value, "alice");
  EXPECT_EQ(lookup_.last.start_time, At(100));
  EXPECT_EQ(lookup_.last.end_time, FromEpochMillis(200500));
  EXPECT_EQ(lookup_.last.max_results, 7u);
  EXPECT_FALSE(lookup_.last.after.has_value());

  Run(Json::object());  // defaults
  EXPECT_FALSE(lookup_.last.attribute.has_value());
  EXPECT_FALSE(lookup_.last.start_time.has_value());
  EXPECT_EQ(lookup_.last.max_results, 50u);
  auto empty_body = PrepareCloudTrailCall(&lookup_, "LookupEvents", "");
  EXPECT_TRUE(empty_body.ok());
}

TEST_F(CloudTrailJsonTest, TheCallIsDescribedForAuthorizationAndAudit) {
  auto call = Prepare({{"LookupAttributes", Attr("EventName", "Decrypt")},
                       {"StartTime", 1767225600},
                       {"MaxResults", 5}});
  ASSERT_TRUE(call.ok());
  EXPECT_EQ(call->operation, "LookupEvents");
  EXPECT_EQ(call->event_source, "cloudtrail.amazonaws.com");
  EXPECT_TRUE(call->read_only);
  ASSERT_EQ(call->authorizations.size(), 1u);
  EXPECT_EQ(call->authorizations[0].scope, PolicyScope::kIdentity);
  EXPECT_EQ(call->authorizations[0].action, "cloudtrail:LookupEvents");
  EXPECT_EQ(call->authorizations[0].resource, "*");
  EXPECT_EQ(Json::parse(call->request_parameters),
            (Json{{"lookupAttributes",
                   Json::array({{{"attributeKey", "EventName"}, {"attributeValue", "Decrypt"}}})},
                  {"startTime", "Jan 1, 2026, 12:00:00 AM"},
                  {"maxResults", 5}}));
  EXPECT_EQ(Prepare(Json::object())->request_parameters, "null");
}

TEST_F(CloudTrailJsonTest, ReplyShape) {
  audit::LookupEvent e;
  e.sequence = 9;
  e.record = R"({"eventID":"id-1"})";
  e.summary.event_id = "id-1";
  e.summary.event_name = "Decrypt";
  e.summary.event_source = "kms.amazonaws.com";
  e.summary.read_only = true;
  e.summary.access_key_id = "AKIAX";
  e.summary.username = "alice";
  e.summary.event_time = At(1767225601);
  e.summary.resources = {{"AWS::KMS::Key", "arn:k"}};
  audit::LookupEvent unknown;
  unknown.record = "{}";
  unknown.summary.event_id = "id-2";
  unknown.summary.event_name = "ListKeys";
  unknown.summary.event_source = "kms.amazonaws.com";
  unknown.summary.event_time = At(1767225600);
  lookup_.result.events = {e, unknown};
  Json reply = Run(Json::object());
  EXPECT_EQ(reply["Events"][0],
            (Json{{"EventId", "id-1"},
                  {"EventName", "Decrypt"},
                  {"ReadOnly", "true"},
                  {"AccessKeyId", "AKIAX"},
                  {"EventTime", 1767225601},
                  {"EventSource", "kms.amazonaws.com"},
                  {"Username", "alice"},
                  {"Resources",
                   Json::array({{{"ResourceType", "AWS::KMS::Key"}, {"ResourceName", "arn:k"}}})},
                  {"CloudTrailEvent", R"({"eventID":"id-1"})"}}));
  // No access key, no user name: left out; no resources: an empty list.
  EXPECT_FALSE(reply["Events"][1].contains("AccessKeyId"));
  EXPECT_FALSE(reply["Events"][1].contains("Username"));
  EXPECT_EQ(reply["Events"][1]["ReadOnly"], "false");
  EXPECT_EQ(reply["Events"][1]["Resources"], Json::array());
  EXPECT_FALSE(reply.contains("NextToken"));
}

TEST_F(CloudTrailJsonTest, NextTokenIsBoundToTheParameters) {
  lookup_.result.next = audit::LookupCursor{1767225600, 42};
  const Json params = {{"LookupAttributes", Attr("ResourceName", "arn:k")}, {"StartTime", 10}};
  Json reply = Run(params);
  ASSERT_TRUE(reply.contains("NextToken"));
  const std::string token = reply["NextToken"];

  Json next = params;
  next["NextToken"] = token;
  next["MaxResults"] = 3;  // the page size may change
  Run(next);
  ASSERT_TRUE(lookup_.last.after.has_value());
  EXPECT_EQ(*lookup_.last.after, (audit::LookupCursor{1767225600, 42}));

  // Another value, another key, another time range, none: refused.
  for (Json other : {Json{{"LookupAttributes", Attr("ResourceName", "arn:x")}, {"StartTime", 10}},
                     Json{{"LookupAttributes", Attr("ResourceType", "arn:k")}, {"StartTime", 10}},
                     Json{{"LookupAttributes", Attr("ResourceName", "arn:k")}, {"StartTime", 11}},
                     Json{{"LookupAttributes", Attr("ResourceName", "arn:k")},
                          {"StartTime", 10},
                          {"EndTime", 99}},
                     Json::object()}) {
    other["NextToken"] = token;
    ExpectError(other, "InvalidNextTokenException");
  }
  // A token edited to point elsewhere, or not a token at all.
  std::string edited = token;
  edited[3] = edited[3] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {edited, std::string("garbage"), std::string("")}) {
    Json j = params;
    j["NextToken"] = bad;
    ExpectError(j, "InvalidNextTokenException");
  }
}

TEST_F(CloudTrailJsonTest, Errors) {
  ExpectError({{"LookupAttributes",
                Json::array({{{"AttributeKey", "EventName"}, {"AttributeValue", "A"}},
                             {{"AttributeKey", "Username"}, {"AttributeValue", "b"}}})}},
              "InvalidLookupAttributesException", "more than one");
  ExpectError({{"LookupAttributes", Attr("eventname", "x")}}, "InvalidLookupAttributesException",
              "eventname");
  ExpectError({{"LookupAttributes", Attr("EventName", "")}}, "InvalidLookupAttributesException");
  ExpectError({{"LookupAttributes", Json::array({{{"AttributeKey", "EventName"}}})}},
              "InvalidLookupAttributesException");
  ExpectError({{"LookupAttributes", Attr("EventName", std::string(2001, 'a'))}},
              "InvalidLookupAttributesException");
  // '_' counts twice: 1001 of them are too many, 1000 are not.
  ExpectError({{"LookupAttributes", Attr("EventName", std::string(1001, '_'))}},
              "InvalidLookupAttributesException");
  EXPECT_TRUE(Prepare({{"LookupAttributes", Attr("EventName", std::string(1000, '_'))}}).ok());
  EXPECT_TRUE(Prepare({{"LookupAttributes", Json::array()}}).ok());

  ExpectError({{"StartTime", 200}, {"EndTime", 100}}, "InvalidTimeRangeException");
  EXPECT_TRUE(Prepare({{"StartTime", 100}, {"EndTime", 100}}).ok());
  ExpectError({{"StartTime", 1e300}}, "InvalidTimeRangeException");
  ExpectError({{"MaxResults", 0}}, "InvalidMaxResultsException");
  ExpectError({{"MaxResults", 51}}, "InvalidMaxResultsException");
  ExpectError({{"MaxResults", -1}}, "InvalidMaxResultsException");
  EXPECT_TRUE(Prepare({{"MaxResults", 1}}).ok());
  EXPECT_TRUE(Prepare({{"MaxResults", 50}}).ok());
  ExpectError({{"EventCategory", "data"}}, "InvalidEventCategoryException");

  // Coral's type errors.
  ExpectError({{"MaxResults", "5"}}, "SerializationException",
              "STRING_VALUE cannot be converted to Integer");
  ExpectError({{"StartTime", "yesterday"}}, "SerializationException",
              "STRING_VALUE cannot be converted to Date");
  ExpectError({{"LookupAttributes", "x"}}, "SerializationException");
  ExpectError(Json::array(), "SerializationException");
  auto malformed = PrepareCloudTrailCall(&lookup_, "LookupEvents", "{nope");
  EXPECT_EQ(malformed.status().error_name(), "SerializationException");
  EXPECT_EQ(lookup_.calls, 0);
}

TEST_F(CloudTrailJsonTest, InsightEventsAreNeverFound) {
  Json reply = Run({{"EventCategory", "insight"}});
  EXPECT_EQ(reply["Events"], Json::array());
  EXPECT_EQ(lookup_.calls, 0);
}

TEST_F(CloudTrailJsonTest, OtherOperations) {
  auto unsupported = Prepare(Json::object(), "CreateTrail");
  EXPECT_EQ(unsupported.status().error_name(), "UnsupportedOperationException");
  EXPECT_EQ(unsupported.status().message(),
            "The operation CreateTrail is not supported by coffer.");
  auto unknown = Prepare(Json::object(), "Frobnicate");
  EXPECT_EQ(unknown.status().error_name(), "UnknownOperationException");
  auto no_log = PrepareCloudTrailCall(nullptr, "LookupEvents", "{}");
  EXPECT_EQ(no_log.status().error_name(), "UnsupportedOperationException");
  const auto& ops = CloudTrailUnsupportedOperations();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  EXPECT_FALSE(std::binary_search(ops.begin(), ops.end(), "LookupEvents"));
  EXPECT_FALSE(std::binary_search(ops.begin(), ops.end(), "ListPublicKeys"));
  // Without the digests' keys, ListPublicKeys is not served.
  auto no_keys = PrepareCloudTrailCall(&lookup_, "ListPublicKeys", "{}");
  EXPECT_EQ(no_keys.status().error_name(), "UnsupportedOperationException");
}

// ListPublicKeys: the keys valid at some time in [StartTime, EndTime], each end
// now by default (so the current key alone).
TEST_F(CloudTrailJsonTest, ListPublicKeys) {
  const TimePoint t0 = FromEpochMillis(1764496800000);  // the first key's start
  const TimePoint t1 = t0 + std::chrono::hours(2);      // rotated
  const TimePoint now = t1 + std::chrono::hours(1);
  std::vector<audit::DigestPublicKey> keys = {
      {Bytes{0x30, 0x01}, "fp-old", t0, t1},
      {Bytes{0x30, 0x02}, "fp-new", t1, std::nullopt},
  };
  DigestPublicKeys source = [&] { return keys; };
  auto list = [&](const Json& body) -> Json {
    auto call = testing::UnlessRefused(
        PrepareCloudTrailCall(&lookup_, "ListPublicKeys", body.dump(), source, now));
    EXPECT_TRUE(call.ok()) << call.status().ToString();
    if (!call.ok()) return Json();
    EXPECT_EQ(call->operation, "ListPublicKeys");
    EXPECT_TRUE(call->read_only);
    EXPECT_EQ(call->authorizations.at(0).action, "cloudtrail:ListPublicKeys");
    EXPECT_EQ(call->authorizations.at(0).resource, "*");
    auto reply = call->run();
    EXPECT_TRUE(reply.ok());
    return reply.ok() ? Json::parse(reply->body) : Json();
  };
  EXPECT_EQ(list(Json::object()),
            (Json{{"PublicKeyList", Json::array({{{"Value", "MAI="},
                                                  {"ValidityStartTime", 1764496800 + 7200},
                                                  {"Fingerprint", "fp-new"}}})}}));
  Json both = list({{"StartTime", 1764496800}});
  ASSERT_EQ(both["PublicKeyList"].size(), 2u);
  EXPECT_EQ(both["PublicKeyList"][0], (Json{{"Value", "MAE="},
                                            {"ValidityStartTime", 1764496800},
                                            {"ValidityEndTime", 1764496800 + 7200},
                                            {"Fingerprint", "fp-old"}}));
  Json old_only = list({{"StartTime", 1764496800}, {"EndTime", 1764496800 + 60}});
  ASSERT_EQ(old_only["PublicKeyList"].size(), 1u);
  EXPECT_EQ(old_only["PublicKeyList"][0]["Fingerprint"], "fp-old");

  auto refused = [&](const Json& body) {
    return testing::UnlessRefused(
               PrepareCloudTrailCall(&lookup_, "ListPublicKeys", body.dump(), source, now))
        .status();
  };
  EXPECT_EQ(refused({{"StartTime", 1764496800 + 7200}, {"EndTime", 1764496800}}).error_name(),
            "InvalidTimeRangeException");
  // EndTime alone, before now: the range [now, EndTime] is empty.
  EXPECT_EQ(refused({{"EndTime", 1764496800}}).error_name(), "InvalidTimeRangeException");
  EXPECT_EQ(refused({{"NextToken", "x"}}).error_name(), "InvalidTokenException");
}

TEST_F(CloudTrailJsonTest, ErrorNames) {
  JsonError internal = ToJsonError(Status(StatusCode::kInternal, "x"), kCloudTrailErrorNames);
  EXPECT_EQ(internal.type, "InternalFailure");
  EXPECT_EQ(internal.http_status, 500);
  JsonError invalid =
      ToJsonError(Status(StatusCode::kInvalidArgument, "InvalidMaxResultsException", "m"),
                  kCloudTrailErrorNames);
  EXPECT_EQ(invalid.http_status, 400);
}

}  // namespace
}  // namespace coffer::api
