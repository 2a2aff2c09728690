#!/usr/bin/env bash
# Makes sure the PostgreSQL named by BNPL_TEST_POSTGRES_URL answers, starting
# the machine's local cluster if it is down. Exits non-zero if it still does not.
set -euo pipefail
url="${BNPL_TEST_POSTGRES_URL:?set BNPL_TEST_POSTGRES_URL}"
if pg_isready -d "$url" -q 2>/dev/null; then exit 0; fi
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
fi
for _ in $(seq 1 30); do
  if pg_isready -d "$url" -q 2>/dev/null; then exit 0; fi
  sleep 1
done
echo "PostgreSQL at $url does not answer" >&2
exit 1
