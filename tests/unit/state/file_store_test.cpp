// Issue 14: state_dir is a place other local users may try to interfere with.
#include "state/file_store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/test_dir.hpp"

namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

state::State one_owned() {
  state::State s;
  state::OwnedInstance o;
  o.ns = "default";
  o.id = "docs";
  s.owned[o.address()] = o;
  return s;
}

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { root = support::fresh_test_dir("file-store"); }
  void TearDown() override { fs::remove_all(root); }
  fs::path root;
};

TEST_F(FileStoreTest, StateDirIsCreatedPrivateEvenUnderUmaskZero) {
  const mode_t old = ::umask(0);
  state::FileStateStore store(root / "state");
  auto saved = store.save(one_owned());
  ::umask(old);
  ASSERT_TRUE(saved.ok()) << saved.error();
  EXPECT_EQ(mode_of(root / "state"), 0700u);
  EXPECT_EQ(mode_of(root / "state" / "state.json"), 0600u);
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_EQ(loaded->owned.size(), 1u);
}

TEST_F(FileStoreTest, AStateDirOthersMayWriteIsRefused) {
  fs::create_directories(root / "state");
  ::chmod((root / "state").c_str(), 0777);
  state::FileStateStore store(root / "state");
  auto saved = store.save(one_owned());
  ASSERT_FALSE(saved.ok());
  EXPECT_NE(saved.error().find("writable by others (mode 0777)"), std::string::npos)
      << saved.error();
  auto lock = state::StateLock::acquire(root / "state");
  EXPECT_FALSE(lock.ok());
  EXPECT_FALSE(fs::exists(root / "state" / "state.json"));
}

TEST_F(FileStoreTest, AStateFileInADirectoryOthersMayWriteIsNotLoaded) {
  // Someone else's state.json would decide what aisearchd owns, and so what it may delete.
  fs::create_directories(root / "state");
  spit(root / "state" / "state.json",
       R"({"version":1,"owned":{"default/victim":{"namespace":"default","id":"victim"}}})");
  ::chmod((root / "state").c_str(), 0777);
  auto loaded = state::FileStateStore(root / "state").load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find("writable by others"), std::string::npos) << loaded.error();
  EXPECT_TRUE(state::FileStateStore(root / "missing").load().ok());
  EXPECT_FALSE(fs::exists(root / "missing"));
}

TEST_F(FileStoreTest, ASymlinkPlantedAtATemporaryNameIsNeverWrittenThrough) {
  fs::create_directories(root / "state");
  spit(root / "victim", "precious\n");
  // The old writer used the predictable state.json.tmp.<pid>.
  fs::create_symlink(root / "victim",
                     root / "state" / ("state.json.tmp." + std::to_string(::getpid())));
  state::FileStateStore store(root / "state");
  ASSERT_TRUE(store.save(one_owned()).ok());
  EXPECT_EQ(slurp(root / "victim"), "precious\n");
  EXPECT_FALSE(fs::is_symlink(root / "state" / "state.json"));
}

TEST_F(FileStoreTest, ASymlinkedLockOrStateFileIsRefused) {
  fs::create_directories(root / "state");
  spit(root / "victim", "precious\n");
  fs::create_symlink(root / "victim", root / "state" / "lock");
  auto lock = state::StateLock::acquire(root / "state");
  ASSERT_FALSE(lock.ok());
  EXPECT_NE(lock.error().find("symbolic link"), std::string::npos) << lock.error();
  EXPECT_EQ(slurp(root / "victim"), "precious\n");

  spit(root / "other.json", R"({"version":1,"owned":{},"sync":{}})");
  fs::create_symlink(root / "other.json", root / "state" / "state.json");
  auto loaded = state::FileStateStore(root / "state").load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find("symbolic link"), std::string::npos) << loaded.error();
}

TEST_F(FileStoreTest, AForeignJsonObjectIsAnErrorNotEmptyState) {
  fs::create_directories(root / "state");
  spit(root / "state" / "state.json", R"({"name":"someone else's file","items":[1,2]})");
  auto loaded = state::FileStateStore(root / "state").load();
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().find("not an aisearchd state file"), std::string::npos)
      << loaded.error();
  spit(root / "state" / "state.json", R"({"version":2,"owned":{}})");
  EXPECT_FALSE(state::FileStateStore(root / "state").load().ok());
}

TEST_F(FileStoreTest, TakingTheLockRemovesACrashedSavesTemporaryFiles) {
  fs::create_directories(root / "state");
  spit(root / "state" / "state.json.tmp.12345", "half a sta");
  spit(root / "state" / "state.json.tmp.Ab3xYz", "{");
  spit(root / "state" / "unrelated.txt", "keep");
  {
    auto lock = state::StateLock::acquire(root / "state");
    ASSERT_TRUE(lock.ok()) << lock.error();
    EXPECT_FALSE(fs::exists(root / "state" / "state.json.tmp.12345"));
    EXPECT_FALSE(fs::exists(root / "state" / "state.json.tmp.Ab3xYz"));
    EXPECT_TRUE(fs::exists(root / "state" / "unrelated.txt"));
    // A second taker fails and removes nothing.
    spit(root / "state" / "state.json.tmp.live", "in flight");
    EXPECT_FALSE(state::StateLock::acquire(root / "state").ok());
    EXPECT_TRUE(fs::exists(root / "state" / "state.json.tmp.live"));
  }
}

}  // namespace
