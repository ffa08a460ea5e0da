#include "cli/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/files.h"

namespace coffer::cli {
namespace {

using ::testing::HasSubstr;

std::string Secret(const net::sigv4::Credentials& c) {
  return ToString(RevealSecret(c.secret_access_key));
}

// Every test starts from an environment that names files in a fresh directory
// (absent until a test writes them) and a HOME of its own.
class CredentialsTest : public ::testing::Test {
 protected:
  CredentialsTest() {
    env_["HOME"] = dir_.path();
    env_["AWS_CONFIG_FILE"] = config_path();
    env_["AWS_SHARED_CREDENTIALS_FILE"] = credentials_path();
  }

  std::string config_path() const { return dir_.File("config"); }
  std::string credentials_path() const { return dir_.File("credentials"); }
  void WriteConfig(std::string_view text) { testing::WriteFile(config_path(), text); }
  void WriteCredentials(std::string_view text) { testing::WriteFile(credentials_path(), text); }

  Result<ClientConfig> Load(ClientFlags flags = {}) { return ClientConfig::Load(flags, env_); }

  Result<ClientConfig::Found> Find(ClientFlags flags = {}) {
    Result<ClientConfig> config = Load(flags);
    if (!config.ok()) return config.status();
    return config->FindCredentials();
  }

  testing::TempDir dir_;
  Environment env_;
};

// ---------------------------------------------------------------------------
// Credentials: order of the sources.

TEST_F(CredentialsTest, EnvironmentKeysWithoutFiles) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  auto found = Find();
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->source, "env");
  EXPECT_EQ(found->credentials.access_key_id, "AKIDENV");
  EXPECT_EQ(Secret(found->credentials), "env-secret");
  EXPECT_EQ(found->credentials.session_token, "");
}

TEST_F(CredentialsTest, EnvironmentSessionToken) {
  env_["AWS_ACCESS_KEY_ID"] = "ASIAENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "s";
  env_["AWS_SESSION_TOKEN"] = "session-token";
  auto found = Find();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->credentials.session_token, "session-token");
  // botocore reads the legacy AWS_SECURITY_TOKEN first.
  env_["AWS_SECURITY_TOKEN"] = "legacy-token";
  found = Find();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->credentials.session_token, "legacy-token");
}

TEST_F(CredentialsTest, EnvironmentWithoutSecretIsPartial) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  auto found = Find();
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().error_name(), kPartialCredentialsError);
  EXPECT_EQ(found.status().message(),
            "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY");
}

TEST_F(CredentialsTest, SecretWithoutAccessKeyInEnvironmentIsIgnored) {
  env_["AWS_SECRET_ACCESS_KEY"] = "s";
  WriteCredentials("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = f\n");
  auto found = Find();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->source, "shared-credentials-file");
  EXPECT_EQ(found->credentials.access_key_id, "AKIDFILE");
}

TEST_F(CredentialsTest, EnvironmentWinsOverFilesAndAwsProfile) {
  WriteCredentials("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = dev\n");
  env_["AWS_PROFILE"] = "dev";
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  auto found = Find();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->source, "env");
  EXPECT_EQ(found->credentials.access_key_id, "AKIDENV");
}

TEST_F(CredentialsTest, ProfileFlagWinsOverEnvironment) {
  WriteCredentials("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = dev\n");
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  auto found = Find({.profile = "dev"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->source, "shared-credentials-file");
  EXPECT_EQ(found->credentials.access_key_id, "AKIDDEV");
  EXPECT_EQ(Secret(found->credentials), "dev");
}

TEST_F(CredentialsTest, ProfileSelection) {
  WriteCredentials(
      "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n"
      "[a]\naws_access_key_id = AKIDA\naws_secret_access_key = a\n"
      "[b]\naws_access_key_id = AKIDB\naws_secret_access_key = b\n");
  auto found = Find();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->credentials.access_key_id, "AKIDDEFAULT");

  env_["AWS_PROFILE"] = "b";
  auto config = Load();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->profile(), "b");
  EXPECT_EQ(Find()->credentials.access_key_id, "AKIDB");

  // botocore reads AWS_DEFAULT_PROFILE before AWS_PROFILE.
  env_["AWS_DEFAULT_PROFILE"] = "a";
  EXPECT_EQ(Find()->credentials.access_key_id, "AKIDA");

  // And --profile before both.
  EXPECT_EQ(Find({.profile = "default"})->credentials.access_key_id, "AKIDDEFAULT");
}

TEST_F(CredentialsTest, SharedCredentialsFileWithSessionToken) {
  WriteCredentials(
      "[default]\naws_access_key_id = ASIAFILE\naws_secret_access_key = f\n"
      "aws_session_token = file-token\n"
      "[legacy]\naws_access_key_id = ASIALEGACY\naws_secret_access_key = l\n"
      "aws_security_token = legacy-token\n");
  auto found = Find();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->credentials.session_token, "file-token");
  found = Find({.profile = "legacy"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->credentials.session_token, "legacy-token");
}

TEST_F(CredentialsTest, CredentialsFileBeforeConfigFile) {
  WriteConfig(
      "[profile dev]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = c\n"
      "[profile ops]\naws_access_key_id = AKIDOPS\naws_secret_access_key = o\n");
  WriteCredentials("[dev]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = k\n");
  auto dev = Find({.profile = "dev"});
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->source, "shared-credentials-file");
  EXPECT_EQ(dev->credentials.access_key_id, "AKIDCREDS");
  auto ops = Find({.profile = "ops"});
  ASSERT_TRUE(ops.ok());
  EXPECT_EQ(ops->source, "config-file");
  EXPECT_EQ(ops->credentials.access_key_id, "AKIDOPS");
  EXPECT_EQ(Secret(ops->credentials), "o");
}

TEST_F(CredentialsTest, DefaultFilesUnderHome) {
  env_.erase("AWS_CONFIG_FILE");
  env_.erase("AWS_SHARED_CREDENTIALS_FILE");
  std::filesystem::create_directory(dir_.File(".aws"));
  testing::WriteFile(dir_.File(".aws/credentials"),
                     "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = h\n");
  testing::WriteFile(dir_.File(".aws/config"), "[default]\nregion = eu-central-1\n");
  auto config = Load();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->credentials_file(), dir_.File(".aws/credentials"));
  EXPECT_EQ(config->config_file(), dir_.File(".aws/config"));
  EXPECT_EQ(config->FindCredentials()->credentials.access_key_id, "AKIDHOME");
  EXPECT_EQ(config->Region(), "eu-central-1");
}

TEST_F(CredentialsTest, FilePathsExpandHomeAndVariables) {
  std::filesystem::create_directory(dir_.File("sub"));
  testing::WriteFile(dir_.File("sub/creds"),
                     "[default]\naws_access_key_id = AKIDSUB\naws_secret_access_key = s\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "~/sub/creds";
  EXPECT_EQ(Find()->credentials.access_key_id, "AKIDSUB");
  env_["SUBDIR"] = dir_.File("sub");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "${SUBDIR}/creds";
  EXPECT_EQ(Find()->credentials.access_key_id, "AKIDSUB");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = "$SUBDIR/creds";
  EXPECT_EQ(Find()->credentials.access_key_id, "AKIDSUB");
}

// ---------------------------------------------------------------------------
// Errors.

TEST_F(CredentialsTest, NoCredentialsAnywhere) {
  auto found = Find();
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().error_name(), kNoCredentialsError);
  EXPECT_EQ(found.status().message(),
            "Unable to locate credentials. You can configure credentials by running \"aws "
            "configure\".");
}

TEST_F(CredentialsTest, DefaultProfileWithoutKeysHasNoCredentials) {
  WriteConfig("[default]\nregion = eu-west-1\n");
  auto found = Find();
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().error_name(), kNoCredentialsError);
}

TEST_F(CredentialsTest, ProfileNotFound) {
  WriteCredentials("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = dev\n");
  for (ClientFlags flags : {ClientFlags{.profile = "prod"}, ClientFlags{}}) {
    if (flags.profile.empty()) env_["AWS_PROFILE"] = "prod";
    auto config = Load(flags);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().error_name(), kProfileNotFound);
    EXPECT_EQ(config.status().message(), "The config profile (prod) could not be found");
  }
}

TEST_F(CredentialsTest, ProfileNotFoundEvenWithEnvironmentKeys) {
  // As the aws CLI: a named profile must exist, whatever else would be used.
  env_["AWS_PROFILE"] = "prod";
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  auto config = Load();
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().error_name(), kProfileNotFound);
}

TEST_F(CredentialsTest, DefaultProfileNamedExplicitlyMustExist) {
  auto config = Load({.profile = "default"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "The config profile (default) could not be found");
  // Not named: an absent default profile is no error (only no credentials).
  EXPECT_TRUE(Load().ok());
}

TEST_F(CredentialsTest, ConfigSectionWithoutProfilePrefixIsNoProfile) {
  WriteConfig("[dev]\nregion = eu-west-1\n");
  auto config = Load({.profile = "dev"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().error_name(), kProfileNotFound);
}

TEST_F(CredentialsTest, CredentialsSectionWithProfilePrefixIsNoProfile) {
  WriteCredentials("[profile dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = d\n");
  auto config = Load({.profile = "dev"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().error_name(), kProfileNotFound);
}

TEST_F(CredentialsTest, PartialCredentialsInFiles) {
  WriteCredentials(
      "[default]\naws_access_key_id = AKIDFILE\n[nokey]\naws_secret_access_key = x\n"
      "[empty]\naws_access_key_id =\naws_secret_access_key = x\n");
  auto found = Find();
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().error_name(), kPartialCredentialsError);
  EXPECT_EQ(found.status().message(),
            "Partial credentials found in shared-credentials-file, missing: "
            "aws_secret_access_key");
  // A secret alone is no credentials in botocore's eyes (no aws_access_key_id).
  found = Find({.profile = "nokey"});
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().error_name(), kNoCredentialsError);
  found = Find({.profile = "empty"});
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().message(),
            "Partial credentials found in shared-credentials-file, missing: aws_access_key_id");

  WriteCredentials("");
  WriteConfig("[profile c]\naws_access_key_id = AKIDCONFIG\n");
  found = Find({.profile = "c"});
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().message(),
            "Partial credentials found in config-file, missing: aws_secret_access_key");
}

TEST_F(CredentialsTest, UnparsableFiles) {
  for (std::string_view text : {
           "aws_access_key_id = before-any-section\n",        // MissingSectionHeaderError
           "[default]\nthis line has no delimiter\n",         // ParsingError
           "[default]\nregion = a\n[default]\nregion = b\n",  // DuplicateSectionError
           "[default]\nregion = a\nREGION = b\n",             // DuplicateOptionError
           "[default]\n = value without key\n",
           "[]\nregion = a\n",
       }) {
    WriteCredentials(text);
    auto config = Load();
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.status().error_name(), kConfigParseError) << text;
    EXPECT_EQ(config.status().message(), "Unable to parse config file: " + credentials_path());
  }
  WriteCredentials("");
  WriteConfig("[default\nregion = a\n");
  auto config = Load();
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "Unable to parse config file: " + config_path());
}

TEST_F(CredentialsTest, MissingFilesAndDirectoriesAreEmpty) {
  env_["AWS_CONFIG_FILE"] = dir_.File("does/not/exist");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_.path();  // a directory, not a file
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->FindCredentials().status().error_name(), kNoCredentialsError);
}

TEST_F(CredentialsTest, UnsupportedSourcesAreErrorsNotFallThrough) {
  // botocore would assume the role before using the static keys: coffer
  // cannot, and must not silently use the keys instead.
  WriteConfig(
      "[profile role]\nrole_arn = arn:aws:iam::111122223333:role/R\nsource_profile = default\n"
      "[profile process]\ncredential_process = /bin/creds\n"
      "[profile sso]\nsso_session = corp\n");
  WriteCredentials(
      "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n"
      "[role]\naws_access_key_id = AKIDROLE\naws_secret_access_key = r\n");
  for (const char* profile : {"role", "process", "sso"}) {
    auto found = Find({.profile = profile});
    ASSERT_FALSE(found.ok()) << profile;
    EXPECT_EQ(found.status().error_name(), kUnsupportedCredentialSource) << profile;
    EXPECT_THAT(found.status().message(),
                HasSubstr(std::string("The config profile (") + profile + ")"));
  }
  // credential_process comes after the credentials file: its keys win.
  WriteCredentials("[process]\naws_access_key_id = AKIDPROC\naws_secret_access_key = p\n");
  auto found = Find({.profile = "process"});
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->credentials.access_key_id, "AKIDPROC");
  // The environment comes before all of them.
  env_["AWS_PROFILE"] = "role";
  env_["AWS_ACCESS_KEY_ID"] = "AKIDENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "e";
  EXPECT_EQ(Find()->source, "env");
}

// ---------------------------------------------------------------------------
// Region, endpoint, output, CA bundle.

TEST_F(CredentialsTest, RegionOrder) {
  WriteConfig("[default]\nregion = from-config\n");
  EXPECT_EQ(Load()->Region(), "from-config");
  env_["AWS_DEFAULT_REGION"] = "from-default-region";
  EXPECT_EQ(Load()->Region(), "from-default-region");
  env_["AWS_REGION"] = "from-region";
  EXPECT_EQ(Load()->Region(), "from-region");
  EXPECT_EQ(Load({.region = "from-flag"})->Region(), "from-flag");
  WriteConfig("");
  env_.erase("AWS_REGION");
  env_.erase("AWS_DEFAULT_REGION");
  EXPECT_EQ(Load()->Region(), "us-east-1");
}

TEST_F(CredentialsTest, RegionOfTheChosenProfile) {
  WriteConfig("[default]\nregion = eu-west-1\n[profile tokyo]\nregion = ap-northeast-1\n");
  WriteCredentials("[tokyo]\naws_access_key_id = A\naws_secret_access_key = s\n");
  EXPECT_EQ(Load({.profile = "tokyo"})->Region(), "ap-northeast-1");
}

TEST_F(CredentialsTest, EndpointOrder) {
  EXPECT_EQ(Load()->EndpointUrl("kms"), "http://127.0.0.1:7878");
  WriteConfig("[default]\nendpoint_url = http://from-config:1\n");
  EXPECT_EQ(Load()->EndpointUrl("kms"), "http://from-config:1");
  env_["AWS_ENDPOINT_URL"] = "http://from-aws-endpoint:2";
  EXPECT_EQ(Load()->EndpointUrl("kms"), "http://from-aws-endpoint:2");
  env_["AWS_ENDPOINT_URL_KMS"] = "http://from-kms-endpoint:3";
  EXPECT_EQ(Load()->EndpointUrl("kms"), "http://from-kms-endpoint:3");
  EXPECT_EQ(Load()->EndpointUrl("sts"), "http://from-aws-endpoint:2");
  env_["COFFER_ENDPOINT_URL"] = "http://from-coffer:4";
  EXPECT_EQ(Load()->EndpointUrl("kms"), "http://from-coffer:4");
  EXPECT_EQ(Load({.endpoint_url = "http://from-flag:5"})->EndpointUrl("kms"), "http://from-flag:5");
}

TEST_F(CredentialsTest, OutputAndCaBundleOrder) {
  EXPECT_EQ(Load()->Output(), "json");
  EXPECT_EQ(Load()->CaBundle(), "");
  WriteConfig("[default]\noutput = text\nca_bundle = /config.pem\n");
  EXPECT_EQ(Load()->Output(), "text");
  EXPECT_EQ(Load()->CaBundle(), "/config.pem");
  env_["AWS_DEFAULT_OUTPUT"] = "table";
  env_["AWS_CA_BUNDLE"] = "/env.pem";
  EXPECT_EQ(Load()->Output(), "table");
  EXPECT_EQ(Load()->CaBundle(), "/env.pem");
  auto flagged = Load({.output = "json", .ca_bundle = "/flag.pem"});
  EXPECT_EQ(flagged->Output(), "json");
  EXPECT_EQ(flagged->CaBundle(), "/flag.pem");
}

// ---------------------------------------------------------------------------
// The INI dialect (Python's configparser, as botocore uses it).

TEST(ParseIniTest, DelimitersCaseCommentsAndWhitespace) {
  auto ini = ParseIni(
      "# comment\n"
      "; another\n"
      "[default]\r\n"
      "AWS_ACCESS_KEY_ID=AKID\r\n"
      "region :  eu-west-1  \n"
      "    # indented comment\n"
      "note = a # not a comment\n"
      "  indented: a continuation\n",
      "f");
  ASSERT_TRUE(ini.ok()) << ini.status().ToString();
  ASSERT_EQ(ini->sections.size(), 1u);
  const IniSection& s = ini->sections[0].second;
  EXPECT_EQ(ini->sections[0].first, "default");
  EXPECT_EQ(*s.Find("aws_access_key_id"), "AKID");
  EXPECT_EQ(*s.Find("region"), "eu-west-1");
  EXPECT_EQ(*s.Find("note"), "a # not a comment\nindented: a continuation");
  EXPECT_EQ(s.Find("indented"), nullptr);
}

TEST(ParseIniTest, ContinuationLinesAndBlankLinesInValues) {
  auto ini = ParseIni(
      "[default]\n"
      "s3 =\n"
      "  max_concurrent_requests = 10\n"
      "\n"
      "  addressing_style = path\n"
      "region = x\n",
      "f");
  ASSERT_TRUE(ini.ok());
  const IniSection& s = ini->sections[0].second;
  EXPECT_EQ(*s.Find("s3"), "\nmax_concurrent_requests = 10\n\naddressing_style = path");
  EXPECT_EQ(*s.Find("region"), "x");
}

TEST(ParseIniTest, SecretsAreKeptApart) {
  auto ini = ParseIni("[default]\naws_access_key_id = A\naws_secret_access_key = shh\n", "f");
  ASSERT_TRUE(ini.ok());
  const IniSection& s = ini->sections[0].second;
  EXPECT_EQ(s.Find("aws_secret_access_key"), nullptr);
  ASSERT_TRUE(s.secrets.contains("aws_secret_access_key"));
  EXPECT_EQ(ToString(RevealSecret(s.secrets.at("aws_secret_access_key"))), "shh");
  EXPECT_TRUE(s.Has("aws_secret_access_key"));
}

TEST(ParseIniTest, DefaultSectionIsMergedIntoEverySection) {
  auto ini = ParseIni("[DEFAULT]\noutput = text\nregion = d\n[a]\nregion = a\n[b]\n", "f");
  ASSERT_TRUE(ini.ok());
  ASSERT_EQ(ini->sections.size(), 2u);
  EXPECT_EQ(*ini->sections[0].second.Find("region"), "a");
  EXPECT_EQ(*ini->sections[0].second.Find("output"), "text");
  EXPECT_EQ(*ini->sections[1].second.Find("region"), "d");
}

TEST_F(CredentialsTest, ProfileSectionNamesAsBotocoreSplitsThem) {
  WriteConfig(
      "[default]\nregion = first\n"
      "[profile default]\nregion = second\n"
      "[profile \"with space\"]\nregion = quoted\n");
  WriteCredentials("[with space]\naws_access_key_id = A\naws_secret_access_key = s\n");
  // [profile default] comes later: it wins.
  EXPECT_EQ(Load()->Region(), "second");
  auto config = Load({.profile = "with space"});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->Region(), "quoted");
}

}  // namespace
}  // namespace coffer::cli
