//! The twilio-python programs of these tests: each prints one JSON object a line, the same
//! shape as its twilio-node twin (`node.rs`), so one Rust test checks both.

/// Places a call to `client:alice`, follows it until it rings, cancels it, cancels it again,
/// and tries a phone number.
pub const CALLS: &str = r#"
import json, sys, time
from twilio.rest import Client
from twilio.base.exceptions import TwilioRestException
base, account, key, secret = sys.argv[1:5]
client = Client(key, secret, account)
client.api.base_url = base
def out(**kw): print(json.dumps(kw), flush=True)
def iso(d): return d.isoformat() if hasattr(d, "isoformat") else d
call = client.calls.create(to="client:alice", from_="client:quick_start",
    url="https://backend.example.com/twiml", status_callback_event=["ringing", "answered"],
    timeout=20, machine_detection="Enable")
out(step="created", sid=call.sid, account_sid=call.account_sid, status=call.status,
    direction=call.direction, api_version=call.api_version, to=call.to, from_=call._from,
    uri=call.uri, date_created=iso(call.date_created), start_time=iso(call.start_time),
    end_time=iso(call.end_time), price=call.price)
deadline = time.time() + 10
while True:
    fetched = client.calls(call.sid).fetch()
    if fetched.status != "queued" or time.time() > deadline:
        break
    time.sleep(0.05)
out(step="fetched", status=fetched.status, start_time=iso(fetched.start_time))
canceled = client.calls(call.sid).update(status="canceled")
out(step="canceled", status=canceled.status, end_time=iso(canceled.end_time))
again = client.calls(call.sid).update(status="completed")
out(step="again", status=again.status)
try:
    client.calls.create(to="+15551234567", from_="client:quick_start",
        url="https://backend.example.com/twiml")
    out(step="refused", code=None)
except TwilioRestException as e:
    out(step="refused", code=e.code, status=e.status, message=e.msg)
"#;

/// Uploads an APNs credential, lists every credential one a page, fetches, renames and
/// deletes it, then fetches it again.
pub const CREDENTIALS: &str = r#"
import json, sys
from twilio.rest import Client
from twilio.base.exceptions import TwilioRestException
base, account, key, secret, cert, private_key = sys.argv[1:7]
client = Client(key, secret, account)
client.chat.base_url = base
def out(**kw): print(json.dumps(kw), flush=True)
def iso(d): return d.isoformat() if hasattr(d, "isoformat") else d
credentials = client.chat.v2.credentials
c = credentials.create(type="apn", friendly_name="voip", certificate=cert,
    private_key=private_key, sandbox=True)
out(step="created", sid=c.sid, account_sid=c.account_sid, type=c.type, sandbox=c.sandbox,
    friendly_name=c.friendly_name, date_created=iso(c.date_created), url=c.url)
out(step="listed", sids=[x.sid for x in credentials.list(page_size=1)])
f = credentials(c.sid).fetch()
out(step="fetched", sid=f.sid, friendly_name=f.friendly_name, sandbox=f.sandbox)
u = credentials(c.sid).update(friendly_name="renamed")
out(step="updated", friendly_name=u.friendly_name, sandbox=u.sandbox,
    date_updated=iso(u.date_updated))
out(step="deleted", deleted=credentials(c.sid).delete())
try:
    credentials(c.sid).fetch()
    out(step="gone", status=200)
except TwilioRestException as e:
    out(step="gone", status=e.status, code=e.code)
"#;
