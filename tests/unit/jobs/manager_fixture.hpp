#pragma once
// Shared set-up of the SyncManager tests: a one-instance manifest, the daemon's loop on fake
// time (drive), a simulated API whose job lists can fail, and a harness whose engine can be
// restarted (a new process or leader over the same state).
#include <atomic>
#include <memory>

#include "fixture.hpp"
#include "jobs/sync_manager.hpp"

namespace jobs_test {

using namespace std::chrono_literals;

// default/docs with `sync`, and default/plain (managed, no sync:).
inline manifest::Manifest one_instance(manifest::SyncSpec sync) {
  manifest::Manifest m;
  auto& ns = m.namespaces["default"];
  ns.name = "default";
  auto& inst = ns.instances["docs"];
  inst.ns = "default";
  inst.id = "docs";
  inst.sync = sync;
  auto& other = ns.instances["plain"];  // managed, no sync:
  other.ns = "default";
  other.id = "plain";
  return m;
}

// The engine on fake time, without worker threads: the test runs its work (run_due_work) and
// moves the clock to the next due task or schedule slot, as the daemon's loop and workers would.
inline void drive(util::FakeClock& clock, jobs::SyncManager& manager, util::Clock::SystemTime until,
                  bool tick = true) {
  for (int guard = 0; guard < 1'000'000; ++guard) {
    if (tick) manager.tick(clock.now());
    manager.run_due_work();
    std::optional<util::Clock::SystemTime> next;
    if (auto work = manager.next_work())
      next = clock.now() + std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        *work - clock.steady_now()),
                                    std::chrono::milliseconds(0));
    if (tick)
      if (auto due = manager.next_due(); due && (!next || *due < *next)) next = *due;
    if (!next || *next > until) break;
    if (*next > clock.now())
      clock.advance(std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock.now()));
  }
  if (until > clock.now())
    clock.advance(std::chrono::duration_cast<std::chrono::milliseconds>(until - clock.now()));
}

// A SimApi whose job lists can be made to fail (a transport timeout) on demand.
class FaultySim : public SimApi {
 public:
  using SimApi::SimApi;
  std::atomic<int> fail_lists{0};
  util::Result<http::HttpResponse, http::TransportError> send(
      const http::HttpRequest& request) override {
    const auto q = request.url.find('?');
    const std::string path = request.url.substr(0, q);
    const bool is_list = request.method == "GET" && path.size() >= 5 &&
                         path.compare(path.size() - 5, 5, "/jobs") == 0;
    if (is_list && fail_lists.load() > 0) {
      --fail_lists;
      return util::Err(
          http::TransportError{http::TransportError::Kind::timeout, "list timeout (simulated)"});
    }
    return SimApi::send(request);
  }
};

struct RestartHarness {
  RestartHarness()
      : clock(std::make_shared<util::FakeClock>(t0())),
        sim(std::make_shared<FaultySim>(*clock)),
        client(Harness::make_config(), sim, clock),
        writer(store, state::State{}),
        runner(client, *clock, writer, reporter, jobs::FollowOptions{}),
        manager(std::make_unique<jobs::SyncManager>(runner, client, *clock, writer, reporter,
                                                    jobs::SyncManagerOptions{0})) {}
  void restart(const manifest::Manifest& m) {
    manager->stop(0ms);
    manager = std::make_unique<jobs::SyncManager>(runner, client, *clock, writer, reporter,
                                                  jobs::SyncManagerOptions{0});
    manager->set_manifest(m);
    manager->resume();
  }
  std::shared_ptr<util::FakeClock> clock;
  std::shared_ptr<FaultySim> sim;
  api::Client client;
  MemoryStore store;
  state::StateWriter writer;
  RecordingReporter reporter;
  jobs::Runner runner;
  std::unique_ptr<jobs::SyncManager> manager;
};

}  // namespace jobs_test
