//! Process-exit cleanup for beds that are never dropped (a shared bed lives in a static): an
//! `atexit` handler kills their etcd/apiserver and removes their temporary state directory
//! (etcd preallocates ~120 MB there). Signals processes and deletes files at exit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

struct Entry {
    id: u64,
    pids: Vec<u32>,
    dir: Option<PathBuf>,
}

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();
static NEXT: AtomicU64 = AtomicU64::new(1);

extern "C" fn at_exit() {
    // try_lock: never block process exit on a lock some thread held when exit began.
    let Ok(entries) = REGISTRY.try_lock() else {
        return;
    };
    for e in entries.iter() {
        for pid in &e.pids {
            if let Ok(pid) = i32::try_from(*pid) {
                // SAFETY: kill(2) on a child this process spawned and has not reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if let Some(dir) = &e.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Registers what to clean at exit; returns the id for `unregister`.
pub fn register(pids: Vec<u32>, dir: Option<PathBuf>) -> u64 {
    INSTALL.call_once(|| {
        // SAFETY: registering a plain extern "C" fn that does not unwind.
        unsafe {
            libc::atexit(at_exit);
        }
    });
    let id = NEXT.fetch_add(1, Ordering::SeqCst);
    REGISTRY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Entry { id, pids, dir });
    id
}

/// The bed was stopped normally: nothing left to do at exit.
pub fn unregister(id: u64) {
    REGISTRY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|e| e.id != id);
}

/// A registered process was restarted: kill `new` at exit instead of `old`.
pub fn replace_pid(id: u64, old: u32, new: u32) {
    let mut entries = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    for e in entries.iter_mut().filter(|e| e.id == id) {
        for pid in e.pids.iter_mut().filter(|p| **p == old) {
            *pid = new;
        }
    }
}
