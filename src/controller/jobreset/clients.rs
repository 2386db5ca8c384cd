//! One Elasticsearch client per JobReset, kept while the run's connection settings stay the
//! same, so its reconciles and task long-polls reuse connections (and TLS sessions) instead of
//! opening new ones each time. A changed Secret (rotated password, new CA) gives a new client.
//! No I/O of its own.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use super::memory::RunKey;
use crate::es::{EsClient, EsConfig, EsError};

#[derive(Default)]
pub struct Clients {
    by_run: Mutex<HashMap<RunKey, (EsConfig, EsClient)>>,
}

impl Clients {
    /// The client built from `cfg` for this JobReset: the kept one if `cfg` is unchanged.
    pub fn get(&self, key: &RunKey, cfg: EsConfig) -> Result<EsClient, EsError> {
        let mut map = self.map();
        if let Some((kept, client)) = map.get(key)
            && *kept == cfg
        {
            return Ok(client.clone());
        }
        let client = EsClient::new(cfg.clone())?;
        map.insert(key.clone(), (cfg, client.clone()));
        Ok(client)
    }

    /// Runs a client is kept for.
    pub fn kept(&self) -> usize {
        self.map().len()
    }

    /// Drops the client of a JobReset that is gone or finished.
    pub fn forget(&self, key: &RunKey) {
        self.map().remove(key);
    }

    fn map(&self) -> MutexGuard<'_, HashMap<RunKey, (EsConfig, EsClient)>> {
        // Every change is one insert or remove, so a poisoned map is still consistent.
        self.by_run
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
        EsConfig {
            url: "http://127.0.0.1:9200".into(),
            auth: Some(Auth::Basic {
                username: "u".into(),
                password: password.into(),
            }),
            ca_pem: None,
            insecure_skip_verify: false,
            opaque_id: Some("jobreset/ns/a/uid".into()),
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
        assert_eq!(clients.map().len(), 1);
        let kept = |p: &str| clients.map().get(&a).is_some_and(|(c, _)| *c == cfg(p));
        assert!(kept("one"));
        clients.get(&a, cfg("rotated")).unwrap();
        assert!(kept("rotated"), "a rotated password builds a new client");
        clients.forget(&a);
        assert!(clients.map().is_empty());
    }
}
