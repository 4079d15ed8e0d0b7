#include "reconcile/apply.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "model/instance_fields.hpp"
#include "reconcile/compare.hpp"
#include "reconcile/diff.hpp"
#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace reconcile {

using nlohmann::json;

namespace {

// Fields whose change means the index content changes: a sync should follow (on_change).
const std::set<std::string>& indexing_fields() {
  static const std::set<std::string> fields = {
      "type",  "source",     "token_id",      "source_params",   "indexing_options",
      "chunk", "chunk_size", "chunk_overlap", "embedding_model", "custom_metadata"};
  return fields;
}

const manifest::InstanceSpec* find_spec(const manifest::Manifest& m, const std::string& ns,
                                        const std::string& id) {
  auto n = m.namespaces.find(ns);
  if (n == m.namespaces.end()) return nullptr;
  auto i = n->second.instances.find(id);
  return i == n->second.instances.end() ? nullptr : &i->second;
}

class Executor {
 public:
  Executor(const manifest::Manifest& desired, api::Client& client, state::StateWriter& state,
           util::Clock& clock, const ApplyOptions& options)
      : m_desired(desired), m_client(client), m_state(state), m_clock(clock), m_options(options) {}

  void run(const Change& change, ActionResult& out) {
    out.address = change.address();
    out.action = change.is_namespace() ? std::string("namespace ") + to_string(change.action)
                                       : to_string(change.action);
    if (change.blocked) {
      out.status = "blocked";
      out.error = change.blocked->rail + ": " + change.blocked->message;
    } else if (m_options.stop && m_options.stop->load()) {
      out.status = "skipped";
      out.error = "shutting down";
    } else {
      std::optional<api::ApiError> error;
      if (change.is_namespace())
        error = run_namespace(change);
      else
        error = run_instance(change, out);
      if (error) {
        out.status = "failed";
        out.error = error->describe();
      } else {
        out.status = "done";
      }
    }
    log(change, out);
  }

 private:
  using MaybeError = std::optional<api::ApiError>;

  void log(const Change& change, const ActionResult& out) {
    std::vector<std::string> fields;
    for (const auto& f : change.fields) fields.push_back(f.path);
    auto level = out.status == "failed" ? spdlog::level::warn : spdlog::level::info;
    spdlog::log(level, "action={} namespace={}{} fields={} result={}{}{}", action_name(change),
                change.ns, change.is_namespace() ? "" : " instance=" + change.id,
                fields.empty() ? "-" : util::join(fields, ","), out.status,
                out.error.empty() ? "" : " error=\"" + out.error + "\"",
                out.unstable.empty() ? "" : " unstable=" + util::join(out.unstable, ","));
  }

  // Records the outcome of a remote write in state without waiting for the save: the writer
  // group-commits it in the background, and apply() flushes before it returns. A crash before the
  // save is as if the write had happened just before the crash: the next apply adopts what this
  // one created (the manifest declares it), forgets what it deleted (nothing declares it or holds
  // it remotely), and re-sends a never-returned field whose digest was not recorded.
  void save(const std::function<void(state::State&)>& mutate) { m_state.update_deferred(mutate); }

  MaybeError run_namespace(const Change& change) {
    std::optional<std::string> description;
    if (change.body.contains("description"))
      description = change.body["description"].get<std::string>();
    // What it applied, so a later difference can be told drift (state.namespaces).
    auto record = [&] {
      save([&](state::State& s) {
        s.namespaces[change.ns] = digest(description ? json(*description) : json(nullptr));
      });
    };
    if (change.action == Action::create) {
      auto r = m_client.create_namespace(change.ns, description);
      // Only "already exists" means the namespace is there; any other 409 is a failure.
      if (!r && r.error().kind != api::ErrorKind::already_exists) return r.error();
      if (r) record();
      return std::nullopt;
    }
    auto r = m_client.update_namespace(change.ns, description);
    if (!r) return r.error();
    record();
    return std::nullopt;
  }

  // Records ownership and the applied digests of `spec`, and the fields that did not stick.
  // `sent`: the top-level fields this write sent (all of them for a create); the unstable mark of
  // a field not sent is kept as it was, so an unrelated update does not re-send it.
  void record_applied(const manifest::InstanceSpec& spec, const std::vector<std::string>& unstable,
                      bool created, const std::set<std::string>& sent) {
    auto digests = field_digests(spec);
    std::string now = util::format_rfc3339(m_clock.now());
    save([&](state::State& s) {
      auto& owned = s.owned[spec.address()];
      owned.ns = spec.ns;
      owned.id = spec.id;
      owned.protect = spec.protect;
      if (created || owned.adopted_at.empty()) owned.adopted_at = now;
      owned.pending_create = false;
      owned.deleting = false;
      owned.deleting_identity.clear();
      auto previous_unstable = std::move(owned.unstable);
      owned.unstable.clear();
      // `digests` holds the paths inside object fields too ("a.b"): they go with their field.
      for (const auto& [field, value] : digests) {
        const std::string key = top_level_key(field);
        const bool was_sent = sent.count(key) > 0;
        if (!was_sent && previous_unstable.count(key)) {
          if (key == field) owned.unstable[key] = previous_unstable[key];  // still not sent
          continue;
        }
        owned.applied_digests[field] = value;
      }
      for (auto it = owned.applied_digests.begin(); it != owned.applied_digests.end();)
        it = digests.count(it->first) ? std::next(it) : owned.applied_digests.erase(it);
      for (const auto& f : unstable)
        if (spec.fields.contains(f)) owned.unstable[f] = digest(spec.fields[f]);
    });
  }

  // Whether a failed write certainly did not happen (the service refused it) rather than maybe
  // happened (no answer, a 5xx, an answer that could not be read).
  static bool surely_not_applied(const api::ApiError& e) {
    switch (e.kind) {
      case api::ErrorKind::client:
      case api::ErrorKind::not_found:
      case api::ErrorKind::already_exists:
      case api::ErrorKind::conflict:
      case api::ErrorKind::auth:
      case api::ErrorKind::rate_limited:
      case api::ErrorKind::sync_cooldown:
        return true;
      default:
        return false;
    }
  }

  // Write-ahead ownership: records `spec` as owned (pending_create) and waits for the save
  // before the create is sent, so a crash or a lost answer never leaves an instance aisearchd
  // made without a record of it. `existed` says whether a record was already there (then it is
  // kept as it is). A failed save fails the create before anything is sent.
  MaybeError record_intent(const manifest::InstanceSpec& spec, const json& create_body,
                           bool& existed) {
    std::string now = util::format_rfc3339(m_clock.now());
    auto saved = m_state.update([&](state::State& s) {
      auto it = s.owned.find(spec.address());
      existed = it != s.owned.end();
      if (existed) {
        // After aisearchd's own DELETE: the instance made now is not the one the mark was for.
        // It stays a create aisearchd may have made (pending): if this one fails too, creating
        // it again is still config, not drift.
        if (it->second.deleting || it->second.pending_create) {
          it->second.deleting = false;
          it->second.deleting_identity.clear();
          it->second.pending_create = true;
          // The record describes the instance this POST makes (its type and source tell it
          // from someone else's later), not the one deleted.
          for (auto& [path, value] : field_digests(spec))
            if (create_body.contains(top_level_key(path))) it->second.applied_digests[path] = value;
        }
        return;
      }
      auto& owned = s.owned[spec.address()];
      owned.ns = spec.ns;
      owned.id = spec.id;
      owned.protect = spec.protect;
      owned.adopted_at = now;
      owned.pending_create = true;
      // What the POST itself sends (not the follow-up PUT's fields): should it happen
      // unanswered, a later difference there is drift.
      for (auto& [path, value] : field_digests(spec))
        if (create_body.contains(top_level_key(path))) owned.applied_digests[path] = value;
    });
    if (!saved)
      return api::ApiError{api::ErrorKind::client,
                           0,
                           {},
                           "state save failed before the create was sent: " + saved.error(),
                           {}};
    return std::nullopt;
  }

  // DELETE of an owned instance (a 404 is done), the record marked `deleting` first (saved
  // before the request): if the DELETE happens and its answer is lost or the process dies, the
  // next plan knows the instance is gone by aisearchd's hand, not deleted outside. The mark goes
  // again when the DELETE surely did not happen.
  MaybeError delete_owned(const std::string& ns, const std::string& id,
                          const std::string& identity) {
    const std::string address = ns + "/" + id;
    auto marked = m_state.update([&](state::State& s) {
      if (auto it = s.owned.find(address); it != s.owned.end()) {
        it->second.deleting = true;
        it->second.deleting_identity = identity;
      }
    });
    if (!marked)
      return api::ApiError{api::ErrorKind::client,
                           0,
                           {},
                           "state save failed before the delete was sent: " + marked.error(),
                           {}};
    auto d = m_client.delete_instance(ns, id);
    if (d || d.error().kind == api::ErrorKind::not_found) return std::nullopt;
    if (surely_not_applied(d.error()))
      save([&](state::State& s) {
        if (auto it = s.owned.find(address); it != s.owned.end()) {
          it->second.deleting = false;
          it->second.deleting_identity.clear();
        }
      });
    return d.error();
  }

  // The create failed: a record made by record_intent goes when the create surely did not
  // happen, or when the instance there is someone else's (`not_ours`: adopt_conflict).
  void abandon_intent(const manifest::InstanceSpec& spec, bool existed, const api::ApiError& e,
                      bool not_ours) {
    if (!surely_not_applied(e)) return;
    if (existed && !not_ours) return;
    save([&](state::State& s) { s.owned.erase(spec.address()); });
  }

  static std::set<std::string> keys_of(const json& body) {
    std::set<std::string> out;
    for (const auto& [key, value] : body.items()) out.insert(key);
    return out;
  }

  // Fields of `sent` that the answer shows were not taken.
  static void check_taken(const json& sent, const api::Instance& answer,
                          std::vector<std::string>& out) {
    for (const auto& [key, value] : sent.items()) {
      const auto* field = model::find_instance_field(key);
      if (!field || !field->returned || field->write_only) continue;
      auto it = answer.raw.find(key);
      if (it == answer.raw.end()) continue;  // not echoed: cannot tell
      if (!satisfies(value, *it, field)) out.push_back(key);
    }
  }

  MaybeError put_all(const std::string& ns, const std::string& id, const json& body,
                     std::vector<std::string>& unstable) {
    if (body.empty()) return std::nullopt;
    for (const auto& part : split_update(body)) {
      auto r = m_client.update_instance(ns, id, part);
      if (!r) return r.error();
      check_taken(part, *r, unstable);
    }
    return std::nullopt;
  }

  // POST, then the PUT of update-only fields. "Already exists" (a retried create that had in
  // fact succeeded, or an instance made meanwhile) reads the instance and adopts it when its type
  // and source match, PUTting only the fields that differ; otherwise it fails (adopt_conflict).
  // `sent` is set to the fields the write sent (every field of a create; only the differing
  // ones of an adoption); `not_ours` is set when it failed because the instance there is
  // someone else's (adopt_conflict).
  MaybeError create(const manifest::InstanceSpec& spec, const Change& change,
                    std::vector<std::string>& unstable, int already_exists_retries,
                    std::set<std::string>& sent, bool& not_ours) {
    for (int attempt = 0;; ++attempt) {
      auto r = m_client.create_instance(spec.ns, change.body);
      if (r) {
        for (const auto& [key, value] : spec.fields.items()) sent.insert(key);
        check_taken(change.body, *r, unstable);
        return put_all(spec.ns, spec.id, change.followup_update, unstable);
      }
      if (r.error().kind != api::ErrorKind::already_exists) return r.error();
      if (attempt < already_exists_retries) {
        // A replace: the delete may take a moment to be visible.
        m_clock.sleep_for(std::chrono::seconds(2 * (attempt + 1)));
        continue;
      }
      // It exists: adopt it only when its type and source match the manifest (the same rail
      // as a plan's adoption), then send only the fields that differ.
      auto current = m_client.get_instance(spec.ns, spec.id);
      if (!current) return current.error();
      auto update = adoption_update(spec, current->raw);
      not_ours = !update;
      if (!update)
        return api::ApiError{
            api::ErrorKind::client,
            0,
            {},
            "adopt_conflict: " + spec.address() +
                " already exists with another type/source; it is not adopted "
                "(fix the manifest, or adopt it explicitly with `aisearchd adopt`)",
            {}};
      spdlog::info("action=adopt namespace={} instance={} reason=already_exists", spec.ns, spec.id);
      sent = keys_of(*update);
      return put_all(spec.ns, spec.id, *update, unstable);
    }
  }

  void notify_indexing(const Change& change, bool always) {
    if (!m_options.on_indexing_change) return;
    bool affects = always;
    for (const auto& f : change.fields)
      affects = affects || indexing_fields().count(top_level_key(f.path));
    if (affects) m_options.on_indexing_change(change.ns, change.id);
  }

  MaybeError run_instance(const Change& change, ActionResult& out) {
    const auto* spec = find_spec(m_desired, change.ns, change.id);
    switch (change.action) {
      case Action::adopt:
        return std::nullopt;  // recorded by apply()'s bookkeeping, never executed
      case Action::delete_: {
        if (auto e = delete_owned(change.ns, change.id, change.deletes_identity)) return e;
        save([&](state::State& s) {
          s.owned.erase(change.address());
          s.sync.erase(change.address());
        });
        return std::nullopt;
      }
      case Action::move: {
        // Write-ahead: the destination is recorded (a copy of the source's record) before the
        // PATCH, so a crash after it still knows the instance as ours where it went.
        const std::string from = change.from_ns + "/" + change.id;
        bool existed = false;
        auto pre = m_state.update([&](state::State& s) {
          existed = s.owned.count(change.address()) > 0;
          if (existed) return;
          auto it = s.owned.find(from);
          state::OwnedInstance record = it != s.owned.end() ? it->second : state::OwnedInstance{};
          record.ns = change.ns;
          record.id = change.id;
          // Not confirmed until the move is: an instance found there later is adopted only
          // when its type and source match, and never deleted on the strength of this record.
          record.pending_create = true;
          s.owned[change.address()] = record;
        });
        if (!pre)
          return api::ApiError{api::ErrorKind::client,
                               0,
                               {},
                               "state save failed before the move was sent: " + pre.error(),
                               {}};
        auto r = m_client.move_instance(change.from_ns, change.id, change.ns);
        if (!r && r.error().kind == api::ErrorKind::not_found) {
          // "Not found" may be the answer to a retry whose first attempt moved the instance
          // (its answer was lost): the destination says whether the move happened.
          auto there = m_client.get_instance(change.ns, change.id);
          if (there)
            r = {};
          else if (there.error().kind != api::ErrorKind::not_found)
            r = util::Err(there.error());
        }
        if (!r) {
          if (surely_not_applied(r.error()) && !existed)
            save([&](state::State& s) { s.owned.erase(change.address()); });
          return r.error();
        }
        save([&](state::State& s) {
          if (auto it = s.owned.find(change.address()); it != s.owned.end())
            it->second.pending_create = false;
          s.owned.erase(from);
          if (auto it = s.sync.find(from); it != s.sync.end()) {
            s.sync[change.address()] = it->second;
            s.sync.erase(from);
          }
        });
        if (!spec) return std::nullopt;
        auto e = put_all(change.ns, change.id, change.body, out.unstable);
        if (e) return e;
        record_applied(*spec, out.unstable, false, keys_of(change.body));
        return std::nullopt;
      }
      case Action::create: {
        if (!spec) return api::ApiError{api::ErrorKind::client, 0, {}, "not in the manifest", {}};
        bool existed = false;
        if (auto pre = record_intent(*spec, change.body, existed)) return pre;
        std::set<std::string> sent;
        bool not_ours = false;
        auto e = create(*spec, change, out.unstable, 0, sent, not_ours);
        if (e) {
          abandon_intent(*spec, existed, *e, not_ours);
          return e;
        }
        record_applied(*spec, out.unstable, true, sent);
        notify_indexing(change, true);
        return std::nullopt;
      }
      case Action::update: {
        if (!spec) return api::ApiError{api::ErrorKind::client, 0, {}, "not in the manifest", {}};
        auto e = put_all(change.ns, change.id, change.body, out.unstable);
        if (e) {
          if (e->kind == api::ErrorKind::not_found)
            e->message += " (the instance disappeared; it is re-planned next cycle)";
          return e;
        }
        record_applied(*spec, out.unstable, false, keys_of(change.body));
        notify_indexing(change, false);
        return std::nullopt;
      }
      case Action::replace: {
        if (!spec) return api::ApiError{api::ErrorKind::client, 0, {}, "not in the manifest", {}};
        // A replace that moves deletes the instance where it was (from_ns) and creates it here.
        const std::string old_ns = change.from_ns.empty() ? change.ns : change.from_ns;
        if (auto e = delete_owned(old_ns, change.id, change.deletes_identity)) return e;
        // In place, the record stays (protect, history) and waits for the new instance; after a
        // move it goes with the old instance. Either way the create is recorded before it is sent.
        if (old_ns != change.ns) {
          save([&](state::State& s) {
            s.owned.erase(old_ns + "/" + change.id);
            s.sync.erase(old_ns + "/" + change.id);
          });
        } else {
          save([&](state::State& s) {
            if (auto it = s.owned.find(change.address()); it != s.owned.end())
              it->second.pending_create = true;
          });
        }
        bool existed = false;
        if (auto pre = record_intent(*spec, change.body, existed)) return pre;
        std::set<std::string> sent;
        bool not_ours = false;
        auto e = create(*spec, change, out.unstable, 5, sent, not_ours);
        if (e) {
          // The record stays pending (the next plan creates it again, config) unless the
          // instance there now is someone else's.
          abandon_intent(*spec, existed, *e, not_ours);
          return e;
        }
        record_applied(*spec, out.unstable, true, sent);
        notify_indexing(change, true);
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  const manifest::Manifest& m_desired;
  api::Client& m_client;
  state::StateWriter& m_state;
  util::Clock& m_clock;
  const ApplyOptions& m_options;
};

// -1: not executed (an adoption is the bookkeeping's state record).
int group_of(const Change& c) {
  if (c.is_namespace()) return 0;
  switch (c.action) {
    case Action::adopt:
      return -1;
    case Action::move:
      return 1;
    case Action::delete_:
      return 3;
    default:
      return 2;
  }
}

}  // namespace

std::vector<json> split_update(const json& body) {
  std::vector<json> parts;
  json rest = json::object();
  for (const auto& [key, value] : body.items()) {
    if (key == "metadata" || key == "public_endpoint_params")
      parts.push_back(json{{key, value}});
    else
      rest[key] = value;
  }
  if (!rest.empty()) parts.insert(parts.begin(), rest);
  return parts;
}

ApplyResult apply(const Plan& plan, const manifest::Manifest& desired, api::Client& client,
                  state::StateWriter& state, util::Clock& clock, const ApplyOptions& options) {
  ApplyResult result;
  result.results.resize(plan.changes.size());
  // Progress: one result at a time to on_result, counts in step.
  std::mutex progress_mutex;
  ApplyCounts counts;
  counts.total = plan.changes.size();
  const auto finished = [&](const ActionResult& r) {
    std::lock_guard lock(progress_mutex);
    ++counts.finished;
    if (r.status == "done")
      ++counts.done;
    else if (r.status == "failed")
      ++counts.failed;
    else if (r.status == "blocked")
      ++counts.blocked;
    else
      ++counts.skipped;
    if (options.on_result) options.on_result(r, counts);
  };
  if (options.on_start) options.on_start(counts.total);

  // Bookkeeping first: adoptions, forgotten instances, and `protect` following the manifest for
  // every instance it declares (state remembers it once the instance leaves the manifest); a
  // targeted plan's for its scope only.
  {
    // A record whose protect blocked a replace this run stays protected: the replace must show
    // unblocked in a later plan before it can happen.
    std::set<std::string> held_by_protect;
    std::map<std::string, std::set<std::string>> changed_fields;
    for (const auto& c : plan.changes) {
      for (const auto& f : c.fields) changed_fields[c.address()].insert(top_level_key(f.path));
      if (c.blocked && c.blocked->rail == "protected") {
        held_by_protect.insert(c.address());
        if (!c.from_ns.empty()) held_by_protect.insert(c.from_ns + "/" + c.id);
      }
    }
    // Nor is protect released where this plan could not see the instance (its namespace was
    // skipped) or left it alone (suspended): no plan has shown what the release allows.
    std::set<std::string> unseen;
    for (const auto& sk : plan.skipped_namespaces) unseen.insert(sk.ns);
    std::string now = util::format_rfc3339(clock.now());
    auto saved = state.update([&](state::State& s) {
      for (const auto& address : plan.adopt) {
        auto slash = address.find('/');
        const auto* spec = find_spec(desired, address.substr(0, slash), address.substr(slash + 1));
        const bool afresh =  // the record of a deleted instance goes; the one there now comes
            std::find(plan.forget.begin(), plan.forget.end(), address) != plan.forget.end();
        if (afresh) {
          s.owned.erase(address);
          s.sync.erase(address);
        }
        if (auto it = s.owned.find(address); it != s.owned.end()) {
          it->second.pending_create = false;  // a create whose answer was lost: it happened
          it->second.deleting = false;        // a DELETE that did not happen: still there
          it->second.deleting_identity.clear();
          continue;
        }
        if (!spec) continue;
        auto& owned = s.owned[address];
        owned.ns = spec->ns;
        owned.id = spec->id;
        owned.adopted_at = now;
        const auto& changed = changed_fields[address];
        for (const auto& [key, value] : spec->fields.items())
          if (!changed.count(key))
            path_digests(key, value, model::find_instance_field(key), owned.applied_digests);
        spdlog::info("action=adopt namespace={} instance={}", spec->ns, spec->id);
      }
      for (const auto& [name, description] : plan.namespace_records)
        s.namespaces.emplace(name, description);
      for (const auto& address : plan.forget) {
        if (std::find(plan.adopt.begin(), plan.adopt.end(), address) != plan.adopt.end())
          continue;  // adopted afresh above
        // Gone from one namespace and adopted in another under the same id (a move whose
        // record was lost, or made outside aisearchd): its sync history follows it.
        const std::string id = address.substr(address.find('/') + 1);
        for (const auto& adopted : plan.adopt) {
          if (adopted.substr(adopted.find('/') + 1) != id || !s.sync.count(address) ||
              s.sync.count(adopted))
            continue;
          s.sync[adopted] = s.sync[address];
        }
        s.owned.erase(address);
        s.sync.erase(address);
        spdlog::info("action=forget address={} reason=gone", address);
      }
      for (auto& [address, owned] : s.owned)
        if (const auto* spec = find_spec(desired, owned.ns, owned.id);
            spec && (!plan.scope || plan.scope->count(address))) {
          const auto* nspec = &desired.namespaces.at(owned.ns);
          const bool keep = held_by_protect.count(address) || unseen.count(owned.ns) ||
                            spec->suspend || nspec->suspend;
          if (spec->protect || !keep) owned.protect = spec->protect;
        }
    });
    if (!saved) result.state_errors.push_back(saved.error());
    for (std::size_t i = 0; i < plan.changes.size(); ++i) {
      const Change& c = plan.changes[i];
      if (c.action != Action::adopt) continue;
      ActionResult& r = result.results[i];
      r.address = c.address();
      r.action = to_string(c.action);
      r.status = saved ? "done" : "failed";
      if (!saved) r.error = "state not saved: " + saved.error();
      finished(r);
    }
  }

  Executor executor(desired, client, state, clock, options);
  for (int group = 0; group <= 3; ++group) {
    std::vector<std::size_t> indexes;
    for (std::size_t i = 0; i < plan.changes.size(); ++i)
      if (group_of(plan.changes[i]) == group) indexes.push_back(i);
    if (indexes.empty()) continue;
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      while (true) {
        std::size_t k = next.fetch_add(1);
        if (k >= indexes.size()) return;
        std::size_t i = indexes[k];
        executor.run(plan.changes[i], result.results[i]);
        finished(result.results[i]);
      }
    };
    std::size_t threads = std::min<std::size_t>(std::max(1, options.concurrency), indexes.size());
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
  }
  if (auto flushed = state.flush(); !flushed) {
    result.state_errors.push_back(flushed.error());
    spdlog::error("state save failed: {}", flushed.error());
  }
  for (const auto& r : result.results) {
    if (r.status == "done")
      ++result.done;
    else if (r.status == "failed")
      ++result.failed;
    else if (r.status == "blocked")
      ++result.blocked;
    else
      ++result.skipped;
  }
  if (options.on_end) options.on_end(counts);
  return result;
}

json ApplyResult::to_json() const {
  json actions = json::array();
  for (const auto& r : results) {
    json a = {{"address", r.address}, {"action", r.action}, {"status", r.status}};
    a["error"] = r.error.empty() ? json(nullptr) : json(r.error);
    a["unstable"] = r.unstable;
    actions.push_back(std::move(a));
  }
  return json{
      {"format_version", "1"},
      {"actions", actions},
      {"summary", {{"done", done}, {"failed", failed}, {"blocked", blocked}, {"skipped", skipped}}},
      {"state_errors", state_errors}};
}

void save_observation(const Plan& plan, state::StateWriter& state, util::Clock& clock) {
  // A partial plan saw part of the remote: what state holds from a complete one stays.
  if (!plan.skipped_namespaces.empty()) return;
  auto seen = observation_of(plan);
  const auto current = state.snapshot().observation;
  if (current && current->same_content(seen)) return;
  seen.at = util::format_rfc3339(clock.now());
  auto saved = state.update([&](state::State& s) { s.observation = seen; });
  if (!saved.ok()) spdlog::warn("state: the last observation was not saved: {}", saved.error());
}

std::string ApplyResult::to_text(bool only_not_done) const {
  std::string out;
  for (const auto& r : results) {
    if (only_not_done && r.status == "done" && r.unstable.empty()) continue;
    out += "  " + r.status + std::string(8 - std::min<std::size_t>(7, r.status.size()), ' ') +
           r.action + " " + r.address;
    if (!r.error.empty()) out += ": " + r.error;
    if (!r.unstable.empty()) out += " (unstable: " + util::join(r.unstable, ", ") + ")";
    out += "\n";
  }
  for (const auto& e : state_errors) out += "  state save failed: " + e + "\n";
  out += "Apply complete: " + std::to_string(done) + " done, " + std::to_string(failed) +
         " failed, " + std::to_string(blocked) + " blocked" +
         (skipped ? ", " + std::to_string(skipped) + " skipped" : std::string()) + ".\n";
  return out;
}

}  // namespace reconcile
