#include "kms/key_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "kms_fixture.h"

namespace coffer::kms {
namespace {

using ::coffer::kms::testing::IsError;
using ::coffer::kms::testing::IsOk;
using ::coffer::kms::testing::StatusOf;

const TimePoint kT1 = FromEpochMillis(1767225600123);
const TimePoint kT2 = FromEpochMillis(1798761600456);
const TimePoint kT3 = FromEpochMillis(1830297600789);

Status Damaged(std::string_view what) {
  return DataLossError("stored " + std::string(what) + " record is damaged");
}

KeyRecord FullKeyRecord() {
  KeyRecord r;
  r.id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff";
  r.creation_date = kT1;
  r.description = "a \"quoted\" description\nwith a newline and é";
  r.state = KeyState::kPendingDeletion;
  r.deletion_date = kT2;
  r.pending_window_days = 9;
  r.rotation_enabled = true;
  r.rotation_period_days = 180;
  r.next_rotation_date = kT3;
  r.on_demand_rotations = 4;
  r.current_version = 6;
  r.current_material_id = std::string(64, 'a');
  r.policy_saved = kT2;
  return r;
}

void ExpectSameKeyRecord(const KeyRecord& a, const KeyRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.creation_date, b.creation_date);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.deletion_date, b.deletion_date);
  EXPECT_EQ(a.pending_window_days, b.pending_window_days);
  EXPECT_EQ(a.rotation_enabled, b.rotation_enabled);
  EXPECT_EQ(a.rotation_period_days, b.rotation_period_days);
  EXPECT_EQ(a.next_rotation_date, b.next_rotation_date);
  EXPECT_EQ(a.on_demand_rotations, b.on_demand_rotations);
  EXPECT_EQ(a.current_version, b.current_version);
  EXPECT_EQ(a.current_material_id, b.current_material_id);
  EXPECT_EQ(a.policy_saved, b.policy_saved);
}

TEST(KeyRecordTest, RoundTripsEveryField) {
  KeyRecord r = FullKeyRecord();
  auto back = DecodeKeyRecord(EncodeKeyRecord(r));
  ASSERT_THAT(back, IsOk());
  ExpectSameKeyRecord(*back, r);
}

TEST(KeyRecordTest, RoundTripsWithoutOptionalFields) {
  KeyRecord r = FullKeyRecord();
  r.state = KeyState::kEnabled;
  r.deletion_date.reset();
  r.pending_window_days.reset();
  r.rotation_enabled = false;
  r.next_rotation_date.reset();
  r.policy_saved.reset();  // as in records written before it was kept
  auto back = DecodeKeyRecord(EncodeKeyRecord(r));
  ASSERT_THAT(back, IsOk());
  ExpectSameKeyRecord(*back, r);
  EXPECT_FALSE(back->deletion_date.has_value());
  EXPECT_FALSE(back->pending_window_days.has_value());
  EXPECT_FALSE(back->next_rotation_date.has_value());
  EXPECT_FALSE(back->policy_saved.has_value());
}

TEST(KeyRecordTest, RoundTripsEveryState) {
  for (KeyState s : {KeyState::kEnabled, KeyState::kDisabled, KeyState::kPendingDeletion,
                     KeyState::kPendingImport}) {
    KeyRecord r = FullKeyRecord();
    r.state = s;
    auto back = DecodeKeyRecord(EncodeKeyRecord(r));
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(back->state, s);
  }
}

TEST(KeyRecordTest, StateNames) {
  EXPECT_EQ(KeyStateName(KeyState::kEnabled), "Enabled");
  EXPECT_EQ(KeyStateName(KeyState::kDisabled), "Disabled");
  EXPECT_EQ(KeyStateName(KeyState::kPendingDeletion), "PendingDeletion");
  EXPECT_EQ(KeyStateName(KeyState::kPendingImport), "PendingImport");
}

TEST(KeyRecordTest, DamagedRecordsAreDataLoss) {
  const std::string good = EncodeKeyRecord(FullKeyRecord());
  EXPECT_THAT(DecodeKeyRecord(good), IsOk());
  auto replace = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  };
  for (const std::string& bad : {
           std::string(""),
           std::string("not json"),
           std::string("[]"),
           std::string("\"a string\""),
           std::string("{}"),
           good.substr(0, good.size() - 1),  // torn
           replace("\"state\":\"PendingDeletion\"", "\"state\":\"Deleted\""),
           replace("\"state\":\"PendingDeletion\"", "\"state\":3"),
           replace("\"rotation_enabled\":true", "\"rotation_enabled\":1"),
           replace("\"current_version\":6", "\"current_version\":\"6\""),
           replace("\"id\":", "\"uuid\":"),
           replace("\"created\":", "\"made\":"),
       }) {
    EXPECT_EQ(StatusOf(DecodeKeyRecord(bad)), Damaged("key")) << bad;
  }
}

TEST(MaterialRecordTest, RoundTrips) {
  MaterialRecord r;
  r.version = 4;
  r.material_id = std::string(64, 'f');
  r.created = kT2;
  r.rotation_type = "ON_DEMAND";
  r.sealed = Bytes{0x00, 0x01, 0xfe, 0xff, 0x80};
  auto back = DecodeMaterialRecord(EncodeMaterialRecord(r));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->version, 4u);
  EXPECT_EQ(back->material_id, r.material_id);
  EXPECT_EQ(back->created, kT2);
  EXPECT_EQ(back->rotation_type, "ON_DEMAND");
  EXPECT_EQ(back->sealed, r.sealed);

  r.rotation_type.reset();
  back = DecodeMaterialRecord(EncodeMaterialRecord(r));
  ASSERT_THAT(back, IsOk());
  EXPECT_FALSE(back->rotation_type.has_value());
}

TEST(MaterialRecordTest, DamagedRecordsAreDataLoss) {
  MaterialRecord r;
  r.version = 1;
  r.material_id = "ab";
  r.sealed = Bytes{1, 2, 3};
  std::string good = EncodeMaterialRecord(r);
  ASSERT_THAT(DecodeMaterialRecord(good), IsOk());
  std::string bad_base64 = good;
  bad_base64.replace(bad_base64.find(Base64Encode(r.sealed)), 4, "!!!!");
  for (const std::string& bad :
       {std::string("{}"), std::string("[1]"), std::string("{"), bad_base64}) {
    EXPECT_EQ(StatusOf(DecodeMaterialRecord(bad)), Damaged("key material")) << bad;
  }
}

TEST(AliasRecordTest, RoundTrips) {
  AliasRecord r{"alias/app:prod/x_y-z", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff", kT1, kT3};
  auto back = DecodeAliasRecord(EncodeAliasRecord(r));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->name, r.name);
  EXPECT_EQ(back->target, r.target);
  EXPECT_EQ(back->creation_date, kT1);
  EXPECT_EQ(back->last_updated_date, kT3);
}

TEST(AliasRecordTest, DamagedRecordsAreDataLoss) {
  for (const std::string& bad :
       {std::string("{}"), std::string("null"), std::string(R"({"name":"a","target":"b"})"),
        std::string(R"({"name":1,"target":"b","created":1,"updated":2})")}) {
    EXPECT_EQ(StatusOf(DecodeAliasRecord(bad)), Damaged("alias")) << bad;
  }
}

TEST(TagsRecordTest, RoundTrips) {
  std::map<std::string, std::string> tags = {{"a", ""}, {"Team", "kms \"core\""}, {"é", "ü"}};
  auto back = DecodeTags(EncodeTags(tags));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, tags);
  auto empty = DecodeTags(EncodeTags({}));
  ASSERT_THAT(empty, IsOk());
  EXPECT_TRUE(empty->empty());
}

TEST(TagsRecordTest, DamagedRecordsAreDataLoss) {
  for (const std::string& bad : {std::string("[]"), std::string("x"), std::string(R"({"a":1})"),
                                 std::string(R"({"a":null})")}) {
    EXPECT_EQ(StatusOf(DecodeTags(bad)), Damaged("tags")) << bad;
  }
}

TEST(MaterialKeyTest, VersionIsZeroPaddedSoKeysSortByVersion) {
  EXPECT_EQ(MaterialKey("u", 3), "u/0000000003");
  EXPECT_EQ(MaterialKey("u", 4294967295u), "u/4294967295");
  EXPECT_LT(MaterialKey("u", 9), MaterialKey("u", 10));
  EXPECT_LT(MaterialKey("u", 99), MaterialKey("u", 100));
  EXPECT_EQ(MaterialSealContext("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff", 12),
            "kms/material/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0ff/0000000012");
}

TEST(TableNamesTest, AsDocumented) {
  EXPECT_STREQ(kKeysTable, "kms.keys");
  EXPECT_STREQ(kMaterialTable, "kms.material");
  EXPECT_STREQ(kPoliciesTable, "kms.policies");
  EXPECT_STREQ(kTagsTable, "kms.tags");
  EXPECT_STREQ(kAliasesTable, "kms.aliases");
}

// ---- policy documents --------------------------------------------------------------

constexpr char kMalformed[] = "MalformedPolicyDocumentException";

TEST(PolicyDocumentTest, AcceptsKeyPolicies) {
  for (
      std::string_view ok : {
          R"({"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]})",
          R"({"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}})",
          "  {\n  \"Statement\" : [ { \"Effect\" : \"Allow\", \"Principal\" : \"*\", "
          "\"Action\" : [\"kms:*\"], \"Resource\": \"*\" } ]\n}\n",
      }) {
    EXPECT_THAT(CheckPolicyDocument(ok), IsOk()) << ok;
  }
}

// The grammar is policy/'s (tested there); here: every kind of damage is a
// MalformedPolicyDocumentException that says something, and key-policy rules apply.
TEST(PolicyDocumentTest, RejectsMalformedDocuments) {
  const std::string stmt_ok = R"("Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*")";
  for (const std::string& bad : std::vector<std::string>{
           "", "{", "{\"Statement\":[]} trailing", "[]", "42", "{}", R"({"Statement":[]})",
           R"({"Version":"2020-01-01","Statement":[{)" + stmt_ok + "}]}",
           R"({"Statement":["Allow"]})",
           R"({"Statement":[{"Effect":"allow","Principal":"*","Action":"kms:*","Resource":"*"}]})",
           R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]})",  // no principal
       }) {
    Status st = CheckPolicyDocument(bad);
    EXPECT_EQ(st.error_name(), kMalformed) << bad;
    EXPECT_FALSE(st.message().empty()) << bad;
  }
  // KMS: a statement without Action or Resource is accepted, and has no effect.
  for (const char* ineffective : {
           R"({"Statement":[{"Effect":"Allow","Principal":"*","Resource":"*"}]})",
           R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*"}]})",
       }) {
    EXPECT_THAT(CheckPolicyDocument(ineffective), IsOk()) << ineffective;
  }
}

}  // namespace
}  // namespace coffer::kms
