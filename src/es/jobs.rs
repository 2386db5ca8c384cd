//! Decoding of job lists: `GET _ml/anomaly_detectors/<expression>` merged with its `_stats`,
//! one summary per job, for resolving an expression over many jobs. Pure, no I/O.

use std::collections::HashMap;

use serde::Deserialize;

use super::bounded;
use super::types::{JobState, JobSummary};
use super::wire::{DecodeError, json};

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct Jobs<T> {
    #[serde(default = "Vec::new", deserialize_with = "bounded::list")]
    jobs: Vec<T>,
}

#[derive(Deserialize)]
struct Config {
    job_id: String,
    #[serde(default, deserialize_with = "bounded::lenient_millis")]
    create_time: Option<i64>,
    #[serde(default)]
    model_snapshot_id: Option<String>,
    /// Embedded by GET from 8.0 when the job has a datafeed.
    #[serde(default)]
    datafeed_config: Option<DatafeedRef>,
}

#[derive(Deserialize)]
struct DatafeedRef {
    datafeed_id: String,
}

#[derive(Deserialize)]
struct Datafeeds {
    #[serde(default = "Vec::new", deserialize_with = "bounded::list")]
    datafeeds: Vec<DatafeedStats>,
}

#[derive(Deserialize)]
struct DatafeedStats {
    datafeed_id: String,
    state: String,
}

#[derive(Deserialize)]
struct Stats {
    job_id: String,
    state: String,
    #[serde(default)]
    data_counts: Counts,
    #[serde(default)]
    model_size_stats: Option<SizeStats>,
}

#[derive(Default, Deserialize)]
struct Counts {
    #[serde(default)]
    processed_record_count: u64,
    #[serde(default, deserialize_with = "bounded::lenient_millis")]
    latest_record_timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct SizeStats {
    #[serde(default)]
    memory_status: Option<String>,
}

/// One summary per job the config answer lists, in its order; the stats answer gives state
/// and counts (a job missing from it is left out: it was deleted between the two reads).
pub fn summaries(config_body: &[u8], stats_body: &[u8]) -> Result<Vec<JobSummary>, DecodeError> {
    let config: Jobs<Config> = json(config_body).map_err(|e| format!("job configs: {e}"))?;
    let stats: Jobs<Stats> = json(stats_body).map_err(|e| format!("job stats: {e}"))?;
    let stats: HashMap<&str, &Stats> = stats.jobs.iter().map(|s| (s.job_id.as_str(), s)).collect();
    let mut out = vec![];
    for c in config.jobs {
        let Some(st) = stats.get(c.job_id.as_str()) else {
            continue;
        };
        let memory_status = st
            .model_size_stats
            .as_ref()
            .and_then(|m| m.memory_status.clone());
        token("job id", &c.job_id)?;
        if let Some(m) = &memory_status {
            token("memory status", m)?;
        }
        if let Some(d) = &c.datafeed_config {
            token("datafeed id", &d.datafeed_id)?;
        }
        let state = JobState::from_es(&st.state)
            .ok_or_else(|| format!("unknown job state {:?}", st.state))?;
        out.push(JobSummary {
            id: c.job_id,
            state,
            memory_status,
            processed_record_count: st.data_counts.processed_record_count,
            latest_record_time_ms: st.data_counts.latest_record_timestamp,
            create_time_ms: c.create_time,
            has_model_snapshot: c
                .model_snapshot_id
                .is_some_and(|s| !s.is_empty() && s != "empty"),
            datafeed_id: c.datafeed_config.map(|d| d.datafeed_id),
        });
    }
    Ok(out)
}

/// `(datafeed id, state)` pairs of a `GET _ml/datafeeds/<ids>/_stats` answer.
pub fn datafeed_states(body: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let d: Datafeeds = json(body).map_err(|e| format!("datafeed stats: {e}"))?;
    for d in &d.datafeeds {
        token("datafeed id", &d.datafeed_id)?;
        token("datafeed state", &d.state)?;
    }
    Ok(d.datafeeds
        .into_iter()
        .map(|d| (d.datafeed_id, d.state))
        .collect())
}

/// Ids, states and statuses as Elasticsearch writes them: at most 64 characters (its id
/// limit) of lowercase letters, digits, `-`, `_` and `.`. These go into status, once per
/// job: anything else is no Elasticsearch answer, and is refused rather than stored.
fn token(what: &str, value: &str) -> Result<(), DecodeError> {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
    if !value.is_empty() && value.len() <= 64 && value.chars().all(ok) {
        return Ok(());
    }
    let head: String = value.chars().take(64).collect();
    Err(format!(
        "the answer names a {what} Elasticsearch never writes ({head:?}{})",
        if value.chars().count() > 64 {
            "..."
        } else {
            ""
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listing goes into status once per job: an id, status or state no Elasticsearch
    /// writes (a tenant's own server may answer anything) is refused, not stored.
    #[test]
    fn what_no_elasticsearch_writes_is_refused() {
        let long = "a".repeat(100_000);
        // (the job's config, the id its stats name, more of its stats)
        let cases = [
            (
                format!(r#"{{"job_id":"{long}"}}"#),
                long.clone(),
                String::new(),
            ),
            (
                r#"{"job_id":"Job A"}"#.to_owned(),
                "Job A".to_owned(),
                String::new(),
            ),
            (
                r#"{"job_id":"a"}"#.to_owned(),
                "a".to_owned(),
                format!(r#","model_size_stats":{{"memory_status":"{long}"}}"#),
            ),
            (
                format!(r#"{{"job_id":"a","datafeed_config":{{"datafeed_id":"{long}"}}}}"#),
                "a".to_owned(),
                String::new(),
            ),
        ];
        for (config, id, extra) in cases {
            let config = format!(r#"{{"count":1,"jobs":[{config}]}}"#);
            let stats = format!(
                r#"{{"count":1,"jobs":[{{"job_id":"{id}","state":"closed","data_counts":{{}}{extra}}}]}}"#
            );
            let err = summaries(config.as_bytes(), stats.as_bytes()).unwrap_err();
            assert!(err.contains("Elasticsearch never writes"), "{err}");
            assert!(err.len() < 200, "{}", err.len());
        }
        let states = format!(r#"{{"datafeeds":[{{"datafeed_id":"d","state":"{long}"}}]}}"#);
        assert!(datafeed_states(states.as_bytes()).is_err());
        let fine = br#"{"datafeeds":[{"datafeed_id":"datafeed-web.1","state":"started"}]}"#;
        assert_eq!(datafeed_states(fine).unwrap().len(), 1);
    }

    #[test]
    fn merges_configs_and_stats() {
        let config = br#"{"count":2,"jobs":[
            {"job_id":"a","create_time":1700000000000,"model_snapshot_id":"s1",
             "datafeed_config":{"datafeed_id":"datafeed-a","job_id":"a"}},
            {"job_id":"b","create_time":1700000001000}]}"#;
        let stats = br#"{"count":2,"jobs":[
            {"job_id":"b","state":"opened","data_counts":{"processed_record_count":5}},
            {"job_id":"a","state":"closed","data_counts":{"processed_record_count":1234,
              "latest_record_timestamp":1699999000000},"model_size_stats":{"memory_status":"hard_limit"}}]}"#;
        let s = summaries(config, stats).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].id, "a");
        assert_eq!(s[0].state, JobState::Closed);
        assert_eq!(s[0].memory_status.as_deref(), Some("hard_limit"));
        assert_eq!(s[0].latest_record_time_ms, Some(1_699_999_000_000));
        assert!(s[0].has_model_snapshot);
        assert_eq!((s[1].id.as_str(), s[1].processed_record_count), ("b", 5));
        assert_eq!(s[1].create_time_ms, Some(1_700_000_001_000));
        assert_eq!(s[0].datafeed_id.as_deref(), Some("datafeed-a"));
        assert_eq!(s[1].datafeed_id, None);
        let d = datafeed_states(
            br#"{"count":1,"datafeeds":[{"datafeed_id":"datafeed-a","state":"started"}]}"#,
        );
        assert_eq!(
            d.unwrap(),
            [("datafeed-a".to_owned(), "started".to_owned())]
        );
    }

    fn listing(n: usize, entry: impl Fn(usize) -> String) -> Vec<u8> {
        let entries: Vec<String> = (0..n).map(entry).collect();
        format!(r#"{{"count":{n},"jobs":[{}]}}"#, entries.join(",")).into_bytes()
    }

    #[test]
    fn a_listing_longer_than_elasticsearch_gives_is_refused() {
        let config = |i| format!(r#"{{"job_id":"j{i}"}}"#);
        let stats = |i| format!(r#"{{"job_id":"j{i}","state":"closed"}}"#);
        let all = summaries(
            &listing(bounded::MAX_LISTED, config),
            &listing(bounded::MAX_LISTED, stats),
        );
        assert_eq!(all.map(|s| s.len()), Ok(bounded::MAX_LISTED));
        let over = summaries(
            &listing(bounded::MAX_LISTED + 1, config),
            &listing(1, stats),
        );
        let err = over.err().unwrap_or_default();
        assert!(err.contains("more than 10000 entries"), "{err}");
        let over = summaries(
            &listing(1, config),
            &listing(bounded::MAX_LISTED + 1, stats),
        );
        assert!(over.is_err(), "the stats are bounded too");
    }

    #[test]
    fn times_that_are_not_numbers_are_no_times() {
        let config = listing(3, |i| {
            let t = ["\"1700000000000\"", "[[1,2],{\"a\":[3]}]", "1.5"][i];
            format!(r#"{{"job_id":"j{i}","create_time":{t}}}"#)
        });
        let stats = listing(3, |i| {
            let t = ["null", "{\"a\":1}", "\"soon\""][i];
            format!(
                r#"{{"job_id":"j{i}","state":"closed","data_counts":{{"latest_record_timestamp":{t}}}}}"#
            )
        });
        let s = summaries(&config, &stats).unwrap_or_default();
        let times: Vec<_> = s
            .iter()
            .map(|j| (j.create_time_ms, j.latest_record_time_ms))
            .collect();
        assert_eq!(
            times,
            [(Some(1_700_000_000_000), None), (None, None), (None, None)]
        );
    }
}
