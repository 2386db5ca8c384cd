//! Query-string parsing and Elasticsearch's parameter rules: booleans, time values, and the
//! "contains unrecognized parameter" message with "did you mean" suggestions. Pure, no I/O.

use std::time::Duration;

use crate::errors::EsError;

/// Parameters every route accepts (response-shaping ones).
pub const GLOBAL: &[&str] = &["pretty", "human", "error_trace", "filter_path", "format"];

pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parsed query parameters, in order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(
            query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k, true), percent_decode(v, true))
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, EsError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_bool(v),
        }
    }

    pub fn time(&self, name: &str) -> Result<Option<(Duration, String)>, EsError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_time(name, v).map(|d| Some((d, v.to_string()))),
        }
    }

    /// The 400 for parameters no handler consumed, or `None` when all are known.
    pub fn unrecognized(&self, path: &str, consumed: &[&str]) -> Option<EsError> {
        let mut bad: Vec<&str> = Vec::new();
        for (k, _) in &self.0 {
            if !consumed.contains(&k.as_str())
                && !GLOBAL.contains(&k.as_str())
                && !bad.contains(&k.as_str())
            {
                bad.push(k);
            }
        }
        if bad.is_empty() {
            return None;
        }
        bad.sort();
        let candidates: Vec<&str> = consumed.iter().chain(GLOBAL.iter()).copied().collect();
        let mut msg = format!(
            "request [{path}] contains unrecognized parameter{}: ",
            if bad.len() > 1 { "s" } else { "" }
        );
        for (i, b) in bad.iter().enumerate() {
            if i > 0 {
                msg.push_str(", ");
            }
            msg.push_str(&format!("[{b}]"));
            let mut scored: Vec<(f64, &str)> = candidates
                .iter()
                .map(|c| (similarity(b, c), *c))
                .filter(|(s, _)| *s > 0.5)
                .collect();
            scored.sort_by(|a, b| {
                b.0.partial_cmp(&a.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.1.cmp(b.1))
            });
            if !scored.is_empty() {
                msg.push_str(" -> did you mean ");
                if scored.len() == 1 {
                    msg.push_str(&format!("[{}]", scored[0].1));
                } else {
                    let names: Vec<&str> = scored.iter().map(|(_, n)| *n).collect();
                    msg.push_str(&format!("any of [{}]", names.join(", ")));
                }
                msg.push('?');
            }
        }
        Some(EsError::illegal_argument(msg))
    }
}

/// `Booleans.parseBoolean`: empty (a bare flag) and "true" are true, "false" false.
pub fn parse_bool(v: &str) -> Result<bool, EsError> {
    match v {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        other => Err(EsError::illegal_argument(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed."
        ))),
    }
}

/// `TimeValue.parseTimeValue`. `-1` means no limit (a very long wait here).
pub fn parse_time(setting: &str, v: &str) -> Result<Duration, EsError> {
    let unit_err = || {
        EsError::new(
            400,
            "parse_exception",
            format!(
                "failed to parse setting [{setting}] with value [{v}] as a time value: unit is missing or unrecognized"
            ),
        )
    };
    let s = v.trim().to_ascii_lowercase();
    if s == "-1" {
        return Ok(Duration::from_secs(365 * 24 * 3600));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let units: [(&str, u64); 7] = [
        ("nanos", 1),
        ("micros", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ];
    for (suffix, nanos) in units {
        if let Some(num) = s.strip_suffix(suffix) {
            let num = num.trim();
            if num.starts_with('-') {
                return Err(EsError::new(
                    400,
                    "parse_exception",
                    format!(
                        "failed to parse setting [{setting}] with value [{v}] as a time value: negative durations are not supported"
                    ),
                ));
            }
            if num.contains('.') {
                return Err(EsError::new(
                    400,
                    "parse_exception",
                    format!("failed to parse [{v}], fractional time values are not supported"),
                ));
            }
            return num
                .parse::<u64>()
                .map(|n| Duration::from_nanos(n.saturating_mul(nanos)))
                .map_err(|_| unit_err());
        }
    }
    Err(unit_err())
}

/// Lucene `LevenshteinDistance` similarity: 1 - distance / longer length.
pub fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let max = a.len().max(b.len());
    if max == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / max as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrecognized_messages() {
        let p = Params::parse("forse=true");
        let e = p
            .unrecognized(
                "/_ml/anomaly_detectors/a/_close",
                &["force", "timeout", "allow_no_match"],
            )
            .unwrap();
        assert_eq!(
            e.reason,
            "request [/_ml/anomaly_detectors/a/_close] contains unrecognized parameter: [forse] -> did you mean [force]?"
        );
        let p = Params::parse("zzz=1&yyy=2&pretty");
        let e = p.unrecognized("/x", &[]).unwrap();
        assert_eq!(
            e.reason,
            "request [/x] contains unrecognized parameters: [yyy], [zzz]"
        );
        assert!(
            Params::parse("pretty&human=true")
                .unrecognized("/x", &[])
                .is_none()
        );
    }

    #[test]
    fn bools_and_times() {
        assert!(parse_bool("").unwrap());
        assert_eq!(
            parse_bool("yes").unwrap_err().reason,
            "Failed to parse value [yes] as only [true] or [false] are allowed."
        );
        assert_eq!(
            parse_time("timeout", "150ms").unwrap(),
            Duration::from_millis(150)
        );
        assert_eq!(
            parse_time("timeout", "2m").unwrap(),
            Duration::from_secs(120)
        );
        assert_eq!(
            parse_time("timeout", "abc").unwrap_err().kind,
            "parse_exception"
        );
        assert!(parse_time("timeout", "10").is_err());
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Cb+c", true), "a,b c");
        assert_eq!(percent_decode("a%2", false), "a%2");
        let p = Params::parse("timeout=30s&x");
        assert_eq!(p.get("x"), Some(""));
    }
}
