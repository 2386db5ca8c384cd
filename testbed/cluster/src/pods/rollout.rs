//! The Deployment controller's arithmetic, no I/O: `maxSurge`/`maxUnavailable` resolution and,
//! from a snapshot of a Deployment's pods, which pods to create and which to terminate.

use k8s_openapi::api::apps::v1::DeploymentStrategy;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    RollingUpdate {
        max_surge: u32,
        max_unavailable: u32,
    },
    /// Every old pod gone before a new one is created.
    Recreate,
}

/// An int or a percentage of `replicas` (rounded up or down); `.1` says it was given as zero.
fn scaled(
    v: &IntOrString,
    replicas: u32,
    round_up: bool,
    field: &str,
) -> Result<(u32, bool), String> {
    match v {
        IntOrString::Int(n) => u32::try_from(*n)
            .map(|n| (n, n == 0))
            .map_err(|_| format!("{field} must not be negative, got {n}")),
        IntOrString::String(s) => {
            let pct: u32 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{field} {s:?} is neither an integer nor a percentage"))?;
            let num = u64::from(pct) * u64::from(replicas);
            let v = if round_up {
                num.div_ceil(100)
            } else {
                num / 100
            };
            Ok((u32::try_from(v).unwrap_or(u32::MAX), pct == 0))
        }
    }
}

/// The strategy of a Deployment with `replicas`, as the apiserver validates it and the
/// controller resolves it (defaults 25%/25%; surge rounded up, unavailable rounded down; both
/// given as zero is invalid; both rounding to zero makes `maxUnavailable` 1).
pub(crate) fn strategy(
    spec: Option<&DeploymentStrategy>,
    replicas: u32,
) -> Result<Strategy, String> {
    let kind = spec
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate");
    let ru = spec.and_then(|s| s.rolling_update.as_ref());
    match kind {
        "Recreate" if ru.is_some() => {
            Err("strategy.rollingUpdate may not be given with type Recreate".into())
        }
        "Recreate" => Ok(Strategy::Recreate),
        "RollingUpdate" => {
            let pct25 = IntOrString::String("25%".into());
            let surge = ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&pct25);
            let unavail = ru
                .and_then(|r| r.max_unavailable.as_ref())
                .unwrap_or(&pct25);
            if let IntOrString::String(s) = unavail
                && s.strip_suffix('%')
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| p > 100)
            {
                return Err(format!(
                    "maxUnavailable {s:?} must not be greater than 100%"
                ));
            }
            let (max_surge, surge_zero) = scaled(surge, replicas, true, "maxSurge")?;
            let (max_unavailable, unavail_zero) =
                scaled(unavail, replicas, false, "maxUnavailable")?;
            if surge_zero && unavail_zero {
                return Err("maxSurge and maxUnavailable may not both be 0".into());
            }
            let max_unavailable = match (max_surge, max_unavailable.min(replicas)) {
                (0, 0) => 1,
                (_, u) => u,
            };
            Ok(Strategy::RollingUpdate {
                max_surge,
                max_unavailable,
            })
        }
        other => Err(format!(
            "strategy.type {other:?} (RollingUpdate or Recreate)"
        )),
    }
}

/// A pod as the controller sees it. Snapshots list pods oldest first.
#[derive(Clone, Debug)]
pub(crate) struct PodSummary {
    pub name: String,
    /// Made from the Deployment's current template.
    pub current: bool,
    /// Ready for `minReadySeconds`.
    pub available: bool,
    pub terminating: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub create: u32,
    pub terminate: Vec<String>,
}

/// Unavailable pods before available ones, newest first within each (as a ReplicaSet picks
/// pods to delete, roughly).
fn victims<'a>(
    pods: impl DoubleEndedIterator<Item = &'a PodSummary> + Clone,
    n: usize,
) -> Vec<String> {
    let unavailable = pods.clone().rev().filter(|p| !p.available);
    let available = pods.rev().filter(|p| p.available);
    unavailable
        .chain(available)
        .take(n)
        .map(|p| p.name.clone())
        .collect()
}

/// One step of the controller. Terminating pods count for nothing (as pods being deleted do
/// not count in a ReplicaSet's replicas), except that `Recreate` waits for them to be gone.
pub(crate) fn decide(strategy: Strategy, replicas: u32, pods: &[PodSummary]) -> Decision {
    let live = || pods.iter().filter(|p| !p.terminating);
    let new = || live().filter(|p| p.current);
    let old = || live().filter(|p| !p.current);
    let (n_new, n_old) = (new().count() as u64, old().count() as u64);
    let replicas = u64::from(replicas);
    let mut d = Decision::default();
    if n_new > replicas {
        d.terminate = victims(new(), (n_new - replicas) as usize);
    }
    let (max_surge, max_unavailable) = match strategy {
        Strategy::Recreate => {
            if pods.iter().any(|p| !p.current) {
                d.terminate.extend(old().map(|p| p.name.clone()));
            } else {
                d.create = replicas.saturating_sub(n_new) as u32;
            }
            return d;
        }
        Strategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } => (u64::from(max_surge), u64::from(max_unavailable)),
    };
    let total = n_new + n_old;
    if n_new < replicas && total < replicas + max_surge {
        d.create = (replicas + max_surge - total).min(replicas - n_new) as u32;
        // Like the Deployment controller: scale up, then look at old pods on the next sync.
        return d;
    }
    if n_old == 0 {
        return d;
    }
    let min_available = replicas.saturating_sub(max_unavailable);
    let new_unavailable = new().filter(|p| !p.available).count() as u64;
    let max_scaled_down = total as i64 - min_available as i64 - new_unavailable as i64;
    if max_scaled_down <= 0 {
        return d;
    }
    // Old pods that are not available first: removing them costs no availability.
    let unhealthy: Vec<String> = old()
        .filter(|p| !p.available)
        .take(max_scaled_down as usize)
        .map(|p| p.name.clone())
        .collect();
    let available = live().filter(|p| p.available).count() as u64;
    let spare = available.saturating_sub(min_available) as usize;
    let healthy = victims(
        old()
            .filter(|p| p.available)
            .collect::<Vec<_>>()
            .into_iter(),
        spare,
    );
    d.terminate.extend(unhealthy);
    d.terminate.extend(healthy);
    d
}

/// The rollout is complete: `replicas` current pods, all available, and no old pod left
/// (terminating ones included).
pub(crate) fn complete(replicas: u32, pods: &[PodSummary]) -> bool {
    let current = || pods.iter().filter(|p| p.current && !p.terminating);
    current().count() == replicas as usize
        && current().all(|p| p.available)
        && pods.iter().all(|p| p.current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::RollingUpdateDeployment;

    fn ru(surge: IntOrString, unavail: IntOrString) -> DeploymentStrategy {
        DeploymentStrategy {
            type_: None,
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(surge),
                max_unavailable: Some(unavail),
            }),
        }
    }
    use IntOrString::{Int, String as Pct};

    #[test]
    fn fenceposts() {
        let rolling = |s, u| Strategy::RollingUpdate {
            max_surge: s,
            max_unavailable: u,
        };
        assert_eq!(strategy(None, 2), Ok(rolling(1, 0)));
        assert_eq!(strategy(None, 4), Ok(rolling(1, 1)));
        assert_eq!(strategy(None, 10), Ok(rolling(3, 2)));
        assert_eq!(strategy(Some(&ru(Int(1), Int(0))), 2), Ok(rolling(1, 0)));
        assert_eq!(
            strategy(Some(&ru(Pct("0%".into()), Pct("10%".into()))), 2),
            Ok(rolling(0, 1))
        );
        assert_eq!(
            strategy(Some(&ru(Pct("50%".into()), Int(5))), 3),
            Ok(rolling(2, 3))
        );
        assert!(strategy(Some(&ru(Int(0), Pct("0%".into()))), 2).is_err());
        assert!(strategy(Some(&ru(Int(-1), Int(1))), 2).is_err());
        assert!(strategy(Some(&ru(Pct("x".into()), Int(1))), 2).is_err());
        assert!(strategy(Some(&ru(Int(1), Pct("120%".into()))), 2).is_err());
        let recreate = DeploymentStrategy {
            type_: Some("Recreate".into()),
            rolling_update: None,
        };
        assert_eq!(strategy(Some(&recreate), 2), Ok(Strategy::Recreate));
    }

    fn pod(name: &str, current: bool, available: bool) -> PodSummary {
        PodSummary {
            name: name.into(),
            current,
            available,
            terminating: false,
        }
    }

    /// Simulates a rollout step by step (new pods become available one step after creation,
    /// terminations take one step) and checks availability never drops below the minimum.
    fn simulate(strategy: Strategy, replicas: u32, min_available: usize) -> usize {
        let mut pods: Vec<PodSummary> = (0..replicas)
            .map(|i| pod(&format!("old{i}"), false, true))
            .collect();
        let mut created = 0;
        for step in 0..100 {
            if complete(replicas, &pods) {
                return step;
            }
            pods.retain(|p| !p.terminating);
            for p in pods.iter_mut() {
                p.available |= p.current;
            }
            let d = decide(strategy, replicas, &pods);
            for p in pods.iter_mut() {
                p.terminating |= d.terminate.contains(&p.name);
            }
            for _ in 0..d.create {
                pods.push(pod(&format!("new{created}"), true, false));
                created += 1;
            }
            let available = pods
                .iter()
                .filter(|p| p.available && !p.terminating)
                .count();
            assert!(available >= min_available, "step {step}: {pods:?}");
            let live = pods.iter().filter(|p| !p.terminating).count();
            if let Strategy::RollingUpdate { max_surge, .. } = strategy {
                assert!(
                    live <= (replicas + max_surge) as usize,
                    "step {step}: {pods:?}"
                );
            }
        }
        panic!("rollout did not complete: {pods:?}");
    }

    #[test]
    fn rolling_update_keeps_availability_and_surge() {
        let surge1 = Strategy::RollingUpdate {
            max_surge: 1,
            max_unavailable: 0,
        };
        simulate(surge1, 2, 2);
        simulate(surge1, 5, 5);
        let unavail1 = Strategy::RollingUpdate {
            max_surge: 0,
            max_unavailable: 1,
        };
        simulate(unavail1, 3, 2);
        simulate(Strategy::Recreate, 3, 0);
    }

    #[test]
    fn replaces_deleted_and_unhealthy_pods() {
        let s = Strategy::RollingUpdate {
            max_surge: 1,
            max_unavailable: 0,
        };
        let mut pods = vec![pod("a", true, true), pod("b", true, true)];
        pods[1].terminating = true;
        assert_eq!(decide(s, 2, &pods).create, 1);
        // An unavailable old pod goes first, even with no availability to spare.
        let pods = vec![
            pod("o1", false, false),
            pod("o2", false, true),
            pod("n", true, true),
        ];
        assert_eq!(decide(s, 2, &pods).terminate, ["o1"]);
        let pods = vec![
            pod("a", true, true),
            pod("b", true, false),
            pod("c", true, true),
        ];
        assert_eq!(decide(s, 2, &pods).terminate, ["b"]);
    }
}
