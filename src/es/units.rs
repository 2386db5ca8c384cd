//! Elasticsearch time units (`30s`, `1500ms`, `-1`), both ways. Pure, no I/O.

use std::time::Duration;

/// Formats a wait in Elasticsearch time units: whole seconds as `30s`, anything else as
/// milliseconds (rounded up, so a short wait never becomes `0`).
pub fn es_time(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let ms = d.as_nanos().div_ceil(1_000_000);
        format!("{ms}ms")
    }
}

/// Parses an Elasticsearch time value (`30m`, `1500ms`, `2h`, `0`, `-1`). `-1` (wait
/// forever) is `Some(None)`; an unparsable value is `None`.
pub fn parse_es_time(s: &str) -> Option<Option<Duration>> {
    let s = s.trim();
    if s == "-1" {
        return Some(None);
    }
    if s == "0" {
        return Some(Some(Duration::ZERO));
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "nanos" => Duration::from_nanos(n),
        "micros" => Duration::from_micros(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        "d" => Duration::from_secs(n.checked_mul(86_400)?),
        _ => return None,
    };
    Some(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_units() {
        assert_eq!(es_time(Duration::from_secs(30)), "30s");
        assert_eq!(es_time(Duration::from_millis(1500)), "1500ms");
        assert_eq!(es_time(Duration::from_micros(1)), "1ms");
        assert_eq!(parse_es_time("30m"), Some(Some(Duration::from_secs(1800))));
        assert_eq!(
            parse_es_time("1500ms"),
            Some(Some(Duration::from_millis(1500)))
        );
        assert_eq!(parse_es_time("-1"), Some(None));
        assert_eq!(parse_es_time("0"), Some(Some(Duration::ZERO)));
        assert_eq!(parse_es_time("10x"), None);
        assert_eq!(parse_es_time("m"), None);
        assert_eq!(parse_es_time(""), None);
    }
}
