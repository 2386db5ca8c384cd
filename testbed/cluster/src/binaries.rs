//! Finds the apiserver and etcd binaries: `KUBEBUILDER_ASSETS` first, else the provisioned
//! cache. Reads the environment and checks files; starts nothing.

use std::path::{Path, PathBuf};

use crate::error::BedError;

/// Which API server the binaries give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// The standalone `apiextensions-apiserver`: CRDs only, the front serves core/v1.
    ApiExtensions,
    /// A full `kube-apiserver` (from `KUBEBUILDER_ASSETS`): the front only forwards and records.
    Full,
}

#[derive(Debug, Clone)]
pub struct Binaries {
    pub apiserver: PathBuf,
    pub etcd: PathBuf,
    pub flavor: Flavor,
}

/// The cache directory the provisioning script fills (`K8S_APIEXT_CACHE` or `~/.cache/k8s-apiext`).
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("K8S_APIEXT_CACHE").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("k8s-apiext"))
}

fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Locates the binaries, or says in one line why the bed is unavailable.
pub fn locate() -> Result<Binaries, BedError> {
    let assets = std::env::var_os("KUBEBUILDER_ASSETS")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    locate_in(assets.as_deref(), cache_dir().as_deref())
}

/// `locate` with its two inputs explicit: `KUBEBUILDER_ASSETS` and the provisioning cache.
pub fn locate_in(assets: Option<&Path>, cache: Option<&Path>) -> Result<Binaries, BedError> {
    if let Some(dir) = assets {
        let apiserver = dir.join("kube-apiserver");
        let etcd = dir.join("etcd");
        if executable(&apiserver) && executable(&etcd) {
            return Ok(Binaries {
                apiserver,
                etcd,
                flavor: Flavor::Full,
            });
        }
        return Err(BedError::Unavailable {
            cause: format!(
                "KUBEBUILDER_ASSETS={} lacks executable kube-apiserver and etcd",
                dir.display()
            ),
        });
    }
    let Some(cache) = cache else {
        return Err(BedError::Unavailable {
            cause: "neither K8S_APIEXT_CACHE nor HOME is set".into(),
        });
    };
    let bin = cache.join("bin");
    let apiserver = bin.join("apiextensions-apiserver");
    let etcd = bin.join("etcd");
    if executable(&apiserver) && executable(&etcd) {
        return Ok(Binaries {
            apiserver,
            etcd,
            flavor: Flavor::ApiExtensions,
        });
    }
    // The provisioning script leaves its one-line failure here.
    let failure = std::fs::read_to_string(cache.join("last-failure"))
        .map(|s| format!(" (last attempt: {})", s.trim()))
        .unwrap_or_default();
    Err(BedError::Unavailable {
        cause: format!(
            "{} has no apiextensions-apiserver and etcd: run testbed/cluster/scripts/provision-apiserver.sh (or set KUBEBUILDER_ASSETS){failure}",
            bin.display()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("testbed-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn exe(path: &Path) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn missing_cache_is_unavailable_and_quotes_the_last_failure() {
        let cache = scratch("nocache");
        std::fs::write(
            cache.join("last-failure"),
            "provision-apiserver: FAILED: apt-get update\n",
        )
        .unwrap();
        match locate_in(None, Some(&cache)) {
            Err(BedError::Unavailable { cause }) => {
                assert!(cause.contains("provision-apiserver.sh"), "{cause}");
                assert!(cause.contains("FAILED: apt-get update"), "{cause}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        let _ = std::fs::remove_dir_all(cache);
    }

    #[test]
    fn kubebuilder_assets_win_over_the_cache() {
        let assets = scratch("assets");
        let cache = scratch("cache");
        std::fs::create_dir_all(cache.join("bin")).unwrap();
        exe(&cache.join("bin/apiextensions-apiserver"));
        exe(&cache.join("bin/etcd"));
        assert_eq!(
            locate_in(None, Some(&cache)).unwrap().flavor,
            Flavor::ApiExtensions
        );
        assert!(matches!(
            locate_in(Some(&assets), Some(&cache)),
            Err(BedError::Unavailable { .. })
        ));
        exe(&assets.join("kube-apiserver"));
        exe(&assets.join("etcd"));
        let found = locate_in(Some(&assets), Some(&cache)).unwrap();
        assert_eq!(found.flavor, Flavor::Full);
        assert_eq!(found.apiserver, assets.join("kube-apiserver"));
        let _ = std::fs::remove_dir_all(assets);
        let _ = std::fs::remove_dir_all(cache);
    }
}
