// The conformance suite (object_store_conformance.h) against the file backend,
// and against the router with no bucket configured (every bucket a directory).
#include <memory>

#include "objstore/bucket_router.h"
#include "objstore/file_object_store.h"
#include "objstore/object_store_conformance.h"
#include "testing/files.h"

namespace coffer::objstore::testing {
namespace {

// A store that owns the temporary directory its buckets live in.
class StoreInTempDir final : public ObjectStoreWrapper {
 public:
  StoreInTempDir(std::unique_ptr<coffer::testing::TempDir> dir, std::unique_ptr<ObjectStore> store)
      : ObjectStoreWrapper(*store), dir_(std::move(dir)), store_(std::move(store)) {}

 private:
  std::unique_ptr<coffer::testing::TempDir> dir_;
  std::unique_ptr<ObjectStore> store_;
};

class FileBackend final : public Backend {
 public:
  std::string Name() const override { return "File"; }
  std::unique_ptr<ObjectStore> Open(std::string& why, bool& must_run) const override {
    must_run = true;
    auto dir = std::make_unique<coffer::testing::TempDir>();
    auto store = FileObjectStore::Create(dir->path() + "/buckets");
    if (!store.ok()) {
      why = store.status().ToString();
      return nullptr;
    }
    return std::make_unique<StoreInTempDir>(std::move(dir), std::move(store).value());
  }
};

class RouterBackend final : public Backend {
 public:
  std::string Name() const override { return "Router"; }
  std::unique_ptr<ObjectStore> Open(std::string& why, bool& must_run) const override {
    must_run = true;
    auto dir = std::make_unique<coffer::testing::TempDir>();
    auto store = BucketRouter::Create(dir->path() + "/buckets", {});
    if (!store.ok()) {
      why = store.status().ToString();
      return nullptr;
    }
    return std::make_unique<StoreInTempDir>(std::move(dir), std::move(store).value());
  }
};

const FileBackend kFile;
const RouterBackend kRouter;

INSTANTIATE_TEST_SUITE_P(File, ObjectStoreConformance, ::testing::Values(&kFile), BackendName);
INSTANTIATE_TEST_SUITE_P(Router, ObjectStoreConformance, ::testing::Values(&kRouter), BackendName);

}  // namespace
}  // namespace coffer::objstore::testing
