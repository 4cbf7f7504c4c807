//! Builds the runtime object that `gorace` embeds.
//!
//! `gorace-rt` is compiled a second time, as a `staticlib` with the `rt` profile
//! (`panic = "abort"`, fat LTO, one codegen unit), emitting a single relocatable object.
//! `objcopy` then drops debug sections (Go's linker accepts few relocation types in
//! them) and localizes every symbol but the `__tsan_*` entry points, so our
//! `memcpy`/`memset` never meet libc's. The result must have no undefined symbols.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest
        .join("../..")
        .canonicalize()
        .expect("workspace root");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let target_dir = out.join("rt-target");

    for p in ["crates/rt", "crates/engine", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }

    let obj = match build_object(&root, &target_dir) {
        Some(obj) => obj,
        None => {
            // Cargo considered the crate fresh but the object is gone (it only tracks
            // the library it produced): forget the fingerprint and build again.
            if let Ok(entries) = fs::read_dir(target_dir.join("rt/.fingerprint")) {
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().starts_with("gorace-rt-") {
                        let _ = fs::remove_dir_all(e.path());
                    }
                }
            }
            build_object(&root, &target_dir).expect("cargo emitted gorace_rt-*.o")
        }
    };

    let dest = out.join("gorace_rt.o");
    let status = Command::new("objcopy")
        .args([
            "--strip-debug",
            "--wildcard",
            "--keep-global-symbol=__tsan_*",
        ])
        .arg(&obj)
        .arg(&dest)
        .status()
        .expect("running objcopy (binutils)");
    assert!(status.success(), "objcopy failed on {}", obj.display());

    let undefined = Command::new("nm")
        .arg("-u")
        .arg(&dest)
        .output()
        .expect("running nm");
    let undefined = String::from_utf8_lossy(&undefined.stdout);
    assert!(
        undefined.trim().is_empty(),
        "the runtime object must be freestanding, but it needs:\n{undefined}"
    );
    println!("cargo:rustc-env=GORACE_RT_OBJECT={}", dest.display());
}

/// Runs cargo for the runtime object; returns the newest `gorace_rt-*.o`.
fn build_object(root: &Path, target_dir: &Path) -> Option<PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["rustc", "--quiet", "-p", "gorace-rt", "--profile", "rt"])
        .args(["--crate-type", "staticlib", "--target-dir"])
        .arg(target_dir)
        .args(["--", "--emit=obj", "-C", "force-unwind-tables=no"]);
    // The outer build's settings (wrappers such as clippy-driver, target overrides,
    // flags meant for host code) must not leak into the runtime object.
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy();
        let outer = (k.starts_with("CARGO_") && k != "CARGO_HOME")
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTFLAGS")
            || k == "RUSTDOCFLAGS";
        if outer {
            cmd.env_remove(k.as_ref());
        }
    }
    let status = cmd.status().expect("running cargo for gorace-rt");
    assert!(status.success(), "building the runtime object failed");
    fs::read_dir(target_dir.join("rt/deps"))
        .ok()?
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("gorace_rt-") && n.ends_with(".o")
        })
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}
