//! Running probes (I/O): `check` does one HTTP GET (or TCP connect) over loopback with the
//! probe's timeout (2xx/3xx is a success), `spawn_worker` runs a probe on its own thread every
//! period and reports each result over a channel.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::probe::{Action, ProbeKind, Target};

/// Runs a probe once: `Ok(detail)` on success (an HTTP status 200..=399, or a TCP connect),
/// `Err(detail)` on failure.
pub(crate) fn check(t: &Target) -> Result<String, String> {
    let deadline = Instant::now() + t.timeout;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, t.host_port));
    let mut stream = TcpStream::connect_timeout(&addr, t.timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let Action::Http {
        path,
        headers,
        port: _,
    } = &t.action
    else {
        return Ok(format!("connected to {addr}"));
    };
    let mut head: Vec<(String, String)> = vec![
        ("Host".into(), addr.to_string()),
        ("User-Agent".into(), "kube-probe/1.33".into()),
        ("Accept".into(), "*/*".into()),
    ];
    for (name, value) in headers {
        head.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        head.push((name.clone(), value.clone()));
    }
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (n, v) in &head {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    let left = || deadline.saturating_duration_since(Instant::now());
    let timed_out = || format!("GET {addr}{path}: timed out after {:?}", t.timeout);
    if left().is_zero() {
        return Err(timed_out());
    }
    stream
        .set_write_timeout(Some(left()))
        .and_then(|()| stream.write_all(req.as_bytes()))
        .map_err(|e| format!("GET {addr}{path}: sending: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.windows(2).any(|w| w == b"\r\n") {
        if left().is_zero() {
            return Err(timed_out());
        }
        stream
            .set_read_timeout(Some(left()))
            .map_err(|e| format!("GET {addr}{path}: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(timed_out());
            }
            Err(e) => return Err(format!("GET {addr}{path}: reading: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&got);
    let line = text.lines().next().unwrap_or("");
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("GET {addr}{path}: not an HTTP status line: {line:?}"))?;
    if (200..400).contains(&code) {
        Ok(format!("GET {path}: {code}"))
    } else {
        Err(format!("GET {path}: HTTP {code}"))
    }
}

/// One probe result, tagged with the container run it belongs to.
#[derive(Debug)]
pub(crate) struct Report {
    pub container: usize,
    pub run: u32,
    pub kind: ProbeKind,
    pub result: Result<String, String>,
}

/// A probe running on its own thread; dropping it stops the thread (after the probe in
/// flight, if any).
pub(crate) struct Worker {
    _stop: mpsc::Sender<()>,
}

/// Probes `target` first at `first_at`, then every `period`, sending each result to `tx`.
pub(crate) fn spawn_worker(
    target: Target,
    first_at: Instant,
    period: Duration,
    tag: (usize, u32, ProbeKind),
    tx: mpsc::Sender<Report>,
) -> std::io::Result<Worker> {
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let (container, run, kind) = tag;
    std::thread::Builder::new()
        .name(format!("probe-{kind}"))
        .spawn(move || {
            let mut next = first_at;
            loop {
                let wait = next.saturating_duration_since(Instant::now());
                match stop_rx.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                next += period;
                let result = check(&target);
                let report = Report {
                    container,
                    run,
                    kind,
                    result,
                };
                if tx.send(report).is_err() {
                    return;
                }
            }
        })?;
    Ok(Worker { _stop: stop_tx })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pods::probe::PortRef;

    #[test]
    fn check_reads_the_status_line() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for answer in ["HTTP/1.1 204 No Content", "HTTP/1.1 500 Oops"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).unwrap();
                s.write_all(format!("{answer}\r\n\r\n").as_bytes()).unwrap();
            }
        });
        let target = Target {
            action: Action::Http {
                path: "/x".into(),
                port: PortRef::Number(port),
                headers: vec![],
            },
            host_port: port,
            timeout: Duration::from_secs(5),
        };
        assert!(check(&target).is_ok());
        assert!(check(&target).unwrap_err().contains("500"));
        server.join().unwrap();
        assert!(check(&target).is_err(), "nothing listens any more");
    }
}
