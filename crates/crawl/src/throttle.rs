//! Politeness that adapts to the site instead of a fixed delay.
//!
//! Per host, a request may start when all of these hold:
//! - fewer requests are in flight than the host's *window* (starts at
//!   `target_concurrency`, at most `per_host_concurrency`);
//! - the *gap* since the previous start has passed: the larger of the floor
//!   (`delay_ms`, raised by a robots.txt `Crawl-delay`) and the adaptive
//!   delay;
//! - the host is not *paused* after a 429 or 503.
//!
//! The adaptive delay is Scrapy's AutoThrottle: each answer's latency over
//! the target concurrency is the delay that keeps about that many requests
//! in flight; the delay rises to it at once and falls halfway towards it per
//! answer, and only a 2xx may lower it. So a site that answers in 1 ms is
//! crawled as fast as the crawler can parse, and one that answers in 800 ms
//! gets about `target_concurrency` requests at a time.
//!
//! The window reacts to trouble (AIMD): it grows by one per window of
//! answers while it is full, and halves when latency rises well above the
//! host's baseline (the server is slowing down under us), on a timeout, and
//! on a 429 or 503. A 429 or 503 also pauses the host for the longer of its
//! `Retry-After` (seconds or an HTTP date) and an exponential back-off
//! (`backoff_ms`, doubling per consecutive one), both capped at
//! `max_delay_ms`; answers to requests sent before that back-off do not back
//! off again. The caller retries the page a bounded number of times.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::time::Instant;
use url::Url;

use crate::config::CrawlConfig;

/// Latency above `RISE_FACTOR` × baseline + `RISE_SLACK` means the host is
/// slowing down. The slack keeps loopback jitter (1 ms → 5 ms) from counting.
const RISE_FACTOR: f64 = 2.0;
const RISE_SLACK: f64 = 0.025;
/// Weight of a new sample in the short-term latency average.
const FAST_WEIGHT: f64 = 0.3;
/// How fast the baseline follows a latency that stays higher (per answer):
/// a host that stays slow becomes the new normal after some dozens of
/// answers, and the window may grow again.
const BASE_DRIFT: f64 = 0.01;
/// Least time between two cuts of the window for rising latency.
const MIN_CUT_INTERVAL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
struct Settings {
    max_window: f64,
    target: f64,
    max_delay: Duration,
    backoff: Duration,
}

/// The throttle of one crawl job, over all the hosts it touches.
#[derive(Debug)]
pub(crate) struct Throttle {
    settings: Settings,
    /// The least gap between request starts, in microseconds.
    floor_us: AtomicU64,
    hosts: std::sync::Mutex<HashMap<String, Arc<Host>>>,
}

#[derive(Debug)]
struct Host {
    state: std::sync::Mutex<HostState>,
    changed: Notify,
}

#[derive(Debug)]
struct HostState {
    in_flight: usize,
    window: f64,
    /// The AutoThrottle delay.
    delay: Duration,
    last_start: Option<Instant>,
    paused_until: Option<Instant>,
    /// 429/503 back-offs since the last other answer.
    strikes: u32,
    /// Bumped by every back-off.
    epoch: u64,
    /// Short-term latency average, seconds.
    fast: Option<f64>,
    /// Baseline latency, seconds: the lowest short-term average, drifting up
    /// slowly while latency stays above it.
    base: Option<f64>,
    last_cut: Option<Instant>,
}

/// What became of a request, for the throttle.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// The server answered with this status (not 429 or 503).
    Status(u16),
    /// 429 or 503, with the `Retry-After` it gave.
    Throttled(Option<Duration>),
    TimedOut,
    /// No answer that says anything about the server's load (refused
    /// address, connection error, body too large).
    Failed,
}

/// A request's place in its host's window; give it back with
/// [`Permit::finish`] (dropping it frees the place without a verdict).
#[derive(Debug)]
pub(crate) struct Permit {
    host: Arc<Host>,
    settings: Settings,
    started: Instant,
    epoch: u64,
    /// Requests in flight when this one started, itself included.
    in_flight: usize,
    answer: Option<Answer>,
}

impl Permit {
    pub(crate) fn finish(mut self, answer: Answer) {
        self.answer = Some(answer);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.host.state.lock().unwrap_or_else(|e| e.into_inner());
            s.in_flight = s.in_flight.saturating_sub(1);
            if let Some(answer) = self.answer {
                s.observe(&self.settings, self.started, self.epoch, self.in_flight, answer);
            }
        }
        self.host.changed.notify_waiters();
    }
}

enum Ready {
    Now,
    At(Instant),
    WhenFreed,
}

impl Throttle {
    pub(crate) fn new(config: &CrawlConfig) -> Throttle {
        let max_window = config.per_host_concurrency.max(1) as f64;
        Throttle {
            settings: Settings {
                max_window,
                target: config.target_concurrency,
                max_delay: Duration::from_millis(config.max_delay_ms),
                backoff: Duration::from_millis(config.backoff_ms),
            },
            floor_us: AtomicU64::new(config.delay().as_micros() as u64),
            hosts: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Raises or lowers the least gap between request starts (the
    /// configured delay, or a robots.txt `Crawl-delay` above it).
    pub(crate) fn set_floor(&self, floor: Duration) {
        self.floor_us.store(floor.as_micros() as u64, Ordering::Relaxed);
    }

    fn floor(&self) -> Duration {
        Duration::from_micros(self.floor_us.load(Ordering::Relaxed))
    }

    fn host(&self, url: &Url) -> Arc<Host> {
        let key = url.host_str().unwrap_or("").to_string();
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts
            .entry(key)
            .or_insert_with(|| {
                let window = self.settings.target.ceil().clamp(1.0, self.settings.max_window);
                Arc::new(Host {
                    state: std::sync::Mutex::new(HostState {
                        in_flight: 0,
                        window,
                        delay: Duration::ZERO,
                        last_start: None,
                        paused_until: None,
                        strikes: 0,
                        epoch: 0,
                        fast: None,
                        base: None,
                        last_cut: None,
                    }),
                    changed: Notify::new(),
                })
            })
            .clone()
    }

    /// Waits until a request to `url`'s host may start.
    pub(crate) async fn acquire(&self, url: &Url) -> Permit {
        let host = self.host(url);
        loop {
            // Registered before the state is read, so a release between the
            // check and the wait is not missed.
            let freed = host.changed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let ready = {
                let mut s = host.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                match s.ready(now, self.floor()) {
                    Ready::Now => {
                        s.in_flight += 1;
                        s.last_start = Some(now);
                        return Permit {
                            host: host.clone(),
                            settings: self.settings,
                            started: now,
                            epoch: s.epoch,
                            in_flight: s.in_flight,
                            answer: None,
                        };
                    }
                    other => other,
                }
            };
            match ready {
                Ready::At(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut freed => {}
                    }
                }
                _ => freed.await,
            }
        }
    }
}

impl HostState {
    fn ready(&self, now: Instant, floor: Duration) -> Ready {
        if let Some(until) = self.paused_until
            && until > now
        {
            return Ready::At(until);
        }
        if self.in_flight >= (self.window as usize).max(1) {
            return Ready::WhenFreed;
        }
        if let Some(last) = self.last_start {
            let at = last + self.delay.max(floor);
            if at > now {
                return Ready::At(at);
            }
        }
        Ready::Now
    }

    fn cut(&mut self) {
        self.window = (self.window / 2.0).max(1.0);
    }

    fn observe(&mut self, set: &Settings, started: Instant, epoch: u64, in_flight: usize, answer: Answer) {
        let now = Instant::now();
        let latency = now.saturating_duration_since(started).as_secs_f64();
        match answer {
            Answer::Failed => {}
            Answer::Status(status) => {
                self.strikes = 0;
                self.latency(set, latency, (200..300).contains(&status), in_flight, now);
            }
            Answer::TimedOut => {
                // No latency to learn from, but the host is struggling.
                if self.last_cut.is_none_or(|t| now.saturating_duration_since(t) >= MIN_CUT_INTERVAL) {
                    self.cut();
                    self.last_cut = Some(now);
                }
            }
            Answer::Throttled(retry_after) => {
                let retry_after = retry_after.map(|d| d.min(set.max_delay));
                if epoch != self.epoch {
                    // Sent before the latest back-off, which already
                    // answered for it; only a longer Retry-After counts.
                    if let Some(d) = retry_after {
                        self.pause(now + d);
                    }
                    return;
                }
                self.epoch += 1;
                self.strikes += 1;
                let backoff = set
                    .backoff
                    .checked_mul(1u32 << (self.strikes - 1).min(20))
                    .unwrap_or(set.max_delay)
                    .min(set.max_delay);
                // Retry-After is what the server wants at least; the back-off
                // still grows, so `Retry-After: 0` cannot make us hammer.
                self.pause(now + retry_after.unwrap_or_default().max(backoff));
                self.cut();
                let slower = (self.delay * 2).max(Duration::from_secs_f64(latency));
                self.delay = slower.min(set.max_delay);
            }
        }
    }

    fn pause(&mut self, until: Instant) {
        if self.paused_until.is_none_or(|p| p < until) {
            self.paused_until = Some(until);
        }
    }

    /// AutoThrottle's delay, and the window's reaction to the latency trend.
    fn latency(&mut self, set: &Settings, latency: f64, ok: bool, in_flight: usize, now: Instant) {
        let target = latency / set.target;
        let current = self.delay.as_secs_f64();
        let next = target.max((current + target) / 2.0).min(set.max_delay.as_secs_f64());
        if ok || next > current {
            self.delay = Duration::from_secs_f64(next);
        }

        let fast = self.fast.map_or(latency, |f| f + FAST_WEIGHT * (latency - f));
        self.fast = Some(fast);
        let base = match self.base {
            Some(b) if fast >= b => b + BASE_DRIFT * (fast - b),
            _ => fast,
        };
        self.base = Some(base);
        if fast > RISE_FACTOR * base + RISE_SLACK {
            let spaced = Duration::from_secs_f64(fast).max(MIN_CUT_INTERVAL);
            if self.last_cut.is_none_or(|t| now.saturating_duration_since(t) >= spaced) {
                self.cut();
                self.last_cut = Some(now);
            }
        } else if ok && in_flight >= self.window as usize {
            self.window = (self.window + 1.0 / self.window).min(set.max_window);
        }
    }
}

/// A `Retry-After` value as a wait from `now`: delay-seconds or an HTTP date
/// (IMF-fixdate, RFC 850 or asctime). A date in the past is no wait.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the Unix epoch of an HTTP date (RFC 9110 §5.6.7).
fn parse_http_date(value: &str) -> Option<u64> {
    let cleaned: String = value.chars().map(|c| if c == ',' || c == '-' { ' ' } else { c }).collect();
    let t: Vec<&str> = cleaned.split_whitespace().collect();
    // Skip the weekday; then `DD Mon YYYY hh:mm:ss GMT` (IMF-fixdate, and
    // RFC 850 with a two-digit year) or `Mon D hh:mm:ss YYYY` (asctime).
    let (day, month, year, time) = match t.as_slice() {
        [_, d, m, y, hms, zone] if zone.eq_ignore_ascii_case("GMT") => (*d, *m, *y, *hms),
        [_, m, d, hms, y] => (*d, *m, *y, *hms),
        _ => return None,
    };
    let day: u32 = day.parse().ok()?;
    let month = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        .iter()
        .position(|m| month.eq_ignore_ascii_case(m))? as u32
        + 1;
    let mut year: i64 = year.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = time.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days).ok().map(|d| d * 86_400 + h * 3_600 + m * 60 + s)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            max_window: 8.0,
            target: 4.0,
            max_delay: Duration::from_secs(60),
            backoff: Duration::from_millis(100),
        }
    }

    fn state() -> HostState {
        HostState {
            in_flight: 0,
            window: 4.0,
            delay: Duration::ZERO,
            last_start: None,
            paused_until: None,
            strikes: 0,
            epoch: 0,
            fast: None,
            base: None,
            last_cut: None,
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_all_three_date_forms() {
        // 1994-11-06 08:49:37 GMT
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let before = at - Duration::from_secs(90);
        assert_eq!(parse_retry_after(" 120 ", before), Some(Duration::from_secs(120)));
        for v in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(parse_retry_after(v, before), Some(Duration::from_secs(90)), "{v}");
        }
        // A date already past means now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + Duration::from_secs(5)),
            Some(Duration::ZERO)
        );
        for bad in ["", "soon", "-5", "1.5", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, before), None, "{bad}");
        }
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"), Some(1_835_438_400));
    }

    #[test]
    fn the_delay_follows_latency_like_autothrottle() {
        let set = settings();
        let mut s = state();
        let t = Instant::now();
        // Up at once to latency / target...
        s.latency(&set, 0.4, true, 1, t);
        assert_eq!(s.delay, Duration::from_millis(100));
        // ...down halfway per answer...
        s.latency(&set, 0.0, true, 1, t);
        assert_eq!(s.delay, Duration::from_millis(50));
        // ...and never down on an error answer.
        s.latency(&set, 0.0, false, 1, t);
        assert_eq!(s.delay, Duration::from_millis(50));
    }

    #[test]
    fn the_window_grows_while_full_and_halves_when_latency_rises() {
        let set = settings();
        let mut s = state();
        let mut t = Instant::now();
        for _ in 0..40 {
            s.latency(&set, 0.002, true, 8, t);
        }
        assert_eq!(s.window, 8.0, "a fast host that fills the window gets the most");
        let mut cuts = Vec::new();
        for _ in 0..6 {
            t += Duration::from_millis(400);
            s.latency(&set, 0.3, true, 1, t);
            cuts.push(s.window);
        }
        assert_eq!(cuts[..4], [4.0, 2.0, 1.0, 1.0], "{cuts:?}");
        // An unused window does not grow.
        let mut s = state();
        for _ in 0..40 {
            s.latency(&set, 0.002, true, 1, t);
        }
        assert_eq!(s.window, 4.0);
    }

    #[test]
    fn throttled_answers_back_off_exponentially_once_per_round() {
        let set = settings();
        let mut s = state();
        let t0 = Instant::now();
        s.observe(&set, t0, 0, 1, Answer::Throttled(None));
        let first = s.paused_until.unwrap() - t0;
        assert!(first >= Duration::from_millis(100) && first < Duration::from_millis(200), "{first:?}");
        assert_eq!(s.window, 2.0);
        // Another answer to a request sent before that back-off: no more.
        s.observe(&set, t0, 0, 1, Answer::Throttled(None));
        assert_eq!(s.strikes, 1);
        assert_eq!(s.window, 2.0);
        // The next round doubles it, even when the server says `0`; a
        // longer Retry-After wins and is capped.
        s.observe(&set, t0, 1, 1, Answer::Throttled(Some(Duration::ZERO)));
        let second = s.paused_until.unwrap() - t0;
        assert!(second >= Duration::from_millis(200) && second < Duration::from_millis(300), "{second:?}");
        s.observe(&set, t0, 2, 1, Answer::Throttled(Some(Duration::from_secs(3_600))));
        let capped = s.paused_until.unwrap() - t0;
        assert!(capped >= Duration::from_secs(60) && capped < Duration::from_secs(61), "{capped:?}");
        // A normal answer ends the streak.
        s.observe(&set, t0, 3, 1, Answer::Status(200));
        assert_eq!(s.strikes, 0);
    }
}
