#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "reconcile/plan.hpp"

namespace reconcile {

struct RenderOptions {
  bool color = false;  // ANSI colours: the CLI passes isatty(stdout) && !NO_COLOR
};

// The plan in Terraform's shape, for a terminal: one header line per change (`+` create,
// `~` update, `-/+` replace, `-` delete, `>` move, `#` blocked) with its reason, the changed
// fields below it, then the unmanaged instances, skipped namespaces, warnings and the summary
// line ("Plan: 1 to create, ..." or "No changes. ..."). Sensitive values are shown as
// `(sensitive)`; control characters in remote text are escaped, so the output is safe to print.
// Never throws for any plan content. Ends with a newline.
std::string render_text(const Plan& plan, const RenderOptions& options);

// The plan as the stable JSON contract (format_version "1") that policy tools read; see
// PRODUCT.md §5. Every key is always present; sensitive values are the string "(sensitive)";
// every string is valid UTF-8 (invalid bytes become U+FFFD), so dump() never throws.
// Keys are sorted (nlohmann::json's std::map), so the output is deterministic.
nlohmann::json render_json(const Plan& plan);

// render_json(plan) serialised with `indent` spaces (-1: one line), with a trailing newline.
std::string render_json_string(const Plan& plan, int indent = 2);

// The plan as Markdown for a pull-request comment: a title, the summary, a table of every change
// and a collapsible diff per change. At most `max_chars` bytes (GitHub allows 65,535): when the
// whole does not fit, per-change details are dropped first, then table rows of creates, updates
// and moves, and the output says what it left out. The title, the summary and the rows of every
// delete and replace are kept as long as they alone fit.
std::string render_markdown(const Plan& plan, std::size_t max_chars = 65000);

}  // namespace reconcile
