"""The operator console, walked through in headless Chromium (scripts/check-console.sh starts
the gateway and the APNs simulator and sets the environment this reads).

Signs in with a fresh key; creates a key and sees its secret once; pastes a certificate and a
mismatched key (the inline error with its code), then the right key with Sandbox checked (the
credential listed with its topics and expiry); registers a phone through the API and finds it
by identity; rings a test call from the form, then watches a call placed meanwhile go to
delivered without reloading (Server-Sent Events); opens the call; refuses a cross-site POST
without the CSRF token; revokes the signed-in key and is signed out. Screenshots of each page
go to $SHOTS. Every request stays on 127.0.0.1.
"""

import http.server
import json
import os
import re
import sys
import threading
import urllib.request

from playwright.sync_api import expect, sync_playwright

GATEWAY = os.environ["GATEWAY"]
KEY = os.environ["CONSOLE_KEY"]
SECRET = os.environ["CONSOLE_SECRET"]
SHOTS = os.environ["SHOTS"]
DEVICE = "cd" * 32


def read(path):
    with open(path) as f:
        return f.read()


def api(method, path, body=None, headers=None):
    """A request to the gateway's API (not through the browser)."""
    req = urllib.request.Request(GATEWAY + path, method=method, data=body, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.status, json.loads(res.read() or b"{}")


def basic():
    import base64

    return "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()


def evil_site():
    """Another origin (another port of 127.0.0.1) whose page posts a form to the console."""
    page = (
        "<!doctype html><form id=f method=post action='%s/console/keys'>"
        "<input name=friendly_name value=evil></form>"
        "<script>document.getElementById('f').submit()</script>" % GATEWAY
    ).encode()

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


def shot(page, name):
    page.screenshot(path=os.path.join(SHOTS, name + ".png"), full_page=True)


def step(message):
    print("console e2e:", message, flush=True)


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ["CHROMIUM"], headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors = []
        # Errors in the browser's console (a CSP violation reads "Refused to …"); the answers
        # the walk-through provokes on purpose (400, 403, 404) are not errors of the page.
        page.on(
            "console",
            lambda m: m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and errors.append(m.text),
        )
        page.on("dialog", lambda d: d.accept())

        step("sign in")
        page.goto(GATEWAY + "/console")
        expect(page).to_have_url(re.compile(r"/console/sign-in"))
        shot(page, "signin")
        page.get_by_label("API key SID").fill(KEY)
        page.get_by_label("Secret").fill(SECRET)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()

        step("create a key: its secret once")
        page.get_by_role("link", name="API keys").click()
        page.get_by_label("Name").fill("e2e <b>key</b>")
        page.get_by_role("button", name="Create key").click()
        expect(page.get_by_text("The secret is shown only once: store it now.")).to_be_visible()
        secret = page.locator("#new-key-secret").inner_text()
        assert re.fullmatch(r"[A-Za-z0-9]{32}", secret), secret
        expect(page.get_by_text("e2e <b>key</b>")).to_be_visible()  # escaped, shown as text
        shot(page, "keys-created")
        page.goto(GATEWAY + "/console/keys")
        assert secret not in page.content(), "the secret is shown only once"
        shot(page, "keys")

        step("paste a certificate with a mismatched key: the inline error")
        page.get_by_role("link", name="Push credentials").click()
        page.get_by_role("link", name="Add a push credential").click()
        form = page.locator("#add-certificate")
        form.get_by_label("Certificate (PEM)").fill(read(os.environ["PASTE_CERT"]))
        form.get_by_label("Private key (PEM)").fill(read(os.environ["OTHER_KEY"]))
        form.get_by_label("Sandbox").check()
        form.get_by_role("button", name="Add credential").click()
        error = page.locator("#private_key-error")
        expect(error).to_contain_text("21107")
        shot(page, "credential-error")

        step("paste it with its key, Sandbox checked: listed with topics and expiry")
        form = page.locator("#add-certificate")
        form.get_by_label("Private key (PEM)").fill(read(os.environ["PASTE_KEY"]))
        form.get_by_label("Sandbox").check()
        form.get_by_label("Name (optional)").fill("pasted in the console")
        form.get_by_role("button", name="Add credential").click()
        expect(page.get_by_text("The credential was added.")).to_be_visible()
        table = page.locator("#credentials")
        expect(table).to_contain_text("com.example.console.voip")
        expect(table).to_contain_text("sandbox")
        expect(table).to_contain_text("expires in")
        shot(page, "credentials")

        step("a phone registered through the API, found by identity")
        status, _ = api(
            "POST",
            "/v1/registrations",
            json.dumps({"binding_type": "apn", "address": DEVICE}).encode(),
            {"Content-Type": "application/json", "X-Twilio-Token": os.environ["ALICE_TOKEN"]},
        )
        assert status == 201, status
        page.get_by_role("link", name="Registrations").click()
        page.get_by_label("Identity").fill("alice")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#registrations")).to_contain_text("active")
        expect(page.locator("#registrations")).to_contain_text("alice")
        shot(page, "registrations")

        step("ring a test call")
        page.get_by_role("link", name="Calls").click()
        page.get_by_label("Identity").fill("alice")
        page.get_by_role("button", name="Ring").click()
        expect(page.get_by_text("The call is ringing.")).to_be_visible()
        first = page.locator("#calls tr").first
        expect(first).to_have_attribute("data-status", "delivered", timeout=10_000)

        step("a call placed meanwhile goes to delivered without a reload")
        page.evaluate("window.__stillHere = true")
        status, invite = api(
            "POST",
            "/v1/invites",
            json.dumps({"to": "alice", "from": "client:e2e"}).encode(),
            {"Content-Type": "application/json", "Authorization": basic()},
        )
        assert status == 202, status
        row = page.locator("#call-" + invite["sid"])
        expect(row).to_have_attribute("data-status", "delivered", timeout=10_000)
        expect(row).to_contain_text("1 of 1 accepted")
        assert page.evaluate("window.__stillHere === true"), "the page was reloaded"
        shot(page, "calls")
        row.get_by_role("link").click()
        expect(page.locator("#deliveries")).to_contain_text("APNs accepted it")
        shot(page, "call")

        step("a push the simulator refuses: the call's page says what it means")
        bob = "ef" * 32
        status, _ = api(
            "POST",
            "/v1/registrations",
            json.dumps({"binding_type": "apn", "address": bob}).encode(),
            {"Content-Type": "application/json", "X-Twilio-Token": os.environ["BOB_TOKEN"]},
        )
        assert status == 201, status
        fault = {"status": 400, "reason": "DeviceTokenNotForTopic", "count": 1, "match_token": bob}
        req = urllib.request.Request(
            os.environ["APNS_CONTROL"] + "/faults",
            method="POST",
            data=json.dumps(fault).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).read()
        page.goto(GATEWAY + "/console/calls")
        status, invite = api(
            "POST",
            "/v1/invites",
            json.dumps({"to": "bob", "from": "client:e2e"}).encode(),
            {"Content-Type": "application/json", "Authorization": basic()},
        )
        assert status == 202, status
        row = page.locator("#call-" + invite["sid"])
        expect(row).to_have_attribute("data-status", "failed", timeout=10_000)
        row.get_by_role("link").click()
        expect(page.locator("#deliveries")).to_contain_text("the token belongs to another app")

        step("overview, on a 1280x800 window and on a phone")
        page.goto(GATEWAY + "/console")
        expect(page.locator("svg[role=img]")).to_be_visible()
        expect(page.locator("#registration-counts")).to_contain_text("apn")
        shot(page, "overview")
        phone = browser.new_context(viewport={"width": 390, "height": 844}, storage_state=context.storage_state())
        small = phone.new_page()
        small.goto(GATEWAY + "/console")
        expect(small.get_by_role("heading", name="Overview")).to_be_visible()
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"the overview scrolls sideways on a phone ({width}px)"
        shot(small, "overview-phone")
        phone.close()

        step("a cross-site POST without the CSRF token is refused")
        keys_before = len(api("GET", "/v1/keys", headers={"Authorization": basic()})[1]["keys"])
        res = page.request.post(GATEWAY + "/console/keys", form={"friendly_name": "no token"},
                                max_redirects=0)
        assert res.status == 403 and "21703" in res.text(), (res.status, res.text()[:200])
        page.goto(evil_site())
        expect(page.get_by_text("Error 2170")).to_be_visible()
        assert page.url.startswith(GATEWAY + "/console/keys"), page.url
        shot(page, "cross-site-refused")
        keys_after = len(api("GET", "/v1/keys", headers={"Authorization": basic()})[1]["keys"])
        assert keys_after == keys_before, "no key was created"

        step("revoke the signed-in key: signed out")
        page.goto(GATEWAY + "/console/keys")
        page.locator(f"#key-{KEY}").get_by_role("button", name="Revoke").click()
        expect(page).to_have_url(re.compile(r"/console/sign-in\?reason=revoked"))
        expect(page.get_by_text("was revoked")).to_be_visible()
        page.goto(GATEWAY + "/console/keys")
        expect(page).to_have_url(re.compile(r"/console/sign-in"))

        assert not errors, f"browser console errors (CSP?): {errors}"
        browser.close()
    step("all steps passed")


if __name__ == "__main__":
    sys.exit(main())
