#include "cli/tsql.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/text.h"

namespace coffer::cli::tsql {
namespace {

// ---------------------------------------------------------------------------
// The procedures and their parameters (from the RDS native backup reference).

// What a parameter takes. SQL Server converts a string to an int parameter
// when it holds a number ('1' for 1), and refuses anything else (Msg 8114).
enum class ParamType {
  kText,
  kInt,   // an integer of SQL Server's int range
  kFlag,  // 0 or 1
};

struct ParamSpec {
  std::string_view name;  // with '@', lower case
  bool required;
  ParamType type = ParamType::kText;
};

struct ProcedureSpec {
  std::string_view name;
  std::span<const ParamSpec> params;
};

constexpr ParamSpec kBackupParams[] = {
    {"@source_db_name", true},
    {"@s3_arn_to_backup_to", true},
    {"@kms_master_key_arn", false},
    {"@overwrite_s3_backup_file", false, ParamType::kFlag},
    {"@type", false},
    {"@number_of_files", false, ParamType::kInt},
    {"@block_size", false, ParamType::kInt},
    {"@max_transfer_size", false, ParamType::kInt},
    {"@buffer_count", false, ParamType::kInt},
};
constexpr ParamSpec kRestoreParams[] = {
    {"@restore_db_name", true},
    {"@s3_arn_to_restore_from", true},
    {"@kms_master_key_arn", false},
    {"@type", false},
    {"@with_norecovery", false, ParamType::kFlag},
};
constexpr ParamSpec kTaskStatusParams[] = {{"@db_name", false},
                                           {"@task_id", false, ParamType::kInt}};
constexpr ParamSpec kCancelParams[] = {{"@task_id", true, ParamType::kInt}};
constexpr ParamSpec kDbNameParams[] = {{"@db_name", true}};

constexpr ProcedureSpec kProcedures[] = {
    {"rds_backup_database", kBackupParams}, {"rds_restore_database", kRestoreParams},
    {"rds_task_status", kTaskStatusParams}, {"rds_cancel_task", kCancelParams},
    {"rds_finish_restore", kDbNameParams},  {"rds_drop_database", kDbNameParams},
};

constexpr std::array<std::string_view, std::size(kProcedures)> kProcedureNames = [] {
  std::array<std::string_view, std::size(kProcedures)> names{};
  for (size_t i = 0; i < names.size(); ++i) names[i] = kProcedures[i].name;
  return names;
}();

const ProcedureSpec* FindProcedure(std::string_view name) {
  for (const ProcedureSpec& p : kProcedures) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

// Statements other than EXEC that a user may paste from a longer script; they
// get a clearer message than "Could not find stored procedure 'select'".
constexpr std::string_view kOtherStatements[] = {
    "alter",  "backup", "begin",    "create", "declare", "delete",  "deny",   "drop",
    "grant",  "if",     "insert",   "merge",  "print",   "restore", "return", "revoke",
    "select", "set",    "truncate", "update", "use",     "waitfor", "while",  "with",
};

// ---------------------------------------------------------------------------
// Text helpers.

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsAsciiLetter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// T-SQL regular identifiers: a letter, '_' or '#' first, then also digits, '@'
// and '$'. Any non-ASCII byte counts as a letter (Unicode names stay whole).
bool IsIdentStart(unsigned char c) { return IsAsciiLetter(c) || c == '_' || c == '#' || c >= 0x80; }
bool IsIdentContinue(unsigned char c) {
  return IsIdentStart(c) || IsDigit(c) || c == '@' || c == '$';
}

// At most `max` code points of `s`, "…" marking a cut (for quoting input back).
std::string Abbreviate(std::string_view s, size_t max = 64) {
  size_t points = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (points++ == max) return std::string(s.substr(0, i)) + "…";
  }
  return std::string(s);
}

// Lines and columns of byte offsets in the script.
class Source {
 public:
  explicit Source(std::string_view text) : text_(text) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') line_starts_.push_back(i + 1);
    }
  }
  std::string_view text() const { return text_; }
  int LineOf(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    return static_cast<int>(it - line_starts_.begin());
  }
  Position At(size_t offset) const {
    int line = LineOf(offset);
    int column = 1;
    for (size_t i = line_starts_[line - 1]; i < offset && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    return {line, column};
  }

 private:
  std::string_view text_;
  std::vector<size_t> line_starts_;
};

Status Error(std::string_view name, Position at, std::string_view text) {
  return Status(
      StatusCode::kInvalidArgument, std::string(name),
      std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + std::string(text));
}

// ---------------------------------------------------------------------------
// Lexer.

enum class Tok {
  kWord,         // regular identifier or keyword; text as typed
  kQuotedIdent,  // [bracketed] or "quoted"; text unescaped
  kVariable,     // @name; text with '@' as typed
  kString,       // '…' or N'…'; text unescaped
  kNumber,       // digits
  kPunct,        // one character
  kGo,           // GO alone on its line
  kEnd,
};

struct Token {
  Tok kind;
  size_t begin;  // byte offsets into the script
  size_t end;
  std::string text;
  int first_line = 0;
  int last_line = 0;
};

bool IsWord(const Token& t, std::string_view lower) {
  return t.kind == Tok::kWord && Lower(t.text) == lower;
}
bool IsPunct(const Token& t, char c) {
  return t.kind == Tok::kPunct && t.text.size() == 1 && t.text[0] == c;
}
bool IsExec(const Token& t) { return IsWord(t, "exec") || IsWord(t, "execute"); }

class Lexer {
 public:
  explicit Lexer(const Source& source) : src_(source), s_(source.text()) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> tokens;
    while (true) {
      RETURN_IF_ERROR(SkipSpaceAndComments());
      if (i_ >= s_.size()) break;
      Result<Token> token = Next();
      if (!token.ok()) return token.status();
      token->first_line = src_.LineOf(token->begin);
      token->last_line = src_.LineOf(token->end - 1);
      tokens.push_back(std::move(token).value());
    }
    Token end{Tok::kEnd, s_.size(), s_.size(), "", 0, 0};
    end.first_line = end.last_line = src_.LineOf(s_.size());
    tokens.push_back(std::move(end));
    MarkBatchSeparators(tokens);
    return tokens;
  }

 private:
  Status SkipSpaceAndComments() {
    while (i_ < s_.size()) {
      unsigned char c = s_[i_];
      if (IsAsciiSpace(static_cast<char>(c))) {
        ++i_;
      } else if (s_.substr(i_, 2) == "--") {
        size_t nl = s_.find('\n', i_);
        i_ = nl == std::string_view::npos ? s_.size() : nl + 1;
      } else if (s_.substr(i_, 2) == "/*") {
        size_t start = i_;
        int depth = 0;
        while (true) {
          if (i_ >= s_.size()) {
            return Error(kSqlSyntaxError, src_.At(start), "Missing end comment mark '*/'.");
          }
          if (s_.substr(i_, 2) == "/*") {
            ++depth;
            i_ += 2;
          } else if (s_.substr(i_, 2) == "*/") {
            i_ += 2;
            if (--depth == 0) break;
          } else {
            ++i_;
          }
        }
      } else {
        break;
      }
    }
    return Status::Ok();
  }

  // A quoted token from i_ (the opening quote at `open`) up to `close`, a
  // doubled `close` standing for one.
  Result<Token> Quoted(Tok kind, size_t begin, size_t open, char close) {
    std::string text;
    size_t j = open + 1;
    while (true) {
      size_t q = s_.find(close, j);
      if (q == std::string_view::npos) {
        return Error(kSqlSyntaxError, src_.At(begin),
                     "Unclosed quotation mark after the character string '" +
                         Abbreviate(s_.substr(open + 1)) + "'.");
      }
      text.append(s_.substr(j, q - j));
      if (q + 1 < s_.size() && s_[q + 1] == close) {
        text.push_back(close);
        j = q + 2;
      } else {
        i_ = q + 1;
        return Token{kind, begin, i_, std::move(text)};
      }
    }
  }

  Result<Token> Next() {
    size_t begin = i_;
    unsigned char c = s_[i_];
    if (c == '\'') return Quoted(Tok::kString, begin, i_, '\'');
    if ((c == 'N' || c == 'n') && i_ + 1 < s_.size() && s_[i_ + 1] == '\'') {
      return Quoted(Tok::kString, begin, i_ + 1, '\'');
    }
    if (c == '[') return Quoted(Tok::kQuotedIdent, begin, i_, ']');
    if (c == '"') return Quoted(Tok::kQuotedIdent, begin, i_, '"');
    if (c == '@' && i_ + 1 < s_.size() && IsIdentContinue(s_[i_ + 1])) {
      ++i_;
      while (i_ < s_.size() && IsIdentContinue(s_[i_])) ++i_;
      return Token{Tok::kVariable, begin, i_, std::string(s_.substr(begin, i_ - begin))};
    }
    if (IsDigit(c)) {
      while (i_ < s_.size() && IsDigit(s_[i_])) ++i_;
      return Token{Tok::kNumber, begin, i_, std::string(s_.substr(begin, i_ - begin))};
    }
    if (IsIdentStart(c)) {
      while (i_ < s_.size() && IsIdentContinue(s_[i_])) ++i_;
      return Token{Tok::kWord, begin, i_, std::string(s_.substr(begin, i_ - begin))};
    }
    ++i_;
    return Token{Tok::kPunct, begin, i_, std::string(1, static_cast<char>(c))};
  }

  // GO is a batch separator (of the client, as in SSMS and sqlcmd) only alone
  // on its line; elsewhere it is an ordinary word.
  static void MarkBatchSeparators(std::vector<Token>& tokens) {
    for (size_t k = 0; k + 1 < tokens.size(); ++k) {
      Token& t = tokens[k];
      if (!IsWord(t, "go")) continue;
      bool alone_before = k == 0 || tokens[k - 1].last_line < t.first_line;
      const Token& next = tokens[k + 1];
      bool alone_after = next.kind == Tok::kEnd || next.first_line > t.last_line;
      if (alone_before && alone_after) t.kind = Tok::kGo;
    }
  }

  const Source& src_;
  std::string_view s_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------------------
// Parser: syntax first, for the whole script, then each call's procedure and
// parameters (as SQL Server compiles a batch before running it).

struct RawParam {
  std::string name;            // lower case with '@'; empty when positional
  size_t token = 0;            // the name's (or positional value's) token
  std::optional<Value> value;  // nullopt for DEFAULT
  std::string typed;           // the value as written
};

struct RawCall {
  size_t first_token = 0;
  size_t name_first = 0;  // the procedure name's tokens
  size_t name_last = 0;
  std::vector<std::string> parts;
  std::vector<RawParam> params;
};

std::string CanonicalInteger(bool negative, std::string_view digits) {
  size_t nz = digits.find_first_not_of('0');
  if (nz == std::string_view::npos) return "0";
  return (negative ? "-" : "") + std::string(digits.substr(nz));
}

class Parser {
 public:
  Parser(const Source& source, std::vector<Token> tokens)
      : src_(source), tokens_(std::move(tokens)) {}

  Result<std::vector<ProcedureCall>> Run() {
    std::vector<RawCall> calls;
    bool batch_start = true;
    while (Cur().kind != Tok::kEnd) {
      const Token& t = Cur();
      if (IsPunct(t, ';')) {
        ++k_;
        continue;
      }
      if (t.kind == Tok::kGo) {
        batch_start = true;
        ++k_;
        continue;
      }
      RawCall call;
      if (IsExec(t)) {
        RETURN_IF_ERROR(ParseCall(/*has_exec=*/true, call));
      } else if (t.kind == Tok::kWord && IsOtherStatement(t.text)) {
        return Error(kSqlSyntaxError, PosOf(k_),
                     "'" + Abbreviate(t.text) +
                         "' statements are not supported: coffer sql runs EXEC calls of the RDS "
                         "procedures (msdb.dbo.rds_backup_database, …).");
      } else if (IsWord(t, "go")) {
        return Error(
            kSqlSyntaxError, PosOf(k_),
            "Incorrect syntax near '" + t.text + "'. GO separates batches only alone on its line.");
      } else if (batch_start && (t.kind == Tok::kWord || t.kind == Tok::kQuotedIdent)) {
        RETURN_IF_ERROR(ParseCall(/*has_exec=*/false, call));
      } else {
        return SyntaxErrorAt(k_);
      }
      calls.push_back(std::move(call));
      batch_start = false;
    }
    if (calls.empty()) {
      return Error(kSqlSyntaxError, PosOf(k_),
                   "No statement to run: expected a call such as "
                   "'exec msdb.dbo.rds_task_status'.");
    }
    std::vector<ProcedureCall> out;
    for (const RawCall& raw : calls) {
      Result<ProcedureCall> call = Check(raw);
      if (!call.ok()) return call.status();
      out.push_back(std::move(call).value());
    }
    return out;
  }

 private:
  const Token& Cur() const { return tokens_[k_]; }
  Position PosOf(size_t k) const { return src_.At(tokens_[k].begin); }

  static bool IsOtherStatement(std::string_view word) {
    std::string lower = Lower(word);
    return std::find(std::begin(kOtherStatements), std::end(kOtherStatements), lower) !=
           std::end(kOtherStatements);
  }

  // "Incorrect syntax near '…'." for token k; at the end of the input or of a
  // batch, SQL Server names the last token it saw.
  Status SyntaxErrorAt(size_t k) const {
    if ((tokens_[k].kind == Tok::kEnd || tokens_[k].kind == Tok::kGo) && k > 0) --k;
    return Error(kSqlSyntaxError, PosOf(k),
                 "Incorrect syntax near '" + Abbreviate(tokens_[k].text) + "'.");
  }

  static Status UndeclaredVariable(Position at, const Token& t) {
    return Error(kSqlSyntaxError, at,
                 "Must declare the scalar variable \"" + Abbreviate(t.text) + "\".");
  }

  bool IsNamePart(const Token& t) const {
    return (t.kind == Tok::kWord && !IsExec(t)) || t.kind == Tok::kQuotedIdent;
  }

  // Whether the word t begins the next statement rather than a positional
  // value: EXEC and the reserved words of other statements (SQL Server's
  // view), and GO, which Run() reports when it is not alone on its line.
  static bool EndsStatement(const Token& t) {
    return t.kind == Tok::kWord && (IsExec(t) || IsWord(t, "go") || IsOtherStatement(t.text));
  }

  // Whether t can begin a parameter (named or positional).
  static bool StartsParam(const Token& t) {
    switch (t.kind) {
      case Tok::kVariable:
      case Tok::kString:
      case Tok::kNumber:
      case Tok::kQuotedIdent:
        return true;
      case Tok::kWord:
        return !EndsStatement(t);
      case Tok::kPunct:
        return IsPunct(t, '+') || IsPunct(t, '-');
      default:
        return false;
    }
  }

  Status ParseCall(bool has_exec, RawCall& call) {
    call.first_token = k_;
    if (has_exec) ++k_;
    if (Cur().kind == Tok::kVariable) return UndeclaredVariable(PosOf(k_), Cur());
    if (!IsNamePart(Cur())) return SyntaxErrorAt(k_);
    call.name_first = k_;
    call.parts.push_back(Cur().text);
    ++k_;
    while (IsPunct(Cur(), '.')) {
      ++k_;
      if (IsPunct(Cur(), '.')) {  // msdb..rds_…: the default schema
        call.parts.emplace_back();
        continue;
      }
      if (!IsNamePart(Cur())) return SyntaxErrorAt(k_);
      call.parts.push_back(Cur().text);
      ++k_;
    }
    call.name_last = k_ - 1;

    if (StartsParam(Cur())) {
      while (true) {
        RawParam param;
        param.token = k_;
        if (Cur().kind == Tok::kVariable) {
          const Token& name = Cur();
          ++k_;
          if (!IsPunct(Cur(), '=')) {
            // `@x` alone is a positional value read from a variable.
            return UndeclaredVariable(PosOf(param.token), name);
          }
          ++k_;
          param.name = Lower(name.text);
        }
        RETURN_IF_ERROR(ParseValue(param));
        call.params.push_back(std::move(param));
        if (!IsPunct(Cur(), ',')) break;
        ++k_;
      }
    }
    const Token& t = Cur();
    if (t.kind == Tok::kEnd || t.kind == Tok::kGo || IsPunct(t, ';') || EndsStatement(t)) {
      return Status::Ok();
    }
    return SyntaxErrorAt(k_);
  }

  Status ParseValue(RawParam& param) {
    const Token& t = Cur();
    size_t first = k_;
    switch (t.kind) {
      case Tok::kString:
      case Tok::kQuotedIdent:
        param.value = Value{Value::Kind::kString, t.text};
        break;
      case Tok::kNumber:
        param.value = Value{Value::Kind::kInteger, CanonicalInteger(false, t.text)};
        break;
      case Tok::kPunct:
        if ((IsPunct(t, '+') || IsPunct(t, '-')) && tokens_[k_ + 1].kind == Tok::kNumber) {
          ++k_;
          param.value = Value{Value::Kind::kInteger, CanonicalInteger(IsPunct(t, '-'), Cur().text)};
          break;
        }
        return SyntaxErrorAt(IsPunct(t, '+') || IsPunct(t, '-') ? k_ + 1 : k_);
      case Tok::kWord:
        if (IsExec(t)) return SyntaxErrorAt(k_);
        if (IsWord(t, "null")) {
          param.value = Value{Value::Kind::kNull, ""};
        } else if (IsWord(t, "default")) {
          param.value = std::nullopt;
        } else {
          param.value = Value{Value::Kind::kString, t.text};  // unquoted string, as T-SQL
        }
        break;
      case Tok::kVariable:
        return UndeclaredVariable(PosOf(k_), t);
      default:
        return SyntaxErrorAt(k_);
    }
    param.typed = std::string(
        src_.text().substr(tokens_[first].begin, tokens_[k_].end - tokens_[first].begin));
    ++k_;
    return Status::Ok();
  }

  // `value` as the parameter takes it: an int parameter's string converted to
  // its number; an error naming the parameter when it is not one.
  static Result<Value> Typed(const ParamSpec& spec, const Value& value, const std::string& typed) {
    if (spec.type == ParamType::kText || value.kind == Value::Kind::kNull) return value;
    std::string_view text = TrimBlanks(value.text);
    if (text.empty()) text = "0";  // SQL Server converts '' (and '  ') to 0
    if (text.front() == '+') text.remove_prefix(1);
    const bool negative = !text.empty() && text.front() == '-';
    if (negative) text.remove_prefix(1);
    const bool digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      return InvalidArgumentError("Error converting data type varchar to int: " +
                                  std::string(spec.name) + " = " + Abbreviate(typed) + ".");
    }
    while (text.size() > 1 && text.front() == '0') text.remove_prefix(1);
    // SQL Server's int: -2147483648 .. 2147483647.
    const std::string_view limit = negative ? "2147483648" : "2147483647";
    if (text.size() > limit.size() || (text.size() == limit.size() && text > limit)) {
      return InvalidArgumentError("Arithmetic overflow error converting " + Abbreviate(typed) +
                                  " to data type int (" + std::string(spec.name) + ").");
    }
    Value number{Value::Kind::kInteger, (negative && text != "0" ? "-" : "") + std::string(text)};
    if (spec.type == ParamType::kFlag && number.text != "0" && number.text != "1") {
      return InvalidArgumentError(std::string(spec.name) + " must be 0 or 1, not " +
                                  Abbreviate(typed) + ".");
    }
    return number;
  }

  static std::string ParamList(const ProcedureSpec& spec) {
    std::string out;
    for (const ParamSpec& p : spec.params) {
      if (!out.empty()) out += ", ";
      out += p.name;
    }
    return out;
  }

  Result<ProcedureCall> Check(const RawCall& raw) const {
    const size_t begin = tokens_[raw.name_first].begin;
    const std::string typed_name(src_.text().substr(begin, tokens_[raw.name_last].end - begin));
    const std::string proc = Lower(raw.parts.back());
    const size_t n = raw.parts.size();
    bool qualified_ok = n == 1 || (n == 2 && Lower(raw.parts[0]) == "dbo") ||
                        (n == 3 && Lower(raw.parts[0]) == "msdb" &&
                         (raw.parts[1].empty() || Lower(raw.parts[1]) == "dbo"));
    const ProcedureSpec* spec = FindProcedure(proc);
    if (spec == nullptr || !qualified_ok) {
      std::string text = "Could not find stored procedure '" + Abbreviate(typed_name) + "'.";
      if (spec != nullptr) {
        text += " The RDS procedures are in msdb.dbo: msdb.dbo." + std::string(spec->name) + ".";
      } else {
        text += " The supported procedures are";
        for (size_t i = 0; i < std::size(kProcedures); ++i) {
          text += (i == 0 ? " msdb.dbo." : ", msdb.dbo.") + std::string(kProcedures[i].name);
        }
        text += ".";
      }
      return Error(kSqlUnknownProcedure, PosOf(raw.name_first), text);
    }

    ProcedureCall call;
    call.procedure = std::string(spec->name);
    call.position = PosOf(raw.first_token);
    std::set<std::string, std::less<>> seen;
    std::set<std::string, std::less<>> supplied;
    for (size_t i = 0; i < raw.params.size(); ++i) {
      const RawParam& p = raw.params[i];
      if (p.name.empty()) {
        return Error(kSqlParameterError, PosOf(p.token),
                     "Procedure " + call.procedure +
                         " takes its parameters by name, as '@name = value': the positional "
                         "value " +
                         Abbreviate(p.typed) + " (parameter number " + std::to_string(i + 1) +
                         ") is not supported. Its parameters are " + ParamList(*spec) + ".");
      }
      auto param = std::find_if(spec->params.begin(), spec->params.end(),
                                [&](const ParamSpec& s) { return s.name == p.name; });
      if (param == spec->params.end()) {
        return Error(kSqlParameterError, PosOf(p.token),
                     "'" + Abbreviate(p.name) + "' is not a parameter for procedure " +
                         call.procedure + ". Its parameters are " + ParamList(*spec) + ".");
      }
      if (!seen.insert(p.name).second) {
        return Error(kSqlParameterError, PosOf(p.token),
                     "Parameter '" + p.name + "' was supplied multiple times.");
      }
      if (p.value) {
        Result<Value> value = Typed(*param, *p.value, p.typed);
        if (!value.ok()) return Error(kSqlParameterError, PosOf(p.token), value.status().message());
        supplied.insert(p.name);
        call.params.emplace_back(p.name, *std::move(value));
      }
    }
    for (const ParamSpec& s : spec->params) {
      if (s.required && !supplied.contains(s.name)) {
        return Error(kSqlParameterError, call.position,
                     "Procedure or function '" + call.procedure + "' expects parameter '" +
                         std::string(s.name) + "', which was not supplied.");
      }
    }
    return call;
  }

  const Source& src_;
  std::vector<Token> tokens_;
  size_t k_ = 0;
};

}  // namespace

const Value* ProcedureCall::Find(std::string_view name) const {
  std::string key = Lower(name);
  if (key.empty() || key[0] != '@') key.insert(key.begin(), '@');
  for (const auto& [n, v] : params) {
    if (n == key) return &v;
  }
  return nullptr;
}

Result<std::vector<ProcedureCall>> ParseScript(std::string_view script) {
  Source source(script);
  Result<std::vector<Token>> tokens = Lexer(source).Run();
  if (!tokens.ok()) return tokens.status();
  return Parser(source, std::move(tokens).value()).Run();
}

std::span<const std::string_view> SupportedProcedures() { return kProcedureNames; }

}  // namespace coffer::cli::tsql
