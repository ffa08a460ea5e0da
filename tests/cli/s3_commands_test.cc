// `coffer s3 mb|ls|cp|rm` over directory buckets (the embedded default) and a
// configured bucket whose service is unreachable: what is printed, what is
// stored, exit statuses.
#include "cli/s3_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>

#include "testing/files.h"

namespace coffer::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class S3CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);  // ls prints local times
    ::tzset();
    data_ = dir_.path() + "/data";
    std::filesystem::create_directory(data_);
  }

  int Run(std::vector<std::string> args, std::string input = "") {
    out_.str("");
    err_.str("");
    std::istringstream in(input);
    CLI::App app{"coffer"};
    app.require_subcommand(1);
    ClientEnvironment env;
    env.env = {{"HOME", dir_.path()}};
    env.out = &out_;
    env.err = &err_;
    env.in = &in;
    auto group = RegisterS3Commands(app, env);
    args.insert(args.begin(), {"s3", "--data-dir", data_});
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& e) {
      return app.exit(e, out_, err_);
    }
    EXPECT_TRUE(group->Selected());
    return group->Run();
  }

  std::string Object(std::string_view bucket, std::string_view relative) {
    return testing::ReadFile(data_ + "/buckets/" + std::string(bucket) + "/" +
                             std::string(relative));
  }

  testing::TempDir dir_;
  std::string data_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(S3CommandsTest, MakeBucket) {
  EXPECT_EQ(Run({"mb", "s3://backups"}), 0);
  EXPECT_EQ(out_.str(), "make_bucket: backups\n");
  EXPECT_TRUE(std::filesystem::is_directory(data_ + "/buckets/backups"));
  EXPECT_EQ(Run({"mb", "s3://backups"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("make_bucket failed: s3://backups BucketAlreadyOwnedByYou"));
  EXPECT_EQ(Run({"mb", "s3://Bad_Name"}), 252);
  EXPECT_THAT(err_.str(), HasSubstr("InvalidBucketName"));
  EXPECT_EQ(Run({"mb", "s3://backups/key"}), 252);
}

TEST_F(S3CommandsTest, CopyUpAndDownAndList) {
  ASSERT_EQ(Run({"mb", "s3://backups"}), 0);
  std::string local = dir_.File("db.bak");
  testing::WriteFile(local, "backup bytes");
  EXPECT_EQ(Run({"cp", local, "s3://backups/daily/"}), 0);
  EXPECT_EQ(out_.str(), "upload: " + local + " to s3://backups/daily/db.bak\n");
  EXPECT_EQ(Object("backups", "daily/db.bak%o"), "backup bytes");
  EXPECT_EQ(Run({"cp", "-", "s3://backups/from stdin.txt"}, "piped\n"), 0);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(Object("backups", "from%20stdin.txt%o"), "piped\n");
  EXPECT_EQ(Run({"cp", local, "arn:aws:s3:::backups/daily/other.bak"}), 0);

  EXPECT_EQ(Run({"ls", "s3://backups"}), 0);
  EXPECT_THAT(out_.str(), MatchesRegex("                           PRE daily/\n"
                                       "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
                                       "          6 from stdin.txt\n"));
  EXPECT_EQ(Run({"ls", "s3://backups/daily/"}), 0);
  EXPECT_THAT(out_.str(), MatchesRegex(".{19}         12 db.bak\n.{19}         12 other.bak\n"));
  EXPECT_EQ(Run({"ls", "--recursive", "s3://backups"}), 0);
  EXPECT_THAT(out_.str(), MatchesRegex(".{19}         12 daily/db.bak\n.{19}         12 "
                                       "daily/other.bak\n.{19}          6 from stdin.txt\n"));
  EXPECT_EQ(Run({"ls"}), 0);
  EXPECT_THAT(out_.str(), MatchesRegex("[0-9]{4}-.{14} backups\n"));

  EXPECT_EQ(Run({"cp", "s3://backups/daily/db.bak", "-"}), 0);
  EXPECT_EQ(out_.str(), "backup bytes");
  std::string down = dir_.path() + "/down";
  std::filesystem::create_directory(down);
  EXPECT_EQ(Run({"cp", "s3://backups/daily/db.bak", down}), 0);
  EXPECT_EQ(out_.str(), "download: s3://backups/daily/db.bak to " + down + "/db.bak\n");
  EXPECT_EQ(testing::ReadFile(down + "/db.bak"), "backup bytes");
  EXPECT_EQ(testing::FileMode(down + "/db.bak"), 0600u);
  // As aws s3 cp, the directories of a download's destination are created.
  EXPECT_EQ(Run({"cp", "s3://backups/daily/db.bak", down + "/new/sub/"}), 0);
  EXPECT_EQ(testing::ReadFile(down + "/new/sub/db.bak"), "backup bytes");
  EXPECT_EQ(Run({"cp", "s3://backups/daily/db.bak", "s3://backups/copy.bak"}), 0);
  EXPECT_EQ(out_.str(), "copy: s3://backups/daily/db.bak to s3://backups/copy.bak\n");
  EXPECT_EQ(Object("backups", "copy.bak%o"), "backup bytes");
}

TEST_F(S3CommandsTest, RemoveOneOrAPrefix) {
  ASSERT_EQ(Run({"mb", "s3://backups"}), 0);
  for (const char* key : {"a/1", "a/2", "b"}) {
    ASSERT_EQ(Run({"cp", "-", std::string("s3://backups/") + key}, key), 0);
  }
  EXPECT_EQ(Run({"rm", "s3://backups/b"}), 0);
  EXPECT_EQ(out_.str(), "delete: s3://backups/b\n");
  EXPECT_EQ(Run({"rm", "--recursive", "s3://backups/a/"}), 0);
  EXPECT_EQ(out_.str(), "delete: s3://backups/a/1\ndelete: s3://backups/a/2\n");
  EXPECT_EQ(Run({"ls", "--recursive", "s3://backups"}), 0);
  EXPECT_EQ(out_.str(), "");
  // As aws s3 ls: a prefix that matches nothing exits 1, an empty bucket 0.
  EXPECT_EQ(Run({"ls", "s3://backups/a/"}), 1);
  EXPECT_EQ(out_.str(), "");
  EXPECT_EQ(Run({"ls", "s3://backups"}), 0);
  EXPECT_EQ(Run({"rm", "s3://backups"}), 252);  // no key
}

TEST_F(S3CommandsTest, ARecursiveRemoveTakesTheGivenFolderOnly) {
  // As aws s3 rm --recursive: s3://B/foo is the folder foo/, never foobar or foo.txt.
  ASSERT_EQ(Run({"mb", "s3://backups"}), 0);
  for (const char* key : {"foo", "foo/a", "foo/b/c", "foobar", "foo.txt", "fo", "other/foo"}) {
    ASSERT_EQ(Run({"cp", "-", std::string("s3://backups/") + key}, key), 0);
  }
  EXPECT_EQ(Run({"rm", "--recursive", "s3://backups/foo"}), 0);
  EXPECT_EQ(out_.str(), "delete: s3://backups/foo/a\ndelete: s3://backups/foo/b/c\n");
  EXPECT_EQ(Run({"ls", "--recursive", "s3://backups"}), 0);
  for (const char* kept : {" fo\n", " foo\n", " foo.txt\n", " foobar\n", " other/foo\n"}) {
    EXPECT_THAT(out_.str(), HasSubstr(kept));
  }
  EXPECT_THAT(out_.str(), Not(HasSubstr("foo/")));
}

TEST_F(S3CommandsTest, FailuresAndTheirExitStatuses) {
  EXPECT_EQ(Run({"ls", "s3://missing"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("NoSuchBucket"));
  EXPECT_EQ(Run({"cp", "a", "b"}), 252);
  EXPECT_THAT(err_.str(), HasSubstr("one of SOURCE and DESTINATION must be an s3:// location"));
  EXPECT_EQ(Run({"cp", "-", "s3://missing/"}), 252);
  EXPECT_THAT(err_.str(), HasSubstr("give the object's key"));
  EXPECT_EQ(Run({"cp", dir_.File("absent"), "s3://missing/x"}), 1);
  EXPECT_THAT(err_.str(),
              HasSubstr("upload failed: " + dir_.File("absent") + " to s3://missing/x"));
  ASSERT_EQ(Run({"mb", "s3://backups"}), 0);
  EXPECT_EQ(Run({"cp", "s3://backups/none", dir_.File("out")}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("download failed: s3://backups/none to " + dir_.File("out") +
                                    " NoSuchKey"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("out")));
}

// Every bucket is under the data directory unless configured otherwise: a data
// directory that does not exist is a mistake, not an account without buckets.
TEST_F(S3CommandsTest, AMissingDataDirectoryIsAnError) {
  data_ = dir_.path() + "/no-such-dir";
  EXPECT_EQ(Run({"ls"}), 253);
  EXPECT_THAT(err_.str(), HasSubstr("the data directory " + data_ + " does not exist"));
  EXPECT_EQ(Run({"cp", "-", "s3://backups/x"}, "x"), 253);
  EXPECT_FALSE(std::filesystem::exists(data_));
}

TEST_F(S3CommandsTest, ConfiguredBucketsAndConfigErrors) {
  std::string config = dir_.File("config.toml");
  testing::WriteFile(config,
                     "[buckets.offsite]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:1\"\n"
                     "access_key_id = \"AK\"\nsecret_access_key = \"TOPSECRET\"\n");
  // Listed with the directory buckets; no service is reached to list names.
  ASSERT_EQ(Run({"mb", "s3://local"}), 0);
  EXPECT_EQ(Run({"--config", config, "ls"}), 0);
  EXPECT_THAT(out_.str(), MatchesRegex(" {19} offsite\n[0-9]{4}-.{14} local\n"));
  testing::WriteFile(config, "[buckets.offsite]\ntype = \"s3\"\n");
  EXPECT_EQ(Run({"--config", config, "ls"}), 253);
  EXPECT_THAT(err_.str(), HasSubstr("buckets.offsite: endpoint is missing"));
  // A profile that does not exist is found out before anything is done.
  testing::WriteFile(config,
                     "[buckets.offsite]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:1\"\n"
                     "profile = \"nowhere\"\n");
  EXPECT_EQ(Run({"--config", config, "ls"}), 253);
  EXPECT_THAT(err_.str(), HasSubstr("buckets.offsite"));
  EXPECT_THAT(err_.str(), HasSubstr("nowhere"));
}

TEST(FormatObjectLineTest, AsAwsS3Ls) {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  objstore::ObjectInfo info;
  info.size = 1234;
  info.last_modified = FromEpochMillis(1796033396000);
  EXPECT_EQ(FormatObjectLine(info, "db.bak"), "2026-11-30 10:09:56       1234 db.bak");
  info.size = 12345678901;
  EXPECT_EQ(FormatObjectLine(info, "x"), "2026-11-30 10:09:56 12345678901 x");
}

}  // namespace
}  // namespace coffer::cli
