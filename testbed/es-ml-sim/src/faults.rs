//! Fault plans per endpoint: latency, failing answers, dropped connections, hangs. Pure data;
//! the HTTP layer applies them.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;

use crate::endpoint::Endpoint;

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and body instead of handling the request.
    Fail { status: u16, body: Value },
    /// Close the connection without answering.
    Drop,
    /// Never answer (until the connection or the simulator goes away).
    Hang,
    /// Handle the request, then close the connection without answering: the action took
    /// effect and the client never learns it (a lost answer).
    DropAfter,
}

#[derive(Debug, Default)]
pub struct Faults {
    latency: HashMap<Endpoint, Duration>,
    plans: HashMap<Endpoint, VecDeque<Fault>>,
}

impl Faults {
    pub fn set_latency(&mut self, ep: Endpoint, d: Duration) {
        if d.is_zero() {
            self.latency.remove(&ep);
        } else {
            self.latency.insert(ep, d);
        }
    }

    pub fn latency(&self, ep: Endpoint) -> Duration {
        self.latency.get(&ep).copied().unwrap_or_default()
    }

    pub fn push(&mut self, ep: Endpoint, n: u32, fault: Fault) {
        let q = self.plans.entry(ep).or_default();
        for _ in 0..n {
            q.push_back(fault.clone());
        }
    }

    /// The fault for the next request to `ep`, if one is planned.
    pub fn take(&mut self, ep: Endpoint) -> Option<Fault> {
        self.plans.get_mut(&ep)?.pop_front()
    }

    pub fn clear(&mut self) {
        self.latency.clear();
        self.plans.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_consumed_in_order() {
        let mut f = Faults::default();
        f.push(Endpoint::JobReset, 1, Fault::Drop);
        f.push(Endpoint::JobReset, 2, Fault::Hang);
        assert_eq!(f.take(Endpoint::JobReset), Some(Fault::Drop));
        assert_eq!(f.take(Endpoint::JobReset), Some(Fault::Hang));
        assert_eq!(f.take(Endpoint::JobReset), Some(Fault::Hang));
        assert_eq!(f.take(Endpoint::JobReset), None);
        assert_eq!(f.take(Endpoint::TaskGet), None);
    }
}
