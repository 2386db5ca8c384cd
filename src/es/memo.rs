//! What a cluster said that every run with the same connection settings may reuse for a
//! while: the version (`GET _ml/info`) and a granted privilege check (`_has_privileges`, or
//! security off). Kept per shared client, that is per (URL, credentials, CA), so one user's
//! answer never serves another. A check that found a privilege missing is never kept: the
//! fix is seen at once. No I/O (the caller asks and stores).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{ClusterInfo, Privileges};

/// How long an answer is reused. A version changes with an upgrade, a privilege with a role
/// edit: a minute bounds how long either goes unseen.
pub const KEEP_FOR: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Memo {
    version: Mutex<Option<(Instant, ClusterInfo)>>,
    privileges: Mutex<Option<(Instant, Vec<String>, Privileges)>>,
}

fn fresh(at: Instant, now: Instant) -> bool {
    now.saturating_duration_since(at) < KEEP_FOR
}

impl Memo {
    pub fn version(&self, now: Instant) -> Option<ClusterInfo> {
        let kept = self.version.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|(at, _)| fresh(*at, now))
            .map(|(_, info)| info.clone())
    }

    pub fn keep_version(&self, now: Instant, info: &ClusterInfo) {
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, info.clone()));
    }

    /// A granted answer for exactly these privileges, if one is fresh.
    pub fn privileges(&self, now: Instant, asked: &[&str]) -> Option<Privileges> {
        let kept = self.privileges.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|(at, a, _)| {
                fresh(*at, now) && a.iter().map(String::as_str).eq(asked.iter().copied())
            })
            .map(|(_, _, p)| p.clone())
    }

    /// Keeps the answer only when nothing is missing.
    pub fn keep_privileges(&self, now: Instant, asked: &[&str], p: &Privileges) {
        let mut kept = self.privileges.lock().unwrap_or_else(|p| p.into_inner());
        *kept = p.missing().is_empty().then(|| {
            (
                now,
                asked.iter().map(|s| (*s).to_owned()).collect(),
                p.clone(),
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASKED: [&str; 2] = ["manage_ml", "cluster:monitor/task/get"];

    #[test]
    fn answers_are_reused_for_a_minute_and_a_refusal_never() {
        let m = Memo::default();
        let t0 = Instant::now();
        let info = ClusterInfo {
            version: "8.15.0".into(),
            upgrade_mode: false,
        };
        assert_eq!(m.version(t0), None);
        m.keep_version(t0, &info);
        assert_eq!(m.version(t0 + Duration::from_secs(59)), Some(info));
        assert_eq!(m.version(t0 + KEEP_FOR), None);

        let held = Privileges::Held(ASKED.iter().map(|p| ((*p).to_owned(), true)).collect());
        m.keep_privileges(t0, &ASKED, &held);
        assert_eq!(m.privileges(t0, &ASKED), Some(held.clone()));
        assert_eq!(
            m.privileges(t0, &ASKED[..1]),
            None,
            "other privileges asked"
        );
        assert_eq!(m.privileges(t0 + KEEP_FOR, &ASKED), None);
        let lacking = Privileges::Held(vec![
            ("manage_ml".into(), true),
            ("cluster:monitor/task/get".into(), false),
        ]);
        m.keep_privileges(t0, &ASKED, &lacking);
        assert_eq!(
            m.privileges(t0, &ASKED),
            None,
            "a missing privilege is asked again"
        );
        m.keep_privileges(t0, &ASKED, &Privileges::SecurityOff);
        assert_eq!(m.privileges(t0, &ASKED), Some(Privileges::SecurityOff));
    }
}
