#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "util/clock.hpp"
#include "util/result.hpp"

namespace service {

// Watches a manifest (a file or a directory of *.yaml / *.yml) with inotify and calls
// `on_change` once its content changed, after `debounce` of quiet (at most 4 x debounce after the
// first event, so a steady stream of writes still reloads).
//
// Works when the files are edited in place, replaced by rename (editors, `git pull`), deleted and
// re-created, or when the path (or a directory on it) is a symlink that is swapped: it watches the
// path's parent directory, the directory itself, and the symlink targets, and re-establishes
// those watches after every batch of events. A batch that leaves the content unchanged (a touch,
// an unrelated file in the parent directory) does not call `on_change`: the content fingerprint
// decides. `on_change` runs on the watcher's thread.
class ManifestWatcher {
 public:
  // `clock` times the debounce (its steady time); it must outlive the watcher.
  ManifestWatcher(std::filesystem::path path, std::chrono::milliseconds debounce,
                  const util::Clock& clock, std::function<void()> on_change);
  ~ManifestWatcher();  // stop()
  ManifestWatcher(const ManifestWatcher&) = delete;
  ManifestWatcher& operator=(const ManifestWatcher&) = delete;

  // Starts watching; fails (with a message) when inotify is unavailable.
  util::Result<void, std::string> start();
  // Stops and joins the thread. Idempotent.
  void stop();

  // A digest of what the loader would read at `path` (names and contents of the manifest
  // files); differs when any of them changed. Unreadable paths get a digest of the error.
  static std::string fingerprint(const std::filesystem::path& path);

 private:
  void run();
  void rewatch();

  std::filesystem::path m_path;
  std::chrono::milliseconds m_debounce;
  const util::Clock& m_clock;
  std::function<void()> m_on_change;
  int m_inotify = -1;
  int m_wake = -1;  // eventfd written by stop()
  std::string m_last;
  std::thread m_thread;
};

}  // namespace service
