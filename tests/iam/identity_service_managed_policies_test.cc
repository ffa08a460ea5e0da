// IdentityService: customer managed policies (CreatePolicy and its versions,
// attaching them to users and roles, the lists), what the request pipeline
// reads of them (IdentityPoliciesOf), their survival across a restart, and
// AWS IAM's validation, limits and error texts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "iam/identity_service.h"
#include "iam/records.h"
#include "iam_fixture.h"
#include "policy/policy.h"

namespace coffer::iam {
namespace {

using ::coffer::iam::testing::AllIn;
using ::coffer::iam::testing::AllowPolicy;
using ::coffer::iam::testing::IamTest;
using ::coffer::iam::testing::IsError;
using ::coffer::iam::testing::IsOk;
using ::coffer::iam::testing::kBase32Upper;
using ::coffer::iam::testing::kStartMillis;
using ::coffer::iam::testing::kTrustAccount;
using ::coffer::iam::testing::PolicyOfSize;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr char kPolicyArnPrefix[] = "arn:aws:iam::111122223333:policy";

// The ARN of customer managed policy `name` under `path`.
std::string Arn(std::string_view name, std::string_view path = "/") {
  return std::string(kPolicyArnPrefix) + std::string(path) + std::string(name);
}

std::string DenyPolicy(std::string_view action) {
  return R"({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":")" +
         std::string(action) + R"(","Resource":"*"}]})";
}

// "Allow kms:Decrypt", one entry per action of every statement.
std::vector<std::string> Statements(const std::vector<policy::Policy>& policies) {
  std::vector<std::string> out;
  for (const auto& p : policies) {
    for (const auto& s : p.statements()) {
      for (const auto& a : s.actions) {
        out.push_back(std::string(s.effect == policy::Effect::kDeny ? "Deny " : "Allow ") + a);
      }
    }
  }
  return out;
}

std::vector<std::string> Names(const ListPoliciesResult& list) {
  std::vector<std::string> out;
  for (const ManagedPolicy& p : list.policies) out.push_back(p.policy_name);
  return out;
}
std::vector<std::string> Names(const ListAttachedPoliciesResult& list) {
  std::vector<std::string> out;
  for (const AttachedPolicy& p : list.attached_policies) out.push_back(p.policy_name);
  return out;
}
std::vector<std::string> Names(const std::vector<PolicyEntity>& entities) {
  std::vector<std::string> out;
  for (const PolicyEntity& e : entities) out.push_back(e.name);
  return out;
}
std::vector<std::string> Ids(const ListPolicyVersionsResult& list) {
  std::vector<std::string> out;
  for (const PolicyVersion& v : list.versions) out.push_back(v.version_id);
  return out;
}

class ManagedPolicyTest : public IamTest {
 protected:
  // Creates a managed policy (failing the test on error).
  ManagedPolicy NewPolicy(const std::string& name, std::optional<std::string> path = {},
                          std::string document = AllowPolicy("kms:Decrypt")) {
    CreatePolicyRequest req;
    req.policy_name = name;
    req.policy_document = std::move(document);
    req.path = std::move(path);
    auto p = iam().CreatePolicy(req);
    if (!p.ok()) {
      ADD_FAILURE() << "CreatePolicy " << name << ": " << p.status().ToString();
      return {};
    }
    return *p;
  }

  Result<ListPoliciesResult> List(ListPoliciesRequest req = {}) { return iam().ListPolicies(req); }

  Result<ListEntitiesForPolicyResult> Entities(const std::string& arn,
                                               std::optional<std::string> filter = {},
                                               Page page = {},
                                               std::optional<std::string> path_prefix = {}) {
    ListEntitiesForPolicyRequest req;
    req.policy_arn = arn;
    req.entity_filter = std::move(filter);
    req.path_prefix = std::move(path_prefix);
    req.page = std::move(page);
    return iam().ListEntitiesForPolicy(req);
  }
};

// ---- CreatePolicy / GetPolicy -------------------------------------------------------------

TEST_F(ManagedPolicyTest, CreatePolicyReturnsThePolicy) {
  clock_.Advance(std::chrono::seconds(5));
  CreatePolicyRequest req;
  req.policy_name = "KmsReaders";
  req.policy_document = AllowPolicy("kms:Decrypt");
  req.path = "/team/kms/";
  req.description = "who may decrypt";
  req.tags = {Tag{"env", "prod"}, Tag{"Owner", "ops"}};
  ASSERT_OK_AND_ASSIGN(ManagedPolicy p, iam().CreatePolicy(req));
  EXPECT_EQ(p.policy_name, "KmsReaders");
  EXPECT_EQ(p.path, "/team/kms/");
  EXPECT_EQ(p.arn, "arn:aws:iam::111122223333:policy/team/kms/KmsReaders");
  EXPECT_EQ(p.policy_id.size(), 21u);
  EXPECT_TRUE(p.policy_id.starts_with("ANPA")) << p.policy_id;
  EXPECT_TRUE(AllIn(p.policy_id.substr(4), kBase32Upper)) << p.policy_id;
  EXPECT_EQ(p.default_version_id, "v1");
  EXPECT_EQ(p.attachment_count, 0);
  EXPECT_EQ(p.description, "who may decrypt");
  EXPECT_EQ(EpochMillis(p.create_date), kStartMillis + 5000);
  EXPECT_EQ(EpochMillis(p.update_date), kStartMillis + 5000);
  EXPECT_THAT(p.tags, ElementsAre(Tag{"env", "prod"}, Tag{"Owner", "ops"}));
  EXPECT_EQ(iam().PolicyArn("/team/kms/", "KmsReaders"), p.arn);

  clock_.Advance(std::chrono::seconds(60));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.policy_name, p.policy_name);
  EXPECT_EQ(got.policy_id, p.policy_id);
  EXPECT_EQ(got.arn, p.arn);
  EXPECT_EQ(got.path, p.path);
  EXPECT_EQ(got.default_version_id, "v1");
  EXPECT_EQ(got.attachment_count, 0);
  EXPECT_EQ(got.description, "who may decrypt");
  EXPECT_EQ(got.create_date, p.create_date);
  EXPECT_EQ(got.update_date, p.update_date);
  EXPECT_EQ(got.tags, p.tags);

  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(p.arn, "v1"));
  EXPECT_EQ(v1.document, AllowPolicy("kms:Decrypt"));
  EXPECT_TRUE(v1.is_default_version);
  EXPECT_EQ(EpochMillis(v1.create_date), kStartMillis + 5000);

  // The default path, and no description.
  ManagedPolicy plain = NewPolicy("plain");
  EXPECT_EQ(plain.path, "/");
  EXPECT_EQ(plain.arn, "arn:aws:iam::111122223333:policy/plain");
  EXPECT_FALSE(plain.description.has_value());
  EXPECT_THAT(plain.tags, IsEmpty());
  EXPECT_NE(plain.policy_id, p.policy_id);
}

TEST_F(ManagedPolicyTest, ManagedPolicyNamesAreUniqueInAnyCaseAndPath) {
  ManagedPolicy first = NewPolicy("Ops", "/a/");
  for (const auto& [name, path] : std::vector<std::pair<std::string, std::optional<std::string>>>{
           {"Ops", std::string("/a/")},
           {"OPS", std::nullopt},
           {"ops", std::string("/b/")},
           {"oPs", std::string("/a/b/")}}) {
    CreatePolicyRequest req;
    req.policy_name = name;
    req.policy_document = AllowPolicy("kms:*");
    req.path = path;
    EXPECT_THAT(iam().CreatePolicy(req),
                IsError("EntityAlreadyExists", "A policy called " + name +
                                                   " already exists. Duplicate names are not "
                                                   "allowed."))
        << name;
  }
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult list, List());
  ASSERT_EQ(list.policies.size(), 1u);
  EXPECT_EQ(list.policies[0].policy_id, first.policy_id);
  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(first.arn, "v1"));
  EXPECT_EQ(v1.document, AllowPolicy("kms:Decrypt"));
}

TEST_F(ManagedPolicyTest, ManagedPolicyDocumentsAreChecked) {
  CreatePolicyRequest req;
  req.policy_name = "p";
  req.policy_document = "{bad";
  EXPECT_THAT(iam().CreatePolicy(req),
              IsError("MalformedPolicyDocument", "Syntax errors in policy."));
  req.policy_document = kTrustAccount;  // names a principal
  EXPECT_THAT(iam().CreatePolicy(req), IsError("MalformedPolicyDocument",
                                               "Policy document should not specify a principal."));
  req.policy_document = R"({"Version":"2012-10-17"})";
  EXPECT_EQ(iam().CreatePolicy(req).status().error_name(), "MalformedPolicyDocument");
  req.policy_document = "";
  EXPECT_EQ(iam().CreatePolicy(req).status().error_name(), "ValidationError");
  EXPECT_EQ(iam().GetPolicy(Arn("p")).status().error_name(), "NoSuchEntity");

  // CreatePolicyVersion checks its document alike.
  ManagedPolicy p = NewPolicy("p");
  EXPECT_THAT(iam().CreatePolicyVersion(p.arn, "{bad", true),
              IsError("MalformedPolicyDocument", "Syntax errors in policy."));
  EXPECT_THAT(
      iam().CreatePolicyVersion(p.arn, kTrustAccount, false),
      IsError("MalformedPolicyDocument", "Policy document should not specify a principal."));
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult versions, iam().ListPolicyVersions(p.arn, {}));
  EXPECT_THAT(Ids(versions), ElementsAre("v1"));
}

TEST_F(ManagedPolicyTest, ManagedPolicySizeQuotaIgnoresWhiteSpace) {
  const std::string too_big = PolicyOfSize(6145);
  ASSERT_EQ(too_big.size(), 6145u);
  CreatePolicyRequest req;
  req.policy_name = "big";
  req.policy_document = too_big;
  EXPECT_THAT(iam().CreatePolicy(req),
              IsError("LimitExceeded", "Cannot exceed quota for PolicySize: 6144"));
  // 6,144 characters and white space: accepted.
  std::string fits = PolicyOfSize(6144);
  fits.insert(1, std::string(500, ' '));
  fits.insert(fits.size() - 1, "\n\t\r\n");
  req.policy_document = fits;
  ASSERT_OK_AND_ASSIGN(ManagedPolicy p, iam().CreatePolicy(req));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(p.arn, "v1"));
  EXPECT_EQ(v1.document, fits);
  // Each version on its own.
  EXPECT_THAT(iam().CreatePolicyVersion(p.arn, too_big, false),
              IsError("LimitExceeded", "Cannot exceed quota for PolicySize: 6144"));
  EXPECT_OK(iam().CreatePolicyVersion(p.arn, PolicyOfSize(6144), false));
}

TEST_F(ManagedPolicyTest, ManagedPolicySizeQuotaFollowsTheOption) {
  options_.max_managed_policy_size = 200;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  CreatePolicyRequest req;
  req.policy_name = "p";
  req.policy_document = PolicyOfSize(201);
  EXPECT_THAT(iam().CreatePolicy(req),
              IsError("LimitExceeded", "Cannot exceed quota for PolicySize: 200"));
  req.policy_document = PolicyOfSize(200);
  EXPECT_OK(iam().CreatePolicy(req));
}

TEST_F(ManagedPolicyTest, CreateManagedPolicyValidation) {
  CreatePolicyRequest req;
  req.policy_name = "p";
  req.policy_document = AllowPolicy("kms:*");
  req.path = "nope";
  EXPECT_THAT(iam().CreatePolicy(req),
              IsError("ValidationError",
                      "1 validation error detected: Value 'nope' at 'path' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "((/[A-Za-z0-9\\.,\\+@=_-]+)*)/"));
  for (const char* bad : {"/a", "a/", "/a//b/", "//", "/a b/", "/a~b/", ""}) {
    req.path = bad;
    EXPECT_EQ(iam().CreatePolicy(req).status().error_name(), "ValidationError") << bad;
  }
  req.path = std::string(513, '/');
  EXPECT_EQ(iam().CreatePolicy(req).status().error_name(), "ValidationError");
  req.path = "/a.b,c+d@e=f_g-h/0/";
  req.policy_name = "bad name";
  EXPECT_THAT(iam().CreatePolicy(req),
              IsError("ValidationError",
                      "1 validation error detected: Value 'bad name' at 'policyName' failed to "
                      "satisfy constraint: Member must satisfy regular expression pattern: "
                      "[\\w+=,.@-]+"));
  req.policy_name = "p";
  req.description = std::string(1001, 'd');
  EXPECT_EQ(iam().CreatePolicy(req).status().error_name(), "ValidationError");
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult none, List());
  EXPECT_THAT(none.policies, IsEmpty());
  req.description = std::string(1000, 'd');
  ASSERT_OK_AND_ASSIGN(ManagedPolicy p, iam().CreatePolicy(req));
  EXPECT_EQ(p.arn, "arn:aws:iam::111122223333:policy/a.b,c+d@e=f_g-h/0/p");
}

TEST_F(ManagedPolicyTest, PoliciesPerAccountQuota) {
  options_.max_managed_policies = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewPolicy("one");
  ManagedPolicy two = NewPolicy("two", "/x/");
  CreatePolicyRequest req;
  req.policy_name = "three";
  req.policy_document = AllowPolicy("kms:*");
  EXPECT_THAT(iam().CreatePolicy(req),
              IsError("LimitExceeded", "Cannot exceed quota for PoliciesPerAccount: 2"));
  ASSERT_OK(iam().DeletePolicy(two.arn));
  EXPECT_OK(iam().CreatePolicy(req));
  EXPECT_THAT(iam().CreatePolicy(CreatePolicyRequest{"four", AllowPolicy("kms:*"), {}, {}, {}}),
              IsError("LimitExceeded", "Cannot exceed quota for PoliciesPerAccount: 2"));
}

TEST_F(ManagedPolicyTest, GetManagedPolicyNeedsItsExactArn) {
  ManagedPolicy p = NewPolicy("P", "/svc/");
  EXPECT_OK(iam().GetPolicy("arn:aws:iam::111122223333:policy/svc/P"));
  // A policy ARN that names no policy of the account.
  for (const std::string& arn : {Arn("P"), Arn("P", "/other/"), Arn("Q", "/svc/"),
                                 std::string("arn:aws:iam::444455556666:policy/svc/P"),
                                 std::string("arn:aws:iam::aws:policy/AdministratorAccess"),
                                 std::string("arn:aws:iam::aws:policy/svc/P")}) {
    EXPECT_THAT(iam().GetPolicy(arn), IsError("NoSuchEntity", "Policy " + arn + " was not found."))
        << arn;
  }
  // Not a policy ARN at all.
  for (const std::string& arn : {std::string("arn:aws:iam::111122223333:user/svc/P"),
                                 std::string("arn:aws:iam::111122223333:role/P"),
                                 std::string("arn:aws:kms:us-east-1:111122223333:key/x"),
                                 std::string("arn:aws:iam::111122223333:policy/"),
                                 std::string("arn:aws:iam::1111:policy/svc/P")}) {
    EXPECT_THAT(iam().GetPolicy(arn), IsError("InvalidInput", "ARN " + arn + " is not valid."))
        << arn;
  }
  EXPECT_THAT(iam().GetPolicy("arn:aws:iam::1:p"),
              IsError("ValidationError",
                      "1 validation error detected: Value 'arn:aws:iam::1:p' at 'policyArn' "
                      "failed to satisfy constraint: Member must have length greater than or "
                      "equal to 20"));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.policy_id, p.policy_id);
}

// ---- versions -------------------------------------------------------------------------------

TEST_F(ManagedPolicyTest, PolicyVersionIdsAreNeverUsedTwice) {
  ManagedPolicy p = NewPolicy("P");
  clock_.Advance(std::chrono::seconds(10));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v2,
                       iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), false));
  EXPECT_EQ(v2.version_id, "v2");
  EXPECT_FALSE(v2.is_default_version);
  EXPECT_EQ(EpochMillis(v2.create_date), kStartMillis + 10000);
  EXPECT_TRUE(v2.document.empty());
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.default_version_id, "v1");
  EXPECT_EQ(EpochMillis(got.create_date), kStartMillis);
  EXPECT_EQ(EpochMillis(got.update_date), kStartMillis + 10000);

  clock_.Advance(std::chrono::seconds(10));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v3,
                       iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Sign"), true));
  EXPECT_EQ(v3.version_id, "v3");
  EXPECT_TRUE(v3.is_default_version);
  ASSERT_OK_AND_ASSIGN(got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.default_version_id, "v3");
  EXPECT_EQ(EpochMillis(got.update_date), kStartMillis + 20000);
  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(p.arn, "v1"));
  EXPECT_FALSE(v1.is_default_version);

  // Deleting v2 frees no id: the next is v4; nor does deleting the newest.
  ASSERT_OK(iam().DeletePolicyVersion(p.arn, "v2"));
  EXPECT_THAT(iam().GetPolicyVersion(p.arn, "v2"),
              IsError("NoSuchEntity",
                      "Policy " + p.arn + " version v2 does not exist or is not attachable."));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v4,
                       iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Verify"), false));
  EXPECT_EQ(v4.version_id, "v4");
  ASSERT_OK(iam().DeletePolicyVersion(p.arn, "v4"));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v5,
                       iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Verify"), false));
  EXPECT_EQ(v5.version_id, "v5");
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult list, iam().ListPolicyVersions(p.arn, {}));
  EXPECT_THAT(Ids(list), ElementsAre("v5", "v3", "v1"));
}

TEST_F(ManagedPolicyTest, APolicyHasAtMostFiveVersions) {
  ManagedPolicy p = NewPolicy("P");
  for (int i = 2; i <= 5; ++i) {
    ASSERT_OK_AND_ASSIGN(PolicyVersion v,
                         iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Decrypt"), false));
    EXPECT_EQ(v.version_id, "v" + std::to_string(i));
  }
  const std::string limit_text =
      "A managed policy can have up to 5 versions. Before you create a new version, you must "
      "delete an existing version.";
  EXPECT_THAT(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), true),
              IsError("LimitExceeded", limit_text));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.default_version_id, "v1");  // the refused SetAsDefault did nothing
  ASSERT_OK(iam().DeletePolicyVersion(p.arn, "v3"));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v6,
                       iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), true));
  EXPECT_EQ(v6.version_id, "v6");
  EXPECT_THAT(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), true),
              IsError("LimitExceeded", limit_text));
}

TEST_F(ManagedPolicyTest, PolicyVersionLimitFollowsTheOption) {
  options_.max_policy_versions = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), false));
  EXPECT_THAT(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), false),
              IsError("LimitExceeded",
                      "A managed policy can have up to 2 versions. Before you create a new "
                      "version, you must delete an existing version."));
}

TEST_F(ManagedPolicyTest, GetPolicyVersionReturnsTheDocumentVerbatim) {
  const std::string spaced =
      "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", "
      "\"Action\": [\"kms:Decrypt\", \"kms:Encrypt\"], \"Resource\": \"*\"}\n  ]\n}\n";
  ManagedPolicy p = NewPolicy("P", std::nullopt, spaced);
  clock_.Advance(std::chrono::seconds(3));
  const std::string second = "\t" + AllowPolicy("kms:Sign") + "\r\n";
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, second, false));

  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(p.arn, "v1"));
  EXPECT_EQ(v1.version_id, "v1");
  EXPECT_EQ(v1.document, spaced);
  EXPECT_TRUE(v1.is_default_version);
  EXPECT_EQ(EpochMillis(v1.create_date), kStartMillis);
  ASSERT_OK_AND_ASSIGN(PolicyVersion v2, iam().GetPolicyVersion(p.arn, "v2"));
  EXPECT_EQ(v2.document, second);
  EXPECT_FALSE(v2.is_default_version);
  EXPECT_EQ(EpochMillis(v2.create_date), kStartMillis + 3000);

  EXPECT_THAT(iam().GetPolicyVersion(p.arn, "v3"),
              IsError("NoSuchEntity",
                      "Policy " + p.arn + " version v3 does not exist or is not attachable."));
  EXPECT_THAT(iam().GetPolicyVersion(Arn("Q"), "v1"),
              IsError("NoSuchEntity", "Policy " + Arn("Q") + " was not found."));
  EXPECT_THAT(iam().GetPolicyVersion(p.arn, "1"),
              IsError("ValidationError",
                      "1 validation error detected: Value '1' at 'versionId' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "v[1-9][0-9]*(\\.[A-Za-z0-9-]*)?"));
  for (const char* bad : {"v0", "v", "V1", "v1x", "v01", "", "v1.a_b"}) {
    EXPECT_EQ(iam().GetPolicyVersion(p.arn, bad).status().error_name(), "ValidationError") << bad;
  }
  // Well-formed ids that name no version.
  for (const char* unknown : {"v1.", "v1.abc-1", "v10"}) {
    EXPECT_EQ(iam().GetPolicyVersion(p.arn, unknown).status().error_name(), "NoSuchEntity")
        << unknown;
  }
}

TEST_F(ManagedPolicyTest, ListPolicyVersionsNewestFirstInPages) {
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), false));
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Sign"), true));
  clock_.Advance(std::chrono::seconds(7));
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Verify"), false));

  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult all, iam().ListPolicyVersions(p.arn, {}));
  EXPECT_THAT(Ids(all), ElementsAre("v4", "v3", "v2", "v1"));
  EXPECT_FALSE(all.is_truncated);
  EXPECT_FALSE(all.marker.has_value());
  ASSERT_EQ(all.versions.size(), 4u);
  for (const PolicyVersion& v : all.versions) {
    EXPECT_EQ(v.is_default_version, v.version_id == "v3") << v.version_id;
    EXPECT_TRUE(v.document.empty()) << v.version_id;  // listed without documents
  }
  EXPECT_EQ(EpochMillis(all.versions[0].create_date), kStartMillis + 7000);
  EXPECT_EQ(EpochMillis(all.versions[1].create_date), kStartMillis);

  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult page1,
                       iam().ListPolicyVersions(p.arn, Page{std::nullopt, 2}));
  EXPECT_THAT(Ids(page1), ElementsAre("v4", "v3"));
  EXPECT_TRUE(page1.is_truncated);
  ASSERT_TRUE(page1.marker.has_value());
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult page2,
                       iam().ListPolicyVersions(p.arn, Page{page1.marker, 1}));
  EXPECT_THAT(Ids(page2), ElementsAre("v2"));
  EXPECT_TRUE(page2.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult page3,
                       iam().ListPolicyVersions(p.arn, Page{page2.marker, 5}));
  EXPECT_THAT(Ids(page3), ElementsAre("v1"));
  EXPECT_FALSE(page3.is_truncated);
  EXPECT_FALSE(page3.marker.has_value());

  // A version id is no marker, and another policy's marker is none for this one.
  EXPECT_THAT(iam().ListPolicyVersions(p.arn, Page{std::string("v3"), 1}),
              IsError("ValidationError", "Invalid Marker."));
  ManagedPolicy q = NewPolicy("Q");
  EXPECT_THAT(iam().ListPolicyVersions(q.arn, Page{page1.marker, 1}),
              IsError("ValidationError", "Invalid Marker."));
  EXPECT_EQ(iam().ListPolicyVersions(p.arn, Page{std::nullopt, 0}).status().error_name(),
            "ValidationError");
  EXPECT_THAT(iam().ListPolicyVersions(Arn("Nope"), {}),
              IsError("NoSuchEntity", "Policy " + Arn("Nope") + " was not found."));
}

TEST_F(ManagedPolicyTest, DeletePolicyVersionRules) {
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), false));
  EXPECT_THAT(iam().DeletePolicyVersion(p.arn, "v1"),
              IsError("DeleteConflict", "Cannot delete the default version of a policy."));
  EXPECT_THAT(iam().DeletePolicyVersion(p.arn, "v9"),
              IsError("NoSuchEntity",
                      "Policy " + p.arn + " version v9 does not exist or is not attachable."));
  EXPECT_THAT(iam().DeletePolicyVersion(Arn("Q"), "v2"),
              IsError("NoSuchEntity", "Policy " + Arn("Q") + " was not found."));
  EXPECT_EQ(iam().DeletePolicyVersion(p.arn, "two").error_name(), "ValidationError");
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult list, iam().ListPolicyVersions(p.arn, {}));
  EXPECT_THAT(Ids(list), ElementsAre("v2", "v1"));

  ASSERT_OK(iam().DeletePolicyVersion(p.arn, "v2"));
  EXPECT_THAT(iam().DeletePolicyVersion(p.arn, "v2"),
              IsError("NoSuchEntity",
                      "Policy " + p.arn + " version v2 does not exist or is not attachable."));
  ASSERT_OK_AND_ASSIGN(list, iam().ListPolicyVersions(p.arn, {}));
  EXPECT_THAT(Ids(list), ElementsAre("v1"));
}

TEST_F(ManagedPolicyTest, SetDefaultPolicyVersion) {
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), true));
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Sign"), false));
  ASSERT_OK(iam().SetDefaultPolicyVersion(p.arn, "v1"));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.default_version_id, "v1");
  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(p.arn, "v1"));
  EXPECT_TRUE(v1.is_default_version);
  ASSERT_OK_AND_ASSIGN(PolicyVersion v2, iam().GetPolicyVersion(p.arn, "v2"));
  EXPECT_FALSE(v2.is_default_version);
  // The former default may go now; the new one may not.
  ASSERT_OK(iam().DeletePolicyVersion(p.arn, "v2"));
  EXPECT_THAT(iam().DeletePolicyVersion(p.arn, "v1"),
              IsError("DeleteConflict", "Cannot delete the default version of a policy."));
  // Setting the default that is the default already is fine.
  EXPECT_OK(iam().SetDefaultPolicyVersion(p.arn, "v1"));

  EXPECT_THAT(iam().SetDefaultPolicyVersion(p.arn, "v2"),
              IsError("NoSuchEntity",
                      "Policy " + p.arn + " version v2 does not exist or is not attachable."));
  EXPECT_THAT(iam().SetDefaultPolicyVersion(Arn("Q"), "v1"),
              IsError("NoSuchEntity", "Policy " + Arn("Q") + " was not found."));
  EXPECT_EQ(iam().SetDefaultPolicyVersion(p.arn, "latest").error_name(), "ValidationError");
  ASSERT_OK_AND_ASSIGN(got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.default_version_id, "v1");
}

// ---- DeletePolicy ---------------------------------------------------------------------------

TEST_F(ManagedPolicyTest, DeleteManagedPolicyNeedsItDetachedAndWithoutVersions) {
  NewUser("alice");
  ManagedPolicy p = NewPolicy("P", "/x/");
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), true));
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  EXPECT_THAT(iam().DeletePolicy(p.arn),
              IsError("DeleteConflict", "Cannot delete a policy attached to entities."));
  ASSERT_OK(iam().DetachUserPolicy("alice", p.arn));
  auto versions_left = iam().DeletePolicy(p.arn);
  EXPECT_EQ(versions_left.error_name(), "DeleteConflict");
  EXPECT_THAT(versions_left.message(), StartsWith("This policy has more than one version."));
  EXPECT_OK(iam().GetPolicy(p.arn));

  ASSERT_OK(iam().DeletePolicyVersion(p.arn, "v1"));
  ASSERT_OK(iam().DeletePolicy(p.arn));
  EXPECT_THAT(iam().GetPolicy(p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  EXPECT_THAT(iam().GetPolicyVersion(p.arn, "v2"),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  EXPECT_THAT(iam().DeletePolicy(p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult list, List());
  EXPECT_THAT(list.policies, IsEmpty());
  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult attached,
                       iam().ListAttachedUserPolicies("alice", std::nullopt, {}));
  EXPECT_THAT(attached.attached_policies, IsEmpty());

  // The name is free again, for a new policy: a new id, versions from v1.
  ManagedPolicy again = NewPolicy("p");
  EXPECT_NE(again.policy_id, p.policy_id);
  EXPECT_EQ(again.default_version_id, "v1");
  ASSERT_OK_AND_ASSIGN(PolicyVersion v2,
                       iam().CreatePolicyVersion(again.arn, AllowPolicy("kms:Sign"), false));
  EXPECT_EQ(v2.version_id, "v2");
  EXPECT_THAT(iam().GetPolicy(p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
}

// ---- attach / detach ------------------------------------------------------------------------

TEST_F(ManagedPolicyTest, AttachingTwiceCountsOnce) {
  policy::Principal alice = NewUser("Alice");
  Role role = NewRole("R");
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  ASSERT_OK(iam().AttachUserPolicy("ALICE", p.arn));  // attached already: no change
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 1);
  ASSERT_OK(iam().AttachRolePolicy("r", p.arn));
  ASSERT_OK(iam().AttachRolePolicy("R", p.arn));
  ASSERT_OK_AND_ASSIGN(got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 2);

  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult users,
                       iam().ListAttachedUserPolicies("alice", std::nullopt, {}));
  ASSERT_EQ(users.attached_policies.size(), 1u);
  EXPECT_EQ(users.attached_policies[0].policy_name, "P");
  EXPECT_EQ(users.attached_policies[0].policy_arn, p.arn);
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult entities, Entities(p.arn));
  ASSERT_EQ(entities.users.size(), 1u);
  EXPECT_EQ(entities.users[0].name, "Alice");
  EXPECT_EQ(entities.users[0].id, alice.user_id);
  ASSERT_EQ(entities.roles.size(), 1u);
  EXPECT_EQ(entities.roles[0].name, "R");
  EXPECT_EQ(entities.roles[0].id, role.role_id);

  ASSERT_OK(iam().DetachUserPolicy("alice", p.arn));
  ASSERT_OK_AND_ASSIGN(got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 1);
  EXPECT_THAT(iam().DetachUserPolicy("alice", p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  ASSERT_OK(iam().DetachRolePolicy("R", p.arn));
  ASSERT_OK_AND_ASSIGN(got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 0);
  ASSERT_OK_AND_ASSIGN(entities, Entities(p.arn));
  EXPECT_THAT(entities.users, IsEmpty());
  EXPECT_THAT(entities.roles, IsEmpty());
}

TEST_F(ManagedPolicyTest, AttachedManagedPoliciesPerUserAndRoleQuota) {
  NewUser("alice");
  NewRole("R");
  std::vector<ManagedPolicy> policies;
  for (int i = 0; i < 11; ++i) policies.push_back(NewPolicy("p" + std::to_string(i)));
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(iam().AttachUserPolicy("alice", policies[i].arn)) << i;
    ASSERT_OK(iam().AttachRolePolicy("R", policies[i].arn)) << i;
  }
  EXPECT_THAT(iam().AttachUserPolicy("alice", policies[10].arn),
              IsError("LimitExceeded", "Cannot exceed quota for PoliciesPerUser: 10"));
  EXPECT_THAT(iam().AttachRolePolicy("R", policies[10].arn),
              IsError("LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 10"));
  // Attaching one that is attached already is no new attachment.
  EXPECT_OK(iam().AttachUserPolicy("alice", policies[3].arn));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy last, iam().GetPolicy(policies[10].arn));
  EXPECT_EQ(last.attachment_count, 0);
  ASSERT_OK(iam().DetachUserPolicy("alice", policies[0].arn));
  EXPECT_OK(iam().AttachUserPolicy("alice", policies[10].arn));
}

TEST_F(ManagedPolicyTest, AttachedManagedPoliciesQuotaFollowsTheOption) {
  options_.max_attached_policies = 2;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewUser("alice");
  NewRole("R");
  ManagedPolicy a = NewPolicy("a"), b = NewPolicy("b"), c = NewPolicy("c");
  ASSERT_OK(iam().AttachUserPolicy("alice", a.arn));
  ASSERT_OK(iam().AttachUserPolicy("alice", b.arn));
  EXPECT_THAT(iam().AttachUserPolicy("alice", c.arn),
              IsError("LimitExceeded", "Cannot exceed quota for PoliciesPerUser: 2"));
  ASSERT_OK(iam().AttachRolePolicy("R", b.arn));
  ASSERT_OK(iam().AttachRolePolicy("R", c.arn));
  EXPECT_THAT(iam().AttachRolePolicy("R", a.arn),
              IsError("LimitExceeded", "Cannot exceed quota for PoliciesPerRole: 2"));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(a.arn));
  EXPECT_EQ(got.attachment_count, 1);
  ASSERT_OK_AND_ASSIGN(got, iam().GetPolicy(c.arn));
  EXPECT_EQ(got.attachment_count, 1);
}

TEST_F(ManagedPolicyTest, AttachAndDetachManagedPolicyErrors) {
  NewUser("alice");
  NewRole("R");
  ManagedPolicy p = NewPolicy("P", "/svc/");
  for (const std::string& arn : {Arn("Nope"), Arn("P"),  // without its path
                                 std::string("arn:aws:iam::aws:policy/AdministratorAccess"),
                                 std::string("arn:aws:iam::444455556666:policy/svc/P")}) {
    const std::string text = "Policy " + arn + " does not exist or is not attachable.";
    EXPECT_THAT(iam().AttachUserPolicy("alice", arn), IsError("NoSuchEntity", text)) << arn;
    EXPECT_THAT(iam().AttachRolePolicy("R", arn), IsError("NoSuchEntity", text)) << arn;
    const std::string not_found = "Policy " + arn + " was not found.";
    EXPECT_THAT(iam().DetachUserPolicy("alice", arn), IsError("NoSuchEntity", not_found)) << arn;
    EXPECT_THAT(iam().DetachRolePolicy("R", arn), IsError("NoSuchEntity", not_found)) << arn;
  }
  const std::string user_arn = "arn:aws:iam::111122223333:user/alice";
  EXPECT_THAT(iam().AttachUserPolicy("alice", user_arn),
              IsError("InvalidInput", "ARN " + user_arn + " is not valid."));
  EXPECT_THAT(iam().AttachUserPolicy("nobody", p.arn),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
  EXPECT_THAT(iam().AttachRolePolicy("nobody", p.arn),
              IsError("NoSuchEntity", "The role with name nobody cannot be found."));
  EXPECT_THAT(iam().DetachUserPolicy("nobody", p.arn),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
  EXPECT_THAT(iam().DetachRolePolicy("nobody", p.arn),
              IsError("NoSuchEntity", "The role with name nobody cannot be found."));
  EXPECT_THAT(iam().DetachUserPolicy("alice", p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  EXPECT_THAT(iam().DetachRolePolicy("R", p.arn),
              IsError("NoSuchEntity", "Policy " + p.arn + " was not found."));
  EXPECT_EQ(iam().AttachUserPolicy("bad name", p.arn).error_name(), "ValidationError");
  EXPECT_EQ(iam().AttachRolePolicy("R", "arn:short").error_name(), "ValidationError");
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 0);
}

TEST_F(ManagedPolicyTest, DeleteUserOrRoleWithAnAttachedManagedPolicy) {
  NewUser("alice");
  NewRole("R");
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  ASSERT_OK(iam().AttachRolePolicy("R", p.arn));
  EXPECT_THAT(iam().DeleteUser("alice"),
              IsError("DeleteConflict", "Cannot delete entity, must detach all policies first."));
  EXPECT_THAT(iam().DeleteRole("R"),
              IsError("DeleteConflict", "Cannot delete entity, must detach all policies first."));
  ASSERT_OK(iam().DetachUserPolicy("alice", p.arn));
  ASSERT_OK(iam().DetachRolePolicy("R", p.arn));
  ASSERT_OK(iam().DeleteUser("alice"));
  ASSERT_OK(iam().DeleteRole("R"));
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(p.arn));
  EXPECT_EQ(got.attachment_count, 0);
  // A new user of the same name has none of the old one's policies.
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult attached,
                       iam().ListAttachedUserPolicies("alice", std::nullopt, {}));
  EXPECT_THAT(attached.attached_policies, IsEmpty());
}

// ---- IdentityPoliciesOf ------------------------------------------------------------------------

TEST_F(ManagedPolicyTest, IdentityPoliciesOfAUserIncludeItsManagedPolicies) {
  NewUser("alice");
  ASSERT_OK_AND_ASSIGN(NewAccessKey key, iam().CreateAccessKey(Root(), std::string("alice")));
  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(key.access_key_id));
  const policy::Principal alice = c.principal;
  ASSERT_OK(iam().PutUserPolicy("alice", "inline", AllowPolicy("kms:Decrypt")));
  ManagedPolicy p = NewPolicy("P", std::nullopt, AllowPolicy("kms:Encrypt"));
  ManagedPolicy q = NewPolicy("Q", "/x/", AllowPolicy("kms:Sign"));

  ASSERT_OK_AND_ASSIGN(auto before, iam().IdentityPoliciesOf(alice));  // now cached
  EXPECT_THAT(Statements(*before), ElementsAre("Allow kms:Decrypt"));
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  ASSERT_OK_AND_ASSIGN(auto one, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*one), ElementsAre("Allow kms:Decrypt", "Allow kms:Encrypt"));
  ASSERT_OK(iam().AttachUserPolicy("alice", q.arn));
  ASSERT_OK_AND_ASSIGN(auto two, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*two),
              ElementsAre("Allow kms:Decrypt", "Allow kms:Encrypt", "Allow kms:Sign"));

  // A version that is not the default changes nothing.
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, DenyPolicy("kms:*"), false));
  ASSERT_OK_AND_ASSIGN(auto same, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*same),
              ElementsAre("Allow kms:Decrypt", "Allow kms:Encrypt", "Allow kms:Sign"));
  // Making it the default does, at once.
  ASSERT_OK(iam().SetDefaultPolicyVersion(p.arn, "v2"));
  ASSERT_OK_AND_ASSIGN(auto denied, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*denied),
              ElementsAre("Allow kms:Decrypt", "Deny kms:*", "Allow kms:Sign"));
  ASSERT_OK(iam().SetDefaultPolicyVersion(p.arn, "v1"));
  ASSERT_OK_AND_ASSIGN(auto back, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*back),
              ElementsAre("Allow kms:Decrypt", "Allow kms:Encrypt", "Allow kms:Sign"));
  // So does a new version created as the default.
  ASSERT_OK(iam().CreatePolicyVersion(q.arn, DenyPolicy("kms:Sign"), true));
  ASSERT_OK_AND_ASSIGN(auto new_default, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*new_default),
              ElementsAre("Allow kms:Decrypt", "Allow kms:Encrypt", "Deny kms:Sign"));

  ASSERT_OK(iam().DetachUserPolicy("alice", p.arn));
  ASSERT_OK_AND_ASSIGN(auto detached, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*detached), ElementsAre("Allow kms:Decrypt", "Deny kms:Sign"));
  ASSERT_OK(iam().DetachUserPolicy("alice", q.arn));
  ASSERT_OK(iam().DeleteUserPolicy("alice", "inline"));
  ASSERT_OK_AND_ASSIGN(auto none, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(*none, IsEmpty());
}

TEST_F(ManagedPolicyTest, IdentityPoliciesOfASessionIncludeItsRolesManagedPolicies) {
  policy::Principal alice = NewUser("alice");
  Role role = NewRole("R", std::nullopt, "/svc/");
  ManagedPolicy p = NewPolicy("P", std::nullopt, AllowPolicy("kms:GenerateDataKey"));
  ASSERT_OK(iam().AttachRolePolicy("R", p.arn));
  ASSERT_OK_AND_ASSIGN(AssumeRoleResult out,
                       iam().AssumeRole(alice, AssumeRoleRequest{role.arn, "s1", std::nullopt}));
  ASSERT_OK_AND_ASSIGN(Credential c, iam().FindCredential(out.access_key_id));
  ASSERT_OK_AND_ASSIGN(auto policies, iam().IdentityPoliciesOf(c.principal));
  EXPECT_THAT(Statements(*policies), ElementsAre("Allow kms:GenerateDataKey"));
  // The role's policies, not the user's who assumed it.
  ASSERT_OK_AND_ASSIGN(auto users, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(*users, IsEmpty());

  ASSERT_OK(iam().CreatePolicyVersion(p.arn, DenyPolicy("kms:GenerateDataKey"), true));
  ASSERT_OK_AND_ASSIGN(auto denied, iam().IdentityPoliciesOf(c.principal));
  EXPECT_THAT(Statements(*denied), ElementsAre("Deny kms:GenerateDataKey"));
  ASSERT_OK(iam().DetachRolePolicy("R", p.arn));
  ASSERT_OK_AND_ASSIGN(auto gone, iam().IdentityPoliciesOf(c.principal));
  EXPECT_THAT(*gone, IsEmpty());
}

// ---- lists -------------------------------------------------------------------------------------

TEST_F(ManagedPolicyTest, ListManagedPoliciesFilters) {
  NewUser("alice");
  NewPolicy("charlie", "/eng/sub/");
  ManagedPolicy bravo = NewPolicy("Bravo", "/eng/");
  ManagedPolicy alpha = NewPolicy("alpha");
  ASSERT_OK(iam().AttachUserPolicy("alice", bravo.arn));

  ASSERT_OK_AND_ASSIGN(ListPoliciesResult all, List());
  EXPECT_THAT(Names(all), ElementsAre("alpha", "Bravo", "charlie"));
  EXPECT_FALSE(all.is_truncated);
  ASSERT_EQ(all.policies.size(), 3u);
  EXPECT_EQ(all.policies[0].arn, alpha.arn);
  EXPECT_EQ(all.policies[0].policy_id, alpha.policy_id);
  EXPECT_EQ(all.policies[1].attachment_count, 1);

  ListPoliciesRequest req;
  req.scope = "Local";
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult local, List(req));
  EXPECT_THAT(Names(local), ElementsAre("alpha", "Bravo", "charlie"));
  req.scope = "All";
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult scope_all, List(req));
  EXPECT_THAT(Names(scope_all), ElementsAre("alpha", "Bravo", "charlie"));
  req.scope = "AWS";  // coffer has no AWS managed policies
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult aws, List(req));
  EXPECT_THAT(aws.policies, IsEmpty());
  EXPECT_FALSE(aws.is_truncated);
  req.scope = "Mine";
  EXPECT_EQ(List(req).status().error_name(), "ValidationError");

  req = {};
  req.only_attached = true;
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult attached, List(req));
  EXPECT_THAT(Names(attached), ElementsAre("Bravo"));

  req = {};
  req.path_prefix = "/eng/";
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult eng, List(req));
  EXPECT_THAT(Names(eng), ElementsAre("Bravo", "charlie"));
  req.path_prefix = "/eng/sub/";
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult sub, List(req));
  EXPECT_THAT(Names(sub), ElementsAre("charlie"));
  req.path_prefix = "/ops/";
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult ops, List(req));
  EXPECT_THAT(ops.policies, IsEmpty());
  req.path_prefix = "eng";
  EXPECT_EQ(List(req).status().error_name(), "ValidationError");

  req = {};
  req.policy_usage_filter = "PermissionsBoundary";  // coffer sets no boundaries
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult boundaries, List(req));
  EXPECT_THAT(boundaries.policies, IsEmpty());
  req.policy_usage_filter = "PermissionsPolicy";
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult permissions, List(req));
  EXPECT_THAT(Names(permissions), ElementsAre("alpha", "Bravo", "charlie"));
  req.policy_usage_filter = "Other";
  EXPECT_EQ(List(req).status().error_name(), "ValidationError");
}

TEST_F(ManagedPolicyTest, ListManagedPoliciesPages) {
  for (const char* name : {"d", "a", "c", "b", "e"}) NewPolicy(name, name[0] < 'c' ? "/x/" : "/");
  ListPoliciesRequest req;
  req.page.max_items = 2;
  std::vector<std::string> seen;
  int pages = 0;
  for (;;) {
    ASSERT_OK_AND_ASSIGN(ListPoliciesResult page, List(req));
    ++pages;
    for (const std::string& n : Names(page)) seen.push_back(n);
    if (!page.is_truncated) {
      EXPECT_FALSE(page.marker.has_value());
      break;
    }
    EXPECT_EQ(page.policies.size(), 2u);
    ASSERT_TRUE(page.marker.has_value());
    req.page.marker = page.marker;
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre("a", "b", "c", "d", "e"));

  // Pages of a filtered list hold only what matches.
  req = {};
  req.path_prefix = "/x/";
  req.page.max_items = 1;
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult x1, List(req));
  EXPECT_THAT(Names(x1), ElementsAre("a"));
  EXPECT_TRUE(x1.is_truncated);
  req.page.marker = x1.marker;
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult x2, List(req));
  EXPECT_THAT(Names(x2), ElementsAre("b"));
  EXPECT_FALSE(x2.is_truncated);

  req = {};
  req.page.marker = "a";
  EXPECT_THAT(List(req), IsError("ValidationError", "Invalid Marker."));
  req.page = Page{std::nullopt, 1001};
  EXPECT_EQ(List(req).status().error_name(), "ValidationError");
}

TEST_F(ManagedPolicyTest, ListAttachedManagedPoliciesPagesAndPathPrefix) {
  NewUser("alice");
  NewRole("R");
  ManagedPolicy c = NewPolicy("c", "/eng/");
  ManagedPolicy a = NewPolicy("a");
  ManagedPolicy b = NewPolicy("B", "/eng/");
  NewPolicy("unattached", "/eng/");
  for (const ManagedPolicy* p : {&c, &a, &b}) {
    ASSERT_OK(iam().AttachUserPolicy("alice", p->arn));
    ASSERT_OK(iam().AttachRolePolicy("R", p->arn));
  }
  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult all,
                       iam().ListAttachedUserPolicies("alice", std::nullopt, {}));
  EXPECT_THAT(Names(all), ElementsAre("a", "B", "c"));
  EXPECT_FALSE(all.is_truncated);
  ASSERT_EQ(all.attached_policies.size(), 3u);
  EXPECT_EQ(all.attached_policies[1].policy_arn, "arn:aws:iam::111122223333:policy/eng/B");

  ASSERT_OK_AND_ASSIGN(
      ListAttachedPoliciesResult page1,
      iam().ListAttachedUserPolicies("alice", std::nullopt, Page{std::nullopt, 2}));
  EXPECT_THAT(Names(page1), ElementsAre("a", "B"));
  EXPECT_TRUE(page1.is_truncated);
  ASSERT_OK_AND_ASSIGN(
      ListAttachedPoliciesResult page2,
      iam().ListAttachedUserPolicies("alice", std::nullopt, Page{page1.marker, 2}));
  EXPECT_THAT(Names(page2), ElementsAre("c"));
  EXPECT_FALSE(page2.is_truncated);
  EXPECT_FALSE(page2.marker.has_value());
  // A user's marker is not one for the role's list.
  EXPECT_THAT(iam().ListAttachedRolePolicies("R", std::nullopt, Page{page1.marker, 2}),
              IsError("ValidationError", "Invalid Marker."));

  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult eng,
                       iam().ListAttachedUserPolicies("alice", std::string("/eng/"), {}));
  EXPECT_THAT(Names(eng), ElementsAre("B", "c"));
  ASSERT_OK_AND_ASSIGN(
      ListAttachedPoliciesResult eng1,
      iam().ListAttachedRolePolicies("r", std::string("/eng/"), Page{std::nullopt, 1}));
  EXPECT_THAT(Names(eng1), ElementsAre("B"));
  EXPECT_TRUE(eng1.is_truncated);
  ASSERT_OK_AND_ASSIGN(
      ListAttachedPoliciesResult eng2,
      iam().ListAttachedRolePolicies("r", std::string("/eng/"), Page{eng1.marker, 1}));
  EXPECT_THAT(Names(eng2), ElementsAre("c"));
  EXPECT_FALSE(eng2.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult role_all,
                       iam().ListAttachedRolePolicies("R", std::nullopt, {}));
  EXPECT_THAT(Names(role_all), ElementsAre("a", "B", "c"));

  EXPECT_THAT(iam().ListAttachedUserPolicies("nobody", std::nullopt, {}),
              IsError("NoSuchEntity", "The user with name nobody cannot be found."));
  EXPECT_THAT(iam().ListAttachedRolePolicies("nobody", std::nullopt, {}),
              IsError("NoSuchEntity", "The role with name nobody cannot be found."));
  EXPECT_EQ(iam().ListAttachedUserPolicies("alice", std::string("eng"), {}).status().error_name(),
            "ValidationError");
}

TEST_F(ManagedPolicyTest, ListEntitiesForManagedPolicyFiltersAndPages) {
  policy::Principal bob = NewUser("bob", "/eng/");
  policy::Principal alice = NewUser("Alice");
  Role r2 = NewRole("R2", std::nullopt, "/eng/");
  Role r1 = NewRole("R1");
  NewUser("carol");  // not attached
  ManagedPolicy p = NewPolicy("P");
  ASSERT_OK(iam().AttachUserPolicy("bob", p.arn));
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  ASSERT_OK(iam().AttachRolePolicy("R2", p.arn));
  ASSERT_OK(iam().AttachRolePolicy("R1", p.arn));

  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult all, Entities(p.arn));
  EXPECT_THAT(Names(all.users), ElementsAre("Alice", "bob"));
  EXPECT_THAT(Names(all.roles), ElementsAre("R1", "R2"));
  EXPECT_FALSE(all.is_truncated);
  ASSERT_EQ(all.users.size(), 2u);
  EXPECT_EQ(all.users[0].id, alice.user_id);
  EXPECT_EQ(all.users[1].id, bob.user_id);
  ASSERT_EQ(all.roles.size(), 2u);
  EXPECT_EQ(all.roles[0].id, r1.role_id);
  EXPECT_EQ(all.roles[1].id, r2.role_id);

  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult users, Entities(p.arn, "User"));
  EXPECT_THAT(Names(users.users), ElementsAre("Alice", "bob"));
  EXPECT_THAT(users.roles, IsEmpty());
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult roles, Entities(p.arn, "Role"));
  EXPECT_THAT(roles.users, IsEmpty());
  EXPECT_THAT(Names(roles.roles), ElementsAre("R1", "R2"));
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult groups, Entities(p.arn, "Group"));
  EXPECT_THAT(groups.users, IsEmpty());
  EXPECT_THAT(groups.roles, IsEmpty());
  EXPECT_EQ(Entities(p.arn, "Users").status().error_name(), "ValidationError");

  // One at a time: every entity once.
  std::vector<std::string> seen;
  Page page{std::nullopt, 1};
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult one, Entities(p.arn, std::nullopt, page));
    EXPECT_EQ(one.users.size() + one.roles.size(), 1u);
    for (const std::string& n : Names(one.users)) seen.push_back("user " + n);
    for (const std::string& n : Names(one.roles)) seen.push_back("role " + n);
    if (!one.is_truncated) break;
    page.marker = one.marker;
  }
  EXPECT_THAT(seen,
              ::testing::UnorderedElementsAre("user Alice", "user bob", "role R1", "role R2"));

  // Users only, one at a time.
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult u1,
                       Entities(p.arn, "User", Page{std::nullopt, 1}));
  EXPECT_THAT(Names(u1.users), ElementsAre("Alice"));
  EXPECT_THAT(u1.roles, IsEmpty());
  EXPECT_TRUE(u1.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult u2, Entities(p.arn, "User", Page{u1.marker, 1}));
  EXPECT_THAT(Names(u2.users), ElementsAre("bob"));
  EXPECT_THAT(u2.roles, IsEmpty());
  EXPECT_FALSE(u2.is_truncated);
  // Roles only, one at a time.
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult r_1,
                       Entities(p.arn, "Role", Page{std::nullopt, 1}));
  EXPECT_THAT(Names(r_1.roles), ElementsAre("R1"));
  EXPECT_TRUE(r_1.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult r_2,
                       Entities(p.arn, "Role", Page{r_1.marker, 1}));
  EXPECT_THAT(Names(r_2.roles), ElementsAre("R2"));
  EXPECT_FALSE(r_2.is_truncated);

  // Entities by their path.
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult eng,
                       Entities(p.arn, std::nullopt, {}, std::string("/eng/")));
  EXPECT_THAT(Names(eng.users), ElementsAre("bob"));
  EXPECT_THAT(Names(eng.roles), ElementsAre("R2"));

  // Another policy's marker is none for this one.
  ManagedPolicy q = NewPolicy("Q");
  EXPECT_THAT(Entities(q.arn, std::nullopt, Page{u1.marker, 1}),
              IsError("ValidationError", "Invalid Marker."));
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult none, Entities(q.arn));
  EXPECT_THAT(none.users, IsEmpty());
  EXPECT_THAT(none.roles, IsEmpty());
  EXPECT_THAT(Entities(Arn("Nope")),
              IsError("NoSuchEntity", "Policy " + Arn("Nope") + " was not found."));
}

// ---- persistence -------------------------------------------------------------------------------

TEST_F(ManagedPolicyTest, TagsOfAManagedPolicy) {
  const std::string arn = NewPolicy("Tagged", "/t/").arn;
  ASSERT_THAT(iam().TagPolicy(arn, {Tag{"env", "prod"}, Tag{"Owner", "ops"}}), IsOk());
  // A key already there, whatever its case, takes the new key and value in place.
  ASSERT_THAT(iam().TagPolicy(arn, {Tag{"ENV", "dev"}, Tag{"team", "db"}}), IsOk());
  ASSERT_OK_AND_ASSIGN(ListTagsResult all, iam().ListPolicyTags(arn, {}));
  EXPECT_THAT(all.tags, ElementsAre(Tag{"ENV", "dev"}, Tag{"Owner", "ops"}, Tag{"team", "db"}));
  EXPECT_FALSE(all.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListTagsResult first, iam().ListPolicyTags(arn, Page{std::nullopt, 2}));
  EXPECT_THAT(first.tags, ElementsAre(Tag{"ENV", "dev"}, Tag{"Owner", "ops"}));
  ASSERT_TRUE(first.is_truncated);
  ASSERT_OK_AND_ASSIGN(ListTagsResult rest, iam().ListPolicyTags(arn, Page{first.marker, 2}));
  EXPECT_THAT(rest.tags, ElementsAre(Tag{"team", "db"}));
  // What aws:ResourceTag/<k> sees on a call naming the policy.
  ASSERT_OK_AND_ASSIGN(std::vector<Tag> seen, iam().ResourceTagsOf(arn));
  EXPECT_EQ(seen, all.tags);
  ASSERT_OK_AND_ASSIGN(std::vector<Tag> none, iam().ResourceTagsOf(Arn("Tagged")));
  EXPECT_THAT(none, IsEmpty());  // another path: no such policy

  ASSERT_THAT(iam().UntagPolicy(arn, {"owner", "absent"}), IsOk());
  ASSERT_OK_AND_ASSIGN(ManagedPolicy got, iam().GetPolicy(arn));
  EXPECT_THAT(got.tags, ElementsAre(Tag{"ENV", "dev"}, Tag{"team", "db"}));

  EXPECT_THAT(iam().TagPolicy(arn, {Tag{"aws:x", "y"}}),
              IsError("InvalidInput", "Tag keys starting with 'aws:' are reserved for AWS use."));
  std::vector<Tag> many;
  for (int i = 0; i < 49; ++i) many.push_back(Tag{"k" + std::to_string(i), "v"});
  EXPECT_THAT(iam().TagPolicy(arn, many),
              IsError("LimitExceeded", "Cannot exceed quota for TagsPerPolicy: 50"));
  ASSERT_OK_AND_ASSIGN(ListTagsResult unchanged, iam().ListPolicyTags(arn, {}));
  EXPECT_EQ(unchanged.tags.size(), 2u);
  EXPECT_THAT(iam().ListPolicyTags(Arn("Nope"), {}),
              IsError("NoSuchEntity", "Policy " + Arn("Nope") + " was not found."));
}

TEST_F(ManagedPolicyTest, AnAttachedPolicyThatDoesNotParseFailsClosed) {
  policy::Principal alice = NewUser("alice");
  const ManagedPolicy p = NewPolicy("Broken");
  ASSERT_THAT(iam().AttachUserPolicy("alice", p.arn), IsOk());
  ASSERT_OK_AND_ASSIGN(auto before, iam().IdentityPoliciesOf(alice));
  EXPECT_EQ(before->size(), 1u);
  // Damage the stored version behind the service's back.
  ASSERT_THAT(store_->Update([&](state::Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, "broken"));
    if (!stored) return NotFoundError("no stored policy");
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
    r.versions[0].document = "{";
    return tx.Put(kPoliciesTable, "broken", EncodeManagedPolicyRecord(r));
  }),
              IsOk());
  ASSERT_NO_FATAL_FAILURE(Reopen());  // no cached answer
  // An error, not a smaller set of policies (the lost one could have been a Deny).
  EXPECT_FALSE(iam().IdentityPoliciesOf(alice).ok());
}

TEST_F(ManagedPolicyTest, ListPolicyVersionsGoesOnWhenTheMarkersVersionIsDeleted) {
  const std::string arn = NewPolicy("Paged").arn;
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(iam().CreatePolicyVersion(arn, AllowPolicy("kms:Decrypt"), false).status(), IsOk());
  }
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult first,
                       iam().ListPolicyVersions(arn, Page{std::nullopt, 2}));
  EXPECT_THAT(Ids(first), ElementsAre("v5", "v4"));
  ASSERT_TRUE(first.is_truncated);
  ASSERT_THAT(iam().DeletePolicyVersion(arn, "v4"), IsOk());
  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult rest,
                       iam().ListPolicyVersions(arn, Page{first.marker, 10}));
  EXPECT_THAT(Ids(rest), ElementsAre("v3", "v2", "v1"));
  EXPECT_FALSE(rest.is_truncated);
}

TEST_F(ManagedPolicyTest, ManagedPolicyQuotasMustBeAtLeastOne) {
  for (int IamOptions::*quota :
       {&IamOptions::max_managed_policies, &IamOptions::max_policy_versions,
        &IamOptions::max_attached_policies}) {
    IamOptions options;
    options.*quota = 0;
    EXPECT_FALSE(IdentityService::Create(options, *store_, *vault_, clock_, random_).ok());
    options.*quota = -1;
    EXPECT_FALSE(IdentityService::Create(options, *store_, *vault_, clock_, random_).ok());
  }
}

TEST_F(ManagedPolicyTest, ManagedPoliciesSurviveARestart) {
  policy::Principal alice = NewUser("alice", "/eng/");
  Role role = NewRole("R");
  CreatePolicyRequest req;
  req.policy_name = "Kms";
  req.policy_document = AllowPolicy("kms:Decrypt");
  req.path = "/team/";
  req.description = "kms readers";
  req.tags = {Tag{"k", "v"}};
  ASSERT_OK_AND_ASSIGN(ManagedPolicy created, iam().CreatePolicy(req));
  clock_.Advance(std::chrono::seconds(30));
  ASSERT_OK(iam().CreatePolicyVersion(created.arn, AllowPolicy("kms:Encrypt"), false));
  ASSERT_OK(iam().CreatePolicyVersion(created.arn, DenyPolicy("kms:Sign"), true));
  ASSERT_OK(iam().DeletePolicyVersion(created.arn, "v2"));
  ASSERT_OK(iam().AttachUserPolicy("alice", created.arn));
  ASSERT_OK(iam().AttachRolePolicy("R", created.arn));
  ManagedPolicy other = NewPolicy("Other");
  ASSERT_OK_AND_ASSIGN(ManagedPolicy before, iam().GetPolicy(created.arn));
  const std::string snapshot = StoreSnapshot();

  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_EQ(StoreSnapshot(), snapshot);
  ASSERT_OK_AND_ASSIGN(ManagedPolicy after, iam().GetPolicy(created.arn));
  EXPECT_EQ(after.policy_name, "Kms");
  EXPECT_EQ(after.policy_id, before.policy_id);
  EXPECT_EQ(after.arn, "arn:aws:iam::111122223333:policy/team/Kms");
  EXPECT_EQ(after.path, "/team/");
  EXPECT_EQ(after.default_version_id, "v3");
  EXPECT_EQ(after.attachment_count, 2);
  EXPECT_EQ(after.description, "kms readers");
  EXPECT_EQ(EpochMillis(after.create_date), kStartMillis);
  EXPECT_EQ(EpochMillis(after.update_date), kStartMillis + 30000);
  EXPECT_THAT(after.tags, ElementsAre(Tag{"k", "v"}));

  ASSERT_OK_AND_ASSIGN(ListPolicyVersionsResult versions,
                       iam().ListPolicyVersions(created.arn, {}));
  EXPECT_THAT(Ids(versions), ElementsAre("v3", "v1"));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v1, iam().GetPolicyVersion(created.arn, "v1"));
  EXPECT_EQ(v1.document, AllowPolicy("kms:Decrypt"));
  ASSERT_OK_AND_ASSIGN(PolicyVersion v3, iam().GetPolicyVersion(created.arn, "v3"));
  EXPECT_EQ(v3.document, DenyPolicy("kms:Sign"));
  EXPECT_TRUE(v3.is_default_version);
  EXPECT_EQ(EpochMillis(v3.create_date), kStartMillis + 30000);

  ASSERT_OK_AND_ASSIGN(ListAttachedPoliciesResult attached,
                       iam().ListAttachedUserPolicies("alice", std::nullopt, {}));
  EXPECT_THAT(Names(attached), ElementsAre("Kms"));
  ASSERT_OK_AND_ASSIGN(ListEntitiesForPolicyResult entities, Entities(created.arn));
  EXPECT_THAT(Names(entities.users), ElementsAre("alice"));
  EXPECT_THAT(Names(entities.roles), ElementsAre("R"));
  ASSERT_OK_AND_ASSIGN(ListPoliciesResult list, List());
  EXPECT_THAT(Names(list), ElementsAre("Kms", "Other"));
  ASSERT_OK_AND_ASSIGN(auto policies, iam().IdentityPoliciesOf(alice));
  EXPECT_THAT(Statements(*policies), ElementsAre("Deny kms:Sign"));
  ASSERT_OK_AND_ASSIGN(auto role_policies, iam().IdentityPoliciesOf(policy::Principal::AssumedRole(
                                               role.arn, "s1", role.role_id)));
  EXPECT_THAT(Statements(*role_policies), ElementsAre("Deny kms:Sign"));

  // Version ids go on from where they were: v2 is not used again.
  ASSERT_OK_AND_ASSIGN(PolicyVersion v4,
                       iam().CreatePolicyVersion(created.arn, AllowPolicy("kms:Verify"), false));
  EXPECT_EQ(v4.version_id, "v4");
  // And the name stays taken.
  EXPECT_EQ(iam()
                .CreatePolicy(CreatePolicyRequest{"KMS", AllowPolicy("kms:*"), {}, {}, {}})
                .status()
                .error_name(),
            "EntityAlreadyExists");
}

TEST_F(ManagedPolicyTest, RefusedManagedPolicyCallsChangeNothing) {
  options_.max_attached_policies = 1;
  ASSERT_NO_FATAL_FAILURE(Reopen());
  NewUser("alice");
  NewRole("R");
  ManagedPolicy p = NewPolicy("P");
  ManagedPolicy q = NewPolicy("Q");
  ASSERT_OK(iam().CreatePolicyVersion(p.arn, AllowPolicy("kms:Encrypt"), false));
  ASSERT_OK(iam().AttachUserPolicy("alice", p.arn));
  ASSERT_OK(iam().AttachRolePolicy("R", q.arn));
  const std::string before = StoreSnapshot();

  std::vector<Status> refused;
  refused.push_back(
      iam().CreatePolicy(CreatePolicyRequest{"p", AllowPolicy("kms:*"), {}, {}, {}}).status());
  refused.push_back(iam().CreatePolicy(CreatePolicyRequest{"new", "{bad", {}, {}, {}}).status());
  refused.push_back(
      iam().CreatePolicy(CreatePolicyRequest{"new", PolicyOfSize(6145), {}, {}, {}}).status());
  refused.push_back(iam().DeletePolicy(p.arn));  // attached
  refused.push_back(iam().DeletePolicy(Arn("Nope")));
  refused.push_back(iam().CreatePolicyVersion(p.arn, "{bad", true).status());
  refused.push_back(iam().CreatePolicyVersion(Arn("Nope"), AllowPolicy("kms:*"), true).status());
  refused.push_back(iam().DeletePolicyVersion(p.arn, "v1"));
  refused.push_back(iam().DeletePolicyVersion(p.arn, "v7"));
  refused.push_back(iam().SetDefaultPolicyVersion(p.arn, "v7"));
  refused.push_back(iam().AttachUserPolicy("alice", q.arn));  // over the quota
  refused.push_back(iam().AttachRolePolicy("R", p.arn));      // over the quota
  refused.push_back(iam().AttachUserPolicy("nobody", q.arn));
  refused.push_back(iam().AttachUserPolicy("alice", Arn("Nope")));
  refused.push_back(iam().DetachUserPolicy("alice", q.arn));
  refused.push_back(iam().DetachRolePolicy("R", p.arn));
  refused.push_back(iam().DeleteUser("alice"));
  refused.push_back(iam().DeleteRole("R"));
  for (size_t i = 0; i < refused.size(); ++i) {
    EXPECT_FALSE(refused[i].ok()) << "call " << i;
  }
  EXPECT_EQ(StoreSnapshot(), before);
}

}  // namespace
}  // namespace coffer::iam
