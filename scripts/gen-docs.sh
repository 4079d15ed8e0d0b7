#!/bin/sh
# gen-docs.sh AISEARCHD EMULATOR OUTDIR: writes the man pages aisearchd(1), aisearchd.yaml(5) and
# aisearch-emulator(1) (gzip -9n) and the shell completions of aisearchd into OUTDIR. The build
# runs it; cmake/Install.cmake installs the results.
set -eu
bin=$1
emulator=$2
out=$3
mkdir -p "$out"
"$bin" man | gzip -9n >"$out/aisearchd.1.gz"
"$bin" man 5 | gzip -9n >"$out/aisearchd.yaml.5.gz"
"$bin" completion bash >"$out/aisearchd.bash"
"$bin" completion zsh >"$out/_aisearchd"
"$bin" completion fish >"$out/aisearchd.fish"
# The emulator's page is its --help, which cxxopts generates from its option list.
{
  printf '.TH AISEARCH-EMULATOR 1 "" "%s" "User Commands"\n' "$("$bin" --version | head -n1)"
  printf '.SH NAME\naisearch-emulator \\- local emulator of the Cloudflare AI Search REST API\n'
  printf '.SH SYNOPSIS\n.B aisearch-emulator\n[\\fIOPTIONS\\fR]\n.SH DESCRIPTION\n'
  printf 'Serves the Cloudflare AI Search REST API on a local address, for trying\n'
  printf '.BR aisearchd (1)\nand testing against it without an account.\n'
  printf 'Its control endpoints under /__emulator inject faults and move its clock.\n'
  printf '.SH OPTIONS\n.nf\n'
  "$emulator" --help | sed -e '1,/^$/d' -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e 's/-/\\-/g'
  printf '.fi\n.SH SEE ALSO\n.BR aisearchd (1)\n'
} | gzip -9n >"$out/aisearch-emulator.1.gz"
