"""Independent check of the mock-apns simulator with third-party clients.

Drives a running simulator (development environment, generated CA) with
aioapns -- a widely used APNs client that signs ES256 provider tokens with
PyJWT and speaks HTTP/2 with the `h2` package -- and with httpx (http2=True)
for what aioapns does not expose (response headers, a missing token).

aioapns has no base-URL option; its protocol classes carry the host and
port as class attributes, which are pointed at the simulator here.

Usage: check_mock_apns.py TLS_PORT CONTROL_PORT CA_PEM
"""

import asyncio
import json
import ssl
import sys
import time
import urllib.request
import uuid

import httpx
import jwt
from aioapns import APNs, NotificationRequest, PushType
from aioapns import connection as aioapns_connection
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

TOPIC = "com.example.app.voip"
KEY_ID = "PYKEY00001"
HTTPX_KEY_ID = "PYKEY00002"
TEAM_ID = "PYTEAM0001"
GOOD = "aa" * 32
UNKNOWN = "bb" * 32
GONE = "cc" * 32
GONE_TS = 1_700_000_000_456

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))


def control(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


async def main(tls_port, control_port, ca_pem):
    key = ec.generate_private_key(ec.SECP256R1())
    p8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    control(control_port, "POST", "/keys",
            {"key_id": KEY_ID, "team_id": TEAM_ID, "private_key_pem": p8})
    # A second key, registered by its public half, for the httpx client.
    key2 = ec.generate_private_key(ec.SECP256R1())
    public2 = key2.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    control(control_port, "POST", "/keys",
            {"key_id": HTTPX_KEY_ID, "team_id": TEAM_ID,
             "public_key_pem": public2})
    for token in (GOOD, GONE):
        control(control_port, "POST", "/tokens",
                {"token": token, "topic": TOPIC, "environment": "development"})
    control(control_port, "POST", f"/tokens/{GONE}/unregister",
            {"timestamp_ms": GONE_TS})

    aioapns_connection.APNsDevelopmentClientProtocol.APNS_SERVER = "localhost"
    aioapns_connection.APNsDevelopmentClientProtocol.APNS_PORT = tls_port
    ctx = ssl.create_default_context(cafile=ca_pem)
    apns = APNs(key=p8, key_id=KEY_ID, team_id=TEAM_ID, topic=TOPIC,
                use_sandbox=True, ssl_context=ctx, max_connections=1)

    def voip(token):
        return NotificationRequest(
            device_token=token, message={"call_id": "py-1", "caller": "Bob"},
            push_type=PushType.VOIP, priority=10, time_to_live=0)

    ok = await apns.send_notification(voip(GOOD))
    check("aioapns success", ok.is_successful, (ok.status, ok.description))
    bad = await apns.send_notification(voip(UNKNOWN))
    check("aioapns BadDeviceToken",
          (bad.status, bad.description) == ("400", "BadDeviceToken"),
          (bad.status, bad.description))
    gone = await apns.send_notification(voip(GONE))
    check("aioapns 410 Unregistered with timestamp",
          (gone.status, gone.description, gone.timestamp)
          == ("410", "Unregistered", GONE_TS),
          (gone.status, gone.description, gone.timestamp))

    async with httpx.AsyncClient(http2=True, verify=ctx) as client:
        url = f"https://localhost:{tls_port}/3/device/{GOOD}"
        apns_id = str(uuid.uuid4())
        headers = {"apns-topic": TOPIC, "apns-push-type": "voip",
                   "apns-id": apns_id}
        r = await client.post(url, headers=headers, content=b'{"x":1}')
        check("httpx over HTTP/2", r.http_version == "HTTP/2", r.http_version)
        check("httpx MissingProviderToken",
              (r.status_code, r.json().get("reason"))
              == (403, "MissingProviderToken"), r.text)
        check("apns-id echoed", r.headers.get("apns-id") == apns_id,
              r.headers)
        token = jwt.encode({"iss": TEAM_ID, "iat": int(time.time())}, key2,
                           algorithm="ES256", headers={"kid": HTTPX_KEY_ID})
        headers["authorization"] = f"bearer {token}"
        r = await client.post(url, headers=headers, content=b'{"x":1}')
        check("httpx + PyJWT success", r.status_code == 200, r.text)
        check("apns-unique-id in development",
              r.headers.get("apns-unique-id") is not None, r.headers)

    log = control(control_port, "GET", "/pushes?since=0")["pushes"]
    first = log[0] if log else {}
    check("push log has every push", len(log) == 5, len(log))
    check("push log auth is the aioapns token",
          first.get("auth", {}).get("key_id") == KEY_ID, first.get("auth"))
    check("push log payload", (first.get("payload") or {}).get("caller")
          == "Bob", first.get("payload"))
    stats = control(control_port, "GET", "/stats")
    check("stats", stats["accepted"] == 2 and stats["rejected"] == 3, stats)
    apns.pool.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if all(results) else 1)
