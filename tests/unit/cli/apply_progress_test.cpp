// Issue 17 (a long apply is silent): what `apply` and `sync` say while they run, in fake time.
// The ticker is driven by hand (tick() after moving the fake clock), so "a line at least every
// 10 s" and "one throttling line" are checked without waiting.
#include "cli/apply_progress.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/sync_progress.hpp"
#include "util/clock.hpp"

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int count_containing(const std::vector<std::string>& lines, const std::string& what) {
  int n = 0;
  for (const auto& l : lines) n += l.find(what) != std::string::npos;
  return n;
}

reconcile::ActionResult action(int n, const std::string& status, const std::string& error = "") {
  reconcile::ActionResult r;
  r.address = "default/i" + std::to_string(n);
  r.action = "create";
  r.status = status;
  r.error = error;
  return r;
}

// A fake-time apply: results and ticks by hand, the budget's waits as the test sets them.
struct FakeApply {
  util::FakeClock clock{util::Clock::SystemTime(std::chrono::hours(500000))};
  std::ostringstream out, err;
  api::BudgetWait budget;
  reconcile::ApplyCounts counts;
  cli::ApplyProgress progress;

  explicit FakeApply(cli::ApplyProgressOptions options)
      : progress(
            out, err, clock, [this] { return budget; }, options) {
    progress.set_thread(false);
  }
  void start(std::size_t total) {
    counts.total = total;
    progress.start(total);
  }
  void finish(const std::string& status, const std::string& error = "") {
    ++counts.finished;
    if (status == "done") ++counts.done;
    if (status == "failed") ++counts.failed;
    progress.result(action(static_cast<int>(counts.finished), status, error), counts);
  }
  // Moves fake time by `d` in ticker rounds of 250 ms.
  void run_for(milliseconds d) {
    for (milliseconds t{0}; t < d; t += milliseconds(250)) {
      clock.advance(milliseconds(250));
      progress.tick();
    }
  }
  // Budget callers waiting now (one more wait begun).
  void throttle(int waiting, milliseconds longest) {
    budget.waiting = waiting;
    budget.longest = longest;
    budget.waits += static_cast<std::uint64_t>(waiting);
  }
  void unthrottle() {
    budget.waiting = 0;
    budget.longest = milliseconds(0);
  }
};

cli::ApplyProgressOptions not_a_terminal() {
  cli::ApplyProgressOptions o;
  o.live = false;
  return o;
}

}  // namespace

// Off a terminal (CI logs, a pipe): a progress line at least every 10 s, whatever the pace of the
// actions; each action's result line on stdout as it finishes.
TEST(ApplyProgress, OffATerminalALineAtLeastEveryTenSeconds) {
  FakeApply run(not_a_terminal());
  run.start(1000);
  std::vector<milliseconds> line_times;
  const auto t0 = run.clock.steady_now();
  std::size_t seen = 0;
  for (int s = 0; s < 120; ++s) {
    if (s % 3 == 0) run.finish(s == 30 ? "failed" : "done", s == 30 ? "HTTP 500" : "");
    for (int q = 0; q < 4; ++q) {
      run.run_for(milliseconds(250));
      const auto lines = lines_of(run.err.str());
      for (; seen < lines.size(); ++seen)
        line_times.push_back(std::chrono::duration_cast<milliseconds>(run.clock.steady_now() - t0));
    }
  }
  ASSERT_GE(line_times.size(), 11u) << run.err.str();
  milliseconds previous{0};
  for (auto t : line_times) {
    EXPECT_LE(t - previous, seconds(10)) << run.err.str();
    previous = t;
  }
  const auto err = lines_of(run.err.str());
  EXPECT_EQ(err.front().rfind("[4/1000] 0 failed · 10.0 s", 0), 0u) << err.front();
  EXPECT_NE(err.back().find("[40/1000] 1 failed"), std::string::npos) << err.back();
  // stdout: one line per finished action, numbered as it finished.
  const auto out = lines_of(run.out.str());
  ASSERT_EQ(out.size(), 40u);
  EXPECT_EQ(out[0], "[1/1000] done    create default/i1");
  EXPECT_EQ(out[10], "[11/1000] failed  create default/i11: HTTP 500");
  EXPECT_EQ(run.err.str().find('\033'), std::string::npos) << "no terminal codes off a terminal";
}

// The request budget throttling for a while: one line when it starts and one when it stops,
// even when single rounds see nobody waiting and when it comes back later.
TEST(ApplyProgress, ThrottlingIsSaidOnceWhenItStartsAndOnceWhenItStops) {
  FakeApply run(not_a_terminal());
  run.start(100);
  run.run_for(seconds(3));
  EXPECT_EQ(run.err.str(), "") << "no throttling, no line yet";
  for (int s = 0; s < 30; ++s) {
    // Every other round the waiters were all served between two rounds: still throttling.
    if (s % 2 == 0) {
      run.throttle(4, milliseconds(1800));
    } else {
      run.unthrottle();
      run.budget.waits += 2;
    }
    run.finish("done");
    run.run_for(seconds(1));
  }
  run.throttle(4, milliseconds(1800));
  run.run_for(milliseconds(250));
  auto lines = lines_of(run.err.str());
  EXPECT_EQ(count_containing(lines, "throttling started"), 1) << run.err.str();
  EXPECT_EQ(count_containing(lines, "throttling stopped"), 0) << run.err.str();
  EXPECT_GE(count_containing(lines, "waiting on request budget 1.8 s"), 1) << run.err.str();
  // Quiet for 6 s: it stopped (at the last wait seen, 30 s after the first).
  run.unthrottle();
  run.run_for(seconds(6));
  lines = lines_of(run.err.str());
  EXPECT_EQ(count_containing(lines, "throttling stopped, 30.0 s after it started"), 1)
      << run.err.str();
  // It comes back, and stops again: nothing more is said about it.
  run.throttle(2, milliseconds(500));
  run.run_for(seconds(5));
  run.unthrottle();
  run.run_for(seconds(10));
  run.progress.end(run.counts);
  lines = lines_of(run.err.str());
  EXPECT_EQ(count_containing(lines, "throttling started"), 1) << run.err.str();
  EXPECT_EQ(count_containing(lines, "throttling stopped"), 1) << run.err.str();
}

// Throttled to the last action: the end says it stopped with the apply, once, and the closing
// counter has the final counts.
TEST(ApplyProgress, ThrottledToTheEndSaysSoOnceAndClosesWithTheCounts) {
  FakeApply run(not_a_terminal());
  run.start(3);
  run.throttle(8, milliseconds(400));
  run.run_for(seconds(1));  // first seen waiting at the first round, 0.25 s in
  run.finish("done");
  run.finish("failed", "HTTP 500");
  run.finish("done");
  run.budget.total = milliseconds(12'300);
  run.progress.end(run.counts);
  const auto lines = lines_of(run.err.str());
  EXPECT_EQ(count_containing(lines, "throttling started"), 1) << run.err.str();
  EXPECT_EQ(count_containing(lines,
                             "throttling stopped with the end of the apply, 0.8 s after it "
                             "started (calls waited 12.3 s in all, counted per call)"),
            1)
      << run.err.str();
  EXPECT_EQ(lines.back().rfind("[3/3] 1 failed · 1.0 s · finished in 1.0 s", 0), 0u)
      << lines.back();
  run.progress.end(run.counts);  // again: nothing more
  EXPECT_EQ(lines_of(run.err.str()).size(), lines.size());
}

// -o json: stdout carries the JSON document alone; progress goes to stderr only.
TEST(ApplyProgress, JsonOutputKeepsStdoutForTheDocument) {
  auto options = not_a_terminal();
  options.action_lines = false;
  FakeApply run(options);
  run.start(50);
  for (int i = 0; i < 50; ++i) {
    run.finish("done");
    run.run_for(seconds(1));
  }
  run.progress.end(run.counts);
  EXPECT_EQ(run.out.str(), "");
  EXPECT_GE(count_containing(lines_of(run.err.str()), "/50] 0 failed"), 5);
}

// A terminal: one counter redrawn in place (no new line per redraw), cleared before anything
// else is written; the closing counter stays.
TEST(ApplyProgress, OnATerminalOneCounterIsRedrawnInPlace) {
  auto options = not_a_terminal();
  options.live = true;
  FakeApply run(options);
  run.start(10);
  run.run_for(seconds(1));
  run.finish("done");
  run.throttle(3, milliseconds(1800));
  run.run_for(seconds(2));
  const std::string err = run.err.str();
  EXPECT_NE(err.find("\033[K[1/10] 0 failed · 3.0 s · waiting on request budget 1.8 s\r"),
            std::string::npos)
      << err;
  // Only the throttling line ended a line so far.
  EXPECT_EQ(lines_of(err).size(), 2u) << err;
  EXPECT_EQ(count_containing(lines_of(err), "throttling started"), 1);
  run.unthrottle();
  for (int i = 0; i < 9; ++i) run.finish("done");
  run.progress.end(run.counts);
  const std::string closing = run.err.str().substr(err.size());
  EXPECT_NE(closing.find("[10/10] 0 failed · 3.0 s · finished in 3.0 s\n"), std::string::npos)
      << closing;
}

// A short apply off a terminal says nothing on stderr: no throttling, no 10 s passed.
TEST(ApplyProgress, AShortApplyAddsNothingToStderr) {
  FakeApply run(not_a_terminal());
  run.start(5);
  for (int i = 0; i < 5; ++i) run.finish("done");
  run.run_for(seconds(2));
  run.progress.end(run.counts);
  EXPECT_EQ(run.err.str(), "");
  EXPECT_EQ(lines_of(run.out.str()).size(), 5u);
}

// `sync --timeout 30s` off a terminal: a line every 10 s with the job's last log line (read at
// most every 10 s), and the stop flag set once 30 s have passed, not before.
TEST(SyncProgress, ALineEveryTenSecondsAndTheTimeoutStopsTheWait) {
  util::FakeClock clock(util::Clock::SystemTime(std::chrono::hours(500000)));
  std::ostringstream err;
  int log_reads = 0;
  cli::SyncProgressOptions options;
  options.live = false;
  options.timeout = seconds(30);
  cli::SyncProgress progress(
      err, clock, "default/docs",
      [&](const std::string& job) -> std::optional<std::string> {
        ++log_reads;
        return "indexed " + std::to_string(log_reads) + " files of " + job + "\n";
      },
      options);
  progress.start(false);
  progress.following("j1");
  for (int s = 0; s < 29; ++s) {
    clock.advance(seconds(1));
    progress.tick();
    EXPECT_FALSE(progress.stop()->load()) << s;
  }
  clock.advance(seconds(1));
  progress.tick();
  EXPECT_TRUE(progress.stop()->load());
  EXPECT_TRUE(progress.timed_out());
  const auto lines = lines_of(err.str());
  ASSERT_EQ(lines.size(), 2u) << err.str();
  EXPECT_EQ(lines[0],
            "default/docs: job j1 running, waited 10s of 30s (--timeout) · last log: "
            "indexed 1 files of j1");
  EXPECT_EQ(lines[1].rfind("default/docs: job j1 running, waited 20s", 0), 0u) << lines[1];
  EXPECT_LE(log_reads, 4);
  progress.end();
  EXPECT_EQ(progress.job_id(), "j1");
}

// Without --timeout the wait never stops by itself.
TEST(SyncProgress, WithoutATimeoutItNeverStops) {
  util::FakeClock clock(util::Clock::SystemTime(std::chrono::hours(500000)));
  std::ostringstream err;
  cli::SyncProgressOptions options;
  options.live = false;
  cli::SyncProgress progress(
      err, clock, "default/docs", [](const std::string&) { return std::nullopt; }, options);
  progress.start(false);
  for (int s = 0; s < 100; ++s) {
    clock.advance(seconds(60));
    progress.tick();
  }
  EXPECT_FALSE(progress.stop()->load());
  EXPECT_EQ(err.str(), "") << "nothing to say before a job is followed";
}
