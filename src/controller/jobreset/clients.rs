//! Elasticsearch clients, one per connection setting (URL, credentials, CA, TLS choice):
//! every JobReset on the same cluster as the same user shares its connection pool, TLS
//! sessions and the cluster's kept answers (version, granted privileges), each with its own
//! `X-Opaque-Id`. A changed Secret (rotated password, new CA) gives a new client; one no run
//! uses any more is dropped. No I/O of its own.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use super::memory::RunKey;
use crate::es::{EsClient, EsConfig, EsError};

#[derive(Default)]
pub struct Clients {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The run's settings (with its opaque id) and its client.
    by_run: HashMap<RunKey, (EsConfig, EsClient)>,
    /// The shared client of each connection setting (opaque id left out), and how many runs
    /// use it.
    shared: HashMap<EsConfig, (EsClient, usize)>,
}

/// The settings a client is shared on: everything but the run's own `X-Opaque-Id`.
fn shared_key(cfg: &EsConfig) -> EsConfig {
    EsConfig {
        opaque_id: None,
        ..cfg.clone()
    }
}

impl Inner {
    fn release(&mut self, cfg: &EsConfig) {
        let key = shared_key(cfg);
        if let Some((_, users)) = self.shared.get_mut(&key) {
            *users = users.saturating_sub(1);
            if *users == 0 {
                self.shared.remove(&key);
            }
        }
    }
}

impl Clients {
    /// The client for this JobReset on `cfg`: the kept one if `cfg` is unchanged.
    pub fn get(&self, key: &RunKey, cfg: EsConfig) -> Result<EsClient, EsError> {
        let mut inner = self.lock();
        if let Some((kept, client)) = inner.by_run.get(key)
            && *kept == cfg
        {
            return Ok(client.clone());
        }
        let shared = shared_key(&cfg);
        let base = match inner.shared.get(&shared) {
            Some((client, _)) => client.clone(),
            None => EsClient::new(shared.clone())?,
        };
        let client = base.for_run(cfg.opaque_id.clone())?;
        inner.shared.entry(shared).or_insert_with(|| (base, 0)).1 += 1;
        if let Some((old, _)) = inner.by_run.insert(key.clone(), (cfg, client.clone())) {
            inner.release(&old);
        }
        Ok(client)
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
        let mut inner = self.lock();
        if let Some((cfg, _)) = inner.by_run.remove(key) {
            inner.release(&cfg);
        }
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
        clients.get(&a, cfg("rotated")).unwrap();
        assert!(kept("rotated"), "a rotated password builds a new client");
        assert_eq!(clients.connections(), 1, "the old one is dropped");
        clients.forget(&a);
        assert_eq!((clients.kept(), clients.connections()), (0, 0));
    }

    #[test]
    fn runs_on_the_same_settings_share_one_connection_each_with_its_opaque_id() {
        let clients = Clients::default();
        let run = |n: &str| RunKey {
            uid: format!("uid-{n}"),
            obj: kube::runtime::reflector::ObjectRef::new(n).within("ns"),
        };
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
        assert_eq!(clients.connections(), 1);
    }
}
