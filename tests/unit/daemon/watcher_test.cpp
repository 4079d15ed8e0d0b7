#include "daemon/watcher.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/poll.hpp"
#include "support/test_dir.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { dir = support::fresh_test_dir("aisearchd-watch"); }
  void TearDown() override { fs::remove_all(dir); }

  static void write(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::trunc) << text;
  }
  // Polls until `count` reaches `want` (5 s deadline).
  static bool wait_for(const std::atomic<int>& count, int want) {
    return support::poll_until([&] { return count.load() >= want; }, 5s, 10ms);
  }
  // The watcher stays quiet: nothing within 4 debounce periods after a settle point.
  static bool stays_at(const std::atomic<int>& count, int value) {
    auto until = std::chrono::steady_clock::now() + 400ms;
    while (std::chrono::steady_clock::now() < until) {
      if (count.load() != value) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  fs::path dir;
};

TEST_F(WatcherTest, FileEditedInPlaceAndReplacedByRename) {
  auto file = dir / "aisearch.yaml";
  write(file, "apiVersion: aisearchd/v1\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(file, 50ms, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());

  write(file, "apiVersion: aisearchd/v1\n# edit 1\n");
  ASSERT_TRUE(wait_for(changes, 1));

  auto tmp = dir / ".aisearch.yaml.tmp";
  write(tmp, "apiVersion: aisearchd/v1\n# edit 2\n");
  fs::rename(tmp, file);  // as editors and git do
  ASSERT_TRUE(wait_for(changes, 2));

  write(file, "apiVersion: aisearchd/v1\n# edit 3\n");  // the new inode is watched too
  ASSERT_TRUE(wait_for(changes, 3));
}

TEST_F(WatcherTest, SameContentAndUnrelatedFilesDoNotFire) {
  auto file = dir / "aisearch.yaml";
  write(file, "a: 1\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(file, 50ms, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());
  write(file, "a: 1\n");  // rewritten, same content
  write(dir / "notes.txt", "unrelated\n");
  EXPECT_TRUE(stays_at(changes, 0));
}

TEST_F(WatcherTest, DirectoryFilesAddedEditedRemoved) {
  auto mdir = dir / "manifests";
  fs::create_directories(mdir);
  write(mdir / "a.yaml", "a: 1\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(mdir, 50ms, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());
  write(mdir / "b.yml", "b: 1\n");
  ASSERT_TRUE(wait_for(changes, 1));
  write(mdir / "a.yaml", "a: 2\n");
  ASSERT_TRUE(wait_for(changes, 2));
  fs::remove(mdir / "b.yml");
  ASSERT_TRUE(wait_for(changes, 3));
  write(mdir / "README.md", "not a manifest\n");
  write(mdir / ".hidden.yaml", "ignored: true\n");
  EXPECT_TRUE(stays_at(changes, 3));
}

TEST_F(WatcherTest, SymlinkSwapOfTheManifestDirectory) {
  fs::create_directories(dir / "r1");
  fs::create_directories(dir / "r2");
  write(dir / "r1" / "m.yaml", "v: 1\n");
  write(dir / "r2" / "m.yaml", "v: 2\n");
  fs::create_directory_symlink(dir / "r1", dir / "current");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(dir / "current", 50ms, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());
  // Atomic swap: a new symlink renamed over the old one.
  fs::create_directory_symlink(dir / "r2", dir / "current.new");
  fs::rename(dir / "current.new", dir / "current");
  ASSERT_TRUE(wait_for(changes, 1));
  // Edits inside the new target are seen.
  write(dir / "r2" / "m.yaml", "v: 3\n");
  ASSERT_TRUE(wait_for(changes, 2));
}

TEST_F(WatcherTest, DirectoryDeletedAndRecreated) {
  auto mdir = dir / "m";
  fs::create_directories(mdir);
  write(mdir / "a.yaml", "a: 1\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(mdir, 50ms, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());
  fs::remove_all(mdir);
  ASSERT_TRUE(wait_for(changes, 1));
  fs::create_directories(mdir);
  write(mdir / "a.yaml", "a: 2\n");
  ASSERT_TRUE(wait_for(changes, 2));
}

TEST_F(WatcherTest, FingerprintFollowsContentNotTimestamps) {
  auto mdir = dir / "m";
  fs::create_directories(mdir);
  write(mdir / "a.yaml", "a: 1\n");
  auto before = service::ManifestWatcher::fingerprint(mdir);
  write(mdir / "a.yaml", "a: 1\n");
  EXPECT_EQ(service::ManifestWatcher::fingerprint(mdir), before);
  write(mdir / "a.yaml", "a: 2\n");
  EXPECT_NE(service::ManifestWatcher::fingerprint(mdir), before);
  EXPECT_EQ(service::ManifestWatcher::fingerprint(dir / "missing"), "missing");
}

TEST_F(WatcherTest, StopIsPromptAndIdempotent) {
  auto file = dir / "x.yaml";
  write(file, "x: 1\n");
  service::ManifestWatcher w(file, 10s, [] {});
  ASSERT_TRUE(w.start().ok());
  write(file, "x: 2\n");  // a debounce in progress must not delay stop
  auto t0 = std::chrono::steady_clock::now();
  w.stop();
  w.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
}

}  // namespace
