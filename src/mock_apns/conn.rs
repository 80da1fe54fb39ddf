//! What the stream tasks of one simulated APNs connection share with it: the connection's
//! identity and authentication, the commands a fault sends back to it, and how a response is
//! written on a stream.

use bytes::Bytes;
use h2::server::SendResponse;
use http::Response;
use tokio::sync::mpsc;

use super::auth::ConnAuth;
use super::faults::FaultAction;

/// Requests from stream tasks to their connection.
#[derive(Debug)]
pub(crate) enum ConnCommand {
    /// Send GOAWAY with this debug data and close gracefully.
    GoAway(Bytes),
    /// Reset the TCP connection now.
    Drop,
}

/// What stream tasks know about their connection.
#[derive(Debug)]
pub(crate) struct ConnCtx {
    pub id: u64,
    pub auth: ConnAuth,
    pub commands: mpsc::UnboundedSender<ConnCommand>,
}

/// Sends a response with an optional body, ignoring a vanished peer.
pub(crate) fn send_response(
    respond: &mut SendResponse<Bytes>,
    status: u16,
    headers: &[(&'static str, &str)],
    body: Option<Bytes>,
) {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let Ok(response) = builder.body(()) else {
        respond.send_reset(h2::Reason::INTERNAL_ERROR);
        return;
    };
    match body {
        None => {
            let _ = respond.send_response(response, true);
        }
        Some(bytes) => {
            if let Ok(mut stream) = respond.send_response(response, false) {
                let _ = stream.send_data(bytes, true);
            }
        }
    }
}

/// Name of a fault action as logged.
pub(crate) fn action_name(action: FaultAction) -> &'static str {
    match action {
        FaultAction::Respond => "respond",
        FaultAction::RstStream => "rst_stream",
        FaultAction::Goaway => "goaway",
        FaultAction::DropConnection => "drop_connection",
    }
}
