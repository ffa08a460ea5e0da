#include "objstore/object_store_conformance.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "common/random.h"
#include "objstore/location.h"
#include "testing/status_matchers.h"

namespace coffer::objstore::testing {
namespace {

using ::coffer::testing::IsOk;
using ::coffer::testing::IsOkAndHolds;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

std::string Pattern(uint64_t seed, size_t size) {
  SeededRandom random(seed);
  std::string out(size, '\0');
  random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

// Reads a source whole through an odd-sized buffer (partial reads happen).
Result<std::string> ReadAll(ByteSource& source) {
  std::string out;
  std::vector<uint8_t> buffer(7001);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, source.Read(buffer));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
}

Result<std::string> GetAll(ObjectStore& store, std::string_view bucket, std::string_view key,
                           std::optional<ByteRange> range = {}) {
  ASSIGN_OR_RETURN(std::unique_ptr<ObjectReader> reader, store.Get(bucket, key, range));
  return ReadAll(*reader);
}

Status PutString(ObjectStore& store, std::string_view bucket, std::string_view key,
                 std::string_view data) {
  return store.Put(bucket, key, AsBytes(data));
}

// Every key and common prefix of a listing, page after page.
struct Listing {
  std::vector<std::string> keys;
  std::vector<std::string> prefixes;
  std::vector<size_t> page_sizes;
};
Result<Listing> ListAll(ObjectStore& store, std::string_view bucket, ListOptions options) {
  Listing all;
  for (int pages = 0; pages < 1000; ++pages) {
    ASSIGN_OR_RETURN(ListPage page, store.List(bucket, options));
    all.page_sizes.push_back(page.objects.size() + page.common_prefixes.size());
    for (const ObjectInfo& o : page.objects) all.keys.push_back(o.key);
    for (const std::string& p : page.common_prefixes) all.prefixes.push_back(p);
    if (!page.truncated()) return all;
    options.continuation_token = page.next_continuation_token;
  }
  return InternalError("the listing does not end");
}

MATCHER_P(HasErrorName, name, "") {
  const Status& st = ::coffer::testing::StatusOf(arg);
  *result_listener << "which is " << (st.ok() ? std::string("OK") : st.ToString());
  return !st.ok() && st.error_name() == std::string_view(name);
}

}  // namespace

void ObjectStoreConformance::SetUp() {
  std::string why;
  bool must_run = false;
  store_ = GetParam()->Open(why, must_run);
  if (store_ == nullptr) {
    if (must_run) FAIL() << GetParam()->Name() << ": " << why;
    GTEST_SKIP() << GetParam()->Name() << ": " << why;
  }
  bucket_ = UniqueBucketName();
  ASSERT_OK(store_->CreateBucket(bucket_));
}

std::string ObjectStoreConformance::UniqueBucketName() {
  static std::atomic<int> counter{0};
  return "coffer-conf-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

std::string BackendName(const ::testing::TestParamInfo<const Backend*>& info) {
  return info.param->Name();
}

TEST_P(ObjectStoreConformance, PutThenGetReturnsTheBytes) {
  std::string data = Pattern(1, 100000);
  data[0] = '\0';
  ASSERT_OK(PutString(store(), bucket(), "backups/db.bak", data));
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "backups/db.bak"));
  EXPECT_EQ(read, data);
}

TEST_P(ObjectStoreConformance, HeadTellsSizeEtagAndTime) {
  auto before = std::chrono::system_clock::now();
  ASSERT_OK(PutString(store(), bucket(), "k", "hello"));
  ASSERT_OK_AND_ASSIGN(ObjectInfo info, store().Head(bucket(), "k"));
  EXPECT_EQ(info.key, "k");
  EXPECT_EQ(info.size, 5u);
  EXPECT_FALSE(info.etag.empty());
  // The server's clock, not ours: generous bounds.
  EXPECT_GT(info.last_modified, before - std::chrono::minutes(10));
  EXPECT_LT(info.last_modified, before + std::chrono::minutes(10));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectReader> reader, store().Get(bucket(), "k"));
  EXPECT_EQ(reader->info().size, 5u);
  EXPECT_EQ(reader->info().etag, info.etag);
}

TEST_P(ObjectStoreConformance, EmptyObjects) {
  ASSERT_OK(PutString(store(), bucket(), "empty-put", ""));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> writer,
                       store().OpenWriter(bucket(), "empty-writer"));
  ASSERT_OK(writer->Close());
  for (const char* key : {"empty-put", "empty-writer"}) {
    ASSERT_OK_AND_ASSIGN(ObjectInfo info, store().Head(bucket(), key));
    EXPECT_EQ(info.size, 0u) << key;
    ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), key));
    EXPECT_EQ(read, "") << key;
    ASSERT_OK_AND_ASSIGN(std::string from_zero, GetAll(store(), bucket(), key, ByteRange{0, {}}));
    EXPECT_EQ(from_zero, "") << key;
  }
}

TEST_P(ObjectStoreConformance, OverwriteReplacesTheObjectWhole) {
  ASSERT_OK(PutString(store(), bucket(), "k", "first version, longer"));
  ASSERT_OK_AND_ASSIGN(ObjectInfo first, store().Head(bucket(), "k"));
  ASSERT_OK(PutString(store(), bucket(), "k", "second"));
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "k"));
  EXPECT_EQ(read, "second");
  ASSERT_OK_AND_ASSIGN(ObjectInfo second, store().Head(bucket(), "k"));
  EXPECT_EQ(second.size, 6u);
  EXPECT_NE(second.etag, first.etag);
}

TEST_P(ObjectStoreConformance, RangesReadPartsOfTheObject) {
  std::string data = Pattern(2, 1000);
  ASSERT_OK(PutString(store(), bucket(), "r", data));
  struct Case {
    ByteRange range;
    std::string expected;
  };
  std::vector<Case> cases = {
      {{0, 10}, data.substr(0, 10)},   {{990, {}}, data.substr(990)},
      {{500, 1000}, data.substr(500)}, {{999, 1}, data.substr(999, 1)},
      {{1, 998}, data.substr(1, 998)}, {{0, {}}, data},
  };
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "r", c.range));
    EXPECT_EQ(read, c.expected) << c.range.offset;
  }
  EXPECT_THAT(store().Get(bucket(), "r", ByteRange{1000, {}}), HasErrorName(kInvalidRange));
  EXPECT_THAT(store().Get(bucket(), "r", ByteRange{5000, 1}), HasErrorName(kInvalidRange));
  EXPECT_THAT(store().Get(bucket(), "r", ByteRange{0, 0}), HasErrorName(kInvalidRange));
}

TEST_P(ObjectStoreConformance, MissingBucket) {
  const std::string missing = UniqueBucketName();
  EXPECT_THAT(store().HeadBucket(missing), HasErrorName(kNoSuchBucket));
  EXPECT_THAT(store().Get(missing, "k"), HasErrorName(kNoSuchBucket));
  EXPECT_THAT(store().Head(missing, "k"), HasErrorName(kNoSuchBucket));
  EXPECT_THAT(store().List(missing, {}), HasErrorName(kNoSuchBucket));
  EXPECT_THAT(PutString(store(), missing, "k", "x"), HasErrorName(kNoSuchBucket));
  EXPECT_THAT(store().OpenWriter(missing, "k"), HasErrorName(kNoSuchBucket));
  EXPECT_THAT(store().Delete(missing, "k"), HasErrorName(kNoSuchBucket));
  Status st = store().Get(missing, "k").status();
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
}

TEST_P(ObjectStoreConformance, MissingKey) {
  EXPECT_THAT(store().Get(bucket(), "nothing/here"), HasErrorName(kNoSuchKey));
  EXPECT_THAT(store().Head(bucket(), "nothing/here"), HasErrorName(kNoSuchKey));
  EXPECT_EQ(store().Head(bucket(), "nothing/here").status().code(), StatusCode::kNotFound);
  // A prefix of a key is not a key.
  ASSERT_OK(PutString(store(), bucket(), "dir/file", "x"));
  EXPECT_THAT(store().Head(bucket(), "dir"), HasErrorName(kNoSuchKey));
  EXPECT_THAT(store().Head(bucket(), "dir/"), HasErrorName(kNoSuchKey));
  // Deleting what is not there succeeds, as in S3.
  EXPECT_OK(store().Delete(bucket(), "nothing/here"));
}

TEST_P(ObjectStoreConformance, BucketsAreCreatedOnce) {
  EXPECT_OK(store().HeadBucket(bucket()));
  Status again = store().CreateBucket(bucket());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists) << again.ToString();
  EXPECT_TRUE(again.error_name() == kBucketAlreadyOwnedByYou ||
              again.error_name() == kBucketAlreadyExists)
      << again.ToString();
}

TEST_P(ObjectStoreConformance, RefusesInvalidNamesBeforeAnythingElse) {
  EXPECT_THAT(store().CreateBucket("Not_A_Bucket"), HasErrorName(kInvalidBucketName));
  EXPECT_THAT(store().Get("ab", "k"), HasErrorName(kInvalidBucketName));
  EXPECT_THAT(PutString(store(), bucket(), std::string(1025, 'k'), "x"), HasErrorName(kKeyTooLong));
  EXPECT_THAT(store().Head(bucket(), ""), HasErrorName(kInvalidKey));
  EXPECT_THAT(store().Get(bucket(), "\xff\xfe"), HasErrorName(kInvalidKey));
  ListOptions bad;
  bad.max_keys = 0;
  EXPECT_THAT(store().List(bucket(), bad), HasErrorName(kInvalidArgument));
}

TEST_P(ObjectStoreConformance, ListsByPrefixInPages) {
  std::vector<std::string> expected;
  for (int i = 0; i < 25; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "p/%03d", i);
    expected.push_back(name);
    ASSERT_OK(PutString(store(), bucket(), name, std::to_string(i)));
  }
  ASSERT_OK(PutString(store(), bucket(), "p", "the prefix itself is a key"));
  ASSERT_OK(PutString(store(), bucket(), "q/000", "elsewhere"));
  ASSERT_OK(PutString(store(), bucket(), "o", "before"));

  ListOptions options;
  options.prefix = "p/";
  options.max_keys = 7;
  ASSERT_OK_AND_ASSIGN(Listing all, ListAll(store(), bucket(), options));
  EXPECT_EQ(all.keys, expected);
  EXPECT_THAT(all.page_sizes, ElementsAre(7, 7, 7, 4));
  EXPECT_THAT(all.prefixes, IsEmpty());

  options.max_keys = kMaxListKeys;
  options.prefix = "";
  ASSERT_OK_AND_ASSIGN(ListPage page, store().List(bucket(), options));
  EXPECT_FALSE(page.truncated());
  ASSERT_EQ(page.objects.size(), 28u);
  if (GetParam()->quirks().unsorted_listing) {
    std::sort(page.objects.begin(), page.objects.end(),
              [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  }
  EXPECT_EQ(page.objects.front().key, "o");
  EXPECT_EQ(page.objects[1].key, "p");
  EXPECT_EQ(page.objects[1].size, 26u);
  EXPECT_EQ(page.objects.back().key, "q/000");

  options.prefix = "zzz";
  ASSERT_OK_AND_ASSIGN(ListPage none, store().List(bucket(), options));
  EXPECT_THAT(none.objects, IsEmpty());
  EXPECT_FALSE(none.truncated());
}

TEST_P(ObjectStoreConformance, ListsWithADelimiter) {
  for (const char* key : {"a/1", "a/2", "a/b/3", "b/1", "c", "d/"}) {
    ASSERT_OK(PutString(store(), bucket(), key, key));
  }
  ListOptions options;
  options.delimiter = "/";
  ASSERT_OK_AND_ASSIGN(Listing top, ListAll(store(), bucket(), options));
  EXPECT_THAT(top.keys, ElementsAre("c"));
  EXPECT_THAT(top.prefixes, ElementsAre("a/", "b/", "d/"));

  // One name per page: common prefixes count, and a page never repeats one.
  if (!GetParam()->quirks().uncounted_prefixes) {
    options.max_keys = 1;
    ASSERT_OK_AND_ASSIGN(Listing paged, ListAll(store(), bucket(), options));
    EXPECT_THAT(paged.keys, ElementsAre("c"));
    EXPECT_THAT(paged.prefixes, ElementsAre("a/", "b/", "d/"));
    EXPECT_EQ(paged.page_sizes.size(), 4u);
  }

  options.max_keys = kMaxListKeys;
  options.prefix = "a/";
  ASSERT_OK_AND_ASSIGN(Listing in_a, ListAll(store(), bucket(), options));
  EXPECT_THAT(in_a.keys, ElementsAre("a/1", "a/2"));
  EXPECT_THAT(in_a.prefixes, ElementsAre("a/b/"));
}

TEST_P(ObjectStoreConformance, KeysWithSpacesUnicodeAndSlashes) {
  std::vector<std::string> keys = {
      "with space.bak",
      "données/été 2026.bak",
      "日本語/キー",
      "a//double",
      "/leading",
      "trailing/",
      "a/../escape",
      "./dot",
      "..",
      "%41%2F",
      "plus+sign",
      "query?x=1&y=2#frag",
      "tilde~and'quote\"",
      "emoji/\xF0\x9F\x94\x91",
      std::string(1024, 'x'),
      std::string(300, 'y') + "/" + std::string(300, '.') + "/z",
  };
  const Backend::Quirks quirks = GetParam()->quirks();
  std::erase_if(keys, [&](const std::string& key) {
    std::string padded = "/" + key + "/";
    if (quirks.loses_leading_slash && key.starts_with("/")) return true;
    if (quirks.normalises_key_paths &&
        (padded.find("//") != std::string::npos || padded.find("/./") != std::string::npos ||
         padded.find("/../") != std::string::npos)) {
      return true;
    }
    for (size_t start = 0, end; start < key.size(); start = end + 1) {
      end = std::min(key.find('/', start), key.size());
      if (end - start > quirks.max_segment_bytes) return true;
    }
    return false;
  });
  for (const std::string& key : keys) {
    ASSERT_OK(PutString(store(), bucket(), key, "content of " + key)) << key;
  }
  for (const std::string& key : keys) {
    ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), key));
    EXPECT_EQ(read, "content of " + key) << key;
    ASSERT_OK_AND_ASSIGN(ObjectInfo info, store().Head(bucket(), key));
    EXPECT_EQ(info.size, ("content of " + key).size()) << key;
  }
  ASSERT_OK_AND_ASSIGN(Listing all, ListAll(store(), bucket(), {}));
  std::vector<std::string> sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  if (GetParam()->quirks().unsorted_listing) std::sort(all.keys.begin(), all.keys.end());
  EXPECT_EQ(all.keys, sorted);
  // "a/../escape" is its own key: nothing named "escape" appeared.
  EXPECT_THAT(store().Head(bucket(), "escape"), HasErrorName(kNoSuchKey));
  for (const std::string& key : keys) ASSERT_OK(store().Delete(bucket(), key)) << key;
  ASSERT_OK_AND_ASSIGN(Listing after, ListAll(store(), bucket(), {}));
  EXPECT_THAT(after.keys, IsEmpty());
}

TEST_P(ObjectStoreConformance, DeleteRemovesTheObject) {
  ASSERT_OK(PutString(store(), bucket(), "x/y/z", "1"));
  ASSERT_OK(PutString(store(), bucket(), "x/w", "2"));
  ASSERT_OK(store().Delete(bucket(), "x/y/z"));
  EXPECT_THAT(store().Head(bucket(), "x/y/z"), HasErrorName(kNoSuchKey));
  ASSERT_OK_AND_ASSIGN(Listing all, ListAll(store(), bucket(), {}));
  EXPECT_THAT(all.keys, ElementsAre("x/w"));
  ASSERT_OK(PutString(store(), bucket(), "x/y/z", "again"));
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "x/y/z"));
  EXPECT_EQ(read, "again");
}

TEST_P(ObjectStoreConformance, AnObjectIsInvisibleUntilClose) {
  ASSERT_OK(PutString(store(), bucket(), "old", "the previous object"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> fresh, store().OpenWriter(bucket(), "fresh"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> replacing, store().OpenWriter(bucket(), "old"));
  std::string data = Pattern(3, GetParam()->PartSize() + 12345);
  ASSERT_OK(fresh->Write(AsBytes(data)));
  ASSERT_OK(replacing->Write(AsBytes(data)));

  EXPECT_THAT(store().Head(bucket(), "fresh"), HasErrorName(kNoSuchKey));
  ASSERT_OK_AND_ASSIGN(std::string old, GetAll(store(), bucket(), "old"));
  EXPECT_EQ(old, "the previous object");
  ASSERT_OK_AND_ASSIGN(Listing during, ListAll(store(), bucket(), {}));
  EXPECT_THAT(during.keys, ElementsAre("old"));

  ASSERT_OK(fresh->Close());
  ASSERT_OK(replacing->Close());
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "fresh"));
  EXPECT_TRUE(read == data) << "read " << read.size() << " bytes";
  ASSERT_OK_AND_ASSIGN(std::string replaced, GetAll(store(), bucket(), "old"));
  EXPECT_TRUE(replaced == data);
  // A closed writer takes nothing more.
  EXPECT_FALSE(fresh->Write(AsBytes(std::string_view("more"))).ok());
}

TEST_P(ObjectStoreConformance, AbortLeavesNothing) {
  ASSERT_OK(PutString(store(), bucket(), "kept", "the previous object"));
  std::string data = Pattern(4, GetParam()->PartSize() * 2 + 1);
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), "aborted"));
    ASSERT_OK(w->Write(AsBytes(data)));
    w->Abort();
    w->Abort();  // idempotent
    EXPECT_FALSE(w->Close().ok());
  }
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), "kept"));
    ASSERT_OK(w->Write(AsBytes(data)));
    w->Abort();
  }
  {
    // Destroyed without Close(): aborted.
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), "dropped"));
    ASSERT_OK(w->Write(AsBytes(std::string_view("small"))));
  }
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), "dropped-big"));
    ASSERT_OK(w->Write(AsBytes(data)));
  }
  EXPECT_THAT(store().Head(bucket(), "aborted"), HasErrorName(kNoSuchKey));
  EXPECT_THAT(store().Head(bucket(), "dropped"), HasErrorName(kNoSuchKey));
  EXPECT_THAT(store().Head(bucket(), "dropped-big"), HasErrorName(kNoSuchKey));
  ASSERT_OK_AND_ASSIGN(std::string kept, GetAll(store(), bucket(), "kept"));
  EXPECT_EQ(kept, "the previous object");
  ASSERT_OK_AND_ASSIGN(Listing all, ListAll(store(), bucket(), {}));
  EXPECT_THAT(all.keys, ElementsAre("kept"));
}

// A writer takes back the object it stored, and only that: never one stored
// over it since (even with the same bytes), never one it was refused to replace.
TEST_P(ObjectStoreConformance, RetractRemovesOnlyTheWritersOwnObject) {
  ASSERT_OK(PutString(store(), bucket(), "kept", "the previous object"));
  {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectWriter> w, store().OpenWriter(bucket(), "kept"));
    ASSERT_OK(w->Write(AsBytes(std::string_view("never stored"))));
    EXPECT_THAT(w->Retract(), IsOkAndHolds(false));  // before Close()
    w->Abort();
    EXPECT_THAT(w->Retract(), IsOkAndHolds(false));
  }
  // Its own object, in one piece and in several parts: removed, once.
  for (size_t size : {size_t{5}, GetParam()->PartSize() + 1}) {
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectWriter> w,
                         store().OpenWriter(bucket(), "mine/deep/key"));
    ASSERT_OK(w->Write(AsBytes(Pattern(7, size))));
    ASSERT_OK(w->Close());
    EXPECT_THAT(w->Retract(), IsOkAndHolds(true)) << size << " bytes";
    EXPECT_THAT(store().Head(bucket(), "mine/deep/key"), HasErrorName(kNoSuchKey));
    EXPECT_THAT(w->Retract(), IsOkAndHolds(false));
  }
  // Stored over since, by another writer and by Put.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectWriter> first, store().OpenWriter(bucket(), "shared"));
  ASSERT_OK(first->Write(AsBytes(std::string_view("same bytes"))));
  ASSERT_OK(first->Close());
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectWriter> second,
                       store().OpenWriter(bucket(), "shared"));
  ASSERT_OK(second->Write(AsBytes(std::string_view("same bytes"))));
  ASSERT_OK(second->Close());
  EXPECT_THAT(first->Retract(), IsOkAndHolds(false));
  ASSERT_OK(PutString(store(), bucket(), "shared", "same bytes"));
  EXPECT_THAT(second->Retract(), IsOkAndHolds(false));
  // Removed, then stored anew (a file system may give the new file the number
  // of the one removed).
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectWriter> gone, store().OpenWriter(bucket(), "again"));
  ASSERT_OK(gone->Write(AsBytes(std::string_view("first"))));
  ASSERT_OK(gone->Close());
  ASSERT_OK(store().Delete(bucket(), "again"));
  ASSERT_OK(PutString(store(), bucket(), "again", "second"));
  EXPECT_THAT(gone->Retract(), IsOkAndHolds(false));
  ASSERT_OK_AND_ASSIGN(std::string shared, GetAll(store(), bucket(), "shared"));
  EXPECT_EQ(shared, "same bytes");
  if (!GetParam()->quirks().ignores_if_none_match) {
    WriteOptions create_only;
    create_only.create_only = true;
    ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectWriter> refused,
                         store().OpenWriter(bucket(), "kept", create_only));
    ASSERT_OK(refused->Write(AsBytes(std::string_view("refused"))));
    EXPECT_THAT(refused->Close(), HasErrorName(kPreconditionFailed));
    EXPECT_THAT(refused->Retract(), IsOkAndHolds(false));
  }
  ASSERT_OK_AND_ASSIGN(std::string kept, GetAll(store(), bucket(), "kept"));
  EXPECT_EQ(kept, "the previous object");
  ASSERT_OK_AND_ASSIGN(Listing all, ListAll(store(), bucket(), {}));
  EXPECT_THAT(all.keys, ElementsAre("again", "kept", "shared"));
}

TEST_P(ObjectStoreConformance, ConcurrentWritersOfOneKeyNeverMix) {
  if (GetParam()->quirks().mixes_concurrent_writes) {
    GTEST_SKIP() << GetParam()->Name()
                 << " writes an object's file in place: concurrent writers of one key may mix";
  }
  constexpr int kWriters = 4;
  const size_t size = GetParam()->PartSize() + 4096;
  std::vector<std::string> contents;
  for (int i = 0; i < kWriters; ++i) contents.push_back(Pattern(100 + i, size));
  std::vector<Status> results(kWriters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWriters; ++i) {
    threads.emplace_back([&, i] {
      Result<std::unique_ptr<ObjectWriter>> w = store().OpenWriter(bucket(), "contended");
      if (!w.ok()) {
        results[i] = w.status();
        return;
      }
      // Interleaved writes in small pieces.
      for (size_t off = 0; off < size; off += 65536) {
        Status st = (*w)->Write(AsBytes(std::string_view(contents[i]).substr(off, 65536)));
        if (!st.ok()) {
          results[i] = st;
          return;
        }
      }
      results[i] = (*w)->Close();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const Status& st : results) EXPECT_OK(st);
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "contended"));
  int matches = 0;
  for (const std::string& c : contents) matches += read == c ? 1 : 0;
  EXPECT_EQ(matches, 1) << "the object is not exactly one writer's (" << read.size() << " bytes)";
}

TEST_P(ObjectStoreConformance, CreateOnlyWritesNeverReplace) {
  if (GetParam()->quirks().ignores_if_none_match) {
    GTEST_SKIP() << GetParam()->Name() << " ignores If-None-Match";
  }
  WriteOptions create_only;
  create_only.create_only = true;
  auto write = [&](std::string_view key, const std::string& data) -> Status {
    ASSIGN_OR_RETURN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), key, create_only));
    RETURN_IF_ERROR(w->Write(AsBytes(data)));
    return w->Close();
  };
  ASSERT_OK(PutString(store(), bucket(), "taken", "the first object"));
  // One part (a single PUT) and several (a multipart upload).
  const std::string small = Pattern(7, 1000);
  const std::string large = Pattern(8, GetParam()->PartSize() * 2 + 1);
  EXPECT_THAT(write("taken", small), HasErrorName(kPreconditionFailed));
  EXPECT_THAT(write("taken", large), HasErrorName(kPreconditionFailed));
  ASSERT_OK_AND_ASSIGN(std::string kept, GetAll(store(), bucket(), "taken"));
  EXPECT_EQ(kept, "the first object");

  ASSERT_OK(write("fresh-small", small));
  ASSERT_OK(write("fresh-large", large));
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "fresh-large"));
  EXPECT_TRUE(read == large);

  // Two create-only writers of one key: the first to close wins.
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> a,
                       store().OpenWriter(bucket(), "race", create_only));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> b,
                       store().OpenWriter(bucket(), "race", create_only));
  const std::string other = Pattern(9, GetParam()->PartSize() + 7);
  ASSERT_OK(a->Write(AsBytes(large)));
  ASSERT_OK(b->Write(AsBytes(other)));
  ASSERT_OK(b->Close());
  EXPECT_THAT(a->Close(), HasErrorName(kPreconditionFailed));
  ASSERT_OK_AND_ASSIGN(std::string raced, GetAll(store(), bucket(), "race"));
  EXPECT_TRUE(raced == other);

  // The refused writes left nothing behind.
  ASSERT_OK_AND_ASSIGN(Listing all, ListAll(store(), bucket(), {}));
  EXPECT_THAT(all.keys, ElementsAre("fresh-large", "fresh-small", "race", "taken"));
}

TEST_P(ObjectStoreConformance, LargeObjectsStreamBothWays) {
  // Three and a half parts: the s3 writer uploads parts, the reader reads chunks.
  const size_t size = GetParam()->PartSize() * 7 / 2;
  std::string data = Pattern(5, size);
  WriteOptions options;
  options.content_type = "application/x-coffer-test";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), "big", options));
  for (size_t off = 0; off < size; off += 1000003) {
    ASSERT_OK(w->Write(AsBytes(std::string_view(data).substr(off, 1000003))));
  }
  ASSERT_OK(w->Close());
  ASSERT_OK_AND_ASSIGN(ObjectInfo info, store().Head(bucket(), "big"));
  EXPECT_EQ(info.size, size);
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "big"));
  EXPECT_TRUE(read == data) << "read " << read.size() << " of " << size << " bytes";
  // A range across part boundaries.
  uint64_t offset = GetParam()->PartSize() - 10;
  ASSERT_OK_AND_ASSIGN(std::string middle,
                       GetAll(store(), bucket(), "big", ByteRange{offset, GetParam()->PartSize()}));
  EXPECT_TRUE(middle == data.substr(offset, GetParam()->PartSize()));
  // Put of a large buffer goes the same way.
  ASSERT_OK(store().Put(bucket(), "big-put", AsBytes(data)));
  ASSERT_OK_AND_ASSIGN(std::string put_read, GetAll(store(), bucket(), "big-put"));
  EXPECT_TRUE(put_read == data);
}

TEST_P(ObjectStoreConformance, ReadersAndWritersKeepTheirFirstError) {
  ASSERT_OK(PutString(store(), bucket(), "k", "abc"));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ByteSink> w, store().OpenWriter(bucket(), "w"));
  ASSERT_OK(w->Write(AsBytes(std::string_view("x"))));
  ASSERT_OK(w->Close());
  EXPECT_FALSE(w->Close().ok());
  w->Abort();  // a no-op after Close()
  ASSERT_OK_AND_ASSIGN(std::string read, GetAll(store(), bucket(), "w"));
  EXPECT_EQ(read, "x");
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ObjectReader> r, store().Get(bucket(), "k"));
  ASSERT_OK_AND_ASSIGN(std::string all, ReadAll(*r));
  EXPECT_EQ(all, "abc");
  std::vector<uint8_t> buffer(10);
  ASSERT_OK_AND_ASSIGN(size_t n, r->Read(buffer));
  EXPECT_EQ(n, 0u);  // the end stays the end
}

}  // namespace coffer::objstore::testing
