#include "objstore/file_object_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "objstore/key_path.h"
#include "objstore/location.h"
#include "testing/files.h"
#include "testing/status_matchers.h"

namespace coffer::objstore {
namespace {

using ::coffer::testing::DirectoryContents;
using ::coffer::testing::FileMode;
using ::coffer::testing::IsOk;
using ::coffer::testing::SnapshotDirectory;
using ::coffer::testing::TempDir;

class FileObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = FileObjectStore::Create(dir_.path() + "/buckets");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    ASSERT_OK(store_->CreateBucket("bucket"));
  }

  std::string BucketDir() const { return dir_.path() + "/buckets/bucket"; }

  // Every file and directory under the bucket, relative to it.
  std::vector<std::string> Tree() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(BucketDir())) {
      out.push_back(std::filesystem::relative(e.path(), BucketDir()).string() +
                    (e.is_directory() ? "/" : ""));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  Status Put(std::string_view key, std::string_view data) {
    return store_->Put("bucket", key, AsBytes(data));
  }

  TempDir dir_;
  std::unique_ptr<FileObjectStore> store_;
};

TEST_F(FileObjectStoreTest, ObjectsAreFilesUnderTheBucketDirectory) {
  ASSERT_OK(Put("db/2026/full.bak", "payload"));
  EXPECT_EQ(testing::ReadFile(BucketDir() + "/db/2026/full.bak%o"), "payload");
  EXPECT_EQ(FileMode(dir_.path() + "/buckets"), 0700u);
  EXPECT_EQ(FileMode(BucketDir()), 0700u);
  EXPECT_EQ(FileMode(BucketDir() + "/db"), 0700u);
  EXPECT_EQ(FileMode(BucketDir() + "/db/2026"), 0700u);
  EXPECT_EQ(FileMode(BucketDir() + "/db/2026/full.bak%o"), 0600u);
}

TEST_F(FileObjectStoreTest, ObjectFilesAre0600WhateverTheUmask) {
  mode_t old = ::umask(0);
  Status put = Put("k", "v");
  ::umask(old);
  ASSERT_OK(put);
  EXPECT_EQ(FileMode(BucketDir() + "/k%o"), 0600u);
}

TEST_F(FileObjectStoreTest, KeysNeverReachOutsideTheBucket) {
  TempDir outside_marker;
  auto before = SnapshotDirectory(dir_.path());
  const std::vector<std::string> keys = {"..",  "../escaped", "../../etc/passwd", "a/../../..",
                                         "./x", "/abs/path",  "x/../../../y",     "....//..//.."};
  for (const std::string& key : keys) ASSERT_OK(Put(key, key)) << key;
  // Everything new is inside the bucket directory.
  auto after = SnapshotDirectory(dir_.path());
  for (const auto& [name, hash] : after) {
    if (before.contains(name)) continue;
    EXPECT_TRUE(name.starts_with("buckets/bucket/")) << name;
  }
  for (const std::string& key : keys) {
    auto info = store_->Head("bucket", key);
    ASSERT_TRUE(info.ok()) << key;
    EXPECT_EQ(info->size, key.size());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/buckets/escaped"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/escaped"));
}

TEST_F(FileObjectStoreTest, AbortAndErrorsLeaveNoTemporaryFile) {
  ASSERT_OK(Put("kept", "old"));
  auto before = Tree();
  {
    auto w = store_->OpenWriter("bucket", "new/deep/key");
    ASSERT_TRUE(w.ok());
    ASSERT_OK((*w)->Write(AsBytes(std::string_view("partial"))));
    // While writing, the data is in a temporary file beside the object.
    bool temp_seen = false;
    for (const std::string& name : Tree()) temp_seen |= name.find(".tmp-") != std::string::npos;
    EXPECT_TRUE(temp_seen);
    (*w)->Abort();
  }
  {
    auto w = store_->OpenWriter("bucket", "kept");
    ASSERT_TRUE(w.ok());
    ASSERT_OK((*w)->Write(AsBytes(std::string_view("new"))));
    // destroyed without Close()
  }
  for (const std::string& name : Tree()) {
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
  }
  EXPECT_EQ(testing::ReadFile(BucketDir() + "/kept%o"), "old");
  ASSERT_OK_AND_ASSIGN(ListPage page, store_->List("bucket", {}));
  ASSERT_EQ(page.objects.size(), 1u);
  EXPECT_EQ(page.objects[0].key, "kept");
}

TEST_F(FileObjectStoreTest, RemoveAbandonedUploadsKeepsWritersAtWork) {
  ASSERT_OK(Put("a/kept", "object"));
  // Writers of a process that died: their temporary files, nobody holding them.
  std::filesystem::create_directories(BucketDir() + "/x/y");
  testing::WriteFile(BucketDir() + "/x/y/.tmp-dead01", "partial");
  testing::WriteFile(BucketDir() + "/a/.tmp-dead02", "partial");
  testing::WriteFile(BucketDir() + "/.tmp-dead03", "partial");
  // Not in a directory of keys: not the store's.
  std::filesystem::create_directory(BucketDir() + "/.hidden");
  testing::WriteFile(BucketDir() + "/.hidden/.tmp-other", "junk");
  // A writer at work, here or in another process.
  ASSERT_OK_AND_ASSIGN(auto writer, store_->OpenWriter("bucket", "a/b/new"));
  ASSERT_OK(writer->Write(AsBytes(std::string_view("in progress"))));

  ASSERT_OK_AND_ASSIGN(int removed, store_->RemoveAbandonedUploads("bucket"));
  EXPECT_EQ(removed, 3);
  // The directories only the dead writer needed went too.
  std::vector<std::string> tree = Tree();
  ASSERT_EQ(tree.size(), 6u) << ::testing::PrintToString(tree);
  EXPECT_EQ(tree[0], ".hidden/");
  EXPECT_EQ(tree[1], ".hidden/.tmp-other");
  EXPECT_EQ(tree[2], "a/");
  EXPECT_EQ(tree[3], "a/b/");
  EXPECT_TRUE(tree[4].starts_with("a/b/.tmp-")) << tree[4];
  EXPECT_EQ(tree[5], "a/kept%o");

  ASSERT_OK(writer->Close());
  EXPECT_EQ(testing::ReadFile(BucketDir() + "/a/b/new%o"), "in progress");
  ASSERT_OK_AND_ASSIGN(removed, store_->RemoveAbandonedUploads("bucket"));
  EXPECT_EQ(removed, 0);
  EXPECT_EQ(store_->RemoveAbandonedUploads("missing").status().error_name(), kNoSuchBucket);
}

TEST_F(FileObjectStoreTest, ListIgnoresFilesItDidNotWrite) {
  ASSERT_OK(Put("a/real", "x"));
  testing::WriteFile(BucketDir() + "/a/.tmp-leftover", "junk");
  testing::WriteFile(BucketDir() + "/a/stray", "junk");
  testing::WriteFile(BucketDir() + "/%41%o", "junk");
  std::filesystem::create_directory(BucketDir() + "/.hidden");
  testing::WriteFile(BucketDir() + "/.hidden/x%o", "junk");
  ASSERT_OK_AND_ASSIGN(ListPage page, store_->List("bucket", {}));
  ASSERT_EQ(page.objects.size(), 1u);
  EXPECT_EQ(page.objects[0].key, "a/real");
}

TEST_F(FileObjectStoreTest, DeleteRemovesDirectoriesLeftEmpty) {
  ASSERT_OK(Put("a/b/c/d", "1"));
  ASSERT_OK(Put("a/x", "2"));
  ASSERT_OK(store_->Delete("bucket", "a/b/c/d"));
  EXPECT_EQ(Tree(), std::vector<std::string>({"a/", "a/x%o"}));
  ASSERT_OK(store_->Delete("bucket", "a/x"));
  EXPECT_TRUE(Tree().empty());
  ASSERT_OK(store_->HeadBucket("bucket"));
}

TEST_F(FileObjectStoreTest, AReaderKeepsTheVersionItOpened) {
  ASSERT_OK(Put("k", "first version"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectReader> reader, store_->Get("bucket", "k"));
  ASSERT_OK(Put("k", "second"));
  std::string read(64, '\0');
  ASSERT_OK_AND_ASSIGN(
      size_t n,
      ReadFull(*reader, std::span<uint8_t>(reinterpret_cast<uint8_t*>(read.data()), read.size())));
  EXPECT_EQ(read.substr(0, n), "first version");
}

TEST_F(FileObjectStoreTest, ConcurrentDeletesDoNotBreakWriters) {
  // Delete prunes directories left empty; a writer of a neighbouring key may have
  // just created them. Both keep working, in any interleaving.
  auto churn = [&](std::string key, Status* result) {
    for (int i = 0; i < 300; ++i) {
      Status put = Put(key, "v");
      if (!put.ok()) {
        *result = put;
        return;
      }
      Status del = store_->Delete("bucket", key);
      if (!del.ok()) {
        *result = del;
        return;
      }
    }
  };
  Status a, b;
  std::thread ta(churn, "d/x/y/a", &a);
  std::thread tb(churn, "d/x/y/b", &b);
  ta.join();
  tb.join();
  EXPECT_OK(a);
  EXPECT_OK(b);
  EXPECT_TRUE(Tree().empty());
}

TEST_F(FileObjectStoreTest, ContinuationTokensAreChecked) {
  ListOptions options;
  options.continuation_token = "not base64!";
  EXPECT_EQ(store_->List("bucket", options).status().error_name(), kInvalidArgument);
}

TEST_F(FileObjectStoreTest, BucketsAreDirectories) {
  EXPECT_OK(store_->CreateBucket("second"));
  EXPECT_TRUE(std::filesystem::is_directory(dir_.path() + "/buckets/second"));
  EXPECT_EQ(store_->BucketDirectory("second"), dir_.path() + "/buckets/second");
  EXPECT_EQ(store_->CreateBucket("second").error_name(), kBucketAlreadyOwnedByYou);
  EXPECT_EQ(store_->HeadBucket("third").error_name(), kNoSuchBucket);
}

}  // namespace
}  // namespace coffer::objstore
