//! Leader election on a `coordination.k8s.io/v1` Lease, so that one operator replica acts at
//! a time: two controllers working on the same JobReset could each send a reset. `acquire`
//! waits until this process holds the Lease; `Held::keep` renews it and returns when the
//! Lease is lost, after which the process must stop acting (`main` exits, as
//! controller-runtime does); `Held::release` gives it up on a graceful stop. Does I/O (Lease
//! reads and writes); `judge` and `LeaseConfig::check` are pure.
//!
//! The three durations, with client-go's defaults and meaning:
//! - `duration` (15 s): a Lease whose resourceVersion has not moved for this long, on the
//!   observer's own clock, is free to take;
//! - `renew_deadline` (10 s): the leader stops acting when no renewal it *sent* within this
//!   long has landed; measured from the send (the API server may have recorded the write at
//!   any moment after it), so the leader always stops before `duration` has passed on any
//!   other replica's clock since it last saw the Lease move;
//! - `retry_period` (2 s): how often the leader renews and the others look, jittered.
//!
//! Expiry is judged by how long the Lease's resourceVersion has stayed unchanged on this
//! process's own clock, not by comparing the holder's `renewTime` with ours, so clock skew
//! between replicas does not matter.

use std::time::{Duration, Instant};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tracing::{info, warn};

/// Leader election settings.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity (the pod name in a cluster).
    pub identity: String,
    /// How long a Lease that nobody renews stays taken.
    pub duration: Duration,
    /// How long the holder keeps acting after the send of its last renewal that landed.
    pub renew_deadline: Duration,
    /// How often the holder renews, and how often the others look (jittered).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's rules: the renew deadline ends before the Lease does, and leaves room for
    /// more than one retry.
    pub fn check(&self) -> Result<(), String> {
        const LONGEST: Duration = Duration::from_secs(24 * 3600);
        if self.duration > LONGEST {
            return Err(format!(
                "--lease-duration ({:?}) must be at most {LONGEST:?}",
                self.duration
            ));
        }
        if self.renew_deadline >= self.duration {
            return Err(format!(
                "--renew-deadline ({:?}) must be shorter than --lease-duration ({:?})",
                self.renew_deadline, self.duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period.mul_f64(1.2) >= self.renew_deadline {
            return Err(format!(
                "--retry-period ({:?}) must be above zero and under --renew-deadline ({:?}) / 1.2",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }

    /// Waits of `retry_period` to twice that, at random, so replicas do not move in step.
    fn retries(&self) -> impl Iterator<Item = Duration> + use<> {
        use backon::BackoffBuilder;
        backon::ConstantBuilder::new()
            .with_delay(self.retry_period)
            .with_jitter()
            .without_max_times()
            .build()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("lost Lease {namespace}/{name}: {why}")]
    Lost {
        namespace: String,
        name: String,
        why: String,
    },
}

impl LeaderError {
    /// Stable reason for logs.
    pub fn reason(&self) -> &'static str {
        match self {
            LeaderError::Lost { .. } => "LeadershipLost",
        }
    }
}

/// What to do with the Lease as it stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It is ours: renew it.
    Renew,
    /// Free or expired: take it.
    Take,
    /// Someone else holds it and renews it.
    Wait,
}

/// Decides from the Lease's holder and how long its version has stood still (`unchanged_for`
/// as seen by this process).
pub fn judge(
    holder: Option<&str>,
    me: &str,
    unchanged_for: Duration,
    duration: Duration,
) -> Verdict {
    match holder {
        Some(h) if h == me => Verdict::Renew,
        None | Some("") => Verdict::Take,
        Some(_) if unchanged_for > duration => Verdict::Take,
        Some(_) => Verdict::Wait,
    }
}

/// How long the Lease must stand still before it may be taken: ours, or the holder's if
/// longer (its replica may run with other flags during a rolling update).
pub fn expiry(cfg: &LeaseConfig, lease: &Lease) -> Duration {
    let stated = lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_duration_seconds)
        .and_then(|secs| u64::try_from(secs).ok())
        .map(Duration::from_secs)
        .unwrap_or_default();
    cfg.duration.max(stated)
}

/// The Lease, held by this process.
pub struct Held {
    api: Api<Lease>,
    cfg: LeaseConfig,
    lease: Lease,
    /// When the write that took or last renewed the Lease was sent.
    sent: Instant,
}

/// Waits until this process holds the Lease. API errors are retried (a standby that cannot
/// reach the API server keeps trying, as client-go does).
pub async fn acquire(client: Client, cfg: LeaseConfig) -> Held {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    let mut seen: Option<(String, Instant)> = None;
    let mut waiting_logged = false;
    let mut retries = cfg.retries();
    loop {
        let sent = Instant::now();
        let limit = cfg.renew_deadline;
        let outcome = match bounded(limit, api.get_opt(&cfg.name)).await {
            Ok(None) => bounded(limit, api.create(&PostParams::default(), &new_lease(&cfg))).await,
            Ok(Some(lease)) => {
                let version = lease.metadata.resource_version.clone().unwrap_or_default();
                let since = match &seen {
                    Some((v, t)) if *v == version => *t,
                    _ => {
                        let now = Instant::now();
                        seen = Some((version, now));
                        now
                    }
                };
                let holder = holder_of(&lease);
                let duration = expiry(&cfg, &lease);
                match judge(holder, &cfg.identity, since.elapsed(), duration) {
                    Verdict::Renew | Verdict::Take => {
                        let sent = Instant::now();
                        match bounded(limit, take(&api, &cfg, lease)).await {
                            Ok(lease) => return took(api, cfg, lease, sent),
                            Err(e) => Err(e),
                        }
                    }
                    Verdict::Wait => {
                        if !waiting_logged {
                            info!(lease = %cfg.name, holder = holder.unwrap_or(""), "waiting for leadership");
                            waiting_logged = true;
                        }
                        let pause = retries.next().unwrap_or(cfg.retry_period);
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(lease) => return took(api, cfg, lease, sent),
            // Another replica wrote it first (create or resourceVersion precondition): look
            // again at once.
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => {
                warn!(lease = %cfg.name, error = %e, "cannot read or write the Lease; retrying");
                tokio::time::sleep(retries.next().unwrap_or(cfg.retry_period)).await;
            }
        }
    }
}

impl Held {
    /// Renews the Lease every retry period until it is lost; returns why. Lost means: no
    /// renewal sent within the renew deadline has landed, or another replica holds it.
    pub async fn keep(&mut self) -> LeaderError {
        let mut retries = self.cfg.retries();
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            loop {
                let valid_until = self.sent + self.cfg.renew_deadline;
                let sent = Instant::now();
                let Some(left) = valid_until.checked_duration_since(sent) else {
                    return self.lost(format!(
                        "no renewal landed within the renew deadline ({:?})",
                        self.cfg.renew_deadline
                    ));
                };
                let mut lease = self.lease.clone();
                if let Some(spec) = lease.spec.as_mut() {
                    spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
                }
                // A renewal that hangs must not outlast the deadline: from then on another
                // replica may take the Lease and this one must no longer act.
                let params = PostParams::default();
                let renewal = self.api.replace(&self.cfg.name, &params, &lease);
                let failure = match tokio::time::timeout(left, renewal).await {
                    Ok(Ok(renewed)) => {
                        self.lease = renewed;
                        self.sent = sent;
                        break;
                    }
                    // Someone wrote the Lease since: perhaps our own renewal that answered
                    // too late. Ours still if it names us; the deadline stays where it was.
                    Ok(Err(kube::Error::Api(e))) if e.code == 409 => {
                        let read = tokio::time::timeout(left, self.api.get_opt(&self.cfg.name));
                        match read.await {
                            Ok(Ok(Some(fresh)))
                                if holder_of(&fresh) == Some(self.cfg.identity.as_str()) =>
                            {
                                self.lease = fresh;
                                continue;
                            }
                            Ok(Ok(_)) => {
                                return self.lost("another replica holds the Lease".into());
                            }
                            Ok(Err(e)) => e.to_string(),
                            Err(_) => "reading the Lease did not answer".to_owned(),
                        }
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "the renewal did not answer".to_owned(),
                };
                warn!(error = %failure, "Lease renewal failed; retrying");
                let pause = retries.next().unwrap_or(self.cfg.retry_period);
                tokio::time::sleep(pause.min(left)).await;
            }
        }
    }

    /// Gives the Lease up on a graceful stop, so another replica takes over at once instead
    /// of waiting for it to expire. Best effort: if the write fails, the Lease expires.
    pub async fn release(self) {
        let Held {
            api,
            cfg,
            mut lease,
            ..
        } = self;
        // A renewal cut off by the stop may have landed and moved the resourceVersion on:
        // then the write conflicts and is made once more on a fresh read.
        for _ in 0..2 {
            let mut mine = lease.clone();
            if let Some(spec) = mine.spec.as_mut() {
                spec.holder_identity = None;
                spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
            }
            let limit = cfg.renew_deadline;
            let params = PostParams::default();
            let write = api.replace(&cfg.name, &params, &mine);
            let failure = match bounded(limit, write).await {
                Ok(_) => {
                    info!(lease = %cfg.name, "released leadership");
                    return;
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    match bounded(limit, api.get_opt(&cfg.name)).await {
                        Ok(Some(fresh)) if holder_of(&fresh) == Some(cfg.identity.as_str()) => {
                            lease = fresh;
                            continue;
                        }
                        // Someone else holds it already: nothing to give up.
                        Ok(_) => return,
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            warn!(error = %failure, "could not release the Lease; it will expire");
            return;
        }
        warn!(lease = %cfg.name, "could not release the Lease (kept changing); it will expire");
    }

    fn lost(&self, why: String) -> LeaderError {
        LeaderError::Lost {
            namespace: self.cfg.namespace.clone(),
            name: self.cfg.name.clone(),
            why,
        }
    }
}

/// Releases the Lease if this process holds it, for a stop that interrupted `acquire`: its
/// write may have reached the API server even though the answer never arrived here.
pub async fn release_if_held(client: Client, cfg: LeaseConfig) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    match bounded(cfg.renew_deadline, api.get_opt(&cfg.name)).await {
        Ok(Some(lease)) if holder_of(&lease) == Some(cfg.identity.as_str()) => {
            let sent = Instant::now();
            Held {
                api,
                cfg,
                lease,
                sent,
            }
            .release()
            .await;
        }
        Ok(_) => {}
        Err(e) => warn!(error = %e, "could not read the Lease on stop; if held, it will expire"),
    }
}

/// A Lease call that cannot hang: a half-open connection must not keep a standby from ever
/// taking over, nor a stopping leader from exiting.
async fn bounded<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    tokio::time::timeout(limit, call).await.unwrap_or_else(|_| {
        Err(kube::Error::Service(Box::new(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the API server did not answer within {limit:?}"),
        ))))
    })
}

fn holder_of(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
}

fn took(api: Api<Lease>, cfg: LeaseConfig, lease: Lease, sent: Instant) -> Held {
    info!(lease = %cfg.name, identity = %cfg.identity, "acquired leadership");
    Held {
        api,
        cfg,
        lease,
        sent,
    }
}

fn spec_for(cfg: &LeaseConfig, transitions: i32) -> LeaseSpec {
    let now = MicroTime(jiff::Timestamp::now());
    LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(
            i32::try_from(cfg.duration.as_secs())
                .unwrap_or(i32::MAX)
                .max(1),
        ),
        acquire_time: Some(now.clone()),
        renew_time: Some(now),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

fn new_lease(cfg: &LeaseConfig) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(cfg.name.clone()),
            namespace: Some(cfg.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(spec_for(cfg, 0)),
    }
}

/// Writes this replica into the Lease; the object's resourceVersion makes it conditional.
async fn take(api: &Api<Lease>, cfg: &LeaseConfig, mut lease: Lease) -> Result<Lease, kube::Error> {
    let old = lease.spec.take().unwrap_or_default();
    let ours = old.holder_identity.as_deref() == Some(cfg.identity.as_str());
    let transitions = old.lease_transitions.unwrap_or(0);
    lease.spec = Some(spec_for(
        cfg,
        if ours {
            transitions
        } else {
            transitions.saturating_add(1)
        },
    ));
    api.replace(&cfg.name, &PostParams::default(), &lease).await
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;
