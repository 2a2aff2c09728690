# Everyday recipes. The README's commands never need `just`
# (install it with `pip install rust-just` if you want it).

export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") + "/.cache/bnpl/target")

default:
    @just --list

# Run every test (set BNPL_TEST_POSTGRES_URL to include PostgreSQL)
test *ARGS:
    bash scripts/test.sh {{ARGS}}

# Tests on SQLite and PostgreSQL, as CI runs them
test-pg:
    BNPL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test bash scripts/ensure-postgres.sh
    BNPL_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test bash scripts/test.sh

# Formatting and lints, as CI checks them
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

fmt:
    cargo fmt --all

# The demo against the built-in sandbox
demo:
    cargo run --release -- demo

# Serve the sandbox on 127.0.0.1:8787
sandbox:
    cargo run --release -- sandbox

# Everything CI runs
ci:
    bash .ci/run
