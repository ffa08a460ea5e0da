#include "cli/result_grid.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

namespace coffer::cli {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

struct Line {
  std::string text;  // valid UTF-8 without control characters
  size_t width = 0;  // code points
};

// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return n;
}

// The text lines of a cell, made safe to print (see the header).
std::vector<Line> CellLines(std::string_view s) {
  std::vector<Line> lines(1);
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n' || (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) {
      lines.emplace_back();
      i += c == '\n' ? 1 : 2;
      continue;
    }
    Line& line = lines.back();
    size_t n = Utf8SequenceLength(s, i);
    bool c1_control = n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0;
    if (c == '\t') {
      line.text += ' ';
    } else if (n == 0 || c < 0x20 || c == 0x7F || c1_control) {
      line.text += kReplacement;
    } else {
      line.text.append(s.substr(i, n));
    }
    ++line.width;
    i += n == 0 ? 1 : n;
  }
  return lines;
}

// The first `max` code points of a sanitized line, "…" ending a cut one.
void Shorten(Line& line, size_t max) {
  if (max == 0 || line.width <= max) return;
  size_t keep = max - 1, points = 0, i = 0;
  for (; i < line.text.size(); ++i) {
    if ((static_cast<unsigned char>(line.text[i]) & 0xC0) == 0x80) continue;
    if (points++ == keep) break;
  }
  line.text.resize(i);
  line.text += kEllipsis;
  line.width = max;
}

}  // namespace

std::string RowsAffected(size_t rows) {
  return "(" + std::to_string(rows) + (rows == 1 ? " row" : " rows") + " affected)";
}

std::string FormatGrid(const ResultSet& result, const GridOptions& options) {
  std::string out;
  const size_t columns = result.columns.size();
  if (columns > 0) {
    // table[r][c] holds the lines of a cell; row 0 is the header.
    std::vector<std::vector<std::vector<Line>>> table;
    table.reserve(result.rows.size() + 1);
    auto add_row = [&](auto cell_at) {
      std::vector<std::vector<Line>>& row = table.emplace_back();
      for (size_t c = 0; c < columns; ++c) {
        std::optional<std::string_view> cell = cell_at(c);
        row.push_back(CellLines(cell ? *cell : std::string_view("NULL")));
        for (Line& line : row.back()) Shorten(line, options.max_column_width);
      }
    };
    add_row([&](size_t c) { return std::optional<std::string_view>(result.columns[c]); });
    for (const auto& cells : result.rows) {
      add_row([&](size_t c) -> std::optional<std::string_view> {
        if (c >= cells.size() || !cells[c]) return std::nullopt;
        return *cells[c];
      });
    }

    std::vector<size_t> widths(columns, 0);
    for (const auto& row : table) {
      for (size_t c = 0; c < columns; ++c) {
        for (const Line& line : row[c]) widths[c] = std::max(widths[c], line.width);
      }
    }
    std::string border = "+";
    for (size_t w : widths) border += std::string(w + 2, '-') + "+";
    border += '\n';

    auto print_row = [&](const std::vector<std::vector<Line>>& row) {
      size_t height = 0;
      for (const auto& cell : row) height = std::max(height, cell.size());
      for (size_t l = 0; l < height; ++l) {
        out += '|';
        for (size_t c = 0; c < columns; ++c) {
          const Line* line = l < row[c].size() ? &row[c][l] : nullptr;
          size_t width = line ? line->width : 0;
          out += ' ';
          if (line) out += line->text;
          out += std::string(widths[c] - width + 1, ' ');
          out += '|';
        }
        out += '\n';
      }
    };
    out += border;
    print_row(table[0]);
    out += border;
    for (size_t r = 1; r < table.size(); ++r) print_row(table[r]);
    if (table.size() > 1) out += border;
  }
  if (options.footer) {
    if (!out.empty()) out += '\n';
    out += RowsAffected(result.rows.size()) + "\n";
  }
  return out;
}

std::string FormatJson(const ResultSet& result) {
  using Json = nlohmann::ordered_json;
  // Names as they will be printed (invalid UTF-8 replaced) before they are made
  // unique, so that two names that print the same never share a key.
  std::vector<std::string> names;
  for (const std::string& column : result.columns) {
    names.push_back(Json::parse(Json(column).dump(-1, ' ', false, Json::error_handler_t::replace))
                        .get<std::string>());
  }
  std::vector<std::string> keys;
  std::set<std::string> used(names.begin(), names.end());
  std::set<std::string> taken;
  for (const std::string& name : names) {
    std::string key = name;
    for (int n = 2; taken.contains(key); ++n) {
      key = name + "_" + std::to_string(n);
      if (used.contains(key)) key = name;  // keep looking past real column names
    }
    taken.insert(key);
    keys.push_back(std::move(key));
  }

  Json rows = Json::array();
  for (const auto& cells : result.rows) {
    Json row = Json::object();
    for (size_t c = 0; c < keys.size(); ++c) {
      if (c < cells.size() && cells[c]) {
        row[keys[c]] = *cells[c];
      } else {
        row[keys[c]] = nullptr;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows.dump(4, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace coffer::cli
