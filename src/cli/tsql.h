#pragma once
// The T-SQL that `coffer sql` understands: calls of the Amazon RDS for SQL
// Server native backup procedures, written as a user types them in SQL Server
// Management Studio, for example
//
//   exec msdb.dbo.rds_backup_database @source_db_name='customers',
//       @s3_arn_to_backup_to='arn:aws:s3:::rdstestsql/customers.bak',
//       @overwrite_s3_backup_file=1, @type='FULL', @number_of_files=4;
//
// Accepted (keywords and names are case-insensitive):
//   script     := { statement | ';' | GO }            at least one statement
//   statement  := EXEC[UTE] procedure [ param { ',' param } ]
//               | procedure [ param { ',' param } ]   only first in a batch, as T-SQL
//   procedure  := [ msdb '.' [dbo] '.' | dbo '.' ] rds_name
//                 each part a word, a [bracketed] or a "quoted" identifier
//   rds_name   := rds_backup_database | rds_restore_database | rds_task_status
//               | rds_cancel_task | rds_finish_restore | rds_drop_database
//   param      := @name '=' value                   by name only, see below
//   value      := 'string' ('' is a quote) | N'string' | [+|-]digits | NULL
//               | DEFAULT (as if not passed) | bare_word | [bracketed] | "quoted"
// Statements need no separator (`;` optional); GO alone on its line (comments
// aside) separates batches. Comments: `-- … end of line` and `/* … */`, which
// nest. Whitespace and newlines anywhere between tokens.
// Other statements (USE, SELECT, DECLARE, …) are refused as not supported.
//
// Positional parameters (`exec rds_cancel_task 5`) are refused with a message
// that asks for `@name = value`: the procedures' parameter order is not part of
// their documented interface.
//
// Errors are kInvalidArgument with one of the error names below and a message
// "<line>:<column>: <text as SQL Server words it>" (1-based; the column counts
// UTF-8 code points), e.g. "1:31: Incorrect syntax near ','." or
// "1:1: Procedure or function 'rds_cancel_task' expects parameter '@task_id',
// which was not supplied.". The whole script is checked for syntax before any
// statement's procedure and parameters are.
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace coffer::cli::tsql {

inline constexpr std::string_view kSqlSyntaxError = "SqlSyntaxError";
// Unknown, repeated, missing or positional parameter.
inline constexpr std::string_view kSqlParameterError = "SqlParameterError";
// A procedure other than the six rds_ ones (or in another database/schema).
inline constexpr std::string_view kSqlUnknownProcedure = "SqlUnknownProcedure";

struct Value {
  enum class Kind { kString, kInteger, kNull };
  Kind kind = Kind::kNull;
  // kString: the contents, quotes removed and '' unescaped (N'' alike);
  // kInteger: canonical decimal, "-4" for `-004`, no '+'; kNull: empty.
  std::string text;

  friend bool operator==(const Value&, const Value&) = default;
};

struct Position {
  int line = 0;    // 1-based
  int column = 0;  // 1-based, in code points

  friend bool operator==(const Position&, const Position&) = default;
};

struct ProcedureCall {
  std::string procedure;  // unqualified, lower case: "rds_backup_database"
  // Lower-case names with their '@' ("@source_db_name"), in the given order;
  // parameters passed as DEFAULT are left out.
  std::vector<std::pair<std::string, Value>> params;
  Position position;  // of the statement's first token

  // The parameter named `name` ("@type" or "type", any case), or nullptr.
  const Value* Find(std::string_view name) const;
};

// Parses `script` (UTF-8): every statement, in order, each checked against its
// procedure's parameters (known names, no repeats, required ones present).
Result<std::vector<ProcedureCall>> ParseScript(std::string_view script);

// The procedures accepted, unqualified: "rds_backup_database", ….
std::span<const std::string_view> SupportedProcedures();

}  // namespace coffer::cli::tsql
