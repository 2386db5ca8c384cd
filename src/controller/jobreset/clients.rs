//! Elasticsearch clients, one per connection setting (URL, credentials, CA, TLS choice):
//! every JobReset on the same cluster as the same user shares its connection pool, TLS
//! sessions and the cluster's kept answers (version, granted privileges), each with its own
//! `X-Opaque-Id`. A changed Secret (rotated password, new CA) gives a new client; one no run
//! uses any more is kept for as long as its answers stay fresh, so runs one after another
//! (a schedule's, a queue on one job) do not ask the cluster again; then it is dropped (the
//! controller prunes every minute). No I/O of its own.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use super::memory::RunKey;
use crate::es::{EsClient, EsConfig, EsError, memo::KEEP_FOR};

#[derive(Default)]
pub struct Clients {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The run's settings (with its opaque id) and its client.
    by_run: HashMap<RunKey, (EsConfig, EsClient)>,
    /// The shared client of each connection setting (opaque id left out).
    shared: HashMap<EsConfig, Shared>,
}

struct Shared {
    client: EsClient,
    /// How many runs use it.
    users: usize,
    /// Since when none has.
    unused_since: Option<Instant>,
}

/// The settings a client is shared on: everything but the run's own `X-Opaque-Id`.
fn shared_key(cfg: &EsConfig) -> EsConfig {
    EsConfig {
        opaque_id: None,
        ..cfg.clone()
    }
}

impl Inner {
    fn release(&mut self, cfg: &EsConfig, now: Instant) {
        if let Some(shared) = self.shared.get_mut(&shared_key(cfg)) {
            shared.users = shared.users.saturating_sub(1);
            if shared.users == 0 {
                shared.unused_since = Some(now);
            }
        }
    }

    /// Drops the clients no run has used for `KEEP_FOR`: their kept answers are stale.
    fn prune(&mut self, now: Instant) {
        self.shared.retain(|_, s| {
            s.unused_since
                .is_none_or(|t| now.saturating_duration_since(t) < KEEP_FOR)
        });
    }
}

impl Clients {
    /// The client for this JobReset on `cfg`: the kept one if `cfg` is unchanged.
    pub fn get(&self, key: &RunKey, cfg: EsConfig) -> Result<EsClient, EsError> {
        self.get_at(key, cfg, Instant::now())
    }

    fn get_at(&self, key: &RunKey, cfg: EsConfig, now: Instant) -> Result<EsClient, EsError> {
        let mut inner = self.lock();
        if let Some((kept, client)) = inner.by_run.get(key)
            && *kept == cfg
        {
            return Ok(client.clone());
        }
        inner.prune(now);
        let key_cfg = shared_key(&cfg);
        let base = match inner.shared.get(&key_cfg) {
            Some(shared) => shared.client.clone(),
            None => EsClient::new(key_cfg.clone())?,
        };
        let client = base.for_run(cfg.opaque_id.clone())?;
        let shared = inner.shared.entry(key_cfg).or_insert_with(|| Shared {
            client: base,
            users: 0,
            unused_since: None,
        });
        shared.users += 1;
        shared.unused_since = None;
        if let Some((old, _)) = inner.by_run.insert(key.clone(), (cfg, client.clone())) {
            inner.release(&old, now);
        }
        Ok(client)
    }

    /// Drops the clients no run has used for a minute (with their credentials), also when
    /// no run starts or ends to do it.
    pub fn prune(&self) {
        self.lock().prune(Instant::now());
    }

    /// Runs a client is kept for.
    pub fn kept(&self) -> usize {
        self.lock().by_run.len()
    }

    /// Connection settings a shared client is kept for.
    #[cfg(test)]
    fn connections(&self) -> usize {
        self.lock().shared.len()
    }

    /// Drops the client of a JobReset that is gone or finished.
    pub fn forget(&self, key: &RunKey) {
        self.forget_at(key, Instant::now());
    }

    fn forget_at(&self, key: &RunKey, now: Instant) {
        let mut inner = self.lock();
        if let Some((cfg, _)) = inner.by_run.remove(key) {
            inner.release(&cfg, now);
        }
        inner.prune(now);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change completes under the lock, so a poisoned map is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::es::Auth;

    /// The key of JobReset `n` in namespace `ns`.
    fn run(n: &str) -> RunKey {
        RunKey {
            uid: format!("uid-{n}"),
            obj: kube::runtime::reflector::ObjectRef::new(n).within("ns"),
        }
    }

    fn cfg(password: &str) -> EsConfig {
        cfg_for("jobreset/ns/a/uid", password)
    }

    fn cfg_for(opaque: &str, password: &str) -> EsConfig {
        EsConfig {
            url: "http://127.0.0.1:9200".into(),
            auth: Some(Auth::Basic {
                username: "u".into(),
                password: password.into(),
            }),
            ca_pem: None,
            insecure_skip_verify: false,
            opaque_id: Some(opaque.into()),
            request_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn kept_while_the_settings_are_the_same() {
        let clients = Clients::default();
        let a = RunKey {
            uid: "uid-a".into(),
            obj: kube::runtime::reflector::ObjectRef::new("a").within("ns"),
        };
        clients.get(&a, cfg("one")).unwrap();
        clients.get(&a, cfg("one")).unwrap();
        assert_eq!((clients.kept(), clients.connections()), (1, 1));
        let kept = |p: &str| {
            clients
                .lock()
                .by_run
                .get(&a)
                .is_some_and(|(c, _)| *c == cfg(p))
        };
        assert!(kept("one"));
        let t0 = Instant::now();
        clients.get_at(&a, cfg("rotated"), t0).unwrap();
        assert!(kept("rotated"), "a rotated password builds a new client");
        assert_eq!(clients.connections(), 2, "the old one is kept a while");
        clients.forget_at(&a, t0);
        assert_eq!((clients.kept(), clients.connections()), (0, 2));
        // Unused for as long as its answers stay fresh: dropped.
        clients.forget_at(&a, t0 + KEEP_FOR);
        assert_eq!(clients.connections(), 0);
    }

    #[test]
    fn a_run_after_the_last_one_ended_reuses_its_client_and_answers() {
        let clients = Clients::default();
        let t0 = Instant::now();
        let first = clients
            .get_at(&run("a"), cfg_for("jobreset/ns/a/uid-a", "pw"), t0)
            .unwrap();
        first.memo().keep_version(
            t0,
            &crate::es::ClusterInfo {
                version: "8.15.0".into(),
                upgrade_mode: false,
            },
        );
        clients.forget_at(&run("a"), t0);
        let soon = t0 + KEEP_FOR / 2;
        let next = clients
            .get_at(&run("b"), cfg_for("jobreset/ns/b/uid-b", "pw"), soon)
            .unwrap();
        assert_eq!(
            next.memo().version(soon).map(|i| i.version).as_deref(),
            Some("8.15.0")
        );
        assert_eq!(next.opaque_id(), "jobreset/ns/b/uid-b");
        clients.forget_at(&run("b"), soon);
        let late = soon + KEEP_FOR;
        let after = clients
            .get_at(&run("c"), cfg_for("jobreset/ns/c/uid-c", "pw"), late)
            .unwrap();
        assert!(
            after.memo().version(late).is_none(),
            "a new client asks again"
        );
        assert_eq!(clients.connections(), 1);
    }

    #[test]
    fn runs_on_the_same_settings_share_one_connection_each_with_its_opaque_id() {
        let clients = Clients::default();
        let a = clients
            .get(&run("a"), cfg_for("jobreset/ns/a/uid-a", "pw"))
            .unwrap();
        let b = clients
            .get(&run("b"), cfg_for("jobreset/ns/b/uid-b", "pw"))
            .unwrap();
        let other_user = clients
            .get(&run("c"), cfg_for("jobreset/ns/c/uid-c", "other"))
            .unwrap();
        assert_eq!(
            (a.opaque_id(), b.opaque_id()),
            ("jobreset/ns/a/uid-a", "jobreset/ns/b/uid-b")
        );
        assert_eq!(other_user.opaque_id(), "jobreset/ns/c/uid-c");
        assert_eq!(clients.connections(), 2, "one per user, not per run");
        clients.forget(&run("a"));
        assert_eq!(clients.connections(), 2, "b still uses the first");
        clients.forget(&run("b"));
        assert_eq!(clients.connections(), 2, "kept a while, unused");
    }
}
