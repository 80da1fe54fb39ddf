#!/usr/bin/env bash
# Checks `pushgate mock-apns` with independent Python APNs clients (aioapns, which signs its
# provider tokens with PyJWT and speaks HTTP/2 through the h2 package; and httpx over HTTP/2):
# a success and Apple's error answers, end to end. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/py-venv
if ! "$venv/bin/python" -c 'import aioapns, httpx, h2' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'aioapns==4.0' 'httpx[http2]==0.28.1'
fi

cargo build --quiet --locked
tmp=$(mktemp -d)
PUSHGATE_DATA_DIR="$tmp" target/debug/pushgate mock-apns --listen 127.0.0.1:0 \
    --control 127.0.0.1:0 --env development --log-pushes >"$tmp/out" 2>"$tmp/err" &
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
tls_port=$(sed -nE 's/^mock-apns: .*:([0-9]+) .*/\1/p' "$tmp/out")
control_port=$(sed -nE 's/^control API: http:\/\/[^ ]*:([0-9]+).*/\1/p' "$tmp/out")

"$venv/bin/python" scripts/check_mock_apns.py "$tls_port" "$control_port" "$tmp/mock-apns/ca.pem"
