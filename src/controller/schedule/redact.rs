//! What the schedule controller cuts from text it did not write before it reaches an
//! Event. Pure, no I/O.

/// `message` with the `user:password@` of any URL in it cut out: an admission webhook may
/// quote the template's values back, and a URL's credentials must not reach an Event.
pub fn without_userinfo(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let host_end = tail
            .find(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = match tail[..host_end].rfind('@') {
            Some(userinfo_end) => &tail[userinfo_end + 1..],
            None => tail,
        };
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_a_message_lose_their_credentials() {
        let m =
            r#"denied: url "https://elastic:hunter2@es.example:9200/x" and http://a@b, not c@d"#;
        assert_eq!(
            without_userinfo(m),
            r#"denied: url "https://es.example:9200/x" and http://b, not c@d"#
        );
        assert_eq!(without_userinfo("no url here"), "no url here");
        assert_eq!(without_userinfo("ends with ://"), "ends with ://");
    }
}
