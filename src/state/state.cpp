#include "state/state.hpp"

namespace state {

using nlohmann::json;

bool State::owns(const std::string& ns, const std::string& id) const {
  return owned.count(ns + "/" + id) > 0;
}

const OwnedInstance* State::find(const std::string& ns, const std::string& id) const {
  auto it = owned.find(ns + "/" + id);
  return it == owned.end() ? nullptr : &it->second;
}

const JobRecord* SyncState::recorded(const std::string& job_id) const {
  if (job_id.empty()) return nullptr;
  for (const auto& r : history)
    if (r.job_id == job_id && r.outcome != "skipped") return &r;
  return nullptr;
}

void State::add_job_record(const std::string& address, JobRecord record) {
  auto& s = sync[address];
  s.history.push_back(std::move(record));
  while (s.history.size() > k_history_length) s.history.pop_front();
}

std::pair<std::string, std::string> split_address(const std::string& address) {
  const auto slash = address.find('/');
  if (slash == std::string::npos) return {"", address};
  return {address.substr(0, slash), address.substr(slash + 1)};
}

json time_or_null(const std::string& rfc3339) {
  return rfc3339.empty() ? json() : json(rfc3339);
}

json job_record_json(const JobRecord& r) {
  json j{{"job_id", r.job_id},
         {"outcome", r.outcome},
         {"trigger", r.trigger},
         {"source", r.source},
         {"started_at", time_or_null(r.started_at)},
         {"ended_at", time_or_null(r.ended_at)},
         {"duration_seconds", r.duration_seconds},
         {"end_reason", r.end_reason},
         {"log_tail", r.log_tail},
         {"error_counts", r.error_counts}};
  if (!r.slot.empty()) j["slot"] = r.slot;
  return j;
}

namespace {

template <typename T>
void get_opt(const json& j, const char* key, T& out) {
  if (j.contains(key) && !j[key].is_null()) out = j[key].get<T>();
}

JobRecord record_from_json(const json& j) {
  JobRecord r;
  get_opt(j, "job_id", r.job_id);
  get_opt(j, "outcome", r.outcome);
  get_opt(j, "trigger", r.trigger);
  get_opt(j, "slot", r.slot);
  get_opt(j, "source", r.source);
  get_opt(j, "started_at", r.started_at);
  get_opt(j, "ended_at", r.ended_at);
  get_opt(j, "duration_seconds", r.duration_seconds);
  get_opt(j, "end_reason", r.end_reason);
  get_opt(j, "log_tail", r.log_tail);
  if (j.contains("error_counts") && j["error_counts"].is_object())
    r.error_counts = j["error_counts"];
  return r;
}

}  // namespace

json State::to_json() const {
  json j;
  j["version"] = version;
  json owned_j = json::object();
  for (const auto& [address, o] : owned) {
    owned_j[address] = json{{"namespace", o.ns},
                            {"id", o.id},
                            {"protect", o.protect},
                            {"adopted_at", time_or_null(o.adopted_at)},
                            {"applied_digests", o.applied_digests},
                            {"unstable", o.unstable}};
    if (o.pending_create) owned_j[address]["pending_create"] = true;
    if (o.deleting) owned_j[address]["deleting"] = true;
    if (o.deleting && !o.deleting_identity.empty())
      owned_j[address]["deleting_identity"] = o.deleting_identity;
  }
  j["owned"] = owned_j;
  if (!namespaces.empty()) j["namespaces"] = namespaces;
  json sync_j = json::object();
  for (const auto& [address, s] : sync) {
    json history = json::array();
    for (const auto& r : s.history) history.push_back(job_record_json(r));
    json entry = json{{"last_slot", time_or_null(s.last_slot)},
                      {"first_seen", time_or_null(s.first_seen)},
                      {"last_success", time_or_null(s.last_success)},
                      {"last_job_id", s.last_job_id},
                      {"history", history}};
    // Written only when set: a state without running jobs reads as before.
    if (!s.since.empty()) entry["since"] = s.since;
    if (!s.schedule.empty()) entry["schedule"] = s.schedule;
    if (!s.held.empty()) entry["held"] = s.held;
    if (!s.running.empty()) {
      json running = json::array();
      for (const auto& r : s.running)
        running.push_back(json{{"job_id", r.job_id},
                               {"trigger", r.trigger},
                               {"slot", r.slot},
                               {"since", time_or_null(r.since)},
                               {"cancelled_at", time_or_null(r.cancelled_at)}});
      entry["running"] = std::move(running);
    }
    if (!s.triggers.empty()) {
      json triggers = json::array();
      for (const auto& t : s.triggers)
        triggers.push_back(json{
            {"trigger_id", t.trigger_id}, {"trigger", t.trigger}, {"slot", t.slot}, {"at", t.at}});
      entry["triggers"] = std::move(triggers);
    }
    sync_j[address] = std::move(entry);
  }
  j["sync"] = sync_j;
  if (observation) {
    j["observation"] = json{{"at", time_or_null(observation->at)},
                            {"drift", observation->drift},
                            {"unmanaged", observation->unmanaged}};
  }
  return j;
}

util::Result<State, std::string> State::from_json(const json& j) {
  try {
    if (!j.is_object()) return util::Err(std::string("state is not a JSON object"));
    State s;
    // The format version identifies the file: a JSON object without it is someone else's.
    const auto version = j.find("version");
    if (version == j.end() || !version->is_number_integer()) {
      return util::Err(std::string("not an aisearchd state file (no integer \"version\")"));
    }
    // A saved plan (plan --out) also has a "version": it names itself with "kind".
    if (j.contains("kind")) {
      return util::Err("not an aisearchd state file (it says \"kind\": " + j["kind"].dump() +
                       ", a saved plan?)");
    }
    s.version = version->get<int>();
    if (s.version != 1) return util::Err("unsupported state version " + std::to_string(s.version));
    if (j.contains("owned")) {
      for (const auto& [address, o] : j.at("owned").items()) {
        OwnedInstance oi;
        oi.ns = o.at("namespace").get<std::string>();
        oi.id = o.at("id").get<std::string>();
        get_opt(o, "protect", oi.protect);
        get_opt(o, "adopted_at", oi.adopted_at);
        get_opt(o, "applied_digests", oi.applied_digests);
        get_opt(o, "unstable", oi.unstable);
        get_opt(o, "pending_create", oi.pending_create);
        get_opt(o, "deleting", oi.deleting);
        get_opt(o, "deleting_identity", oi.deleting_identity);
        s.owned[oi.address()] = std::move(oi);
      }
    }
    get_opt(j, "namespaces", s.namespaces);
    if (j.contains("observation") && j["observation"].is_object()) {
      Observation o;
      get_opt(j["observation"], "at", o.at);
      get_opt(j["observation"], "drift", o.drift);
      get_opt(j["observation"], "unmanaged", o.unmanaged);
      s.observation = std::move(o);
    }
    if (j.contains("sync")) {
      for (const auto& [address, v] : j.at("sync").items()) {
        SyncState ss;
        get_opt(v, "last_slot", ss.last_slot);
        get_opt(v, "first_seen", ss.first_seen);
        get_opt(v, "last_success", ss.last_success);
        get_opt(v, "last_job_id", ss.last_job_id);
        if (v.contains("history"))
          for (const auto& r : v.at("history")) ss.history.push_back(record_from_json(r));
        get_opt(v, "since", ss.since);
        get_opt(v, "schedule", ss.schedule);
        get_opt(v, "held", ss.held);
        if (v.contains("running") && v["running"].is_array()) {
          for (const auto& r : v["running"]) {
            RunningJob rj;
            get_opt(r, "job_id", rj.job_id);
            get_opt(r, "trigger", rj.trigger);
            get_opt(r, "slot", rj.slot);
            get_opt(r, "since", rj.since);
            get_opt(r, "cancelled_at", rj.cancelled_at);
            if (!rj.job_id.empty()) ss.running.push_back(std::move(rj));
          }
        }
        if (v.contains("triggers") && v["triggers"].is_array()) {
          for (const auto& t : v["triggers"]) {
            PendingTrigger pt;
            get_opt(t, "trigger_id", pt.trigger_id);
            get_opt(t, "trigger", pt.trigger);
            get_opt(t, "slot", pt.slot);
            get_opt(t, "at", pt.at);
            if (!pt.trigger_id.empty()) ss.triggers.push_back(std::move(pt));
          }
        }
        s.sync[address] = std::move(ss);
      }
    }
    return s;
  } catch (const json::exception& e) {
    return util::Err(std::string("malformed state: ") + e.what());
  }
}

}  // namespace state
