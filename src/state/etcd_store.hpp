#pragma once

// The etcd state backend: the whole state document in one key, saved by compare-and-swap.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "state/etcd_client.hpp"
#include "state/state.hpp"
#include "util/result.hpp"

namespace state {

// The leader key a write must still find unchanged (fencing): its create_revision is the one
// the holder's create-if-absent transaction produced.
struct EtcdFence {
  std::string key;
  std::int64_t create_revision = 0;
};

// The whole state document under `<prefix>state`. Every save is one transaction comparing the
// key's mod_revision with the one last read or written here (no lost update), and, with a fence
// source, that the leader key is still ours. A failed comparison fails the save with a message
// saying who changed what; load() again to continue from what etcd holds.
class EtcdStateStore final : public StateStore {
 public:
  // Returns the fence to check, or nullopt when this process is not the leader (saves fail).
  using FenceSource = std::function<std::optional<EtcdFence>()>;

  explicit EtcdStateStore(std::shared_ptr<EtcdClient> client, FenceSource fence = nullptr);

  util::Result<State, std::string> load() override;
  util::Result<void, std::string> save(const State& state) override;
  std::string describe() const override;

  void set_fence(FenceSource fence);
  // The mod_revision last read or written (0 = the key was absent).
  std::int64_t revision() const;
  // Why the last save failed (conflict: another writer; fenced: not the leader; ...), nullopt
  // after a save that succeeded.
  std::optional<EtcdError> last_error() const;

 private:
  util::Result<void, EtcdError> write(const State& state);

  std::shared_ptr<EtcdClient> m_client;
  mutable std::mutex m_mutex;
  FenceSource m_fence;
  std::int64_t m_revision = 0;
  bool m_loaded = false;
  std::optional<EtcdError> m_last_error;
};

}  // namespace state
