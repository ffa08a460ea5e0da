#include "cli/result_grid.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace coffer::cli {
namespace {

const std::nullopt_t NUL = std::nullopt;

ResultSet TaskStatus() {
  return ResultSet{
      {"task_id", "task_type", "database_name", "% complete", "lifecycle", "task_info"},
      {
          {"1", "BACKUP_DB", "customers", "100", "SUCCESS", NUL},
          {"2", "RESTORE_DB", "clients", "25", "IN_PROGRESS", ""},
      },
  };
}

TEST(ResultGridTest, BorderedGridWithFooter) {
  EXPECT_EQ(FormatGrid(TaskStatus()),
            "+---------+------------+---------------+------------+-------------+-----------+\n"
            "| task_id | task_type  | database_name | % complete | lifecycle   | task_info |\n"
            "+---------+------------+---------------+------------+-------------+-----------+\n"
            "| 1       | BACKUP_DB  | customers     | 100        | SUCCESS     | NULL      |\n"
            "| 2       | RESTORE_DB | clients       | 25         | IN_PROGRESS |           |\n"
            "+---------+------------+---------------+------------+-------------+-----------+\n"
            "\n"
            "(2 rows affected)\n");
}

TEST(ResultGridTest, OneRowAndNoRows) {
  ResultSet one{{"a"}, {{"x"}}};
  EXPECT_EQ(FormatGrid(one),
            "+---+\n"
            "| a |\n"
            "+---+\n"
            "| x |\n"
            "+---+\n"
            "\n"
            "(1 row affected)\n");
  ResultSet none{{"task_id", "lifecycle"}, {}};
  EXPECT_EQ(FormatGrid(none),
            "+---------+-----------+\n"
            "| task_id | lifecycle |\n"
            "+---------+-----------+\n"
            "\n"
            "(0 rows affected)\n");
}

TEST(ResultGridTest, WithoutFooter) {
  ResultSet one{{"a", "b"}, {{"x", NUL}}};
  EXPECT_EQ(FormatGrid(one, {.footer = false}),
            "+---+------+\n"
            "| a | b    |\n"
            "+---+------+\n"
            "| x | NULL |\n"
            "+---+------+\n");
}

TEST(ResultGridTest, NoColumns) {
  EXPECT_EQ(FormatGrid(ResultSet{}), "(0 rows affected)\n");
  EXPECT_EQ(FormatGrid(ResultSet{}, {.footer = false}), "");
}

TEST(ResultGridTest, WidthsCountCodePoints) {
  ResultSet r{{"name", "note"}, {{"données", "ok"}, {"データ", "—"}}};
  EXPECT_EQ(FormatGrid(r, {.footer = false}),
            "+---------+------+\n"
            "| name    | note |\n"
            "+---------+------+\n"
            "| données | ok   |\n"
            "| データ     | —    |\n"
            "+---------+------+\n");
}

TEST(ResultGridTest, LongCellsAreKeptWhole) {
  std::string arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
  ResultSet r{{"KMS_master_key_arn"}, {{arn}}};
  std::string dashes(arn.size() + 2, '-');
  EXPECT_EQ(FormatGrid(r, {.footer = false}),
            "+" + dashes + "+\n| KMS_master_key_arn" + std::string(arn.size() - 18, ' ') + " |\n+" +
                dashes + "+\n| " + arn + " |\n+" + dashes + "+\n");
}

TEST(ResultGridTest, MaxColumnWidthCutsWithEllipsis) {
  ResultSet r{{"task_info", "id"},
              {{"[2019-09-30 04:41:22.127] Task has been aborted", "1"}, {"short", "22"}}};
  EXPECT_EQ(FormatGrid(r, {.max_column_width = 10}),
            "+------------+----+\n"
            "| task_info  | id |\n"
            "+------------+----+\n"
            "| [2019-09-… | 1  |\n"
            "| short      | 22 |\n"
            "+------------+----+\n"
            "\n"
            "(2 rows affected)\n");
  // Headers are cut alike; a width of 1 leaves only the mark.
  ResultSet narrow{{"lifecycle"}, {{"SUCCESS"}, {"ü"}}};
  EXPECT_EQ(FormatGrid(narrow, {.max_column_width = 1, .footer = false}),
            "+---+\n"
            "| … |\n"
            "+---+\n"
            "| … |\n"
            "| ü |\n"
            "+---+\n");
  // Code points, not bytes, are counted when cutting.
  ResultSet accents{{"n"}, {{"ééééé"}}};
  EXPECT_EQ(FormatGrid(accents, {.max_column_width = 4, .footer = false}),
            "+------+\n"
            "| n    |\n"
            "+------+\n"
            "| ééé… |\n"
            "+------+\n");
}

TEST(ResultGridTest, MultiLineCells) {
  ResultSet r{{"task_id", "task_info"},
              {{"7",
                "[2019-09-30 04:41:22.127] Aborted\r\n[2019-09-30 04:41:22.127] Task has "
                "been aborted"},
               {"8", "one\n"}}};
  EXPECT_EQ(FormatGrid(r, {.footer = false}),
            "+---------+-------------------------------------------------+\n"
            "| task_id | task_info                                       |\n"
            "+---------+-------------------------------------------------+\n"
            "| 7       | [2019-09-30 04:41:22.127] Aborted               |\n"
            "|         | [2019-09-30 04:41:22.127] Task has been aborted |\n"
            "| 8       | one                                             |\n"
            "|         |                                                 |\n"
            "+---------+-------------------------------------------------+\n");
}

TEST(ResultGridTest, ControlCharactersAndBadUtf8CannotReachTheTerminal) {
  ResultSet r{{"v"},
              {{std::string("a\tb")},
               {std::string("\x1b[31mred")},
               {std::string("x\ry\x7f")},
               {std::string("\xc2\x9b"
                            "c1")},
               {std::string("bad\xff\xc3")},
               {std::string("\xed\xa0\x80")},  // a surrogate
               {std::string("nul\0z", 5)}}};
  EXPECT_EQ(FormatGrid(r, {.footer = false}),
            "+----------+\n"
            "| v        |\n"
            "+----------+\n"
            "| a b      |\n"
            "| �[31mred |\n"
            "| x�y�     |\n"
            "| �c1      |\n"
            "| bad��    |\n"
            "| ���      |\n"
            "| nul�z    |\n"
            "+----------+\n");
}

TEST(ResultGridTest, ShortRowsArePaddedWithNull) {
  ResultSet r{{"a", "b"}, {{"1"}, {"1", "2", "extra"}}};
  EXPECT_EQ(FormatGrid(r, {.footer = false}),
            "+---+------+\n"
            "| a | b    |\n"
            "+---+------+\n"
            "| 1 | NULL |\n"
            "| 1 | 2    |\n"
            "+---+------+\n");
  EXPECT_EQ(FormatJson(r),
            "[\n"
            "    {\n"
            "        \"a\": \"1\",\n"
            "        \"b\": null\n"
            "    },\n"
            "    {\n"
            "        \"a\": \"1\",\n"
            "        \"b\": \"2\"\n"
            "    }\n"
            "]\n");
}

TEST(ResultGridTest, RowsAffected) {
  EXPECT_EQ(RowsAffected(0), "(0 rows affected)");
  EXPECT_EQ(RowsAffected(1), "(1 row affected)");
  EXPECT_EQ(RowsAffected(36), "(36 rows affected)");
}

TEST(ResultGridTest, JsonRows) {
  EXPECT_EQ(FormatJson(TaskStatus()),
            "[\n"
            "    {\n"
            "        \"task_id\": \"1\",\n"
            "        \"task_type\": \"BACKUP_DB\",\n"
            "        \"database_name\": \"customers\",\n"
            "        \"% complete\": \"100\",\n"
            "        \"lifecycle\": \"SUCCESS\",\n"
            "        \"task_info\": null\n"
            "    },\n"
            "    {\n"
            "        \"task_id\": \"2\",\n"
            "        \"task_type\": \"RESTORE_DB\",\n"
            "        \"database_name\": \"clients\",\n"
            "        \"% complete\": \"25\",\n"
            "        \"lifecycle\": \"IN_PROGRESS\",\n"
            "        \"task_info\": \"\"\n"
            "    }\n"
            "]\n");
}

TEST(ResultGridTest, JsonEmpty) {
  EXPECT_EQ(FormatJson(ResultSet{{"task_id"}, {}}), "[]\n");
  EXPECT_EQ(FormatJson(ResultSet{}), "[]\n");
}

TEST(ResultGridTest, JsonEscaping) {
  ResultSet r{{"q\"uote", "text"},
              {{"back\\slash", "line\nbreak\ttab \x01 \"quoted\" données"}, {"bad\xff", "\x1b"}}};
  EXPECT_EQ(FormatJson(r),
            "[\n"
            "    {\n"
            "        \"q\\\"uote\": \"back\\\\slash\",\n"
            "        \"text\": \"line\\nbreak\\ttab \\u0001 \\\"quoted\\\" données\"\n"
            "    },\n"
            "    {\n"
            "        \"q\\\"uote\": \"bad\xEF\xBF\xBD\",\n"
            "        \"text\": \"\\u001b\"\n"
            "    }\n"
            "]\n");
}

TEST(ResultGridTest, JsonRepeatedColumnNamesKeepEveryValue) {
  ResultSet r{{"a", "a", "a_2", "a"}, {{"1", "2", "3", "4"}}};
  EXPECT_EQ(FormatJson(r),
            "[\n"
            "    {\n"
            "        \"a\": \"1\",\n"
            "        \"a_3\": \"2\",\n"
            "        \"a_2\": \"3\",\n"
            "        \"a_4\": \"4\"\n"
            "    }\n"
            "]\n");
}

}  // namespace
}  // namespace coffer::cli
