#pragma once

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "manifest/model.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/plan.hpp"

namespace reconcile {

// A saved plan (`plan --out FILE`, `apply FILE`): what a reviewer approved, and what it was
// computed from, so `apply FILE` applies exactly that plan or nothing. The file is JSON:
//   {"kind": "aisearchd-saved-plan", "version": 1, "created_at": "...", "aisearchd": "x.y.z",
//    "account_id": "...", "api_url": "...", "manifest_digest": "...", "targets": ["ns/id", ...],
//    "touched": {"ns/id": {"exists": true, "modified_at": "..."}, ...},
//    "namespaces": {"name": {"exists": false}, ...},
//    "plan": <render_json(plan)>}
// `touched` holds, per instance a change acts on (a move's or moving replace's old address too),
// whether it existed and its remote `modified_at` when the plan was made. The plan part is the
// JSON plan contract, so sensitive values are masked; the token and bodies are never saved: the
// applied bodies come again from the manifest, whose digest must be the same.
inline constexpr int k_saved_plan_version = 1;

struct SavedPlanInputs {
  std::string created_at;  // RFC 3339
  std::string version;     // aisearchd's
  std::string account_id;
  std::string api_url;            // the API the plan was made against
  std::set<std::string> targets;  // empty: the whole manifest
};

// A digest of everything in the manifest that decides a plan or an apply (API fields, rails,
// ignore_changes, sync settings); file names and source positions are left out, so moving a
// key or editing a comment does not change it.
std::string manifest_digest(const manifest::Manifest& manifest);

nlohmann::json make_saved_plan(const Plan& plan, const manifest::Manifest& manifest,
                               const Observed& observed, const SavedPlanInputs& inputs);

// The saved plan's structure is checked (kind, version, the keys used below): an empty list
// when it can be used, otherwise what is wrong with the file.
std::vector<std::string> saved_plan_format_problems(const nlohmann::json& saved);

// Why `plan` (computed now from `manifest` and `observed`, narrowed to the saved targets) is not
// the saved plan: the manifest digest, the account, each touched instance's existence and
// `modified_at`, each namespace's existence, then the changes themselves (an action planned
// now that the saved plan does not have, one it has that is not planned now, one that differs).
// Empty when they are the same, so applying `plan` applies exactly what was saved.
std::vector<std::string> saved_plan_differences(const nlohmann::json& saved, const Plan& plan,
                                                const manifest::Manifest& manifest,
                                                const Observed& observed,
                                                const std::string& account_id,
                                                const std::string& api_url);

}  // namespace reconcile
