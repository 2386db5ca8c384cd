//! Version-specific behaviour selected by `--version`. Pure, no I/O.

use std::fmt;

/// A parsed Elasticsearch version (`8.15.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Accepts `8.15.0`, `8.15` and suffixes such as `8.15.0-SNAPSHOT`.
    pub fn parse(s: &str) -> Option<Version> {
        let core = s.trim().split(['-', '+']).next()?;
        let mut it = core.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().unwrap_or("0").parse().ok()?;
        let patch = it.next().unwrap_or("0").parse().ok()?;
        if it.next().is_some() {
            return None;
        }
        Some(Version {
            major,
            minor,
            patch,
        })
    }

    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// The reset route and the job `blocked` field shipped in 7.14.0.
    pub fn has_reset(&self) -> bool {
        self.at_least(7, 14)
    }

    /// `delete_user_annotations` on reset and delete: 8.7.0.
    pub fn has_delete_user_annotations(&self) -> bool {
        self.at_least(8, 7)
    }

    /// A reset that finds the previous reset task gone retries instead of answering 404: 8.13.0.
    pub fn retries_lost_reset(&self) -> bool {
        self.at_least(8, 13)
    }

    /// `ElasticsearchTimeoutException` status: 500 before 9.0, 429 from 9.0.
    pub fn timeout_status(&self) -> u16 {
        if self.major >= 9 { 429 } else { 500 }
    }

    /// Get-task timeout wording. 7.x named the task; later versions do not. The exact release of
    /// the change is unconfirmed: we assume 8.0.
    pub fn task_wait_timeout_reason(&self, task: &str) -> String {
        if self.major >= 8 {
            "Timed out waiting for completion of task".to_string()
        } else {
            format!("Timed out waiting for completion of [{task}]")
        }
    }

    /// GET job embeds `datafeed_config` from 8.0 (assumed).
    pub fn job_embeds_datafeed(&self) -> bool {
        self.major >= 8
    }

    pub fn lucene(&self) -> &'static str {
        match (self.major, self.minor) {
            (7, _) => "8.11.1",
            (8, m) if m < 7 => "9.4.2",
            (8, m) if m < 10 => "9.6.0",
            (8, m) if m < 16 => "9.11.1",
            (8, _) => "9.12.0",
            _ => "10.1.0",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_gates() {
        let v = Version::parse("8.12.2").unwrap();
        assert!(v.has_reset() && v.has_delete_user_annotations() && !v.retries_lost_reset());
        assert_eq!(v.timeout_status(), 500);
        let v9 = Version::parse("9.0.0-SNAPSHOT").unwrap();
        assert_eq!(v9.timeout_status(), 429);
        assert!(!Version::parse("7.13.4").unwrap().has_reset());
        assert!(
            !Version::parse("8.6.0")
                .unwrap()
                .has_delete_user_annotations()
        );
        assert!(Version::parse("8.13.0").unwrap().retries_lost_reset());
        assert!(Version::parse("x.1").is_none());
    }
}
