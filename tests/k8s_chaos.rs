//! The fault campaign (`make chaos`; `make test` runs a short one): seeded, randomised rounds
//! of JobResets under operator SIGKILLs, leader handovers, Elasticsearch faults and API-server
//! faults (see `chaos/mod.rs`). It prints the seed of every failing round, so that it can be
//! replayed with `CHAOS_SEED=<seed> CHAOS_ROUNDS=1`, and one summary line. Settings:
//! `CHAOS_SECONDS` (total time, default 60), `CHAOS_ROUNDS` (rounds, instead of time),
//! `CHAOS_SEED` (first seed), `CHAOS_ROUND_SECONDS` (chaos per round, default 6). Does I/O:
//! the shared test bed, simulators, operator processes.

mod chaos;
mod common;

use std::time::{Duration, Instant};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_campaign_loses_and_doubles_nothing() {
    let rounds = env_u64("CHAOS_ROUNDS");
    let budget = Duration::from_secs(env_u64("CHAOS_SECONDS").unwrap_or(60));
    let per_round = Duration::from_secs(env_u64("CHAOS_ROUND_SECONDS").unwrap_or(6));
    let first = env_u64("CHAOS_SEED").unwrap_or_else(|| fastrand::u64(1..1_000_000));
    let start = Instant::now();
    let (mut total, mut failing) = (chaos::Tally::default(), vec![]);
    let mut done = 0u64;
    loop {
        let more = match rounds {
            Some(n) => done < n,
            None => done == 0 || start.elapsed() + per_round * 2 < budget,
        };
        if !more {
            break;
        }
        let seed = first + done;
        let t = chaos::round(seed, per_round).await;
        let bad = t.lost + t.doubled + t.stuck + t.unexplained;
        if bad > 0 {
            eprintln!("CHAOS round seed {seed} FAILED:");
            for f in &t.findings {
                eprintln!("  {f}");
            }
            failing.push(seed);
        }
        total.kills += t.kills;
        total.resets += t.resets;
        total.lost += t.lost;
        total.doubled += t.doubled;
        total.stuck += t.stuck;
        total.unexplained += t.unexplained;
        total.by_state += t.by_state;
        done += 1;
    }
    eprintln!(
        "CHAOS rounds {done}, kills {}, resets {}, lost {}, doubled {}, stuck {}, unexplained {}, \
         completed by state {} ({:.0} s; first seed {first}; failing seeds {failing:?})",
        total.kills,
        total.resets,
        total.lost,
        total.doubled,
        total.stuck,
        total.unexplained,
        total.by_state,
        start.elapsed().as_secs_f64()
    );
    assert!(failing.is_empty(), "failing seeds: {failing:?}");
}
