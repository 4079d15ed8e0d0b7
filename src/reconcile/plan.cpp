#include "reconcile/plan.hpp"

#include <algorithm>

namespace reconcile {

const char* to_string(Action a) {
  switch (a) {
    case Action::adopt:
      return "adopt";
    case Action::create:
      return "create";
    case Action::update:
      return "update";
    case Action::replace:
      return "replace";
    case Action::move:
      return "move";
    case Action::delete_:
      return "delete";
  }
  return "unknown";
}

std::string action_name(const Change& change) {
  std::string name = change.is_namespace() ? "namespace_" : "";
  return name.append(to_string(change.action));
}

const char* to_string(Reason r) {
  return r == Reason::config ? "config" : "drift";
}

Summary Plan::summary() const {
  Summary s;
  for (const auto& c : changes) {
    if (c.blocked) {
      ++s.blocked;
      continue;
    }
    switch (c.action) {
      case Action::adopt:
        ++s.adopt;
        break;
      case Action::create:
        ++s.create;
        break;
      case Action::update:
        ++s.update;
        break;
      case Action::replace:
        ++s.replace;
        break;
      case Action::move:
        ++s.move;
        break;
      case Action::delete_:
        ++s.delete_;
        break;
    }
  }
  return s;
}

state::Observation observation_of(const Plan& plan) {
  state::Observation o;
  for (const auto& c : plan.changes) {
    if (c.reason != Reason::drift || c.is_namespace()) continue;
    auto& fields = o.drift[c.address()];
    for (const auto& f : c.fields) fields.push_back(f.path);
    if (fields.empty()) fields.push_back(to_string(c.action));
  }
  for (const auto& u : plan.unmanaged) o.unmanaged.push_back(u.ns + "/" + u.id);
  std::sort(o.unmanaged.begin(), o.unmanaged.end());
  return o;
}

bool Plan::has_changes() const {
  return summary().total() > 0;
}

}  // namespace reconcile
