#include "iam/identity_service.h"

#include <algorithm>
#include <charconv>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "common/list_marker.h"
#include "common/logging.h"
#include "crypto/hash.h"
#include "iam/errors.h"
#include "iam/records.h"

namespace coffer::iam {

std::string_view AccessKeyStatusName(AccessKeyStatus s) {
  return s == AccessKeyStatus::kActive ? "Active" : "Inactive";
}

bool SessionTokenDigest::Matches(std::string_view presented) const {
  return crypto::ConstantTimeEquals(crypto::Sha256(AsBytes(presented)), sha256_);
}

CallerIdentity GetCallerIdentity(const policy::Principal& caller) {
  return CallerIdentity{caller.user_id, caller.account_id, caller.arn};
}

namespace {

using policy::Principal;
using policy::PrincipalType;
using state::ReadTransaction;
using state::Transaction;

// Patterns as botocore's iam-service-2 and sts-service-2 write them (they appear
// in ValidationError texts).
constexpr std::string_view kNamePattern = R"([\w+=,.@-]+)";
constexpr std::string_view kPathPattern = R"((\u002F)|(\u002F[\u0021-\u007E]+\u002F))";
constexpr std::string_view kPathPrefixPattern = R"(\u002F[\u0021-\u007F]*)";
constexpr std::string_view kMarkerPattern = R"([\u0020-\u00FF]+)";
constexpr std::string_view kPolicyDocumentPattern = R"([\u0009\u000A\u000D\u0020-\u00FF]+)";
constexpr std::string_view kDescriptionPattern =
    R"([\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*)";
constexpr std::string_view kIdPattern = R"([\w]+)";
constexpr std::string_view kSessionNamePattern = R"([\w+=,.@-]*)";
constexpr std::string_view kExternalIdPattern = R"([\w+=,.@:\/-]*)";
constexpr std::string_view kArnPattern =
    R"([\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+)";

constexpr int kDefaultMaxItems = 100;
constexpr int kDefaultSessionDuration = 3600;
constexpr int kMinSessionDuration = 900, kMaxSessionDuration = 43200;
constexpr int kMinRoleMaxSession = 3600;
constexpr int kRoleChainingLimit = 3600;
// GetSessionToken (sts-service-2): a user's session lasts 12 hours unless asked
// otherwise, at most 36; the root's one hour, at most.
constexpr int kUserSessionDefault = 43200, kUserSessionMax = 129600, kRootSessionMax = 3600;

// AWS access key ids and unique ids: a four-letter prefix and upper-case base32.
constexpr std::string_view kIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr size_t kAccessKeyIdRandomChars = 16;  // AKIA + 16 = 20 characters
constexpr size_t kUniqueIdRandomChars = 17;     // AIDA + 17 = 21 characters
constexpr size_t kSecretAccessKeyChars = 40;
constexpr size_t kSessionTokenChars = 256;

constexpr char kMustSpecifyUserName[] =
    "Must specify userName when calling with non-User credentials";

bool IsWordChar(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool IsNameChar(char32_t c) {
  return IsWordChar(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}

// Whether every code point of `s` satisfies `pred` (false for invalid UTF-8).
template <typename Pred>
bool AllCodePoints(std::string_view s, Pred pred) {
  std::optional<std::u32string> decoded = DecodeUtf8(s);
  return decoded && std::all_of(decoded->begin(), decoded->end(), pred);
}

bool NameMatches(std::string_view s) { return !s.empty() && AllCodePoints(s, IsNameChar); }
bool PathMatches(std::string_view s) {
  if (s == "/") return true;
  return s.size() >= 3 && s.front() == '/' && s.back() == '/' &&
         AllCodePoints(s, [](char32_t c) { return c >= 0x21 && c <= 0x7E; });
}
bool PathPrefixMatches(std::string_view s) {
  return !s.empty() && s.front() == '/' &&
         AllCodePoints(s, [](char32_t c) { return c >= 0x21 && c <= 0x7F; });
}
// IAM's tag patterns: [\p{L}\p{Z}\p{N}_.:/=+\-@]. ASCII exactly; beyond ASCII any
// code point but the C1 controls passes (letters, separators and digits of
// other scripts: an approximation without Unicode's tables).
bool IsTagChar(char32_t c) {
  if (c >= 0x80) return c > 0x9F;
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
         c == '_' || c == '.' || c == ':' || c == '/' || c == '=' || c == '+' || c == '-' ||
         c == '@';
}
constexpr char kTagKeyPattern[] = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+";
constexpr char kTagValuePattern[] = "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*";
constexpr size_t kMaxTags = 50;
bool TagKeyMatches(std::string_view key) { return !key.empty() && AllCodePoints(key, IsTagChar); }

void ValidateTags(ValidationErrors& v, const std::vector<Tag>& tags) {
  if (tags.size() > kMaxTags) {
    v.Add("tags", "[" + std::to_string(tags.size()) + " tags]",
          "Member must have length less than or equal to 50");
  }
  for (size_t i = 0; i < tags.size(); ++i) {
    const std::string field = "tags." + std::to_string(i + 1) + ".member.";
    if (!v.Reported(field + "key")) {  // not already found missing
      v.Length(field + "key", tags[i].key, 1, 128);
      v.Pattern(field + "key", tags[i].key, TagKeyMatches(tags[i].key), kTagKeyPattern);
    }
    if (!v.Reported(field + "value")) {
      v.Length(field + "value", tags[i].value, 0, 256);
      v.Pattern(field + "value", tags[i].value, AllCodePoints(tags[i].value, IsTagChar),
                kTagValuePattern);
    }
  }
}

void ValidateTagKeys(ValidationErrors& v, const std::vector<std::string>& keys) {
  if (keys.size() > kMaxTags) {
    v.Add("tagKeys", "[" + std::to_string(keys.size()) + " keys]",
          "Member must have length less than or equal to 50");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string field = "tagKeys." + std::to_string(i + 1) + ".member";
    v.Length(field, keys[i], 1, 128);
    v.Pattern(field, keys[i], TagKeyMatches(keys[i]), kTagKeyPattern);
  }
}

// IAM's checks beyond the model's: keys unique without regard to case, none
// reserved for AWS.
Status CheckTagKeys(const std::vector<Tag>& tags) {
  std::set<std::string> seen;
  for (const Tag& t : tags) {
    if (!seen.insert(Lower(t.key)).second) {
      return errors::InvalidInput(
          "Duplicate tag keys found. Please note that Tag keys are case insensitive.");
    }
    if (Lower(t.key).starts_with("aws:")) {
      return errors::InvalidInput("Tag keys starting with 'aws:' are reserved for AWS use.");
    }
  }
  return Status::Ok();
}

// `tags` set on `current`: a key already there (whatever its case) takes the new
// key and value in place; others are added at the end. LimitExceeded beyond 50.
Status MergeTags(std::vector<Tag>& current, const std::vector<Tag>& tags, std::string_view quota) {
  for (const Tag& t : tags) {
    auto it = std::find_if(current.begin(), current.end(),
                           [&](const Tag& c) { return Lower(c.key) == Lower(t.key); });
    if (it != current.end()) {
      *it = t;
    } else {
      current.push_back(t);
    }
  }
  if (current.size() > kMaxTags) return errors::QuotaExceeded(quota, kMaxTags);
  return Status::Ok();
}

bool MarkerMatches(std::string_view s) {
  return !s.empty() && AllCodePoints(s, [](char32_t c) { return c >= 0x20 && c <= 0xFF; });
}
bool PolicyDocumentMatches(std::string_view s) {
  return !s.empty() && AllCodePoints(s, [](char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0xFF);
  });
}
bool ArnMatches(std::string_view s) {
  return !s.empty() && AllCodePoints(s, [](char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
           (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
           (c >= 0x10000 && c <= 0x10FFFF);
  });
}
bool ExternalIdMatches(std::string_view s) {
  return AllCodePoints(s, [](char32_t c) { return IsNameChar(c) || c == ':' || c == '/'; });
}
bool DescriptionMatches(std::string_view s) {
  return AllCodePoints(s, [](char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) ||
           (c >= 0xA1 && c <= 0xFF);
  });
}

void ValidateName(ValidationErrors& v, std::string_view field, std::string_view name, size_t max) {
  v.Length(field, name, 1, max);
  v.Pattern(field, name, NameMatches(name), kNamePattern);
}
// userNameType (new users) is 1..64; existingUserNameType (every other
// operation) 1..128. Role names are 1..64 everywhere.
void ValidateNewUserName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "userName", name, 64);
}
void ValidateUserName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "userName", name, 128);
}
void ValidateRoleName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "roleName", name, 64);
}
void ValidatePolicyName(ValidationErrors& v, std::string_view name) {
  ValidateName(v, "policyName", name, 128);
}
void ValidatePath(ValidationErrors& v, const std::optional<std::string>& path) {
  if (!path) return;
  v.Length("path", *path, 1, 512);
  v.Pattern("path", *path, PathMatches(*path), kPathPattern);
}
void ValidatePathPrefix(ValidationErrors& v, const std::optional<std::string>& prefix) {
  if (!prefix) return;
  v.Length("pathPrefix", *prefix, 1, 512);
  v.Pattern("pathPrefix", *prefix, PathPrefixMatches(*prefix), kPathPrefixPattern);
}
void ValidatePolicyDocument(ValidationErrors& v, std::string_view field, std::string_view doc) {
  v.Length(field, doc, 1, 131072);
  v.Pattern(field, doc, PolicyDocumentMatches(doc), kPolicyDocumentPattern);
}
// policyPathType: "/" or "/a/b/", each part of [A-Za-z0-9.,+@=_-].
constexpr std::string_view kPolicyPathPattern = R"(((/[A-Za-z0-9\.,\+@=_-]+)*)/)";
bool PolicyPathMatches(std::string_view s) {
  if (s.empty() || s.front() != '/' || s.back() != '/') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    const char c = s[i];
    const bool part = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == ',' || c == '+' || c == '@' || c == '=' || c == '_' ||
                      c == '-';
    if (!part && !(c == '/' && s[i - 1] != '/')) return false;
  }
  return s.size() == 1 || s[s.size() - 2] != '/';
}
void ValidatePolicyPath(ValidationErrors& v, std::string_view field,
                        const std::optional<std::string>& path) {
  if (!path) return;
  v.Length(field, *path, 1, 512);
  v.Pattern(field, *path, PolicyPathMatches(*path), kPolicyPathPattern);
}
void ValidatePolicyArn(ValidationErrors& v, std::string_view arn) {
  v.Length("policyArn", arn, 20, 2048);
}
// policyVersionIdType: v[1-9][0-9]*(\.[A-Za-z0-9-]*)?
constexpr std::string_view kVersionIdPattern = R"(v[1-9][0-9]*(\.[A-Za-z0-9-]*)?)";
bool VersionIdMatches(std::string_view s) {
  if (s.size() < 2 || s[0] != 'v' || s[1] < '1' || s[1] > '9') return false;
  size_t i = 2;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == s.size()) return true;
  if (s[i] != '.') return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i) + 1, s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
  });
}
void ValidateVersionId(ValidationErrors& v, std::string_view id) {
  v.Pattern("versionId", id, VersionIdMatches(id), kVersionIdPattern);
}
void ValidatePolicyDescription(ValidationErrors& v, const std::optional<std::string>& d) {
  if (d) v.Length("description", *d, 0, 1000);
}
void ValidateAccessKeyId(ValidationErrors& v, std::string_view id) {
  v.Length("accessKeyId", id, 16, 128);
  v.Pattern("accessKeyId", id, !id.empty() && AllCodePoints(id, IsWordChar), kIdPattern);
}

void ValidatePage(ValidationErrors& v, const Page& page) {
  if (page.marker) {
    v.Length("marker", *page.marker, 1, 320);
    v.Pattern("marker", *page.marker, MarkerMatches(*page.marker), kMarkerPattern);
  }
  if (page.max_items) v.Range("maxItems", *page.max_items, 1, 1000);
}
void ValidateDescription(ValidationErrors& v, const std::optional<std::string>& description) {
  if (!description) return;
  v.Length("description", *description, 0, 1000);
  v.Pattern("description", *description, DescriptionMatches(*description), kDescriptionPattern);
}
void ValidateMaxSessionDuration(ValidationErrors& v, const std::optional<int>& seconds) {
  if (seconds) v.Range("maxSessionDuration", *seconds, kMinRoleMaxSession, kMaxSessionDuration);
}
void ValidateStatus(ValidationErrors& v, std::string_view status) {
  v.Enum("status", status, {"Active", "Inactive", "Expired"});
}

// The key to list after: "" without a marker; ValidationError "Invalid Marker."
// (AWS's) for a marker that the list of `scope` (an operation, and whose
// entries) did not give.
Result<std::string> MarkerPosition(const Page& page, std::string_view scope) {
  if (!page.marker) return std::string();
  std::optional<std::string> position = DecodeListMarker(*page.marker, scope);
  if (!position) return errors::ValidationError("Invalid Marker.");
  return std::move(*position);
}

// The page size of a list request, after validating Marker and MaxItems.
Result<size_t> PageSize(const Page& page) {
  errors::Validation v;
  ValidatePage(v, page);
  RETURN_IF_ERROR(v.ToStatus());
  return static_cast<size_t>(page.max_items.value_or(kDefaultMaxItems));
}

// IAM counts policy sizes in characters without white space (AWS IAM quotas:
// "IAM doesn't count white space when calculating the size of a policy").
size_t PolicySize(std::string_view doc) {
  std::optional<std::u32string> decoded = DecodeUtf8(doc);
  if (!decoded) return doc.size();
  return static_cast<size_t>(std::count_if(decoded->begin(), decoded->end(), [](char32_t c) {
    return c != ' ' && c != '\t' && c != '\n' && c != '\r';
  }));
}

// The parsed policy, or IAM's MalformedPolicyDocument. A document that is not
// JSON at all gets IAM's own fixed words (a trust policy's differ); any other
// fault, the policy parser's account of it.
Result<policy::Policy> CheckPolicy(std::string_view doc, policy::PolicyKind kind) {
  if (!nlohmann::json::accept(doc)) {
    return errors::MalformedPolicy(InvalidArgumentError(kind == policy::PolicyKind::kTrustPolicy
                                                            ? "This policy contains invalid Json"
                                                            : "Syntax errors in policy."));
  }
  auto parsed = policy::Policy::Parse(doc, kind);
  if (!parsed.ok()) return errors::MalformedPolicy(parsed.status());
  if (kind == policy::PolicyKind::kTrustPolicy) {
    // A trust policy says who may assume the role, and nothing else. Checked
    // when one is saved only: one saved before keeps working.
    for (const policy::Statement& st : parsed->statements()) {
      for (const std::string& action : st.actions) {
        if (action.size() < 4 || Lower(action.substr(0, 4)) != "sts:") {
          return errors::MalformedPolicy(
              InvalidArgumentError("AssumeRole policy may only specify STS AssumeRole actions."));
        }
      }
    }
  }
  return std::move(parsed).value();
}

// The last '/'-separated part of an ARN: the name of a user or role.
std::string_view LastSegment(std::string_view arn) { return arn.substr(arn.rfind('/') + 1); }

// A user or a role, where both are handled alike (inline policies).
struct Entity {
  std::string name;
  std::string id;
};

struct EntityKind {
  const char* table;
  const char* policies_table;
  const char* noun;  // "user" | "role", in LimitExceeded texts
  Status (*no_such_entity)(std::string_view);
  Status (*no_such_policy)(std::string_view);
  void (*validate_name)(ValidationErrors&, std::string_view);
  size_t IamOptions::*max_policy_size;
  bool user;
  const char* attached_table;  // managed policies attached
  const char* attach_quota;    // "PoliciesPerUser" | "PoliciesPerRole"
};

constexpr EntityKind kUserKind{kUsersTable,
                               kUserPoliciesTable,
                               "user",
                               errors::NoSuchUser,
                               errors::NoSuchUserPolicy,
                               ValidateUserName,
                               &IamOptions::max_user_policy_size,
                               true,
                               kUserAttachedTable,
                               "PoliciesPerUser"};
constexpr EntityKind kRoleKind{kRolesTable,
                               kRolePoliciesTable,
                               "role",
                               errors::NoSuchRole,
                               errors::NoSuchRolePolicy,
                               ValidateRoleName,
                               &IamOptions::max_role_policy_size,
                               false,
                               kRoleAttachedTable,
                               "PoliciesPerRole"};

// Whose access keys an access key operation acts on.
struct Owner {
  std::string key;   // lower-case user name, or kRootOwner
  std::string name;  // the user's name as created; empty for the root
};

}  // namespace

class IdentityService::Impl {
 public:
  Impl(IamOptions options, state::StateStore& store, const state::Vault& vault, Clock& clock,
       Random& random)
      : options_(std::move(options)),
        store_(store),
        vault_(vault),
        clock_(clock),
        random_(random),
        no_policies_(std::make_shared<const std::vector<policy::Policy>>()) {}

  // ---- names and ids ---------------------------------------------------------------

  std::string UserArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":user" + std::string(path) + std::string(name);
  }
  std::string RoleArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":role" + std::string(path) + std::string(name);
  }

  std::string NewId(std::string_view prefix, size_t random_chars) {
    return std::string(prefix) + random_.String(random_chars, kIdAlphabet);
  }

  // An access key id (AKIA…/ASIA…) not used by any key or session.
  Result<std::string> NewAccessKeyId(const ReadTransaction& tx, std::string_view prefix) {
    for (;;) {
      std::string id = NewId(prefix, kAccessKeyIdRandomChars);
      ASSIGN_OR_RETURN(auto key, tx.Get(kAccessKeysTable, id));
      ASSIGN_OR_RETURN(auto session, tx.Get(kSessionsTable, id));
      if (!key && !session) return id;
    }
  }

  // `n` characters of the base64 alphabet, drawn into a secret (64 divides 256:
  // no bias).
  crypto::SecretBytes NewSecretText(size_t n) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    crypto::SecretBytes secret(n);
    std::span<uint8_t> bytes = crypto::RevealSecretMutable(secret);
    random_.Fill(bytes);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(kAlphabet[b & 63]);
    return secret;
  }
  // Issues the session `s` (the fields of its kind set) for `duration` seconds from
  // now, for `caller_arn`: its key id, times, secret and token, and stores it. The
  // secret and the token go to the caller only; the record keeps the secret sealed
  // and the token's SHA-256.
  Status IssueSession(Transaction& tx, SessionRecord& s, const std::string& caller_arn,
                      int duration, crypto::SecretBytes& secret, crypto::SecretBytes& token) {
    const TimePoint now = clock_.Now();
    ASSIGN_OR_RETURN(s.id, NewAccessKeyId(tx, "ASIA"));
    s.source_arn = caller_arn;
    s.created = now;
    // Whole seconds, as the Expiration the client sees.
    s.expiration = std::chrono::floor<std::chrono::seconds>(now) + std::chrono::seconds(duration);
    secret = NewSecretText(kSecretAccessKeyChars);
    token = NewSecretText(kSessionTokenChars);
    s.token_sha256 = crypto::Sha256(crypto::RevealSecret(token));
    ASSIGN_OR_RETURN(s.sealed_secret, vault_.Seal(SessionSealContext(s.id), secret));
    return tx.Put(kSessionsTable, s.id, EncodeSessionRecord(s));
  }

  // ---- records ---------------------------------------------------------------------

  Result<std::optional<UserRecord>> FindUser(const ReadTransaction& tx,
                                             std::string_view name) const {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kUsersTable, Lower(name)));
    if (!stored) return std::optional<UserRecord>();
    ASSIGN_OR_RETURN(UserRecord r, DecodeUserRecord(*stored));
    return std::optional<UserRecord>(std::move(r));
  }
  Result<UserRecord> LoadUser(const ReadTransaction& tx, std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindUser(tx, name));
    if (!found) return errors::NoSuchUser(name);
    return std::move(*found);
  }
  Result<std::optional<RoleRecord>> FindRole(const ReadTransaction& tx,
                                             std::string_view name) const {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kRolesTable, Lower(name)));
    if (!stored) return std::optional<RoleRecord>();
    ASSIGN_OR_RETURN(RoleRecord r, DecodeRoleRecord(*stored));
    return std::optional<RoleRecord>(std::move(r));
  }
  Result<RoleRecord> LoadRole(const ReadTransaction& tx, std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindRole(tx, name));
    if (!found) return errors::NoSuchRole(name);
    return std::move(*found);
  }
  // The role `role_arn` names, path included, or nullopt.
  Result<std::optional<RoleRecord>> FindRoleByArn(const ReadTransaction& tx,
                                                  std::string_view role_arn) const {
    std::string prefix = RoleArn("/", "");
    if (!role_arn.starts_with(prefix)) return std::optional<RoleRecord>();
    ASSIGN_OR_RETURN(auto role, FindRole(tx, LastSegment(role_arn)));
    if (!role || RoleArn(role->path, role->name) != role_arn) return std::optional<RoleRecord>();
    return role;
  }
  // The unique id of the deleted user or role that `principal` (an IAM user or role
  // ARN of this account) named when a policy was saved at `saved`: nullopt when it
  // names the user or role of that ARN that exists now, or no deleted one.
  Result<std::optional<std::string>> DeletedPrincipalId(const ReadTransaction& tx,
                                                        std::string_view principal,
                                                        TimePoint saved) const {
    const std::string iam_prefix = "arn:aws:iam::" + options_.account_id + ":";
    std::optional<TimePoint> current;
    if (principal.starts_with(iam_prefix + "user/")) {
      ASSIGN_OR_RETURN(auto user, FindUser(tx, LastSegment(principal)));
      if (user && UserArn(user->path, user->name) == principal) current = user->created;
    } else if (principal.starts_with(iam_prefix + "role/")) {
      ASSIGN_OR_RETURN(auto role, FindRoleByArn(tx, principal));
      if (role) current = role->created;
    } else {
      return std::optional<std::string>();
    }
    // Created by the time the policy was saved: the policy names it (as
    // authorization binds it, policy::Principal::created).
    if (current && *current <= saved) return std::optional<std::string>();
    ASSIGN_OR_RETURN(auto deleted, tx.Scan(kDeletedPrincipalsTable, Lower(principal) + "/", "", 0));
    std::optional<std::string> id;
    for (const auto& e : deleted) {  // by creation time
      ASSIGN_OR_RETURN(DeletedPrincipalRecord r, DecodeDeletedPrincipalRecord(e.value));
      if (r.arn == principal && r.created <= saved) id = r.id;
    }
    return id;
  }

  // IdentityService::PolicyAsShown, in a transaction.
  Result<std::string> PolicyAsShown(const ReadTransaction& tx, const std::string& text,
                                    std::optional<TimePoint> saved) const {
    if (!saved) return text;
    nlohmann::ordered_json doc = nlohmann::ordered_json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("Statement")) return text;
    bool changed = false;
    Status error;
    auto show = [&](nlohmann::ordered_json& value) {
      if (!value.is_string() || !error.ok()) return;
      Result<std::optional<std::string>> id =
          DeletedPrincipalId(tx, value.get_ref<const std::string&>(), *saved);
      if (!id.ok()) {
        error = id.status();
      } else if (*id) {
        value = **id;
        changed = true;
      }
    };
    auto statement = [&](nlohmann::ordered_json& st) {
      if (!st.is_object()) return;
      for (const char* field : {"Principal", "NotPrincipal"}) {
        auto it = st.find(field);
        if (it == st.end() || !it->is_object() || !it->contains("AWS")) continue;
        nlohmann::ordered_json& aws = (*it)["AWS"];
        if (aws.is_array()) {
          for (auto& p : aws) show(p);
        } else {
          show(aws);
        }
      }
    };
    nlohmann::ordered_json& statements = doc["Statement"];
    if (statements.is_array()) {
      for (auto& st : statements) statement(st);
    } else {
      statement(statements);
    }
    RETURN_IF_ERROR(error);
    return changed ? doc.dump(2) : text;
  }

  // The role as GetRole and ListRoles show it: its trust policy as shown.
  Result<Role> ShownRole(const ReadTransaction& tx, const RoleRecord& r) const {
    Role role = ToRole(r);
    ASSIGN_OR_RETURN(role.assume_role_policy_document,
                     PolicyAsShown(tx, r.trust_policy, r.trust_policy_saved));
    return role;
  }

  // A user or role that goes: policies saved while it existed keep naming it.
  Status KeepDeleted(Transaction& tx, std::string arn, std::string id, TimePoint created) const {
    DeletedPrincipalRecord r{std::move(arn), std::move(id), created, clock_.Now()};
    return tx.Put(kDeletedPrincipalsTable, DeletedPrincipalKey(r.arn, r.created),
                  EncodeDeletedPrincipalRecord(r));
  }

  // Whether the AWS principal `p` of a policy exists: an account (a 12-digit id or
  // a root ARN), or a user, role or assumed-role ARN of a user or role this account
  // has now (another account's: none exists here).
  Result<bool> PrincipalExists(const ReadTransaction& tx, const std::string& p) const {
    const std::string iam_prefix = "arn:aws:iam::" + options_.account_id + ":";
    const std::string session_prefix = "arn:aws:sts::" + options_.account_id + ":assumed-role/";
    if (p.size() == 12 || p.ends_with(":root")) return true;  // the parser checked its form
    if (p.starts_with(iam_prefix + "user/")) {
      ASSIGN_OR_RETURN(auto user, FindUser(tx, LastSegment(p)));
      return user && UserArn(user->path, user->name) == p;
    }
    if (p.starts_with(iam_prefix + "role/")) {
      ASSIGN_OR_RETURN(auto role, FindRoleByArn(tx, p));
      return role.has_value();
    }
    if (p.starts_with(session_prefix)) {
      std::string_view rest = std::string_view(p).substr(session_prefix.size());
      ASSIGN_OR_RETURN(auto role, FindRole(tx, rest.substr(0, rest.find('/'))));
      return role.has_value();
    }
    return false;
  }

  // IdentityService::UnknownPrincipal, in a transaction.
  Result<std::optional<std::string>> UnknownPrincipal(const ReadTransaction& tx,
                                                      const policy::Policy& policy) const {
    for (const policy::Statement& st : policy.statements()) {
      if (!st.principal) continue;
      for (const std::string& p : st.principal->aws) {
        ASSIGN_OR_RETURN(bool exists, PrincipalExists(tx, p));
        if (!exists) return std::optional<std::string>(p);
      }
    }
    return std::optional<std::string>();
  }

  Result<std::optional<Entity>> FindEntity(const ReadTransaction& tx, const EntityKind& kind,
                                           std::string_view name) const {
    if (kind.user) {
      ASSIGN_OR_RETURN(auto user, FindUser(tx, name));
      if (!user) return std::optional<Entity>();
      return std::optional<Entity>(Entity{user->name, user->id});
    }
    ASSIGN_OR_RETURN(auto role, FindRole(tx, name));
    if (!role) return std::optional<Entity>();
    return std::optional<Entity>(Entity{role->name, role->id});
  }
  Result<Entity> LoadEntity(const ReadTransaction& tx, const EntityKind& kind,
                            std::string_view name) const {
    ASSIGN_OR_RETURN(auto found, FindEntity(tx, kind, name));
    if (!found) return kind.no_such_entity(name);
    return std::move(*found);
  }

  User ToUser(const UserRecord& r) const {
    return User{r.path, r.name, r.id, UserArn(r.path, r.name), r.created, r.tags};
  }
  Role ToRole(const RoleRecord& r) const {
    return Role{r.path,    r.name,         r.id,          RoleArn(r.path, r.name),
                r.created, r.trust_policy, r.description, r.max_session_duration,
                r.tags};
  }

  // ---- tags --------------------------------------------------------------------------

  // The unique id, ARN and tags of user (`user`) or role `name`; nullopt when
  // there is none.
  struct Tagged {
    std::string id;
    std::string arn;
    std::vector<iam::Tag> tags;
  };
  Result<std::optional<Tagged>> FindTagged(const ReadTransaction& tx, bool user,
                                           std::string_view name) const {
    if (user) {
      ASSIGN_OR_RETURN(auto r, FindUser(tx, name));
      if (!r) return std::optional<Tagged>();
      return std::optional<Tagged>(Tagged{r->id, UserArn(r->path, r->name), std::move(r->tags)});
    }
    ASSIGN_OR_RETURN(auto r, FindRole(tx, name));
    if (!r) return std::optional<Tagged>();
    return std::optional<Tagged>(Tagged{r->id, RoleArn(r->path, r->name), std::move(r->tags)});
  }

  static void ValidateEntityName(ValidationErrors& v, bool user, std::string_view name) {
    if (user) {
      ValidateUserName(v, name);
    } else {
      ValidateRoleName(v, name);
    }
  }

  // Edits the tags of user (`user`) or role `name` in one transaction.
  Status EditTags(bool user, std::string_view name,
                  const std::function<Status(std::vector<Tag>&)>& edit) {
    RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
      if (user) {
        ASSIGN_OR_RETURN(UserRecord r, LoadUser(tx, name));
        RETURN_IF_ERROR(edit(r.tags));
        return tx.Put(kUsersTable, Lower(r.name), EncodeUserRecord(r));
      }
      ASSIGN_OR_RETURN(RoleRecord r, LoadRole(tx, name));
      RETURN_IF_ERROR(edit(r.tags));
      return tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r));
    }));
    Invalidate();
    return Status::Ok();
  }

  Status SetTags(bool user, std::string_view name, const std::vector<iam::Tag>& tags) {
    errors::Validation v;
    ValidateEntityName(v, user, name);
    ValidateTags(v, tags);
    RETURN_IF_ERROR(v.ToStatus());
    RETURN_IF_ERROR(CheckTagKeys(tags));
    return EditTags(user, name, [&](std::vector<iam::Tag>& current) {
      return MergeTags(current, tags, user ? "TagsPerUser" : "TagsPerRole");
    });
  }

  Status RemoveTags(bool user, std::string_view name, const std::vector<std::string>& keys) {
    errors::Validation v;
    ValidateEntityName(v, user, name);
    ValidateTagKeys(v, keys);
    RETURN_IF_ERROR(v.ToStatus());
    return EditTags(user, name, [&](std::vector<iam::Tag>& current) {
      std::erase_if(current, [&](const iam::Tag& t) {
        return std::any_of(keys.begin(), keys.end(),
                           [&](const std::string& k) { return Lower(k) == Lower(t.key); });
      });
      return Status::Ok();
    });
  }

  Result<ListTagsResult> TagsPage(bool user, std::string_view name, const Page& page) {
    errors::Validation v;
    ValidateEntityName(v, user, name);
    RETURN_IF_ERROR(v.ToStatus());
    ASSIGN_OR_RETURN(size_t size, PageSize(page));
    std::vector<iam::Tag> all;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto found, FindTagged(tx, user, name));
      if (!found) return (user ? kUserKind : kRoleKind).no_such_entity(name);
      all = std::move(found->tags);
      return Status::Ok();
    }));
    return PageOfTags(all, page, size, user ? "user-tags" : "role-tags");
  }

  // One page of `all`; the marker is the position after the last tag shown, as a
  // number.
  static Result<ListTagsResult> PageOfTags(const std::vector<iam::Tag>& all, const Page& page,
                                           size_t size, std::string_view scope) {
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
    size_t start = 0;
    if (!after.empty()) {
      auto [end, ec] = std::from_chars(after.data(), after.data() + after.size(), start);
      if (ec != std::errc() || end != after.data() + after.size()) {
        return errors::ValidationError("Invalid Marker.");
      }
    }
    ListTagsResult out;
    for (size_t i = std::min(start, all.size()); i < all.size(); ++i) {
      if (out.tags.size() == size) {
        out.is_truncated = true;
        out.marker = EncodeListMarker(scope, std::to_string(i));
        break;
      }
      out.tags.push_back(all[i]);
    }
    return out;
  }
  static AccessKeyMetadata ToMetadata(const AccessKeyRecord& r) {
    return AccessKeyMetadata{
        r.owner, r.id, r.active ? AccessKeyStatus::kActive : AccessKeyStatus::kInactive, r.created};
  }

  // The caller's own user name: nullopt for the root; a ValidationError for
  // callers that are not IAM users (AWS's text).
  static Result<std::optional<std::string>> CallerUserName(const Principal& caller) {
    switch (caller.type) {
      case PrincipalType::kRoot:
        return std::optional<std::string>();
      case PrincipalType::kIamUser:
        return std::optional<std::string>(std::string(LastSegment(caller.arn)));
      case PrincipalType::kAssumedRole:
      case PrincipalType::kAwsService:
        break;
    }
    return errors::ValidationError(kMustSpecifyUserName);
  }

  Result<Owner> ResolveOwner(const ReadTransaction& tx, const Principal& caller,
                             const std::optional<std::string>& user_name) const {
    std::optional<std::string> name = user_name;
    if (!name) {
      ASSIGN_OR_RETURN(name, CallerUserName(caller));
      if (!name) return Owner{kRootOwner, ""};
    }
    ASSIGN_OR_RETURN(UserRecord user, LoadUser(tx, *name));
    return Owner{Lower(user.name), user.name};
  }

  static std::string OwnerIndexKey(std::string_view owner_key, std::string_view access_key_id) {
    return std::string(owner_key) + "/" + std::string(access_key_id);
  }

  // The access key `id` of `owner`, or NoSuchEntity (also for another's key).
  static Result<AccessKeyRecord> LoadOwnedKey(const ReadTransaction& tx, const Owner& owner,
                                              std::string_view id) {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, id));
    if (!stored) return errors::NoSuchAccessKey(id);
    ASSIGN_OR_RETURN(AccessKeyRecord key, DecodeAccessKeyRecord(*stored));
    std::string key_owner = key.owner.empty() ? std::string(kRootOwner) : Lower(key.owner);
    if (key_owner != owner.key) return errors::NoSuchAccessKey(id);
    return key;
  }

  // Creates an access key for `owner`, within the AccessKeysPerUser quota.
  Result<NewAccessKey> AddAccessKey(Transaction& tx, const Owner& owner) {
    int limit = options_.max_access_keys_per_user;
    ASSIGN_OR_RETURN(auto existing,
                     tx.Scan(kOwnerKeysTable, owner.key + "/", "", static_cast<size_t>(limit) + 1));
    if (existing.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("AccessKeysPerUser", limit);
    }
    NewAccessKey out;
    ASSIGN_OR_RETURN(out.access_key_id, NewAccessKeyId(tx, "AKIA"));
    out.user_name = owner.name;
    out.status = AccessKeyStatus::kActive;
    out.create_date = clock_.Now();
    out.secret_access_key = NewSecretText(kSecretAccessKeyChars);
    AccessKeyRecord r;
    r.id = out.access_key_id;
    r.owner = owner.name;
    r.active = true;
    r.created = out.create_date;
    ASSIGN_OR_RETURN(r.sealed_secret,
                     vault_.Seal(AccessKeySealContext(r.id), out.secret_access_key));
    RETURN_IF_ERROR(tx.Put(kAccessKeysTable, r.id, EncodeAccessKeyRecord(r)));
    RETURN_IF_ERROR(tx.Put(kOwnerKeysTable, OwnerIndexKey(owner.key, r.id), ""));
    return out;
  }

  // The names (lower case) and records of an entity's inline policies, in order.
  static Result<std::vector<std::pair<std::string, PolicyRecord>>> EntityPolicies(
      const ReadTransaction& tx, const EntityKind& kind, std::string_view entity_key,
      std::string_view start_after, size_t limit) {
    std::string prefix = std::string(entity_key) + "/";
    std::string after = start_after.empty() ? "" : prefix + std::string(start_after);
    ASSIGN_OR_RETURN(auto entries, tx.Scan(kind.policies_table, prefix, after, limit));
    std::vector<std::pair<std::string, PolicyRecord>> out;
    out.reserve(entries.size());
    for (const auto& e : entries) {
      ASSIGN_OR_RETURN(PolicyRecord r, DecodePolicyRecord(e.value));
      out.emplace_back(e.key.substr(prefix.size()), std::move(r));
    }
    return out;
  }

  // ---- inline policies (users and roles alike) --------------------------------------

  static Status ValidatePolicyRequest(const EntityKind& kind, std::string_view entity_name,
                                      std::string_view policy_name,
                                      std::optional<std::string_view> document) {
    errors::Validation v;
    kind.validate_name(v, entity_name);
    ValidatePolicyName(v, policy_name);
    if (document) ValidatePolicyDocument(v, "policyDocument", *document);
    return v.ToStatus();
  }

  Status PutPolicy(const EntityKind& kind, std::string_view entity_name,
                   std::string_view policy_name, std::string_view document) {
    RETURN_IF_ERROR(ValidatePolicyRequest(kind, entity_name, policy_name, document));
    RETURN_IF_ERROR(CheckPolicy(document, policy::PolicyKind::kIdentityPolicy).status());
    const size_t limit = options_.*kind.max_policy_size;
    RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
      const std::string entity_key = Lower(entity.name);
      const std::string policy_key = Lower(policy_name);
      // The quota is on all inline policies of the entity together.
      ASSIGN_OR_RETURN(auto others, EntityPolicies(tx, kind, entity_key, "", 0));
      size_t total = PolicySize(document);
      for (const auto& [key, record] : others) {
        if (key != policy_key) total += PolicySize(record.document);
      }
      if (total > limit) {
        return errors::PolicySizeExceeded(static_cast<long long>(limit), kind.noun, entity.name);
      }
      PolicyRecord r{std::string(policy_name), std::string(document)};
      return tx.Put(kind.policies_table, entity_key + "/" + policy_key, EncodePolicyRecord(r));
    }));
    Invalidate();
    return Status::Ok();
  }

  Result<InlinePolicy> GetPolicy(const EntityKind& kind, std::string_view entity_name,
                                 std::string_view policy_name) {
    RETURN_IF_ERROR(ValidatePolicyRequest(kind, entity_name, policy_name, std::nullopt));
    InlinePolicy out;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
      ASSIGN_OR_RETURN(auto stored,
                       tx.Get(kind.policies_table, Lower(entity.name) + "/" + Lower(policy_name)));
      if (!stored) return kind.no_such_policy(policy_name);
      ASSIGN_OR_RETURN(PolicyRecord r, DecodePolicyRecord(*stored));
      out = InlinePolicy{entity.name, std::move(r.name), std::move(r.document)};
      return Status::Ok();
    }));
    return out;
  }

  Result<ListPolicyNamesResult> ListPolicies(const EntityKind& kind, std::string_view entity_name,
                                             const Page& page) {
    errors::Validation v;
    kind.validate_name(v, entity_name);
    RETURN_IF_ERROR(v.ToStatus());
    ASSIGN_OR_RETURN(size_t size, PageSize(page));
    ListPolicyNamesResult out;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
      const std::string scope = std::string(kind.policies_table) + "/" + Lower(entity.name);
      ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
      ASSIGN_OR_RETURN(auto records, EntityPolicies(tx, kind, Lower(entity.name), after, size + 1));
      out.is_truncated = records.size() > size;
      if (out.is_truncated) records.resize(size);
      for (const auto& [key, record] : records) out.policy_names.push_back(record.name);
      if (out.is_truncated) out.marker = EncodeListMarker(scope, records.back().first);
      return Status::Ok();
    }));
    return out;
  }

  Status DeletePolicy(const EntityKind& kind, std::string_view entity_name,
                      std::string_view policy_name) {
    RETURN_IF_ERROR(ValidatePolicyRequest(kind, entity_name, policy_name, std::nullopt));
    RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
      std::string key = Lower(entity.name) + "/" + Lower(policy_name);
      ASSIGN_OR_RETURN(auto stored, tx.Get(kind.policies_table, key));
      if (!stored) return kind.no_such_policy(policy_name);
      return tx.Delete(kind.policies_table, key);
    }));
    Invalidate();
    return Status::Ok();
  }

  // ---- lists -----------------------------------------------------------------------

  // One page of the users, roles or managed policies table after `marker`,
  // keeping those whose path starts with `path_prefix` and, when given, that
  // `keep` accepts; `decode` turns a value into T and its path.
  template <typename T, typename Decode>
  Status ListPage(const ReadTransaction& tx, const char* table,
                  const std::optional<std::string>& path_prefix, const Page& page, size_t size,
                  Decode decode, std::vector<T>& items, bool& truncated,
                  std::optional<std::string>& next_marker,
                  const std::function<bool(const T&)>& keep = {}) const {
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, table));
    std::vector<std::string> keys;
    for (;;) {
      ASSIGN_OR_RETURN(auto entries, tx.Scan(table, "", after, 256));
      if (entries.empty()) break;
      for (const auto& e : entries) {
        after = e.key;
        ASSIGN_OR_RETURN(auto decoded, decode(e.value));
        if (path_prefix && !decoded.path.starts_with(*path_prefix)) continue;
        if (keep && !keep(decoded)) continue;
        if (items.size() == size) {
          truncated = true;
          next_marker = EncodeListMarker(table, keys.back());
          return Status::Ok();
        }
        items.push_back(std::move(decoded));
        keys.push_back(e.key);
      }
    }
    truncated = false;
    return Status::Ok();
  }

  // ---- managed policies --------------------------------------------------------------

  std::string PolicyArn(std::string_view path, std::string_view name) const {
    return "arn:aws:iam::" + options_.account_id + ":policy" + std::string(path) +
           std::string(name);
  }

  // The customer managed policy `arn` names, path included; nullopt for any
  // other (AWS managed policies and other accounts' included: coffer has none).
  Result<std::optional<ManagedPolicyRecord>> FindPolicy(const ReadTransaction& tx,
                                                        std::string_view arn) const {
    if (!arn.starts_with(PolicyArn("/", ""))) return std::optional<ManagedPolicyRecord>();
    ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, Lower(LastSegment(arn))));
    if (!stored) return std::optional<ManagedPolicyRecord>();
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
    if (PolicyArn(r.path, r.name) != arn) return std::optional<ManagedPolicyRecord>();
    return std::optional<ManagedPolicyRecord>(std::move(r));
  }
  // `attaching`: the texts of AttachUserPolicy and AttachRolePolicy.
  Result<ManagedPolicyRecord> LoadPolicy(const ReadTransaction& tx, std::string_view arn,
                                         bool attaching = false) const {
    if (!IsPolicyArn(arn)) return errors::InvalidArn(arn);
    ASSIGN_OR_RETURN(auto found, FindPolicy(tx, arn));
    if (!found) return attaching ? errors::PolicyNotAttachable(arn) : errors::NoSuchPolicy(arn);
    return std::move(*found);
  }
  // arn:aws:iam::<12 digits or "aws">:policy/<path and name>.
  static bool IsPolicyArn(std::string_view arn) {
    constexpr std::string_view kPrefix = "arn:aws:iam::";
    if (!arn.starts_with(kPrefix)) return false;
    arn.remove_prefix(kPrefix.size());
    const size_t colon = arn.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view account = arn.substr(0, colon);
    const bool digits =
        account.size() == 12 &&
        std::all_of(account.begin(), account.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits && account != "aws") return false;
    const std::string_view rest = arn.substr(colon + 1);
    return rest.starts_with("policy/") && rest.size() > 7 && rest.back() != '/' &&
           rest.find(' ') == std::string_view::npos;
  }
  static Status StorePolicy(Transaction& tx, const ManagedPolicyRecord& r) {
    return tx.Put(kPoliciesTable, Lower(r.name), EncodeManagedPolicyRecord(r));
  }

  ManagedPolicy ToManagedPolicy(const ManagedPolicyRecord& r) const {
    return ManagedPolicy{r.name,
                         r.id,
                         PolicyArn(r.path, r.name),
                         r.path,
                         r.default_version,
                         r.attachments,
                         r.description,
                         r.created,
                         r.updated,
                         r.tags};
  }

  static const PolicyVersionRecord* FindVersion(const ManagedPolicyRecord& r,
                                                std::string_view version_id) {
    for (const PolicyVersionRecord& v : r.versions) {
      if (v.id == version_id) return &v;
    }
    return nullptr;
  }

  // A managed policy's document: IAM's checks, and at most 6,144 characters
  // without white space.
  Status CheckManagedDocument(std::string_view document) const {
    RETURN_IF_ERROR(CheckPolicy(document, policy::PolicyKind::kIdentityPolicy).status());
    if (PolicySize(document) > options_.max_managed_policy_size) {
      return errors::QuotaExceeded("PolicySize",
                                   static_cast<long long>(options_.max_managed_policy_size));
    }
    return Status::Ok();
  }

  // The parsed default versions of the managed policies attached to an entity.
  Result<std::vector<policy::Policy>> AttachedPolicies(const ReadTransaction& tx,
                                                       const EntityKind& kind,
                                                       std::string_view entity_key) const {
    const std::string prefix = std::string(entity_key) + "/";
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kind.attached_table, prefix, "", 0));
    std::vector<policy::Policy> out;
    for (const auto& e : attached) {
      const std::string name = e.key.substr(prefix.size());
      ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, name));
      if (!stored) return InternalError("attached managed policy " + name + " is missing");
      ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
      const PolicyVersionRecord* v = FindVersion(r, r.default_version);
      auto parsed = policy::Policy::Parse(v->document, policy::PolicyKind::kIdentityPolicy);
      if (!parsed.ok()) {
        // Refuse rather than evaluate without it: a missing policy could be a Deny.
        return InternalError("managed policy " + r.name + " " + v->id +
                             " does not parse: " + parsed.status().message());
      }
      out.push_back(std::move(parsed).value());
    }
    return out;
  }

  static std::string EntityIndexKey(const EntityKind& kind, std::string_view policy_key,
                                    std::string_view entity_key) {
    return std::string(policy_key) + (kind.user ? "/user/" : "/role/") + std::string(entity_key);
  }

  // Attaches (`attach`) or detaches a managed policy of a user or role.
  Status SetAttached(const EntityKind& kind, std::string_view entity_name,
                     std::string_view policy_arn, bool attach) {
    errors::Validation v;
    kind.validate_name(v, entity_name);
    ValidatePolicyArn(v, policy_arn);
    RETURN_IF_ERROR(v.ToStatus());
    RETURN_IF_ERROR(store_.Update([&](Transaction& tx) -> Status {
      ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
      ASSIGN_OR_RETURN(ManagedPolicyRecord policy, LoadPolicy(tx, policy_arn, attach));
      const std::string entity_key = Lower(entity.name);
      const std::string policy_key = Lower(policy.name);
      const std::string key = entity_key + "/" + policy_key;
      const std::string index_key = EntityIndexKey(kind, policy_key, entity_key);
      ASSIGN_OR_RETURN(auto attached, tx.Get(kind.attached_table, key));
      if (!attach) {
        if (!attached) return errors::PolicyNotAttached(policy_arn);
        RETURN_IF_ERROR(tx.Delete(kind.attached_table, key));
        RETURN_IF_ERROR(tx.Delete(kPolicyEntitiesTable, index_key));
        --policy.attachments;
        return StorePolicy(tx, policy);
      }
      if (attached) return Status::Ok();  // attaching again changes nothing
      const int limit = options_.max_attached_policies;
      ASSIGN_OR_RETURN(auto all, tx.Scan(kind.attached_table, entity_key + "/", "",
                                         static_cast<size_t>(limit) + 1));
      if (all.size() >= static_cast<size_t>(limit)) {
        return errors::QuotaExceeded(kind.attach_quota, limit);
      }
      RETURN_IF_ERROR(tx.Put(kind.attached_table, key, ""));
      RETURN_IF_ERROR(tx.Put(kPolicyEntitiesTable, index_key, ""));
      ++policy.attachments;
      return StorePolicy(tx, policy);
    }));
    Invalidate();
    return Status::Ok();
  }

  Result<ListAttachedPoliciesResult> ListAttached(const EntityKind& kind,
                                                  std::string_view entity_name,
                                                  const std::optional<std::string>& path_prefix,
                                                  const Page& page) {
    errors::Validation v;
    kind.validate_name(v, entity_name);
    ValidatePolicyPath(v, "pathPrefix", path_prefix);
    RETURN_IF_ERROR(v.ToStatus());
    ASSIGN_OR_RETURN(size_t size, PageSize(page));
    ListAttachedPoliciesResult out;
    RETURN_IF_ERROR(store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(Entity entity, LoadEntity(tx, kind, entity_name));
      const std::string prefix = Lower(entity.name) + "/";
      const std::string scope = std::string(kind.attached_table) + "/" + Lower(entity.name);
      ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
      ASSIGN_OR_RETURN(auto attached, tx.Scan(kind.attached_table, prefix,
                                              after.empty() ? "" : prefix + after, 0));
      std::string last;
      for (const auto& e : attached) {
        const std::string name = e.key.substr(prefix.size());
        ASSIGN_OR_RETURN(auto stored, tx.Get(kPoliciesTable, name));
        if (!stored) return InternalError("attached managed policy " + name + " is missing");
        ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(*stored));
        if (path_prefix && !r.path.starts_with(*path_prefix)) continue;
        if (out.attached_policies.size() == size) {
          out.is_truncated = true;
          out.marker = EncodeListMarker(scope, last);
          break;
        }
        out.attached_policies.push_back(AttachedPolicy{r.name, PolicyArn(r.path, r.name)});
        last = e.key.substr(prefix.size());
      }
      return Status::Ok();
    }));
    return out;
  }

  // ---- caches ------------------------------------------------------------------------

  // Everything that may change a credential or an identity's policies calls
  // this after committing. A lookup that read the store before the change does
  // not store its (stale) answer: it checks the generation it started with.
  void Invalidate() {
    std::lock_guard lock(cache_mu_);
    ++generation_;
    credentials_.clear();
    policies_.clear();
  }

  uint64_t Generation() {
    std::lock_guard lock(cache_mu_);
    return generation_;
  }

  struct CachedPolicies {
    std::string id;  // the entity's unique id; empty when it does not exist
    std::shared_ptr<const std::vector<policy::Policy>> policies;
  };

  IamOptions options_;
  state::StateStore& store_;
  const state::Vault& vault_;
  Clock& clock_;
  Random& random_;
  const std::shared_ptr<const std::vector<policy::Policy>> no_policies_;

  std::mutex cache_mu_;
  uint64_t generation_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const Credential>> credentials_;
  std::unordered_map<std::string, CachedPolicies> policies_;  // "u:<lower>" / "r:<lower>"

  // Key uses noted since the last FlushKeyUses(), by access key id (looked up by
  // string_view: no allocation on the request path).
  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using KeyUses = std::unordered_map<std::string, KeyUseRecord, IdHash, std::equal_to<>>;
  using RoleUses = std::unordered_map<std::string, RoleUseRecord, IdHash, std::equal_to<>>;
  std::mutex uses_mu_;
  KeyUses uses_;
  RoleUses role_uses_;  // by role ARN
};

// ===========================================================================

IdentityService::IdentityService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IdentityService::~IdentityService() = default;

Result<std::unique_ptr<IdentityService>> IdentityService::Create(IamOptions options,
                                                                 state::StateStore& store,
                                                                 const state::Vault& vault,
                                                                 Clock& clock, Random& random) {
  if (options.account_id.size() != 12 ||
      !std::all_of(options.account_id.begin(), options.account_id.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgumentError("account id must be 12 digits, got '" + options.account_id + "'");
  }
  if (options.region.empty()) return InvalidArgumentError("region must not be empty");
  if (options.max_users < 1 || options.max_roles < 1 || options.max_access_keys_per_user < 1 ||
      options.max_managed_policies < 1 || options.max_policy_versions < 1 ||
      options.max_attached_policies < 1) {
    return InvalidArgumentError("IAM quotas must be at least 1");
  }
  if (options.expired_session_retention < Duration::zero()) {
    return InvalidArgumentError("expired_session_retention must not be negative");
  }
  return std::unique_ptr<IdentityService>(
      new IdentityService(std::make_unique<Impl>(std::move(options), store, vault, clock, random)));
}

const IamOptions& IdentityService::options() const { return impl_->options_; }

Result<std::optional<NewAccessKey>> IdentityService::InitializeAccount(
    const std::function<Status(const NewAccessKey&)>& deliver) {
  std::optional<NewAccessKey> created;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto account, tx.Get(kAccountTable, kAccountKey));
    if (account) return Status::Ok();
    RETURN_IF_ERROR(tx.Put(kAccountTable, kAccountKey,
                           EncodeAccountRecord(AccountRecord{impl_->clock_.Now()})));
    ASSIGN_OR_RETURN(NewAccessKey key, impl_->AddAccessKey(tx, Owner{kRootOwner, ""}));
    // Delivered before the commit: if delivery fails, nothing is created, and the
    // next start tries again (a key nobody received would lock everyone out).
    if (deliver) RETURN_IF_ERROR(deliver(key));
    created = std::move(key);
    return Status::Ok();
  }));
  if (created) {
    impl_->Invalidate();
    Log().info("iam: created account {} and its root access key {}", impl_->options_.account_id,
               created->access_key_id);
  }
  return created;
}

// ---- authentication and authorization ------------------------------------------------

Result<Credential> IdentityService::FindCredential(std::string_view access_key_id) {
  // The AWS model's AccessKeyId: 16 to 128 word characters. Anything else names no
  // key and is not looked up (the id comes from an unauthenticated request).
  const bool word = std::all_of(access_key_id.begin(), access_key_id.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  if (!word || access_key_id.size() < 16 || access_key_id.size() > 128) {
    return NotFoundError("no such access key");
  }
  std::string id(access_key_id);
  {
    std::lock_guard lock(impl_->cache_mu_);
    if (auto it = impl_->credentials_.find(id); it != impl_->credentials_.end()) {
      return *it->second;
    }
  }
  const uint64_t generation = impl_->Generation();
  Credential out;
  Bytes sealed;
  std::string context;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    if (id.starts_with("ASIA")) {
      ASSIGN_OR_RETURN(auto stored, tx.Get(kSessionsTable, id));
      if (!stored) return NotFoundError("no such access key");
      ASSIGN_OR_RETURN(SessionRecord s, DecodeSessionRecord(*stored));
      if (s.root) {
        out.principal = Principal::Root(impl_->options_.account_id);
      } else if (!s.user_name.empty()) {
        // The user the session was issued to, not one created since under its name.
        ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, s.user_name));
        if (!user || user->id != s.user_id) return NotFoundError("no such access key");
        out.principal = Principal::IamUser(impl_->UserArn(user->path, user->name), user->id);
        out.principal.created = user->created;
      } else {
        out.principal = Principal::AssumedRole(s.role_arn, s.session_name, s.role_id);
        out.principal.created = s.role_created;
      }
      out.session_token.emplace(s.token_sha256);
      out.expiration = s.expiration;
      out.principal.session_issued = s.created;
      sealed = std::move(s.sealed_secret);
      context = SessionSealContext(id);
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, id));
    if (!stored) return NotFoundError("no such access key");
    ASSIGN_OR_RETURN(AccessKeyRecord k, DecodeAccessKeyRecord(*stored));
    if (k.owner.empty()) {
      out.principal = Principal::Root(impl_->options_.account_id);
    } else {
      ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, k.owner));
      if (!user) return NotFoundError("no such access key");
      out.principal = Principal::IamUser(impl_->UserArn(user->path, user->name), user->id);
      out.principal.created = user->created;
    }
    out.active = k.active;
    sealed = std::move(k.sealed_secret);
    context = AccessKeySealContext(id);
    return Status::Ok();
  }));
  ASSIGN_OR_RETURN(out.secret_access_key, impl_->vault_.Unseal(context, sealed));

  auto shared = std::make_shared<const Credential>(out);
  std::lock_guard lock(impl_->cache_mu_);
  if (impl_->generation_ == generation) {
    if (impl_->credentials_.size() >= impl_->options_.max_cached_credentials) {
      impl_->credentials_.clear();
    }
    impl_->credentials_.emplace(std::move(id), std::move(shared));
  }
  return out;
}

Result<std::shared_ptr<const std::vector<policy::Policy>>> IdentityService::IdentityPoliciesOf(
    const Principal& principal) {
  const EntityKind* kind = nullptr;
  std::string_view name, expected_id;
  switch (principal.type) {
    case PrincipalType::kRoot:
    case PrincipalType::kAwsService:
      return impl_->no_policies_;
    case PrincipalType::kIamUser:
      kind = &kUserKind;
      name = LastSegment(principal.arn);
      expected_id = principal.user_id;
      break;
    case PrincipalType::kAssumedRole:
      kind = &kRoleKind;
      name = LastSegment(principal.role_arn);
      expected_id = std::string_view(principal.user_id).substr(0, principal.user_id.find(':'));
      break;
  }
  const std::string entity_key = Lower(name);
  const std::string cache_key = (kind->user ? "u:" : "r:") + entity_key;
  {
    std::lock_guard lock(impl_->cache_mu_);
    if (auto it = impl_->policies_.find(cache_key); it != impl_->policies_.end()) {
      if (it->second.id.empty() || it->second.id != expected_id) return impl_->no_policies_;
      return it->second.policies;
    }
  }
  const uint64_t generation = impl_->Generation();
  Impl::CachedPolicies loaded{"", impl_->no_policies_};
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto entity, impl_->FindEntity(tx, *kind, name));
    if (!entity) return Status::Ok();
    ASSIGN_OR_RETURN(auto records, Impl::EntityPolicies(tx, *kind, entity_key, "", 0));
    auto policies = std::make_shared<std::vector<policy::Policy>>();
    policies->reserve(records.size());
    for (const auto& [key, record] : records) {
      auto parsed = policy::Policy::Parse(record.document, policy::PolicyKind::kIdentityPolicy);
      if (!parsed.ok()) {
        // Refuse rather than evaluate without it: a missing policy could be a Deny.
        return InternalError("stored policy " + record.name + " of " + kind->noun + " " +
                             entity->name + " does not parse: " + parsed.status().message());
      }
      policies->push_back(std::move(parsed).value());
    }
    ASSIGN_OR_RETURN(auto attached, impl_->AttachedPolicies(tx, *kind, entity_key));
    for (policy::Policy& p : attached) policies->push_back(std::move(p));
    loaded = Impl::CachedPolicies{entity->id, std::move(policies)};
    return Status::Ok();
  }));
  {
    std::lock_guard lock(impl_->cache_mu_);
    if (impl_->generation_ == generation) {
      if (impl_->policies_.size() >= impl_->options_.max_cached_credentials) {
        impl_->policies_.clear();
      }
      impl_->policies_.insert_or_assign(cache_key, loaded);
    }
  }
  if (loaded.id.empty() || loaded.id != expected_id) return impl_->no_policies_;
  return loaded.policies;
}

Result<std::optional<std::string>> IdentityService::UnknownPrincipal(const policy::Policy& policy) {
  std::optional<std::string> unknown;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(unknown, impl_->UnknownPrincipal(tx, policy));
    return Status::Ok();
  }));
  return unknown;
}

Result<std::optional<std::string>> IdentityService::UnknownPrincipalArn(
    const std::vector<std::string>& arns) {
  std::optional<std::string> unknown;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    for (const std::string& arn : arns) {
      // An ARN (not a bare account id), existing as a policy's principal must.
      bool exists = arn.starts_with("arn:");
      if (exists) {
        ASSIGN_OR_RETURN(exists, impl_->PrincipalExists(tx, arn));
      }
      if (!exists) {
        unknown = arn;
        return Status::Ok();
      }
    }
    return Status::Ok();
  }));
  return unknown;
}

Result<std::string> IdentityService::PolicyAsShown(const std::string& text,
                                                   std::optional<TimePoint> saved) {
  std::string out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(out, impl_->PolicyAsShown(tx, text, saved));
    return Status::Ok();
  }));
  return out;
}

Result<policy::SavedPolicy> IdentityService::TrustPolicyOf(std::string_view role_arn) {
  policy::SavedPolicy policy;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, impl_->FindRoleByArn(tx, role_arn));
    if (!role) return errors::NoSuchRole(LastSegment(role_arn));
    policy.text = std::move(role->trust_policy);
    policy.saved = role->trust_policy_saved;
    return Status::Ok();
  }));
  return policy;
}

Result<std::string> IdentityService::ArnOfUser(std::string_view user_name) {
  std::string arn = impl_->UserArn("/", user_name);
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, user_name));
    if (user) arn = impl_->UserArn(user->path, user->name);
    return Status::Ok();
  }));
  return arn;
}

Result<std::string> IdentityService::ArnOfRole(std::string_view role_name) {
  std::string arn = impl_->RoleArn("/", role_name);
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, impl_->FindRole(tx, role_name));
    if (role) arn = impl_->RoleArn(role->path, role->name);
    return Status::Ok();
  }));
  return arn;
}

Result<std::string> IdentityService::TargetUserArn(const Principal& caller,
                                                   const std::optional<std::string>& user_name) {
  if (user_name) return ArnOfUser(*user_name);
  ASSIGN_OR_RETURN(std::optional<std::string> own, Impl::CallerUserName(caller));
  (void)own;
  return caller.arn;  // the IAM user's own ARN, or the root's
}

std::string IdentityService::UserArn(std::string_view path, std::string_view user_name) const {
  return impl_->UserArn(path, user_name);
}
std::string IdentityService::RoleArn(std::string_view path, std::string_view role_name) const {
  return impl_->RoleArn(path, role_name);
}

// ---- users ------------------------------------------------------------------------------

Result<User> IdentityService::CreateUser(const CreateUserRequest& req) {
  errors::Validation v;
  ValidateNewUserName(v, req.user_name);
  ValidatePath(v, req.path);
  ValidateTags(v, req.tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(req.tags));
  UserRecord r;
  r.name = req.user_name;
  r.path = req.path.value_or("/");
  r.tags = req.tags;
  r.created = impl_->clock_.Now();
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kUsersTable, Lower(r.name)));
    if (existing) return errors::UserExists(r.name);
    int limit = impl_->options_.max_users;
    ASSIGN_OR_RETURN(auto users, tx.Scan(kUsersTable, "", "", static_cast<size_t>(limit) + 1));
    if (users.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("UsersPerAccount", limit);
    }
    r.id = impl_->NewId("AIDA", kUniqueIdRandomChars);
    return tx.Put(kUsersTable, Lower(r.name), EncodeUserRecord(r));
  }));
  impl_->Invalidate();  // a cached "no such user" for this name
  return impl_->ToUser(r);
}

Result<User> IdentityService::GetUser(const Principal& caller,
                                      const std::optional<std::string>& user_name) {
  std::optional<std::string> name = user_name;
  if (name) {
    errors::Validation v;
    ValidateUserName(v, *name);
    RETURN_IF_ERROR(v.ToStatus());
  } else {
    ASSIGN_OR_RETURN(name, Impl::CallerUserName(caller));
  }
  User out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    if (name) {
      ASSIGN_OR_RETURN(UserRecord r, impl_->LoadUser(tx, *name));
      out = impl_->ToUser(r);
      return Status::Ok();
    }
    // The root, as AWS shows it: its account id, its ARN, the account's creation.
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccountTable, kAccountKey));
    if (!stored) return InternalError("the account is not initialized");
    ASSIGN_OR_RETURN(AccountRecord account, DecodeAccountRecord(*stored));
    out.user_id = impl_->options_.account_id;
    out.arn = Principal::Root(impl_->options_.account_id).arn;
    out.create_date = account.created;
    return Status::Ok();
  }));
  return out;
}

Result<ListUsersResult> IdentityService::ListUsers(const std::optional<std::string>& path_prefix,
                                                   const Page& page) {
  errors::Validation v;
  ValidatePathPrefix(v, path_prefix);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListUsersResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<User> {
      ASSIGN_OR_RETURN(UserRecord r, DecodeUserRecord(value));
      return impl_->ToUser(r);
    };
    return impl_->ListPage(tx, kUsersTable, path_prefix, page, size, decode, out.users,
                           out.is_truncated, out.marker);
  }));
  return out;
}

Status IdentityService::DeleteUser(std::string_view user_name) {
  errors::Validation v;
  ValidateUserName(v, user_name);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, user_name));
    const std::string key = Lower(user.name);
    ASSIGN_OR_RETURN(auto keys, tx.Scan(kOwnerKeysTable, key + "/", "", 1));
    if (!keys.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete access keys first.");
    }
    ASSIGN_OR_RETURN(auto policies, tx.Scan(kUserPoliciesTable, key + "/", "", 1));
    if (!policies.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete policies first.");
    }
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kUserAttachedTable, key + "/", "", 1));
    if (!attached.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must detach all policies first.");
    }
    RETURN_IF_ERROR(
        impl_->KeepDeleted(tx, impl_->UserArn(user.path, user.name), user.id, user.created));
    return tx.Delete(kUsersTable, key);
  }));
  impl_->Invalidate();
  return Status::Ok();
}

// ---- access keys ------------------------------------------------------------------------

namespace {
Status ValidateOptionalUserName(const std::optional<std::string>& user_name) {
  errors::Validation v;
  if (user_name) ValidateUserName(v, *user_name);
  return v.ToStatus();
}
}  // namespace

Result<NewAccessKey> IdentityService::CreateAccessKey(const Principal& caller,
                                                      const std::optional<std::string>& user_name) {
  RETURN_IF_ERROR(ValidateOptionalUserName(user_name));
  std::optional<NewAccessKey> out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    ASSIGN_OR_RETURN(out, impl_->AddAccessKey(tx, owner));
    return Status::Ok();
  }));
  impl_->Invalidate();
  return std::move(*out);
}

Result<ListAccessKeysResult> IdentityService::ListAccessKeys(
    const Principal& caller, const std::optional<std::string>& user_name, const Page& page) {
  RETURN_IF_ERROR(ValidateOptionalUserName(user_name));
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListAccessKeysResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    std::string prefix = owner.key + "/";
    const std::string scope = std::string(kOwnerKeysTable) + "/" + owner.key;
    ASSIGN_OR_RETURN(std::string position, MarkerPosition(page, scope));
    std::string after = page.marker ? prefix + position : "";
    ASSIGN_OR_RETURN(auto index, tx.Scan(kOwnerKeysTable, prefix, after, size + 1));
    out.is_truncated = index.size() > size;
    if (out.is_truncated) index.resize(size);
    for (const auto& e : index) {
      std::string id = e.key.substr(prefix.size());
      ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, id));
      if (!stored) return DataLossError("access key index names a missing key " + id);
      ASSIGN_OR_RETURN(AccessKeyRecord k, DecodeAccessKeyRecord(*stored));
      out.access_key_metadata.push_back(Impl::ToMetadata(k));
    }
    if (out.is_truncated) {
      out.marker = EncodeListMarker(scope, out.access_key_metadata.back().access_key_id);
    }
    return Status::Ok();
  }));
  return out;
}

Status IdentityService::UpdateAccessKey(const Principal& caller,
                                        const std::optional<std::string>& user_name,
                                        std::string_view access_key_id, std::string_view status) {
  errors::Validation v;
  if (user_name) ValidateUserName(v, *user_name);
  ValidateAccessKeyId(v, access_key_id);
  ValidateStatus(v, status);
  RETURN_IF_ERROR(v.ToStatus());
  if (status == "Expired") {
    return errors::ValidationError("An access key's status can only be set to Active or Inactive.");
  }
  const bool active = status == "Active";
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    ASSIGN_OR_RETURN(AccessKeyRecord key, Impl::LoadOwnedKey(tx, owner, access_key_id));
    key.active = active;
    return tx.Put(kAccessKeysTable, key.id, EncodeAccessKeyRecord(key));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Status IdentityService::DeleteAccessKey(const Principal& caller,
                                        const std::optional<std::string>& user_name,
                                        std::string_view access_key_id) {
  errors::Validation v;
  if (user_name) ValidateUserName(v, *user_name);
  ValidateAccessKeyId(v, access_key_id);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(Owner owner, impl_->ResolveOwner(tx, caller, user_name));
    ASSIGN_OR_RETURN(AccessKeyRecord key, Impl::LoadOwnedKey(tx, owner, access_key_id));
    RETURN_IF_ERROR(tx.Delete(kAccessKeysTable, key.id));
    RETURN_IF_ERROR(tx.Delete(kKeyLastUsedTable, key.id));
    return tx.Delete(kOwnerKeysTable, Impl::OwnerIndexKey(owner.key, key.id));
  }));
  {
    std::lock_guard lock(impl_->uses_mu_);
    if (auto it = impl_->uses_.find(access_key_id); it != impl_->uses_.end())
      impl_->uses_.erase(it);
  }
  impl_->Invalidate();
  return Status::Ok();
}

// ---- when access keys were last used ----------------------------------------------------

void IdentityService::NoteKeyUse(std::string_view access_key_id, std::string_view service,
                                 std::string_view region) {
  if (!access_key_id.starts_with("AKIA")) return;
  const TimePoint now = impl_->clock_.Now();
  std::lock_guard lock(impl_->uses_mu_);
  auto it = impl_->uses_.find(access_key_id);
  if (it == impl_->uses_.end()) {
    impl_->uses_.emplace(std::string(access_key_id),
                         KeyUseRecord{now, std::string(service), std::string(region)});
    return;
  }
  it->second.when = now;
  if (it->second.service != service) it->second.service = std::string(service);
  if (it->second.region != region) it->second.region = std::string(region);
}

void IdentityService::NoteRoleUse(const Principal& session) {
  if (session.type != PrincipalType::kAssumedRole) return;
  const std::string_view role_id =
      std::string_view(session.user_id).substr(0, session.user_id.find(':'));
  const TimePoint now = impl_->clock_.Now();
  std::lock_guard lock(impl_->uses_mu_);
  auto it = impl_->role_uses_.find(session.role_arn);
  if (it == impl_->role_uses_.end()) {
    impl_->role_uses_.emplace(session.role_arn,
                              RoleUseRecord{now, impl_->options_.region, std::string(role_id)});
    return;
  }
  it->second.when = now;
  if (it->second.role_id != role_id) it->second.role_id = std::string(role_id);
}

Status IdentityService::FlushKeyUses() {
  Impl::KeyUses uses;
  Impl::RoleUses role_uses;
  {
    std::lock_guard lock(impl_->uses_mu_);
    uses.swap(impl_->uses_);
    role_uses.swap(impl_->role_uses_);
  }
  if (uses.empty() && role_uses.empty()) return Status::Ok();
  Status s = impl_->store_.Update([&](Transaction& tx) -> Status {
    for (const auto& [id, use] : uses) {
      ASSIGN_OR_RETURN(auto key, tx.Get(kAccessKeysTable, id));
      if (!key) continue;  // deleted meanwhile
      RETURN_IF_ERROR(tx.Put(kKeyLastUsedTable, id, EncodeKeyUseRecord(use)));
    }
    for (const auto& [arn, use] : role_uses) {
      ASSIGN_OR_RETURN(auto role, impl_->FindRoleByArn(tx, arn));
      if (!role || role->id != use.role_id) continue;  // deleted meanwhile
      RETURN_IF_ERROR(tx.Put(kRoleLastUsedTable, Lower(role->name), EncodeRoleUseRecord(use)));
    }
    return Status::Ok();
  });
  if (!s.ok()) {
    // Kept for the next flush, unless a newer use was noted meanwhile.
    std::lock_guard lock(impl_->uses_mu_);
    for (auto& [id, use] : uses) impl_->uses_.try_emplace(id, std::move(use));
    for (auto& [arn, use] : role_uses) impl_->role_uses_.try_emplace(arn, std::move(use));
  }
  return s;
}

Result<AccessKeyLastUsed> IdentityService::GetAccessKeyLastUsed(std::string_view access_key_id) {
  errors::Validation v;
  ValidateAccessKeyId(v, access_key_id);
  RETURN_IF_ERROR(v.ToStatus());
  AccessKeyLastUsed out;
  std::optional<KeyUseRecord> use;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, access_key_id));
    if (!stored) return errors::NoSuchAccessKey(access_key_id);
    ASSIGN_OR_RETURN(AccessKeyRecord key, DecodeAccessKeyRecord(*stored));
    out.user_name = key.owner;
    ASSIGN_OR_RETURN(auto used, tx.Get(kKeyLastUsedTable, access_key_id));
    if (used) {
      ASSIGN_OR_RETURN(use, DecodeKeyUseRecord(*used));
    }
    return Status::Ok();
  }));
  {
    std::lock_guard lock(impl_->uses_mu_);  // not flushed yet: newer
    if (auto it = impl_->uses_.find(access_key_id); it != impl_->uses_.end()) {
      use = it->second;
    }
  }
  if (use) {
    out.last_used_date = use->when;
    out.service_name = use->service;
    out.region = use->region;
  }
  return out;
}

Result<std::string> IdentityService::ArnOfAccessKeyOwner(std::string_view access_key_id) {
  std::string arn = impl_->UserArn("/", "");
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto stored, tx.Get(kAccessKeysTable, access_key_id));
    if (!stored) return Status::Ok();
    ASSIGN_OR_RETURN(AccessKeyRecord key, DecodeAccessKeyRecord(*stored));
    if (key.owner.empty()) {
      arn = "arn:aws:iam::" + impl_->options_.account_id + ":root";
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(UserRecord user, impl_->LoadUser(tx, key.owner));
    arn = impl_->UserArn(user.path, user.name);
    return Status::Ok();
  }));
  return arn;
}

// ---- roles ------------------------------------------------------------------------------

Result<Role> IdentityService::CreateRole(const CreateRoleRequest& req) {
  errors::Validation v;
  ValidateRoleName(v, req.role_name);
  ValidatePath(v, req.path);
  ValidatePolicyDocument(v, "assumeRolePolicyDocument", req.assume_role_policy_document);
  ValidateDescription(v, req.description);
  ValidateMaxSessionDuration(v, req.max_session_duration);
  ValidateTags(v, req.tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(req.tags));
  ASSIGN_OR_RETURN(policy::Policy trust,
                   CheckPolicy(req.assume_role_policy_document, policy::PolicyKind::kTrustPolicy));
  if (PolicySize(req.assume_role_policy_document) > impl_->options_.max_trust_policy_size) {
    return errors::QuotaExceeded("ACLSizePerRole",
                                 static_cast<long long>(impl_->options_.max_trust_policy_size));
  }
  RoleRecord r;
  r.name = req.role_name;
  r.path = req.path.value_or("/");
  r.created = impl_->clock_.Now();
  r.trust_policy = req.assume_role_policy_document;
  r.trust_policy_saved = r.created;
  r.description = req.description;
  r.max_session_duration = req.max_session_duration.value_or(kDefaultSessionDuration);
  r.tags = req.tags;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kRolesTable, Lower(r.name)));
    if (existing) return errors::RoleExists(r.name);
    ASSIGN_OR_RETURN(auto unknown, impl_->UnknownPrincipal(tx, trust));
    if (unknown) return errors::InvalidPrincipal(*unknown);
    int limit = impl_->options_.max_roles;
    ASSIGN_OR_RETURN(auto roles, tx.Scan(kRolesTable, "", "", static_cast<size_t>(limit) + 1));
    if (roles.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("RolesPerAccount", limit);
    }
    r.id = impl_->NewId("AROA", kUniqueIdRandomChars);
    return tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r));
  }));
  impl_->Invalidate();  // a cached "no such role" for this name
  return impl_->ToRole(r);
}

Result<Role> IdentityService::GetRole(std::string_view role_name) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  RETURN_IF_ERROR(v.ToStatus());
  Role out;
  std::optional<RoleUseRecord> use;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord r, impl_->LoadRole(tx, role_name));
    ASSIGN_OR_RETURN(out, impl_->ShownRole(tx, r));
    ASSIGN_OR_RETURN(auto used, tx.Get(kRoleLastUsedTable, Lower(r.name)));
    if (used) {
      ASSIGN_OR_RETURN(use, DecodeRoleUseRecord(*used));
    }
    return Status::Ok();
  }));
  {
    std::lock_guard lock(impl_->uses_mu_);  // not written yet: newer
    if (auto it = impl_->role_uses_.find(out.arn); it != impl_->role_uses_.end()) {
      use = it->second;
    }
  }
  if (use && use->role_id == out.role_id) {  // this role's, not a deleted namesake's
    out.last_used = use->when;
    out.last_used_region = use->region;
  }
  return out;
}

Result<ListRolesResult> IdentityService::ListRoles(const std::optional<std::string>& path_prefix,
                                                   const Page& page) {
  errors::Validation v;
  ValidatePathPrefix(v, path_prefix);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  ListRolesResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<Role> {
      ASSIGN_OR_RETURN(RoleRecord r, DecodeRoleRecord(value));
      return impl_->ShownRole(tx, r);
    };
    return impl_->ListPage(tx, kRolesTable, path_prefix, page, size, decode, out.roles,
                           out.is_truncated, out.marker);
  }));
  return out;
}

Status IdentityService::UpdateAssumeRolePolicy(std::string_view role_name,
                                               std::string_view policy_document) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  ValidatePolicyDocument(v, "policyDocument", policy_document);
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(policy::Policy trust,
                   CheckPolicy(policy_document, policy::PolicyKind::kTrustPolicy));
  if (PolicySize(policy_document) > impl_->options_.max_trust_policy_size) {
    return errors::QuotaExceeded("ACLSizePerRole",
                                 static_cast<long long>(impl_->options_.max_trust_policy_size));
  }
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord r, impl_->LoadRole(tx, role_name));
    ASSIGN_OR_RETURN(auto unknown, impl_->UnknownPrincipal(tx, trust));
    if (unknown) return errors::InvalidPrincipal(*unknown);
    r.trust_policy = std::string(policy_document);
    r.trust_policy_saved = impl_->clock_.Now();
    return tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Result<Role> IdentityService::UpdateRole(std::string_view role_name,
                                         const std::optional<std::string>& description,
                                         std::optional<int> max_session_duration) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  ValidateDescription(v, description);
  ValidateMaxSessionDuration(v, max_session_duration);
  RETURN_IF_ERROR(v.ToStatus());
  Role out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord r, impl_->LoadRole(tx, role_name));
    if (description) r.description = description;
    if (max_session_duration) r.max_session_duration = *max_session_duration;
    RETURN_IF_ERROR(tx.Put(kRolesTable, Lower(r.name), EncodeRoleRecord(r)));
    ASSIGN_OR_RETURN(out, impl_->ShownRole(tx, r));
    return Status::Ok();
  }));
  impl_->Invalidate();
  return out;
}

Status IdentityService::DeleteRole(std::string_view role_name) {
  errors::Validation v;
  ValidateRoleName(v, role_name);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(RoleRecord role, impl_->LoadRole(tx, role_name));
    const std::string key = Lower(role.name);
    ASSIGN_OR_RETURN(auto policies, tx.Scan(kRolePoliciesTable, key + "/", "", 1));
    if (!policies.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must delete policies first.");
    }
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kRoleAttachedTable, key + "/", "", 1));
    if (!attached.empty()) {
      return errors::DeleteConflict("Cannot delete entity, must detach all policies first.");
    }
    RETURN_IF_ERROR(
        impl_->KeepDeleted(tx, impl_->RoleArn(role.path, role.name), role.id, role.created));
    RETURN_IF_ERROR(tx.Delete(kRoleLastUsedTable, key));
    return tx.Delete(kRolesTable, key);
  }));
  impl_->Invalidate();
  return Status::Ok();
}

// ---- inline policies ----------------------------------------------------------------------

Status IdentityService::PutUserPolicy(std::string_view user_name, std::string_view policy_name,
                                      std::string_view policy_document) {
  return impl_->PutPolicy(kUserKind, user_name, policy_name, policy_document);
}
Result<InlinePolicy> IdentityService::GetUserPolicy(std::string_view user_name,
                                                    std::string_view policy_name) {
  return impl_->GetPolicy(kUserKind, user_name, policy_name);
}
Result<ListPolicyNamesResult> IdentityService::ListUserPolicies(std::string_view user_name,
                                                                const Page& page) {
  return impl_->ListPolicies(kUserKind, user_name, page);
}
Status IdentityService::DeleteUserPolicy(std::string_view user_name, std::string_view policy_name) {
  return impl_->DeletePolicy(kUserKind, user_name, policy_name);
}

Status IdentityService::PutRolePolicy(std::string_view role_name, std::string_view policy_name,
                                      std::string_view policy_document) {
  return impl_->PutPolicy(kRoleKind, role_name, policy_name, policy_document);
}
Result<InlinePolicy> IdentityService::GetRolePolicy(std::string_view role_name,
                                                    std::string_view policy_name) {
  return impl_->GetPolicy(kRoleKind, role_name, policy_name);
}
Result<ListPolicyNamesResult> IdentityService::ListRolePolicies(std::string_view role_name,
                                                                const Page& page) {
  return impl_->ListPolicies(kRoleKind, role_name, page);
}
Status IdentityService::DeleteRolePolicy(std::string_view role_name, std::string_view policy_name) {
  return impl_->DeletePolicy(kRoleKind, role_name, policy_name);
}

// ---- managed policies ----------------------------------------------------------------------

std::string IdentityService::PolicyArn(std::string_view path, std::string_view name) const {
  return impl_->PolicyArn(path, name);
}
Result<std::string> IdentityService::ArnOfPolicy(std::string_view policy_arn) {
  return std::string(policy_arn);
}

Result<ManagedPolicy> IdentityService::CreatePolicy(const CreatePolicyRequest& req) {
  errors::Validation v;
  ValidatePolicyName(v, req.policy_name);
  ValidatePolicyPath(v, "path", req.path);
  ValidatePolicyDocument(v, "policyDocument", req.policy_document);
  ValidatePolicyDescription(v, req.description);
  ValidateTags(v, req.tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(req.tags));
  RETURN_IF_ERROR(impl_->CheckManagedDocument(req.policy_document));
  ManagedPolicyRecord r;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto existing, tx.Get(kPoliciesTable, Lower(req.policy_name)));
    if (existing) return errors::PolicyExists(req.policy_name);
    const int limit = impl_->options_.max_managed_policies;
    ASSIGN_OR_RETURN(auto all, tx.Scan(kPoliciesTable, "", "", static_cast<size_t>(limit) + 1));
    if (all.size() >= static_cast<size_t>(limit)) {
      return errors::QuotaExceeded("PoliciesPerAccount", limit);
    }
    const TimePoint now = impl_->clock_.Now();
    r.name = req.policy_name;
    r.path = req.path.value_or("/");
    r.id = impl_->NewId("ANPA", kUniqueIdRandomChars);
    r.created = r.updated = now;
    r.description = req.description;
    r.tags = req.tags;
    r.default_version = "v1";
    r.next_version = 2;
    r.versions.push_back(PolicyVersionRecord{"v1", req.policy_document, now});
    return Impl::StorePolicy(tx, r);
  }));
  return impl_->ToManagedPolicy(r);
}

namespace {
Status ValidatePolicyArnOnly(std::string_view arn) {
  errors::Validation v;
  ValidatePolicyArn(v, arn);
  return v.ToStatus();
}
Status ValidatePolicyArnAndVersion(std::string_view arn, std::string_view version_id) {
  errors::Validation v;
  ValidatePolicyArn(v, arn);
  ValidateVersionId(v, version_id);
  return v.ToStatus();
}
}  // namespace

Result<ManagedPolicy> IdentityService::GetPolicy(std::string_view policy_arn) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  ManagedPolicy out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    out = impl_->ToManagedPolicy(r);
    return Status::Ok();
  }));
  return out;
}

Result<ListPoliciesResult> IdentityService::ListPolicies(const ListPoliciesRequest& req) {
  errors::Validation v;
  if (req.scope) v.Enum("scope", *req.scope, {"All", "AWS", "Local"});
  ValidatePolicyPath(v, "pathPrefix", req.path_prefix);
  if (req.policy_usage_filter) {
    v.Enum("policyUsageFilter", *req.policy_usage_filter,
           {"PermissionsPolicy", "PermissionsBoundary"});
  }
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(req.page));
  ListPoliciesResult out;
  // coffer has no AWS managed policies and sets no permissions boundaries.
  if (req.scope == "AWS" || req.policy_usage_filter == "PermissionsBoundary") return out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    auto decode = [&](std::string_view value) -> Result<ManagedPolicy> {
      ASSIGN_OR_RETURN(ManagedPolicyRecord r, DecodeManagedPolicyRecord(value));
      return impl_->ToManagedPolicy(r);
    };
    std::function<bool(const ManagedPolicy&)> attached;
    if (req.only_attached) attached = [](const ManagedPolicy& p) { return p.attachment_count > 0; };
    return impl_->ListPage(tx, kPoliciesTable, req.path_prefix, req.page, size, decode,
                           out.policies, out.is_truncated, out.marker, attached);
  }));
  return out;
}

Status IdentityService::DeletePolicy(std::string_view policy_arn) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    // The index as well as the count: attachments are kept by name, and a policy
    // created later under this name must not inherit any.
    ASSIGN_OR_RETURN(auto attached, tx.Scan(kPolicyEntitiesTable, Lower(r.name) + "/", "", 1));
    if (r.attachments > 0 || !attached.empty()) {
      return errors::DeleteConflict("Cannot delete a policy attached to entities.");
    }
    if (r.versions.size() > 1) {
      return errors::DeleteConflict(
          "This policy has more than one version. Before you delete a policy, you must delete "
          "the policy's versions. The default version is deleted with the policy.");
    }
    return tx.Delete(kPoliciesTable, Lower(r.name));
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Result<PolicyVersion> IdentityService::CreatePolicyVersion(std::string_view policy_arn,
                                                           std::string_view document,
                                                           bool set_as_default) {
  errors::Validation v;
  ValidatePolicyArn(v, policy_arn);
  ValidatePolicyDocument(v, "policyDocument", document);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(impl_->CheckManagedDocument(document));
  PolicyVersion out;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    const int limit = impl_->options_.max_policy_versions;
    if (r.versions.size() >= static_cast<size_t>(limit)) {
      return errors::LimitExceeded("A managed policy can have up to " + std::to_string(limit) +
                                   " versions. Before you create a new version, you must delete "
                                   "an existing version.");
    }
    const TimePoint now = impl_->clock_.Now();
    PolicyVersionRecord version{"v" + std::to_string(r.next_version++), std::string(document), now};
    if (set_as_default) r.default_version = version.id;
    r.updated = now;
    out = PolicyVersion{"", version.id, set_as_default, now};
    r.versions.push_back(std::move(version));
    return Impl::StorePolicy(tx, r);
  }));
  if (set_as_default) impl_->Invalidate();
  return out;
}

Result<PolicyVersion> IdentityService::GetPolicyVersion(std::string_view policy_arn,
                                                        std::string_view version_id) {
  RETURN_IF_ERROR(ValidatePolicyArnAndVersion(policy_arn, version_id));
  PolicyVersion out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    const PolicyVersionRecord* found = Impl::FindVersion(r, version_id);
    if (!found) return errors::NoSuchPolicyVersion(policy_arn, version_id);
    out = PolicyVersion{found->document, found->id, found->id == r.default_version, found->created};
    return Status::Ok();
  }));
  return out;
}

Result<ListPolicyVersionsResult> IdentityService::ListPolicyVersions(std::string_view policy_arn,
                                                                     const Page& page) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  std::vector<PolicyVersion> all;
  std::string scope;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    scope = "policy-versions/" + r.id;
    // Newest first, as IAM lists them.
    for (auto it = r.versions.rbegin(); it != r.versions.rend(); ++it) {
      all.push_back(PolicyVersion{"", it->id, it->id == r.default_version, it->created});
    }
    return Status::Ok();
  }));
  // The marker is the version id shown last; the next page starts at the first
  // older version (ids are never used twice), also when that one was deleted since.
  ASSIGN_OR_RETURN(std::string after, MarkerPosition(page, scope));
  auto number = [](std::string_view id) {
    long n = 0;
    std::from_chars(id.data() + 1, id.data() + id.size(), n);
    return n;
  };
  size_t start = 0;
  if (!after.empty()) {
    if (!VersionIdMatches(after)) return errors::ValidationError("Invalid Marker.");
    while (start < all.size() && number(all[start].version_id) >= number(after)) ++start;
  }
  ListPolicyVersionsResult out;
  for (size_t i = start; i < all.size(); ++i) {
    if (out.versions.size() == size) {
      out.is_truncated = true;
      out.marker = EncodeListMarker(scope, out.versions.back().version_id);
      break;
    }
    out.versions.push_back(all[i]);
  }
  return out;
}

Status IdentityService::DeletePolicyVersion(std::string_view policy_arn,
                                            std::string_view version_id) {
  RETURN_IF_ERROR(ValidatePolicyArnAndVersion(policy_arn, version_id));
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    if (!Impl::FindVersion(r, version_id)) {
      return errors::NoSuchPolicyVersion(policy_arn, version_id);
    }
    if (r.default_version == version_id) {
      return errors::DeleteConflict("Cannot delete the default version of a policy.");
    }
    std::erase_if(r.versions, [&](const PolicyVersionRecord& p) { return p.id == version_id; });
    return Impl::StorePolicy(tx, r);
  });
}

Status IdentityService::SetDefaultPolicyVersion(std::string_view policy_arn,
                                                std::string_view version_id) {
  RETURN_IF_ERROR(ValidatePolicyArnAndVersion(policy_arn, version_id));
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    if (!Impl::FindVersion(r, version_id)) {
      return errors::NoSuchPolicyVersion(policy_arn, version_id);
    }
    r.default_version = std::string(version_id);
    return Impl::StorePolicy(tx, r);
  }));
  impl_->Invalidate();
  return Status::Ok();
}

Status IdentityService::AttachUserPolicy(std::string_view user_name, std::string_view policy_arn) {
  return impl_->SetAttached(kUserKind, user_name, policy_arn, true);
}
Status IdentityService::DetachUserPolicy(std::string_view user_name, std::string_view policy_arn) {
  return impl_->SetAttached(kUserKind, user_name, policy_arn, false);
}
Status IdentityService::AttachRolePolicy(std::string_view role_name, std::string_view policy_arn) {
  return impl_->SetAttached(kRoleKind, role_name, policy_arn, true);
}
Status IdentityService::DetachRolePolicy(std::string_view role_name, std::string_view policy_arn) {
  return impl_->SetAttached(kRoleKind, role_name, policy_arn, false);
}
Result<ListAttachedPoliciesResult> IdentityService::ListAttachedUserPolicies(
    std::string_view user_name, const std::optional<std::string>& path_prefix, const Page& page) {
  return impl_->ListAttached(kUserKind, user_name, path_prefix, page);
}
Result<ListAttachedPoliciesResult> IdentityService::ListAttachedRolePolicies(
    std::string_view role_name, const std::optional<std::string>& path_prefix, const Page& page) {
  return impl_->ListAttached(kRoleKind, role_name, path_prefix, page);
}

Result<ListEntitiesForPolicyResult> IdentityService::ListEntitiesForPolicy(
    const ListEntitiesForPolicyRequest& req) {
  errors::Validation v;
  ValidatePolicyArn(v, req.policy_arn);
  if (req.entity_filter) {
    v.Enum("entityFilter", *req.entity_filter,
           {"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"});
  }
  ValidatePathPrefix(v, req.path_prefix);
  if (req.policy_usage_filter) {
    v.Enum("policyUsageFilter", *req.policy_usage_filter,
           {"PermissionsPolicy", "PermissionsBoundary"});
  }
  RETURN_IF_ERROR(v.ToStatus());
  ASSIGN_OR_RETURN(size_t size, PageSize(req.page));
  const bool users = !req.entity_filter || *req.entity_filter == "User";
  const bool roles = !req.entity_filter || *req.entity_filter == "Role";
  ListEntitiesForPolicyResult out;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, req.policy_arn));
    if (req.policy_usage_filter == "PermissionsBoundary") return Status::Ok();
    const std::string prefix = Lower(r.name) + "/";
    const std::string scope = "policy-entities/" + r.id;
    ASSIGN_OR_RETURN(std::string after, MarkerPosition(req.page, scope));
    ASSIGN_OR_RETURN(auto entries,
                     tx.Scan(kPolicyEntitiesTable, prefix, after.empty() ? "" : prefix + after, 0));
    size_t shown = 0;
    std::string last;
    for (const auto& e : entries) {
      const std::string rest = e.key.substr(prefix.size());  // user/<name> or role/<name>
      const bool user = rest.starts_with("user/");
      if (user ? !users : !roles) continue;
      const std::string name = rest.substr(5);
      PolicyEntity entity;
      std::string path;
      if (user) {
        ASSIGN_OR_RETURN(auto u, impl_->FindUser(tx, name));
        if (!u)
          return InternalError("managed policy " + r.name + " is attached to no user " + name);
        entity = PolicyEntity{u->name, u->id};
        path = u->path;
      } else {
        ASSIGN_OR_RETURN(auto ro, impl_->FindRole(tx, name));
        if (!ro)
          return InternalError("managed policy " + r.name + " is attached to no role " + name);
        entity = PolicyEntity{ro->name, ro->id};
        path = ro->path;
      }
      if (req.path_prefix && !path.starts_with(*req.path_prefix)) continue;
      if (shown == size) {
        out.is_truncated = true;
        out.marker = EncodeListMarker(scope, last);
        break;
      }
      (user ? out.users : out.roles).push_back(std::move(entity));
      ++shown;
      last = rest;
    }
    return Status::Ok();
  }));
  return out;
}

// ---- tags of managed policies -----------------------------------------------------------------

Status IdentityService::TagPolicy(std::string_view policy_arn, const std::vector<Tag>& tags) {
  errors::Validation v;
  ValidatePolicyArn(v, policy_arn);
  ValidateTags(v, tags);
  RETURN_IF_ERROR(v.ToStatus());
  RETURN_IF_ERROR(CheckTagKeys(tags));
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    RETURN_IF_ERROR(MergeTags(r.tags, tags, "TagsPerPolicy"));
    return Impl::StorePolicy(tx, r);
  });
}

Status IdentityService::UntagPolicy(std::string_view policy_arn,
                                    const std::vector<std::string>& tag_keys) {
  errors::Validation v;
  ValidatePolicyArn(v, policy_arn);
  ValidateTagKeys(v, tag_keys);
  RETURN_IF_ERROR(v.ToStatus());
  return impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    std::erase_if(r.tags, [&](const Tag& t) {
      return std::any_of(tag_keys.begin(), tag_keys.end(),
                         [&](const std::string& k) { return Lower(k) == Lower(t.key); });
    });
    return Impl::StorePolicy(tx, r);
  });
}

Result<ListTagsResult> IdentityService::ListPolicyTags(std::string_view policy_arn,
                                                       const Page& page) {
  RETURN_IF_ERROR(ValidatePolicyArnOnly(policy_arn));
  ASSIGN_OR_RETURN(size_t size, PageSize(page));
  std::vector<Tag> all;
  std::string scope;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(ManagedPolicyRecord r, impl_->LoadPolicy(tx, policy_arn));
    all = std::move(r.tags);
    scope = "policy-tags/" + r.id;
    return Status::Ok();
  }));
  return Impl::PageOfTags(all, page, size, scope);
}

// ---- tags of users and roles ------------------------------------------------------------------

Status IdentityService::TagUser(std::string_view user_name, const std::vector<Tag>& tags) {
  return impl_->SetTags(true, user_name, tags);
}
Status IdentityService::UntagUser(std::string_view user_name,
                                  const std::vector<std::string>& tag_keys) {
  return impl_->RemoveTags(true, user_name, tag_keys);
}
Result<ListTagsResult> IdentityService::ListUserTags(std::string_view user_name, const Page& page) {
  return impl_->TagsPage(true, user_name, page);
}
Status IdentityService::TagRole(std::string_view role_name, const std::vector<Tag>& tags) {
  return impl_->SetTags(false, role_name, tags);
}
Status IdentityService::UntagRole(std::string_view role_name,
                                  const std::vector<std::string>& tag_keys) {
  return impl_->RemoveTags(false, role_name, tag_keys);
}
Result<ListTagsResult> IdentityService::ListRoleTags(std::string_view role_name, const Page& page) {
  return impl_->TagsPage(false, role_name, page);
}

Result<std::vector<Tag>> IdentityService::PrincipalTagsOf(const Principal& principal) {
  std::vector<Tag> tags;
  if (principal.type != PrincipalType::kIamUser && principal.type != PrincipalType::kAssumedRole) {
    return tags;
  }
  const bool user = principal.type == PrincipalType::kIamUser;
  const std::string_view name = LastSegment(user ? principal.arn : principal.role_arn);
  const std::string_view expected_id =
      user ? std::string_view(principal.user_id)
           : std::string_view(principal.user_id).substr(0, principal.user_id.find(':'));
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, impl_->FindTagged(tx, user, name));
    if (found && found->id == expected_id) tags = std::move(found->tags);
    return Status::Ok();
  }));
  return tags;
}

Result<std::vector<Tag>> IdentityService::ResourceTagsOf(std::string_view arn) {
  std::vector<Tag> tags;
  const std::string prefix = "arn:aws:iam::" + impl_->options_.account_id + ":";
  if (arn.starts_with(prefix + "policy/")) {
    RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
      ASSIGN_OR_RETURN(auto found, impl_->FindPolicy(tx, arn));
      if (found) tags = std::move(found->tags);
      return Status::Ok();
    }));
    return tags;
  }
  const bool user = arn.starts_with(prefix + "user/");
  if (!user && !arn.starts_with(prefix + "role/")) return tags;
  const std::string_view name = LastSegment(arn);
  if (name.empty()) return tags;
  RETURN_IF_ERROR(impl_->store_.View([&](const ReadTransaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto found, impl_->FindTagged(tx, user, name));
    if (found && found->arn == arn) tags = std::move(found->tags);  // the same path too
    return Status::Ok();
  }));
  return tags;
}

void CheckIamRequestMembers(std::string_view action, const IamRequestMembers& m,
                            ValidationErrors& v) {
  if (m.user_name) {
    if (action == "CreateUser") {
      ValidateNewUserName(v, *m.user_name);
    } else {
      ValidateUserName(v, *m.user_name);
    }
  }
  if (m.role_name) ValidateRoleName(v, *m.role_name);
  // Managed policies' paths follow policyPathType; ListEntitiesForPolicy's
  // PathPrefix (of users and roles) pathType.
  const bool policy_path = action == "CreatePolicy" || action == "ListPolicies" ||
                           action == "ListAttachedUserPolicies" ||
                           action == "ListAttachedRolePolicies";
  if (policy_path) {
    ValidatePolicyPath(v, "path", m.path);
    ValidatePolicyPath(v, "pathPrefix", m.path_prefix);
  } else {
    ValidatePath(v, m.path);
    ValidatePathPrefix(v, m.path_prefix);
  }
  if (m.assume_role_policy_document) {
    ValidatePolicyDocument(v, "assumeRolePolicyDocument", *m.assume_role_policy_document);
  }
  if (action == "CreatePolicy") {
    ValidatePolicyDescription(v, m.description);
  } else {
    ValidateDescription(v, m.description);
  }
  ValidateMaxSessionDuration(v, m.max_session_duration);
  if (m.policy_name) ValidatePolicyName(v, *m.policy_name);
  if (m.policy_document) ValidatePolicyDocument(v, "policyDocument", *m.policy_document);
  if (m.policy_arn) ValidatePolicyArn(v, *m.policy_arn);
  if (m.version_id) ValidateVersionId(v, *m.version_id);
  if (m.scope) v.Enum("scope", *m.scope, {"All", "AWS", "Local"});
  if (m.policy_usage_filter) {
    v.Enum("policyUsageFilter", *m.policy_usage_filter,
           {"PermissionsPolicy", "PermissionsBoundary"});
  }
  if (m.entity_filter) {
    v.Enum("entityFilter", *m.entity_filter,
           {"User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"});
  }
  if (m.access_key_id) ValidateAccessKeyId(v, *m.access_key_id);
  if (m.status) ValidateStatus(v, *m.status);
  if (m.tags) ValidateTags(v, *m.tags);
  if (m.tag_keys) ValidateTagKeys(v, *m.tag_keys);
  ValidatePage(v, m.page);
}

void CheckAssumeRoleRequest(const AssumeRoleRequest& req, ValidationErrors& v) {
  if (!v.Reported("roleArn")) {
    v.Length("roleArn", req.role_arn, 20, 2048);
    v.Pattern("roleArn", req.role_arn, ArnMatches(req.role_arn), kArnPattern);
  }
  if (!v.Reported("roleSessionName")) {
    v.Length("roleSessionName", req.role_session_name, 2, 64);
    v.Pattern("roleSessionName", req.role_session_name,
              AllCodePoints(req.role_session_name, IsNameChar), kSessionNamePattern);
  }
  if (req.duration_seconds) {
    v.Range("durationSeconds", *req.duration_seconds, kMinSessionDuration, kMaxSessionDuration);
  }
  if (req.external_id) {
    v.Length("externalId", *req.external_id, 2, 1224);
    v.Pattern("externalId", *req.external_id, ExternalIdMatches(*req.external_id),
              kExternalIdPattern);
  }
}

void CheckGetSessionTokenDuration(std::optional<int> duration_seconds, ValidationErrors& v) {
  if (duration_seconds && !v.Reported("durationSeconds")) {
    v.Range("durationSeconds", *duration_seconds, kMinSessionDuration, kUserSessionMax);
  }
}

Status CheckAssumeRoleRequest(const AssumeRoleRequest& req) {
  errors::Validation v;
  CheckAssumeRoleRequest(req, v);
  return v.ToStatus();
}

Result<AssumeRoleResult> IdentityService::AssumeRole(const Principal& caller,
                                                     const AssumeRoleRequest& req) {
  RETURN_IF_ERROR(CheckAssumeRoleRequest(req));
  // STS refuses the root before any policy is evaluated.
  if (caller.type == PrincipalType::kRoot) {
    return errors::AccessDenied("Roles may not be assumed by root accounts.");
  }
  const int duration = req.duration_seconds.value_or(kDefaultSessionDuration);
  if (caller.type == PrincipalType::kAssumedRole && duration > kRoleChainingLimit) {
    return errors::ValidationError(
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
        "role chaining.");
  }

  AssumeRoleResult out;
  SessionRecord s;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    ASSIGN_OR_RETURN(auto role, impl_->FindRoleByArn(tx, req.role_arn));
    if (!role) {
      // As AWS: a role that does not exist is not distinguished from a refusal.
      return errors::AccessDenied(
          "User: " + caller.arn +
          " is not authorized to perform: sts:AssumeRole on resource: " + req.role_arn);
    }
    if (duration > role->max_session_duration) {
      return errors::ValidationError(
          "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    }
    s.role_arn = req.role_arn;
    s.role_id = role->id;
    s.role_created = role->created;
    s.session_name = req.role_session_name;
    return impl_->IssueSession(tx, s, caller.arn, duration, out.secret_access_key,
                               out.session_token);
  }));
  Principal session = Principal::AssumedRole(s.role_arn, s.session_name, s.role_id);
  out.assumed_role_arn = session.arn;
  out.assumed_role_id = session.user_id;
  out.access_key_id = s.id;
  out.expiration = s.expiration;
  return out;
}

Result<SessionTokenResult> IdentityService::GetSessionToken(const Principal& caller,
                                                            std::optional<int> duration_seconds) {
  errors::Validation v;
  CheckGetSessionTokenDuration(duration_seconds, v);
  RETURN_IF_ERROR(v.ToStatus());
  if (caller.session_issued || caller.type == PrincipalType::kAssumedRole ||
      caller.type == PrincipalType::kAwsService) {
    return errors::AccessDenied("Cannot call GetSessionToken with session credentials");
  }
  const bool root = caller.type == PrincipalType::kRoot;
  // The root's session: an hour at most, whatever was asked (sts-service-2).
  const int duration = root ? std::min(duration_seconds.value_or(kRootSessionMax), kRootSessionMax)
                            : duration_seconds.value_or(kUserSessionDefault);
  SessionTokenResult out;
  SessionRecord s;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    if (!root) {
      ASSIGN_OR_RETURN(auto user, impl_->FindUser(tx, LastSegment(caller.arn)));
      if (!user || user->id != caller.user_id) {
        return errors::AccessDenied("Cannot call GetSessionToken: the user no longer exists");
      }
      s.user_name = user->name;
      s.user_id = user->id;
    }
    s.root = root;
    return impl_->IssueSession(tx, s, caller.arn, duration, out.secret_access_key,
                               out.session_token);
  }));
  out.access_key_id = s.id;
  out.expiration = s.expiration;
  return out;
}

Result<int> IdentityService::RunScheduledWork() {
  RETURN_IF_ERROR(FlushKeyUses());
  const TimePoint cutoff = impl_->clock_.Now() - impl_->options_.expired_session_retention;
  int removed = 0;
  RETURN_IF_ERROR(impl_->store_.Update([&](Transaction& tx) -> Status {
    removed = 0;
    ASSIGN_OR_RETURN(auto sessions, tx.Scan(kSessionsTable, "", "", 0));
    for (const auto& e : sessions) {
      ASSIGN_OR_RETURN(SessionRecord s, DecodeSessionRecord(e.value));
      if (s.expiration > cutoff) continue;
      RETURN_IF_ERROR(tx.Delete(kSessionsTable, e.key));
      ++removed;
    }
    return Status::Ok();
  }));
  if (removed > 0) impl_->Invalidate();
  return removed;
}

}  // namespace coffer::iam
