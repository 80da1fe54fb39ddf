#!/usr/bin/env bash
# Checks that /openapi.json is exact: schemathesis (PyPI, pinned) runs every phase (examples,
# coverage, fuzzing, stateful) and every check against a gateway this script starts, with each
# security scheme's credentials, and must find nothing. Called by .ci/run; run it locally with
# `bash scripts/check-openapi.sh` (extra arguments go to `st run`, e.g. `--max-examples 10`).
#
# Everything stays on loopback: the gateway's APNs endpoints are this script's simulator
# (`pushgate mock-apns`, its CA via PUSHGATE_APNS_CA_FILE) and status callbacks may only target
# 127.0.0.1 (PUSHGATE_STATUS_CALLBACK_ALLOWED_HOSTS), where a sink this script runs answers 204.
#
# Seeded state: an account with two API keys (the run authenticates with the first; the spare
# one keeps the account unlocked whatever the run revokes), a certificate credential, an access
# token for `alice` (registrations), and a bridge token taken from the push of an invite placed
# to alice's phone and then canceled (so its event stream ends at once and accept/reject answer
# 409; Twilio's Calls API reads it by its call SID). No operation is excluded.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/st-venv
if ! "$venv/bin/st" --version 2>/dev/null | grep -q '4.32.5'; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis==4.32.5'
fi

cargo build --quiet --locked
bin=$PWD/target/debug/pushgate
source scripts/processes.sh

export PUSHGATE_DATA_DIR="$tmp/data" PUSHGATE_LOG=warn,pushgate=info PUSHGATE_LOG_FORMAT=json

# The APNs simulator, recording pushes so the bridge token can be read back.
"$bin" mock-apns --listen 127.0.0.1:0 --control 127.0.0.1:0 --env both --log-pushes \
    --out-dir "$tmp/apns" >"$tmp/apns.out" 2>"$tmp/apns.err" &
pids+=($!)
wait_for "$tmp/apns.out" '^CA certificate' "${pids[-1]}"
apns_port=$(sed -nE 's/^mock-apns: .*:([0-9]+) .*/\1/p' "$tmp/apns.out")
control=http://127.0.0.1:$(sed -nE 's/^control API: http:\/\/[^ ]*:([0-9]+).*/\1/p' "$tmp/apns.out")

# The status callback sink.
"$venv/bin/python" - >"$tmp/sink.out" 2>"$tmp/sink.err" <<'EOF' &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204); self.end_headers()
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(f"sink {server.server_address[1]}", flush=True)
server.serve_forever()
EOF
pids+=($!)
wait_for "$tmp/sink.out" '^sink ' "${pids[-1]}"
sink_port=$(sed -nE 's/^sink ([0-9]+)/\1/p' "$tmp/sink.out")

export PUSHGATE_APNS_PRODUCTION_URL=https://127.0.0.1:$apns_port
export PUSHGATE_APNS_SANDBOX_URL=https://127.0.0.1:$apns_port
export PUSHGATE_APNS_CA_FILE=$tmp/apns/ca.pem
export PUSHGATE_STATUS_CALLBACK_ALLOWED_HOSTS='[127.0.0.1]'
export PUSHGATE_LISTEN=127.0.0.1:0
# Schemathesis sends many deliberately bad credentials from one address; the failed-auth limiter
# (tested in tests/it/hardening) would answer some of them 429 instead of the 401 checked here.
export PUSHGATE_AUTH_FAILURES_PER_MINUTE=0
# FCM: nothing here leaves the machine (no FCM credential is uploaded; the endpoints stay local).
export PUSHGATE_FCM_URL=https://127.0.0.1:1 PUSHGATE_FCM_TOKEN_HOSTS=127.0.0.1

# Account, keys, credential (a self-made VoIP certificate; the simulator accepts any).
"$bin" init >"$tmp/init.out" 2>"$tmp/init.err"
account=$(sed -n 's/^ACCOUNT_SID=//p' "$tmp/init.out")
key=$(sed -n 's/^API_KEY=//p' "$tmp/init.out")
secret=$(sed -n 's/^API_KEY_SECRET=//p' "$tmp/init.out")
"$bin" keys create --name spare >/dev/null 2>"$tmp/keys.err"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$tmp/voip.key" -out "$tmp/voip.pem" \
    -subj "/UID=com.example.app.voip/CN=VoIP Services: com.example.app" 2>/dev/null
"$bin" credentials add --cert "$tmp/voip.pem" --key "$tmp/voip.key" --sandbox --name openapi \
    >/dev/null 2>"$tmp/cred.err"
token=$("$bin" token --identity alice --ttl 3600 2>"$tmp/token.err")

"$bin" serve >"$tmp/gateway.out" 2>"$tmp/gateway.err" &
pids+=($!)
wait_for "$tmp/gateway.err" 'pushgate listening' "${pids[-1]}"
gateway=http://$(sed -nE 's/.*"pushgate listening","addr":"([0-9.:]+)".*/\1/p' "$tmp/gateway.err" | head -n1)

# A phone of alice's, an invite to it, and the bridge token of its push.
device=$(printf 'ab%.0s' $(seq 1 32))
curl -sf -o /dev/null "$gateway/v1/registrations" -H "X-Twilio-Token: $token" \
    -H 'Content-Type: application/json' -d "{\"binding_type\":\"apn\",\"address\":\"$device\"}"
placed=$(curl -sf -u "$key:$secret" "$gateway/v1/invites" -H 'Content-Type: application/json' \
    -d "{\"to\":\"alice\",\"from\":\"client:openapi\",\"ttl\":300,\"status_callback\":\"http://127.0.0.1:$sink_port/cb\"}")
invite=$(echo "$placed" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["sid"])')
call=$(echo "$placed" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["call_sid"])')
bridge=""
for _ in $(seq 1 100); do
    bridge=$(curl -sf "$control/pushes?since=0" | "$venv/bin/python" -c \
        'import json,sys; p=json.load(sys.stdin)["pushes"]; print(p[-1]["payload"]["twi_bridge_token"] if p else "")')
    [ -n "$bridge" ] && break
    sleep 0.1
done
[ -n "$bridge" ] || { echo "error: no push reached the simulator"; tail -n 20 "$tmp/gateway.err"; exit 1; }
curl -sf -o /dev/null -X POST -u "$key:$secret" "$gateway/v1/invites/$invite/cancel"

export API_KEY=$key API_KEY_SECRET=$secret ACCESS_TOKEN=$token BRIDGE_TOKEN=$bridge INVITE_SID=$invite
export ACCOUNT_SID=$account CALL_SID=$call
status=0
"$venv/bin/st" --config-file scripts/schemathesis.toml run "$gateway/openapi.json" \
    --phases examples,coverage,fuzzing,stateful --checks all \
    --max-examples 100 --seed 12 --workers 1 --request-timeout 10 \
    --report junit --report-dir target/schemathesis "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "schemathesis failed (exit $status); the gateway's last log lines:"
    tail -n 20 "$tmp/gateway.err"
fi
exit "$status"
