#!/usr/bin/env bash
# The test command of the README. Installs what the tests need (nothing
# beyond cargo today; the PSD2 conformance test's mock server is installed by
# scripts/prism.sh when it exists), then runs every test of the workspace.
#
# PostgreSQL: set BNPL_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test)
# and every store test runs on PostgreSQL too; it then fails, never skips,
# when the database does not answer.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -x scripts/prism.sh ]; then
  scripts/prism.sh install
fi

cargo test --workspace --locked "$@"
