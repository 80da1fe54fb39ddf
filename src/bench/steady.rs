//! The steady-state part of the [`Report`](super::Report): the calls' endings (follow-up
//! requests per kind), the per-second series, the stalls and the 5xx count, with their rows
//! of the human table.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::collector::Percentiles;
use super::series::{STALL_MS, Stall};

/// Fields of the report about the window second by second and the calls' endings (flattened
/// into the report's JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Steady {
    /// Pushes received (200) in each second of the window.
    #[serde(default)]
    pub pushes_by_second: Vec<u64>,
    /// Invites answered 202, by the second they were scheduled in.
    #[serde(default)]
    pub invites_by_second: Vec<u64>,
    /// Follow-up requests (accept, reject, cancel) sent in each second.
    #[serde(default)]
    pub follow_ups_by_second: Vec<u64>,
    /// Each replica's RSS (VmRSS, MiB) at the end of each second of the window (`null`: no
    /// reading, it had exited). Empty with `--target`.
    #[serde(default)]
    pub gateway_rss_mib_by_second: Vec<Vec<Option<f64>>>,
    /// Seconds whose largest invite→push latency exceeded `stall_threshold_ms`.
    #[serde(default)]
    pub stalls: Vec<Stall>,
    #[serde(default = "stall_ms")]
    pub stall_threshold_ms: f64,
    /// Answers with a 5xx status, invites and follow-ups (also in `errors` by kind).
    #[serde(default)]
    pub http_5xx: u64,
    /// The calls' endings; `null` with `--mix none`.
    #[serde(default)]
    pub follow_ups: Option<FollowUps>,
}

fn stall_ms() -> f64 {
    STALL_MS
}

/// The follow-up requests of the invites scheduled in the window, per kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FollowUps {
    /// `POST /v1/invites/{sid}/accept` with the push's bridge token.
    pub accept: FollowUp,
    /// `POST /v1/invites/{sid}/reject` with the push's bridge token.
    pub reject: FollowUp,
    /// `POST /v1/invites/{sid}/cancel` with the API key.
    pub cancel: FollowUp,
    /// Invites accepted (202) and left to expire.
    pub left_to_expire: u64,
    /// Whether some follow-ups were still running when the bench stopped waiting for them.
    pub unfinished: bool,
}

/// One kind of follow-up request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FollowUp {
    pub sent: u64,
    /// Answered 200.
    pub ok: u64,
    /// Answered 409: the call had already ended (expired, or ended another way) or was
    /// answered elsewhere — a real outcome, not an error, but a sign the gateway was late.
    pub conflict: u64,
    /// Request sent → answer received, of the requests answered 200.
    pub latency_ms: Percentiles,
}

impl FollowUp {
    fn describe(&self) -> String {
        let p = &self.latency_ms;
        format!(
            "{} sent, {} ok, {} conflict (409); ms p50 {:.2} p99 {:.2} max {:.2}",
            self.sent, self.ok, self.conflict, p.p50, p.p99, p.max
        )
    }
}

/// How many answers of `errors` (kinds `http_<status>…` or `<follow-up>_http_<status>…`)
/// had a 5xx status.
pub fn count_5xx(errors: &BTreeMap<String, u64>) -> u64 {
    errors
        .iter()
        .filter(|(kind, _)| {
            let status = kind.split_once("http_").map(|(_, rest)| rest);
            status.is_some_and(|s| s.starts_with('5'))
        })
        .map(|(_, n)| n)
        .sum()
}

/// One row of the human table.
pub(super) fn row(out: &mut String, name: &str, value: String) {
    let _ = writeln!(out, "  {name:<28} {value}");
}

fn list<T: ToString>(values: impl IntoIterator<Item = T>) -> String {
    values
        .into_iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Steady {
    /// The 5xx row, first in the table: a failing gateway must not hide in the errors list.
    pub(super) fn alarm_rows(&self, out: &mut String) {
        if self.http_5xx > 0 {
            row(
                out,
                "!! 5xx answers",
                format!("{}  (see errors below)", self.http_5xx),
            );
        }
    }

    /// The rows after the latencies: stalls, endings, series and RSS over time.
    pub(super) fn rows(&self, out: &mut String) {
        let stalls = if self.stalls.is_empty() {
            "none".to_owned()
        } else {
            let each = self
                .stalls
                .iter()
                .map(|s| format!("s{} {:.1} ms", s.second, s.max_ms));
            format!(
                "{}: {}",
                self.stalls.len(),
                each.collect::<Vec<_>>().join(", ")
            )
        };
        row(out, &format!("stalls (> {STALL_MS} ms)"), stalls);
        row(out, "5xx answers", self.http_5xx.to_string());
        if let Some(f) = &self.follow_ups {
            row(out, "accept", f.accept.describe());
            row(out, "reject", f.reject.describe());
            row(out, "cancel", f.cancel.describe());
            let unfinished = if f.unfinished {
                "  (some follow-ups never finished)"
            } else {
                ""
            };
            row(
                out,
                "left to expire",
                format!("{}{unfinished}", f.left_to_expire),
            );
        }
        row(out, "pushes per second", list(&self.pushes_by_second));
        if self.follow_ups.is_some() {
            row(
                out,
                "follow-ups per second",
                list(&self.follow_ups_by_second),
            );
        }
        for (i, replica) in self.gateway_rss_mib_by_second.iter().enumerate() {
            let samples: Vec<f64> = replica.iter().flatten().copied().collect();
            let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
                continue;
            };
            let peak = samples.iter().copied().fold(f64::MIN, f64::max);
            let name = if self.gateway_rss_mib_by_second.len() > 1 {
                format!("gateway {} RSS MiB", i + 1)
            } else {
                "gateway RSS MiB".to_owned()
            };
            row(
                out,
                &name,
                format!("first {first:.1}, peak {peak:.1}, final {last:.1} (sampled each second)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reports_from_before_the_steady_fields_still_parse() {
        let old: super::Steady = serde_json::from_str("{}").unwrap();
        assert!(old.stalls.is_empty() && old.follow_ups.is_none());
        assert_eq!(old.stall_threshold_ms, super::STALL_MS);
    }

    #[test]
    fn counts_5xx_of_invites_and_follow_ups() {
        let errors = [
            ("http_503_20003", 2),
            ("accept_http_500", 1),
            ("cancel_http_404_20404", 5),
            ("http_429_20429", 7),
            ("timeout", 3),
        ]
        .map(|(k, n)| (k.to_owned(), n))
        .into_iter()
        .collect();
        assert_eq!(super::count_5xx(&errors), 3);
    }
}
