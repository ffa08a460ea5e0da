#include "objstore/s3_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/status_matchers.h"

namespace coffer::objstore::s3 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(UriEncodeTest, EncodesAllButUnreserved) {
  EXPECT_EQ(UriEncode("a/b c+d~e_f-g.h", true), "a/b%20c%2Bd~e_f-g.h");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("été?&=#%", true), "%C3%A9t%C3%A9%3F%26%3D%23%25");
  EXPECT_EQ(UriDecode("%C3%A9t%C3%A9+x%2b", true), "été x+");
  EXPECT_EQ(UriDecode("a+b", false), "a+b");
  EXPECT_EQ(UriDecode("%zz", false), std::nullopt);
  EXPECT_EQ(UriDecode("%4", false), std::nullopt);
}

TEST(ParseXmlTest, ReadsElementsTextAndEntities) {
  auto doc = ParseXml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->"
      "<Root xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1'>\n"
      "  <A>x &amp; y &lt;z&gt; &quot;q&quot; &apos;s&apos; &#233;&#x1F511;</A>\n"
      "  <B/><B attr=\"v\">two</B><!-- inner --><C><![CDATA[<raw>&amp;]]></C>\n"
      "  <D>  spaces kept  </D>"
      "</Root>  ");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "Root");
  EXPECT_EQ(doc->ChildText("A"), "x & y <z> \"q\" 's' é\xF0\x9F\x94\x91");
  EXPECT_EQ(doc->ChildText("B"), "");  // the first B
  EXPECT_EQ(doc->children.size(), 5u);
  EXPECT_EQ(doc->children[2].text, "two");
  EXPECT_EQ(doc->ChildText("C"), "<raw>&amp;");
  EXPECT_EQ(doc->ChildText("D"), "  spaces kept  ");
  EXPECT_EQ(doc->ChildText("Missing"), std::nullopt);
}

TEST(ParseXmlTest, RefusesMalformedDocuments) {
  std::string deep;
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "<a>";
  for (int i = 0; i < kMaxXmlDepth + 1; ++i) deep += "</a>";
  for (const std::string& doc :
       {std::string(""), std::string("text"), std::string("<a>"), std::string("<a></b>"),
        std::string("<a><b></a></b>"), std::string("<a>&unknown;</a>"), std::string("<a>&#0;</a>"),
        std::string("<a>&#xD800;</a>"), std::string("<a>&amp</a>"),
        std::string("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"), std::string("<a></a><b></b>"),
        std::string("<a x=1></a>"), std::string("<a x=\"1></a>"), std::string("<a><!-- </a>"),
        std::string("<a><![CDATA[x</a>"), std::string("<?xml version=\"1.0\""), deep}) {
    auto parsed = ParseXml(doc);
    EXPECT_FALSE(parsed.ok()) << doc;
    EXPECT_EQ(parsed.status().code(), StatusCode::kDataLoss) << doc;
  }
}

TEST(ParseErrorReplyTest, ReadsCodeAndMessage) {
  auto reply = ParseErrorReply(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The "
      "specified key does not exist.</Message><Key>a b</Key><RequestId>1</RequestId></Error>");
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->code, "NoSuchKey");
  EXPECT_EQ(reply->message, "The specified key does not exist.");
  EXPECT_FALSE(ParseErrorReply("").has_value());
  EXPECT_FALSE(ParseErrorReply("<Other><Code>X</Code></Other>").has_value());
  EXPECT_FALSE(ParseErrorReply("<Error><Message>no code</Message></Error>").has_value());
}

constexpr char kListReply[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>bucket</Name><Prefix>p%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
  <Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <Contents><Key>p%2Fwith+space%2Bplus</Key><LastModified>2026-11-30T10:09:56.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>1234</Size>
    <StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p%2F%C3%A9t%C3%A9</Key><LastModified>2026-11-30T10:09:57Z</LastModified>
    <ETag>"abc-2"</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>p%2Fsub%2F</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(ParseListObjectsV2Test, ReadsAPage) {
  auto page = ParseListObjectsV2(kListReply);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/with space+plus");
  EXPECT_EQ(page->objects[0].size, 1234u);
  EXPECT_EQ(page->objects[0].etag, "\"9b2cf535f27731c974343645a3985328\"");
  EXPECT_EQ(page->objects[0].last_modified, FromEpochMillis(1796033396000));
  EXPECT_EQ(page->objects[1].key, "p/été");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_THAT(page->common_prefixes, ElementsAre("p/sub/"));
  EXPECT_TRUE(page->truncated());
  EXPECT_EQ(page->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(ParseListObjectsV2Test, KeysAreTakenAsIsWithoutEncodingType) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b%41</Key>"
      "<Size>1</Size></Contents></ListBucketResult>");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->objects[0].key, "a+b%41");
  EXPECT_FALSE(page->truncated());
}

TEST(ParseListObjectsV2Test, RefusesWhatItCannotUse) {
  for (const char* body :
       {"<Error><Code>NoSuchBucket</Code></Error>",
        "<ListBucketResult><Contents><Key>k</Key>"
        "</Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key><Size>1</Size>"
        "</Contents></ListBucketResult>",
        "<ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>yesterday"
        "</LastModified></Contents></ListBucketResult>",
        "not xml"}) {
    auto page = ParseListObjectsV2(body);
    EXPECT_FALSE(page.ok()) << body;
    EXPECT_EQ(page.status().code(), StatusCode::kDataLoss);
  }
}

TEST(MultipartRepliesTest, InitiateCompleteAndList) {
  auto id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
      "</UploadId></InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  EXPECT_FALSE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>").ok());

  auto etag = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><Location>x</Location><ETag>\"3858f62230ac3c915f300c664312c11"
      "f-9\"</ETag></CompleteMultipartUploadResult>");
  ASSERT_TRUE(etag.ok());
  EXPECT_EQ(*etag, "\"3858f62230ac3c915f300c664312c11f-9\"");
  // A 200 answer that carries an error: transient ones are kUnavailable.
  auto internal = ParseCompleteMultipartUpload(
      "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try "
      "again.</Message></Error>");
  EXPECT_EQ(internal.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(internal.status().error_name(), "InternalError");
  auto small = ParseCompleteMultipartUpload(
      "<Error><Code>EntityTooSmall</Code><Message>too small</Message></Error>");
  EXPECT_EQ(small.status().error_name(), "EntityTooSmall");
  EXPECT_NE(small.status().code(), StatusCode::kUnavailable);

  auto list = ParseListMultipartUploads(
      "<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>true</IsTruncated>"
      "<NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker>"
      "<Upload><Key>k1</Key><UploadId>u1</UploadId></Upload>"
      "<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->uploads.size(), 2u);
  EXPECT_EQ(list->uploads[1].key, "k2");
  EXPECT_EQ(list->uploads[1].upload_id, "u2");
  EXPECT_TRUE(list->truncated);
  EXPECT_EQ(list->next_key_marker, "k2");
  EXPECT_EQ(list->next_upload_id_marker, "u2");
}

TEST(RequestBodiesTest, CompleteAndCreateBucket) {
  EXPECT_EQ(CompleteMultipartUploadBody({"\"a\"", "\"b\""}),
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>"
            "</CompleteMultipartUpload>");
  EXPECT_EQ(CreateBucketBody("us-east-1"), "");
  EXPECT_EQ(CreateBucketBody("eu-west-1"),
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>");
  // What we write, we read.
  auto doc = ParseXml(CompleteMultipartUploadBody({"\"x<&>\""}));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Child("Part")->ChildText("ETag"), "\"x<&>\"");
}

TEST(DatesTest, IsoAndHttp) {
  const TimePoint t = FromEpochMillis(1796033396000);  // 2026-11-30T10:09:56Z
  EXPECT_EQ(ParseIsoTime("2026-11-30T10:09:56.000Z").value(), t);
  EXPECT_EQ(ParseIsoTime("2026-11-30T10:09:56Z").value(), t);
  EXPECT_EQ(ParseIsoTime("2026-11-30T10:09:56.123456Z").value(), t);
  EXPECT_EQ(ParseHttpDate("Mon, 30 Nov 2026 10:09:56 GMT").value(), t);
  for (const char* bad : {"", "2026-11-30", "2026-11-30T10:09:56", "2026-13-30T10:09:56Z",
                          "2026-11-30T10:09:56.Z", "2026-11-30 10:09:56Z"}) {
    EXPECT_FALSE(ParseIsoTime(bad).ok()) << bad;
  }
  for (const char* bad : {"", "Mon, 30 Foo 2026 10:09:56 GMT", "Mon, 30 Nov 2026 10:09:56 UTC",
                          "Monday, 30-Nov-26 10:09:56 GMT"}) {
    EXPECT_FALSE(ParseHttpDate(bad).ok()) << bad;
  }
}

TEST(FailuresTest, WhatIsRetried) {
  for (int status : {500, 502, 503, 504, 429}) EXPECT_TRUE(IsRetryableReply(status, "")) << status;
  for (const char* code : {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                           "InternalError", "RequestTimeTooSkewed", "ServiceUnavailable"}) {
    EXPECT_TRUE(IsRetryableReply(400, code)) << code;
  }
  for (int status : {200, 301, 400, 403, 404, 409, 412, 416}) {
    EXPECT_FALSE(IsRetryableReply(status, "")) << status;
  }
  EXPECT_FALSE(IsRetryableReply(403, "AccessDenied"));
  EXPECT_FALSE(IsRetryableReply(400, "InvalidArgument"));
}

TEST(FailuresTest, ErrorStatusOf) {
  Status denied =
      ErrorStatusOf(403, "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
                    "PutObject s3://b/k");
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.error_name(), "AccessDenied");
  EXPECT_EQ(denied.message(), "PutObject s3://b/k: Access Denied (HTTP 403)");
  Status exists = ErrorStatusOf(409, "<Error><Code>BucketAlreadyOwnedByYou</Code></Error>", "x");
  EXPECT_EQ(exists.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(exists.message(), "x: BucketAlreadyOwnedByYou (HTTP 409)");
  EXPECT_EQ(ErrorStatusOf(409, "<Error><Code>BucketNotEmpty</Code></Error>", "x").code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(ErrorStatusOf(503, "<Error><Code>SlowDown</Code></Error>", "x").code(),
            StatusCode::kUnavailable);
  // Body-less answers (HEAD).
  EXPECT_EQ(ErrorStatusOf(404, "", "x").error_name(), "NotFound");
  EXPECT_EQ(ErrorStatusOf(404, "", "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrorStatusOf(403, "", "x").error_name(), "AccessDenied");
  EXPECT_EQ(ErrorStatusOf(412, "", "x").error_name(), "PreconditionFailed");
  EXPECT_EQ(ErrorStatusOf(416, "", "x").error_name(), "InvalidRange");
  EXPECT_EQ(ErrorStatusOf(301, "", "x").error_name(), "PermanentRedirect");
  EXPECT_EQ(ErrorStatusOf(418, "", "x").error_name(), "HTTP 418");
  EXPECT_THAT(ErrorStatusOf(500, "garbage", "x").message(), HasSubstr("(HTTP 500)"));
}

}  // namespace
}  // namespace coffer::objstore::s3
