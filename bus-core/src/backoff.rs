//! When to try a dropped socket again: exponential backoff with jitter.
//!
//! Sans-IO like the engine: the binding asks for the next delay when its
//! socket closes, arms a timer for it, and resets the backoff once a session
//! is up. The jitter spreads a crowd of clients that lost the same server, so
//! they do not all come back in the same millisecond.
//!
//! ```
//! use std::time::Duration;
//! use bus_core::backoff::Backoff;
//!
//! let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
//! let mut dice = |buf: &mut [u8]| { buf.fill(0); Ok(()) };
//! // Half the current step, plus up to the other half at random.
//! assert_eq!(backoff.next_delay(&mut dice), Duration::from_millis(50));
//! assert_eq!(backoff.next_delay(&mut dice), Duration::from_millis(100));
//! backoff.reset();
//! assert_eq!(backoff.next_delay(&mut dice), Duration::from_millis(50));
//! ```

use std::time::Duration;

use crate::entropy::Entropy;

/// Exponential backoff with "equal jitter": the n-th delay is half of
/// `min(initial * 2^n, max)` plus a random part of up to the other half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// A backoff whose first step is `initial`, doubling up to `max`
    /// (`max` below `initial` is raised to it).
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max: max.max(initial),
            step: initial,
        }
    }

    /// The delay before the next attempt; each call doubles the step up to
    /// the maximum. Without entropy the jitter is zero (the delay is still
    /// bounded and still grows).
    pub fn next_delay(&mut self, entropy: &mut dyn Entropy) -> Duration {
        let half = self.step / 2;
        let mut dice = [0u8; 4];
        let random = match entropy.fill(&mut dice) {
            Ok(()) => u32::from_le_bytes(dice),
            Err(_) => 0,
        };
        let jitter = half.mul_f64(f64::from(random) / f64::from(u32::MAX));
        self.step = self.step.saturating_mul(2).min(self.max);
        half + jitter
    }

    /// Back to the first step, after a success.
    pub fn reset(&mut self) {
        self.step = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::EntropyError;

    fn fixed(byte: u8) -> impl FnMut(&mut [u8]) -> Result<(), EntropyError> {
        move |buf: &mut [u8]| {
            buf.fill(byte);
            Ok(())
        }
    }

    #[test]
    fn delays_double_up_to_the_maximum_and_stay_within_the_step() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let mut most = fixed(0xff);
        let delays: Vec<u128> = (0..6)
            .map(|_| b.next_delay(&mut most).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 800, 800]);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let mut least = fixed(0);
        let delays: Vec<u128> = (0..6)
            .map(|_| b.next_delay(&mut least).as_millis())
            .collect();
        assert_eq!(delays, [50, 100, 200, 400, 400, 400]);
    }

    #[test]
    fn reset_starts_over_after_a_success() {
        let mut b = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let mut dice = fixed(0);
        for _ in 0..5 {
            b.next_delay(&mut dice);
        }
        b.reset();
        assert_eq!(b.next_delay(&mut dice), Duration::from_millis(5));
    }

    #[test]
    fn jitter_spreads_clients_that_lost_the_same_server() {
        let mut seen = std::collections::BTreeSet::new();
        let mut rng = crate::SystemEntropy;
        for _ in 0..50 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            let d = b.next_delay(&mut rng);
            assert!(d >= Duration::from_millis(500) && d <= Duration::from_secs(1));
            seen.insert(d);
        }
        assert!(
            seen.len() > 40,
            "50 clients came back at {} instants",
            seen.len()
        );
    }

    #[test]
    fn no_entropy_still_backs_off() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut broken = |_: &mut [u8]| Err(EntropyError("none".into()));
        assert_eq!(b.next_delay(&mut broken), Duration::from_millis(50));
        assert_eq!(b.next_delay(&mut broken), Duration::from_millis(100));
    }
}
