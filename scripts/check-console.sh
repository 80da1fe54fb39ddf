#!/usr/bin/env bash
# The operator console in a real browser: headless Chromium (Debian's `chromium` package,
# never a downloaded browser) driven by Playwright (PyPI, pinned, in target/pw-venv; its own
# browser download is never run), against a gateway and the APNs simulator this script
# starts, everything on 127.0.0.1. scripts/console_e2e.py is the walk-through; screenshots
# of each page go to target/console-shots/. Called by .ci/run; run it locally with
# `bash scripts/check-console.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=${PUSHGATE_CHROMIUM:-/usr/bin/chromium}
[ -x "$browser" ] || { echo "error: $browser missing: apt-get install chromium"; exit 1; }
venv=target/pw-venv
if ! "$venv/bin/python" -c 'import playwright.sync_api' 2>/dev/null ||
    ! "$venv/bin/pip" show playwright 2>/dev/null | grep -q '^Version: 1.55.0$'; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'playwright==1.55.0'
fi

cargo build --quiet --locked
bin=$PWD/target/debug/pushgate
source scripts/processes.sh

export PUSHGATE_DATA_DIR="$tmp/data" PUSHGATE_LOG=warn,pushgate=info PUSHGATE_LOG_FORMAT=json

"$bin" mock-apns --listen 127.0.0.1:0 --control 127.0.0.1:0 --env both \
    --out-dir "$tmp/apns" >"$tmp/apns.out" 2>"$tmp/apns.err" &
pids+=($!)
wait_for "$tmp/apns.out" '^CA certificate' "${pids[-1]}"
apns_port=$(sed -nE 's/^mock-apns: .*:([0-9]+) .*/\1/p' "$tmp/apns.out")
export APNS_CONTROL=http://127.0.0.1:$(sed -nE 's/^control API: http:\/\/[^ ]*:([0-9]+).*/\1/p' "$tmp/apns.out")

export PUSHGATE_APNS_PRODUCTION_URL=https://127.0.0.1:$apns_port
export PUSHGATE_APNS_SANDBOX_URL=https://127.0.0.1:$apns_port
export PUSHGATE_APNS_CA_FILE=$tmp/apns/ca.pem
export PUSHGATE_LISTEN=127.0.0.1:0
export PUSHGATE_FCM_URL=https://127.0.0.1:1 PUSHGATE_FCM_TOKEN_HOSTS=127.0.0.1

# An account and its first key (the browser signs in with it), a credential for the phones'
# access tokens, and the PEMs the browser pastes: a self-made VoIP certificate, its key, and
# another key (the mismatch). The UID is the VoIP topic, as the simulator expects.
"$bin" init >"$tmp/init.out" 2>"$tmp/init.err"
export CONSOLE_KEY=$(sed -n 's/^API_KEY=//p' "$tmp/init.out")
export CONSOLE_SECRET=$(sed -n 's/^API_KEY_SECRET=//p' "$tmp/init.out")
mkcert() { # DIR BUNDLE
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 20 \
        -keyout "$1.key" -out "$1.pem" -subj "/UID=$2.voip/CN=VoIP Services: $2" 2>/dev/null
}
mkcert "$tmp/seed" com.example.app
mkcert "$tmp/paste" com.example.console
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/other.key" 2>/dev/null
"$bin" credentials add --cert "$tmp/seed.pem" --key "$tmp/seed.key" --name seed \
    >/dev/null 2>"$tmp/cred.err"
export ALICE_TOKEN=$("$bin" token --identity alice --ttl 3600 2>"$tmp/token.err")
export BOB_TOKEN=$("$bin" token --identity bob --ttl 3600 2>"$tmp/token.err")
export PASTE_CERT=$tmp/paste.pem PASTE_KEY=$tmp/paste.key OTHER_KEY=$tmp/other.key

"$bin" serve >"$tmp/gateway.out" 2>"$tmp/gateway.err" &
pids+=($!)
wait_for "$tmp/gateway.err" 'pushgate listening' "${pids[-1]}"
export GATEWAY=http://$(sed -nE 's/.*"pushgate listening","addr":"([0-9.:]+)".*/\1/p' "$tmp/gateway.err" | head -n1)

export CHROMIUM=$browser SHOTS=$PWD/target/console-shots
mkdir -p "$SHOTS"
if ! "$venv/bin/python" scripts/console_e2e.py; then
    echo "--- gateway log (last 40 lines)"; tail -n 40 "$tmp/gateway.err"; exit 1
fi
