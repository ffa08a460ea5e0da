#include "cli/tsql.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffer::cli::tsql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

Value Str(std::string text) { return {Value::Kind::kString, std::move(text)}; }
Value Int(std::string text) { return {Value::Kind::kInteger, std::move(text)}; }
Value Null() { return {Value::Kind::kNull, ""}; }

std::vector<ProcedureCall> Parse(std::string_view script) {
  Result<std::vector<ProcedureCall>> calls = ParseScript(script);
  EXPECT_TRUE(calls.ok()) << script << "\n-> " << calls.status().ToString();
  return calls.ok() ? std::move(calls).value() : std::vector<ProcedureCall>{};
}

ProcedureCall ParseOne(std::string_view script) {
  std::vector<ProcedureCall> calls = Parse(script);
  EXPECT_EQ(calls.size(), 1u) << script;
  return calls.empty() ? ProcedureCall{} : calls[0];
}

Status ParseError(std::string_view script) {
  Result<std::vector<ProcedureCall>> calls = ParseScript(script);
  EXPECT_FALSE(calls.ok()) << script;
  if (calls.ok()) return Status::Ok();
  EXPECT_EQ(calls.status().code(), StatusCode::kInvalidArgument);
  return calls.status();
}

void ExpectSyntaxError(std::string_view script, std::string_view message) {
  Status status = ParseError(script);
  EXPECT_EQ(status.error_name(), kSqlSyntaxError) << script;
  EXPECT_EQ(status.message(), message) << script;
}

void ExpectParameterError(std::string_view script, std::string_view message) {
  Status status = ParseError(script);
  EXPECT_EQ(status.error_name(), kSqlParameterError) << script;
  EXPECT_EQ(status.message(), message) << script;
}

// --- The seed and the shapes of a call ---------------------------------------

TEST(TsqlTest, SeedCommandVerbatim) {
  ProcedureCall call = ParseOne(
      "exec msdb.dbo.rds_backup_database @source_db_name='customers', "
      "@s3_arn_to_backup_to='arn:aws:s3:::rdstestsql/customers.bak', "
      "@kms_master_key_arn='arn:aws:kms:us-east-1:111122223333:key/…', "
      "@overwrite_s3_backup_file=1, @type='FULL', @number_of_files=4;");
  EXPECT_EQ(call.procedure, "rds_backup_database");
  EXPECT_EQ(call.position, (Position{1, 1}));
  EXPECT_THAT(
      call.params,
      ElementsAre(Pair("@source_db_name", Str("customers")),
                  Pair("@s3_arn_to_backup_to", Str("arn:aws:s3:::rdstestsql/customers.bak")),
                  Pair("@kms_master_key_arn", Str("arn:aws:kms:us-east-1:111122223333:key/…")),
                  Pair("@overwrite_s3_backup_file", Int("1")), Pair("@type", Str("FULL")),
                  Pair("@number_of_files", Int("4"))));
}

TEST(TsqlTest, SeedCommandAsPastedOverSeveralLines) {
  ProcedureCall call = ParseOne(
      "exec msdb.dbo.rds_backup_database\r\n"
      "\t@source_db_name='customers',\r\n"
      "\t@s3_arn_to_backup_to='arn:aws:s3:::rdstestsql/customers*.bak',\r\n"
      "\t@kms_master_key_arn='arn:aws:kms:us-east-1:111122223333:key/"
      "1234abcd-12ab-34cd-56ef-1234567890ab',\r\n"
      "\t@overwrite_s3_backup_file=1,\r\n"
      "\t@type='FULL',\r\n"
      "\t@number_of_files=4\r\n"
      "GO\r\n");
  EXPECT_EQ(call.procedure, "rds_backup_database");
  ASSERT_EQ(call.params.size(), 6u);
  EXPECT_EQ(call.params[1].second, Str("arn:aws:s3:::rdstestsql/customers*.bak"));
  EXPECT_EQ(call.params[2].second,
            Str("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
}

TEST(TsqlTest, ExecKeywordInAnyCaseAndExecute) {
  for (std::string_view exec : {"exec", "EXEC", "Exec", "eXeC", "execute", "EXECUTE", "Execute"}) {
    ProcedureCall call = ParseOne(std::string(exec) + " msdb.dbo.rds_task_status");
    EXPECT_EQ(call.procedure, "rds_task_status") << exec;
    EXPECT_TRUE(call.params.empty());
  }
}

TEST(TsqlTest, QualifiedAndBracketedProcedureNames) {
  for (std::string_view name : {
           "rds_finish_restore",
           "dbo.rds_finish_restore",
           "msdb.dbo.rds_finish_restore",
           "msdb..rds_finish_restore",
           "MSDB.DBO.RDS_FINISH_RESTORE",
           "Msdb.Dbo.Rds_Finish_Restore",
           "[msdb].[dbo].[rds_finish_restore]",
           "msdb.[dbo].rds_finish_restore",
           "[msdb]..[rds_finish_restore]",
           "[dbo].[rds_finish_restore]",
           "[rds_finish_restore]",
           "\"msdb\".\"dbo\".\"rds_finish_restore\"",
           "msdb . dbo . rds_finish_restore",
           "msdb/*db*/./*schema*/dbo.rds_finish_restore",
       }) {
    ProcedureCall call = ParseOne("exec " + std::string(name) + " @db_name='customers'");
    EXPECT_EQ(call.procedure, "rds_finish_restore") << name;
    EXPECT_THAT(call.params, ElementsAre(Pair("@db_name", Str("customers")))) << name;
  }
}

TEST(TsqlTest, AllSixProcedures) {
  std::vector<ProcedureCall> calls = Parse(
      "exec msdb.dbo.rds_backup_database @source_db_name='a', @s3_arn_to_backup_to='arn:b'\n"
      "exec msdb.dbo.rds_restore_database @restore_db_name='a', @s3_arn_to_restore_from='arn:b',"
      " @with_norecovery=1, @type='DIFFERENTIAL', @kms_master_key_arn='k'\n"
      "exec msdb.dbo.rds_task_status @db_name='a', @task_id=3\n"
      "exec msdb.dbo.rds_cancel_task @task_id=3\n"
      "exec msdb.dbo.rds_finish_restore @db_name='a'\n"
      "exec msdb.dbo.rds_drop_database @db_name='a'\n");
  ASSERT_EQ(calls.size(), 6u);
  std::vector<std::string> names;
  for (const ProcedureCall& c : calls) names.push_back(c.procedure);
  EXPECT_THAT(names, ElementsAre("rds_backup_database", "rds_restore_database", "rds_task_status",
                                 "rds_cancel_task", "rds_finish_restore", "rds_drop_database"));
  EXPECT_EQ(calls[5].position, (Position{6, 1}));
  EXPECT_THAT(SupportedProcedures(),
              ElementsAre("rds_backup_database", "rds_restore_database", "rds_task_status",
                          "rds_cancel_task", "rds_finish_restore", "rds_drop_database"));
}

TEST(TsqlTest, BackupTakesItsOptionalTuningParameters) {
  ProcedureCall call = ParseOne(
      "exec msdb.dbo.rds_backup_database @source_db_name='a', @s3_arn_to_backup_to='arn:b', "
      "@block_size=65536, @max_transfer_size=4194304, @buffer_count=10");
  EXPECT_THAT(
      call.params,
      ElementsAre(Pair("@source_db_name", Str("a")), Pair("@s3_arn_to_backup_to", Str("arn:b")),
                  Pair("@block_size", Int("65536")), Pair("@max_transfer_size", Int("4194304")),
                  Pair("@buffer_count", Int("10"))));
}

TEST(TsqlTest, ParameterNamesAreCaseInsensitiveAndLowered) {
  ProcedureCall call =
      ParseOne("EXEC msdb.dbo.rds_task_status @DB_NAME = 'Customers', @Task_Id = 7");
  EXPECT_THAT(call.params,
              ElementsAre(Pair("@db_name", Str("Customers")), Pair("@task_id", Int("7"))));
  ASSERT_NE(call.Find("@task_id"), nullptr);
  EXPECT_EQ(*call.Find("@task_id"), Int("7"));
  EXPECT_EQ(*call.Find("TASK_ID"), Int("7"));
  EXPECT_EQ(*call.Find("@Db_Name"), Str("Customers"));
  EXPECT_EQ(call.Find("@type"), nullptr);
  EXPECT_EQ(call.Find(""), nullptr);
}

// --- Values --------------------------------------------------------------------

TEST(TsqlTest, StringValues) {
  ProcedureCall call = ParseOne(
      "exec rds_restore_database @restore_db_name='it''s', "
      "@s3_arn_to_restore_from=N'arn:aws:s3:::bücket/dàtà.bak', @kms_master_key_arn=n'k''', "
      "@type=''");
  EXPECT_THAT(call.params,
              ElementsAre(Pair("@restore_db_name", Str("it's")),
                          Pair("@s3_arn_to_restore_from", Str("arn:aws:s3:::bücket/dàtà.bak")),
                          Pair("@kms_master_key_arn", Str("k'")), Pair("@type", Str(""))));
}

TEST(TsqlTest, StringsKeepNewlinesCommentMarksAndOtherQuotes) {
  ProcedureCall call = ParseOne(
      "exec rds_task_status @db_name='a -- not a comment /* nor this\n"
      "second \"line\" [x]'");
  EXPECT_THAT(call.params, ElementsAre(Pair("@db_name", Str("a -- not a comment /* nor this\n"
                                                            "second \"line\" [x]"))));
}

TEST(TsqlTest, IntegerValues) {
  ProcedureCall call = ParseOne(
      "exec msdb.dbo.rds_backup_database @source_db_name=a, @s3_arn_to_backup_to=b, "
      "@number_of_files=+4, @block_size=-512, @buffer_count=007, @max_transfer_size=- 0, "
      "@overwrite_s3_backup_file=0");
  EXPECT_THAT(call.params,
              ElementsAre(Pair("@source_db_name", Str("a")), Pair("@s3_arn_to_backup_to", Str("b")),
                          Pair("@number_of_files", Int("4")), Pair("@block_size", Int("-512")),
                          Pair("@buffer_count", Int("7")), Pair("@max_transfer_size", Int("0")),
                          Pair("@overwrite_s3_backup_file", Int("0"))));
}

TEST(TsqlTest, IntParametersTakeTheRangeOfSqlServersInt) {
  EXPECT_THAT(ParseOne("exec rds_cancel_task @task_id=2147483647").params,
              ElementsAre(Pair("@task_id", Int("2147483647"))));
  EXPECT_THAT(ParseOne("exec rds_task_status @task_id=-2147483648").params,
              ElementsAre(Pair("@task_id", Int("-2147483648"))));
  ExpectParameterError(
      "exec rds_cancel_task @task_id=123456789012345678901234567890",
      "1:22: Arithmetic overflow error converting 123456789012345678901234567890 to "
      "data type int (@task_id).");
  ExpectParameterError("exec rds_cancel_task @task_id=2147483648",
                       "1:22: Arithmetic overflow error converting 2147483648 to data type int "
                       "(@task_id).");
}

TEST(TsqlTest, IntParametersConvertStringsOfNumbers) {
  // As SQL Server converts varchar to int.
  ProcedureCall call = ParseOne(
      "exec rds_restore_database @restore_db_name=1, @s3_arn_to_restore_from='arn', "
      "@with_norecovery=' 1 '");
  EXPECT_THAT(call.params, ElementsAre(Pair("@restore_db_name", Int("1")),
                                       Pair("@s3_arn_to_restore_from", Str("arn")),
                                       Pair("@with_norecovery", Int("1"))));
  EXPECT_THAT(ParseOne("exec rds_task_status @task_id='007'").params,
              ElementsAre(Pair("@task_id", Int("7"))));
  EXPECT_THAT(ParseOne("exec rds_task_status @task_id='-0'").params,
              ElementsAre(Pair("@task_id", Int("0"))));
  EXPECT_THAT(ParseOne("exec rds_cancel_task @task_id=''").params,
              ElementsAre(Pair("@task_id", Int("0"))));
  ExpectParameterError("exec rds_cancel_task @task_id='+'",
                       "1:22: Error converting data type varchar to int: @task_id = '+'.");
}

TEST(TsqlTest, IntParametersRefuseWhatIsNotANumber) {
  ExpectParameterError(
      "exec rds_backup_database @source_db_name=a, @s3_arn_to_backup_to=b, "
      "@overwrite_s3_backup_file='yes'",
      "1:69: Error converting data type varchar to int: @overwrite_s3_backup_file = 'yes'.");
  ExpectParameterError("exec rds_task_status @task_id=abc",
                       "1:22: Error converting data type varchar to int: @task_id = abc.");
  ExpectParameterError(
      "exec rds_backup_database @source_db_name=a, @s3_arn_to_backup_to=b, @number_of_files='1.5'",
      "1:69: Error converting data type varchar to int: @number_of_files = '1.5'.");
}

TEST(TsqlTest, FlagsAreZeroOrOne) {
  ExpectParameterError(
      "exec rds_restore_database @restore_db_name=a, @s3_arn_to_restore_from=b, "
      "@with_norecovery=5",
      "1:74: @with_norecovery must be 0 or 1, not 5.");
  ExpectParameterError(
      "exec rds_backup_database @source_db_name=a, @s3_arn_to_backup_to=b, "
      "@overwrite_s3_backup_file=-1",
      "1:69: @overwrite_s3_backup_file must be 0 or 1, not -1.");
}

TEST(TsqlTest, NullInAnyCase) {
  ProcedureCall call = ParseOne("exec rds_task_status @db_name=NULL, @task_id=null");
  EXPECT_THAT(call.params, ElementsAre(Pair("@db_name", Null()), Pair("@task_id", Null())));
}

TEST(TsqlTest, BareWordsAndQuotedIdentifiersAreStrings) {
  ProcedureCall call = ParseOne(
      "exec msdb.dbo.rds_backup_database @source_db_name=customers, "
      "@s3_arn_to_backup_to=[arn:aws:s3:::b/x]]y.bak], @type=Differential, "
      "@kms_master_key_arn=\"key \"\"1\"\"\"");
  EXPECT_THAT(call.params, ElementsAre(Pair("@source_db_name", Str("customers")),
                                       Pair("@s3_arn_to_backup_to", Str("arn:aws:s3:::b/x]y.bak")),
                                       Pair("@type", Str("Differential")),
                                       Pair("@kms_master_key_arn", Str("key \"1\""))));
}

TEST(TsqlTest, DefaultLeavesTheParameterOut) {
  ProcedureCall call = ParseOne("exec rds_task_status @db_name=DEFAULT, @task_id=5");
  EXPECT_THAT(call.params, ElementsAre(Pair("@task_id", Int("5"))));
}

// --- Comments, whitespace, separators -------------------------------------------

TEST(TsqlTest, CommentsAnywhere) {
  ProcedureCall call = ParseOne(
      "-- back up the customers database\n"
      "/* header\n   over lines */ exec /* inline */ msdb.dbo.rds_backup_database -- name\n"
      "  @source_db_name /* before = */ = /* after = */ 'customers' , -- first\n"
      "  /* nested /* comment */ still a comment */ @s3_arn_to_backup_to='arn:aws:s3:::b/c.bak'"
      "-- last, no newline");
  EXPECT_EQ(call.position, (Position{3, 18}));
  EXPECT_THAT(call.params, ElementsAre(Pair("@source_db_name", Str("customers")),
                                       Pair("@s3_arn_to_backup_to", Str("arn:aws:s3:::b/c.bak"))));
}

TEST(TsqlTest, NoWhitespaceWhereNoneIsNeeded) {
  ProcedureCall call = ParseOne("exec[msdb]..[rds_task_status]@db_name='a',@task_id=1;");
  EXPECT_THAT(call.params, ElementsAre(Pair("@db_name", Str("a")), Pair("@task_id", Int("1"))));
}

TEST(TsqlTest, SeveralStatements) {
  std::vector<ProcedureCall> calls = Parse(
      "exec rds_task_status @db_name='a'; exec rds_task_status @task_id=2;;\n"
      "exec rds_cancel_task @task_id=2\n"
      "execute rds_task_status exec rds_task_status\n"
      "go\n"
      "msdb.dbo.rds_task_status @task_id=3 -- first statement of a batch needs no EXEC\n"
      "  GO  -- the end\n"
      "[rds_task_status]\n"
      "GO\n");
  ASSERT_EQ(calls.size(), 7u);
  EXPECT_EQ(calls[0].position, (Position{1, 1}));
  EXPECT_EQ(calls[1].position, (Position{1, 36}));
  EXPECT_EQ(calls[2].procedure, "rds_cancel_task");
  EXPECT_EQ(calls[2].position, (Position{2, 1}));
  EXPECT_EQ(calls[3].position, (Position{3, 1}));
  EXPECT_EQ(calls[4].position, (Position{3, 25}));
  EXPECT_THAT(calls[5].params, ElementsAre(Pair("@task_id", Int("3"))));
  EXPECT_EQ(calls[5].position, (Position{5, 1}));
  EXPECT_EQ(calls[6].position, (Position{7, 1}));
}

TEST(TsqlTest, OptionalSemicolonAndGoAtTheEnd) {
  for (std::string_view script : {
           "exec rds_task_status",
           "exec rds_task_status;",
           "exec rds_task_status ;\n",
           "exec rds_task_status\nGO",
           "exec rds_task_status;\nGO\n",
           "exec rds_task_status\n  go  \n\n",
           "exec rds_task_status\nGO -- done\n",
           "exec rds_task_status\n/* done */ GO /* really */\n",
           "\n\n  exec rds_task_status  \n\n",
       }) {
    ProcedureCall call = ParseOne(script);
    EXPECT_EQ(call.procedure, "rds_task_status") << script;
  }
}

TEST(TsqlTest, GoIsOnlyASeparatorAloneOnItsLine) {
  ExpectSyntaxError("exec rds_task_status GO",
                    "1:22: Incorrect syntax near 'GO'. GO separates batches only alone on its "
                    "line.");
  ExpectSyntaxError("exec rds_task_status; GO",
                    "1:23: Incorrect syntax near 'GO'. GO separates batches only alone on its "
                    "line.");
  ExpectSyntaxError("exec rds_task_status\nGO 2",
                    "2:1: Incorrect syntax near 'GO'. GO separates batches only alone on its "
                    "line.");
}

// --- Syntax errors, with positions ------------------------------------------------

TEST(TsqlTest, UnclosedQuotationMarks) {
  ExpectSyntaxError("exec rds_task_status @db_name='abc",
                    "1:31: Unclosed quotation mark after the character string 'abc'.");
  ExpectSyntaxError("exec rds_task_status @db_name=N'it''s\nstill open",
                    "1:31: Unclosed quotation mark after the character string 'it''s\n"
                    "still open'.");
  ExpectSyntaxError("exec rds_task_status\n  @db_name=[abc",
                    "2:12: Unclosed quotation mark after the character string 'abc'.");
  ExpectSyntaxError("exec \"msdb.dbo.rds_task_status",
                    "1:6: Unclosed quotation mark after the character string "
                    "'msdb.dbo.rds_task_status'.");
  ExpectSyntaxError(
      "exec rds_task_status @db_name='" + std::string(70, 'x'),
      "1:31: Unclosed quotation mark after the character string '" + std::string(64, 'x') + "…'.");
}

TEST(TsqlTest, UnclosedComment) {
  ExpectSyntaxError("exec rds_task_status /* one /* two */ still one",
                    "1:22: Missing end comment mark '*/'.");
  ExpectSyntaxError("\n\n  /*", "3:3: Missing end comment mark '*/'.");
}

TEST(TsqlTest, IncorrectSyntax) {
  // A missing comma.
  ExpectSyntaxError("exec msdb.dbo.rds_task_status @db_name='a' @task_id=1",
                    "1:44: Incorrect syntax near '@task_id'.");
  // A trailing comma, at the end of the script and before the next statement.
  ExpectSyntaxError("exec rds_task_status @db_name='a',", "1:34: Incorrect syntax near ','.");
  ExpectSyntaxError("exec rds_task_status @db_name='a', ;", "1:36: Incorrect syntax near ';'.");
  // A value missing, at the end, before GO, before a comma.
  ExpectSyntaxError("exec rds_task_status @db_name=", "1:30: Incorrect syntax near '='.");
  ExpectSyntaxError("exec rds_task_status @db_name=\nGO\n", "1:30: Incorrect syntax near '='.");
  ExpectSyntaxError("exec rds_task_status @db_name=, @task_id=1",
                    "1:31: Incorrect syntax near ','.");
  ExpectSyntaxError("exec rds_task_status @task_id=-", "1:31: Incorrect syntax near '-'.");
  ExpectSyntaxError("exec rds_task_status @task_id=-'1'", "1:32: Incorrect syntax near '1'.");
  // No procedure.
  ExpectSyntaxError("exec", "1:1: Incorrect syntax near 'exec'.");
  ExpectSyntaxError("EXEC;", "1:5: Incorrect syntax near ';'.");
  ExpectSyntaxError("exec execute rds_task_status", "1:6: Incorrect syntax near 'execute'.");
  ExpectSyntaxError("exec ('select 1')", "1:6: Incorrect syntax near '('.");
  // A broken name.
  ExpectSyntaxError("exec msdb.dbo.", "1:14: Incorrect syntax near '.'.");
  ExpectSyntaxError("exec msdb.'dbo'.rds_task_status", "1:11: Incorrect syntax near 'dbo'.");
  // What T-SQL has and the RDS procedures do not need.
  ExpectSyntaxError("exec rds_task_status @db_name='a' OUTPUT",
                    "1:35: Incorrect syntax near 'OUTPUT'.");
  ExpectSyntaxError("exec rds_cancel_task @task_id=1.5", "1:32: Incorrect syntax near '.'.");
  ExpectSyntaxError("exec rds_cancel_task @task_id=0x1F", "1:32: Incorrect syntax near 'x1F'.");
  ExpectSyntaxError("exec rds_cancel_task @task_id=(1)", "1:31: Incorrect syntax near '('.");
  ExpectSyntaxError("exec rds_cancel_task @ task_id=1", "1:22: Incorrect syntax near '@'.");
  // Only the first statement of a batch may leave out EXEC.
  ExpectSyntaxError("exec rds_task_status; rds_task_status",
                    "1:23: Incorrect syntax near 'rds_task_status'.");
  ExpectSyntaxError("exec rds_task_status; 'rds_task_status'",
                    "1:23: Incorrect syntax near 'rds_task_status'.");
}

TEST(TsqlTest, VariablesAreNotDeclared) {
  ExpectSyntaxError("exec @rc = msdb.dbo.rds_task_status",
                    "1:6: Must declare the scalar variable \"@rc\".");
  ExpectSyntaxError("exec rds_task_status @db_name=@name",
                    "1:31: Must declare the scalar variable \"@name\".");
  ExpectSyntaxError("exec rds_task_status @db_name",
                    "1:22: Must declare the scalar variable "
                    "\"@db_name\".");
}

TEST(TsqlTest, ColumnsCountCodePoints) {
  ExpectSyntaxError("exec rds_task_status\n  @db_name=N'ñandú—データ' @task_id=1",
                    "2:25: Incorrect syntax near '@task_id'.");
}

TEST(TsqlTest, OtherStatementsAreNotSupported) {
  ExpectSyntaxError("USE msdb\nexec rds_task_status",
                    "1:1: 'USE' statements are not supported: coffer sql runs EXEC calls of the "
                    "RDS procedures (msdb.dbo.rds_backup_database, …).");
  ExpectSyntaxError("exec rds_task_status\nselect * from t",
                    "2:1: 'select' statements are not supported: coffer sql runs EXEC calls of "
                    "the RDS procedures (msdb.dbo.rds_backup_database, …).");
}

TEST(TsqlTest, AScriptWithoutStatementsIsAnError) {
  const std::string message =
      "No statement to run: expected a call such as 'exec msdb.dbo.rds_task_status'.";
  ExpectSyntaxError("", "1:1: " + message);
  ExpectSyntaxError("  ;; ", "1:6: " + message);
  ExpectSyntaxError("-- nothing\nGO\n", "3:1: " + message);
}

TEST(TsqlTest, SyntaxIsCheckedBeforeParameters) {
  // The first statement misses a parameter, the second is malformed: as SQL
  // Server compiles the batch first, the syntax error wins.
  ExpectSyntaxError("exec rds_cancel_task\nexec rds_task_status @task_id=",
                    "2:30: Incorrect syntax near '='.");
}

// --- Procedure and parameter errors ----------------------------------------------

TEST(TsqlTest, UnknownProcedure) {
  Status status = ParseError("exec msdb.dbo.rds_backup_databse @source_db_name='a'");
  EXPECT_EQ(status.error_name(), kSqlUnknownProcedure);
  EXPECT_EQ(status.message(),
            "1:6: Could not find stored procedure 'msdb.dbo.rds_backup_databse'. The supported "
            "procedures are msdb.dbo.rds_backup_database, msdb.dbo.rds_restore_database, "
            "msdb.dbo.rds_task_status, msdb.dbo.rds_cancel_task, msdb.dbo.rds_finish_restore, "
            "msdb.dbo.rds_drop_database.");

  status = ParseError("sp_who2");
  EXPECT_EQ(status.error_name(), kSqlUnknownProcedure);
  EXPECT_THAT(status.message(), HasSubstr("1:1: Could not find stored procedure 'sp_who2'."));
}

TEST(TsqlTest, RdsProcedureInTheWrongPlace) {
  for (std::string_view name :
       {"master.dbo.rds_drop_database", "msdb.rdsadmin.rds_drop_database",
        "tempdb..rds_drop_database", "srv.msdb.dbo.rds_drop_database", "sys.rds_drop_database"}) {
    Status status = ParseError("exec  " + std::string(name) + " @db_name='a'");
    EXPECT_EQ(status.error_name(), kSqlUnknownProcedure) << name;
    EXPECT_EQ(status.message(),
              "1:7: Could not find stored procedure '" + std::string(name) +
                  "'. The RDS procedures are in msdb.dbo: msdb.dbo.rds_drop_database.");
  }
}

TEST(TsqlTest, UnknownParameter) {
  ExpectParameterError(
      "exec msdb.dbo.rds_backup_database @source_db_name='a', @s3_arn_to_backup_to='b', "
      "@foo=1",
      "1:82: '@foo' is not a parameter for procedure rds_backup_database. Its parameters are "
      "@source_db_name, @s3_arn_to_backup_to, @kms_master_key_arn, @overwrite_s3_backup_file, "
      "@type, @number_of_files, @block_size, @max_transfer_size, @buffer_count.");
  // A parameter of another procedure.
  ExpectParameterError("exec rds_finish_restore @db_name='a', @with_norecovery=1",
                       "1:39: '@with_norecovery' is not a parameter for procedure "
                       "rds_finish_restore. Its parameters are @db_name.");
  // Case is kept out of the message: names are lowered.
  ExpectParameterError("exec rds_cancel_task @Task=1",
                       "1:22: '@task' is not a parameter for procedure rds_cancel_task. Its "
                       "parameters are @task_id.");
}

TEST(TsqlTest, DuplicateParameter) {
  ExpectParameterError(
      "exec msdb.dbo.rds_backup_database @source_db_name='a', @s3_arn_to_backup_to='b',\n"
      "  @type='FULL', @TYPE='DIFFERENTIAL'",
      "2:17: Parameter '@type' was supplied multiple times.");
  ExpectParameterError("exec rds_task_status @task_id=DEFAULT, @task_id=1",
                       "1:40: Parameter '@task_id' was supplied multiple times.");
}

TEST(TsqlTest, MissingRequiredParameters) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"exec msdb.dbo.rds_backup_database @s3_arn_to_backup_to='arn:aws:s3:::b/c.bak'",
       "1:1: Procedure or function 'rds_backup_database' expects parameter '@source_db_name', "
       "which was not supplied."},
      {"exec msdb.dbo.rds_backup_database @source_db_name='a'",
       "1:1: Procedure or function 'rds_backup_database' expects parameter "
       "'@s3_arn_to_backup_to', which was not supplied."},
      {"exec msdb.dbo.rds_restore_database @s3_arn_to_restore_from='arn'",
       "1:1: Procedure or function 'rds_restore_database' expects parameter '@restore_db_name', "
       "which was not supplied."},
      {"exec msdb.dbo.rds_restore_database @restore_db_name='a'",
       "1:1: Procedure or function 'rds_restore_database' expects parameter "
       "'@s3_arn_to_restore_from', which was not supplied."},
      {"exec msdb.dbo.rds_cancel_task",
       "1:1: Procedure or function 'rds_cancel_task' expects parameter '@task_id', which was not "
       "supplied."},
      {"exec msdb.dbo.rds_finish_restore",
       "1:1: Procedure or function 'rds_finish_restore' expects parameter '@db_name', which was "
       "not supplied."},
      {"exec rds_task_status\n  EXEC msdb.dbo.rds_drop_database",
       "2:3: Procedure or function 'rds_drop_database' expects parameter '@db_name', which was "
       "not supplied."},
      // DEFAULT does not supply a parameter that has no default.
      {"exec rds_drop_database @db_name=default",
       "1:1: Procedure or function 'rds_drop_database' expects parameter '@db_name', which was "
       "not supplied."},
  };
  for (const auto& [script, message] : cases) ExpectParameterError(script, message);
  // NULL is a value: the procedure, not the parser, decides about it.
  EXPECT_THAT(ParseOne("exec rds_drop_database @db_name=NULL").params,
              ElementsAre(Pair("@db_name", Null())));
}

TEST(TsqlTest, PositionalParametersAreRefused) {
  ExpectParameterError("exec msdb.dbo.rds_cancel_task 5",
                       "1:31: Procedure rds_cancel_task takes its parameters by name, as '@name = "
                       "value': the positional value 5 (parameter number 1) is not supported. Its "
                       "parameters are @task_id.");
  ExpectParameterError(
      "exec rds_finish_restore @db_name='a', N'b'",
      "1:39: Procedure rds_finish_restore takes its parameters by name, as '@name = value': the "
      "positional value N'b' (parameter number 2) is not supported. Its parameters are "
      "@db_name.");
  ExpectParameterError("exec rds_cancel_task - 5",
                       "1:22: Procedure rds_cancel_task takes its parameters by name, as '@name = "
                       "value': the positional value - 5 (parameter number 1) is not supported. "
                       "Its parameters are @task_id.");
}

TEST(TsqlTest, ErrorsOfALaterStatementNameItsPosition) {
  ExpectParameterError("exec rds_task_status\nGO\nexec rds_cancel_task @task_id=1, @task_id=2",
                       "3:34: Parameter '@task_id' was supplied multiple times.");
}

TEST(TsqlTest, KeywordLikeWordsAsValues) {
  // GO mid-line and words such as FULL are plain unquoted strings as values.
  ProcedureCall call = ParseOne(
      "exec rds_restore_database @restore_db_name=go, "
      "@s3_arn_to_restore_from=arn, @type=FULL");
  EXPECT_THAT(call.params,
              ElementsAre(Pair("@restore_db_name", Str("go")),
                          Pair("@s3_arn_to_restore_from", Str("arn")), Pair("@type", Str("FULL"))));
}

TEST(TsqlTest, LongTokensAreShortenedInMessages) {
  ExpectSyntaxError("exec rds_task_status @db_name='a' " + std::string(100, 'z'),
                    "1:35: Incorrect syntax near '" + std::string(64, 'z') + "…'.");
}

TEST(TsqlTest, ArbitraryInputGivesAResultOrAnError) {
  // Scripts glued from fragments of the grammar, well-formed or not: every one
  // parses or fails with a positioned kInvalidArgument, and never crashes.
  const std::string_view pieces[] = {
      "exec",     " ",    "\n",  "msdb",
      ".",        "..",   "dbo", "rds_task_status",
      "@db_name", "=",    "'x'", "'",
      "N'",       "''",   ",",   ";",
      "GO",       "--",   "/*",  "*/",
      "[",        "]",    "\"",  "-",
      "12",       "NULL", "@",   "rds_cancel_task",
      "@task_id", "é",    "\t",  "DEFAULT",
  };
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (int i = 0; i < 20000; ++i) {
    std::string script;
    int n = static_cast<int>(next() % 16);
    for (int k = 0; k < n; ++k) script += pieces[(next() >> 8) % std::size(pieces)];
    Result<std::vector<ProcedureCall>> calls = ParseScript(script);
    if (calls.ok()) {
      EXPECT_FALSE(calls->empty()) << script;
    } else {
      EXPECT_EQ(calls.status().code(), StatusCode::kInvalidArgument) << script;
      EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(calls.status().message()[0])))
          << script << " -> " << calls.status().message();
    }
  }
}

}  // namespace
}  // namespace coffer::cli::tsql
