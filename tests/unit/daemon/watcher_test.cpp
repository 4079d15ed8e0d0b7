#include "daemon/watcher.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

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

  // Writes the whole file in one step (a temporary file renamed over it, as git does): one
  // edit is one change the watcher can see, however slowly the machine writes.
  static void write(const fs::path& p, const std::string& text) {
    auto tmp = p.parent_path() / ("." + p.filename().string() + ".tmp");
    std::ofstream(tmp, std::ios::trunc) << text;
    fs::rename(tmp, p);
  }
  // Edits the file where it is (same inode, no truncation) with `text` of the same length in one
  // write(2): an in-place edit never seen half done (a truncating write shows an empty file
  // first, which a busy machine's watcher may report as an edit of its own).
  static void overwrite_in_place(const fs::path& p, const std::string& text) {
    ASSERT_EQ(fs::file_size(p), text.size()) << p;
    int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << p;
    EXPECT_EQ(::pwrite(fd, text.data(), text.size(), 0), static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  // Polls until `count` reaches `want` (30 s deadline, for a busy machine).
  static bool wait_for(const std::atomic<int>& count, int want) {
    return support::poll_until([&] { return count.load() >= want; }, 30s, 10ms);
  }
  // The watcher stays quiet: nothing within 4 debounce periods after a settle point. (On a busy
  // machine this proves less, never fails wrongly: every edit above is one change.)
  static bool stays_at(const std::atomic<int>& count, int value) {
    auto until = std::chrono::steady_clock::now() + 400ms;
    while (std::chrono::steady_clock::now() < until) {
      if (count.load() != value) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  fs::path dir;
  util::SystemClock clock;  // the watcher's debounce is real time: it waits on inotify
};

TEST_F(WatcherTest, FileEditedInPlaceAndReplacedByRename) {
  auto file = dir / "aisearch.yaml";
  write(file, "apiVersion: aisearchd/v1\n# edit 0\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(file, 50ms, clock, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());

  overwrite_in_place(file, "apiVersion: aisearchd/v1\n# edit 1\n");
  ASSERT_TRUE(wait_for(changes, 1));

  write(file, "apiVersion: aisearchd/v1\n# edit 2\n");  // renamed over it, as editors and git do
  ASSERT_TRUE(wait_for(changes, 2));

  overwrite_in_place(file, "apiVersion: aisearchd/v1\n# edit 3\n");  // the new inode is watched
  ASSERT_TRUE(wait_for(changes, 3));
  EXPECT_TRUE(stays_at(changes, 3));  // each edit was one change
}

TEST_F(WatcherTest, SameContentAndUnrelatedFilesDoNotFire) {
  auto file = dir / "aisearch.yaml";
  write(file, "a: 1\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(file, 50ms, clock, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());
  overwrite_in_place(file, "a: 1\n");  // rewritten in place, same content
  write(file, "a: 1\n");               // replaced, same content
  write(dir / "notes.txt", "unrelated\n");
  EXPECT_TRUE(stays_at(changes, 0));
}

TEST_F(WatcherTest, DirectoryFilesAddedEditedRemoved) {
  auto mdir = dir / "manifests";
  fs::create_directories(mdir);
  write(mdir / "a.yaml", "a: 1\n");
  std::atomic<int> changes{0};
  service::ManifestWatcher w(mdir, 50ms, clock, [&] { ++changes; });
  ASSERT_TRUE(w.start().ok());
  write(mdir / "b.yml", "b: 1\n");
  ASSERT_TRUE(wait_for(changes, 1));
  overwrite_in_place(mdir / "a.yaml", "a: 2\n");
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
  service::ManifestWatcher w(dir / "current", 50ms, clock, [&] { ++changes; });
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
  service::ManifestWatcher w(mdir, 50ms, clock, [&] { ++changes; });
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
  // A debounce of an hour in progress must not delay stop: a stop that waited for it would
  // take an hour, one that does not takes milliseconds (the bound is for a busy machine).
  service::ManifestWatcher w(file, 1h, clock, [] {});
  ASSERT_TRUE(w.start().ok());
  write(file, "x: 2\n");
  auto t0 = std::chrono::steady_clock::now();
  w.stop();
  w.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 60s);
}

}  // namespace
