//! The twilio-node programs of these tests, twins of `python.rs`: the same steps, the same
//! printed JSON.

/// Places a call to `client:alice`, follows it until it rings, cancels it, cancels it again,
/// and tries a phone number.
pub const CALLS: &str = r#"
const [base, account, key, secret] = process.argv.slice(1);
const client = require("twilio")(key, secret, { accountSid: account });
client.api.baseUrl = base;
const out = (o) => console.log(JSON.stringify(o));
const iso = (d) => (d instanceof Date && !isNaN(d) ? d.toISOString() : d === undefined ? null : d);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
(async () => {
  const call = await client.calls.create({ to: "client:alice", from: "client:quick_start",
    url: "https://backend.example.com/twiml", statusCallbackEvent: ["ringing", "answered"],
    timeout: 20, machineDetection: "Enable" });
  out({ step: "created", sid: call.sid, account_sid: call.accountSid, status: call.status,
    direction: call.direction, api_version: call.apiVersion, to: call.to, from_: call.from,
    uri: call.uri, date_created: iso(call.dateCreated), start_time: iso(call.startTime),
    end_time: iso(call.endTime), price: call.price });
  const deadline = Date.now() + 10000;
  let fetched;
  for (;;) {
    fetched = await client.calls(call.sid).fetch();
    if (fetched.status !== "queued" || Date.now() > deadline) break;
    await sleep(50);
  }
  out({ step: "fetched", status: fetched.status, start_time: iso(fetched.startTime) });
  const canceled = await client.calls(call.sid).update({ status: "canceled" });
  out({ step: "canceled", status: canceled.status, end_time: iso(canceled.endTime) });
  const again = await client.calls(call.sid).update({ status: "completed" });
  out({ step: "again", status: again.status });
  try {
    await client.calls.create({ to: "+15551234567", from: "client:quick_start",
      url: "https://backend.example.com/twiml" });
    out({ step: "refused", code: null });
  } catch (e) {
    out({ step: "refused", code: e.code, status: e.status, message: e.message });
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// Uploads an APNs credential, lists every credential one a page, fetches, renames and
/// deletes it, then fetches it again.
pub const CREDENTIALS: &str = r#"
const [base, account, key, secret, cert, privateKey] = process.argv.slice(1);
const client = require("twilio")(key, secret, { accountSid: account });
client.chat.baseUrl = base;
const out = (o) => console.log(JSON.stringify(o));
const iso = (d) => (d instanceof Date && !isNaN(d) ? d.toISOString() : d === undefined ? null : d);
(async () => {
  const credentials = client.chat.v2.credentials;
  const c = await credentials.create({ type: "apn", friendlyName: "voip", certificate: cert,
    privateKey, sandbox: true });
  out({ step: "created", sid: c.sid, account_sid: c.accountSid, type: c.type,
    sandbox: c.sandbox, friendly_name: c.friendlyName, date_created: iso(c.dateCreated),
    url: c.url });
  const all = await credentials.list({ pageSize: 1 });
  out({ step: "listed", sids: all.map((x) => x.sid) });
  const f = await credentials(c.sid).fetch();
  out({ step: "fetched", sid: f.sid, friendly_name: f.friendlyName, sandbox: f.sandbox });
  const u = await credentials(c.sid).update({ friendlyName: "renamed" });
  out({ step: "updated", friendly_name: u.friendlyName, sandbox: u.sandbox,
    date_updated: iso(u.dateUpdated) });
  out({ step: "deleted", deleted: await credentials(c.sid).remove() });
  try {
    await credentials(c.sid).fetch();
    out({ step: "gone", status: 200 });
  } catch (e) {
    out({ step: "gone", status: e.status, code: e.code });
  }
})().catch((e) => { console.error(e); process.exit(1); });
"#;
