//! The overview's chart, rendered on the server as inline SVG (no script, no external chart
//! service, no inline style: colours come from the stylesheet's classes): pushes accepted
//! and failed per bucket of the last hour, as paired bars.

use maud::{Markup, html};

use crate::invites::PushActivity;

const WIDTH: i64 = 720;
const HEIGHT: i64 = 200;
const LEFT: i64 = 40;
const BOTTOM: i64 = 24;
const TOP: i64 = 8;

fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// Accepted vs failed pushes per bucket.
pub fn pushes(activity: &PushActivity) -> Markup {
    let n = activity.buckets.len().max(1) as i64;
    let max = activity
        .buckets
        .iter()
        .map(|b| b.accepted.max(b.failed))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / n;
    let bar = (slot / 2 - 2).max(1);
    let y = |v: i64| TOP + plot_h - v * plot_h / max;
    let label = format!(
        "Pushes over the last hour: {} accepted, {} failed",
        activity.accepted(),
        activity.failed()
    );
    html! {
        svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label) xmlns="http://www.w3.org/2000/svg" {
            title { (label) }
            line.axis x1=(LEFT) y1=(TOP + plot_h) x2=(WIDTH) y2=(TOP + plot_h) {}
            line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_h) {}
            text x="2" y=(TOP + 10) { (max) }
            text x="2" y=(TOP + plot_h) { "0" }
            @for (i, b) in activity.buckets.iter().enumerate() {
                @let x = LEFT + i as i64 * slot + 2;
                rect.accepted x=(x) y=(y(b.accepted)) width=(bar) height=(TOP + plot_h - y(b.accepted)) {
                    title { (clock(b.start)) ": " (b.accepted) " accepted" }
                }
                rect.failed x=(x + bar + 1) y=(y(b.failed)) width=(bar) height=(TOP + plot_h - y(b.failed)) {
                    title { (clock(b.start)) ": " (b.failed) " failed" }
                }
                @if i % 3 == 0 {
                    text x=(x) y=(HEIGHT - 6) { (clock(b.start)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invites::{Bucket, PushActivity};

    #[test]
    fn bars_scale_to_the_busiest_bucket_and_everything_is_labelled() {
        let activity = PushActivity {
            buckets: vec![
                Bucket {
                    start: 0,
                    accepted: 4,
                    failed: 1,
                },
                Bucket {
                    start: 300_000,
                    accepted: 0,
                    failed: 0,
                },
            ],
            failed_by_reason: vec![("BadDeviceToken".into(), 1)],
        };
        let svg = pushes(&activity).into_string();
        assert!(svg.contains("4 accepted, 1 failed"), "{svg}");
        assert!(
            svg.contains(r#"height="168""#),
            "the busiest bar is full height: {svg}"
        );
        assert!(
            !svg.contains("style="),
            "no inline style (the CSP forbids it)"
        );
    }
}
