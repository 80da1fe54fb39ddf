#!/usr/bin/env bash
# Checks `pushgate mock-fcm` with Google's own Python auth library (google-auth over
# requests): it loads the service-account file the simulator wrote, exchanges a signed
# assertion for an access token at the simulator, and sends FCM HTTP v1 messages with an
# AuthorizedSession; FCM's error bodies, token expiry and refresh, token-endpoint retries and
# tampered assertions, end to end over loopback. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/py-venv-fcm
if ! "$venv/bin/python" -c 'import google.auth, requests, cryptography' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'google-auth==2.62.2' 'requests==2.34.2' 'cryptography==50.0.2'
fi

cargo build --quiet --locked
tmp=$(mktemp -d)
PUSHGATE_DATA_DIR="$tmp" target/debug/pushgate mock-fcm --listen 127.0.0.1:0 \
    --control 127.0.0.1:0 --project-id pushgate-check --log-pushes >"$tmp/out" 2>"$tmp/err" &
pid=$!
cleanup() {
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Wait (bounded) until the simulator has printed where it listens.
for _ in $(seq 1 300); do
    grep -q '^CA certificate' "$tmp/out" && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/err"; exit 1; }
    sleep 0.1
done
grep -q '^CA certificate' "$tmp/out" || { echo "simulator did not start"; cat "$tmp/err"; exit 1; }
port=$(sed -nE 's/^mock-fcm: .*:([0-9]+) .*/\1/p' "$tmp/out")
control_port=$(sed -nE 's/^control API: http:\/\/[^ ]*:([0-9]+).*/\1/p' "$tmp/out")
service_account=$(sed -nE 's/^service account: ([^ ]+) .*/\1/p' "$tmp/out")
ca=$(sed -nE 's/^CA certificate: (.+)$/\1/p' "$tmp/out")

# google-auth's token requests and AuthorizedSession trust the simulator's CA through this.
REQUESTS_CA_BUNDLE="$ca" "$venv/bin/python" scripts/check_mock_fcm.py \
    "$port" "$control_port" "$service_account" "$ca"
