#!/usr/bin/env bash
# Installs the Debian 12 packages aisearchd builds, tests and packages with.
# Idempotent, and quiet when everything is already present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang clang-format
  libyaml-cpp-dev libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev libcxxopts-dev
  libgtest-dev libgmock-dev libcpp-httplib-dev libsystemd-dev libhowardhinnant-date-dev tzdata
  python3 python3-jsonschema curl etcd-server prometheus systemd
  groff-base man-db zsh fish jq python3-yaml lintian
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (for Prism) may come from another packaging than Debian's: take any npm.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Prism (the OpenAPI conformance proxy) comes from npm, into the project's own folder.
if [[ "${AISEARCHD_SKIP_PRISM:-0}" != 1 ]]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  if [[ ! -x "$root/build-tools/node_modules/.bin/prism" ]]; then
    echo "install-deps: installing @stoplight/prism-cli from npm" >&2
    mkdir -p "$root/build-tools"
    (cd "$root/build-tools" && npm install --silent --no-audit --no-fund --prefix . @stoplight/prism-cli@5 >/dev/null)
  fi
fi
