#!/bin/sh
# Writes the man page and the shell completions of aisearchd BINARY into OUTDIR (the build runs
# it; cmake/Install.cmake installs the results).
set -eu
bin=$1
out=$2
mkdir -p "$out"
"$bin" man | gzip -9n >"$out/aisearchd.1.gz"
"$bin" completion bash >"$out/aisearchd.bash"
"$bin" completion zsh >"$out/_aisearchd"
"$bin" completion fish >"$out/aisearchd.fish"
