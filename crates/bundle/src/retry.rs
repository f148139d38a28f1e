//! Backoff with jitter and `Retry-After` parsing (seconds or an HTTP-date), and [`Retries`],
//! the one retry budget every HTTP path of a run uses (files, checksums, registry requests).

use rand::Rng;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential backoff: `base * 2^attempt`, capped at `max`, with "equal jitter" (a random
/// value in the upper half) so parallel transfers do not retry in lockstep.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
    let capped = exp.min(max);
    let half = capped / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter_ms)
}

/// One request's retries: whether to try again after a failure, and after how long.
///
/// Invariant: at most `cfg.retries` retries, only for transient failures; the wait is the
/// server's `Retry-After` (capped at `cfg.retry_after_max`) or the jittered backoff.
#[derive(Debug)]
pub struct Retries<'a> {
    cfg: &'a crate::fetch::FetchConfig,
    done: u32,
}

impl<'a> Retries<'a> {
    pub fn new(cfg: &'a crate::fetch::FetchConfig) -> Retries<'a> {
        Retries { cfg, done: 0 }
    }

    /// Retries made so far.
    pub fn count(&self) -> u32 {
        self.done
    }

    /// The wait before the next attempt after a failure (`transient`: worth retrying), or
    /// `None` when the failure is final or the budget is spent. Counts the retry.
    pub fn next_delay(
        &mut self,
        transient: bool,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if !transient || self.done >= self.cfg.retries {
            return None;
        }
        let wait = match retry_after {
            Some(d) => d.min(self.cfg.retry_after_max),
            None => backoff(self.done, self.cfg.backoff_base, self.cfg.backoff_max),
        };
        self.done += 1;
        Some(wait)
    }
}

/// Parses a `Retry-After` value: delta-seconds, or an IMF-fixdate such as
/// `Sun, 06 Nov 1994 08:49:37 GMT` (a date in the past means "now").
pub fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<u64>() {
        return Some(Duration::from_secs(s));
    }
    let at = parse_http_date(v)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// IMF-fixdate (RFC 9110 §5.6.7) to seconds since the Unix epoch.
pub fn parse_http_date(s: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (_, rest) = s.split_once(", ")?;
    let mut it = rest.split(' ');
    let day: u64 = it.next()?.parse().ok()?;
    let mon = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if it.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(year, mon, day as i64);
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86400 + h * 3600 + m * 60 + sec)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_bounded_and_honour_retry_after() {
        let cfg = crate::fetch::FetchConfig {
            retries: 2,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            retry_after_max: Duration::from_secs(5),
            ..Default::default()
        };
        let mut r = Retries::new(&cfg);
        assert_eq!(
            r.next_delay(false, None),
            None,
            "a final failure is not retried"
        );
        assert_eq!(
            r.next_delay(true, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(5))
        );
        let d = r.next_delay(true, None).unwrap();
        assert!(
            d >= Duration::from_millis(100) && d <= Duration::from_millis(200),
            "{d:?}"
        );
        assert_eq!(r.next_delay(true, None), None, "the budget is spent");
        assert_eq!(r.count(), 2);
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn retry_after_both_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        for a in 0..20 {
            let d = backoff(a, base, max);
            assert!(d <= max, "{a}: {d:?}");
        }
        let d0 = backoff(0, base, max);
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
        let d4 = backoff(4, base, max);
        assert!(d4 >= Duration::from_millis(800));
    }
}
