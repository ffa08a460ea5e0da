#include "policy/policy.h"

#include <algorithm>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "common/bytes.h"
#include "policy/values.h"

namespace coffer::policy {
namespace {

using Json = nlohmann::json;

// Deep enough for any policy (Statement[].Condition.Operator.Key[] is 6 levels),
// shallow enough that no document can exhaust the stack.
constexpr int kMaxDepth = 16;

Status Malformed(std::string message) {
  return Status(StatusCode::kInvalidArgument, std::string(kMalformedPolicyDocument),
                std::move(message));
}

std::string Quote(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

// A first pass over the text with nlohmann's SAX interface, for what the DOM
// cannot tell: duplicate keys (nlohmann keeps the last, so {"Effect":"Allow",
// "Effect":"Deny"} would silently mean Deny — AWS rejects it) and nesting depth.
class StructureChecker final : public nlohmann::json_sax<Json> {
 public:
  const std::string& error() const { return error_; }

  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }

  bool start_object(std::size_t) override { return Open(false); }
  bool key(string_t& k) override {
    Frame& f = frames_.back();
    f.key = k;
    if (!f.keys.insert(k).second) {
      error_ = "Policy has a duplicate key " + Quote(k) + " at " + Path();
      return false;
    }
    return true;
  }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(true); }
  bool end_array() override { return Close(); }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // ex.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: …".
    std::string what = ex.what();
    size_t colon = what.find("] ");
    error_ = "Policy is not valid JSON (byte " + std::to_string(position) +
             "): " + (colon == std::string::npos ? what : what.substr(colon + 2));
    return false;
  }

 private:
  struct Frame {
    bool array = false;
    long index = -1;
    std::string key;
    std::set<std::string> keys;
  };

  bool Value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }
  bool Open(bool array) {
    Value();
    if (frames_.size() >= kMaxDepth) {
      error_ =
          "Policy is nested more than " + std::to_string(kMaxDepth) + " levels deep at " + Path();
      return false;
    }
    frames_.push_back(Frame{array});
    return true;
  }
  bool Close() {
    frames_.pop_back();
    return true;
  }
  std::string Path() const {
    std::string out;
    for (const Frame& f : frames_) {
      if (f.array) {
        out += "[" + std::to_string(f.index < 0 ? 0 : f.index) + "]";
      } else if (!f.key.empty() || !out.empty()) {
        if (!out.empty()) out += '.';
        out += f.key;
      }
    }
    return out.empty() ? "the top level" : out;
  }

  std::vector<Frame> frames_;
  std::string error_;
};

std::string TypeName(const Json& v) { return v.type_name(); }

// A string or a non-empty array of non-empty strings: the shape of every list.
Result<std::vector<std::string>> StringList(const Json& v, std::string_view what) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    if (v.empty()) return Malformed(std::string(what) + " must not be an empty array");
    for (const Json& e : v) {
      if (!e.is_string()) {
        return Malformed(std::string(what) + " must be a string or an array of strings, found " +
                         TypeName(e) + " in the array");
      }
      out.push_back(e.get<std::string>());
    }
  } else {
    return Malformed(std::string(what) + " must be a string or an array of strings, not " +
                     TypeName(v));
  }
  for (const std::string& s : out) {
    if (s.empty()) return Malformed(std::string(what) + " must not contain an empty string");
  }
  return out;
}

bool IsDigits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// "user/NAME", "role/path/NAME": a kind, then non-empty '/'-separated parts.
bool IsPathName(std::string_view resource, std::string_view kind, size_t min_parts) {
  if (resource.substr(0, kind.size() + 1) != std::string(kind) + "/") return false;
  std::string_view rest = resource.substr(kind.size() + 1);
  size_t parts = 0;
  while (true) {
    size_t slash = rest.find('/');
    if (rest.substr(0, slash).empty()) return false;
    ++parts;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return parts >= min_parts;
}

Status CheckAwsPrincipal(std::string_view p) {
  if (p == "*" || IsDigits(p, 12)) return Status::Ok();
  if (p.find_first_of("*?") != std::string_view::npos) {
    return Malformed("invalid principal " + Quote(p) +
                     ": wildcards are not allowed in principals (use \"*\" alone)");
  }
  auto parts = internal::SplitArn(p);
  bool ok = parts.size() == 6 && parts[0] == "arn" && parts[1] == "aws" && parts[3].empty() &&
            IsDigits(parts[4], 12);
  if (ok && parts[2] == "iam") {
    ok = parts[5] == "root" || IsPathName(parts[5], "user", 1) || IsPathName(parts[5], "role", 1);
  } else if (ok && parts[2] == "sts") {
    // assumed-role/ROLE/SESSION: exactly the role name (no path) and the session.
    ok = IsPathName(parts[5], "assumed-role", 2) &&
         std::count(parts[5].begin(), parts[5].end(), '/') == 2;
  } else {
    ok = false;
  }
  if (!ok) {
    return Malformed("invalid principal " + Quote(p) +
                     ": must be \"*\", a 12-digit account id, arn:aws:iam::ACCOUNT:root, an IAM "
                     "user or role ARN, or arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION");
  }
  return Status::Ok();
}

Status CheckServicePrincipal(std::string_view s) {
  bool ok = s.find('.') != std::string_view::npos;
  for (char c : s) ok = ok && (IsAlnum(c) || c == '.' || c == '-');
  if (!ok) {
    return Malformed("invalid service principal " + Quote(s) +
                     ": must be a service name such as \"rds.amazonaws.com\"");
  }
  return Status::Ok();
}

Result<PrincipalSpec> ParsePrincipal(const Json& v, std::string_view field) {
  PrincipalSpec spec;
  if (v.is_string()) {
    if (v.get<std::string>() != "*") {
      return Malformed(std::string(field) +
                       " must be \"*\" or an object such as {\"AWS\": \"arn:aws:iam::…\"}");
    }
    spec.wildcard = true;
    return spec;
  }
  if (!v.is_object()) {
    return Malformed(std::string(field) + " must be \"*\" or an object, not " + TypeName(v));
  }
  if (v.empty()) return Malformed(std::string(field) + " must name at least one principal");
  for (const auto& [type, value] : v.items()) {
    std::string what = std::string(field) + "." + type;
    if (type == "AWS") {
      ASSIGN_OR_RETURN(std::vector<std::string> list, StringList(value, what));
      for (const std::string& p : list) {
        RETURN_IF_ERROR(CheckAwsPrincipal(p).WithContext(what));
        if (p == "*") {
          spec.wildcard = true;
        } else {
          spec.aws.push_back(p);
        }
      }
    } else if (type == "Service") {
      ASSIGN_OR_RETURN(std::vector<std::string> list, StringList(value, what));
      for (const std::string& s : list) {
        RETURN_IF_ERROR(CheckServicePrincipal(s).WithContext(what));
        spec.services.push_back(s);
      }
    } else if (type == "Federated" || type == "CanonicalUser") {
      return Malformed(what + ": " + type + " principals are not supported");
    } else {
      return Malformed(std::string(field) + ": unknown principal type " + Quote(type) +
                       " (expected \"AWS\" or \"Service\")");
    }
  }
  return spec;
}

Status CheckAction(std::string_view a) {
  if (a == "*") return Status::Ok();
  size_t colon = a.find(':');
  bool ok = colon != std::string_view::npos && colon > 0 && colon + 1 < a.size();
  for (size_t i = 0; ok && i < a.size(); ++i) {
    char c = a[i];
    ok = IsAlnum(c) || c == '*' || c == '?' || (i < colon && c == '-') || i == colon;
  }
  if (!ok) {
    return Malformed("invalid action " + Quote(a) +
                     ": must be \"*\" or \"service:action\" (for example \"kms:Encrypt\")");
  }
  return Status::Ok();
}

Status CheckResource(std::string_view r) {
  if (r == "*") return Status::Ok();
  auto parts = internal::SplitArn(r);
  if (parts.size() < 6 || parts[0] != "arn" || parts[1].empty() || parts[2].empty() ||
      parts[5].empty()) {
    return Malformed("invalid resource " + Quote(r) +
                     ": must be \"*\" or an ARN (arn:partition:service:region:account:resource)");
  }
  return Status::Ok();
}

struct OperatorName {
  std::string_view name;
  ConditionOperator op;
};
constexpr OperatorName kOperators[] = {
    {"StringEquals", ConditionOperator::kStringEquals},
    {"StringNotEquals", ConditionOperator::kStringNotEquals},
    {"StringEqualsIgnoreCase", ConditionOperator::kStringEqualsIgnoreCase},
    {"StringNotEqualsIgnoreCase", ConditionOperator::kStringNotEqualsIgnoreCase},
    {"StringLike", ConditionOperator::kStringLike},
    {"StringNotLike", ConditionOperator::kStringNotLike},
    {"ArnEquals", ConditionOperator::kArnEquals},
    {"ArnLike", ConditionOperator::kArnLike},
    {"ArnNotEquals", ConditionOperator::kArnNotEquals},
    {"ArnNotLike", ConditionOperator::kArnNotLike},
    {"NumericEquals", ConditionOperator::kNumericEquals},
    {"NumericNotEquals", ConditionOperator::kNumericNotEquals},
    {"NumericLessThan", ConditionOperator::kNumericLessThan},
    {"NumericLessThanEquals", ConditionOperator::kNumericLessThanEquals},
    {"NumericGreaterThan", ConditionOperator::kNumericGreaterThan},
    {"NumericGreaterThanEquals", ConditionOperator::kNumericGreaterThanEquals},
    {"DateEquals", ConditionOperator::kDateEquals},
    {"DateNotEquals", ConditionOperator::kDateNotEquals},
    {"DateLessThan", ConditionOperator::kDateLessThan},
    {"DateLessThanEquals", ConditionOperator::kDateLessThanEquals},
    {"DateGreaterThan", ConditionOperator::kDateGreaterThan},
    {"DateGreaterThanEquals", ConditionOperator::kDateGreaterThanEquals},
    {"Bool", ConditionOperator::kBool},
    {"Null", ConditionOperator::kNull},
    {"IpAddress", ConditionOperator::kIpAddress},
    {"NotIpAddress", ConditionOperator::kNotIpAddress},
    {"BinaryEquals", ConditionOperator::kBinaryEquals},
};

// "ForAnyValue:StringLikeIfExists" → kStringLike, kForAnyValue, if_exists.
// Operator names are case-sensitive, as AWS's.
Status ParseOperator(std::string_view text, Condition& c) {
  std::string_view rest = text;
  constexpr std::string_view kAny = "ForAnyValue:", kAll = "ForAllValues:", kIfExists = "IfExists";
  if (rest.starts_with(kAny)) {
    c.set_operator = SetOperator::kForAnyValue;
    rest.remove_prefix(kAny.size());
  } else if (rest.starts_with(kAll)) {
    c.set_operator = SetOperator::kForAllValues;
    rest.remove_prefix(kAll.size());
  }
  if (rest.ends_with(kIfExists)) {
    c.if_exists = true;
    rest.remove_suffix(kIfExists.size());
  }
  for (const OperatorName& o : kOperators) {
    // Null takes no IfExists: it is itself the test for existence.
    if (o.name == rest && !(o.op == ConditionOperator::kNull && c.if_exists)) {
      c.op = o.op;
      c.operator_text = std::string(text);
      return Status::Ok();
    }
  }
  return Malformed("unknown condition operator " + Quote(text));
}

// Numbers and booleans become their JSON text, so "5" and 5 mean the same.
Result<std::string> ConditionValue(const Json& v, std::string_view what) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number()) return v.dump();
  return Malformed(std::string(what) + ": values must be strings, numbers or booleans, not " +
                   TypeName(v));
}

Status CheckTypedValue(const Condition& c, std::string_view value, std::string_view what) {
  auto bad = [&](std::string_view expected) {
    return Malformed(std::string(what) + ": " + Quote(value) + " is not " + std::string(expected));
  };
  switch (c.op) {
    case ConditionOperator::kNumericEquals:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kNumericLessThan:
    case ConditionOperator::kNumericLessThanEquals:
    case ConditionOperator::kNumericGreaterThan:
    case ConditionOperator::kNumericGreaterThanEquals:
      if (!internal::ParseNumber(value)) return bad("a number");
      break;
    case ConditionOperator::kDateEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kDateLessThan:
    case ConditionOperator::kDateLessThanEquals:
    case ConditionOperator::kDateGreaterThan:
    case ConditionOperator::kDateGreaterThanEquals:
      if (!internal::ParseDateMillis(value)) {
        return bad("a date (ISO 8601 such as 2019-07-16T12:00:00Z, or epoch seconds)");
      }
      break;
    case ConditionOperator::kBool:
    case ConditionOperator::kNull:
      if (!internal::ParseBool(value)) return bad("true or false");
      break;
    case ConditionOperator::kIpAddress:
    case ConditionOperator::kNotIpAddress:
      if (!internal::ParseIpBlock(value)) return bad("an IPv4 or IPv6 address or CIDR block");
      break;
    case ConditionOperator::kBinaryEquals:
      if (!Base64Decode(value).ok()) return bad("base64");
      break;
    default:
      break;
  }
  return Status::Ok();
}

Status CheckConditionKey(std::string_view key) {
  size_t colon = key.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == key.size()) {
    return Malformed("invalid condition key " + Quote(key) +
                     ": must be prefixed by a service, as in \"kms:EncryptionContextKeys\"");
  }
  return Status::Ok();
}

Result<std::vector<Condition>> ParseConditions(const Json& v) {
  if (!v.is_object()) return Malformed("Condition must be an object, not " + TypeName(v));
  std::vector<Condition> out;
  for (const auto& [op_text, body] : v.items()) {
    Condition proto;
    RETURN_IF_ERROR(ParseOperator(op_text, proto).WithContext("Condition"));
    std::string where = "Condition " + Quote(op_text);
    if (!body.is_object()) {
      return Malformed(where + " must map condition keys to values, not " + TypeName(body));
    }
    if (body.empty()) return Malformed(where + " must name at least one condition key");
    for (const auto& [key, values] : body.items()) {
      RETURN_IF_ERROR(CheckConditionKey(key).WithContext(where));
      std::string what = where + " key " + Quote(key);
      Condition c = proto;
      c.key = key;
      if (values.is_array()) {
        if (values.empty()) return Malformed(what + ": values must not be an empty array");
        for (const Json& e : values) {
          ASSIGN_OR_RETURN(std::string s, ConditionValue(e, what));
          c.values.push_back(std::move(s));
        }
      } else {
        ASSIGN_OR_RETURN(std::string s, ConditionValue(values, what));
        c.values.push_back(std::move(s));
      }
      for (const std::string& s : c.values) RETURN_IF_ERROR(CheckTypedValue(c, s, what));
      out.push_back(std::move(c));
    }
  }
  return out;
}

bool HoldsVariables(const Statement& st) {
  auto holds = [](const std::string& v) { return v.find("${") != std::string::npos; };
  if (std::any_of(st.resources.begin(), st.resources.end(), holds)) return true;
  return std::any_of(st.conditions.begin(), st.conditions.end(), [&](const Condition& c) {
    return TakesVariables(c.op) && std::any_of(c.values.begin(), c.values.end(), holds);
  });
}

Result<Statement> ParseStatement(const Json& s, PolicyKind kind) {
  if (!s.is_object()) return Malformed("must be an object, not " + TypeName(s));
  static const std::set<std::string, std::less<>> kFields = {
      "Sid",       "Effect",   "Principal",   "NotPrincipal", "Action",
      "NotAction", "Resource", "NotResource", "Condition"};
  for (const auto& [field, value] : s.items()) {
    if (!kFields.contains(field)) return Malformed("unknown field " + Quote(field));
  }
  auto has = [&](const char* f) { return s.contains(f); };
  Statement st;

  if (has("Sid")) {
    if (!s["Sid"].is_string()) return Malformed("Sid must be a string");
    st.sid = s["Sid"].get<std::string>();
    if (kind == PolicyKind::kIdentityPolicy) {
      for (char c : st.sid) {
        if (!IsAlnum(c)) return Malformed("Sid must contain only letters and digits");
      }
    }
  }

  if (!has("Effect")) return Malformed("missing Effect");
  const Json& effect = s["Effect"];
  if (effect == "Allow") {
    st.effect = Effect::kAllow;
  } else if (effect == "Deny") {
    st.effect = Effect::kDeny;
  } else {
    return Malformed("Effect must be \"Allow\" or \"Deny\", not " + effect.dump());
  }

  if (has("Principal") && has("NotPrincipal")) {
    return Malformed("has both Principal and NotPrincipal");
  }
  for (const char* field : {"Principal", "NotPrincipal"}) {
    if (!has(field)) continue;  // not in an identity policy (ProhibitedField)
    // IAM: NotPrincipal cannot be used in a role trust policy (it would let every
    // principal not named assume the role).
    if (kind == PolicyKind::kTrustPolicy && std::string_view(field) == "NotPrincipal") {
      return Malformed("NotPrincipal is not allowed in a trust policy");
    }
    ASSIGN_OR_RETURN(st.principal, ParsePrincipal(s[field], field));
    st.not_principal = std::string_view(field) == "NotPrincipal";
  }
  if (!st.principal && (kind == PolicyKind::kKeyPolicy || kind == PolicyKind::kTrustPolicy)) {
    return Malformed("missing Principal (a resource-based policy names who it applies to)");
  }

  // KMS (CreateKey, PutKeyPolicy): "If either of the required Resource or Action
  // elements are missing from a key policy statement, the policy statement has no
  // effect", and the policy is accepted. Such a statement names no action, or no
  // resource, so it applies to no request.
  const bool key_policy = kind == PolicyKind::kKeyPolicy;
  if (has("Action") && has("NotAction")) return Malformed("has both Action and NotAction");
  if (has("Action") || has("NotAction")) {
    const char* action_field = has("Action") ? "Action" : "NotAction";
    ASSIGN_OR_RETURN(st.actions, StringList(s[action_field], action_field));
    st.not_action = !has("Action");
    for (const std::string& a : st.actions) {
      RETURN_IF_ERROR(CheckAction(a).WithContext(action_field));
    }
  } else if (kind == PolicyKind::kIdentityPolicy || kind == PolicyKind::kTrustPolicy) {
    return Malformed("missing Action (or NotAction)");
  }

  if (has("Resource") && has("NotResource")) {
    return Malformed("has both Resource and NotResource");
  }
  st.has_resource = has("Resource") || has("NotResource");
  if (st.has_resource) {
    const char* field = has("Resource") ? "Resource" : "NotResource";  // not in a trust policy
    ASSIGN_OR_RETURN(st.resources, StringList(s[field], field));
    st.not_resource = !has("Resource");
    for (const std::string& r : st.resources) RETURN_IF_ERROR(CheckResource(r).WithContext(field));
  } else if (key_policy) {
    st.has_resource = true;  // and no resource listed: see Action above
  } else if (kind == PolicyKind::kIdentityPolicy) {
    return Malformed("missing Resource (or NotResource)");
  }

  if (has("Condition")) {
    ASSIGN_OR_RETURN(st.conditions, ParseConditions(s["Condition"]));
  }
  return st;
}

// A field the kind of policy may not have, in IAM's own words (which name no
// statement): a principal in an identity policy, a resource in a trust policy.
Status ProhibitedField(const Json& s, PolicyKind kind) {
  if (!s.is_object()) return Status::Ok();
  if (kind == PolicyKind::kIdentityPolicy &&
      (s.contains("Principal") || s.contains("NotPrincipal"))) {
    return Malformed("Policy document should not specify a principal.");
  }
  if (kind == PolicyKind::kTrustPolicy) {
    for (const char* field : {"Resource", "NotResource"}) {
      if (s.contains(field)) return Malformed(std::string("Has prohibited field ") + field);
    }
  }
  return Status::Ok();
}

// "Statement[2] (Sid "AllowUse")": where a statement's error is.
std::string StatementLabel(const Json& s, size_t index) {
  std::string label = "Statement[" + std::to_string(index) + "]";
  if (s.is_object() && s.contains("Sid") && s["Sid"].is_string()) {
    label += " (Sid " + Quote(s["Sid"].get<std::string>()) + ")";
  }
  return label;
}

}  // namespace

std::string_view ConditionOperatorName(ConditionOperator op) {
  for (const OperatorName& o : kOperators) {
    if (o.op == op) return o.name;
  }
  return "?";
}

bool IsNegated(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kStringNotEquals:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
    case ConditionOperator::kStringNotLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
    case ConditionOperator::kNumericNotEquals:
    case ConditionOperator::kDateNotEquals:
    case ConditionOperator::kNotIpAddress:
      return true;
    default:
      return false;
  }
}

bool Policy::MayRead(std::string_view prefix) const {
  for (const Statement& st : statements_) {
    if (st.uses_variables) return true;
    for (const Condition& c : st.conditions) {
      if (c.key.size() >= prefix.size() &&
          internal::EqualsIgnoreCase(std::string_view(c.key).substr(0, prefix.size()), prefix)) {
        return true;
      }
    }
  }
  return false;
}

bool TakesVariables(ConditionOperator op) {
  switch (op) {
    case ConditionOperator::kStringEquals:
    case ConditionOperator::kStringNotEquals:
    case ConditionOperator::kStringEqualsIgnoreCase:
    case ConditionOperator::kStringNotEqualsIgnoreCase:
    case ConditionOperator::kStringLike:
    case ConditionOperator::kStringNotLike:
    case ConditionOperator::kArnEquals:
    case ConditionOperator::kArnLike:
    case ConditionOperator::kArnNotEquals:
    case ConditionOperator::kArnNotLike:
      return true;
    default:
      return false;
  }
}

Result<Policy> Policy::Parse(std::string_view json, PolicyKind kind) {
  // nlohmann reports errors by throwing; nothing may be thrown out of this layer.
  try {
    StructureChecker checker;
    if (!Json::sax_parse(json, &checker)) return Malformed(checker.error());
    const Json doc = Json::parse(json);
    if (!doc.is_object()) return Malformed("Policy must be a JSON object, not " + TypeName(doc));
    for (const auto& [field, value] : doc.items()) {
      if (field != "Version" && field != "Id" && field != "Statement") {
        return Malformed("Policy has an unknown top-level field " + Quote(field) +
                         " (expected Version, Id, Statement)");
      }
    }

    Policy policy;
    policy.version_ = "2008-10-17";  // IAM's default when Version is absent
    if (doc.contains("Version")) {
      const Json& v = doc["Version"];
      if (v != "2012-10-17" && v != "2008-10-17") {
        return Malformed("Version must be \"2012-10-17\" or \"2008-10-17\", not " + v.dump());
      }
      policy.version_ = v.get<std::string>();
    }
    if (doc.contains("Id")) {
      if (!doc["Id"].is_string()) return Malformed("Id must be a string");
      policy.id_ = doc["Id"].get<std::string>();
    }
    if (!doc.contains("Statement")) return Malformed("Policy has no Statement");
    const Json& statements = doc["Statement"];
    if (statements.is_array() && statements.empty()) {
      return Malformed("Statement must not be an empty array");
    }
    if (!statements.is_array() && !statements.is_object()) {
      return Malformed("Statement must be an object or an array of objects, not " +
                       TypeName(statements));
    }
    const bool unique_sids =
        kind == PolicyKind::kIdentityPolicy || kind == PolicyKind::kTrustPolicy;
    std::set<std::string> sids;
    size_t index = 0;
    for (const Json& s : statements.is_array() ? statements : Json::array({statements})) {
      std::string label = StatementLabel(s, index);
      RETURN_IF_ERROR(ProhibitedField(s, kind));
      Result<Statement> parsed = ParseStatement(s, kind);
      if (!parsed.ok()) return parsed.status().WithContext(label);
      Statement st = std::move(parsed).value();
      st.uses_variables = policy.version_ == "2012-10-17" && HoldsVariables(st);
      if (unique_sids && !st.sid.empty() && !sids.insert(st.sid).second) {
        return Malformed(label + ": Sid " + Quote(st.sid) + " is used by another statement");
      }
      policy.statements_.push_back(std::move(st));
      ++index;
    }
    return policy;
  } catch (const std::exception& e) {  // not expected after the SAX pass
    return Malformed(std::string("Policy could not be read: ") + e.what());
  }
}

namespace {
// Compact JSON. Invalid UTF-8 in a caller's ARN is replaced, not thrown.
std::string Dump(const nlohmann::ordered_json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}
}  // namespace

std::string DefaultKeyPolicy(std::string_view account_id) {
  using Ordered = nlohmann::ordered_json;
  Ordered root_statement = {
      {"Sid", "Enable IAM User Permissions"},
      {"Effect", "Allow"},
      {"Principal", {{"AWS", "arn:aws:iam::" + std::string(account_id) + ":root"}}},
      {"Action", "kms:*"},
      {"Resource", "*"}};
  Ordered doc = {{"Version", "2012-10-17"},
                 {"Id", "key-default-1"},
                 {"Statement", Ordered::array({root_statement})}};
  return Dump(doc);
}

namespace {

using Ordered = nlohmann::ordered_json;

// kms.md, "key-consolepolicy-3": the statements and action lists the console writes.
constexpr std::string_view kAdminsSid = "Allow access for Key Administrators";
constexpr std::string_view kUseSid = "Allow use of the key";
constexpr std::string_view kGrantsSid = "Allow attachment of persistent resources";

Ordered ConsoleStatement(std::string_view sid, Ordered principals, Ordered actions) {
  return Ordered{{"Sid", sid},
                 {"Effect", "Allow"},
                 {"Principal", {{"AWS", std::move(principals)}}},
                 {"Action", std::move(actions)},
                 {"Resource", "*"}};
}

Ordered AdminsStatement(Ordered principals, bool admins_can_delete) {
  Ordered actions = {"kms:Create*", "kms:Describe*", "kms:Enable*",     "kms:List*",
                     "kms:Put*",    "kms:Update*",   "kms:Revoke*",     "kms:Disable*",
                     "kms:Get*",    "kms:Delete*",   "kms:TagResource", "kms:UntagResource"};
  if (admins_can_delete) {
    actions.push_back("kms:ScheduleKeyDeletion");
    actions.push_back("kms:CancelKeyDeletion");
  }
  return ConsoleStatement(kAdminsSid, std::move(principals), std::move(actions));
}

Ordered UseStatement(Ordered principals) {
  return ConsoleStatement(
      kUseSid, std::move(principals),
      {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"});
}

Ordered GrantsStatement(Ordered principals) {
  Ordered grants = ConsoleStatement(kGrantsSid, std::move(principals),
                                    {"kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"});
  grants["Condition"] = {{"Bool", {{"kms:GrantIsForAWSResource", true}}}};
  return grants;
}

}  // namespace

std::string ConsoleKeyPolicy(std::string_view account_id,
                             const std::vector<std::string>& admin_arns,
                             const std::vector<std::string>& user_arns, bool admins_can_delete) {
  Ordered statements = Ordered::array();
  statements.push_back(ConsoleStatement(
      "Enable IAM User Permissions", "arn:aws:iam::" + std::string(account_id) + ":root", "kms:*"));
  if (!admin_arns.empty()) {
    statements.push_back(AdminsStatement(Ordered(admin_arns), admins_can_delete));
  }
  if (!user_arns.empty()) {
    statements.push_back(UseStatement(Ordered(user_arns)));
    statements.push_back(GrantsStatement(Ordered(user_arns)));
  }
  Ordered doc = {
      {"Version", "2012-10-17"}, {"Id", "key-consolepolicy-3"}, {"Statement", statements}};
  return Dump(doc);
}

namespace {

// A statement's Sid; "" when it has none, or one that is not a string.
std::string SidOf(const Ordered& statement) {
  if (!statement.is_object()) return "";
  auto sid = statement.find("Sid");
  return sid != statement.end() && sid->is_string() ? sid->get<std::string>() : "";
}

// The principals of a console statement that an edit is to change: it must be
// an Allow that names them as the console does ({"AWS": [ARN, …]}, or a single
// ARN as a string), without NotPrincipal or NotAction.
Result<std::vector<std::string>> ConsolePrincipals(const Ordered& statement, std::string_view sid) {
  auto refuse = [&](std::string_view why) {
    return FailedPreconditionError("the statement \"" + std::string(sid) + "\" " +
                                   std::string(why) +
                                   ": edit this policy as a whole (get-key-policy, then "
                                   "put-key-policy)");
  };
  auto effect = statement.find("Effect");
  if (effect == statement.end() || *effect != "Allow") return refuse("is not an Allow");
  if (statement.contains("NotPrincipal") || statement.contains("NotAction")) {
    return refuse("has a NotPrincipal or NotAction");
  }
  auto principal = statement.find("Principal");
  const Ordered* aws = nullptr;
  if (principal != statement.end() && principal->is_object() && principal->size() == 1 &&
      principal->contains("AWS")) {
    aws = &(*principal)["AWS"];
  }
  std::vector<std::string> arns;
  if (aws != nullptr && aws->is_string()) {
    arns.push_back(aws->get<std::string>());
  } else if (aws != nullptr && aws->is_array() &&
             std::all_of(aws->begin(), aws->end(),
                         [](const Ordered& a) { return a.is_string(); })) {
    for (const Ordered& a : *aws) arns.push_back(a.get<std::string>());
  } else {
    return refuse("does not name its principals as the console writes them ({\"AWS\": [ARN, …]})");
  }
  return arns;
}

// `arns` without repeats, in their order.
std::vector<std::string> Distinct(const std::vector<std::string>& arns) {
  std::vector<std::string> out;
  for (const std::string& arn : arns) {
    if (std::find(out.begin(), out.end(), arn) == out.end()) out.push_back(arn);
  }
  return out;
}

}  // namespace

Result<EditedKeyPolicy> EditConsoleKeyPolicy(std::string_view policy,
                                             const KeyPrincipalsEdit& edit) {
  Ordered doc = Ordered::parse(policy, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("Statement") ||
      !(doc["Statement"].is_array() || doc["Statement"].is_object())) {
    return InvalidArgumentError("the key policy is not a JSON object with a Statement");
  }
  for (const auto& [added, removed, role] :
       {std::tuple{&edit.add_admins, &edit.remove_admins, "a key administrator"},
        std::tuple{&edit.add_users, &edit.remove_users, "a key user"}}) {
    for (const std::string& arn : *added) {
      if (std::find(removed->begin(), removed->end(), arn) != removed->end()) {
        return InvalidArgumentError(arn + " is both added and removed as " + role);
      }
    }
  }
  const std::vector<std::string> add_admins = Distinct(edit.add_admins);
  const std::vector<std::string> add_users = Distinct(edit.add_users);
  Ordered& statements = doc["Statement"];
  if (statements.is_object()) statements = Ordered::array({statements});

  bool changed = false;
  std::vector<size_t> emptied;  // statements the edit left without principals
  // Edits the statements with `sid`, if the edit touches them; returns whether
  // one exists. `found` collects the removed ARNs that were there, and `before`
  // (when given) the principals the statements named.
  auto edit_statements = [&](std::string_view sid, const std::vector<std::string>& add,
                             const std::vector<std::string>& remove, std::set<std::string>& found,
                             std::set<std::string>* before) -> Result<bool> {
    bool exists = false;
    for (size_t i = 0; i < statements.size(); ++i) {
      Ordered& statement = statements[i];
      if (SidOf(statement) != sid) continue;
      exists = true;
      if (add.empty() && remove.empty()) continue;
      ASSIGN_OR_RETURN(std::vector<std::string> principals, ConsolePrincipals(statement, sid));
      if (before != nullptr) before->insert(principals.begin(), principals.end());
      std::vector<std::string> kept;
      for (const std::string& arn : principals) {
        if (std::find(remove.begin(), remove.end(), arn) != remove.end()) {
          found.insert(arn);  // every copy goes
        } else {
          kept.push_back(arn);
        }
      }
      for (const std::string& arn : add) {
        if (std::find(kept.begin(), kept.end(), arn) == kept.end()) kept.push_back(arn);
      }
      if (kept == principals) continue;
      changed = true;
      if (kept.empty()) emptied.push_back(i);
      statement["Principal"]["AWS"] = Ordered(kept);
    }
    return exists;
  };
  auto check_removed = [](const std::vector<std::string>& remove,
                          const std::set<std::string>& found, std::string_view role) -> Status {
    for (const std::string& arn : remove) {
      if (found.count(arn) == 0) {
        return NotFoundError(arn + " is not " + std::string(role) + " of this key");
      }
    }
    return Status::Ok();
  };

  std::set<std::string> found_admins;
  ASSIGN_OR_RETURN(bool has_admins, edit_statements(kAdminsSid, add_admins, edit.remove_admins,
                                                    found_admins, nullptr));
  RETURN_IF_ERROR(check_removed(edit.remove_admins, found_admins, "a key administrator"));
  std::set<std::string> found_users, users_before;
  ASSIGN_OR_RETURN(bool has_use, edit_statements(kUseSid, add_users, edit.remove_users, found_users,
                                                 &users_before));
  ASSIGN_OR_RETURN(bool has_grants,
                   edit_statements(kGrantsSid, add_users, edit.remove_users, found_users, nullptr));
  RETURN_IF_ERROR(check_removed(edit.remove_users, found_users, "a key user"));
  // Those who become key users: the added ARNs the use statement did not name.
  std::vector<std::string> new_users;
  for (const std::string& arn : add_users) {
    if (users_before.count(arn) == 0) new_users.push_back(arn);
  }

  // As the console does, a statement left with no principal goes.
  for (auto i = emptied.rbegin(); i != emptied.rend(); ++i) {
    statements.erase(statements.begin() + static_cast<std::ptrdiff_t>(*i));
  }
  // Statements the console would write and the policy lacks, where the console
  // puts them: the administrators' before the users', the users' at the end.
  auto first_with = [&](std::initializer_list<std::string_view> sids) {
    return std::find_if(statements.begin(), statements.end(), [&](const Ordered& st) {
      const std::string sid = SidOf(st);
      return std::find(sids.begin(), sids.end(), sid) != sids.end();
    });
  };
  if (!has_admins && !add_admins.empty()) {
    statements.insert(first_with({kUseSid, kGrantsSid}),
                      AdminsStatement(Ordered(add_admins), edit.admins_can_delete));
    changed = true;
  }
  if (!has_use && !add_users.empty()) {
    statements.insert(first_with({kGrantsSid}), UseStatement(Ordered(add_users)));
    changed = true;
  }
  if (!has_grants && !new_users.empty()) {
    statements.push_back(GrantsStatement(Ordered(new_users)));
    changed = true;
  }
  return EditedKeyPolicy{Dump(doc), changed};
}

}  // namespace coffer::policy
