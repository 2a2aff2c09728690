#!/usr/bin/env bash
# Prism (the OpenAPI mock server of the PSD2 conformance test,
# providers/klarna-eu/tests/prism_conformance.rs), pinned in tools/prism.
#
#   scripts/prism.sh install   installs it from tools/prism/package-lock.json
#                              (npm ci) unless it is already installed
#   scripts/prism.sh path      prints the binary's path
#
# Idempotent; fails loudly (non-zero, with the reason) when node/npm are
# missing or the install fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/tools/prism"
bin="$dir/node_modules/.bin/prism"
want="$(sed -n 's/.*"@stoplight\/prism-cli": *"\([^"]*\)".*/\1/p' "$dir/package.json")"

installed_version() {
  [ -x "$bin" ] || return 1
  "$bin" --version 2>/dev/null | tail -n 1
}

case "${1:-install}" in
  install)
    if [ "$(installed_version || true)" = "$want" ]; then
      echo "prism $want already installed in tools/prism"
      exit 0
    fi
    command -v node >/dev/null || { echo "prism.sh: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
    command -v npm >/dev/null || { echo "prism.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
    echo "installing prism $want in tools/prism (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || {
      echo "prism.sh: npm ci failed in tools/prism" >&2
      exit 1
    }
    got="$(installed_version || true)"
    if [ "$got" != "$want" ]; then
      echo "prism.sh: installed prism reports version '${got}', expected $want" >&2
      exit 1
    fi
    echo "prism $got installed"
    ;;
  path)
    echo "$bin"
    ;;
  *)
    echo "usage: scripts/prism.sh install|path" >&2
    exit 2
    ;;
esac
