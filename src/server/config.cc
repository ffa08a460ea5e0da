#include "server/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string_view>
#include <variant>
#include <vector>

#include "common/files.h"
#include "net/http_client.h"
#include "objstore/location.h"

extern char** environ;

namespace coffer::server {
namespace {

enum class Kind { kString, kInteger, kBool };

// One value from one source, before it is checked.
struct RawValue {
  std::variant<std::string, int64_t, bool> value;
  std::string origin;  // "config.toml: listen", "COFFER_LISTEN", "--listen"
};

using Apply = Status (*)(ServerConfig&, const RawValue&);

struct Setting {
  std::string_view key;   // TOML key; "limits.x" is x in the [limits] table
  std::string_view env;   // environment variable
  std::string_view flag;  // command-line flag
  Kind kind;
  Apply apply;
};

const std::string& Str(const RawValue& v) { return std::get<std::string>(v.value); }
int64_t Int(const RawValue& v) { return std::get<int64_t>(v.value); }

Status NonEmpty(const std::string& s) {
  if (s.empty()) return InvalidArgumentError("must not be empty");
  return Status::Ok();
}

Status InRange(int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    return InvalidArgumentError(std::to_string(v) + " is out of range: it must be between " +
                                std::to_string(lo) + " and " + std::to_string(hi));
  }
  return Status::Ok();
}

bool IsAccountId(std::string_view s) {
  return s.size() == 12 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// AWS region names: partition prefix, optional isolated or GovCloud marker,
// direction, number ("us-east-1", "us-gov-west-1", "ap-southeast-2", "us-isob-east-1").
bool IsRegionName(const std::string& s) {
  static const std::regex kRegion(
      "[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|southeast|"
      "southwest)-[1-9][0-9]?");
  return std::regex_match(s, kRegion);
}

bool IsLogLevel(std::string_view s) {
  return s == "trace" || s == "debug" || s == "info" || s == "warn" || s == "error" || s == "off";
}

Status ApplyDataDir(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(NonEmpty(Str(v)));
  c.data_dir = Str(v);
  return Status::Ok();
}
Status ApplyListen(ServerConfig& c, const RawValue& v) {
  ASSIGN_OR_RETURN(c.listen, ParseListenAddress(Str(v)));
  return Status::Ok();
}
Status ApplyAccountId(ServerConfig& c, const RawValue& v) {
  if (!IsAccountId(Str(v))) {
    return InvalidArgumentError("'" + Str(v) + "' is not an AWS account id (12 digits)");
  }
  c.account_id = Str(v);
  return Status::Ok();
}
Status ApplyRegion(ServerConfig& c, const RawValue& v) {
  if (!IsRegionName(Str(v))) {
    return InvalidArgumentError("'" + Str(v) +
                                "' is not an AWS region name (for example us-east-1)");
  }
  c.region = Str(v);
  return Status::Ok();
}
Status ApplyTlsCert(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(NonEmpty(Str(v)));
  c.tls_cert = Str(v);
  return Status::Ok();
}
Status ApplyTlsKey(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(NonEmpty(Str(v)));
  c.tls_key = Str(v);
  return Status::Ok();
}
Status ApplyAllowInsecure(ServerConfig& c, const RawValue& v) {
  c.allow_insecure_non_loopback = std::get<bool>(v.value);
  return Status::Ok();
}
Status ApplyIoThreads(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 1, 256));
  c.io_threads = static_cast<int>(Int(v));
  return Status::Ok();
}
Status ApplyDigestPeriod(ServerConfig& c, const RawValue& v) {
  // From a minute (tests, demonstrations) to a day; CloudTrail's is an hour.
  RETURN_IF_ERROR(InRange(Int(v), 60, 86400));
  c.audit_digest_period = std::chrono::seconds(Int(v));
  return Status::Ok();
}
Status ApplyLogLevel(ServerConfig& c, const RawValue& v) {
  if (!IsLogLevel(Str(v))) {
    return InvalidArgumentError("'" + Str(v) +
                                "' is not a log level (trace, debug, info, warn, error, off)");
  }
  c.log_level = Str(v);
  return Status::Ok();
}
Status ApplyRootKey(ServerConfig& c, const RawValue& v) {
  if (Str(v) == "key-file") {
    c.root_key = RootKeySource::kKeyFile;
  } else if (Str(v) == "passphrase") {
    c.root_key = RootKeySource::kPassphrase;
  } else {
    return InvalidArgumentError("'" + Str(v) +
                                "' is not a root key provider (key-file, passphrase)");
  }
  return Status::Ok();
}
Status ApplyRootKeyFile(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(NonEmpty(Str(v)));
  c.root_key_file = Str(v);
  return Status::Ok();
}
Status ApplyMaxHeaderBytes(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 1024, 1024 * 1024));
  c.limits.max_header_bytes = static_cast<size_t>(Int(v));
  return Status::Ok();
}
Status ApplyMaxBodyBytes(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 1024, 64 * 1024 * 1024));
  c.limits.max_body_bytes = static_cast<size_t>(Int(v));
  return Status::Ok();
}
Status ApplyMaxConnections(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 1, 1000000));
  c.limits.max_connections = static_cast<size_t>(Int(v));
  return Status::Ok();
}
Status ApplyIdleTimeout(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 1, 86400));
  c.limits.idle_timeout = std::chrono::seconds(Int(v));
  return Status::Ok();
}
Status ApplyRequestTimeout(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 1, 86400));
  c.limits.request_timeout = std::chrono::seconds(Int(v));
  return Status::Ok();
}
Status ApplyShutdownTimeout(ServerConfig& c, const RawValue& v) {
  RETURN_IF_ERROR(InRange(Int(v), 0, 3600));
  c.limits.shutdown_timeout = std::chrono::seconds(Int(v));
  return Status::Ok();
}

// Every key, in the order they are applied and documented (docs/config.md).
constexpr Setting kSettings[] = {
    {"data_dir", "COFFER_DATA_DIR", "--data-dir", Kind::kString, ApplyDataDir},
    {"listen", "COFFER_LISTEN", "--listen", Kind::kString, ApplyListen},
    {"account_id", "COFFER_ACCOUNT_ID", "--account-id", Kind::kString, ApplyAccountId},
    {"region", "COFFER_REGION", "--region", Kind::kString, ApplyRegion},
    {"tls_cert", "COFFER_TLS_CERT", "--tls-cert", Kind::kString, ApplyTlsCert},
    {"tls_key", "COFFER_TLS_KEY", "--tls-key", Kind::kString, ApplyTlsKey},
    {"allow_insecure_non_loopback", "COFFER_ALLOW_INSECURE_NON_LOOPBACK",
     "--allow-insecure-non-loopback", Kind::kBool, ApplyAllowInsecure},
    {"io_threads", "COFFER_IO_THREADS", "--io-threads", Kind::kInteger, ApplyIoThreads},
    {"log_level", "COFFER_LOG_LEVEL", "--log-level", Kind::kString, ApplyLogLevel},
    {"audit_digest_period_seconds", "COFFER_AUDIT_DIGEST_PERIOD_SECONDS",
     "--audit-digest-period-seconds", Kind::kInteger, ApplyDigestPeriod},
    {"root_key", "COFFER_ROOT_KEY", "--root-key", Kind::kString, ApplyRootKey},
    {"root_key_file", "COFFER_ROOT_KEY_FILE", "--root-key-file", Kind::kString, ApplyRootKeyFile},
    {"limits.max_header_bytes", "COFFER_MAX_HEADER_BYTES", "--max-header-bytes", Kind::kInteger,
     ApplyMaxHeaderBytes},
    {"limits.max_body_bytes", "COFFER_MAX_BODY_BYTES", "--max-body-bytes", Kind::kInteger,
     ApplyMaxBodyBytes},
    {"limits.max_connections", "COFFER_MAX_CONNECTIONS", "--max-connections", Kind::kInteger,
     ApplyMaxConnections},
    {"limits.idle_timeout_seconds", "COFFER_IDLE_TIMEOUT_SECONDS", "--idle-timeout-seconds",
     Kind::kInteger, ApplyIdleTimeout},
    {"limits.request_timeout_seconds", "COFFER_REQUEST_TIMEOUT_SECONDS",
     "--request-timeout-seconds", Kind::kInteger, ApplyRequestTimeout},
    {"limits.shutdown_timeout_seconds", "COFFER_SHUTDOWN_TIMEOUT_SECONDS",
     "--shutdown-timeout-seconds", Kind::kInteger, ApplyShutdownTimeout},
};

constexpr std::string_view kPassphraseEnv = "COFFER_PASSPHRASE";
constexpr std::string_view kConfigEnv = "COFFER_CONFIG";

// Levenshtein distance: insertions, deletions and substitutions.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// A warning for each COFFER_* variable of `env` that is none of ours but within
// two edits of one: a typo that would leave a setting at its default unnoticed.
std::vector<std::string> MisspelledVariables(const std::map<std::string, std::string>& env) {
  std::vector<std::string_view> ours = {kPassphraseEnv, kConfigEnv};
  for (const Setting& s : kSettings) ours.push_back(s.env);
  std::vector<std::string> warnings;
  for (const auto& entry : env) {
    const std::string& name = entry.first;
    if (!name.starts_with("COFFER_") || std::find(ours.begin(), ours.end(), name) != ours.end()) {
      continue;
    }
    std::string_view nearest;
    size_t distance = 3;
    for (std::string_view candidate : ours) {
      if (size_t d = EditDistance(name, candidate); d < distance) {
        nearest = candidate;
        distance = d;
      }
    }
    if (!nearest.empty()) {
      warnings.push_back(name + " is not a setting of coffer server and is ignored; did you mean " +
                         std::string(nearest) + "?");
    }
  }
  return warnings;
}

const Setting* FindSetting(std::string_view key) {
  for (const auto& s : kSettings) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string_view KindName(Kind k) {
  switch (k) {
    case Kind::kString:
      return "a string";
    case Kind::kInteger:
      return "an integer";
    case Kind::kBool:
      return "a boolean (true or false)";
  }
  return "?";
}

std::string_view TomlTypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

Status TomlValue(const Setting& s, const toml::node& node, const std::string& origin,
                 RawValue& out) {
  out.origin = origin;
  switch (s.kind) {
    case Kind::kString:
      if (auto v = node.as_string()) {
        out.value = v->get();
        return Status::Ok();
      }
      break;
    case Kind::kInteger:
      if (auto v = node.as_integer()) {
        out.value = v->get();
        return Status::Ok();
      }
      break;
    case Kind::kBool:
      if (auto v = node.as_boolean()) {
        out.value = v->get();
        return Status::Ok();
      }
      break;
  }
  return InvalidArgumentError(origin + ": expected " + std::string(KindName(s.kind)) + ", got " +
                              std::string(TomlTypeName(node)));
}

// Text from the environment: parsed by the setting's kind.
Status TextValue(const Setting& s, const std::string& text, const std::string& origin,
                 RawValue& out) {
  out.origin = origin;
  switch (s.kind) {
    case Kind::kString:
      out.value = text;
      return Status::Ok();
    case Kind::kInteger: {
      ASSIGN_OR_RETURN(int64_t v, ParseIntegerValue(text, origin));
      out.value = v;
      return Status::Ok();
    }
    case Kind::kBool: {
      std::string lower;
      for (char c : text)
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
        out.value = true;
      } else if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
        out.value = false;
      } else {
        return InvalidArgumentError(origin + ": '" + text + "' is not true or false");
      }
      return Status::Ok();
    }
  }
  return InternalError("unknown setting kind");
}

using RawValues = std::map<std::string, RawValue, std::less<>>;

// One [buckets.NAME] table: known keys of the right types and ranges, and a
// usable combination (an endpoint; keys or a profile).
Status ReadBucketTable(const std::string& path, const std::string& name, const toml::node& node,
                       BucketSettings& out) {
  const std::string where = path + ": buckets." + name;
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return InvalidArgumentError(where + ": expected a table, got " +
                                std::string(TomlTypeName(node)));
  }
  if (Status valid = objstore::ValidateBucketName(name); !valid.ok()) {
    return InvalidArgumentError(where + ": " + valid.message());
  }
  for (auto&& [k, value] : *table) {
    const std::string key(k.str());
    const std::string origin = where + "." + key;
    auto text = [&]() -> Result<std::string> {
      auto v = value.as_string();
      if (v == nullptr) {
        return InvalidArgumentError(origin + ": expected a string, got " +
                                    std::string(TomlTypeName(value)));
      }
      if (v->get().empty()) return InvalidArgumentError(origin + ": must not be empty");
      return v->get();
    };
    auto integer = [&](int64_t lo, int64_t hi) -> Result<int64_t> {
      auto v = value.as_integer();
      if (v == nullptr) {
        return InvalidArgumentError(origin + ": expected an integer, got " +
                                    std::string(TomlTypeName(value)));
      }
      if (Status in = InRange(v->get(), lo, hi); !in.ok()) {
        return InvalidArgumentError(origin + ": " + in.message());
      }
      return v->get();
    };
    if (key == "type") {
      ASSIGN_OR_RETURN(out.type, text());
      if (out.type != "s3") {
        return InvalidArgumentError(origin + ": '" + out.type + "' is not a bucket type (s3)");
      }
    } else if (key == "endpoint") {
      ASSIGN_OR_RETURN(out.endpoint, text());
      if (Result<net::Endpoint> e = net::Endpoint::Parse(out.endpoint); !e.ok()) {
        return InvalidArgumentError(origin + ": '" + out.endpoint +
                                    "' is not an http or https URL");
      }
    } else if (key == "region") {
      ASSIGN_OR_RETURN(out.region, text());
      if (!IsRegionName(out.region)) {
        return InvalidArgumentError(origin + ": '" + out.region +
                                    "' is not an AWS region name (for example us-east-1)");
      }
    } else if (key == "addressing") {
      ASSIGN_OR_RETURN(out.addressing, text());
      if (out.addressing != "path" && out.addressing != "virtual") {
        return InvalidArgumentError(origin + ": '" + out.addressing +
                                    "' is not an addressing style (path, virtual)");
      }
    } else if (key == "bucket") {
      ASSIGN_OR_RETURN(out.bucket, text());
      if (Status valid = objstore::ValidateBucketName(out.bucket); !valid.ok()) {
        return InvalidArgumentError(origin + ": " + valid.message());
      }
    } else if (key == "access_key_id") {
      ASSIGN_OR_RETURN(out.access_key_id, text());
    } else if (key == "secret_access_key") {
      ASSIGN_OR_RETURN(std::string secret, text());
      out.secret_access_key = crypto::SecretBytes(std::string_view(secret));
      std::fill(secret.begin(), secret.end(), '\0');
    } else if (key == "session_token") {
      ASSIGN_OR_RETURN(std::string token, text());
      out.session_token = crypto::SecretBytes(std::string_view(token));
      std::fill(token.begin(), token.end(), '\0');
    } else if (key == "profile") {
      ASSIGN_OR_RETURN(out.profile, text());
    } else if (key == "part_size_mib") {
      ASSIGN_OR_RETURN(out.part_size_mib, integer(5, 5120));
    } else if (key == "parts_in_flight") {
      ASSIGN_OR_RETURN(int64_t n, integer(1, 16));
      out.parts_in_flight = static_cast<int>(n);
    } else if (key == "ca_bundle") {
      ASSIGN_OR_RETURN(out.ca_bundle, text());
    } else {
      return InvalidArgumentError(origin + ": unknown key");
    }
  }
  if (!table->contains("type")) {
    return InvalidArgumentError(where + ": type is missing (type = \"s3\")");
  }
  if (out.endpoint.empty()) {
    return InvalidArgumentError(where + ": endpoint is missing (the S3 service's URL)");
  }
  const bool keys = !out.access_key_id.empty() || !out.secret_access_key.empty();
  if (keys && !out.profile.empty()) {
    return InvalidArgumentError(where +
                                ": give either access_key_id and secret_access_key, or profile");
  }
  if (!keys && out.profile.empty()) {
    return InvalidArgumentError(
        where + ": no credentials: give access_key_id and secret_access_key, or profile");
  }
  if (keys && (out.access_key_id.empty() || out.secret_access_key.empty())) {
    return InvalidArgumentError(where + ": access_key_id and secret_access_key go together");
  }
  if (!out.session_token.empty() && !keys) {
    return InvalidArgumentError(where +
                                ": session_token goes with access_key_id and secret_access_key");
  }
  return Status::Ok();
}

Status ReadTomlFile(const std::string& path, const std::string& named_by, RawValues& raw,
                    BucketSettingsMap& buckets) {
  Result<std::string> read = ReadWholeFile(path);
  if (!read.ok()) {
    return FailedPreconditionError("config file '" + path + "'" + named_by +
                                   ": cannot read: " + read.status().message());
  }
  const std::string& text = *read;
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return InvalidArgumentError(path + ":" + std::to_string(where.line) + ":" +
                                std::to_string(where.column) + ": " + std::string(e.description()));
  }
  // Visits one key: known, of the right type.
  auto visit = [&](const std::string& key, const toml::node& node) -> Status {
    const Setting* s = FindSetting(key);
    std::string origin = path + ": " + key;
    if (s == nullptr) return InvalidArgumentError(origin + ": unknown key");
    RawValue v;
    RETURN_IF_ERROR(TomlValue(*s, node, origin, v));
    raw[std::string(s->key)] = std::move(v);
    return Status::Ok();
  };
  for (auto&& [k, node] : root) {
    std::string key(k.str());
    if (key == "buckets") {
      const toml::table* tables = node.as_table();
      if (tables == nullptr) {
        return InvalidArgumentError(path + ": buckets: expected a table, got " +
                                    std::string(TomlTypeName(node)));
      }
      for (auto&& [name, table] : *tables) {
        BucketSettings settings;
        RETURN_IF_ERROR(ReadBucketTable(path, std::string(name.str()), table, settings));
        buckets[std::string(name.str())] = std::move(settings);
      }
      continue;
    }
    if (key == "limits") {
      const toml::table* limits = node.as_table();
      if (limits == nullptr) {
        return InvalidArgumentError(path + ": limits: expected a table, got " +
                                    std::string(TomlTypeName(node)));
      }
      for (auto&& [k2, node2] : *limits) {
        RETURN_IF_ERROR(visit("limits." + std::string(k2.str()), node2));
      }
      continue;
    }
    RETURN_IF_ERROR(visit(key, node));
  }
  return Status::Ok();
}

std::optional<std::string> EnvValue(const std::map<std::string, std::string>& env,
                                    std::string_view name) {
  auto it = env.find(std::string(name));
  // An empty variable counts as unset, as shells make unsetting awkward.
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::string OriginOf(const RawValues& raw, std::string_view key) {
  auto it = raw.find(key);
  return it == raw.end() ? "the default" : it->second.origin;
}

// A path from the file or the environment (where no shell expanded it) that
// begins with "~/" is under HOME, as the aws CLI reads such paths.
void ExpandHome(std::string& path, const std::map<std::string, std::string>& env) {
  if (path != "~" && !path.starts_with("~/")) return;
  if (auto home = EnvValue(env, "HOME")) path = *home + path.substr(1);
}

Result<std::string> DefaultDataDir(const std::map<std::string, std::string>& env) {
  if (auto xdg = EnvValue(env, "XDG_DATA_HOME")) return *xdg + "/coffer";
  if (auto home = EnvValue(env, "HOME")) return *home + "/.local/share/coffer";
  return InvalidArgumentError(
      "data_dir: not set, and neither XDG_DATA_HOME nor HOME is set to derive it from; give "
      "--data-dir, COFFER_DATA_DIR or data_dir in the config file");
}

// The TOML file named by `config_file`, else by COFFER_CONFIG; none when neither.
Status ReadConfigFile(const std::optional<std::string>& config_file,
                      const std::map<std::string, std::string>& env, RawValues& raw,
                      BucketSettingsMap& buckets) {
  std::optional<std::string> file = config_file;
  std::string named_by;
  if (!file) {
    file = EnvValue(env, kConfigEnv);
    if (file) named_by = " (from " + std::string(kConfigEnv) + ")";
  }
  if (file) RETURN_IF_ERROR(ReadTomlFile(*file, named_by, raw, buckets));
  return Status::Ok();
}

}  // namespace

std::string BucketsDirectory(const std::string& data_dir) { return data_dir + "/buckets"; }

Result<StorageConfig> LoadStorageConfig(const std::optional<std::string>& config_file,
                                        const std::map<std::string, std::string>& env,
                                        const std::optional<std::string>& data_dir_flag) {
  RawValues raw;
  StorageConfig out;
  RETURN_IF_ERROR(ReadConfigFile(config_file, env, raw, out.buckets));
  const Setting* setting = FindSetting("data_dir");
  if (auto text = EnvValue(env, setting->env)) {
    raw["data_dir"] = RawValue{*text, std::string(setting->env)};
  }
  if (data_dir_flag) raw["data_dir"] = RawValue{*data_dir_flag, std::string(setting->flag)};
  if (auto it = raw.find("data_dir"); it != raw.end()) {
    ServerConfig applied;
    Status st = setting->apply(applied, it->second);
    if (!st.ok()) return InvalidArgumentError(it->second.origin + ": " + st.message());
    out.data_dir = applied.data_dir;
    ExpandHome(out.data_dir, env);
  } else {
    ASSIGN_OR_RETURN(out.data_dir, DefaultDataDir(env));
  }
  return out;
}

std::string ListenAddress::ToString() const {
  std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

bool ListenAddress::IsLoopback() const {
  if (host == "localhost") return true;
  unsigned char v4[4];
  if (::inet_pton(AF_INET, host.c_str(), v4) == 1) return v4[0] == 127;
  unsigned char v6[16];
  if (::inet_pton(AF_INET6, host.c_str(), v6) == 1) {
    static constexpr unsigned char kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(v6, kLoopback, 16) == 0) return true;
    return std::memcmp(v6, kMappedPrefix, 12) == 0 && v6[12] == 127;
  }
  return false;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  const std::string expected =
      " is not HOST:PORT (for example 127.0.0.1:7878, 0.0.0.0:7878 or [::1]:7878)";
  std::string_view host;
  std::string_view port;
  ListenAddress out;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgumentError(quoted + expected);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    unsigned char v6[16];
    if (::inet_pton(AF_INET6, std::string(host).c_str(), v6) != 1) {
      return InvalidArgumentError(quoted + ": '" + std::string(host) + "' is not an IPv6 address");
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return InvalidArgumentError(quoted + expected);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return InvalidArgumentError(quoted + ": an IPv6 address goes in brackets, as in [::1]:7878");
    }
    unsigned char v4[4];
    if (host != "localhost" && ::inet_pton(AF_INET, std::string(host).c_str(), v4) != 1) {
      return InvalidArgumentError(
          quoted + ": '" + std::string(host) +
          "' is not an IP address or localhost (host names are not resolved)");
    }
  }
  unsigned value = 0;
  auto r = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || value > 65535) {
    return InvalidArgumentError(quoted + ": the port must be a number from 0 to 65535");
  }
  out.host = std::string(host);
  out.port = static_cast<uint16_t>(value);
  return out;
}

namespace {

Result<ServerConfig> LoadLayers(const std::optional<std::string>& config_file,
                                const std::map<std::string, std::string>& env,
                                const ServerFlags& flags) {
  RawValues raw;

  // Layer 1: the TOML file.
  BucketSettingsMap buckets;
  RETURN_IF_ERROR(ReadConfigFile(config_file, env, raw, buckets));

  // Layer 2: the environment.
  for (const auto& s : kSettings) {
    if (auto text = EnvValue(env, s.env)) {
      RawValue v;
      RETURN_IF_ERROR(TextValue(s, *text, std::string(s.env), v));
      raw[std::string(s.key)] = std::move(v);
    }
  }

  // Layer 3: the flags.
  auto flag = [&](std::string_view key, const auto& value) {
    if (!value) return;
    const Setting* s = FindSetting(key);
    raw[std::string(key)] = RawValue{*value, std::string(s->flag)};
  };
  flag("data_dir", flags.data_dir);
  flag("listen", flags.listen);
  flag("account_id", flags.account_id);
  flag("region", flags.region);
  flag("tls_cert", flags.tls_cert);
  flag("tls_key", flags.tls_key);
  flag("allow_insecure_non_loopback", flags.allow_insecure_non_loopback);
  flag("io_threads", flags.io_threads);
  flag("log_level", flags.log_level);
  flag("audit_digest_period_seconds", flags.audit_digest_period_seconds);
  flag("root_key", flags.root_key);
  flag("root_key_file", flags.root_key_file);
  flag("limits.max_header_bytes", flags.max_header_bytes);
  flag("limits.max_body_bytes", flags.max_body_bytes);
  flag("limits.max_connections", flags.max_connections);
  flag("limits.idle_timeout_seconds", flags.idle_timeout_seconds);
  flag("limits.request_timeout_seconds", flags.request_timeout_seconds);
  flag("limits.shutdown_timeout_seconds", flags.shutdown_timeout_seconds);

  // Check and apply, in a fixed order, so that the first error is stable.
  ServerConfig config;
  for (const auto& s : kSettings) {
    auto it = raw.find(s.key);
    if (it == raw.end()) continue;
    Status st = s.apply(config, it->second);
    if (!st.ok()) return InvalidArgumentError(it->second.origin + ": " + st.message());
  }

  config.buckets = std::move(buckets);
  config.restart_digest_chain = flags.restart_digest_chain;
  ExpandHome(config.data_dir, env);
  ExpandHome(config.root_key_file, env);
  if (config.tls_cert) ExpandHome(*config.tls_cert, env);
  if (config.tls_key) ExpandHome(*config.tls_key, env);

  // Defaults that depend on other values.
  if (config.data_dir.empty()) {
    ASSIGN_OR_RETURN(config.data_dir, DefaultDataDir(env));
  }

  // TLS: both files or neither.
  if (config.tls_cert.has_value() != config.tls_key.has_value()) {
    std::string_view given = config.tls_cert ? "tls_cert" : "tls_key";
    std::string_view missing = config.tls_cert ? "tls_key" : "tls_cert";
    return InvalidArgumentError(std::string(given) + " (from " + OriginOf(raw, given) +
                                ") is set but " + std::string(missing) +
                                " is not: TLS needs both the certificate chain and the key");
  }

  // Plain HTTP only on loopback, unless the operator says otherwise.
  if (!config.tls() && !config.listen.IsLoopback() && !config.allow_insecure_non_loopback) {
    return InvalidArgumentError("refusing to listen on " + config.listen.ToString() +
                                " without TLS; give tls_cert and tls_key, or set "
                                "allow_insecure_non_loopback = true");
  }

  // The root key.
  auto passphrase = EnvValue(env, kPassphraseEnv);
  if (config.root_key == RootKeySource::kPassphrase) {
    if (!passphrase) {
      return InvalidArgumentError("root_key = passphrase (from " + OriginOf(raw, "root_key") +
                                  ") needs the passphrase in the environment variable " +
                                  std::string(kPassphraseEnv));
    }
    if (raw.count("root_key_file") != 0) {
      return InvalidArgumentError(OriginOf(raw, "root_key_file") +
                                  ": root_key_file is used only with root_key = key-file");
    }
    config.passphrase = crypto::SecretBytes(std::string_view(*passphrase));
  } else {
    if (passphrase) {
      return InvalidArgumentError(
          std::string(kPassphraseEnv) + " is set but root_key is key-file (from " +
          OriginOf(raw, "root_key") + "); set root_key = passphrase to use it, or unset it");
    }
    if (config.root_key_file.empty()) config.root_key_file = config.data_dir + "/root.key";
  }
  return config;
}

}  // namespace

Result<ServerConfig> LoadServerConfig(const std::optional<std::string>& config_file,
                                      const std::map<std::string, std::string>& env,
                                      const ServerFlags& flags) {
  std::vector<std::string> warnings = MisspelledVariables(env);
  Result<ServerConfig> config = LoadLayers(config_file, env, flags);
  if (!config.ok()) {
    // A typo is the likely cause of a missing companion setting: say so with the error.
    if (warnings.empty()) return config.status();
    std::string message = config.status().message();
    for (const std::string& warning : warnings) message += " (" + warning + ")";
    return Status(config.status().code(), config.status().error_name(), std::move(message));
  }
  config->warnings = std::move(warnings);
  return config;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

HttpListener::Options ListenerOptions(const ServerConfig& config) {
  HttpListener::Options o;
  o.host = config.listen.host;
  o.port = config.listen.port;
  o.io_threads = config.io_threads;
  o.max_header_bytes = config.limits.max_header_bytes;
  o.max_body_bytes = config.limits.max_body_bytes;
  o.max_connections = config.limits.max_connections;
  o.idle_timeout = config.limits.idle_timeout;
  o.request_timeout = config.limits.request_timeout;
  o.shutdown_timeout = config.limits.shutdown_timeout;
  if (config.tls()) o.tls = HttpListener::TlsFiles{*config.tls_cert, *config.tls_key};
  return o;
}

Result<int64_t> ParseIntegerValue(const std::string& text, const std::string& origin) {
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || r.ec != std::errc() || r.ptr != text.data() + text.size()) {
    return InvalidArgumentError(origin + ": '" + text + "' is not an integer");
  }
  return v;
}

}  // namespace coffer::server
