// export: what exists remotely as a manifest (YAML on stdout), for bootstrapping from an
// existing account. Reads the lists plan reads (reconcile::observe), writes nothing remote or
// local, and prints nothing to stdout unless every namespace it exports was listed completely.
#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "aisearchd_version.hpp"
#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "manifest/emit.hpp"
#include "manifest/loader.hpp"
#include "model/instance_fields.hpp"
#include "reconcile/export.hpp"
#include "reconcile/observe.hpp"
#include "util/strings.hpp"
#include "util/time_format.hpp"

namespace cli {

namespace {

using nlohmann::json;

// The loader of an exported document: no environment (every "$" is written "$$", so no
// ${VAR} is ever looked up).
util::Result<manifest::Manifest, std::vector<manifest::ManifestError>> load_back(
    const json& document) {
  auto yaml = manifest::emit_yaml(document);
  if (!yaml) return util::Err(std::vector<manifest::ManifestError>{{{}, yaml.error()}});
  const util::EnvLookup no_env = [](const std::string&) { return std::optional<std::string>(); };
  return manifest::load_manifest_string(*yaml, "export", no_env);
}

// Why the instance `fields` (as exported) did not read back as the same, or "" when it did.
std::string read_back_problem(const json& fields, const manifest::Manifest& loaded,
                              const std::string& ns, const std::string& id) {
  auto n = loaded.namespaces.find(ns);
  if (n == loaded.namespaces.end()) return "its namespace does not read back";
  auto i = n->second.instances.find(id);
  if (i == n->second.instances.end()) return "it does not read back";
  json api = fields;
  const bool managed = api.value("managed", false);
  api.erase("managed");
  if (i->second.managed != managed || i->second.fields != api)
    return "it does not read back as the API has it";
  return {};
}

// A one-instance document.
json single(const std::string& ns, const std::string& id, const json& fields) {
  return {{"apiVersion", "aisearchd/v1"}, {"namespaces", {{ns, {{"instances", {{id, fields}}}}}}}};
}

// Leaves out of `exported` every instance that the loader rejects or reads back otherwise (an
// id, source or value only the catalogue's checks let through), with the loader's reason. Then
// the whole document must load and read back, or the export fails (the message says why).
util::Result<void, std::string> keep_what_reads_back(reconcile::ExportedManifest& exported) {
  json& namespaces = exported.document["namespaces"];
  auto whole = load_back(exported.document);
  std::map<std::string, std::string> bad;  // "NS/ID" -> why
  for (auto& [ns, n] : namespaces.items()) {
    if (!n.contains("instances")) continue;
    for (auto& [id, fields] : n["instances"].items()) {
      if (whole) {
        if (auto problem = read_back_problem(fields, *whole, ns, id); !problem.empty())
          bad[ns + "/" + id] = problem;
        continue;
      }
      // The whole document did not load: find the instances it fails on one by one.
      auto alone = load_back(single(ns, id, fields));
      if (!alone)
        bad[ns + "/" + id] = alone.error().front().message;
      else if (auto problem = read_back_problem(fields, *alone, ns, id); !problem.empty())
        bad[ns + "/" + id] = problem;
    }
  }
  for (const auto& [address, why] : bad) {
    const auto slash = address.find('/');
    namespaces[address.substr(0, slash)]["instances"].erase(address.substr(slash + 1));
    if (namespaces[address.substr(0, slash)]["instances"].empty())
      namespaces[address.substr(0, slash)].erase("instances");
    exported.left_out.push_back(address + ": the whole instance: " + why);
    std::erase_if(exported.secrets, [&](const std::string& s) {
      return s.compare(0, address.size() + 2, address + ": ") == 0;
    });
    --exported.instances;
  }
  // Each instance's notes together, in address order (a stable sort keeps their path order).
  std::stable_sort(exported.left_out.begin(), exported.left_out.end(),
                   [](const std::string& a, const std::string& b) {
                     return a.substr(0, a.find(": ")) < b.substr(0, b.find(": "));
                   });
  auto final_check = load_back(exported.document);
  if (!final_check) {
    std::vector<std::string> lines;
    for (const auto& e : final_check.error()) lines.push_back(e.to_string());
    return util::Err("the exported manifest does not validate: " + util::join(lines, "; "));
  }
  for (auto& [ns, n] : namespaces.items()) {
    auto loaded = final_check->namespaces.find(ns);
    if (loaded == final_check->namespaces.end())
      return util::Err("namespace " + ns + " does not read back");
    const std::optional<std::string> description =
        n.contains("description") ? std::optional<std::string>(n["description"].get<std::string>())
                                  : std::nullopt;
    if (loaded->second.description != description)
      return util::Err("the description of namespace " + ns + " does not read back");
    if (!n.contains("instances")) continue;
    for (auto& [id, fields] : n["instances"].items())
      if (auto problem = read_back_problem(fields, *final_check, ns, id); !problem.empty())
        return util::Err(ns + "/" + id + ": " + problem);
  }
  return {};
}

std::string count(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::vector<std::string> header(const reconcile::ExportedManifest& exported,
                                const std::string& account, const std::vector<std::string>& named,
                                const std::string& time) {
  std::vector<std::string> h;
  h.push_back(
      "Exported by `aisearchd export` from account " + account + ": " +
      (named.empty() ? std::string("all namespaces") : "namespaces " + util::join(named, ", ")) +
      " (" + count(exported.namespaces, "namespace") + ", " +
      count(exported.instances, "instance") + ").");
  h.push_back("Export time: " + time + " (aisearchd " + util::k_version + ")");
  h.push_back("Only the API fields that differ from the server's defaults. Not exported: token_id");
  h.push_back(
      "(write-only, the API never returns it), sync settings and protect (aisearchd's own).");
  h.push_back(
      "`aisearchd plan` of this manifest adopts every instance (no API write); prune is off.");
  for (const auto& s : exported.secrets)
    h.push_back("SECRET value (use ${VAR} before you commit this file): " + s);
  for (const auto& l : exported.left_out) h.push_back("Left out: " + l);
  if (!exported.unknown_fields.empty())
    h.push_back("Left out, fields the manifest does not know: " +
                util::join(exported.unknown_fields, ", "));
  return h;
}

}  // namespace

int cmd_export(const Options& options) {
  if (options.output != "text") {
    std::cerr << "aisearchd export: -o " << options.output
              << ": export writes a YAML manifest only (leave out -o)\n";
    return k_exit_error;
  }
  std::vector<std::string> named;
  for (const auto& a : options.args) {
    if (!model::is_valid_namespace_name(a)) {
      std::cerr << "aisearchd export: \"" << a
                << "\" is not a namespace name (1-28 lowercase letters, digits and '-')\n";
      return k_exit_error;
    }
    if (std::find(named.begin(), named.end(), a) == named.end()) named.push_back(a);
  }
  std::sort(named.begin(), named.end());
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  ctx.load_manifest_optional();  // only for its account_id, when the flag and config have none
  if (!ctx.connect()) return k_exit_error;

  // The lists alone, as plan reads them; no state (an export owns nothing).
  const state::State no_state;
  const int parallelism = ctx.settings.config.concurrency;
  std::vector<std::string> names = named;
  if (named.empty()) {
    auto first = reconcile::observe(*ctx.client, {}, parallelism, no_state);
    if (first.token_rejected) return report_token_rejected("export", first.token_rejected);
    if (first.namespaces_error) {
      std::cerr << "aisearchd export: the namespace list failed: " << *first.namespaces_error
                << "; nothing exported\n";
      return k_exit_error;
    }
    for (const auto& [name, ns] : first.namespaces) names.push_back(name);
  }
  auto observed = reconcile::observe(*ctx.client, std::set<std::string>(names.begin(), names.end()),
                                     parallelism, no_state);
  if (observed.token_rejected) return report_token_rejected("export", observed.token_rejected);
  if (named.empty()) {
    // Gone since the first list: nothing to export there.
    names.erase(std::remove_if(names.begin(), names.end(),
                               [&](const std::string& n) {
                                 auto it = observed.listings.find(n);
                                 return it != observed.listings.end() && !it->second.exists;
                               }),
                names.end());
  }
  auto exported = reconcile::export_manifest(observed, names);
  if (!exported) {
    std::cerr << "aisearchd export: " << exported.error()
              << ": nothing exported (a manifest without them would look complete)\n";
    return k_exit_error;
  }
  if (auto checked = keep_what_reads_back(*exported); !checked) {
    std::cerr << "aisearchd export: " << checked.error() << ": nothing exported\n";
    return k_exit_error;
  }
  const std::string account = account_id(ctx.settings, ctx.have_manifest ? &ctx.manifest : nullptr);
  auto yaml = manifest::emit_yaml(
      exported->document, header(*exported, account, named, util::format_rfc3339(ctx.clock.now())));
  if (!yaml) {
    std::cerr << "aisearchd export: " << yaml.error() << ": nothing exported\n";
    return k_exit_error;
  }
  std::cout << *yaml;
  std::cout.flush();
  for (const auto& s : exported->secrets)
    std::cerr << "aisearchd export: warning: " << s
              << " holds secret values: replace them with ${VAR} references before committing\n";
  for (const auto& l : exported->left_out)
    std::cerr << "aisearchd export: warning: left out " << l << "\n";
  if (!exported->unknown_fields.empty())
    std::cerr << "aisearchd export: warning: left out fields the manifest does not know: "
              << util::join(exported->unknown_fields, ", ") << "\n";
  return std::cout ? k_exit_ok : k_exit_error;
}

}  // namespace cli
