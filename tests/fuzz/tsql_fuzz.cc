// Fuzz target: the T-SQL of `coffer sql` (cli::tsql::ParseScript), and the printers of
// `coffer sql`'s result sets (cli::FormatGrid, cli::FormatJson) on rows made of what a
// script that parses holds.
//
// Input: a script, any bytes. Seeds: the RDS native backup calls as users type them in
// SSMS (the seed's rds_backup_database with a KMS key, restore, task status, cancel,
// finish, drop), comments, N'' strings, GO batches, and refusals.
//
// Properties (besides no crash, no sanitizer report):
//  - the outcome is the same when the script is parsed again;
//  - a refusal is kInvalidArgument with one of the parser's error names and a message
//    "<line>:<column>: …" whose line and column lie within the script;
//  - a parse has at least one call, in script order; each call's procedure is one of
//    SupportedProcedures(); its parameter names are '@' and lower-case letters, digits
//    or '_', without repeats, and Find() finds each (in any case, with or without '@');
//    integers are canonical ("0", "-4", no '+', no leading zeros) and NULL is empty;
//    the position (≥ 1) is that of the statement's EXEC or procedure name, and the
//    procedure's name follows it in the script;
//  - the calls written back as T-SQL (exec msdb.dbo.<procedure> @name=N'…', …) parse
//    to the same calls;
//  - FormatGrid (with and without a column width limit and the footer) prints valid
//    UTF-8 without control characters other than '\n', a rectangle of lines as many as
//    the cells' lines need, between borders of one '+' per column edge, each column no
//    wider than the limit, the header exactly when its names are plain text, and the
//    footer "(N rows affected)";
//  - FormatJson prints JSON that nlohmann parses: an array with one object per row,
//    one member per column (a repeated name gets a suffix: no value is lost; checked
//    also for names that differ only in invalid UTF-8) in column order, null for a NULL
//    or missing cell, and every cell that is valid UTF-8 as is.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/result_grid.h"
#include "cli/tsql.h"
#include "common/status.h"
#include "fuzz_util.h"

namespace coffer::fuzz {
namespace {

using cli::ResultSet;
using cli::tsql::ProcedureCall;
using cli::tsql::Value;
using Json = nlohmann::ordered_json;

// ---- UTF-8, decoded independently of result_grid.cc -------------------------------

// The code points of `s`, or nullopt when it is not valid UTF-8 (RFC 3629).
std::optional<std::vector<uint32_t>> Decode(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    uint32_t c = b(i);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return std::nullopt;
    if (n > 1) c &= 0x7F >> n;
    for (size_t k = 1; k < n; ++k) {
      if ((b(i + k) & 0xC0) != 0x80) return std::nullopt;
      c = (c << 6) | (b(i + k) & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return std::nullopt;
    out.push_back(c);
    i += n;
  }
  return out;
}

bool IsControl(uint32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

// Valid UTF-8 without control characters.
bool IsPlain(std::string_view s) {
  auto points = Decode(s);
  return points && std::none_of(points->begin(), points->end(), IsControl);
}

size_t Width(std::string_view line) {
  auto points = Decode(line);
  FUZZ_CHECK(points.has_value());
  return points->size();
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == sep) {
      parts.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// ---- the parser ---------------------------------------------------------------------

// The byte offset of a 1-based line and column, or nullopt when the script has no such
// place; the end of a line (or of the script) is a place. Columns count code points as
// tsql.h does: every byte that is not a UTF-8 continuation byte starts one, so the
// offset is the first one after column - 1 such bytes that is not a continuation byte.
std::optional<size_t> OffsetOf(std::string_view script, int line, int column) {
  if (line < 1 || column < 1) return std::nullopt;
  size_t i = 0;
  for (int l = 1; l < line; ++l) {
    size_t nl = script.find('\n', i);
    if (nl == std::string_view::npos) return std::nullopt;
    i = nl + 1;
  }
  auto continuation = [&](size_t k) {
    return (static_cast<unsigned char>(script[k]) & 0xC0) == 0x80;
  };
  int seen = 0;  // code points before i
  for (;; ++i) {
    if (seen == column - 1 && (i == script.size() || !continuation(i))) return i;
    if (i == script.size() || script[i] == '\n' || seen > column - 1) return std::nullopt;
    if (!continuation(i)) ++seen;
  }
}

void CheckRefusal(std::string_view script, const Status& s) {
  const std::string where = s.ToString();
  FUZZ_CHECK_MSG(s.code() == StatusCode::kInvalidArgument, where);
  FUZZ_CHECK_MSG(s.error_name() == cli::tsql::kSqlSyntaxError ||
                     s.error_name() == cli::tsql::kSqlParameterError ||
                     s.error_name() == cli::tsql::kSqlUnknownProcedure,
                 where);
  // "<line>:<column>: <text>"
  const std::string& m = s.message();
  size_t colon1 = m.find(':');
  size_t colon2 = colon1 == std::string::npos ? colon1 : m.find(':', colon1 + 1);
  FUZZ_CHECK_MSG(
      colon2 != std::string::npos && m.compare(colon2, 2, ": ") == 0 && m.size() > colon2 + 2,
      where);
  auto number = [&](size_t from, size_t to) {
    std::string_view digits(m.data() + from, to - from);
    FUZZ_CHECK_MSG(
        !digits.empty() && digits.size() < 9 && digits[0] != '0' &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }),
        where);
    return std::stoi(std::string(digits));
  };
  const int line = number(0, colon1);
  const int column = number(colon1 + 1, colon2);
  FUZZ_CHECK_MSG(OffsetOf(script, line, column).has_value(), where);
}

bool IsCanonicalInteger(std::string_view text) {
  std::string_view digits = text.starts_with('-') ? text.substr(1) : text;
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  if (digits == "0") return text == "0";  // no "-0"
  return digits[0] != '0';
}

void CheckCall(std::string_view script, const ProcedureCall& call) {
  const std::string where = call.procedure + " at " + std::to_string(call.position.line) + ":" +
                            std::to_string(call.position.column);
  auto procs = cli::tsql::SupportedProcedures();
  FUZZ_CHECK_MSG(std::find(procs.begin(), procs.end(), call.procedure) != procs.end(), where);

  // The statement starts at its position: EXEC, or the first part of the name.
  std::optional<size_t> at = OffsetOf(script, call.position.line, call.position.column);
  FUZZ_CHECK_MSG(at.has_value() && *at < script.size(), where);
  const std::string rest = Lower(script.substr(*at));
  const unsigned char first = static_cast<unsigned char>(rest[0]);
  FUZZ_CHECK_MSG(rest.starts_with("exec") || rest[0] == '[' || rest[0] == '"' || rest[0] == '_' ||
                     rest[0] == '#' || (first >= 'a' && first <= 'z') || first >= 0x80,
                 where);
  FUZZ_CHECK_MSG(rest.find(call.procedure) != std::string::npos, where);

  for (size_t i = 0; i < call.params.size(); ++i) {
    const auto& [name, value] = call.params[i];
    const std::string what = where + ": " + name;
    FUZZ_CHECK_MSG(name.size() >= 2 && name[0] == '@', what);
    FUZZ_CHECK_MSG(
        std::all_of(
            name.begin() + 1, name.end(),
            [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }),
        what);
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK_MSG(call.params[j].first != name, what);
    switch (value.kind) {
      case Value::Kind::kInteger:
        FUZZ_CHECK_MSG(IsCanonicalInteger(value.text), what + " = " + value.text);
        break;
      case Value::Kind::kNull:
        FUZZ_CHECK_MSG(value.text.empty(), what);
        break;
      case Value::Kind::kString:
        break;
    }
    for (const std::string& key : {name, name.substr(1), Upper(name), Upper(name.substr(1))}) {
      const Value* found = call.Find(key);
      FUZZ_CHECK_MSG(found == &value, what + " by " + key);
    }
  }
  FUZZ_CHECK(call.Find("@no_such_parameter") == nullptr);
}

// The calls as a script that must parse to them again.
std::string Render(const std::vector<ProcedureCall>& calls) {
  std::string out;
  for (const ProcedureCall& call : calls) {
    out += "exec msdb.dbo." + call.procedure;
    for (size_t i = 0; i < call.params.size(); ++i) {
      const auto& [name, value] = call.params[i];
      out += (i == 0 ? " " : ", ") + name + "=";
      switch (value.kind) {
        case Value::Kind::kString:
          out += "N'";
          for (char c : value.text) {
            out += c;
            if (c == '\'') out += c;
          }
          out += "'";
          break;
        case Value::Kind::kInteger:
          out += value.text;
          break;
        case Value::Kind::kNull:
          out += "NULL";
          break;
      }
    }
    out += "\n";
  }
  return out;
}

// ---- the printers -------------------------------------------------------------------

std::optional<std::string> Cell(const ResultSet& rs, size_t row, size_t column) {
  const auto& cells = rs.rows[row];
  return column < cells.size() ? cells[column] : std::nullopt;
}

size_t LinesOf(std::string_view cell) {
  return 1 + static_cast<size_t>(std::count(cell.begin(), cell.end(), '\n'));
}

void CheckGrid(const ResultSet& rs, const cli::GridOptions& options) {
  const std::string out = cli::FormatGrid(rs, options);
  const std::string where = "FormatGrid:\n" + out;
  auto points = Decode(out);
  FUZZ_CHECK_MSG(points.has_value(), where);
  for (uint32_t c : *points) FUZZ_CHECK_MSG(c == '\n' || !IsControl(c), where);
  const std::string footer = cli::RowsAffected(rs.rows.size());
  if (rs.columns.empty()) {
    FUZZ_CHECK_MSG(out == (options.footer ? footer + "\n" : ""), where);
    return;
  }
  FUZZ_CHECK_MSG(out.ends_with('\n'), where);
  std::vector<std::string_view> lines =
      Split(std::string_view(out).substr(0, out.size() - 1), '\n');
  if (options.footer) {
    FUZZ_CHECK_MSG(lines.size() >= 2 && lines.back() == footer && lines[lines.size() - 2].empty(),
                   where);
    lines.resize(lines.size() - 2);
  }
  // The heights of the header and of each row.
  std::vector<size_t> heights;
  size_t header = 1;
  for (const std::string& name : rs.columns) header = std::max(header, LinesOf(name));
  heights.push_back(header);
  for (size_t r = 0; r < rs.rows.size(); ++r) {
    size_t h = 1;
    for (size_t c = 0; c < rs.columns.size(); ++c) {
      if (auto cell = Cell(rs, r, c)) h = std::max(h, LinesOf(*cell));
    }
    heights.push_back(h);
  }
  size_t expected = 2;  // the top border and the one below the header
  for (size_t h : heights) expected += h;
  if (!rs.rows.empty()) ++expected;  // the bottom border
  FUZZ_CHECK_MSG(lines.size() == expected, where);

  const std::string_view border = lines[0];
  FUZZ_CHECK_MSG(border.starts_with('+') && border.ends_with('+') &&
                     border.find_first_not_of("+-") == std::string_view::npos,
                 where);
  std::vector<std::string_view> segments = Split(border.substr(1, border.size() - 2), '+');
  FUZZ_CHECK_MSG(segments.size() == rs.columns.size(), where);
  for (std::string_view segment : segments) {
    FUZZ_CHECK_MSG(segment.size() >= 2, where);
    if (options.max_column_width > 0) {
      FUZZ_CHECK_MSG(segment.size() <= options.max_column_width + 2, where);
    }
  }
  FUZZ_CHECK_MSG(lines[1 + header] == border, where);
  if (!rs.rows.empty()) FUZZ_CHECK_MSG(lines.back() == border, where);
  const size_t width = Width(border);
  for (std::string_view line : lines) {
    FUZZ_CHECK_MSG(Width(line) == width, where);
    if (line != border) {
      FUZZ_CHECK_MSG(line.starts_with("| ") && line.ends_with(" |"), where);
    }
  }
  // A header of plain names that fit is exactly the names, left-aligned.
  bool plain = true;
  for (const std::string& name : rs.columns) {
    plain = plain && IsPlain(name) &&
            (options.max_column_width == 0 || Width(name) <= options.max_column_width);
  }
  if (plain) {
    std::string expected_header = "|";
    for (size_t c = 0; c < rs.columns.size(); ++c) {
      expected_header += " " + rs.columns[c] +
                         std::string(segments[c].size() - 1 - Width(rs.columns[c]), ' ') + "|";
    }
    FUZZ_CHECK_MSG(lines[1] == expected_header, where);
  }
}

void CheckJson(const ResultSet& rs) {
  const std::string out = cli::FormatJson(rs);
  const std::string where = "FormatJson:\n" + out;
  FUZZ_CHECK_MSG(out.ends_with('\n'), where);
  Json doc = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK_MSG(doc.is_array() && doc.size() == rs.rows.size(), where);
  // Names that differ only in invalid UTF-8 still get one member each; their keys
  // are compared with the names below only when every name is valid UTF-8.
  const bool valid_names = std::all_of(rs.columns.begin(), rs.columns.end(),
                                       [](const std::string& n) { return Decode(n).has_value(); });
  for (size_t r = 0; r < rs.rows.size(); ++r) {
    const Json& row = doc[r];
    FUZZ_CHECK_MSG(row.is_object() && row.size() == rs.columns.size(), where);
    if (!valid_names) continue;
    size_t c = 0;
    for (const auto& [key, value] : row.items()) {
      const std::string& name = rs.columns[c];
      FUZZ_CHECK_MSG(key == name || key.starts_with(name + "_"), where);
      std::optional<std::string> cell = Cell(rs, r, c);
      if (!cell) {
        FUZZ_CHECK_MSG(value.is_null(), where);
      } else {
        FUZZ_CHECK_MSG(value.is_string(), where);
        if (Decode(*cell)) FUZZ_CHECK_MSG(value.get<std::string>() == *cell, where);
      }
      ++c;
    }
  }
}

void CheckPrinters(const ResultSet& rs, size_t seed) {
  CheckGrid(rs, {});
  CheckGrid(rs, {.max_column_width = 1 + seed % 16, .footer = false});
  CheckJson(rs);
}

// Result sets made of the calls: their parameters as columns, one row per call; and
// their string values as column names (any bytes, repeated names).
void CheckResultSets(const std::vector<ProcedureCall>& calls, size_t seed) {
  ResultSet by_call;
  by_call.columns = {"procedure", "position"};
  for (const ProcedureCall& call : calls) {
    std::vector<std::optional<std::string>> row(by_call.columns.size());
    row[0] = call.procedure;
    row[1] = std::to_string(call.position.line) + ":" + std::to_string(call.position.column);
    for (const auto& [name, value] : call.params) {
      by_call.columns.push_back(name);
      row.push_back(value.kind == Value::Kind::kNull ? std::nullopt
                                                     : std::optional<std::string>(value.text));
    }
    by_call.rows.push_back(std::move(row));  // shorter than the columns of later calls
  }
  CheckPrinters(by_call, seed);

  ResultSet by_value;
  std::vector<std::optional<std::string>> names;
  for (const ProcedureCall& call : calls) {
    for (const auto& [name, value] : call.params) {
      if (value.kind != Value::Kind::kString) continue;
      by_value.columns.push_back(value.text);
      names.push_back(name);
    }
  }
  names.push_back("beyond the last column");
  by_value.rows = {names, {}, {std::nullopt}};
  CheckPrinters(by_value, seed + 1);
}

}  // namespace
}  // namespace coffer::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffer;
  using namespace coffer::fuzz;
  const std::string_view script = AsText(data, size);
  auto parsed = cli::tsql::ParseScript(script);
  auto again = cli::tsql::ParseScript(script);
  FUZZ_CHECK(parsed.ok() == again.ok());
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status() == again.status());
    CheckRefusal(script, parsed.status());
    return 0;
  }
  const std::vector<ProcedureCall>& calls = *parsed;
  FUZZ_CHECK(!calls.empty() && calls.size() == again->size());
  for (size_t i = 0; i < calls.size(); ++i) {
    CheckCall(script, calls[i]);
    FUZZ_CHECK(calls[i].procedure == (*again)[i].procedure &&
               calls[i].params == (*again)[i].params && calls[i].position == (*again)[i].position);
    if (i > 0) {
      const auto& p = calls[i - 1].position;
      const auto& q = calls[i].position;
      FUZZ_CHECK(p.line < q.line || (p.line == q.line && p.column < q.column));
    }
  }
  const std::string rendered = Render(calls);
  auto reparsed = cli::tsql::ParseScript(rendered);
  FUZZ_CHECK_MSG(reparsed.ok(), rendered + ": " + reparsed.status().ToString());
  FUZZ_CHECK_MSG(reparsed->size() == calls.size(), rendered);
  for (size_t i = 0; i < calls.size(); ++i) {
    FUZZ_CHECK_MSG((*reparsed)[i].procedure == calls[i].procedure, rendered);
    FUZZ_CHECK_MSG((*reparsed)[i].params == calls[i].params, rendered);
  }
  CheckResultSets(calls, size);
  return 0;
}
