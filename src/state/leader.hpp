#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "state/etcd_store.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace state {

struct LeaderOptions {
  std::string node_name;                                    // the value of the leader key
  std::chrono::milliseconds ttl{std::chrono::seconds(15)};  // lease TTL (whole seconds in etcd)
  std::string key_name = "leader";                          // under the client's prefix
};

// Leader election on etcd (PRODUCT.md §11): a lease plus a create-if-absent transaction on
// `<prefix>leader` whose value is the node name. The leader renews the lease every ttl/3; a
// standby reads the key every ttl/3 and campaigns when it is gone. So each node sends about
// three requests per TTL in steady state.
//
// is_leader() is true only while the lease is known to be alive: until `ttl` after the last
// renewal that etcd confirmed was sent. A leadership that lapsed on this clock while etcd kept
// the key (an etcd outage shorter than the lease, a pause) resumes with the same key revision,
// so the fence is unchanged and no other node can have led meanwhile. A process that cannot renew
// (etcd unreachable, paused, starved) therefore stops being the leader within one TTL on its own
// clock, before etcd hands the key to another node. Thread-safe.
class LeaderElector {
 public:
  LeaderElector(std::shared_ptr<EtcdClient> client, LeaderOptions options, util::Clock& clock);
  // Stops the thread and resigns when leading.
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // One round: the leader renews its lease; a standby reads the key and campaigns when it is
  // absent. Returns whether this node leads afterwards; fails with a message when etcd could not
  // be asked (a leader then stays leader until its lease deadline passes).
  util::Result<bool, std::string> step();

  // Runs step() now and then every ttl/3 on a thread. `on_change(leader)` is called on that
  // thread whenever the role changes (also when the lease deadline passes between rounds).
  void start(std::function<void(bool leader)> on_change = nullptr);
  // Ends the thread (no resign).
  void stop();
  // Revokes the lease (which deletes the leader key), so another node takes over at once.
  util::Result<void, std::string> resign();

  bool is_leader() const;
  // The holder's node name as last seen ("" when none or unknown).
  std::string leader_name() const;
  // The fence for state writes: the key and the create_revision of our leadership; nullopt when
  // not the leader.
  std::optional<EtcdFence> fence() const;
  // Whether the last round reached etcd.
  bool etcd_reachable() const;
  // The last error of a round ("" after a good one).
  std::string last_error() const;
  const LeaderOptions& options() const { return m_options; }
  std::chrono::milliseconds interval() const;

 private:
  // One keep-alive of `lease`: the TTL etcd answers, <= 0 when the lease is gone.
  util::Result<std::int64_t, std::string> keep_alive(std::int64_t lease);
  util::Result<bool, std::string> renew();
  util::Result<bool, std::string> campaign();
  bool leading_locked() const;
  void loop();

  std::shared_ptr<EtcdClient> m_client;
  LeaderOptions m_options;
  util::Clock& m_clock;
  std::string m_key;

  mutable std::mutex m_mutex;
  bool m_leader = false;
  std::int64_t m_lease = 0;
  std::int64_t m_create_revision = 0;
  // The leadership that lapsed on this node's clock (etcd away, process paused): when etcd still
  // holds the key with that lease and revision, the lease is renewed and the leadership resumes.
  std::int64_t m_lapsed_lease = 0;
  std::int64_t m_lapsed_create_revision = 0;
  std::int64_t m_warned_same_name_lease = 0;
  util::Clock::SteadyTime m_valid_until{};
  std::string m_holder;
  bool m_reachable = true;
  std::string m_last_error;

  std::function<void(bool)> m_on_change;
  bool m_reported_leader = false;
  bool m_reported_reachable = true;
  std::mutex m_thread_mutex;
  std::condition_variable m_cv;
  bool m_stop = false;
  std::thread m_thread;
};

// A shell command's hold on the etcd lock: leadership with the given TTL, kept alive on a thread
// while the command runs. Fails naming the holder when another node leads, or when etcd cannot
// be reached.
util::Result<std::unique_ptr<LeaderElector>, std::string> acquire_shell_lock(
    std::shared_ptr<EtcdClient> client, LeaderOptions options, util::Clock& clock);

}  // namespace state
