//! Probes, no I/O: the spec with Kubernetes' defaults and validation, the port resolution
//! through the pod's port map, and the result tracking (consecutive successes/failures against
//! the thresholds). `prober` runs them.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Probe;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProbeKind::Startup => "startup",
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
        })
    }
}

/// A probe's port: a number or the name of one of the container's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Http {
        path: String,
        port: PortRef,
        headers: Vec<(String, String)>,
    },
    Tcp {
        port: PortRef,
    },
}

/// A validated probe with Kubernetes' defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProbeSpec {
    pub action: Action,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// `terminationGracePeriodSeconds` of the probe (overrides the pod's on a probe kill).
    pub grace: Option<Duration>,
}

fn positive(field: &str, v: Option<i32>, default: i32) -> Result<u32, String> {
    let v = v.unwrap_or(default);
    u32::try_from(v)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("{field} must be at least 1, got {v}"))
}

fn port_ref(p: &IntOrString) -> Result<PortRef, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n)
            .ok()
            .filter(|n| *n > 0)
            .map(PortRef::Number)
            .ok_or_else(|| format!("port {n} is out of range")),
        IntOrString::String(s) => match s.parse::<u16>() {
            Ok(n) if n > 0 => Ok(PortRef::Number(n)),
            _ if !s.is_empty() => Ok(PortRef::Name(s.clone())),
            _ => Err("port is empty".into()),
        },
    }
}

impl ProbeSpec {
    /// Validates a probe as the apiserver would; `Err` describes the problem. Only `httpGet`
    /// (HTTP) and `tcpSocket` are supported; `exec` and `grpc` are refused.
    pub fn parse(kind: ProbeKind, p: &Probe) -> Result<ProbeSpec, String> {
        let action = match (&p.http_get, &p.tcp_socket, &p.exec, &p.grpc) {
            (Some(h), None, None, None) => {
                if h.scheme.as_deref().is_some_and(|s| s != "HTTP") {
                    return Err(format!("httpGet scheme {:?} (only HTTP)", h.scheme));
                }
                let mut path = h.path.clone().unwrap_or_default();
                if !path.starts_with('/') {
                    path.insert(0, '/');
                }
                let headers = h
                    .http_headers
                    .iter()
                    .flatten()
                    .map(|h| (h.name.clone(), h.value.clone()))
                    .collect();
                Action::Http {
                    path,
                    port: port_ref(&h.port)?,
                    headers,
                }
            }
            (None, Some(t), None, None) => Action::Tcp {
                port: port_ref(&t.port)?,
            },
            (None, None, Some(_), None) => return Err("exec probes are not supported".into()),
            (None, None, None, Some(_)) => return Err("grpc probes are not supported".into()),
            (None, None, None, None) => return Err("no probe handler".into()),
            _ => return Err("more than one probe handler".into()),
        };
        let initial = p.initial_delay_seconds.unwrap_or(0);
        let initial = u64::try_from(initial)
            .map_err(|_| format!("initialDelaySeconds must not be negative, got {initial}"))?;
        let success_threshold = positive("successThreshold", p.success_threshold, 1)?;
        if kind != ProbeKind::Readiness && success_threshold != 1 {
            return Err(format!("successThreshold of a {kind} probe must be 1"));
        }
        let grace = match p.termination_grace_period_seconds {
            None => None,
            Some(s) => Some(Duration::from_secs(u64::try_from(s).map_err(|_| {
                format!("terminationGracePeriodSeconds must not be negative, got {s}")
            })?)),
        };
        Ok(ProbeSpec {
            action,
            initial_delay: Duration::from_secs(initial),
            period: Duration::from_secs(positive("periodSeconds", p.period_seconds, 10)?.into()),
            timeout: Duration::from_secs(positive("timeoutSeconds", p.timeout_seconds, 1)?.into()),
            success_threshold,
            failure_threshold: positive("failureThreshold", p.failure_threshold, 3)?,
            grace,
        })
    }

    pub fn port(&self) -> &PortRef {
        match &self.action {
            Action::Http { port, .. } | Action::Tcp { port } => port,
        }
    }
}

/// Consecutive results against the thresholds, as the kubelet's probe worker counts them.
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    success_threshold: u32,
    failure_threshold: u32,
    last: Option<bool>,
    run: u32,
    result: bool,
}

impl Tracker {
    /// `initial`: the result before any probe ran (readiness and startup: false; liveness: true).
    pub fn new(spec: &ProbeSpec, initial: bool) -> Tracker {
        Tracker {
            success_threshold: spec.success_threshold,
            failure_threshold: spec.failure_threshold,
            last: None,
            run: 0,
            result: initial,
        }
    }

    /// Records one probe result and returns the (possibly changed) overall result: it turns
    /// true after `successThreshold` successes in a row, false after `failureThreshold`
    /// failures in a row.
    pub fn observe(&mut self, ok: bool) -> bool {
        if self.last == Some(ok) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(ok);
            self.run = 1;
        }
        if ok && self.run >= self.success_threshold {
            self.result = true;
        }
        if !ok && self.run >= self.failure_threshold {
            self.result = false;
        }
        self.result
    }

    /// `failureThreshold` failures in a row (what kills a container for liveness/startup).
    pub fn failed(&self) -> bool {
        self.last == Some(false) && self.run >= self.failure_threshold
    }
}

/// A probe resolved for one pod: the loopback port to hit.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub action: Action,
    pub host_port: u16,
    pub timeout: Duration,
}

impl Target {
    /// Resolves the probe's port: a name through the container's ports, then a container port
    /// through the pod's port map (containerPort -> loopback port); an unmapped number is used
    /// as it is.
    pub fn resolve(
        spec: &ProbeSpec,
        named: &BTreeMap<String, u16>,
        ports: &BTreeMap<u16, u16>,
    ) -> Result<Target, String> {
        let container_port = match spec.port() {
            PortRef::Number(n) => *n,
            PortRef::Name(name) => *named
                .get(name)
                .ok_or_else(|| format!("probe port {name:?} names no port of the container"))?,
        };
        Ok(Target {
            action: spec.action.clone(),
            host_port: ports
                .get(&container_port)
                .copied()
                .unwrap_or(container_port),
            timeout: spec.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::HTTPGetAction;

    fn http_probe(port: IntOrString) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some("healthz".into()),
                port,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_and_validation() {
        let s = ProbeSpec::parse(ProbeKind::Liveness, &http_probe(IntOrString::Int(8080))).unwrap();
        assert_eq!(s.period, Duration::from_secs(10));
        assert_eq!(s.timeout, Duration::from_secs(1));
        assert_eq!((s.failure_threshold, s.success_threshold), (3, 1));
        assert!(matches!(&s.action, Action::Http { path, .. } if path == "/healthz"));
        let mut p = http_probe(IntOrString::String("metrics".into()));
        assert_eq!(
            ProbeSpec::parse(ProbeKind::Readiness, &p).unwrap().port(),
            &PortRef::Name("metrics".into())
        );
        p.success_threshold = Some(2);
        assert!(ProbeSpec::parse(ProbeKind::Readiness, &p).is_ok());
        assert!(ProbeSpec::parse(ProbeKind::Liveness, &p).is_err());
        p.period_seconds = Some(0);
        assert!(ProbeSpec::parse(ProbeKind::Readiness, &p).is_err());
        assert!(ProbeSpec::parse(ProbeKind::Readiness, &Probe::default()).is_err());
        assert!(
            ProbeSpec::parse(ProbeKind::Readiness, &http_probe(IntOrString::Int(70000))).is_err()
        );
    }

    #[test]
    fn tracker_counts_runs_against_thresholds() {
        let mut p = http_probe(IntOrString::Int(1));
        p.success_threshold = Some(2);
        let spec = ProbeSpec::parse(ProbeKind::Readiness, &p).unwrap();
        let mut t = Tracker::new(&spec, false);
        assert!(!t.observe(true));
        assert!(t.observe(true));
        assert!(t.observe(false) && t.observe(false));
        assert!(!t.failed());
        assert!(!t.observe(false));
        assert!(t.failed());
        assert!(!t.observe(true));
        assert!(t.observe(true));
    }

    #[test]
    fn named_and_mapped_ports_resolve() {
        let spec = ProbeSpec::parse(
            ProbeKind::Liveness,
            &http_probe(IntOrString::String("metrics".into())),
        )
        .unwrap();
        let named = BTreeMap::from([("metrics".to_string(), 8080)]);
        let ports = BTreeMap::from([(8080, 40001)]);
        assert_eq!(
            Target::resolve(&spec, &named, &ports).unwrap().host_port,
            40001
        );
        assert!(Target::resolve(&spec, &BTreeMap::new(), &ports).is_err());
        let spec =
            ProbeSpec::parse(ProbeKind::Liveness, &http_probe(IntOrString::Int(9000))).unwrap();
        assert_eq!(
            Target::resolve(&spec, &named, &ports).unwrap().host_port,
            9000
        );
    }
}
