//! Cron slots in a time zone: parsing a schedule (five fields or a macro, through `croner`),
//! resolving the zone from the bundled database, and the slots due between two instants.
//! Pure, no I/O.

use croner::{Cron, parser::CronParser, parser::Seconds};
use jiff::{Timestamp, tz::TimeZone};

/// At most this many missed slots are counted one by one (an every-minute schedule after a
/// long outage would have hundreds of thousands).
pub const COUNT_CAP: u64 = 10_000;

/// A parsed schedule in its zone.
#[derive(Clone, Debug)]
pub struct Slots {
    cron: Cron,
    tz: TimeZone,
}

/// Why a schedule cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotsError {
    InvalidSchedule(String),
    UnknownTimeZone(String),
}

impl Slots {
    /// `schedule` read in `zone` (UTC when `None`).
    pub fn new(schedule: &str, zone: Option<&str>) -> Result<Slots, SlotsError> {
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .build()
            .parse(schedule)
            .map_err(|e| SlotsError::InvalidSchedule(format!("{schedule:?}: {e}")))?;
        let tz = match zone {
            None => TimeZone::UTC,
            Some(name) => jiff::tz::db()
                .get(name)
                .map_err(|_| SlotsError::UnknownTimeZone(name.to_owned()))?,
        };
        Ok(Slots { cron, tz })
    }

    /// The first slot strictly after `t`.
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let z = t.to_zoned(self.tz.clone());
        self.cron
            .find_next_occurrence(&z, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The slots in `(after, until]`: how many (counted up to `COUNT_CAP`, then "at least"),
    /// the latest and the one before it.
    pub fn due(&self, after: Timestamp, until: Timestamp) -> Due {
        let mut due = Due::default();
        let mut at = after;
        while let Some(slot) = self.next_after(at).filter(|s| *s <= until) {
            due.count += 1;
            due.before_latest = due.latest;
            due.latest = Some(slot);
            at = slot;
            if due.count == COUNT_CAP {
                // Too many to walk: the latest is the last one at or before `until`.
                let z = until.to_zoned(self.tz.clone());
                if let Some(last) = self
                    .cron
                    .find_previous_occurrence(&z, true)
                    .ok()
                    .map(|z| z.timestamp())
                    .filter(|s| *s > at)
                {
                    due.before_latest = due.latest;
                    due.latest = Some(last);
                }
                break;
            }
        }
        due
    }

    /// `t` in the schedule's zone, as RFC 3339 with its offset.
    pub fn local(&self, t: Timestamp) -> String {
        t.to_zoned(self.tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }
}

/// Slots due in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Due {
    /// How many (at least `COUNT_CAP` when it is that).
    pub count: u64,
    pub latest: Option<Timestamp>,
    /// The slot before `latest` (with `COUNT_CAP`, the last one counted).
    pub before_latest: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn five_fields_and_macros_only() {
        assert!(Slots::new("0 3 * * 0", None).is_ok());
        assert!(Slots::new("@weekly", None).is_ok());
        assert!(Slots::new("@hourly", Some("Europe/Berlin")).is_ok());
        assert!(matches!(
            Slots::new("0 0 3 * * 0", None),
            Err(SlotsError::InvalidSchedule(_))
        ));
        assert!(matches!(
            Slots::new("61 * * * *", None),
            Err(SlotsError::InvalidSchedule(_))
        ));
        assert_eq!(
            Slots::new("0 3 * * *", Some("Mars/Olympus")).unwrap_err(),
            SlotsError::UnknownTimeZone("Mars/Olympus".into())
        );
    }

    #[test]
    fn the_zone_database_is_bundled() {
        // The image has no system copy: the bundled one must know the zones.
        let bundled = jiff::tz::TimeZoneDatabase::bundled();
        assert!(bundled.get("Europe/Berlin").is_ok());
        assert!(bundled.get("America/New_York").is_ok());
    }

    #[test]
    fn sunday_three_in_berlin() {
        let s = Slots::new("0 3 * * 0", Some("Europe/Berlin")).unwrap();
        // Winter: 03:00 CET is 02:00 UTC.
        assert_eq!(
            s.next_after(t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-04T02:00:00Z"))
        );
        // Summer: 03:00 CEST is 01:00 UTC.
        assert_eq!(
            s.next_after(t("2026-07-01T00:00:00Z")),
            Some(t("2026-07-05T01:00:00Z"))
        );
    }

    #[test]
    fn a_skipped_local_time_runs_at_the_first_instant_after_the_gap() {
        // 2026-03-29: Berlin's clocks go from 02:00 CET straight to 03:00 CEST.
        let s = Slots::new("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let first = s.next_after(t("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(
            first,
            t("2026-03-29T01:00:00Z"),
            "03:00 CEST, the end of the gap"
        );
        assert_eq!(s.local(first), "2026-03-29T03:00:00+02:00");
        // And the next day as usual.
        assert_eq!(s.next_after(first), Some(t("2026-03-30T00:30:00Z")));
    }

    #[test]
    fn a_repeated_hour_runs_once() {
        // 2026-10-25: Berlin's clocks go from 03:00 CEST back to 02:00 CET.
        let s = Slots::new("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let day = s.due(t("2026-10-24T12:00:00Z"), t("2026-10-25T12:00:00Z"));
        assert_eq!(
            day.count, 1,
            "02:30 comes twice on the clock, once in the schedule"
        );
        assert_eq!(
            day.latest,
            Some(t("2026-10-25T00:30:00Z")),
            "the first 02:30 (CEST)"
        );
        // An hourly schedule runs at both 02:00s: they are different hours.
        let h = Slots::new("0 * * * *", Some("Europe/Berlin")).unwrap();
        let n = h.due(t("2026-10-24T23:30:00Z"), t("2026-10-25T02:30:00Z"));
        assert_eq!(n.count, 3, "00:00, 01:00 and 02:00 UTC");
    }

    #[test]
    fn due_counts_and_caps() {
        let s = Slots::new("*/30 * * * *", None).unwrap();
        let d = s.due(t("2026-05-01T10:00:00Z"), t("2026-05-01T12:05:00Z"));
        assert_eq!(d.count, 4);
        assert_eq!(d.latest, Some(t("2026-05-01T12:00:00Z")));
        assert_eq!(
            s.due(t("2026-05-01T10:00:00Z"), t("2026-05-01T10:29:00Z"))
                .count,
            0
        );
        let every = Slots::new("* * * * *", None).unwrap();
        let d = every.due(t("2026-01-01T00:00:00Z"), t("2026-03-01T00:00:00Z"));
        assert_eq!(d.count, COUNT_CAP);
        assert_eq!(d.latest, Some(t("2026-03-01T00:00:00Z")));
    }
}
