//! Port remapping, the one deliberate difference from a kubelet: pods share the host's
//! network, so each `containerPort` of each pod gets a free port of its own (found by binding
//! it, the only I/O here) and every `:<containerPort>` in the container's arguments is
//! rewritten to it (pure).

use std::collections::{BTreeMap, HashSet};
use std::net::{Ipv4Addr, TcpListener};

use super::error::PodError;
use super::spec::random_u64;

/// Replaces `:<port>` with `:<mapped>` wherever the digits after a `:` (all of them) form a
/// mapped port, i.e. `:<port>` at the end of the argument or followed by a non-digit:
/// `--listen=0.0.0.0:8080` and `http://localhost:8080/x` are rewritten, `:80801` is not.
pub(crate) fn rewrite_arg(arg: &str, ports: &BTreeMap<u16, u16>) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(i) = rest.find(':') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let mapped = rest[..digits]
            .parse::<u16>()
            .ok()
            .and_then(|p| ports.get(&p));
        match mapped {
            Some(m) if digits > 0 => out.push_str(&m.to_string()),
            _ => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// The low end of the kernel's ephemeral range (ports it hands out for outgoing connections),
/// so the ports chosen here never collide with a connection's local port.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

fn bindable(port: u16) -> Option<u16> {
    let l = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).ok()?;
    l.local_addr().ok().map(|a| a.port())
}

/// Finds a free port for each of `container_ports` (none of them in `taken`, which the new
/// ports are added to): a random one below the ephemeral range that can be bound on every
/// address, else one the kernel picks.
pub(crate) fn allocate(
    pod: &str,
    container_ports: &[u16],
    taken: &mut HashSet<u16>,
) -> Result<BTreeMap<u16, u16>, PodError> {
    const LOW: u16 = 20000;
    let high = ephemeral_low();
    let mut map = BTreeMap::new();
    for &cp in container_ports {
        if map.contains_key(&cp) {
            continue;
        }
        let mut found = None;
        for _ in 0..64 {
            let candidate = if high > LOW + 100 {
                // `high - LOW` fits in u16, so the remainder does too.
                LOW + (random_u64() % u64::from(high - LOW)) as u16
            } else {
                0
            };
            if let Some(p) = bindable(candidate).filter(|p| !taken.contains(p)) {
                found = Some(p);
                break;
            }
        }
        let port = found.ok_or_else(|| PodError::Port {
            pod: pod.to_string(),
            container_port: cp,
            detail: "64 attempts to bind a free port failed".into(),
        })?;
        taken.insert(port);
        map.insert(cp, port);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_whole_mapped_ports_after_a_colon() {
        let ports = BTreeMap::from([(8080, 40001), (80, 40002)]);
        let cases = [
            (
                "--metrics-addr=0.0.0.0:8080",
                "--metrics-addr=0.0.0.0:40001",
            ),
            ("http://localhost:8080/x", "http://localhost:40001/x"),
            (":80", ":40002"),
            ("a:80,b:8080", "a:40002,b:40001"),
            ("0.0.0.0:80801", "0.0.0.0:80801"),
            ("8080", "8080"),
            ("--port=8080", "--port=8080"),
            ("x:", "x:"),
            ("::9", "::9"),
            ("é:8080ü", "é:40001ü"),
        ];
        for (arg, want) in cases {
            assert_eq!(rewrite_arg(arg, &ports), want, "{arg}");
        }
    }

    #[test]
    fn allocates_distinct_free_ports() {
        let mut taken = HashSet::new();
        let a = allocate("p", &[8080, 9090, 8080], &mut taken).unwrap();
        let b = allocate("q", &[8080], &mut taken).unwrap();
        assert_eq!(a.len(), 2);
        assert_ne!(a[&8080], b[&8080]);
        assert_ne!(a[&8080], a[&9090]);
        assert_eq!(taken.len(), 3);
        assert!(TcpListener::bind(("0.0.0.0", b[&8080])).is_ok());
    }
}
