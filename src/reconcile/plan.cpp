#include "reconcile/plan.hpp"

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

bool Plan::has_changes() const {
  return summary().total() > 0;
}

}  // namespace reconcile
