#include "server/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "testing/files.h"

namespace coffer::server {
namespace {

using ::testing::HasSubstr;
using Env = std::map<std::string, std::string>;

class ServerConfigTest : public ::testing::Test {
 protected:
  // Writes `toml` to config.toml in a temporary directory; returns its path.
  std::string ConfigFile(std::string_view toml) {
    std::string path = dir_.File("config.toml");
    testing::WriteFile(path, toml);
    return path;
  }

  // Loads and expects an error whose message contains `expected`.
  void ExpectError(const std::optional<std::string>& file, const Env& env, const ServerFlags& flags,
                   std::string_view expected) {
    auto c = LoadServerConfig(file, env, flags);
    ASSERT_FALSE(c.ok()) << "expected an error containing: " << expected;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().ToString();
    EXPECT_THAT(c.status().message(), HasSubstr(std::string(expected)));
  }

  testing::TempDir dir_;
  Env home_{{"HOME", "/home/alice"}};
};

TEST_F(ServerConfigTest, Defaults) {
  auto c = LoadServerConfig(std::nullopt, home_, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/home/alice/.local/share/coffer");
  EXPECT_EQ(c->listen.host, "127.0.0.1");
  EXPECT_EQ(c->listen.port, 7878);
  EXPECT_EQ(c->listen.ToString(), kDefaultListen);
  EXPECT_EQ(c->account_id, "111122223333");
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_FALSE(c->tls());
  EXPECT_FALSE(c->allow_insecure_non_loopback);
  EXPECT_EQ(c->io_threads, 2);
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->root_key, RootKeySource::kKeyFile);
  EXPECT_EQ(c->root_key_file, "/home/alice/.local/share/coffer/root.key");
  EXPECT_TRUE(c->passphrase.empty());
  EXPECT_EQ(c->limits.max_header_bytes, 16u * 1024);
  EXPECT_EQ(c->limits.max_body_bytes, 1024u * 1024);
  EXPECT_EQ(c->limits.max_connections, 1024u);
  EXPECT_EQ(c->limits.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c->limits.request_timeout, std::chrono::seconds(30));
  EXPECT_EQ(c->limits.shutdown_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c->audit_digest_period, std::chrono::seconds(3600));
}

TEST_F(ServerConfigTest, DataDirDefaultsToXdgDataHomeThenNeedsSomething) {
  auto c = LoadServerConfig(std::nullopt, {{"HOME", "/h"}, {"XDG_DATA_HOME", "/xdg"}}, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data_dir, "/xdg/coffer");
  ExpectError(std::nullopt, {}, {}, "data_dir: not set");
}

// Paths from the file or the environment, which no shell expanded: "~/" is HOME.
TEST_F(ServerConfigTest, PathsBeginningWithTildeAreUnderHome) {
  std::string file = ConfigFile(
      "data_dir = \"~/coffer-data\"\nroot_key_file = \"~/keys/root.key\"\n"
      "tls_cert = \"~/tls/cert.pem\"\ntls_key = \"~/tls/key.pem\"\n");
  auto c = LoadServerConfig(file, home_, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/home/alice/coffer-data");
  EXPECT_EQ(c->root_key_file, "/home/alice/keys/root.key");
  EXPECT_EQ(*c->tls_cert, "/home/alice/tls/cert.pem");
  EXPECT_EQ(*c->tls_key, "/home/alice/tls/key.pem");
  Env env = home_;
  env["COFFER_DATA_DIR"] = "~/from-env";
  EXPECT_EQ(LoadServerConfig(std::nullopt, env, {})->data_dir, "/home/alice/from-env");
  EXPECT_EQ(LoadStorageConfig(std::nullopt, env, std::nullopt)->data_dir, "/home/alice/from-env");
  // Only a leading "~/" (or "~" alone): "~alice" and "a/~/b" are names.
  env["COFFER_DATA_DIR"] = "~bob/data";
  EXPECT_EQ(LoadServerConfig(std::nullopt, env, {})->data_dir, "~bob/data");
}

TEST_F(ServerConfigTest, AuditDigestPeriodFromEachSourceAndItsRange) {
  auto file = ConfigFile("audit_digest_period_seconds = 600\n");
  auto from_file = LoadServerConfig(file, home_, {});
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_EQ(from_file->audit_digest_period, std::chrono::seconds(600));
  auto env = home_;
  env["COFFER_AUDIT_DIGEST_PERIOD_SECONDS"] = "120";
  auto from_env = LoadServerConfig(file, env, {});
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_EQ(from_env->audit_digest_period, std::chrono::seconds(120));
  ServerFlags flags;
  flags.audit_digest_period_seconds = 60;
  auto from_flag = LoadServerConfig(file, env, flags);
  ASSERT_TRUE(from_flag.ok()) << from_flag.status().ToString();
  EXPECT_EQ(from_flag->audit_digest_period, std::chrono::seconds(60));
  flags.audit_digest_period_seconds = 59;
  auto too_short = LoadServerConfig(file, env, flags);
  ASSERT_FALSE(too_short.ok());
  EXPECT_THAT(too_short.status().message(), HasSubstr("--audit-digest-period-seconds"));
}

TEST_F(ServerConfigTest, EveryKeyFromTheFile) {
  auto file = ConfigFile(R"(
data_dir = "/var/lib/coffer"
listen = "[::1]:9000"
account_id = "444455556666"
region = "eu-central-1"
tls_cert = "/etc/coffer/cert.pem"
tls_key = "/etc/coffer/key.pem"
allow_insecure_non_loopback = true
io_threads = 4
log_level = "debug"
root_key = "key-file"
root_key_file = "/etc/coffer/root.key"

[limits]
max_header_bytes = 8192
max_body_bytes = 65536
max_connections = 50
idle_timeout_seconds = 5
request_timeout_seconds = 6
shutdown_timeout_seconds = 7
)");
  auto c = LoadServerConfig(file, {}, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->data_dir, "/var/lib/coffer");
  EXPECT_EQ(c->listen.host, "::1");
  EXPECT_EQ(c->listen.port, 9000);
  EXPECT_EQ(c->listen.ToString(), "[::1]:9000");
  EXPECT_EQ(c->account_id, "444455556666");
  EXPECT_EQ(c->region, "eu-central-1");
  EXPECT_EQ(c->tls_cert, "/etc/coffer/cert.pem");
  EXPECT_EQ(c->tls_key, "/etc/coffer/key.pem");
  EXPECT_TRUE(c->allow_insecure_non_loopback);
  EXPECT_EQ(c->io_threads, 4);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->root_key_file, "/etc/coffer/root.key");
  EXPECT_EQ(c->limits.max_header_bytes, 8192u);
  EXPECT_EQ(c->limits.max_body_bytes, 65536u);
  EXPECT_EQ(c->limits.max_connections, 50u);
  EXPECT_EQ(c->limits.idle_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c->limits.request_timeout, std::chrono::seconds(6));
  EXPECT_EQ(c->limits.shutdown_timeout, std::chrono::seconds(7));

  auto o = ListenerOptions(*c);
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 9000);
  EXPECT_EQ(o.io_threads, 4);
  EXPECT_EQ(o.max_header_bytes, 8192u);
  EXPECT_EQ(o.max_body_bytes, 65536u);
  EXPECT_EQ(o.max_connections, 50u);
  EXPECT_EQ(o.idle_timeout, std::chrono::seconds(5));
  EXPECT_EQ(o.request_timeout, std::chrono::seconds(6));
  EXPECT_EQ(o.shutdown_timeout, std::chrono::seconds(7));
  ASSERT_TRUE(o.tls.has_value());
  EXPECT_EQ(o.tls->certificate_chain_file, "/etc/coffer/cert.pem");
  EXPECT_EQ(o.tls->private_key_file, "/etc/coffer/key.pem");
}

TEST_F(ServerConfigTest, FlagsOverEnvironmentOverFileOverDefaults) {
  auto file = ConfigFile(R"(
listen = "127.0.0.1:1001"
region = "us-west-2"
account_id = "000000000001"
io_threads = 3
)");
  Env env = home_;
  env["COFFER_LISTEN"] = "127.0.0.1:1002";
  env["COFFER_REGION"] = "eu-west-1";
  env["COFFER_IO_THREADS"] = "5";
  ServerFlags flags;
  flags.listen = "127.0.0.1:1003";

  auto c = LoadServerConfig(file, env, flags);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen.port, 1003);           // flag
  EXPECT_EQ(c->region, "eu-west-1");         // environment over file
  EXPECT_EQ(c->io_threads, 5);               // environment over file
  EXPECT_EQ(c->account_id, "000000000001");  // file over default
  EXPECT_EQ(c->log_level, "info");           // default

  flags.io_threads = 7;
  flags.region = "ap-southeast-2";
  c = LoadServerConfig(file, env, flags);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->io_threads, 7);
  EXPECT_EQ(c->region, "ap-southeast-2");
}

TEST_F(ServerConfigTest, WarnsOfAMisspelledVariableAndIgnoresIt) {
  Env env = home_;
  env["COFFER_LITSEN"] = "127.0.0.1:1002";    // two letters off COFFER_LISTEN
  env["COFFER_ROOT_KEYFILE"] = "/tmp/x";      // COFFER_ROOT_KEY_FILE without a '_'
  env["COFFER_REGIO"] = "ap-south-1";         // one letter short of COFFER_REGION
  env["COFFER_LIS"] = "x";                    // three letters off: not taken for a typo
  env["COFFER_ENDPOINT_URL"] = "http://x:1";  // the client's, far from any setting
  env["COFFER_IO_THREADS"] = "3";             // a setting
  env["LISTEN"] = "x";                        // not ours at all
  auto c = LoadServerConfig(std::nullopt, env, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen.port, 7878);
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_EQ(c->io_threads, 3);
  const std::string kIgnored = " is not a setting of coffer server and is ignored; did you mean ";
  EXPECT_THAT(c->warnings,
              ::testing::ElementsAre("COFFER_LITSEN" + kIgnored + "COFFER_LISTEN?",
                                     "COFFER_REGIO" + kIgnored + "COFFER_REGION?",
                                     "COFFER_ROOT_KEYFILE" + kIgnored + "COFFER_ROOT_KEY_FILE?"));

  // When the typo leaves a setting without its companion, the error says so.
  env["COFFER_TLS_CERT"] = "/etc/cert.pem";
  env["COFFER_TLS_KY"] = "/etc/key.pem";
  auto refused = LoadServerConfig(std::nullopt, env, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              ::testing::AllOf(HasSubstr("tls_key is not"),
                               HasSubstr("(COFFER_TLS_KY" + kIgnored + "COFFER_TLS_KEY?)")));

  for (const char* name : {"COFFER_LITSEN", "COFFER_ROOT_KEYFILE", "COFFER_REGIO",
                           "COFFER_TLS_CERT", "COFFER_TLS_KY"}) {
    env.erase(name);
  }
  c = LoadServerConfig(std::nullopt, env, {});
  ASSERT_TRUE(c.ok());
  EXPECT_THAT(c->warnings, ::testing::IsEmpty());
}

// An action of one start: the flag only, never a key of the file.
TEST_F(ServerConfigTest, RestartDigestChainComesFromTheFlagOnly) {
  auto c = LoadServerConfig(std::nullopt, home_, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->restart_digest_chain);
  ServerFlags flags;
  flags.restart_digest_chain = true;
  c = LoadServerConfig(std::nullopt, home_, flags);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->restart_digest_chain);
  auto refused = LoadServerConfig(ConfigFile("restart_digest_chain = true\n"), home_, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("restart_digest_chain: unknown key"));
}

TEST_F(ServerConfigTest, ConfigFileNamedByEnvironmentWhenNoFlag) {
  auto file = ConfigFile("region = \"ca-central-1\"\n");
  Env env = home_;
  env["COFFER_CONFIG"] = file;
  auto c = LoadServerConfig(std::nullopt, env, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->region, "ca-central-1");

  // The explicit file wins over COFFER_CONFIG.
  std::string other = dir_.File("other.toml");
  testing::WriteFile(other, "region = \"sa-east-1\"\n");
  c = LoadServerConfig(other, env, {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "sa-east-1");

  env["COFFER_CONFIG"] = dir_.File("nope.toml");
  auto missing = LoadServerConfig(std::nullopt, env, {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("nope.toml' (from COFFER_CONFIG): cannot read"));
}

TEST_F(ServerConfigTest, MissingFileIsAnError) {
  auto c = LoadServerConfig(dir_.File("absent.toml"), home_, {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr("absent.toml"));
  EXPECT_THAT(c.status().message(), HasSubstr("No such file"));
}

TEST_F(ServerConfigTest, ADirectoryIsNotAConfigFile) {
  // Read as a file it would throw from the stream; it is an error like any other.
  auto c = LoadServerConfig(dir_.path(), home_, {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr("cannot read"));
  EXPECT_THAT(c.status().message(), HasSubstr("Is a directory"));
}

TEST_F(ServerConfigTest, FileErrorsNameTheFileAndTheKey) {
  std::string path = dir_.File("config.toml");
  ExpectError(ConfigFile("listen = \"127.0.0.1:7878\"\nbogus = 1\n"), home_, {},
              path + ": bogus: unknown key");
  ExpectError(ConfigFile("[limits]\nmax_bogus = 1\n"), home_, {},
              path + ": limits.max_bogus: unknown key");
  ExpectError(ConfigFile("[server]\nlisten = \"x\"\n"), home_, {}, path + ": server: unknown key");
  ExpectError(ConfigFile("limits = 3\n"), home_, {}, path + ": limits: expected a table");
  ExpectError(ConfigFile("io_threads = \"4\"\n"), home_, {},
              path + ": io_threads: expected an integer, got a string");
  ExpectError(ConfigFile("account_id = 111122223333\n"), home_, {},
              path + ": account_id: expected a string, got an integer");
  ExpectError(ConfigFile("allow_insecure_non_loopback = \"yes\"\n"), home_, {},
              path + ": allow_insecure_non_loopback: expected a boolean");
  ExpectError(ConfigFile("io_threads = 1.5\n"), home_, {},
              path + ": io_threads: expected an integer, got a floating-point number");
  ExpectError(ConfigFile("listen = \"nonsense\"\n"), home_, {},
              path + ": listen: 'nonsense' is not HOST:PORT");
  ExpectError(ConfigFile("region = \"mars-1\"\n"), home_, {},
              path + ": region: 'mars-1' is not an AWS region name");
  // A TOML syntax error names the line and column.
  ExpectError(ConfigFile("region = \"us-east-1\"\nlisten = \n"), home_, {}, path + ":2:");
}

// The one integer parser of flags and environment variables: the whole text, in decimal.
TEST(ParseIntegerValueTest, TakesWholeDecimalIntegersOnly) {
  EXPECT_EQ(ParseIntegerValue("42", "--io-threads").value(), 42);
  EXPECT_EQ(ParseIntegerValue("-7", "--io-threads").value(), -7);
  for (const char* bad : {"", "abc", "4x", " 4", "0x10", "99999999999999999999"}) {
    SCOPED_TRACE(bad);
    auto parsed = ParseIntegerValue(bad, "--io-threads");
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().message(),
              "--io-threads: '" + std::string(bad) + "' is not an integer");
  }
}

TEST_F(ServerConfigTest, EnvironmentErrorsNameTheVariable) {
  auto with = [&](const std::string& name, const std::string& value) {
    Env env = home_;
    env[name] = value;
    return env;
  };
  ExpectError(std::nullopt, with("COFFER_IO_THREADS", "four"), {},
              "COFFER_IO_THREADS: 'four' is not an integer");
  ExpectError(std::nullopt, with("COFFER_IO_THREADS", "4x"), {},
              "COFFER_IO_THREADS: '4x' is not an integer");
  ExpectError(std::nullopt, with("COFFER_IO_THREADS", "0"), {},
              "COFFER_IO_THREADS: 0 is out of range: it must be between 1 and 256");
  ExpectError(std::nullopt, with("COFFER_ALLOW_INSECURE_NON_LOOPBACK", "maybe"), {},
              "COFFER_ALLOW_INSECURE_NON_LOOPBACK: 'maybe' is not true or false");
  ExpectError(std::nullopt, with("COFFER_ACCOUNT_ID", "12345"), {},
              "COFFER_ACCOUNT_ID: '12345' is not an AWS account id (12 digits)");
  ExpectError(std::nullopt, with("COFFER_ACCOUNT_ID", "11112222333a"), {},
              "COFFER_ACCOUNT_ID: '11112222333a' is not an AWS account id");
  ExpectError(std::nullopt, with("COFFER_REGION", "US-EAST-1"), {},
              "COFFER_REGION: 'US-EAST-1' is not an AWS region name");
  ExpectError(std::nullopt, with("COFFER_LOG_LEVEL", "loud"), {},
              "COFFER_LOG_LEVEL: 'loud' is not a log level");
  ExpectError(std::nullopt, with("COFFER_ROOT_KEY", "hsm"), {},
              "COFFER_ROOT_KEY: 'hsm' is not a root key provider (key-file, passphrase)");
  ExpectError(std::nullopt, with("COFFER_MAX_BODY_BYTES", "10"), {},
              "COFFER_MAX_BODY_BYTES: 10 is out of range");
  ExpectError(std::nullopt, with("COFFER_MAX_HEADER_BYTES", "99999999"), {},
              "COFFER_MAX_HEADER_BYTES: 99999999 is out of range");
  ExpectError(std::nullopt, with("COFFER_MAX_CONNECTIONS", "0"), {},
              "COFFER_MAX_CONNECTIONS: 0 is out of range");
  ExpectError(std::nullopt, with("COFFER_IDLE_TIMEOUT_SECONDS", "0"), {},
              "COFFER_IDLE_TIMEOUT_SECONDS: 0 is out of range");
  ExpectError(std::nullopt, with("COFFER_REQUEST_TIMEOUT_SECONDS", "-1"), {},
              "COFFER_REQUEST_TIMEOUT_SECONDS: -1 is out of range");
  ExpectError(std::nullopt, with("COFFER_SHUTDOWN_TIMEOUT_SECONDS", "3601"), {},
              "COFFER_SHUTDOWN_TIMEOUT_SECONDS: 3601 is out of range");
  ExpectError(std::nullopt, with("COFFER_LISTEN", "localhost"), {},
              "COFFER_LISTEN: 'localhost' is not HOST:PORT");

  // An empty variable counts as unset.
  auto c = LoadServerConfig(std::nullopt, with("COFFER_REGION", ""), {});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->region, "us-east-1");
  // Booleans in the environment.
  Env env = with("COFFER_ALLOW_INSECURE_NON_LOOPBACK", "TRUE");
  env["COFFER_LISTEN"] = "0.0.0.0:7878";
  EXPECT_TRUE(LoadServerConfig(std::nullopt, env, {}).ok());
}

TEST_F(ServerConfigTest, FlagErrorsNameTheFlag) {
  ServerFlags f;
  f.region = "nowhere";
  ExpectError(std::nullopt, home_, f, "--region: 'nowhere' is not an AWS region name");
  f = {};
  f.io_threads = 1000;
  ExpectError(std::nullopt, home_, f, "--io-threads: 1000 is out of range");
  f = {};
  f.data_dir = "";
  ExpectError(std::nullopt, home_, f, "--data-dir: must not be empty");
  f = {};
  f.max_header_bytes = 10;
  ExpectError(std::nullopt, home_, f, "--max-header-bytes: 10 is out of range");
  f = {};
  f.account_id = "1111222233334";
  ExpectError(std::nullopt, home_, f, "--account-id: '1111222233334' is not an AWS account id");
}

TEST_F(ServerConfigTest, RegionNames) {
  for (const char* good : {"us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2",
                           "ap-northeast-3", "us-gov-west-1", "cn-north-1", "il-central-1",
                           "us-iso-east-1", "us-isob-east-1", "me-south-1"}) {
    ServerFlags f;
    f.region = good;
    EXPECT_TRUE(LoadServerConfig(std::nullopt, home_, f).ok()) << good;
  }
  for (const char* bad : {"", "us-east", "useast1", "us-east-1a", "us-up-1", "u-east-1",
                          "us-east-0", "us_east_1", "us-east-100", " us-east-1"}) {
    ServerFlags f;
    f.region = bad;
    EXPECT_FALSE(LoadServerConfig(std::nullopt, home_, f).ok()) << bad;
  }
}

TEST_F(ServerConfigTest, ListenAddresses) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
  };
  for (const Case& c : {Case{"127.0.0.1:7878", "127.0.0.1", 7878}, Case{"[::1]:7878", "::1", 7878},
                        Case{"localhost:80", "localhost", 80}, Case{"0.0.0.0:0", "0.0.0.0", 0},
                        Case{"[::]:65535", "::", 65535}}) {
    auto a = ParseListenAddress(c.text);
    ASSERT_TRUE(a.ok()) << c.text << ": " << a.status().ToString();
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
  }
  for (const char* bad : {"", "7878", ":7878", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                          "127.0.0.1:-1", "127.0.0.1:80x", "example.com:80", "::1:7878",
                          "[::1]7878", "[::1", "[nothex]:80", "256.0.0.1:80", "[::1]:"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
  EXPECT_THAT(ParseListenAddress("::1:7878").status().message(), HasSubstr("brackets"));
  EXPECT_THAT(ParseListenAddress("example.com:80").status().message(),
              HasSubstr("host names are not resolved"));
}

TEST_F(ServerConfigTest, Loopback) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "localhost"}) {
    EXPECT_TRUE((ListenAddress{host, 1}).IsLoopback()) << host;
  }
  for (const char* host :
       {"0.0.0.0", "::", "10.0.0.1", "192.168.1.1", "::ffff:10.0.0.1", "fe80::1"}) {
    EXPECT_FALSE((ListenAddress{host, 1}).IsLoopback()) << host;
  }
}

TEST_F(ServerConfigTest, RefusesPlainHttpOnANonLoopbackAddress) {
  ServerFlags f;
  f.listen = "0.0.0.0:7878";
  auto c = LoadServerConfig(std::nullopt, home_, f);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "refusing to listen on 0.0.0.0:7878 without TLS; give tls_cert and tls_key, or set "
            "allow_insecure_non_loopback = true");
  f.listen = "[::]:7878";
  ExpectError(std::nullopt, home_, f, "refusing to listen on [::]:7878 without TLS");

  // Allowed explicitly...
  f.allow_insecure_non_loopback = true;
  EXPECT_TRUE(LoadServerConfig(std::nullopt, home_, f).ok());
  // ...or with TLS.
  f.allow_insecure_non_loopback.reset();
  f.tls_cert = "/c.pem";
  f.tls_key = "/k.pem";
  auto tls = LoadServerConfig(std::nullopt, home_, f);
  ASSERT_TRUE(tls.ok()) << tls.status().ToString();
  EXPECT_TRUE(tls->tls());
  // A flag can take back what the file allowed.
  auto file = ConfigFile("listen = \"0.0.0.0:7878\"\nallow_insecure_non_loopback = true\n");
  EXPECT_TRUE(LoadServerConfig(file, home_, {}).ok());
  ServerFlags deny;
  deny.allow_insecure_non_loopback = false;
  ExpectError(file, home_, deny, "refusing to listen on 0.0.0.0:7878 without TLS");
}

TEST_F(ServerConfigTest, TlsNeedsBothFiles) {
  ServerFlags f;
  f.tls_cert = "/c.pem";
  ExpectError(std::nullopt, home_, f, "tls_cert (from --tls-cert) is set but tls_key is not");
  Env env = home_;
  env["COFFER_TLS_KEY"] = "/k.pem";
  ExpectError(std::nullopt, env, {}, "tls_key (from COFFER_TLS_KEY) is set but tls_cert is not");
}

TEST_F(ServerConfigTest, PassphraseRootKeyComesFromTheEnvironmentOnly) {
  Env env = home_;
  env["COFFER_ROOT_KEY"] = "passphrase";
  ExpectError(std::nullopt, env, {},
              "root_key = passphrase (from COFFER_ROOT_KEY) needs the passphrase in the "
              "environment variable COFFER_PASSPHRASE");
  env["COFFER_PASSPHRASE"] = "correct horse battery staple";
  auto c = LoadServerConfig(std::nullopt, env, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->root_key, RootKeySource::kPassphrase);
  EXPECT_TRUE(c->passphrase ==
              crypto::SecretBytes(std::string_view("correct horse battery staple")));
  EXPECT_TRUE(c->root_key_file.empty());

  // A key file has no meaning with a passphrase.
  ServerFlags f;
  f.root_key_file = "/k";
  ExpectError(std::nullopt, env, f,
              "--root-key-file: root_key_file is used only with root_key = key-file");

  // A passphrase that would be silently ignored is refused.
  Env stray = home_;
  stray["COFFER_PASSPHRASE"] = "hunter2-unique";
  ExpectError(std::nullopt, stray, {}, "COFFER_PASSPHRASE is set but root_key is key-file");
  // ...and the passphrase itself never appears in a message.
  auto refused = LoadServerConfig(std::nullopt, stray, {});
  EXPECT_THAT(refused.status().message(), ::testing::Not(HasSubstr("hunter2")));

  // The file cannot hold a passphrase.
  ExpectError(ConfigFile("passphrase = \"x\"\n"), home_, {}, "passphrase: unknown key");
}

TEST_F(ServerConfigTest, RootKeyFileDefaultsIntoTheDataDir) {
  ServerFlags f;
  f.data_dir = "/srv/coffer";
  auto c = LoadServerConfig(std::nullopt, home_, f);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->root_key_file, "/srv/coffer/root.key");
  f.root_key_file = "/keys/root.key";
  c = LoadServerConfig(std::nullopt, home_, f);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->root_key_file, "/keys/root.key");
}

TEST_F(ServerConfigTest, BucketsOfS3Services) {
  auto c = LoadServerConfig(ConfigFile(R"(
[buckets.offsite]
type = "s3"
endpoint = "https://s3.eu-west-1.amazonaws.com"
region = "eu-west-1"
addressing = "virtual"
bucket = "acme-backups-eu"
access_key_id = "AKIAEXAMPLE"
secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
session_token = "token"
part_size_mib = 64
parts_in_flight = 2
ca_bundle = "/etc/ssl/ca.pem"

[buckets.minio]
type = "s3"
endpoint = "http://127.0.0.1:9000"
profile = "minio"
)"),
                            home_, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->buckets.size(), 2u);
  const BucketSettings& offsite = c->buckets.at("offsite");
  EXPECT_EQ(offsite.type, "s3");
  EXPECT_EQ(offsite.endpoint, "https://s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(offsite.region, "eu-west-1");
  EXPECT_EQ(offsite.addressing, "virtual");
  EXPECT_EQ(offsite.bucket, "acme-backups-eu");
  EXPECT_EQ(offsite.access_key_id, "AKIAEXAMPLE");
  EXPECT_EQ(offsite.secret_access_key.size(), 40u);
  EXPECT_EQ(offsite.session_token.size(), 5u);
  EXPECT_EQ(offsite.part_size_mib, 64);
  EXPECT_EQ(offsite.parts_in_flight, 2);
  EXPECT_EQ(offsite.ca_bundle, "/etc/ssl/ca.pem");
  const BucketSettings& minio = c->buckets.at("minio");
  EXPECT_EQ(minio.profile, "minio");
  EXPECT_EQ(minio.region, "us-east-1");
  EXPECT_EQ(minio.addressing, "path");
  EXPECT_EQ(minio.bucket, "");
  EXPECT_EQ(minio.part_size_mib, 16);
  EXPECT_EQ(minio.parts_in_flight, 4);
  EXPECT_EQ(BucketsDirectory(c->data_dir), "/home/alice/.local/share/coffer/buckets");
}

TEST_F(ServerConfigTest, BucketErrorsNameTheBucketAndTheKey) {
  const std::string path = dir_.File("config.toml");
  const std::string head = "[buckets.bk1]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\n";
  const std::string keys = "access_key_id = \"AK\"\nsecret_access_key = \"s\"\n";
  ExpectError(ConfigFile(head + keys + "bogus = 1\n"), home_, {},
              path + ": buckets.bk1.bogus: unknown key");
  ExpectError(ConfigFile(head + "profile = \"p\"\n" + keys), home_, {},
              path + ": buckets.bk1: give either access_key_id and secret_access_key, or profile");
  ExpectError(ConfigFile(head), home_, {}, path + ": buckets.bk1: no credentials");
  ExpectError(ConfigFile(head + "access_key_id = \"AK\"\n"), home_, {},
              path + ": buckets.bk1: access_key_id and secret_access_key go together");
  ExpectError(ConfigFile("[buckets.bk1]\ntype = \"s3\"\n" + keys), home_, {},
              path + ": buckets.bk1: endpoint is missing");
  ExpectError(ConfigFile("[buckets.bk1]\nendpoint = \"http://x\"\n" + keys), home_, {},
              path + ": buckets.bk1: type is missing");
  ExpectError(ConfigFile("[buckets.bk1]\ntype = \"gcs\"\n"), home_, {},
              path + ": buckets.bk1.type: 'gcs' is not a bucket type (s3)");
  ExpectError(ConfigFile("[buckets.bk1]\ntype = \"s3\"\nendpoint = \"ftp://x\"\n"), home_, {},
              path + ": buckets.bk1.endpoint: 'ftp://x' is not an http or https URL");
  ExpectError(ConfigFile(head + keys + "addressing = \"dns\"\n"), home_, {},
              path + ": buckets.bk1.addressing: 'dns' is not an addressing style");
  ExpectError(ConfigFile(head + keys + "region = \"moon\"\n"), home_, {},
              path + ": buckets.bk1.region: 'moon' is not an AWS region name");
  ExpectError(ConfigFile(head + keys + "part_size_mib = 4\n"), home_, {},
              path + ": buckets.bk1.part_size_mib: 4 is out of range");
  ExpectError(ConfigFile(head + keys + "parts_in_flight = \"2\"\n"), home_, {},
              path + ": buckets.bk1.parts_in_flight: expected an integer, got a string");
  ExpectError(ConfigFile(head + keys + "bucket = \"Bad_Name\"\n"), home_, {},
              path + ": buckets.bk1.bucket: The specified bucket is not valid");
  ExpectError(ConfigFile("[buckets.Bad_Name]\ntype = \"s3\"\n"), home_, {},
              path + ": buckets.Bad_Name: The specified bucket is not valid");
  ExpectError(ConfigFile("buckets = 1\n"), home_, {}, path + ": buckets: expected a table");
  ExpectError(ConfigFile("[buckets]\nbk1 = 1\n"), home_, {},
              path + ": buckets.bk1: expected a table");
}

TEST_F(ServerConfigTest, TheSecretKeyIsNeverInAMessage) {
  auto c = LoadServerConfig(ConfigFile("[buckets.bk1]\ntype = \"s3\"\nendpoint = \"http://x\"\n"
                                       "access_key_id = \"AK\"\nsecret_access_key = \"TOPSECRET\"\n"
                                       "bogus = 1\n"),
                            home_, {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find("TOPSECRET"), std::string::npos);
}

TEST_F(ServerConfigTest, StorageConfigNeedsOnlyWhereBucketsAre) {
  // What the server would refuse (no passphrase for the passphrase provider) does
  // not stop the object store's configuration.
  std::string file = ConfigFile(
      "root_key = \"passphrase\"\ndata_dir = \"/srv/coffer\"\n"
      "[buckets.bk1]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9000\"\nprofile = \"p\"\n");
  EXPECT_FALSE(LoadServerConfig(file, home_, {}).ok());
  auto storage = LoadStorageConfig(file, home_, std::nullopt);
  ASSERT_TRUE(storage.ok()) << storage.status().ToString();
  EXPECT_EQ(storage->data_dir, "/srv/coffer");
  EXPECT_EQ(storage->buckets.size(), 1u);
  // Layers: flag over environment over file; COFFER_CONFIG names the file.
  Env env = home_;
  env["COFFER_DATA_DIR"] = "/from/env";
  env["COFFER_CONFIG"] = file;
  EXPECT_EQ(LoadStorageConfig(std::nullopt, env, std::nullopt)->data_dir, "/from/env");
  EXPECT_EQ(LoadStorageConfig(std::nullopt, env, "/from/flag")->data_dir, "/from/flag");
  EXPECT_EQ(LoadStorageConfig(std::nullopt, home_, std::nullopt)->data_dir,
            "/home/alice/.local/share/coffer");
  EXPECT_FALSE(LoadStorageConfig(std::nullopt, home_, "").ok());
  EXPECT_FALSE(LoadStorageConfig(dir_.File("absent.toml"), home_, std::nullopt).ok());
}

TEST(ProcessEnvironmentTest, ReadsThisProcess) {
  ::setenv("COFFER_CONFIG_TEST_VARIABLE", "a=b", 1);
  auto env = ProcessEnvironment();
  EXPECT_EQ(env["COFFER_CONFIG_TEST_VARIABLE"], "a=b");
  ::unsetenv("COFFER_CONFIG_TEST_VARIABLE");
}

}  // namespace
}  // namespace coffer::server
