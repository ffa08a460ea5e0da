#include "cli/kms_commands.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/fake_transport.h"
#include "cli/sigv4_check.h"
#include "policy/policy.h"
#include "testing/files.h"

namespace coffer::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

const TimePoint kNow = FromEpochMillis(1764497396000);
constexpr std::string_view kAdmin = "arn:aws:iam::111122223333:role/KMSAdminRole";
constexpr std::string_view kUser = "arn:aws:iam::111122223333:role/ExampleRole";
constexpr std::string_view kKeyId = "1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr std::string_view kKeyArn =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

// kms.md, "Default key policies": the console's policy for one administrator
// (KMSAdminRole, allowed to delete) and one user (ExampleRole), verbatim.
constexpr std::string_view kConsolePolicyFromKmsMd =
    R"({"Version":"2012-10-17","Id":"key-consolepolicy-3","Statement":[)"
    R"({"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},)"
    R"({"Sid":"Allow access for Key Administrators","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/KMSAdminRole"]},)"
    R"("Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*"},)"
    R"({"Sid":"Allow use of the key","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/ExampleRole"]},)"
    R"("Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"},)"
    R"({"Sid":"Allow attachment of persistent resources","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/ExampleRole"]},)"
    R"("Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]})";

std::string KeyMetadataAnswer() {
  return R"({"KeyMetadata":{"AWSAccountId":"111122223333","KeyId":")" + std::string(kKeyId) +
         R"(","Arn":")" + std::string(kKeyArn) +
         R"(","CreationDate":1764497396,"Enabled":true,"KeyState":"Enabled"}})";
}

net::HttpResponse Ok(std::string body) { return {200, {}, std::move(body)}; }
net::HttpResponse Error(std::string type, std::string message) {
  return {400, {}, Json{{"__type", type}, {"message", message}}.dump()};
}

// Runs `coffer kms …` against a fake server: answers by operation, records
// every request, checks every signature.
class KmsCommandsTest : public ::testing::Test {
 protected:
  KmsCommandsTest() {
    env_["HOME"] = dir_.path();
    env_["AWS_CONFIG_FILE"] = dir_.File("config");
    env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_.File("credentials");
    env_["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE";
    env_["AWS_SECRET_ACCESS_KEY"] = "secret";
  }

  // The operation of a request: X-Amz-Target's, or the Query Action.
  static std::string Operation(const net::HttpRequest& r) {
    if (auto target = r.Header("X-Amz-Target")) {
      return std::string(target->substr(target->find('.') + 1));
    }
    std::string_view body = r.body;
    body.remove_prefix(std::string_view("Action=").size());
    return std::string(body.substr(0, body.find('&')));
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    CLI::App app{"coffer"};
    app.require_subcommand(1);
    ClientEnvironment env;
    env.env = env_;
    env.make_transport =
        [this](const HttpClientOptions& options) -> Result<std::unique_ptr<HttpTransport>> {
      ++transports_made_;
      last_options_ = options;
      return std::unique_ptr<HttpTransport>(new testing::FakeTransport(
          [this](const net::HttpRequest& r) -> Result<net::HttpResponse> {
            std::string op = Operation(r);
            auto it = answers_.find(op);
            if (it == answers_.end()) return Error("UnknownOperationException", op);
            return it->second;
          },
          &sent_));
    };
    env.clock = &clock_;
    env.out = &out_;
    env.err = &err_;
    env.in = &in_;
    env.interactive = interactive_;
    auto group = RegisterKmsCommands(app, env);
    args.insert(args.begin(), "kms");
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& e) {
      return app.exit(e, out_, err_);
    }
    EXPECT_TRUE(group->Selected());
    int rc = group->Run();
    for (const auto& s : sent_) {
      std::string service = Operation(s.request) == "GetCallerIdentity" ? "sts" : "kms";
      Status verified =
          testing::VerifySignedRequest(s.request, "secret", kNow, expected_region_, service);
      EXPECT_TRUE(verified.ok()) << Operation(s.request) << ": " << verified.ToString();
    }
    return rc;
  }

  std::vector<std::string> Operations() const {
    std::vector<std::string> ops;
    for (const auto& s : sent_) ops.push_back(Operation(s.request));
    return ops;
  }
  Json Body(size_t i) const { return Json::parse(sent_.at(i).request.body); }

  testing::TempDir dir_;
  Environment env_;
  FakeClock clock_{kNow};
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
  bool interactive_ = false;
  std::string expected_region_ = "us-east-1";
  std::map<std::string, net::HttpResponse> answers_;
  std::vector<testing::SentRequest> sent_;
  int transports_made_ = 0;
  HttpClientOptions last_options_;
};

// ---------------------------------------------------------------------------
// The create-key wizard's policy.

TEST(CreateKeyPlanTest, ConsolePolicyIsKmsMdVerbatim) {
  CreateKeyChoices choices;
  choices.admin_arns = {std::string(kAdmin)};
  choices.user_arns = {std::string(kUser)};
  auto plan = PlanCreateKey(choices, "111122223333");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->policy, kConsolePolicyFromKmsMd);
}

// The statements of a policy by Sid, and each one's actions and principals.
struct Statements {
  std::map<std::string, Json> by_sid;
  explicit Statements(std::string_view policy) {
    Json document = Json::parse(policy);
    for (const Json& s : document["Statement"]) by_sid[s["Sid"].get<std::string>()] = s;
  }
  bool Has(const std::string& sid) const { return by_sid.contains(sid); }
  Json Actions(const std::string& sid) const { return by_sid.at(sid)["Action"]; }
  Json Principals(const std::string& sid) const { return by_sid.at(sid)["Principal"]["AWS"]; }
};

TEST(CreateKeyPlanTest, AdminsUsersAndDeletionCombinations) {
  const std::string root = "Enable IAM User Permissions";
  const std::string admins = "Allow access for Key Administrators";
  const std::string use = "Allow use of the key";
  const std::string grants = "Allow attachment of persistent resources";
  for (bool with_admins : {false, true}) {
    for (bool with_users : {false, true}) {
      for (bool can_delete : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "admins=" << with_admins << " users=" << with_users
                                          << " can_delete=" << can_delete);
        CreateKeyChoices choices;
        if (with_admins)
          choices.admin_arns = {std::string(kAdmin), "arn:aws:iam::111122223333:user/alice"};
        if (with_users) choices.user_arns = {std::string(kUser)};
        choices.admins_can_delete = can_delete;
        auto plan = PlanCreateKey(choices, "111122223333");
        ASSERT_TRUE(plan.ok()) << plan.status().ToString();
        ASSERT_TRUE(policy::Policy::Parse(plan->policy, policy::PolicyKind::kKeyPolicy).ok());
        Statements s(plan->policy);
        EXPECT_EQ(Json::parse(plan->policy)["Id"], "key-consolepolicy-3");
        ASSERT_TRUE(s.Has(root));
        EXPECT_EQ(s.Principals(root), "arn:aws:iam::111122223333:root");
        EXPECT_EQ(s.Actions(root), "kms:*");
        EXPECT_EQ(s.Has(admins), with_admins);
        if (with_admins) {
          EXPECT_EQ(s.Principals(admins),
                    Json::array({kAdmin, "arn:aws:iam::111122223333:user/alice"}));
          Json actions = s.Actions(admins);
          bool schedules =
              std::find(actions.begin(), actions.end(), "kms:ScheduleKeyDeletion") != actions.end();
          bool cancels =
              std::find(actions.begin(), actions.end(), "kms:CancelKeyDeletion") != actions.end();
          EXPECT_EQ(schedules, can_delete);
          EXPECT_EQ(cancels, can_delete);
          EXPECT_EQ(actions.size(), can_delete ? 14u : 12u);
        }
        EXPECT_EQ(s.Has(use), with_users);
        EXPECT_EQ(s.Has(grants), with_users);
        if (with_users) {
          EXPECT_EQ(s.Principals(use), Json::array({kUser}));
          EXPECT_EQ(s.Actions(use), Json::array({"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                                 "kms:GenerateDataKey*", "kms:DescribeKey"}));
          EXPECT_EQ(s.by_sid.at(grants)["Condition"],
                    Json::parse(R"({"Bool":{"kms:GrantIsForAWSResource":true}})"));
        }
      }
    }
  }
}

TEST(CreateKeyPlanTest, RepeatedArnsAppearOnce) {
  CreateKeyChoices choices;
  choices.admin_arns = {std::string(kAdmin), std::string(kAdmin)};
  auto plan = PlanCreateKey(choices, "111122223333");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(Statements(plan->policy).Principals("Allow access for Key Administrators"),
            Json::array({kAdmin}));
}

TEST(CreateKeyPlanTest, AliasTagsAndDescription) {
  CreateKeyChoices choices;
  choices.alias = "backup";
  choices.description = "Backup key";
  choices.tags = {"env=prod", "note=a=b", "empty="};
  auto plan = PlanCreateKey(choices, "111122223333");
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->alias_name, "alias/backup");
  EXPECT_EQ(plan->tags, (std::vector<Tag>{{"env", "prod"}, {"note", "a=b"}, {"empty", ""}}));
  Json body = Json::parse(plan->CreateKeyBody());
  EXPECT_EQ(body["Policy"], plan->policy);
  EXPECT_EQ(body["Description"], "Backup key");
  EXPECT_EQ(body["Tags"], Json::parse(R"([{"TagKey":"env","TagValue":"prod"},)"
                                      R"({"TagKey":"note","TagValue":"a=b"},)"
                                      R"({"TagKey":"empty","TagValue":""}])"));
}

TEST(CreateKeyPlanTest, RefusesBadChoices) {
  auto refused = [](CreateKeyChoices c, std::string_view account = "111122223333") {
    auto plan = PlanCreateKey(c, account);
    EXPECT_FALSE(plan.ok());
    return plan.ok() ? std::string() : plan.status().message();
  };
  EXPECT_THAT(refused({.tags = {"novalue"}}), HasSubstr("KEY=VALUE"));
  EXPECT_THAT(refused({.tags = {"=v"}}), HasSubstr("with a key"));
  EXPECT_THAT(refused({.tags = {"aws:team=x"}}), HasSubstr("reserved"));
  EXPECT_THAT(refused({.tags = {"AWS:team=x"}}), HasSubstr("reserved"));  // any case, as AWS
  EXPECT_THAT(refused({.tags = {"k=1", "k=2"}}), HasSubstr("given twice"));
  EXPECT_THAT(refused({.tags = {std::string(129, 'k') + "=v"}}), HasSubstr("128"));
  EXPECT_THAT(refused({.tags = {"k=" + std::string(257, 'v')}}), HasSubstr("256"));
  EXPECT_THAT(refused({.alias = "alias/aws/ebs"}), HasSubstr("reserved"));
  EXPECT_THAT(refused({.alias = "has space"}), HasSubstr("not valid"));
  EXPECT_THAT(refused({.alias = "alias/"}), HasSubstr("not valid"));
  EXPECT_THAT(refused({.alias = ""}), HasSubstr("not valid"));  // given, but empty
  EXPECT_THAT(refused({.alias = std::string(251, 'a')}), HasSubstr("256"));
  EXPECT_THAT(refused({.description = std::string(8193, 'd')}), HasSubstr("8192"));
  // Users and roles only, as the console lists them.
  for (const char* arn :
       {"bob", "*", "111122223333", "arn:aws:iam::111122223333:root",
        "arn:aws:iam::111122223333:group/admins", "arn:aws:iam::111122223333:user/*",
        "arn:aws:sts::111122223333:assumed-role/r/s", "arn:aws:iam::111122223333:role/has space",
        "arn:aws:iam::111122223333:role/", "arn:aws:iam::111122223333:user/path/"}) {
    EXPECT_THAT(
        refused({.admin_arns = {arn}}),
        HasSubstr("--admin '" + std::string(arn) + "' is not the ARN of an IAM user or role"));
    EXPECT_THAT(
        refused({.user_arns = {arn}}),
        HasSubstr("--user '" + std::string(arn) + "' is not the ARN of an IAM user or role"));
  }
  EXPECT_THAT(refused({}, "12345"), HasSubstr("12-digit"));
  EXPECT_THAT(refused({.policy = "{not json"}), HasSubstr("The key policy is not valid"));
  // A key policy needs principals in every statement.
  EXPECT_THAT(
      refused(
          {.policy =
               R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]})"}),
      HasSubstr("The key policy is not valid"));
  // A user or role with a path, as IAM names them.
  EXPECT_TRUE(PlanCreateKey({.user_arns = {"arn:aws:iam::111122223333:role/service-role/rds-s3"}},
                            "111122223333")
                  .ok());
  // 250 characters after "alias/": exactly 256, accepted.
  EXPECT_TRUE(PlanCreateKey({.alias = std::string(250, 'a')}, "111122223333").ok());
}

TEST(CreateKeyPlanTest, AccountForPolicy) {
  EXPECT_EQ(AccountForPolicy({.account_id = "444455556666"}).value(), "444455556666");
  EXPECT_FALSE(AccountForPolicy({.account_id = "4444"}).ok());
  EXPECT_EQ(AccountForPolicy({.admin_arns = {std::string(kAdmin)}}).value(), "111122223333");
  EXPECT_EQ(AccountForPolicy({.user_arns = {"arn:aws:iam::999988887777:user/u"}}).value(),
            "999988887777");
  // An ARN that is not a user's or a role's is named as such, not taken for a
  // missing account (a dry run would otherwise ask for --account-id).
  for (const char* arn : {"notanarn", "arn:aws:sts::999988887777:assumed-role/R/s"}) {
    auto bad = AccountForPolicy({.admin_arns = {arn}});
    ASSERT_FALSE(bad.ok());
    EXPECT_THAT(bad.status().message(),
                HasSubstr("--admin '" + std::string(arn) + "' is not the ARN of an IAM user"));
  }
  EXPECT_EQ(AccountForPolicy({}).value(), std::nullopt);
  auto mixed = AccountForPolicy(
      {.admin_arns = {std::string(kAdmin)}, .user_arns = {"arn:aws:iam::999988887777:role/R"}});
  ASSERT_FALSE(mixed.ok());
  EXPECT_THAT(mixed.status().message(), HasSubstr("111122223333, 999988887777"));
  // --account-id decides even when the ARNs disagree.
  EXPECT_EQ(AccountForPolicy({.admin_arns = {std::string(kAdmin)},
                              .user_arns = {"arn:aws:iam::999988887777:role/R"},
                              .account_id = "111122223333"})
                .value(),
            "111122223333");
}

TEST(ParameterTest, EncryptionContext) {
  auto ctx = ParseEncryptionContext({"db=orders,purpose=backup", R"({"engine":"sqlite"})"});
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  EXPECT_EQ(*ctx,
            (EncryptionContext{{"db", "orders"}, {"purpose", "backup"}, {"engine", "sqlite"}}));
  EXPECT_FALSE(ParseEncryptionContext({"novalue"}).ok());
  EXPECT_FALSE(ParseEncryptionContext({"=v"}).ok());
  EXPECT_FALSE(ParseEncryptionContext({"a=1", "a=2"}).ok());
  EXPECT_FALSE(ParseEncryptionContext({R"({"a":1})"}).ok());
  // A key given twice in the JSON form is refused, as in the K=V form: the parser
  // alone would keep its last value.
  Result<EncryptionContext> twice = ParseEncryptionContext({R"({"team":"alpha","team":"beta"})"});
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(
      twice.status().message(),
      R"(--encryption-context: the key 'team' is given twice in {"team":"alpha","team":"beta"})");
  EXPECT_TRUE(ParseEncryptionContext({R"({"team":"alpha","db":"beta"})"}).ok());
  EXPECT_TRUE(ParseEncryptionContext({}).value().empty());
}

TEST(ParameterTest, BlobParameters) {
  testing::TempDir dir;
  testing::WriteFile(dir.File("raw"), std::string("\x00\x01raw", 5));
  testing::WriteFile(dir.File("b64"), "aGVsbG8=\n");
  auto raw = ReadBlobParameter("--plaintext", "fileb://" + dir.File("raw"));
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(ToString(RevealSecret(*raw)), std::string("\x00\x01raw", 5));
  auto text = ReadBlobParameter("--plaintext", "file://" + dir.File("b64"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(ToString(RevealSecret(*text)), "hello");
  auto inline_b64 = ReadBlobParameter("--plaintext", "aGVsbG8=");
  ASSERT_TRUE(inline_b64.ok());
  EXPECT_EQ(ToString(RevealSecret(*inline_b64)), "hello");

  auto missing = ReadBlobParameter("--plaintext", "fileb://" + dir.File("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(
      missing.status().message(),
      HasSubstr("Error parsing parameter '--plaintext': Unable to load paramfile fileb://"));
  auto bad = ReadBlobParameter("--plaintext", "not base64!");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("Invalid base64"));
  EXPECT_THAT(bad.status().message(), Not(HasSubstr("not base64!")));  // the value may be secret
}

// ---------------------------------------------------------------------------
// coffer kms create-key.

TEST_F(KmsCommandsTest, DryRunPrintsThePolicyAndSendsNothing) {
  int rc =
      Run({"create-key", "--admin", std::string(kAdmin), "--user", std::string(kUser), "--alias",
           "backup", "--tag", "env=prod", "--description", "Backup key", "--dry-run"});
  EXPECT_EQ(rc, 0) << err_.str();
  EXPECT_EQ(transports_made_, 0);
  EXPECT_TRUE(sent_.empty());
  EXPECT_EQ(Json::parse(out_.str()), Json::parse(kConsolePolicyFromKmsMd));
  EXPECT_THAT(out_.str(), HasSubstr("\n    \"Statement\": ["));  // pretty, indent 4
  EXPECT_THAT(err_.str(), HasSubstr("Alias: alias/backup"));
  EXPECT_THAT(err_.str(), HasSubstr("Tags: env=prod"));
  EXPECT_THAT(err_.str(), HasSubstr("Dry run: nothing was sent."));
}

TEST_F(KmsCommandsTest, DryRunNeedsNoCredentials) {
  env_.erase("AWS_ACCESS_KEY_ID");
  env_["AWS_PROFILE"] = "does-not-exist";
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin), "--dry-run"}), 0) << err_.str();
  EXPECT_EQ(transports_made_, 0);
}

TEST_F(KmsCommandsTest, DryRunWithoutAnAccountSendsNothingAndSaysWhy) {
  EXPECT_EQ(Run({"create-key", "--dry-run"}), kExitParamError);
  EXPECT_TRUE(sent_.empty());
  EXPECT_THAT(err_.str(), HasSubstr("--account-id"));
  EXPECT_EQ(Run({"create-key", "--dry-run", "--account-id", "444455556666"}), 0);
  EXPECT_EQ(Json::parse(out_.str())["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::444455556666:root");
}

TEST_F(KmsCommandsTest, DryRunWithoutDeletionRights) {
  EXPECT_EQ(
      Run({"create-key", "--admin", std::string(kAdmin), "--no-admins-can-delete", "--dry-run"}),
      0);
  EXPECT_THAT(out_.str(), Not(HasSubstr("ScheduleKeyDeletion")));
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin), "--dry-run"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("kms:ScheduleKeyDeletion"));
}

TEST_F(KmsCommandsTest, CreatesTheKeyThenTheAlias) {
  answers_["CreateKey"] = Ok(KeyMetadataAnswer());
  answers_["CreateAlias"] = Ok("");
  answers_["DescribeKey"] = Error("NotFoundException", "Alias alias/backup is not found.");
  int rc = Run({"create-key", "--admin", std::string(kAdmin), "--user", std::string(kUser),
                "--alias", "alias/backup", "--description", "Backup key", "--tag", "env=prod",
                "--tag", "team=db", "--yes"});
  ASSERT_EQ(rc, 0) << err_.str();
  // The alias is asked for first: one in use fails before any key exists.
  ASSERT_EQ(Operations(), (std::vector<std::string>{"DescribeKey", "CreateKey", "CreateAlias"}));
  EXPECT_EQ(Body(0), Json::parse(R"({"KeyId":"alias/backup"})"));
  Json create = Body(1);
  EXPECT_EQ(create["Policy"].get<std::string>(), kConsolePolicyFromKmsMd);
  EXPECT_EQ(create["Description"], "Backup key");
  EXPECT_EQ(create["Tags"], Json::parse(R"([{"TagKey":"env","TagValue":"prod"},)"
                                        R"({"TagKey":"team","TagValue":"db"}])"));
  EXPECT_EQ(Body(2), Json::parse(R"({"AliasName":"alias/backup","TargetKeyId":")" +
                                 std::string(kKeyId) + R"("})"));
  // The key's metadata, as the aws CLI prints it.
  Json printed = Json::parse(out_.str());
  EXPECT_EQ(printed["KeyMetadata"]["Arn"].get<std::string>(), kKeyArn);
  EXPECT_TRUE(printed["KeyMetadata"]["CreationDate"].is_string());
  EXPECT_EQ(sent_[0].endpoint.url, "http://127.0.0.1:7878");
}

TEST_F(KmsCommandsTest, TheAccountComesFromTheCallerWhenNothingElseTells) {
  answers_["GetCallerIdentity"] =
      Ok("<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::444455556666:user/a"
         "</Arn><Account>444455556666</Account></GetCallerIdentityResult></"
         "GetCallerIdentityResponse>");
  answers_["CreateKey"] = Ok(KeyMetadataAnswer());
  ASSERT_EQ(Run({"create-key", "-y"}), 0) << err_.str();
  EXPECT_EQ(Operations(), (std::vector<std::string>{"GetCallerIdentity", "CreateKey"}));
  EXPECT_EQ(Json::parse(Body(1)["Policy"].get<std::string>()),
            Json::parse(policy::ConsoleKeyPolicy("444455556666", {}, {}, true)));
  EXPECT_EQ(transports_made_, 1);  // one connection setup for both services
}

TEST_F(KmsCommandsTest, TerminalAsksBeforeCreating) {
  interactive_ = true;
  answers_["CreateKey"] = Ok(KeyMetadataAnswer());
  in_.str("n\n");
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin)}), kExitDeclined);
  EXPECT_TRUE(sent_.empty());
  EXPECT_THAT(err_.str(), HasSubstr("Key policy:\n{"));
  EXPECT_THAT(err_.str(), HasSubstr("Create the key? [y/N] "));
  EXPECT_THAT(err_.str(), HasSubstr("No key was created."));

  in_.clear();
  in_.str("");  // end of input: no
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin)}), kExitDeclined);
  EXPECT_TRUE(sent_.empty());

  in_.clear();
  in_.str(" Yes\n");
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin)}), 0) << err_.str();
  EXPECT_EQ(Operations(), std::vector<std::string>{"CreateKey"});

  sent_.clear();
  in_.clear();
  in_.str("");
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin), "-y"}), 0);
  EXPECT_THAT(err_.str(), Not(HasSubstr("Create the key?")));
  EXPECT_EQ(Operations(), std::vector<std::string>{"CreateKey"});

  // Not a terminal ("echo n | coffer kms create-key …"): asked all the same.
  interactive_ = false;
  sent_.clear();
  in_.clear();
  in_.str("n\n");
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin)}), kExitDeclined);
  EXPECT_TRUE(sent_.empty());
  in_.clear();
  in_.str("");
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin)}), kExitDeclined);
  EXPECT_TRUE(sent_.empty());
}

TEST_F(KmsCommandsTest, ServiceErrorAsTheAwsCli) {
  answers_["CreateKey"] = Error(
      "AccessDeniedException",
      "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:CreateKey on "
      "resource: * because no identity-based policy allows the kms:CreateKey action");
  EXPECT_EQ(Run({"create-key", "-y", "--admin", std::string(kAdmin), "--alias", "x"}),
            kExitServiceError);
  EXPECT_EQ(err_.str(),
            "\nAn error occurred (AccessDeniedException) when calling the CreateKey operation: "
            "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: "
            "kms:CreateKey on resource: * because no identity-based policy allows the "
            "kms:CreateKey action\n");
  EXPECT_EQ(out_.str(), "");
  // No alias without a key.
  EXPECT_EQ(Operations(), (std::vector<std::string>{"DescribeKey", "CreateKey"}));
}

TEST_F(KmsCommandsTest, AnAliasInUseFailsBeforeAnyKeyIsCreated) {
  answers_["DescribeKey"] = Ok(KeyMetadataAnswer());
  EXPECT_EQ(Run({"create-key", "-y", "--admin", std::string(kAdmin), "--alias", "backup"}),
            kExitServiceError);
  EXPECT_EQ(Operations(), std::vector<std::string>{"DescribeKey"});
  EXPECT_THAT(err_.str(), HasSubstr("The alias alias/backup already names " + std::string(kKeyArn) +
                                    ": no key was created."));
}

TEST_F(KmsCommandsTest, AliasFailureAfterTheKeyWasCreated) {
  answers_["CreateKey"] = Ok(KeyMetadataAnswer());
  answers_["CreateAlias"] = Error("AlreadyExistsException",
                                  "An alias with the name arn:aws:kms:us-east-1:111122223333:"
                                  "alias/backup already exists");
  EXPECT_EQ(Run({"create-key", "-y", "--admin", std::string(kAdmin), "--alias", "backup"}),
            kExitServiceError);
  EXPECT_EQ(Json::parse(out_.str())["KeyMetadata"]["KeyId"].get<std::string>(), kKeyId);
  EXPECT_THAT(err_.str(), HasSubstr("An error occurred (AlreadyExistsException) when calling the "
                                    "CreateAlias operation: An alias with the name"));
  EXPECT_THAT(err_.str(), HasSubstr("The key " + std::string(kKeyArn) +
                                    " was created without the alias alias/backup."));
}

TEST_F(KmsCommandsTest, PolicyFile) {
  std::string policy = R"({"Version":"2012-10-17","Id":"custom","Statement":[{"Sid":"Root",)"
                       R"("Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
                       R"("Action":"kms:*","Resource":"*"}]})";
  testing::WriteFile(dir_.File("policy.json"), policy);
  answers_["CreateKey"] = Ok(KeyMetadataAnswer());
  ASSERT_EQ(Run({"create-key", "-y", "--policy-file", dir_.File("policy.json")}), 0) << err_.str();
  EXPECT_EQ(Body(0)["Policy"].get<std::string>(), policy);

  // The console's choices and a policy file exclude each other.
  EXPECT_NE(Run({"create-key", "--policy-file", dir_.File("policy.json"), "--admin",
                 std::string(kAdmin)}),
            0);
  EXPECT_EQ(Run({"create-key", "--policy-file", dir_.File("missing.json")}), kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("Unable to load paramfile"));
  testing::WriteFile(dir_.File("bad.json"), R"({"Statement":"no"})");
  EXPECT_EQ(Run({"create-key", "--policy-file", dir_.File("bad.json")}), kExitParamError);
  EXPECT_EQ(sent_.size(), 1u);
}

TEST_F(KmsCommandsTest, BadChoicesAreParameterErrorsBeforeAnyRequest) {
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin), "--tag", "novalue"}),
            kExitParamError);
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin), "--alias", "alias/aws/x"}),
            kExitParamError);
  EXPECT_EQ(Run({"create-key", "--admin", std::string(kAdmin), "--user",
                 "arn:aws:iam::999988887777:role/R"}),
            kExitParamError);
  EXPECT_EQ(transports_made_, 0);
}

// ---------------------------------------------------------------------------
// Configuration errors and the other commands.

TEST_F(KmsCommandsTest, NoCredentialsIsAConfigurationError) {
  env_.erase("AWS_ACCESS_KEY_ID");
  env_.erase("AWS_SECRET_ACCESS_KEY");
  EXPECT_EQ(Run({"list-keys"}), kExitConfigError);
  EXPECT_EQ(err_.str(),
            "\nUnable to locate credentials. You can configure credentials by running \"aws "
            "configure\".\n");
  EXPECT_TRUE(sent_.empty());
}

TEST_F(KmsCommandsTest, UnknownProfileIsAGeneralError) {
  EXPECT_EQ(Run({"list-keys", "--profile", "nope"}), kExitGeneralError);
  EXPECT_EQ(err_.str(), "\nThe config profile (nope) could not be found\n");
}

TEST_F(KmsCommandsTest, InvalidEndpointIsAGeneralError) {
  EXPECT_EQ(Run({"list-keys", "--endpoint-url", "localhost:7878"}), kExitGeneralError);
  EXPECT_EQ(err_.str(), "\nInvalid endpoint: localhost:7878\n");
  EXPECT_TRUE(sent_.empty());
}

TEST_F(KmsCommandsTest, GlobalOptionsBeforeOrAfterTheCommand) {
  answers_["ListKeys"] = Ok(R"({"Keys":[],"Truncated":false})");
  expected_region_ = "eu-west-1";  // Run() verifies every request for this region
  ASSERT_EQ(Run({"--endpoint-url", "http://10.0.0.1:9000", "list-keys", "--region", "eu-west-1",
                 "--cli-connect-timeout", "5", "--no-verify-ssl"}),
            0)
      << err_.str();
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].endpoint.url, "http://10.0.0.1:9000");
  EXPECT_EQ(sent_[0].request.Header("Host"), "10.0.0.1:9000");
  EXPECT_FALSE(
      testing::VerifySignedRequest(sent_[0].request, "secret", kNow, "us-east-1", "kms").ok());
  EXPECT_EQ(last_options_.connect_timeout, std::chrono::seconds(5));
  EXPECT_FALSE(last_options_.verify_tls);
  EXPECT_EQ(out_.str(), "{\n    \"Keys\": []\n}\n");
}

TEST_F(KmsCommandsTest, ListKeysFollowsEveryPage) {
  answers_["ListKeys"] = Ok(R"({"Keys":[{"KeyId":"a","KeyArn":"arn:a"}],"Truncated":false})");
  ASSERT_EQ(Run({"list-keys", "--output", "text"}), 0);
  EXPECT_EQ(out_.str(), "KEYS\tarn:a\ta\n");
}

TEST_F(KmsCommandsTest, KeyCommandsSendTheirRequests) {
  answers_["DescribeKey"] = Ok(KeyMetadataAnswer());
  answers_["GetKeyPolicy"] = Ok(R"({"Policy":"{}","PolicyName":"default"})");
  answers_["EnableKey"] = Ok("");
  answers_["DisableKey"] = Ok("");
  answers_["ScheduleKeyDeletion"] = Ok(
      R"({"KeyId":"arn:k","DeletionDate":1764497396,"KeyState":"PendingDeletion","PendingWindowInDays":7})");
  answers_["CancelKeyDeletion"] = Ok(R"({"KeyId":"arn:k"})");
  answers_["ListAliases"] = Ok(R"({"Aliases":[],"Truncated":false})");
  EXPECT_EQ(Run({"describe-key", "--key-id", "alias/backup"}), 0);
  EXPECT_EQ(Run({"get-key-policy", "--key-id", "k"}), 0);
  EXPECT_EQ(Run({"enable-key", "--key-id", "k"}), 0);
  EXPECT_EQ(out_.str(), "");  // no answer, nothing printed
  EXPECT_EQ(Run({"disable-key", "--key-id", "k"}), 0);
  EXPECT_EQ(Run({"schedule-key-deletion", "--key-id", "k", "--pending-window-in-days", "7"}), 0);
  EXPECT_THAT(out_.str(), HasSubstr("\"PendingWindowInDays\": 7"));
  EXPECT_EQ(Run({"cancel-key-deletion", "--key-id", "k"}), 0);
  EXPECT_EQ(Run({"list-aliases", "--key-id", "k"}), 0);
  EXPECT_EQ(Operations(),
            (std::vector<std::string>{"DescribeKey", "GetKeyPolicy", "EnableKey", "DisableKey",
                                      "ScheduleKeyDeletion", "CancelKeyDeletion", "ListAliases"}));
  EXPECT_EQ(Body(0), Json::parse(R"({"KeyId":"alias/backup"})"));
  EXPECT_EQ(Body(1), Json::parse(R"({"KeyId":"k","PolicyName":"default"})"));
  EXPECT_EQ(Body(4), Json::parse(R"({"KeyId":"k","PendingWindowInDays":7})"));
  EXPECT_EQ(Body(6), Json::parse(R"({"KeyId":"k"})"));
  // --key-id is required.
  EXPECT_NE(Run({"describe-key"}), 0);
  EXPECT_EQ(sent_.size(), 7u);
}

TEST_F(KmsCommandsTest, ServiceErrorOfAnyCommand) {
  answers_["DisableKey"] = Error("NotFoundException", "Invalid keyId 'nope'");
  EXPECT_EQ(Run({"disable-key", "--key-id", "nope"}), kExitServiceError);
  EXPECT_EQ(err_.str(),
            "\nAn error occurred (NotFoundException) when calling the DisableKey operation: "
            "Invalid keyId 'nope'\n");
}

TEST_F(KmsCommandsTest, EncryptFromAFileAndDecryptToAFile) {
  std::string plaintext("customer record\0\x01", 17);
  testing::WriteFile(dir_.File("plain"), plaintext);
  std::string blob = "ciphertext-bytes";
  answers_["Encrypt"] = Ok(Json{
      {"CiphertextBlob", Base64Encode(AsBytes(blob))},
      {"KeyId", kKeyArn},
      {"EncryptionAlgorithm",
       "SYMMETRIC_DEFAULT"}}.dump());
  ASSERT_EQ(
      Run({"encrypt", "--key-id", "alias/backup", "--plaintext", "fileb://" + dir_.File("plain"),
           "--encryption-context", "db=orders", "--ciphertext-out", dir_.File("blob")}),
      0)
      << err_.str();
  Json sent = Body(0);
  EXPECT_EQ(sent["KeyId"], "alias/backup");
  EXPECT_EQ(sent["Plaintext"], Base64Encode(AsBytes(plaintext)));
  EXPECT_EQ(sent["EncryptionContext"], Json::parse(R"({"db":"orders"})"));
  EXPECT_EQ(testing::ReadFile(dir_.File("blob")), blob);
  EXPECT_THAT(out_.str(), Not(HasSubstr("CiphertextBlob")));
  EXPECT_THAT(out_.str(), HasSubstr(std::string(kKeyArn)));

  answers_["Decrypt"] = Ok(Json{
      {"KeyId", kKeyArn},
      {"Plaintext", Base64Encode(AsBytes(plaintext))},
      {"EncryptionAlgorithm",
       "SYMMETRIC_DEFAULT"}}.dump());
  ASSERT_EQ(Run({"decrypt", "--ciphertext-file", dir_.File("blob"), "--encryption-context",
                 R"({"db":"orders"})", "--plaintext-out", dir_.File("out")}),
            0)
      << err_.str();
  Json decrypt = Body(1);
  EXPECT_EQ(decrypt["CiphertextBlob"], Base64Encode(AsBytes(blob)));
  EXPECT_EQ(decrypt["EncryptionContext"], Json::parse(R"({"db":"orders"})"));
  EXPECT_FALSE(decrypt.contains("KeyId"));
  EXPECT_EQ(testing::ReadFile(dir_.File("out")), plaintext);
  EXPECT_EQ(testing::FileMode(dir_.File("out")), 0600u);
  EXPECT_THAT(out_.str(), Not(HasSubstr("Plaintext")));

  // "-": the bytes alone on stdout, as `coffer decrypt --out -`; no file named "-".
  ASSERT_EQ(Run({"decrypt", "--ciphertext-file", dir_.File("blob"), "--encryption-context",
                 R"({"db":"orders"})", "--plaintext-out", "-"}),
            0)
      << err_.str();
  EXPECT_EQ(out_.str(), plaintext);
  EXPECT_FALSE(std::filesystem::exists("-"));
}

// ---------------------------------------------------------------------------
// coffer kms edit-key-policy: the console key page's Add and Remove.

net::HttpResponse PolicyAnswer(const std::string& policy) {
  return Ok(Json{{"Policy", policy}, {"PolicyName", "default"}}.dump());
}

TEST_F(KmsCommandsTest, EditKeyPolicyAddsAKeyUserAsTheConsoleDoes) {
  // The seed: the key was made with an administrator and no user; the role is added.
  answers_["GetKeyPolicy"] =
      PolicyAnswer(policy::ConsoleKeyPolicy("111122223333", {std::string(kAdmin)}, {}, true));
  answers_["PutKeyPolicy"] = Ok("");
  ASSERT_EQ(Run({"edit-key-policy", "--key-id", std::string(kKeyId), "--add-user",
                 std::string(kUser), "--yes"}),
            0)
      << err_.str();
  ASSERT_EQ(Operations(), (std::vector<std::string>{"GetKeyPolicy", "PutKeyPolicy"}));
  EXPECT_EQ(Body(0),
            Json::parse(R"({"KeyId":")" + std::string(kKeyId) + R"(","PolicyName":"default"})"));
  Json put = Body(1);
  EXPECT_EQ(put["KeyId"], kKeyId);
  EXPECT_EQ(put["PolicyName"], "default");
  EXPECT_EQ(put["Policy"].get<std::string>(), kConsolePolicyFromKmsMd);
  EXPECT_EQ(out_.str(), "");  // as aws kms put-key-policy
  EXPECT_THAT(err_.str(), HasSubstr("was updated"));
}

TEST_F(KmsCommandsTest, EditKeyPolicyShowsTheResultForReview) {
  answers_["GetKeyPolicy"] = PolicyAnswer(std::string(kConsolePolicyFromKmsMd));
  answers_["PutKeyPolicy"] = Ok("");
  const std::vector<std::string> remove = {"edit-key-policy", "--key-id", std::string(kKeyId),
                                           "--remove-user", std::string(kUser)};
  std::vector<std::string> dry = remove;
  dry.push_back("--dry-run");
  ASSERT_EQ(Run(dry), 0) << err_.str();
  EXPECT_EQ(Operations(), std::vector<std::string>{"GetKeyPolicy"});  // nothing changed
  EXPECT_EQ(Json::parse(out_.str()),
            Json::parse(policy::ConsoleKeyPolicy("111122223333", {std::string(kAdmin)}, {}, true)));
  EXPECT_THAT(err_.str(), HasSubstr("Dry run: nothing was sent."));

  sent_.clear();
  in_.str("n\n");
  EXPECT_EQ(Run(remove), kExitDeclined);
  EXPECT_EQ(Operations(), std::vector<std::string>{"GetKeyPolicy"});
  EXPECT_THAT(err_.str(), HasSubstr("Update the key policy of " + std::string(kKeyId) + "? [y/N]"));
  EXPECT_THAT(err_.str(), HasSubstr("The key policy was not changed."));

  sent_.clear();
  in_.clear();
  in_.str("y\n");
  EXPECT_EQ(Run(remove), 0) << err_.str();
  EXPECT_EQ(Operations(), (std::vector<std::string>{"GetKeyPolicy", "PutKeyPolicy"}));
}

TEST_F(KmsCommandsTest, EditKeyPolicyRefusesBadEditsAndChangesNothing) {
  answers_["GetKeyPolicy"] = PolicyAnswer(std::string(kConsolePolicyFromKmsMd));
  answers_["PutKeyPolicy"] = Ok("");
  const std::string key(kKeyId);
  EXPECT_EQ(Run({"edit-key-policy", "--key-id", key}), kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("nothing to change"));
  EXPECT_EQ(Run({"edit-key-policy", "--key-id", key, "--add-user", "notanarn", "-y"}),
            kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("--add-user 'notanarn' is not the ARN of an IAM user or role"));
  EXPECT_TRUE(sent_.empty());  // both refused before any call

  const std::string stranger = "arn:aws:iam::111122223333:role/Stranger";
  EXPECT_EQ(Run({"edit-key-policy", "--key-id", key, "--remove-user", stranger, "-y"}),
            kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr(stranger + " is not a key user of this key"));
  // Already a key user: said so, nothing sent.
  EXPECT_EQ(Run({"edit-key-policy", "--key-id", key, "--add-user", std::string(kUser), "-y"}), 0);
  EXPECT_THAT(err_.str(), HasSubstr("already says so"));
  EXPECT_EQ(Operations(), (std::vector<std::string>{"GetKeyPolicy", "GetKeyPolicy"}));

  // --dry-run of an edit that changes nothing shows the policy as it stays.
  EXPECT_EQ(
      Run({"edit-key-policy", "--key-id", key, "--add-user", std::string(kUser), "--dry-run"}), 0);
  EXPECT_EQ(Json::parse(out_.str()), Json::parse(kConsolePolicyFromKmsMd));

  // Past KMS's 32 KB, refused before the review: PutKeyPolicy would refuse it.
  sent_.clear();
  std::vector<std::string> many = {"edit-key-policy", "--key-id", key, "-y"};
  for (int i = 0; i < 400; ++i) {
    many.push_back("--add-user");
    many.push_back("arn:aws:iam::111122223333:role/a-role-with-a-rather-long-name-" +
                   std::to_string(i));
  }
  EXPECT_EQ(Run(many), kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("KMS takes at most 32768"));
  EXPECT_EQ(Operations(), std::vector<std::string>{"GetKeyPolicy"});

  // The server's refusal is reported as the aws CLI reports it.
  answers_["PutKeyPolicy"] =
      Error("MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.");
  EXPECT_EQ(Run({"edit-key-policy", "--key-id", key, "--add-user", stranger, "-y"}),
            kExitServiceError);
  EXPECT_THAT(err_.str(), HasSubstr("(MalformedPolicyDocumentException) when calling the "
                                    "PutKeyPolicy operation"));

  answers_["GetKeyPolicy"] = Error("NotFoundException", "Key 'x' does not exist");
  EXPECT_EQ(Run({"edit-key-policy", "--key-id", key, "--add-user", stranger, "-y"}),
            kExitServiceError);
  EXPECT_THAT(err_.str(), HasSubstr("when calling the GetKeyPolicy operation"));
}

TEST_F(KmsCommandsTest, EncryptAndDecryptPrintLikeTheAwsCli) {
  answers_["Encrypt"] = Ok(R"({"CiphertextBlob":"Y3Q=","KeyId":"arn:k"})");
  ASSERT_EQ(Run({"encrypt", "--key-id", "k", "--plaintext", "aGVsbG8="}), 0);
  EXPECT_EQ(Body(0)["Plaintext"], "aGVsbG8=");
  EXPECT_EQ(Json::parse(out_.str())["CiphertextBlob"], "Y3Q=");
  answers_["Decrypt"] = Ok(R"({"KeyId":"arn:k","Plaintext":"aGVsbG8="})");
  ASSERT_EQ(Run({"decrypt", "--ciphertext-blob", "Y3Q=", "--output", "text"}), 0);
  EXPECT_EQ(out_.str(), "arn:k\taGVsbG8=\n");
}

TEST_F(KmsCommandsTest, EncryptParameterErrors) {
  EXPECT_EQ(Run({"encrypt", "--key-id", "k"}), kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("One of --plaintext or --plaintext-file is required"));
  EXPECT_EQ(Run({"encrypt", "--key-id", "k", "--plaintext", "***"}), kExitParamError);
  EXPECT_EQ(Run({"encrypt", "--key-id", "k", "--plaintext-file", dir_.File("none")}),
            kExitParamError);
  EXPECT_EQ(Run({"encrypt", "--key-id", "k", "--plaintext", "aGk=", "--encryption-context", "x"}),
            kExitParamError);
  EXPECT_EQ(Run({"decrypt"}), kExitParamError);
  // An output file that cannot be written is found out before the call.
  EXPECT_EQ(Run({"encrypt", "--key-id", "k", "--plaintext", "aGk=", "--ciphertext-out",
                 dir_.File("no/such/dir/blob")}),
            kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("Error parsing parameter '--ciphertext-out'"));
  EXPECT_EQ(Run({"decrypt", "--ciphertext-blob", "Y3Q=", "--plaintext-out", dir_.path()}),
            kExitParamError);
  EXPECT_THAT(err_.str(), HasSubstr("Is a directory"));
  EXPECT_EQ(transports_made_, 0);
}

// Output into a FIFO (or a device such as /dev/null) goes through it: the FIFO
// is neither replaced by a regular file nor its mode changed.
TEST_F(KmsCommandsTest, OutputIntoAFifoIsWrittenThrough) {
  const std::string fifo = dir_.File("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  // Its reader is open first (a FIFO's writer waits for one); what is written
  // fits in the pipe's buffer.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(reader, 0);
  answers_["Decrypt"] = Ok(R"({"KeyId":"arn:k","Plaintext":"aGVsbG8="})");
  EXPECT_EQ(Run({"decrypt", "--ciphertext-blob", "Y3Q=", "--plaintext-out", fifo}), 0)
      << err_.str();
  char got[16] = {};
  EXPECT_EQ(::read(reader, got, sizeof got), 5);
  ::close(reader);
  EXPECT_EQ(std::string(got), "hello");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

}  // namespace
}  // namespace coffer::cli
