//! Name rules the schema enforces, as patterns for the CRD and as functions for checking
//! again before use (objects written before a rule existed, or input that never went through
//! the API server, such as the `reset` command's flags). Pure, no I/O.

/// A DNS-1123 label (a namespace name): lowercase letters, digits and `-`, starting and
/// ending with a letter or digit, at most 63 characters.
pub const DNS1123_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A DNS-1035 label (a Service name): as DNS-1123, but starting with a letter.
pub const DNS1035_LABEL_PATTERN: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";

/// An ECK `Elasticsearch` name usable in the names ECK derives from it: its Service
/// `<name>-es-http` must be a DNS-1035 label, so the name is one too, with room for the
/// suffix (at most 55 characters).
pub const ECK_NAME_PATTERN: &str = DNS1035_LABEL_PATTERN;

/// Longest ECK name whose `<name>-es-http` Service name still fits a label.
pub const ECK_NAME_MAX: usize = 63 - "-es-http".len();

/// Elasticsearch's job id rule: lowercase letters, digits, `-` and `_`, starting and ending
/// with a letter or digit, at most 64 characters.
pub const JOB_ID_PATTERN: &str = r"^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$";

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `s` matches `DNS1123_LABEL_PATTERN` and has at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    label(s, 63, lower_alnum)
}

/// `s` matches `DNS1035_LABEL_PATTERN` and has at most 63 characters.
pub fn is_dns1035_label(s: &str) -> bool {
    label(s, 63, |c| c.is_ascii_lowercase())
}

/// `s` is a usable ECK `Elasticsearch` name (see `ECK_NAME_PATTERN`).
pub fn is_eck_name(s: &str) -> bool {
    label(s, ECK_NAME_MAX, |c| c.is_ascii_lowercase())
}

/// Elasticsearch's job id rule, as `JOB_ID_PATTERN` and the 64-character limit say.
pub fn is_job_id(id: &str) -> bool {
    let inner = |c: char| lower_alnum(c) || c == '-' || c == '_';
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(inner)
        && id.chars().next().is_some_and(lower_alnum)
        && id.chars().last().is_some_and(lower_alnum)
}

fn label(s: &str, max: usize, first: impl Fn(char) -> bool) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars().all(|c| lower_alnum(c) || c == '-')
        && s.chars().next().is_some_and(first)
        && s.chars().last().is_some_and(lower_alnum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "elastic", "team-a", "0ns", &"a".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "A",
            "a.b",
            "a/b",
            "a b",
            "evil.example/#",
            &"a".repeat(64),
        ] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(is_dns1035_label("quickstart-es-http"));
        assert!(
            !is_dns1035_label("0quickstart"),
            "a Service starts with a letter"
        );
        assert!(!is_dns1035_label("evil.example/#"));
        assert!(is_eck_name(&"q".repeat(ECK_NAME_MAX)));
        assert!(!is_eck_name(&"q".repeat(ECK_NAME_MAX + 1)));
        assert!(!is_eck_name("quick_start"));
    }

    #[test]
    fn job_ids() {
        for ok in ["a", "total-requests", "job_1", "0abc9", &"a".repeat(64)] {
            assert!(is_job_id(ok), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "_a",
            "A",
            "a*",
            "a b",
            "a.b",
            &"a".repeat(65),
        ] {
            assert!(!is_job_id(bad), "{bad}");
        }
    }
}
