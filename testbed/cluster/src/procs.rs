//! Child processes (etcd, apiserver): spawned with their output in a log file and a parent-death
//! signal so nothing outlives the process that started them; stopped by their own PID, and
//! started again with the same command line.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::BedError;

pub struct Proc {
    pub name: String,
    pub pid: u32,
    pub log: PathBuf,
    program: PathBuf,
    args: Vec<String>,
    child: Mutex<Option<std::process::Child>>,
}

/// Spawns `program args…` with stdout/stderr appended to `log`.
///
/// The child gets `PR_SET_PDEATHSIG(SIGKILL)`: Linux delivers it when the *thread* that forked
/// exits, so callers spawn from a thread that lives as long as the bed.
pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Proc, BedError> {
    let out = std::fs::File::create(log).map_err(|e| BedError::io("creating log", log, e))?;
    spawn_logging(name, program, args, log, out)
}

fn spawn_logging(
    name: &str,
    program: &Path,
    args: &[String],
    log: &Path,
    out: std::fs::File,
) -> Result<Proc, BedError> {
    let err = out
        .try_clone()
        .map_err(|e| BedError::io("creating log", log, e))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe libc calls run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|source| BedError::Spawn {
        what: format!("{name} ({})", program.display()),
        source,
    })?;
    Ok(Proc {
        name: name.to_string(),
        pid: child.id(),
        log: log.to_path_buf(),
        program: program.to_path_buf(),
        args: args.to_vec(),
        child: Mutex::new(Some(child)),
    })
}

impl Proc {
    /// `Some(status)` once the process has exited.
    pub fn exited(&self) -> Option<ExitStatus> {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// The same command line again (stop this one first), its output appended to the log
    /// after a marker line. Same spawning-thread rule as `spawn`.
    pub fn respawn(&self) -> Result<Proc, BedError> {
        use std::io::Write;
        let mut out = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.log)
            .map_err(|e| BedError::io("opening log", &self.log, e))?;
        let _ = writeln!(out, "===== testbed: {} restarted =====", self.name);
        spawn_logging(&self.name, &self.program, &self.args, &self.log, out)
    }

    /// Last lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after `grace`; reaps the child. Idempotent.
    pub fn stop(&self, grace: Duration) {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut child) = guard.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        if let Ok(pid) = i32::try_from(self.pid) {
            // SAFETY: plain kill(2) on our own child's pid, which we have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(2));
    }
}
