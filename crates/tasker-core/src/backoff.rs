//! Retry delay: `min(base · 2^(attempt-1), max)` plus a random spread. The random sample is a
//! parameter so the policy is deterministic under test.

use serde::{Deserialize, Serialize};

/// Backoff parameters of one step (template values over engine defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackoffSettings {
    /// First retry delay.
    pub base_ms: u64,
    /// Upper bound before jitter.
    pub max_ms: u64,
    /// Spread in percent of the delay.
    pub jitter_percent: u8,
}

/// Delay before the retry that follows failed attempt `attempt` (1-based).
/// `unit_sample` in `[0, 1)` picks the jitter: the delay grows by up to `jitter_percent`.
pub fn backoff_delay_ms(settings: BackoffSettings, attempt: u32, unit_sample: f64) -> u64 {
    let exponent = attempt.saturating_sub(1).min(62);
    let raw = settings.base_ms.saturating_mul(1u64 << exponent);
    let capped = raw.min(settings.max_ms);
    let sample = unit_sample.clamp(0.0, 1.0);
    let spread = capped as f64 * f64::from(settings.jitter_percent) / 100.0 * sample;
    capped.saturating_add(spread as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: BackoffSettings = BackoffSettings {
        base_ms: 100,
        max_ms: 1000,
        jitter_percent: 0,
    };

    #[test]
    fn doubles_then_caps() {
        let d: Vec<u64> = (1..=6).map(|a| backoff_delay_ms(S, a, 0.5)).collect();
        assert_eq!(d, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff_delay_ms(S, 200, 0.0), 1000);
    }

    #[test]
    fn jitter_adds_up_to_the_percentage() {
        let s = BackoffSettings {
            jitter_percent: 10,
            ..S
        };
        assert_eq!(backoff_delay_ms(s, 1, 0.0), 100);
        assert_eq!(backoff_delay_ms(s, 1, 0.5), 105);
        assert_eq!(backoff_delay_ms(s, 4, 0.999), 879);
    }
}
