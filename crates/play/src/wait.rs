//! When `wait_for` tries again. kubeasz's (Ansible's) `retries` × `delay` is a fixed gap;
//! most things waited for (a unit just restarted, an API server coming up) are ready within
//! a second, so the gaps here start at a quarter second and double up to `delay`.
//!
//! Invariant: the gaps add up to exactly `(retries - 1) × delay`, so the last try happens
//! when it did with fixed gaps: a slow host is given the same time as before, never less.

use std::time::Duration;

/// The first gap (or `delay`, when that is shorter).
pub const FIRST_GAP: Duration = Duration::from_millis(250);

/// The pauses between tries for `retries` tries `delay` seconds apart.
pub fn gaps(retries: u32, delay: u64) -> Vec<Duration> {
    let delay = Duration::from_secs(delay);
    let tries = retries.max(1);
    if delay.is_zero() {
        return vec![Duration::ZERO; (tries - 1) as usize];
    }
    let budget = delay * (tries - 1);
    let mut out = Vec::new();
    let mut spent = Duration::ZERO;
    let mut gap = FIRST_GAP.min(delay);
    while spent + gap <= budget {
        out.push(gap);
        spent += gap;
        gap = (gap * 2).min(delay);
    }
    if spent < budget {
        out.push(budget - spent);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_start_short_double_and_keep_the_total() {
        let g = gaps(60, 2);
        assert_eq!(g[..4], [250, 500, 1000, 2000].map(Duration::from_millis));
        assert!(g.iter().all(|d| *d <= Duration::from_secs(2)));
        assert_eq!(g.iter().sum::<Duration>(), Duration::from_secs(118));
        assert!(g.windows(2).take(3).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_last_try_is_never_earlier_than_with_fixed_gaps() {
        for (retries, delay) in [(1, 2), (2, 1), (3, 4), (10, 3), (15, 4), (40, 3)] {
            let total: Duration = gaps(retries, delay).iter().sum();
            assert_eq!(
                total,
                Duration::from_secs(delay) * (retries - 1),
                "{retries} x {delay}"
            );
        }
    }

    #[test]
    fn no_delay_means_immediate_tries_and_one_try_means_no_wait() {
        assert_eq!(gaps(3, 0), vec![Duration::ZERO; 2]);
        assert!(gaps(1, 5).is_empty());
        assert!(gaps(0, 5).is_empty());
    }
}
