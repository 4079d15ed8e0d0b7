#include "reconcile/observe.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace reconcile {

Observed observe(api::Client& client, const std::set<std::string>& namespaces, int parallelism) {
  Observed observed;
  auto ns_list = client.list_namespaces();
  if (!ns_list) {
    observed.namespaces_error = ns_list.error().describe();
    return observed;
  }
  for (auto& ns : *ns_list) {
    std::string name = ns.name;
    observed.namespaces.emplace(std::move(name), std::move(ns));
  }
  if (!observed.namespaces.count("default")) {
    api::Namespace def;
    def.name = "default";
    observed.namespaces.emplace("default", std::move(def));
  }

  std::vector<std::string> to_list;
  for (const auto& ns : namespaces) {
    if (observed.namespaces.count(ns)) {
      to_list.push_back(ns);
    } else {
      observed.listings[ns].exists = false;
    }
  }

  std::mutex mutex;
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    while (true) {
      std::size_t i = next.fetch_add(1);
      if (i >= to_list.size()) return;
      const auto& ns = to_list[i];
      auto listed = client.list_instances(ns);
      NamespaceListing listing;
      if (listed) {
        listing.instances = std::move(*listed);
      } else if (listed.error().kind == api::ErrorKind::not_found) {
        // Deleted between the namespace list and now: it does not exist.
        listing.exists = false;
      } else {
        listing.error = "list failed: " + listed.error().describe();
        spdlog::warn("list instances failed namespace={} error=\"{}\"", ns,
                     listed.error().describe());
      }
      std::lock_guard lock(mutex);
      observed.listings[ns] = std::move(listing);
    }
  };
  std::size_t threads = std::min<std::size_t>(std::max(1, parallelism), to_list.size());
  std::vector<std::thread> pool;
  for (std::size_t i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return observed;
}

}  // namespace reconcile
