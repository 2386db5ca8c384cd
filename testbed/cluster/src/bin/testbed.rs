//! testbed: brings the test bed up and down from a shell.
//!
//! `up` spawns a detached `serve` child (own session) and returns once everything answers;
//! `serve` runs the bed in the foreground until SIGTERM/SIGINT; `down` stops what `up` started;
//! `check` says whether the apiserver binaries are available.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use testbed::{Options, SimConfig, TestBed};

#[derive(Parser)]
#[command(about = "A real Kubernetes API server with a core/v1 front, plus the ES ML simulator")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct BedArgs {
    /// Directory for PKI, logs, etcd data, `kubeconfig`, `env` and pid files.
    #[arg(long)]
    state_dir: PathBuf,
    /// CRD manifests to install (default: the `crds/` of the nearest ancestor holding one).
    #[arg(long)]
    crds: Option<PathBuf>,
    /// Do not start the Elasticsearch ML simulator.
    #[arg(long)]
    no_es: bool,
    /// How long a reset takes in the simulator (e.g. `500ms`, `3s`).
    #[arg(long, value_parser = parse_duration, default_value = "200ms")]
    es_reset_duration: Duration,
    /// Elasticsearch version the simulator imitates.
    #[arg(long, default_value = "8.15.0")]
    es_version: String,
}

/// `<n>ms` or `<n>s`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 500ms or 3s");
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().map(Duration::from_millis).map_err(|_| bad());
    }
    s.strip_suffix('s')
        .ok_or_else(bad)?
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| bad())
}

#[derive(Subcommand)]
enum Cmd {
    /// Start everything detached; return once it answers.
    Up(BedArgs),
    /// Run everything in the foreground (what `up` spawns).
    Serve(BedArgs),
    /// Stop what `up` started in this state directory.
    Down {
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Exit 0 if the apiserver and etcd binaries are available, else print why and exit 1.
    Check,
}

const UP_DEADLINE: Duration = Duration::from_secs(120);
const DOWN_DEADLINE: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Check => testbed::binaries::locate()
            .map(|b| println!("ok: {} and {}", b.apiserver.display(), b.etcd.display()))
            .map_err(|e| e.to_string()),
        Cmd::Up(args) => up(&args),
        Cmd::Serve(args) => serve(args),
        Cmd::Down { state_dir } => down(&state_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testbed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The files that say a bed runs in a state directory; removed when it stops.
const RUN_FILES: [&str; 4] = ["ready", "testbed.pid", "etcd.pid", "apiserver.pid"];

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn signal(pid: u32, sig: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a pid we recorded ourselves.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn up(args: &BedArgs) -> Result<(), String> {
    testbed::binaries::locate().map_err(|e| e.to_string())?;
    let dir = &args.state_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("resolving {}: {e}", dir.display()))?;
    if let Some(pid) = read_pid(&dir.join("testbed.pid"))
        && alive(pid)
    {
        return Err(format!(
            "a test bed (pid {pid}) already runs in {}: `testbed down --state-dir {}` first",
            dir.display(),
            dir.display()
        ));
    }
    let ready = dir.join("ready");
    let _ = std::fs::remove_file(&ready);
    let exe = std::env::current_exe().map_err(|e| format!("locating myself: {e}"))?;
    let log_path = dir.join("serve.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("serve").arg("--state-dir").arg(&dir);
    if let Some(crds) = &args.crds {
        cmd.arg("--crds").arg(crds);
    }
    if args.no_es {
        cmd.arg("--no-es");
    }
    cmd.arg("--es-reset-duration")
        .arg(format!("{}ms", args.es_reset_duration.as_millis()))
        .arg("--es-version")
        .arg(&args.es_version);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2));
    use std::os::unix::process::CommandExt;
    // SAFETY: setsid(2) is async-signal-safe; it detaches the child from our session.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("spawning serve: {e}"))?;
    let deadline = Instant::now() + UP_DEADLINE;
    loop {
        if ready.exists() {
            let env = std::fs::read_to_string(dir.join("env")).unwrap_or_default();
            print!("{env}");
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("serve exited ({status}):\n{log}"));
        }
        if Instant::now() > deadline {
            signal(child.id(), libc::SIGTERM);
            return Err(format!(
                "not ready after {UP_DEADLINE:?}; see {}",
                log_path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn serve(args: BedArgs) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async move {
        let dir = args.state_dir;
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let bed = TestBed::start(Options {
            crds_dir: args.crds.unwrap_or_else(testbed::workspace_crds_dir),
            state_dir: Some(dir.clone()),
            with_es: if args.no_es {
                None
            } else {
                Some(SimConfig {
                    reset_duration: args.es_reset_duration,
                    version: args.es_version,
                    ..SimConfig::default()
                })
            },
        })
        .await
        .map_err(|e| e.to_string())?;
        let Some((etcd, apiserver)) = bed.child_pids() else {
            return Err("the bed has no processes of its own".to_string());
        };
        let mut env = format!("KUBECONFIG={}\n", bed.kubeconfig_path().display());
        if let Some(url) = bed.es_url() {
            env.push_str(&format!("ES_URL={url}\n"));
        }
        let write = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| format!("writing {}: {e}", p.display()))
        };
        write("env", env)?;
        write("testbed.pid", format!("{}\n", std::process::id()))?;
        write("etcd.pid", format!("{etcd}\n"))?;
        write("apiserver.pid", format!("{apiserver}\n"))?;
        write("ready", String::new())?;
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        bed.stop();
        for f in RUN_FILES {
            let _ = std::fs::remove_file(dir.join(f));
        }
        Ok(())
    })
}

fn down(dir: &Path) -> Result<(), String> {
    let pid_file = dir.join("testbed.pid");
    let Some(pid) = read_pid(&pid_file) else {
        println!("no test bed recorded in {}", dir.display());
        return Ok(());
    };
    let children: Vec<u32> = ["etcd.pid", "apiserver.pid"]
        .iter()
        .filter_map(|f| read_pid(&dir.join(f)))
        .collect();
    if alive(pid) {
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + DOWN_DEADLINE;
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            signal(pid, libc::SIGKILL);
        }
    }
    // The parent-death signal already took them; this covers a pid file from a crashed run,
    // checking the command line so a recycled pid is left alone.
    let marker = dir.display().to_string();
    for child in children {
        let cmdline = std::fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        if alive(child) && String::from_utf8_lossy(&cmdline).contains(&marker) {
            signal(child, libc::SIGKILL);
        }
    }
    for f in RUN_FILES {
        let _ = std::fs::remove_file(dir.join(f));
    }
    println!("stopped test bed {pid} in {}", dir.display());
    Ok(())
}
