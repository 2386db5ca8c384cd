//! One container run as a local process (I/O): spawned with its output appended to the
//! container's log file between separator lines, in its own process group, with a
//! parent-death signal; signalled, polled and reaped by the pod's thread only.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};

use super::pod_plan::ContainerRun;

/// How a container's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContainerExit {
    /// The exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
}

impl std::fmt::Display for ContainerExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.code, self.signal) {
            (Some(c), _) => write!(f, "exit code {c}"),
            (None, Some(s)) => write!(f, "killed by signal {s}"),
            (None, None) => f.write_str("unknown status"),
        }
    }
}

/// A running container process. Dropping it kills its process group and reaps it.
pub(crate) struct Process {
    child: Option<Child>,
    pub pid: u32,
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Appends one separator line to the container's log.
pub(crate) fn log_line(run: &ContainerRun, text: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(&run.log) {
        let _ = writeln!(
            f,
            "===== testbed pod runner {}: {text} =====",
            now_rfc3339()
        );
    }
}

/// Starts the container's process: `program args…` with exactly `run.env` as its
/// environment, stdin from /dev/null, stdout and stderr appended to the log.
pub(crate) fn spawn(run: &ContainerRun, restart_count: u32) -> std::io::Result<Process> {
    log_line(
        run,
        &format!(
            "container {} starting (restart count {restart_count})",
            run.name
        ),
    );
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&run.log)?;
    let err = out.try_clone()?;
    let mut cmd = Command::new(&run.program);
    cmd.args(&run.args)
        .env_clear()
        .envs(run.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // SAFETY: only async-signal-safe libc calls run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Dies with the pod's thread (i.e. with the runner, or with the test process).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Its own process group: terminal signals do not reach it, and the whole group
            // (what the container would hold) can be killed at once.
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(Process {
        pid: child.id(),
        child: Some(child),
    })
}

fn pid_t(pid: u32) -> Option<libc::pid_t> {
    libc::pid_t::try_from(pid).ok().filter(|p| *p > 0)
}

impl Process {
    /// Sends `signal` to the container's main process.
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        let Some(pid) = pid_t(self.pid).filter(|_| self.child.is_some()) else {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        };
        // SAFETY: kill(2) on our own child, not reaped yet (only `poll` and `drop` reap it),
        // so the pid cannot have been reused.
        if unsafe { libc::kill(pid, signal) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn kill_group(&self) {
        if let Some(pid) = pid_t(self.pid) {
            // SAFETY: kill(2) of the process group our unreaped child leads; the group id
            // cannot be reused while the child is not reaped.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }

    /// `Some` once the main process has exited: what is left of its group is killed, then it
    /// is reaped.
    pub fn poll(&mut self) -> Option<ContainerExit> {
        let pid = pid_t(self.pid)?;
        self.child.as_ref()?;
        // SAFETY: waitid(2) with WNOWAIT only looks at the child's state; `info` is a plain
        // struct the kernel fills in.
        let exited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            rc == 0 && info.si_pid() == pid
        };
        if !exited {
            return None;
        }
        self.kill_group();
        let mut child = self.child.take()?;
        Some(match child.wait() {
            Ok(status) => ContainerExit {
                code: status.code(),
                signal: status.signal(),
            },
            Err(_) => ContainerExit {
                code: None,
                signal: None,
            },
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.kill_group();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
