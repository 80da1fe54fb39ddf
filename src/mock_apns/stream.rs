//! Handling of one request stream: faults, body reading, judging,
//! answering, counting and (optionally) logging.

use std::borrow::Cow;
use std::collections::BTreeMap;

use bytes::Bytes;
use h2::RecvStream;
use h2::server::SendResponse;
use http::{HeaderMap, Request};

use super::Shared;
use super::config::{Environment, epoch_ms};
use super::conn::{ConnCommand, ConnCtx, action_name, send_response};
use super::faults::{Fault, FaultAction};
use super::records::{AuthInfo, Counters, PushRecord};
use super::tap::TapEvent;
use super::validate::{self, Incoming, MAX_VOIP_PAYLOAD, Verdict};

/// Bytes of an oversized body counted (but not kept) before giving up.
const BODY_COUNT_LIMIT: usize = 64 * 1024;

/// The body: at most `MAX_VOIP_PAYLOAD + 1` bytes kept, and the total size
/// seen (up to `BODY_COUNT_LIMIT`). `None` if the client reset the stream.
async fn read_body(body: &mut RecvStream) -> Option<(Vec<u8>, usize)> {
    let keep = MAX_VOIP_PAYLOAD + 1;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.ok()?;
        let _ = body.flow_control().release_capacity(chunk.len());
        total += chunk.len();
        if buf.len() < keep {
            let take = chunk.len().min(keep - buf.len());
            buf.extend_from_slice(&chunk[..take]);
        }
        if total > BODY_COUNT_LIMIT {
            break;
        }
    }
    Some((buf, total))
}

/// Handles one request stream end to end.
pub(crate) async fn handle_stream(
    shared: &Shared,
    ctx: &ConnCtx,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let received = shared.clock.now();
    let tapped_at = shared.tap.as_ref().map(|_| std::time::Instant::now());
    Counters::bump(&shared.counters.received);
    let stream_id = u32::from(respond.stream_id());
    let (parts, mut body) = req.into_parts();
    let path = parts.uri.path();
    let token = validate::device_token(path).unwrap_or("");
    let fault = shared.faults.pick(token);
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay) {
        tokio::time::sleep(delay).await;
    }
    let action = fault.as_ref().and_then(|f| f.action);
    let mut record = shared.log_pushes.then(|| PushRecord {
        seq: 0,
        received_at_ms: epoch_ms(received),
        connection_id: ctx.id,
        stream_id,
        method: parts.method.to_string(),
        path: path.to_string(),
        device_token: token.to_string(),
        headers: apns_headers(&parts.headers),
        payload: None,
        payload_bytes: 0,
        auth: AuthInfo::None,
        environment: None,
        apns_id: String::new(),
        status: 0,
        reason: None,
        fault: action.map(|a| action_name(a).to_string()),
    });
    match action {
        Some(FaultAction::RstStream) => {
            respond.send_reset(h2::Reason::REFUSED_STREAM);
            Counters::bump(&shared.counters.streams_reset);
            tap(shared, tapped_at, &parts.headers, 0, None, None);
            finish(shared, record);
            return;
        }
        Some(FaultAction::DropConnection) => {
            let _ = ctx.commands.send(ConnCommand::Drop);
            tap(shared, tapped_at, &parts.headers, 0, None, None);
            finish(shared, record);
            return;
        }
        _ => {}
    }
    let Some((body, body_len)) = read_body(&mut body).await else {
        return;
    };
    let apns_id = match parts.headers.get("apns-id").and_then(|v| v.to_str().ok()) {
        Some(id) if validate::is_uuid(id) => id.to_string(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    let verdict = match (&fault, action) {
        (Some(f), Some(FaultAction::Respond | FaultAction::Goaway)) => fault_verdict(shared, f),
        _ => {
            let incoming = Incoming {
                method: &parts.method,
                path,
                headers: &parts.headers,
                body: &body,
            };
            validate::judge(shared, &ctx.auth, &incoming, received)
        }
    };
    answer(shared, &mut respond, &verdict, &apns_id);
    let reason = verdict.reason.as_deref();
    tap(
        shared,
        tapped_at,
        &parts.headers,
        verdict.status,
        reason,
        Some(&body),
    );
    if let (Some(f), Some(FaultAction::Goaway)) = (&fault, action) {
        let debug = serde_json::json!({ "reason": f.reason }).to_string();
        let _ = ctx.commands.send(ConnCommand::GoAway(Bytes::from(debug)));
    }
    if let Some(r) = record.as_mut() {
        r.payload = serde_json::from_slice(&body).ok();
        r.payload_bytes = body_len;
        r.auth = verdict.auth;
        r.environment = verdict.environment;
        r.apns_id = apns_id;
        r.status = verdict.status;
        r.reason = verdict.reason.map(Cow::into_owned);
    }
    finish(shared, record);
}

fn fault_verdict(shared: &Shared, fault: &Fault) -> Verdict {
    Verdict {
        status: fault.status,
        reason: (fault.status != 200).then(|| Cow::Owned(fault.reason.clone())),
        timestamp_ms: (fault.status == 410).then(|| epoch_ms(shared.clock.now())),
        environment: shared.mode.single(),
        auth: AuthInfo::None,
    }
}

/// Sends the verdict and updates the counters.
fn answer(shared: &Shared, respond: &mut SendResponse<Bytes>, v: &Verdict, apns_id: &str) {
    let mut headers: Vec<(&'static str, &str)> = vec![("apns-id", apns_id)];
    let unique;
    if v.status == 200 {
        Counters::bump(&shared.counters.accepted);
        if v.environment == Some(Environment::Sandbox) {
            unique = uuid::Uuid::new_v4().to_string();
            headers.push(("apns-unique-id", &unique));
        }
        send_response(respond, 200, &headers, None);
        return;
    }
    let reason = v.reason.as_deref().unwrap_or("");
    shared.counters.reject(reason);
    let body = match v.timestamp_ms {
        Some(ts) => serde_json::json!({ "reason": reason, "timestamp": ts }),
        None => serde_json::json!({ "reason": reason }),
    };
    send_response(
        respond,
        v.status,
        &headers,
        Some(Bytes::from(body.to_string())),
    );
}

/// Tells the tap, if there is one, about this push.
fn tap(
    shared: &Shared,
    received: Option<std::time::Instant>,
    headers: &HeaderMap,
    status: u16,
    reason: Option<&str>,
    payload: Option<&[u8]>,
) {
    let (Some(tap), Some(received)) = (&shared.tap, received) else {
        return;
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    tap.observe(&TapEvent {
        received,
        collapse_id: header("apns-collapse-id"),
        apns_id: header("apns-id"),
        status,
        reason,
        payload,
    });
}

/// Stores the record (if logging) and emits a tracing event for it.
fn finish(shared: &Shared, record: Option<PushRecord>) {
    if let Some(r) = record {
        tracing::info!(
            conn = r.connection_id,
            stream = r.stream_id,
            token = %r.device_token,
            status = r.status,
            reason = r.reason.as_deref().unwrap_or(""),
            "mock-apns push"
        );
        shared.log.push(r);
    }
}

/// Every `apns-*` header; repeated values joined with ", ".
fn apns_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in headers.keys().filter(|n| n.as_str().starts_with("apns-")) {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        out.insert(name.as_str().to_string(), values.join(", "));
    }
    out
}
