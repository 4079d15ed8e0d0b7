#include "reconcile/observe.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

namespace reconcile {

namespace {

// The ids `recorded` holds in `ns` that `instances` leaves out.
std::vector<std::string> left_out(const std::vector<api::Instance>& instances,
                                  const state::State& recorded, const std::string& ns) {
  std::set<std::string> listed;
  for (const auto& i : instances) listed.insert(i.id);
  std::vector<std::string> out;
  for (const auto& [address, owned] : recorded.owned)
    if (owned.ns == ns && !listed.count(owned.id)) out.push_back(owned.id);
  return out;
}

// Empty when every id is confirmed gone (404); else why the list cannot be taken as complete.
std::string confirm_gone(api::Client& client, const std::string& ns,
                         const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    auto got = client.get_instance(ns, id);
    if (got) {
      spdlog::warn(
          "list instances changed while read namespace={} instance={}: missing from the list "
          "but found; the namespace is left alone this cycle",
          ns, id);
      return "list changed while it was read: " + ns + "/" + id + " is missing from it but exists";
    }
    if (got.error().kind != api::ErrorKind::not_found)
      return "list left out " + ns + "/" + id +
             " and the check that it is gone failed: " + got.error().describe();
  }
  return {};
}

}  // namespace

Observed observe(api::Client& client, const std::set<std::string>& namespaces, int parallelism,
                 const state::State& recorded) {
  Observed observed;
  auto ns_list = client.list_namespaces();
  if (!ns_list) {
    observed.namespaces_error = ns_list.error().describe();
    if (ns_list.error().kind == api::ErrorKind::auth)
      observed.token_rejected = ns_list.error().http_status;
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
        if (auto gone = left_out(listing.instances, recorded, ns); !gone.empty()) {
          auto problem = confirm_gone(client, ns, gone);
          if (!problem.empty()) {
            listing.instances.clear();
            listing.error = std::move(problem);
          }
        }
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
