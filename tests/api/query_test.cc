// The AWS Query protocol helpers: form decoding, member lists, XML writing,
// reply envelopes and error replies.
#include "api/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "iam/iam_fixture.h"  // printers for Status and Result

namespace coffer::api {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

std::vector<QueryParams::Entry> Entries(std::string_view body) {
  auto params = ParseQueryParams(body);
  EXPECT_TRUE(params.ok()) << params.status().ToString();
  return params.ok() ? params->entries() : std::vector<QueryParams::Entry>{};
}

// ---- parsing --------------------------------------------------------------------------

TEST(ParseQueryParamsTest, DecodesPairsInOrder) {
  EXPECT_THAT(Entries("Action=CreateUser&Version=2010-05-08&UserName=alice"),
              ElementsAre(Pair("Action", "CreateUser"), Pair("Version", "2010-05-08"),
                          Pair("UserName", "alice")));
  EXPECT_THAT(Entries("b=2&a=1"), ElementsAre(Pair("b", "2"), Pair("a", "1")));
}

TEST(ParseQueryParamsTest, PlusIsASpaceAndPercentIsAByte) {
  EXPECT_THAT(Entries("a=x+y&b=x%2By&c=%7B%22k%22%3A%20%22v%22%7D&d%2Ee=%e2%98%83"),
              ElementsAre(Pair("a", "x y"), Pair("b", "x+y"), Pair("c", "{\"k\": \"v\"}"),
                          Pair("d.e", "\xE2\x98\x83")));
}

TEST(ParseQueryParamsTest, InAUrlAPlusIsItself) {
  auto params = ParseQueryParams("a=x+y&b=x%2By&c=%20", PlusSign::kLiteral);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_THAT(params->entries(), ElementsAre(Pair("a", "x+y"), Pair("b", "x+y"), Pair("c", " ")));
}

TEST(ParseQueryParamsTest, EmptyValuesAndPieces) {
  EXPECT_THAT(Entries(""), ElementsAre());
  EXPECT_THAT(Entries("a=&b&&c=1&"), ElementsAre(Pair("a", ""), Pair("b", ""), Pair("c", "1")));
  EXPECT_THAT(Entries("a=b=c"), ElementsAre(Pair("a", "b=c")));
  auto params = ParseQueryParams("a=&b=1");
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->Get("a"), std::optional<std::string>(""));
  EXPECT_EQ(params->Get("b"), std::optional<std::string>("1"));
  EXPECT_EQ(params->Get("c"), std::nullopt);
  EXPECT_TRUE(params->Has("a"));
  EXPECT_FALSE(params->Has("A"));
}

TEST(ParseQueryParamsTest, RefusesBadEncoding) {
  for (std::string_view body :
       {"a=%", "a=%4", "a=%4g", "a=%zz", "%=1", "a=1&b=%%41", "a=%FF", "a=%C3%28", "a=%C0%80",
        "a=%ED%A0%80", "=1", "a=1&a=2", "a=1&%61=2"}) {
    auto params = ParseQueryParams(body);
    ASSERT_FALSE(params.ok()) << body;
    EXPECT_EQ(params.status().error_name(), "MalformedQueryString") << body;
    EXPECT_EQ(params.status().code(), StatusCode::kInvalidArgument) << body;
  }
  EXPECT_EQ(ParseQueryParams("x=1&a=%4").status().message(),
            "Invalid percent-encoding at offset 6 of the request parameters.");
  EXPECT_EQ(ParseQueryParams("a=1&a=2").status().message(),
            "The request parameter a is given more than once.");
}

// ---- member lists ---------------------------------------------------------------------------

TEST(MemberListTest, ListsInOrderOfTheirIndex) {
  auto params = ParseQueryParams(
      "Action=X&Ids.member.2=b&Ids.member.1=a&Ids.member.10=j&Ids.member.3=c&Ids.member.4=d&"
      "Ids.member.5=e&Ids.member.6=f&Ids.member.7=g&Ids.member.8=h&Ids.member.9=i");
  ASSERT_TRUE(params.ok());
  auto list = MemberList(*params, "Ids");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_TRUE(list->has_value());
  EXPECT_THAT(**list, ElementsAre("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"));
  auto absent = MemberList(*params, "Other");
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());
}

TEST(MemberListTest, RefusesGapsAndMalformedMembers) {
  for (std::string_view body :
       {"Ids.member.1=a&Ids.member.3=c", "Ids.member.2=b", "Ids.member.1=a&Ids.member.1.Key=x"}) {
    auto params = ParseQueryParams(body);
    ASSERT_TRUE(params.ok()) << body;
    auto list = MemberList(*params, "Ids");
    EXPECT_FALSE(list.ok()) << body;
    EXPECT_EQ(list.status().error_name(), "ValidationError") << body;
  }
  // "member.0" and "member.01" are not members: the list is absent.
  auto params = ParseQueryParams("Ids.member.0=a&Ids.member.01=b&Idsx.member.1=c");
  ASSERT_TRUE(params.ok());
  auto list = MemberList(*params, "Ids");
  ASSERT_TRUE(list.ok());
  EXPECT_FALSE(list->has_value());
}

TEST(MemberStructsTest, GroupsFieldsByIndex) {
  auto params = ParseQueryParams(
      "Tags.member.2.Key=team&Tags.member.1.Key=env&Tags.member.1.Value=prod&"
      "Tags.member.2.Value=");
  ASSERT_TRUE(params.ok());
  auto tags = MemberStructs(*params, "Tags");
  ASSERT_TRUE(tags.ok()) << tags.status().ToString();
  ASSERT_TRUE(tags->has_value());
  ASSERT_EQ((*tags)->size(), 2u);
  EXPECT_THAT((**tags)[0], ElementsAre(Pair("Key", "env"), Pair("Value", "prod")));
  EXPECT_THAT((**tags)[1], ElementsAre(Pair("Key", "team"), Pair("Value", "")));

  auto gap = ParseQueryParams("Tags.member.2.Key=a");
  ASSERT_TRUE(gap.ok());
  EXPECT_FALSE(MemberStructs(*gap, "Tags").ok());
  auto flat = ParseQueryParams("Tags.member.1=a");
  ASSERT_TRUE(flat.ok());
  EXPECT_FALSE(MemberStructs(*flat, "Tags").ok());
}

// ---- encodings --------------------------------------------------------------------------------

TEST(UrlEncodeTest, EncodesAllButUnreserved) {
  EXPECT_EQ(UrlEncode(R"({"Version":"2012-10-17","Action":"kms:*"} a+b/~_.-)"),
            "%7B%22Version%22%3A%222012-10-17%22%2C%22Action%22%3A%22kms%3A%2A%22%7D%20a%2Bb%2F~_."
            "-");
  EXPECT_EQ(UrlEncode("\xE2\x98\x83\n"), "%E2%98%83%0A");
  EXPECT_EQ(UrlEncode(""), "");
}

TEST(XmlEscapeTest, EscapesMarkupAndControlCharacters) {
  EXPECT_EQ(XmlEscape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;");
  EXPECT_EQ(XmlEscape("tab\tline\nret\r"), "tab\tline\nret&#13;");
  EXPECT_EQ(XmlEscape(std::string("nul\0bell\x07", 9)),
            "nul\xEF\xBF\xBD"
            "bell\xEF\xBF\xBD");
  EXPECT_EQ(XmlEscape("caf\xC3\xA9"), "caf\xC3\xA9");
}

TEST(XmlWriterTest, NestsAndClosesEverything) {
  XmlWriter w;
  w.Open("A", "urn:x&y").Open("B").Element("C", "1 < 2").Empty("D").Close().Element("E", "");
  w.Open("F").Open("G");
  EXPECT_EQ(std::move(w).Finish(),
            "<A xmlns=\"urn:x&amp;y\"><B><C>1 &lt; 2</C><D/></B><E></E><F><G></G></F></A>");
}

TEST(QueryReplyTest, EnvelopeWithAndWithoutResult) {
  EXPECT_EQ(QueryReply("DeleteUser", "https://iam.amazonaws.com/doc/2010-05-08/", "rid-1"),
            "<DeleteUserResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"
            "<ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>"
            "</DeleteUserResponse>");
  EXPECT_EQ(
      QueryReply("GetThing", "urn:x", "rid-2", [](XmlWriter& w) { w.Element("Name", "a&b"); }),
      "<GetThingResponse xmlns=\"urn:x\"><GetThingResult><Name>a&amp;b</Name>"
      "</GetThingResult><ResponseMetadata><RequestId>rid-2</RequestId></ResponseMetadata>"
      "</GetThingResponse>");
}

// ---- errors -------------------------------------------------------------------------------------

constexpr std::string_view kIam = "https://iam.amazonaws.com/doc/2010-05-08/";
constexpr std::string_view kSts = "https://sts.amazonaws.com/doc/2011-06-15/";

TEST(QueryErrorResponseTest, ShapeStatusAndHeaders) {
  net::HttpResponse r = QueryErrorResponse(
      Status(StatusCode::kNotFound, "NoSuchEntity", "The user with name bob cannot be found."),
      kIam, "req-7");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("Content-Type"), std::optional<std::string_view>("text/xml"));
  EXPECT_EQ(r.Header("x-amzn-RequestId"), std::optional<std::string_view>("req-7"));
  EXPECT_EQ(r.body,
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
            "<Type>Sender</Type><Code>NoSuchEntity</Code>"
            "<Message>The user with name bob cannot be found.</Message></Error>"
            "<RequestId>req-7</RequestId></ErrorResponse>");
}

TEST(QueryErrorResponseTest, TranslatesJsonNames) {
  net::HttpResponse denied = QueryErrorResponse(
      Status(StatusCode::kPermissionDenied, "AccessDeniedException",
             "User: arn:aws:iam::111122223333:user/x is not authorized to perform: "
             "sts:AssumeRole on resource: arn:aws:iam::111122223333:role/R"),
      kSts, "r");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body,
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>"
            "<Type>Sender</Type><Code>AccessDenied</Code>"
            "<Message>User: arn:aws:iam::111122223333:user/x is not authorized to perform: "
            "sts:AssumeRole on resource: arn:aws:iam::111122223333:role/R</Message></Error>"
            "<RequestId>r</RequestId></ErrorResponse>");
  struct Case {
    std::string name;
    std::string code;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {"MalformedPolicyDocumentException", "MalformedPolicyDocument", 400},
           {"UnrecognizedClientException", "InvalidClientTokenId", 403},
           {"InvalidSignatureException", "SignatureDoesNotMatch", 403},
           {"ExpiredTokenException", "ExpiredToken", 400},
           {"IncompleteSignatureException", "IncompleteSignature", 400},
           {"MissingAuthenticationTokenException", "MissingAuthenticationToken", 403},
           {"ValidationException", "ValidationError", 400},
           {"LimitExceededException", "LimitExceeded", 409},
       }) {
    Status s(StatusCode::kInvalidArgument, c.name, "m");
    EXPECT_EQ(QueryErrorCode(s), c.code) << c.name;
    EXPECT_EQ(QueryErrorResponse(s, kIam, "r").status, c.status) << c.name;
  }
}

TEST(QueryErrorResponseTest, HttpStatusOfEachCode) {
  EXPECT_EQ(QueryErrorHttpStatus("NoSuchEntity"), 404);
  EXPECT_EQ(QueryErrorHttpStatus("EntityAlreadyExists"), 409);
  EXPECT_EQ(QueryErrorHttpStatus("LimitExceeded"), 409);
  EXPECT_EQ(QueryErrorHttpStatus("DeleteConflict"), 409);
  EXPECT_EQ(QueryErrorHttpStatus("AccessDenied"), 403);
  EXPECT_EQ(QueryErrorHttpStatus("ValidationError"), 400);
  EXPECT_EQ(QueryErrorHttpStatus("MalformedPolicyDocument"), 400);
  EXPECT_EQ(QueryErrorHttpStatus("InvalidClientTokenId"), 403);
  EXPECT_EQ(QueryErrorHttpStatus("SignatureDoesNotMatch"), 403);
  EXPECT_EQ(QueryErrorHttpStatus("ExpiredToken"), 400);
  EXPECT_EQ(QueryErrorHttpStatus("InvalidAction"), 400);
  EXPECT_EQ(QueryErrorHttpStatus("MissingAuthenticationToken"), 403);
  EXPECT_EQ(QueryErrorHttpStatus("InternalFailure"), 500);
  EXPECT_EQ(QueryErrorHttpStatus("ServiceUnavailable"), 503);
  EXPECT_EQ(QueryErrorHttpStatus("SomethingElse"), 400);
}

TEST(QueryErrorResponseTest, InternalFailuresHideTheirMessage) {
  for (StatusCode code : {StatusCode::kInternal, StatusCode::kDataLoss}) {
    net::HttpResponse r =
        QueryErrorResponse(Status(code, "sqlite: disk I/O error at /secret/path"), kIam, "r9");
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body,
              "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
              "<Type>Receiver</Type><Code>InternalFailure</Code><Message>The request processing "
              "has failed because of an unknown error, exception or failure.</Message></Error>"
              "<RequestId>r9</RequestId></ErrorResponse>");
  }
  net::HttpResponse busy = QueryErrorResponse(UnavailableError("database is locked"), kSts, "r");
  EXPECT_EQ(busy.status, 503);
  EXPECT_THAT(busy.body, ::testing::HasSubstr("<Type>Receiver</Type><Code>ServiceUnavailable"));
  EXPECT_THAT(busy.body, ::testing::Not(::testing::HasSubstr("locked")));
}

TEST(QueryErrorResponseTest, ErrorsWithoutANameUseTheirCode) {
  EXPECT_EQ(QueryErrorCode(NotFoundError("x")), "NoSuchEntity");
  EXPECT_EQ(QueryErrorCode(InvalidArgumentError("x")), "ValidationError");
  EXPECT_EQ(QueryErrorCode(Status(StatusCode::kPermissionDenied, "x")), "AccessDenied");
  EXPECT_EQ(QueryErrorCode(Status(StatusCode::kUnauthenticated, "x")), "InvalidClientTokenId");
  EXPECT_EQ(QueryErrorCode(ResourceExhaustedError("x")), "LimitExceeded");
  EXPECT_EQ(QueryErrorCode(Status(StatusCode::kAlreadyExists, "x")), "EntityAlreadyExists");
}

TEST(QueryErrorResponseTest, MessagesAreEscaped) {
  net::HttpResponse r = QueryErrorResponse(
      Status(StatusCode::kInvalidArgument, "ValidationError", "Value '<a&b>' at 'x'"), kIam, "r");
  EXPECT_THAT(r.body, ::testing::HasSubstr("<Message>Value &apos;&lt;a&amp;b&gt;&apos; at "
                                           "&apos;x&apos;</Message>"));
}

// ---- reading parameters ------------------------------------------------------------------------

TEST(QueryReaderTest, RequiredOptionalAndIntegers) {
  auto params = ParseQueryParams("UserName=alice&MaxItems=10&Bad=1x&Plus=%2B5&Empty=");
  ASSERT_TRUE(params.ok());
  QueryReader ok(*params);
  EXPECT_EQ(ok.Required("UserName"), "alice");
  EXPECT_EQ(ok.Optional("Path"), std::nullopt);
  EXPECT_EQ(ok.OptionalInt("MaxItems"), std::optional<int>(10));
  EXPECT_EQ(ok.OptionalInt("Plus"), std::optional<int>(5));
  EXPECT_EQ(ok.OptionalInt("Missing"), std::nullopt);
  EXPECT_TRUE(ok.status().ok());

  QueryReader missing(*params);
  missing.Required("RoleName");
  EXPECT_EQ(missing.status(),
            Status(StatusCode::kInvalidArgument, "ValidationError",
                   "1 validation error detected: Value null at 'roleName' failed to satisfy "
                   "constraint: Member must not be null"));
  missing.Required("PolicyName");
  EXPECT_EQ(missing.status().message(),
            "2 validation errors detected: Value null at 'roleName' failed to satisfy "
            "constraint: Member must not be null; Value null at 'policyName' failed to satisfy "
            "constraint: Member must not be null");

  QueryReader bad(*params);
  EXPECT_EQ(bad.OptionalInt("Bad"), std::nullopt);
  EXPECT_EQ(bad.OptionalInt("Empty"), std::nullopt);
  EXPECT_EQ(bad.status().message(),
            "2 validation errors detected: Value '1x' at 'bad' failed to satisfy constraint: "
            "Member must be an integer; Value '' at 'empty' failed to satisfy constraint: Member "
            "must be an integer");
  EXPECT_EQ(MemberName("AssumeRolePolicyDocument"), "assumeRolePolicyDocument");
}

TEST(QueryActionTest, ActionAndVersion) {
  auto a = ParseQueryParams("Action=GetUser&Version=2010-05-08");
  ASSERT_TRUE(a.ok());
  auto action = QueryAction(*a, "2010-05-08");
  ASSERT_TRUE(action.ok());
  EXPECT_EQ(*action, "GetUser");
  EXPECT_EQ(QueryAction(*a, "2011-06-15").status(),
            Status(StatusCode::kInvalidArgument, "InvalidAction",
                   "Could not find operation GetUser for version 2010-05-08"));
  auto none = ParseQueryParams("Version=2010-05-08");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(QueryAction(*none, "2010-05-08").status(),
            Status(StatusCode::kInvalidArgument, "MissingAction", "Missing Action"));
  auto no_version = ParseQueryParams("Action=GetUser");
  ASSERT_TRUE(no_version.ok());
  EXPECT_TRUE(QueryAction(*no_version, "2010-05-08").ok());
}

}  // namespace
}  // namespace coffer::api
