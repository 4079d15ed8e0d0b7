#include "cli/man_pages.hpp"

#include <sstream>

#include "cli/option_table.hpp"
#include "manifest/config_keys.hpp"

namespace cli {

namespace {

// roff: a backslash, a hyphen and a leading dot or quote are special.
std::string roff(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '\\')
      out += "\\e";
    else if (ch == '-')
      out += "\\-";
    else
      out += ch;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

}  // namespace

std::string man_page(std::string_view version) {
  std::ostringstream out;
  out << ".TH AISEARCHD 1 \"\" \"aisearchd " << roff(std::string(version))
      << "\" \"User Commands\"\n"
         ".SH NAME\naisearchd \\- keep Cloudflare AI Search instances equal to a YAML manifest\n"
         ".SH SYNOPSIS\n.B aisearchd\n[\\fIOPTIONS\\fR] [\\fICOMMAND\\fR] [\\fIARGS\\fR]\n"
         ".SH DESCRIPTION\n"
         "aisearchd reads a manifest of desired AI Search instances per namespace, compares it "
         "with the instances that exist, creates, updates and deletes to reconcile the two, "
         "triggers the instances' sync jobs on schedules and reports every job's outcome. It "
         "runs as a systemd service (\\fBrun\\fR), as a one-shot plan for review "
         "(\\fBplan\\fR) and as a one-shot reconcile (\\fBapply\\fR).\n"
         ".SH COMMANDS\n";
  for (const auto& c : command_table()) {
    out << ".TP\n.B " << roff(c.name) << (c.args.empty() ? "" : " \\fI" + roff(c.args) + "\\fR")
        << "\n"
        << roff(c.summary) << ".";
    if (!c.description.empty()) out << " " << roff(c.description);
    out << "\n";
    const auto own = options_where(false, c.name);
    for (const auto* o : own) {
      out << ".RS\n.TP\n.B \\-\\-" << roff(o->name)
          << (o->arg.empty() ? "" : " \\fI" + roff(o->arg) + "\\fR") << "\n"
          << roff(o->help) << (o->repeatable ? " (repeatable)" : "") << "\n.RE\n";
    }
  }
  out << ".SH OPTIONS\nOptions of every command (several have a config key, see "
         "\\fBaisearchd.yaml\\fR(5); a flag wins over the file):\n";
  for (const auto* o : options_where(true, "")) {
    out << ".TP\n.B " << (o->short_name.empty() ? "" : "\\-" + roff(o->short_name) + ", ")
        << "\\-\\-" << roff(o->name) << (o->arg.empty() ? "" : " \\fI" + roff(o->arg) + "\\fR")
        << "\n"
        << roff(o->help) << "\n";
  }
  out << ".SH ENVIRONMENT\n"
         ".TP\n.B CLOUDFLARE_API_TOKEN\nThe API token (else the config's api_token_file, else "
         "$CREDENTIALS_DIRECTORY/cloudflare\\-api\\-token). It never appears in any output.\n"
         ".TP\n.B CLOUDFLARE_ACCOUNT_ID\nThe account, unless the flag or the config names one; "
         "it wins over the manifest's account_id.\n"
         ".TP\n.B NO_COLOR\nNo ANSI colours, as \\-\\-no\\-color.\n"
         ".TP\n.B JOURNAL_STREAM\nSet by systemd: log lines carry their priority and no "
         "timestamp.\n"
         ".SH EXIT STATUS\n"
      << roff(k_exit_codes)
      << "\n"
         ".SH FILES\n"
         ".TP\n.I /etc/aisearchd/aisearchd.yaml\nThe daemon config, see \n.BR aisearchd.yaml (5).\n"
         ".TP\n.I /var/lib/aisearchd/state.json\nThe state (owned instances, job history) with "
         "the file backend.\n"
         ".SH EXAMPLES\n";
  for (const auto& c : command_table()) {
    if (c.hidden || c.example.empty()) continue;
    std::istringstream lines(c.example);
    for (std::string line; std::getline(lines, line);)
      out << ".PP\n.nf\n" << roff(line) << "\n.fi\n";
  }
  out << ".SH SEE ALSO\n.BR aisearchd.yaml (5),\n.BR aisearch\\-emulator (1),\n.BR systemctl "
         "(1),\n.BR journalctl (1)\n";
  return out.str();
}

std::string config_man_page(std::string_view version) {
  std::ostringstream out;
  out << ".TH AISEARCHD.YAML 5 \"\" \"aisearchd " << roff(std::string(version))
      << "\" \"File Formats\"\n"
         ".SH NAME\naisearchd.yaml \\- the aisearchd daemon configuration file\n"
         ".SH SYNOPSIS\n.I /etc/aisearchd/aisearchd.yaml\n"
         ".SH DESCRIPTION\n"
         "The configuration of\n.BR aisearchd (1):\n"
         "a YAML mapping of the keys below. Every key is optional; a key left out takes the "
         "default shown. A command-line flag wins over the file. Values may use ${VAR} and "
         "${VAR:\\-default}, expanded from the environment; an unset variable without a default "
         "is an error. An unknown key, a key given twice, a value of the wrong type or out of "
         "range is an error naming the file, line and column. Check a file offline with "
         "\\fBaisearchd validate \\-c\\fR \\fIFILE\\fR.\n"
         "The manifest (the desired instances) is a separate file or directory, named by "
         "\\fBmanifest\\fR.\n"
         ".PP\nDURATION values are written like 30s, 5m, 1h30m; SIZE values like 8MiB.\n"
         ".SH KEYS\n";
  std::string section;
  for (const auto& key : manifest::config_key_table()) {
    if (key.section != section) {
      section = key.section;
      out << ".SS " << roff(section) << "\nThe keys under \\fB" << roff(section) << ":\\fR\n";
    }
    out << ".TP\n.BR " << roff(key.name) << " \" " << roff(key.value) << "\"\n" << roff(key.help);
    if (!key.default_value.empty()) out << " Default: " << roff(key.default_value) << ".";
    out << "\n";
  }
  out << ".SH EXAMPLE\n.nf\n"
         "manifest: /srv/gitops/ai\\-search\n"
         "reconcile_interval: 10m\n"
         "request_budget: 300/5m\n"
         "notify_webhook: https://hooks.example.com/aisearchd\n"
         "notify_secret: ${AISEARCHD_NOTIFY_SECRET}\n"
         "state_backend:\n"
         "  type: etcd\n"
         "  endpoints: [https://etcd1.example.com:2379, https://etcd2.example.com:2379]\n"
         "  prefix: /aisearchd/prod/\n"
         "  ca_file: /etc/aisearchd/etcd\\-ca.pem\n"
         ".fi\n"
         ".SH FILES\n"
         ".TP\n.I /etc/aisearchd/aisearchd.yaml\nThe file the daemon and every command read "
         "unless \\-\\-config names another (a conffile of the Debian package).\n"
         ".TP\n.I /etc/aisearchd/token\nThe API token under systemd (LoadCredential=), mode "
         "0600, owned by root.\n"
         ".SH SEE ALSO\n.BR aisearchd (1),\n.BR systemd.exec (5)\n";
  return out.str();
}

}  // namespace cli
