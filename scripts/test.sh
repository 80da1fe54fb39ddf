#!/usr/bin/env bash
# pushgate's test command: the whole suite, on SQLite and on a real PostgreSQL (and Redis),
# which it starts if they are not running. Extra arguments go to the test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
ensure_postgres
ensure_redis

# promtool (Debian's prometheus package) checks /metrics in the tests.
if ! command -v promtool >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# Twilio's own helper library mints access tokens for the tests that check we accept them, and
# drives the Twilio REST shape tests.
venv=target/py-venv-twilio
if ! "$venv/bin/python" -c 'import twilio.jwt.access_token' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'twilio==9.13.0'
fi
export PUSHGATE_TEST_PYTHON="${PUSHGATE_TEST_PYTHON:-$PWD/$venv/bin/python}"

# Twilio's Node library (npm, pinned) drives the Twilio REST shape tests (tests/it/twilio_rest).
node_twilio=target/node-twilio
if ! NODE_PATH="$node_twilio/node_modules" node -e 'if (require("twilio/package.json").version !== "6.3.1") process.exit(1)' 2>/dev/null; then
  mkdir -p "$node_twilio"
  npm install --no-save --no-audit --no-fund --silent --prefix "$node_twilio" 'twilio@6.3.1'
fi
export PUSHGATE_TEST_NODE_PATH="${PUSHGATE_TEST_NODE_PATH:-$PWD/$node_twilio/node_modules}"

export PUSHGATE_TEST_POSTGRES_URL="${PUSHGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export PUSHGATE_TEST_REDIS_URL="${PUSHGATE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

# Each test creates its own database; drop what earlier runs left behind.
psql -q -X "$PUSHGATE_TEST_POSTGRES_URL" -At \
  -c "SELECT 'DROP DATABASE IF EXISTS ' || quote_ident(datname) || ';' FROM pg_database WHERE datname LIKE 'pushgate\_t\_%'" \
  | psql -q -X "$PUSHGATE_TEST_POSTGRES_URL" >/dev/null

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked "$@"
else
  cargo test --locked "$@"
fi
