"""Independent check of the mock-fcm simulator with Google's own auth library.

google-auth (Google's Python authentication library, over `requests`) loads the service
account file the simulator wrote, exactly as an FCM server would load a key file
downloaded from the Firebase console: it signs the RS256 JWT assertion, exchanges it at
the file's token_uri (the simulator), and its AuthorizedSession sends FCM HTTP v1
messages with the access token -- refreshing and retrying on 401 and retrying token
requests on 503 by its own rules.

Only loopback traffic: every name resolution outside loopback fails the check. google-auth
also looks up a service account's "regional access boundary" at iamcredentials.googleapis.com
after a refresh; that lookup is switched off on the credentials object (it is not part of
FCM or of the token exchange).

Usage: check_mock_fcm.py PORT CONTROL_PORT SERVICE_ACCOUNT_JSON CA_PEM
"""

import base64
import datetime
import json
import re
import socket
import sys
import time
import urllib.request

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, exceptions, jwt
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
GOOD = "fGood0000000000000000:APA91b" + "Ab-_9" * 28
GONE = "fGone0000000000000000:APA91b" + "Zz-_1" * 28

results = []
outside = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))


_getaddrinfo = socket.getaddrinfo


def loopback_only(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1"):
        outside.append(host)
        raise OSError(f"check_mock_fcm: refusing to resolve {host} (loopback only)")
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = loopback_only


def control(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def credentials(info_or_path):
    if isinstance(info_or_path, dict):
        creds = service_account.Credentials.from_service_account_info(
            info_or_path, scopes=[FCM_SCOPE])
    else:
        creds = service_account.Credentials.from_service_account_file(
            info_or_path, scopes=[FCM_SCOPE])
    # Not part of FCM: a background lookup at iamcredentials.googleapis.com.
    creds._is_regional_access_boundary_lookup_required = lambda: False
    return creds


def fcm_error(resp):
    try:
        return resp.json().get("error", {})
    except ValueError:
        return {}


def main(port, control_port, sa_path, ca_pem):
    with open(sa_path) as f:
        info = json.load(f)
    project = info["project_id"]
    token_uri = f"https://127.0.0.1:{port}/token"
    send_url = f"https://127.0.0.1:{port}/v1/projects/{project}/messages:send"

    creds = credentials(sa_path)
    check("key file points at the simulator", creds._token_uri == token_uri,
          creds._token_uri)
    creds.refresh(Request())
    check("google-auth got an access token",
          (creds.token or "").startswith("ya29.") and creds.valid, creds.token)
    left = (creds.expiry - datetime.datetime.utcnow()).total_seconds()
    check("expires_in 3599 honoured", 3500 < left <= 3600, left)

    session = AuthorizedSession(creds)
    message = {"message": {"token": GOOD, "data": {"call_sid": "CA1", "caller": "Bob"},
                           "android": {"priority": "HIGH", "ttl": "30s"}}}
    r = session.post(send_url, json=message, timeout=10)
    name = r.json().get("name", "") if r.ok else r.text
    check("AuthorizedSession send: 200 and a message name",
          r.status_code == 200
          and re.fullmatch(rf"projects/{project}/messages/0:\d+", name), (r.status_code, name))

    control(control_port, "POST", "/faults",
            {"error_code": "UNREGISTERED", "match_token": GONE, "count": 1})
    r = session.post(send_url, json={"message": {"token": GONE}}, timeout=10)
    err = fcm_error(r)
    check("UNREGISTERED: 404 in FCM's error shape",
          r.status_code == 404 and err.get("code") == 404
          and err.get("status") == "NOT_FOUND"
          and err.get("message") == "Requested entity was not found."
          and err.get("details") == [{"@type": FCM_ERROR, "errorCode": "UNREGISTERED"}],
          r.text)

    control(control_port, "POST", "/faults",
            {"error_code": "QUOTA_EXCEEDED", "retry_after_secs": 7, "count": 1})
    r = session.post(send_url, json=message, timeout=10)
    err = fcm_error(r)
    check("QUOTA_EXCEEDED: 429 RESOURCE_EXHAUSTED with Retry-After",
          r.status_code == 429 and err.get("status") == "RESOURCE_EXHAUSTED"
          and {"@type": FCM_ERROR, "errorCode": "QUOTA_EXCEEDED"} in err.get("details", [])
          and r.headers.get("retry-after") == "7", (r.status_code, r.headers, r.text))

    r = session.post(send_url, json={"message": {"token": GOOD,
                                                 "android": {"ttl": "30"}}}, timeout=10)
    err = fcm_error(r)
    check("bad ttl: 400 INVALID_ARGUMENT naming message.android.ttl",
          r.status_code == 400 and "message.android.ttl" in err.get("message", ""), r.text)

    expired = control(control_port, "POST", "/faults", {"action": "expire_access_tokens"})
    r = session.post(send_url, json=message, timeout=10)
    check("after expiring tokens, AuthorizedSession refreshes on 401 and succeeds",
          expired.get("expired") == 1 and r.status_code == 200, (expired, r.text))

    # Token requests: google-auth retries a 503 by itself.
    control(control_port, "POST", "/faults", {"target": "token", "status": 503, "count": 1})
    retried = credentials(sa_path)
    retried.refresh(Request())
    check("token endpoint 503 retried by google-auth", retried.valid)

    # A tampered assertion, built with google-auth's own signer.
    signer = crypt.RSASigner.from_service_account_file(sa_path)
    now = int(time.time())
    assertion = jwt.encode(signer, {"iss": info["client_email"], "scope": FCM_SCOPE,
                                    "aud": token_uri, "iat": now, "exp": now + 3600}).decode()
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}
    r = requests.post(token_uri, data={**form, "assertion": assertion},
                      verify=ca_pem, timeout=10)
    check("google-auth-signed assertion accepted", r.status_code == 200, r.text)
    head, payload, sig = assertion.split(".")
    forged = json.dumps({"iss": info["client_email"], "scope": FCM_SCOPE,
                         "aud": token_uri, "iat": now, "exp": now + 3599}).encode()
    forged = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    r = requests.post(token_uri, data={**form, "assertion": f"{head}.{forged}.{sig}"},
                      verify=ca_pem, timeout=10)
    check("tampered assertion refused with invalid_grant",
          r.status_code == 400 and r.json().get("error") == "invalid_grant", r.text)

    # The right kid and account, the wrong key: google-auth raises RefreshError.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wrong = dict(info, private_key=other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    try:
        credentials(wrong).refresh(Request())
        check("wrong key refused", False, "refresh succeeded")
    except exceptions.RefreshError as e:
        check("wrong key refused (RefreshError invalid_grant)", "invalid_grant" in str(e), e)

    stats = control(control_port, "GET", "/stats")
    check("stats: tokens issued and sends",
          stats["tokens_issued"] == 4 and stats["accepted"] == 2
          and stats["rejected_by_error_code"].get("UNREGISTERED") == 1
          and stats["rejected_by_error_code"].get("UNAUTHENTICATED") == 1
          and stats["token_errors"].get("temporarily_unavailable") == 1, stats)
    log = control(control_port, "GET", "/pushes?since=0")["pushes"]
    first = log[0] if log else {}
    check("push log: token, data, android, account, HTTP/1.1",
          first.get("token") == GOOD and (first.get("data") or {}).get("caller") == "Bob"
          and (first.get("android") or {}).get("priority") == "HIGH"
          and first.get("client_email") == info["client_email"]
          and first.get("protocol") == "HTTP/1.1", first)
    check("only loopback traffic", not outside, outside)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4])
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if all(results) else 1)
