#pragma once
// How `coffer sql` prints a result set (for example rds_task_status's rows).
//
// FormatGrid draws a bordered table, cells left-aligned, each column as wide as
// its widest line (in UTF-8 code points), NULL shown as NULL, then a blank
// line and SSMS's footer:
//
//   +---------+-----------+
//   | task_id | lifecycle |
//   +---------+-----------+
//   | 1       | SUCCESS   |
//   | 2       | NULL      |
//   +---------+-----------+
//
//   (2 rows affected)
//
// A cell with newlines spans several text lines of its row; tabs print as one
// space and other control characters and invalid UTF-8 as U+FFFD, so what a
// database holds cannot drive the terminal. Lines are not cut unless
// max_column_width is set: then longer ones end in "…" within that width.
//
// FormatJson prints an array of objects keyed by column name in column order,
// NULL as null, indented by 4 like coffer's other --output json (non-ASCII as
// is, invalid UTF-8 as U+FFFD). A repeated column name gets a suffix ("_2",
// "_3", …) so that no value is lost.
//
// A row shorter than `columns` is read as padded with NULLs; cells beyond the
// last column are ignored.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace coffer::cli {

struct ResultSet {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt is NULL
};

struct GridOptions {
  size_t max_column_width = 0;  // in code points, at least 1; 0: no limit
  bool footer = true;           // the blank line and "(N rows affected)"
};

// The table (nothing when there are no columns) and the footer; ends in '\n'.
std::string FormatGrid(const ResultSet& result, const GridOptions& options = {});

// The JSON array, ending in '\n'.
std::string FormatJson(const ResultSet& result);

// "(1 row affected)", "(0 rows affected)", "(2 rows affected)".
std::string RowsAffected(size_t rows);

}  // namespace coffer::cli
