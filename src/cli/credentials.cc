#include "cli/credentials.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <optional>

#include "common/files.h"
#include "common/text.h"

extern char** environ;

namespace coffer::cli {
namespace {

// Keys whose values are secrets: never held in a plain std::string longer
// than it takes to parse them.
bool IsSecretKey(std::string_view key) { return key == "aws_secret_access_key"; }

// Config and credentials files are small; a larger one is not read.
constexpr size_t kMaxIniFileSize = 1 << 20;

std::string_view RStrip(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

void Wipe(std::string& s) {
  if (!s.empty()) ::explicit_bzero(s.data(), s.size());
  s.clear();
}

Status ParseError(std::string_view path) {
  return Status(StatusCode::kInvalidArgument, std::string(kConfigParseError),
                "Unable to parse config file: " + std::string(path));
}

// An option being read: its lines, joined with '\n' when the section ends.
struct PendingOption {
  std::string key;
  std::vector<std::string> lines;
};

// Stores `option` into `section`, secrets into SecretBytes; wipes the lines.
void StoreOption(PendingOption& option, IniSection& section) {
  std::string value;
  for (size_t i = 0; i < option.lines.size(); ++i) {
    if (i > 0) value += '\n';
    value += option.lines[i];
    Wipe(option.lines[i]);
  }
  // configparser joins the lines and strips trailing blank ones.
  while (!value.empty() && IsAsciiSpace(value.back())) value.pop_back();
  if (IsSecretKey(option.key)) {
    section.secrets[option.key] = crypto::SecretBytes(std::string_view(value));
    Wipe(value);
  } else {
    section.values[option.key] = std::move(value);
  }
  option.lines.clear();
}

// Python's shlex.split for the simple cases a section header has: words
// separated by whitespace, '…' and "…" quoting. nullopt on an unclosed quote.
std::optional<std::vector<std::string>> ShlexSplit(std::string_view s) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : s) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (IsAsciiSpace(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) return std::nullopt;
  if (in_word) words.push_back(std::move(word));
  return words;
}

// Python's os.path.expandvars ($NAME and ${NAME}; unknown names are left as
// they are), then os.path.expanduser for "~" and "~/…" from HOME.
std::string ExpandPath(std::string_view path, const Environment& env) {
  std::string out;
  for (size_t i = 0; i < path.size();) {
    if (path[i] == '$' && i + 1 < path.size()) {
      bool braced = path[i + 1] == '{';
      size_t start = i + (braced ? 2 : 1);
      size_t end = start;
      while (end < path.size() &&
             (std::isalnum(static_cast<unsigned char>(path[end])) != 0 || path[end] == '_')) {
        ++end;
      }
      bool closed = !braced || (end < path.size() && path[end] == '}');
      if (end > start && closed) {
        auto it = env.find(path.substr(start, end - start));
        if (it != env.end()) {
          out += it->second;
          i = end + (braced ? 1 : 0);
          continue;
        }
      }
    }
    out += path[i];
    ++i;
  }
  if (!out.empty() && out[0] == '~' && (out.size() == 1 || out[1] == '/')) {
    auto home = env.find("HOME");
    if (home != env.end() && !home->second.empty()) out = home->second + out.substr(1);
  }
  return out;
}

// Reads and parses one file; a missing file is an empty one.
Result<IniFile> LoadIniFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return IniFile{};
    return PosixError("Unable to read config file " + path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return PosixError("Unable to read config file " + path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return IniFile{};  // botocore: not a file, no configuration
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxIniFileSize) {
    ::close(fd);
    return ParseError(path);
  }
  // One byte more than the size: filling it means the file grew while read.
  crypto::SecretBytes buffer(static_cast<size_t>(st.st_size) + 1);
  std::span<uint8_t> bytes = RevealSecretMutable(buffer);
  size_t length = 0;
  while (length < bytes.size()) {
    ssize_t n = ::read(fd, bytes.data() + length, bytes.size() - length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return PosixError("Unable to read config file " + path, err);
    }
    if (n == 0) break;
    length += static_cast<size_t>(n);
  }
  ::close(fd);
  if (length == bytes.size()) return ParseError(path);
  return ParseIni(AsChars(ByteView(bytes.data(), length)), path);
}

std::string EnvOrEmpty(const Environment& env, std::string_view name) {
  auto it = env.find(name);
  return it == env.end() ? std::string() : it->second;
}

Status Partial(std::string_view method, std::string_view missing) {
  return Status(
      StatusCode::kFailedPrecondition, std::string(kPartialCredentialsError),
      "Partial credentials found in " + std::string(method) + ", missing: " + std::string(missing));
}

Status Unsupported(const std::string& profile, std::string_view what) {
  return Status(StatusCode::kFailedPrecondition, std::string(kUnsupportedCredentialSource),
                "The config profile (" + profile + ") gets its credentials from " +
                    std::string(what) +
                    ", which coffer does not support: give the profile aws_access_key_id "
                    "and aws_secret_access_key, or set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY");
}

}  // namespace

const std::string* IniSection::Find(std::string_view key) const {
  auto it = values.find(key);
  return it == values.end() ? nullptr : &it->second;
}

Environment ProcessEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

// The subset of Python's configparser.RawConfigParser (strict, with its default
// delimiters, comment prefixes and empty_lines_in_values) that botocore uses.
Result<IniFile> ParseIni(std::string_view text, std::string_view path) {
  IniFile file;
  IniSection defaults;
  IniSection* section = nullptr;
  std::optional<PendingOption> option;
  size_t indent_level = 0;
  std::vector<std::string> seen_sections;
  auto flush = [&]() {
    if (option && section != nullptr) StoreOption(*option, *section);
    option.reset();
  };
  auto fail = [&]() -> Status {
    if (option) {
      for (std::string& line : option->lines) Wipe(line);
    }
    return ParseError(path);
  };

  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    std::string_view value = TrimSpace(line);
    if (!value.empty() && (value.front() == '#' || value.front() == ';')) continue;  // a comment
    if (value.empty()) {
      // A blank line inside a value is part of it (empty_lines_in_values).
      if (option) option->lines.emplace_back();
      continue;
    }
    size_t indent = line.find_first_not_of(" \t\f\v");
    if (option && indent > indent_level) {  // a continuation line
      option->lines.emplace_back(value);
      continue;
    }
    indent_level = indent;
    if (value.front() == '[') {
      size_t close = value.rfind(']');
      if (close == std::string_view::npos || close < 2) return fail();
      flush();
      std::string name(value.substr(1, close - 1));
      if (std::find(seen_sections.begin(), seen_sections.end(), name) != seen_sections.end()) {
        return fail();  // DuplicateSectionError
      }
      seen_sections.push_back(name);
      if (name == "DEFAULT") {
        section = &defaults;
      } else {
        file.sections.emplace_back(std::move(name), IniSection{});
        section = &file.sections.back().second;
      }
      continue;
    }
    if (section == nullptr) return fail();  // MissingSectionHeaderError
    size_t delimiter = value.find_first_of("=:");
    if (delimiter == std::string_view::npos) return fail();
    std::string key = Lower(RStrip(value.substr(0, delimiter)));
    if (key.empty()) return fail();
    flush();
    if (section->Has(key)) return fail();  // DuplicateOptionError
    option = PendingOption{std::move(key), {std::string(TrimSpace(value.substr(delimiter + 1)))}};
  }
  flush();

  for (auto& [name, s] : file.sections) {
    for (const auto& [key, v] : defaults.values) {
      if (!s.Has(key)) s.values.emplace(key, v);
    }
    for (const auto& [key, v] : defaults.secrets) {
      if (!s.Has(key)) s.secrets.emplace(key, v);
    }
  }
  return file;
}

Result<ClientConfig> ClientConfig::Load(const ClientFlags& flags, const Environment& env) {
  ClientConfig config;
  config.flags_ = flags;
  config.env_ = env;

  bool explicit_profile = true;
  if (!flags.profile.empty()) {
    config.profile_ = flags.profile;
    config.explicit_profile_flag_ = true;
  } else if (std::string p = EnvOrEmpty(env, "AWS_DEFAULT_PROFILE"); !p.empty()) {
    config.profile_ = p;
  } else if (std::string q = EnvOrEmpty(env, "AWS_PROFILE"); !q.empty()) {
    config.profile_ = q;
  } else {
    config.profile_ = "default";
    explicit_profile = false;
  }

  std::string config_file = EnvOrEmpty(env, "AWS_CONFIG_FILE");
  std::string credentials_file = EnvOrEmpty(env, "AWS_SHARED_CREDENTIALS_FILE");
  config.config_path_ = ExpandPath(config_file.empty() ? "~/.aws/config" : config_file, env);
  config.credentials_path_ =
      ExpandPath(credentials_file.empty() ? "~/.aws/credentials" : credentials_file, env);

  ASSIGN_OR_RETURN(IniFile config_ini, LoadIniFile(config.config_path_));
  ASSIGN_OR_RETURN(IniFile credentials_ini, LoadIniFile(config.credentials_path_));

  // botocore's build_profile_map: "[default]" and "[profile NAME]" (split as by
  // shlex; "[profile default]" is the default profile too); the later wins.
  bool in_config = false;
  for (auto& [name, section] : config_ini.sections) {
    std::string profile_name;
    if (name == "default") {
      profile_name = "default";
    } else if (name.starts_with("profile")) {
      auto words = ShlexSplit(name);
      if (!words || words->size() != 2) continue;
      profile_name = (*words)[1];
    } else {
      continue;
    }
    if (profile_name == config.profile_) {
      config.config_section_ = std::move(section);
      in_config = true;
    }
  }
  bool in_credentials = false;
  for (auto& [name, section] : credentials_ini.sections) {
    if (name == config.profile_) {
      config.credentials_section_ = std::move(section);
      in_credentials = true;
    }
  }
  if (explicit_profile && !in_config && !in_credentials) {
    return Status(StatusCode::kNotFound, std::string(kProfileNotFound),
                  "The config profile (" + config.profile_ + ") could not be found");
  }
  return config;
}

const std::string* ClientConfig::Setting(std::string_view key) const {
  if (const std::string* v = credentials_section_.Find(key)) return v;
  return config_section_.Find(key);
}

std::string ClientConfig::FromEnv(std::string_view name) const { return EnvOrEmpty(env_, name); }

Result<ClientConfig::Found> ClientConfig::FromSection(const IniSection& section,
                                                      std::string_view method) const {
  const std::string* access_key = section.Find("aws_access_key_id");
  auto secret = section.secrets.find("aws_secret_access_key");
  if (access_key == nullptr || access_key->empty()) return Partial(method, "aws_access_key_id");
  if (secret == section.secrets.end() || secret->second.empty()) {
    return Partial(method, "aws_secret_access_key");
  }
  Found found;
  found.credentials.access_key_id = *access_key;
  found.credentials.secret_access_key = secret->second;
  if (const std::string* token = section.Find("aws_session_token"); token && !token->empty()) {
    found.credentials.session_token = *token;
  } else if (const std::string* legacy = section.Find("aws_security_token");
             legacy && !legacy->empty()) {
    found.credentials.session_token = *legacy;
  }
  found.source = std::string(method);
  return found;
}

Result<ClientConfig::Found> ClientConfig::FindCredentials() const {
  // 1. The environment, unless --profile named a profile.
  if (!explicit_profile_flag_) {
    std::string access_key = FromEnv("AWS_ACCESS_KEY_ID");
    if (!access_key.empty()) {
      auto secret = env_.find("AWS_SECRET_ACCESS_KEY");
      if (secret == env_.end() || secret->second.empty()) {
        return Partial("env", "AWS_SECRET_ACCESS_KEY");
      }
      Found found;
      found.credentials.access_key_id = access_key;
      found.credentials.secret_access_key = crypto::SecretBytes(std::string_view(secret->second));
      found.credentials.session_token = FromEnv("AWS_SECURITY_TOKEN");
      if (found.credentials.session_token.empty()) {
        found.credentials.session_token = FromEnv("AWS_SESSION_TOKEN");
      }
      found.source = "env";
      return found;
    }
  }
  // 2. Sources botocore would try next that coffer cannot use: an error, not
  // a silent fall-through to keys the user did not mean.
  if (Setting("role_arn") != nullptr) return Unsupported(profile_, "role_arn (sts:AssumeRole)");
  if (Setting("web_identity_token_file") != nullptr) {
    return Unsupported(profile_, "web_identity_token_file");
  }
  if (!FromEnv("AWS_WEB_IDENTITY_TOKEN_FILE").empty() && !FromEnv("AWS_ROLE_ARN").empty()) {
    return Unsupported(profile_, "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN");
  }
  if (Setting("sso_start_url") != nullptr || Setting("sso_session") != nullptr) {
    return Unsupported(profile_, "IAM Identity Center (sso_*)");
  }
  // 3. The shared credentials file.
  if (credentials_section_.Has("aws_access_key_id")) {
    return FromSection(credentials_section_, "shared-credentials-file");
  }
  if (Setting("credential_process") != nullptr) return Unsupported(profile_, "credential_process");
  // 4. The config file.
  if (config_section_.Has("aws_access_key_id")) return FromSection(config_section_, "config-file");
  return Status(StatusCode::kFailedPrecondition, std::string(kNoCredentialsError),
                "Unable to locate credentials. You can configure credentials by running \"aws "
                "configure\".");
}

std::string ClientConfig::Region() const {
  if (!flags_.region.empty()) return flags_.region;
  for (std::string_view name : {"AWS_REGION", "AWS_DEFAULT_REGION"}) {
    if (std::string v = FromEnv(name); !v.empty()) return v;
  }
  if (const std::string* v = Setting("region"); v && !v->empty()) return *v;
  return std::string(kDefaultRegion);
}

std::string ClientConfig::EndpointUrl(std::string_view service) const {
  if (!flags_.endpoint_url.empty()) return flags_.endpoint_url;
  std::string per_service = "AWS_ENDPOINT_URL_";
  for (char c : service) {
    per_service += (c == ' ' || c == '-') ? '_' : static_cast<char>(std::toupper(c));
  }
  for (std::string_view name :
       {std::string_view("COFFER_ENDPOINT_URL"), std::string_view(per_service),
        std::string_view("AWS_ENDPOINT_URL")}) {
    if (std::string v = FromEnv(name); !v.empty()) return v;
  }
  if (const std::string* v = Setting("endpoint_url"); v && !v->empty()) return *v;
  return std::string(kDefaultEndpointUrl);
}

std::string ClientConfig::Output() const {
  if (!flags_.output.empty()) return flags_.output;
  if (std::string v = FromEnv("AWS_DEFAULT_OUTPUT"); !v.empty()) return v;
  if (const std::string* v = Setting("output"); v && !v->empty()) return *v;
  return "json";
}

std::string ClientConfig::CaBundle() const {
  if (!flags_.ca_bundle.empty()) return flags_.ca_bundle;
  if (std::string v = FromEnv("AWS_CA_BUNDLE"); !v.empty()) return v;
  if (const std::string* v = Setting("ca_bundle"); v && !v->empty()) return *v;
  return "";
}

}  // namespace coffer::cli
