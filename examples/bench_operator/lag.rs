//! Where each reset's lag goes: split at the simulator's answers to the confirming read and to
//! the outcome's ledger write. Pure: works on records already collected.

use std::{collections::HashMap, time::Instant};

/// A lag in three parts, in ms: to the confirming read, to the ledger write, to Completed seen.
pub type Parts = [f64; 3];

/// Splits each reset's lag at the simulator's answers to the confirming read and to the
/// outcome's ledger write (both recorded with the wall clock; the reset's end and the watch
/// with the monotonic one, mapped here). Returns the medians and the slowest resets' parts.
pub fn lag_parts(
    sim: &es_ml_sim::Control,
    seen: &[crate::watch::Seen],
) -> (Option<Parts>, Vec<(String, Parts)>) {
    let (now, wall) = (Instant::now(), std::time::SystemTime::now());
    let mut by_job: HashMap<&str, Vec<&es_ml_sim::LoggedRequest>> = HashMap::new();
    let requests = sim.requests();
    for r in &requests {
        // The operator's requests name their JobReset in X-Opaque-Id (a task's path does not).
        match r.opaque_id.as_deref().and_then(|o| o.split('/').nth(2)) {
            Some(name) => by_job.entry(name).or_default().push(r),
            None => r
                .path
                .split('/')
                .for_each(|seg| by_job.entry(seg).or_default().push(r)),
        }
    }
    let mut parts: [Vec<f64>; 3] = Default::default();
    let mut each = Vec::new();
    for s in seen {
        let (Some(done), Some(lag)) = (sim.last_reset_done(&s.name), s.lag_ms) else {
            continue;
        };
        let done_wall = wall - now.saturating_duration_since(done);
        let ms = |t: std::time::SystemTime| {
            t.duration_since(done_wall)
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0
        };
        let mine = by_job
            .get(s.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let after = |e: es_ml_sim::Endpoint| {
            mine.iter()
                .filter(|r| r.endpoint == e && r.time >= done_wall)
                .map(|r| ms(r.time))
                .next()
        };
        if let (Some(read), Some(write)) = (
            after(es_ml_sim::Endpoint::JobGet),
            after(es_ml_sim::Endpoint::JobUpdate),
        ) {
            parts[0].push(read);
            parts[1].push(write - read);
            parts[2].push(lag - write);
            let trail: Vec<String> = mine
                .iter()
                .map(|r| {
                    let before = done_wall.duration_since(r.time).unwrap_or_default();
                    let at = ms(r.time) - before.as_secs_f64() * 1000.0;
                    format!("{}{at:+.0}", r.endpoint.as_str())
                })
                .collect();
            each.push((
                format!("{} [{}]", s.name, trail.join(" ")),
                [read, write - read, lag - write],
            ));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        crate::report::percentile(v, 0.5)
    };
    each.sort_by(|a, b| {
        let total = |p: &[f64; 3]| p.iter().sum::<f64>();
        total(&b.1).total_cmp(&total(&a.1))
    });
    each.truncate(3);
    let [a, b, c] = &mut parts;
    (
        (!a.is_empty()).then(|| [median(a), median(b), median(c)]),
        each,
    )
}
