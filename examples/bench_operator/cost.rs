//! What one reset costs on an idle operator, by kind of job: closed with the ledger (the
//! default), closed without it, opened (closed first). Markdown only, no I/O.

use std::fmt::Write as _;

use crate::{report::Report, report::by_call, scenario::Figures};

/// Elasticsearch requests and Kubernetes writes per reset, each with its calls.
fn counts(f: &Figures) -> String {
    format!(
        "{:.1} Elasticsearch requests per reset ({}) and {:.1} Kubernetes writes ({})",
        f.per_reset(f.es_calls.values().sum()),
        by_call(f, &f.es_calls),
        f.per_reset(f.writes.values().sum()),
        by_call(f, &f.writes)
    )
}

impl Report {
    pub(crate) fn one_at_a_time(&self, out: &mut String) {
        let (i, u, o) = (&self.idle, &self.unledgered, &self.opened);
        let _ = writeln!(
            out,
            "One reset at a time, right after the idle scenario, by kind of job:\n\n\
             - closed, with the job's ledger (the default; {} resets): {};\n\
             - closed, without it (`spec.ledger: Disabled`; {} resets): {};\n\
             - opened, with the ledger ({} resets): {}.\n\n\
             The ledger's cost is the difference of the first two: its two `_update` writes \
             and the read of the job's `custom_settings` the outcome's write starts from. An \
             opened job adds its close, the read of its configuration and stats after it (the \
             fingerprint a lost answer is judged by, and the `custom_settings` the ledger's \
             `started` entry is written over), and the `Closing` status write, which records \
             the state it was in before anything touched it; no Event (the outcome's says it \
             was closed first). The first resets of each scenario also pay its cluster's \
             version and privilege checks.\n",
            i.n,
            counts(i),
            u.n,
            counts(u),
            o.n,
            counts(o)
        );
    }
}
