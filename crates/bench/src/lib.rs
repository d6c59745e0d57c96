//! Helpers of `scripts/bench-api` and `scripts/bench-media`, the
//! benchmarks. Not part of confab.
//!
//! The binaries:
//! - `bench-hello`: a bare axum handler on the same runtime (and allocator)
//!   as confab, the ceiling any confab endpoint is compared against in the
//!   same run;
//! - `bench-seed`: fills a database with accounts, conferences and
//!   participants shaped like a year of real use, straight through the
//!   store (the API has no way to create history);
//! - `bench-media`: the media benchmark's load generator (testkit phones in
//!   rooms), its ceiling (a bare UDP echo and a flood), and a voice URL;
//! - `bench-load`: the API side of `scripts/load` and `scripts/crash-test`
//!   (a mute/unmute/kick driver, the stuck-room check, the crash test's
//!   snapshot and its check after the restart).
//!
//! This file holds what they share: the runtime, built exactly as
//! `confab`'s `main` builds it so the comparison is fair, the flags that
//! name the confab under test, and the one reader of its `/metrics`.

use std::net::SocketAddr;

/// The confab process a load generator drives and watches
/// (`--sip`, `--http`, `--pid`).
#[derive(Debug, Clone, clap::Args)]
pub struct UnderTest {
    /// confab's SIP address (UDP).
    #[arg(long)]
    pub sip: SocketAddr,
    /// confab's HTTP address (`/metrics`, and the API).
    #[arg(long)]
    pub http: SocketAddr,
    /// The confab process, sampled in `/proc`.
    #[arg(long)]
    pub pid: u32,
}

/// A multi-thread tokio runtime with the defaults `confab` uses (one worker
/// per core, every driver enabled).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// One scrape of confab's `/metrics`: the samples of a Prometheus text
/// exposition, `(name, labels, value)`. (Not `server::Metrics`, the counters
/// themselves.)
#[derive(Debug, Clone, Default)]
pub struct Scrape(Vec<(String, String, f64)>);

impl Scrape {
    /// A GET of confab's `/metrics` at `url`, parsed.
    pub async fn fetch(http: &reqwest::Client, url: &str) -> anyhow::Result<Self> {
        let text = http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(Self::parse(&text))
    }

    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let value = value.parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                Some((name.to_owned(), labels.to_owned(), value))
            })
            .collect();
        Self(samples)
    }

    /// The value of the unlabelled sample `name`, if there is one.
    pub fn sample(&self, name: &str) -> Option<f64> {
        self.0
            .iter()
            .find(|(n, l, _)| n == name && l.is_empty())
            .map(|(_, _, v)| *v)
    }

    /// The sum over every label set of `name`.
    pub fn total(&self, name: &str) -> f64 {
        self.0
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, v)| v)
            .sum()
    }

    pub fn delta(&self, before: &Self, name: &str) -> f64 {
        self.total(name) - before.total(name)
    }

    /// The upper bound of the histogram bucket holding quantile `q` of the
    /// observations made between `before` and `self`; `None` if it is the
    /// `+Inf` bucket or nothing was observed.
    pub fn histogram_quantile(&self, before: &Self, name: &str, q: f64) -> Option<f64> {
        let bucket = format!("{name}_bucket");
        let count = |m: &Self, le: &str| {
            m.0.iter()
                .find(|(n, l, _)| *n == bucket && l.contains(&format!("le=\"{le}\"")))
                .map_or(0.0, |(_, _, v)| *v)
        };
        let mut bounds: Vec<(f64, String)> = self
            .0
            .iter()
            .filter(|(n, _, _)| *n == bucket)
            .filter_map(|(_, l, _)| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                Some((le.parse().ok()?, le.to_owned()))
            })
            .collect();
        bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = bounds
            .last()
            .map(|(_, le)| count(self, le) - count(before, le))?;
        if total <= 0.0 {
            return None;
        }
        bounds
            .iter()
            .find(|(_, le)| count(self, le) - count(before, le) >= q * total)
            .map(|(bound, _)| *bound)
            .filter(|b| b.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_totals_and_deltas() {
        let before =
            Scrape::parse("# HELP x\nconfab_calls_active 2\nconfab_rooms{status=\"init\"} 1\n");
        let after = Scrape::parse(
            "confab_calls_active 3\nconfab_rooms{status=\"init\"} 2\nconfab_rooms{status=\"in-progress\"} 4\n",
        );
        assert_eq!(after.sample("confab_calls_active"), Some(3.0));
        assert_eq!(after.sample("confab_rooms"), None);
        assert_eq!(after.total("confab_rooms"), 6.0);
        assert_eq!(after.delta(&before, "confab_calls_active"), 1.0);
        assert_eq!(after.delta(&before, "confab_rooms"), 5.0);
    }
}
