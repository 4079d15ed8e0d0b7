#include "state/writer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/poll.hpp"

namespace {

using namespace std::chrono_literals;

// An in-memory store that counts saves, can fail them, and can hold a save until released.
class MemoryStore final : public state::StateStore {
 public:
  util::Result<state::State, std::string> load() override {
    std::lock_guard lock(m_mutex);
    return m_saved.value_or(state::State{});
  }

  util::Result<void, std::string> save(const state::State& s) override {
    std::unique_lock lock(m_mutex);
    ++m_started;
    m_cv.notify_all();
    m_cv.wait(lock, [&] { return !m_hold; });
    ++m_saves;
    if (m_fail) return util::Err(*m_fail);
    m_saved = s;
    return {};
  }

  std::string describe() const override { return "memory"; }

  void fail_with(std::optional<std::string> message) {
    std::lock_guard lock(m_mutex);
    m_fail = std::move(message);
  }
  void hold(bool on) {
    std::lock_guard lock(m_mutex);
    m_hold = on;
    m_cv.notify_all();
  }
  // Waits (at most 10 s) until `n` saves have started.
  bool wait_started(int n) {
    std::unique_lock lock(m_mutex);
    return m_cv.wait_for(lock, 10s, [&] { return m_started >= n; });
  }
  int saves() const {
    std::lock_guard lock(m_mutex);
    return m_saves;
  }
  std::size_t saved_owned() const {
    std::lock_guard lock(m_mutex);
    return m_saved ? m_saved->owned.size() : 0;
  }

 private:
  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::optional<state::State> m_saved;
  std::optional<std::string> m_fail;
  bool m_hold = false;
  int m_started = 0;
  int m_saves = 0;
};

void own(state::State& s, const std::string& id) {
  s.owned["default/" + id] = state::OwnedInstance{"default", id, false, "", {}, {}};
}

TEST(StateWriter, UpdateReturnsOnceTheMutationIsSaved) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{});
  ASSERT_TRUE(writer.update([](state::State& s) { own(s, "a"); }).ok());
  EXPECT_EQ(store.saved_owned(), 1u);
  EXPECT_EQ(store.saves(), 1);
}

TEST(StateWriter, UpdateReportsAFailedSaveAndTheNextSaveCarriesTheMutation) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{});
  store.fail_with("not the leader");
  auto failed = writer.update([](state::State& s) { own(s, "a"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error(), "not the leader");
  store.fail_with(std::nullopt);
  ASSERT_TRUE(writer.update([](state::State& s) { own(s, "b"); }).ok());
  EXPECT_EQ(store.saved_owned(), 2u);
}

TEST(StateWriter, DeferredUpdateDoesNotWaitForASaveInProgress) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, 0ms);
  store.hold(true);
  writer.update_deferred([](state::State& s) { own(s, "a"); });
  ASSERT_TRUE(store.wait_started(1));  // the background save is stuck in the store
  writer.update_deferred([](state::State& s) { own(s, "b"); });  // returns regardless
  EXPECT_EQ(writer.snapshot().owned.size(), 2u);
  EXPECT_EQ(store.saves(), 0);
  store.hold(false);
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(store.saved_owned(), 2u);
}

TEST(StateWriter, FlushSavesDeferredMutationsWithoutWaitingForTheBackgroundDelay) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, std::chrono::hours(1));
  for (int i = 0; i < 5; ++i)
    writer.update_deferred([&](state::State& s) { own(s, "i" + std::to_string(i)); });
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(store.saved_owned(), 5u);
  ASSERT_TRUE(writer.flush().ok());  // nothing new: no save needed
  EXPECT_LE(store.saves(), 2);
}

TEST(StateWriter, ConcurrentDeferredUpdatesShareSaves) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, 5ms);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i)
        writer.update_deferred(
            [&](state::State& s) { own(s, std::to_string(t) + "-" + std::to_string(i)); });
    });
  for (auto& th : threads) th.join();
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(store.saved_owned(), 800u);
  EXPECT_LT(store.saves(), 800);
}

TEST(StateWriter, FlushReportsAFailedBackgroundSaveOnceEvenAfterALaterSaveSucceeded) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, 0ms);
  store.fail_with("lost leadership");
  writer.update_deferred([](state::State& s) { own(s, "a"); });
  ASSERT_TRUE(store.wait_started(1));
  // Poll until the failed background save is over (the writer then has nothing in flight).
  ASSERT_TRUE(support::poll_until([&] { return store.saves() >= 1; }, 30s, 1ms));
  store.fail_with(std::nullopt);
  auto flushed = writer.flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error(), "lost leadership");
  EXPECT_EQ(store.saved_owned(), 1u);  // the retry saved it all the same
  EXPECT_TRUE(writer.flush().ok());
}

TEST(StateWriter, FlushFailsWhenTheStoreStillFailsAndKeepsTheMutationForTheNextSave) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, std::chrono::hours(1));
  store.fail_with("not the leader");
  writer.update_deferred([](state::State& s) { own(s, "a"); });
  auto flushed = writer.flush();
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error(), "not the leader");
  EXPECT_EQ(store.saved_owned(), 0u);
  store.fail_with(std::nullopt);
  // This flush saves; it may also report the background saver's own failed attempt, when that
  // attempt came after the first flush.
  auto second = writer.flush();
  if (!second.ok()) {
    EXPECT_EQ(second.error(), "not the leader");
  }
  EXPECT_EQ(store.saved_owned(), 1u);
  EXPECT_TRUE(writer.flush().ok());
}

TEST(StateWriter, UpdateWaitsForDeferredMutationsMadeBeforeIt) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, std::chrono::hours(1));
  writer.update_deferred([](state::State& s) { own(s, "a"); });
  ASSERT_TRUE(writer.update([](state::State& s) { own(s, "b"); }).ok());
  EXPECT_EQ(store.saved_owned(), 2u);
}

TEST(StateWriter, DestructionSavesWhatIsStillDeferred) {
  MemoryStore store;
  {
    state::StateWriter writer(store, state::State{}, std::chrono::hours(1));
    writer.update_deferred([](state::State& s) { own(s, "a"); });
    writer.update_deferred([](state::State& s) { own(s, "b"); });
  }
  EXPECT_EQ(store.saved_owned(), 2u);
}

}  // namespace

namespace {

TEST(StateWriter, ReloadWaitsOutASaveInFlightAndDropsWhatTheStoreSupersedes) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{}, 10s);
  store.hold(true);
  writer.update_deferred([](state::State& s) { own(s, "stale"); });
  ASSERT_TRUE(store.wait_started(1));  // the background save of "stale" is in flight

  int saves_seen_by_load = -1;
  std::thread reloader([&] {
    auto r = writer.reload([&]() -> util::Result<state::State, std::string> {
      saves_seen_by_load = store.saves();
      state::State fresh;
      own(fresh, "fresh");
      return fresh;
    });
    EXPECT_TRUE(r.ok());
  });
  store.hold(false);
  reloader.join();
  // The load ran only after the save in flight had finished: no save of an older copy can
  // land after it.
  EXPECT_EQ(saves_seen_by_load, 1);
  auto now = writer.snapshot();
  EXPECT_EQ(now.owned.count("default/fresh"), 1u);
  EXPECT_EQ(now.owned.count("default/stale"), 0u);
  // Nothing is pending: the loaded state is the store's.
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(store.saves(), 1);
  // Later mutations save on top of what was loaded.
  ASSERT_TRUE(writer.update([](state::State& s) { own(s, "next"); }).ok());
  EXPECT_EQ(store.saved_owned(), 2u);
}

TEST(StateWriter, AFailedReloadKeepsTheState) {
  MemoryStore store;
  state::StateWriter writer(store, state::State{});
  ASSERT_TRUE(writer.update([](state::State& s) { own(s, "a"); }).ok());
  auto r = writer.reload(
      []() -> util::Result<state::State, std::string> { return util::Err(std::string("down")); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "down");
  EXPECT_EQ(writer.snapshot().owned.count("default/a"), 1u);
  ASSERT_TRUE(writer.update([](state::State& s) { own(s, "b"); }).ok());
  EXPECT_EQ(store.saved_owned(), 2u);
}

}  // namespace
