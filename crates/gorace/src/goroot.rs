//! The shadow GOROOT: a mirror of the user's GOROOT (real directories, files hard-linked,
//! or symlinked where hard links are not allowed), with gorace's runtime object in place
//! of the stock `race_linux.syso`, plus a build cache of its own. Real directories keep
//! tools that walk GOROOT (and tests such as path/filepath's) working as on the real one.
//!
//! Go links the race runtime from `src/runtime/race/internal/amd64v{1,3}/race_linux.syso`
//! and caches the compiled `runtime/race` package under a key that does not see the
//! `.syso` (so `-overlay` cannot swap it). A separate GOROOT with a separate GOCACHE
//! can. Both live under the user cache directory, keyed by Go version, GOROOT path and
//! runtime hash; the tree is built in a temporary directory and renamed into place, so
//! concurrent first runs are safe. The real GOROOT and the user's cache are never
//! written.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::toolchain::Toolchain;

/// File in a shadow GOROOT holding the real GOROOT's path.
pub const MARKER: &str = ".gorace-shadow";

/// Version of the tree layout, part of the cache key.
const LAYOUT: &str = "t2";

/// The files replaced by the runtime object.
const OBJECTS: &[&str] = &[
    "src/runtime/race/internal/amd64v1/race_linux.syso",
    "src/runtime/race/internal/amd64v3/race_linux.syso",
];

/// A ready shadow GOROOT.
#[derive(Debug, Clone)]
pub struct Shadow {
    pub goroot: PathBuf,
    pub gocache: PathBuf,
    pub real: PathBuf,
}

/// Short hex digest.
pub fn digest(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// gorace's cache directory: `$GORACE_CACHE`, else `$XDG_CACHE_HOME/gorace`, else
/// `~/.cache/gorace`.
pub fn cache_base() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("GORACE_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("gorace"));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty()).context(
        "cannot find a cache directory: set GORACE_CACHE (or HOME) to a writable directory",
    )?;
    Ok(PathBuf::from(home).join(".cache/gorace"))
}

/// Creates (once) and returns the shadow GOROOT for `tc` and `object`.
pub fn ensure(tc: &Toolchain, object: &[u8], base: &Path) -> Result<Shadow> {
    let key = format!(
        "{}-{LAYOUT}-{}-{}",
        tc.version,
        digest(tc.goroot.to_string_lossy().as_bytes()),
        digest(object)
    );
    let dir = base.join(key);
    let goroot = dir.join("goroot");
    let gocache = dir.join("gocache");
    let unwritable = |e: io::Error| {
        anyhow::anyhow!(
            "cannot write gorace's cache directory {}: {e}; set GORACE_CACHE to a writable directory",
            dir.display()
        )
    };
    fs::create_dir_all(&gocache).map_err(unwritable)?;
    if !goroot.join(MARKER).is_file() {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("goroot.tmp-{}-{seq}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        build_tree(&tc.goroot, &tmp, object).map_err(unwritable)?;
        if let Err(e) = fs::rename(&tmp, &goroot) {
            // Another gorace finished first: use its tree.
            let _ = fs::remove_dir_all(&tmp);
            if !goroot.join(MARKER).is_file() {
                return Err(unwritable(e));
            }
        }
    }
    Ok(Shadow {
        goroot,
        gocache,
        real: tc.goroot.clone(),
    })
}

fn build_tree(real: &Path, shadow: &Path, object: &[u8]) -> io::Result<()> {
    mirror(real, shadow)?;
    for rel in OBJECTS {
        let s = shadow.join(rel);
        if let Some(dir) = s.parent() {
            fs::create_dir_all(dir)?;
        }
        if s.symlink_metadata().is_ok() {
            fs::remove_file(&s)?;
        }
        fs::write(&s, object)?;
    }
    fs::write(shadow.join(MARKER), real.to_string_lossy().as_bytes())
}

/// Recreates the directory `real` at `shadow`: directories as directories, files as
/// hard links (symlinks when the file system refuses), symlinks as the same symlinks.
fn mirror(real: &Path, shadow: &Path) -> io::Result<()> {
    fs::create_dir_all(shadow)?;
    for e in fs::read_dir(real)? {
        let e = e?;
        let (from, to) = (e.path(), shadow.join(e.file_name()));
        let kind = e.file_type()?;
        if kind.is_dir() {
            mirror(&from, &to)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if fs::hard_link(&from, &to).is_err() {
            std::os::unix::fs::symlink(&from, &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_goroot(root: &Path) {
        fs::create_dir_all(root.join("src/runtime/race/internal/amd64v1")).unwrap();
        fs::create_dir_all(root.join("src/runtime/race/internal/amd64v3")).unwrap();
        fs::create_dir_all(root.join("src/unicode/utf8")).unwrap();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(root.join("bin/go"), "real go").unwrap();
        fs::write(root.join("src/runtime/proc.go"), "package runtime").unwrap();
        fs::write(
            OBJECTS.iter().map(|o| root.join(o)).next().unwrap(),
            "stock",
        )
        .unwrap();
        fs::write(root.join(OBJECTS[1]), "stock v3").unwrap();
        fs::write(
            root.join("src/runtime/race/internal/amd64v1/doc.go"),
            "package amd64v1",
        )
        .unwrap();
    }

    #[test]
    fn shadow_replaces_only_the_runtime_object() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("go");
        fake_goroot(&real);
        let tc = Toolchain {
            goroot: real.clone(),
            version: "go1.27.3".into(),
        };
        let s = ensure(&tc, b"gorace object", &tmp.path().join("cache")).unwrap();
        for o in OBJECTS {
            assert_eq!(fs::read(s.goroot.join(o)).unwrap(), b"gorace object");
        }
        assert_eq!(
            fs::read(real.join(OBJECTS[0])).unwrap(),
            b"stock",
            "real GOROOT untouched"
        );
        for dir in ["bin", "src", "src/runtime", "src/unicode/utf8"] {
            let m = s.goroot.join(dir).symlink_metadata().unwrap();
            assert!(
                m.is_dir(),
                "{dir} is a real directory (tree walkers descend into it)"
            );
        }
        assert_eq!(fs::read(s.goroot.join("bin/go")).unwrap(), b"real go");
        assert_eq!(
            fs::read(s.goroot.join("src/runtime/race/internal/amd64v1/doc.go")).unwrap(),
            b"package amd64v1"
        );
        assert_eq!(
            fs::read_to_string(s.goroot.join(MARKER)).unwrap(),
            real.to_string_lossy()
        );
        assert!(s.gocache.is_dir());
        // Idempotent, and a different object gets a different tree.
        assert_eq!(
            ensure(&tc, b"gorace object", &tmp.path().join("cache"))
                .unwrap()
                .goroot,
            s.goroot
        );
        let s2 = ensure(&tc, b"another object", &tmp.path().join("cache")).unwrap();
        assert_ne!(s2.goroot, s.goroot);
    }

    #[test]
    fn concurrent_first_runs_agree() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("go");
        fake_goroot(&real);
        let tc = Toolchain {
            goroot: real,
            version: "go1.27.3".into(),
        };
        let base = tmp.path().join("cache");
        let roots: Vec<PathBuf> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| sc.spawn(|| ensure(&tc, b"obj", &base).unwrap().goroot))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(roots.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(fs::read(roots[0].join(OBJECTS[0])).unwrap(), b"obj");
    }

    #[test]
    fn unwritable_cache_is_one_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("go");
        fake_goroot(&real);
        let tc = Toolchain {
            goroot: real,
            version: "go1.27.3".into(),
        };
        let file = tmp.path().join("not-a-dir");
        fs::write(&file, "").unwrap();
        let e = ensure(&tc, b"obj", &file).unwrap_err().to_string();
        assert!(e.contains("GORACE_CACHE") && !e.contains('\n'), "{e}");
    }
}
