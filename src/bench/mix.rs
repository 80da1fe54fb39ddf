//! How the bench's calls end (`--mix`): the share of invites answered or rejected by a
//! device, canceled by the backend, or left to expire, and which [`Outcome`] invite *n* gets —
//! decided from its sequence number alone, so two runs of the same options end the same calls
//! the same way.

use std::fmt;

/// The outcomes' shares, in percent (summing to 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub answered: u32,
    pub rejected: u32,
    pub canceled: u32,
    pub expired: u32,
}

/// How one invite ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The first device to get the push accepts it after the ring.
    Answered,
    /// The first device to get the push rejects it after the ring.
    Rejected,
    /// The backend cancels it the ring after its 202.
    Canceled,
    /// Nobody does anything; the gateway expires it after its ttl.
    Expired,
}

impl Default for Mix {
    /// 60 % answered, 20 % rejected, 10 % canceled, 10 % expired.
    fn default() -> Self {
        Mix {
            answered: 60,
            rejected: 20,
            canceled: 10,
            expired: 10,
        }
    }
}

impl Mix {
    /// Parses `--mix`: `none` (no call ends: `Ok(None)`), or `kind=percent` pairs separated
    /// by commas, kinds among `answered`, `rejected`, `canceled`, `expired` (a kind left out
    /// is 0), each a non-negative integer, summing to 100.
    pub fn parse(s: &str) -> Result<Option<Mix>, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(None);
        }
        let mut shares: [Option<u32>; 4] = [None; 4];
        for pair in s.split(',') {
            let (kind, value) = pair.trim().split_once('=').ok_or_else(|| {
                format!("{pair:?}: write kind=percent, e.g. answered=60,rejected=20,canceled=10,expired=10 (or none)")
            })?;
            let slot = match kind.trim() {
                "answered" => 0,
                "rejected" => 1,
                "canceled" => 2,
                "expired" => 3,
                other => {
                    return Err(format!(
                        "{other:?}: the kinds are answered, rejected, canceled and expired"
                    ));
                }
            };
            let value: u32 = value.trim().parse().map_err(|_| {
                format!("{kind}={value}: a share is a non-negative whole number of percent")
            })?;
            if shares[slot].replace(value).is_some() {
                return Err(format!("{kind} is given twice"));
            }
        }
        let [answered, rejected, canceled, expired] = shares.map(|v| v.unwrap_or(0));
        let mix = Mix {
            answered,
            rejected,
            canceled,
            expired,
        };
        let sum =
            u64::from(answered) + u64::from(rejected) + u64::from(canceled) + u64::from(expired);
        if sum != 100 {
            return Err(format!("{mix}: the shares sum to {sum}, not 100"));
        }
        Ok(Some(mix))
    }

    /// The outcome of invite `seq`: a hash of `seq` picks a percentile, so outcomes are spread
    /// over time and over identities (a plain `seq % 100` would give identity *i* of a
    /// multiple of 100 identities the same outcome every time).
    pub fn outcome(&self, seq: u64) -> Outcome {
        let bucket = (splitmix64(seq) % 100) as u32;
        if bucket < self.answered {
            Outcome::Answered
        } else if bucket < self.answered + self.rejected {
            Outcome::Rejected
        } else if bucket < self.answered + self.rejected + self.canceled {
            Outcome::Canceled
        } else {
            Outcome::Expired
        }
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "answered={},rejected={},canceled={},expired={}",
            self.answered, self.rejected, self.canceled, self.expired
        )
    }
}

/// SplitMix64's finalizer: a fixed, well-spread hash of a counter.
fn splitmix64(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_none_and_partial_mixes() {
        let default = Mix::parse("answered=60,rejected=20,canceled=10,expired=10").unwrap();
        assert_eq!(default, Some(Mix::default()));
        assert_eq!(Mix::parse(&Mix::default().to_string()).unwrap(), default);
        assert_eq!(Mix::parse("none").unwrap(), None);
        let answered = Mix::parse(" expired = 0 , answered=100").unwrap().unwrap();
        assert_eq!((answered.answered, answered.rejected), (100, 0));
    }

    #[test]
    fn refuses_bad_mixes_with_a_reason() {
        for (text, reason) in [
            ("answered=60,rejected=20", "sum to 80, not 100"),
            ("answered=60,rejected=50,canceled=0,expired=0", "sum to 110"),
            ("answered=-10,rejected=110", "non-negative whole number"),
            ("answered=50.5,rejected=49.5", "non-negative whole number"),
            ("answered=50,hungup=50", "the kinds are"),
            ("answered=50,answered=50", "given twice"),
            ("answered", "kind=percent"),
            ("", "kind=percent"),
        ] {
            let err = Mix::parse(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
        }
    }

    #[test]
    fn outcomes_are_deterministic_and_follow_the_shares() {
        let mix = Mix::default();
        let mut counts = [0u32; 4];
        for seq in 0..10_000 {
            assert_eq!(mix.outcome(seq), mix.outcome(seq));
            counts[mix.outcome(seq) as usize] += 1;
        }
        for (count, share) in counts.iter().zip([60, 20, 10, 10]) {
            let expected = share * 100;
            assert!(count.abs_diff(expected) < expected / 10, "{counts:?}");
        }
        let all = Mix::parse("canceled=100").unwrap().unwrap();
        assert!((0..100).all(|s| all.outcome(s) == Outcome::Canceled));
        // Identity i of 1000 gets several outcomes over its calls.
        let of_identity_7: std::collections::HashSet<_> = (0..20)
            .map(|k| mix.outcome(7 + 1000 * k) as usize)
            .collect();
        assert!(of_identity_7.len() > 1);
    }
}
