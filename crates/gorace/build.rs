//! Builds the runtime object that `gorace` embeds.
//!
//! `gorace-rt` is compiled a second time, as a `staticlib` with the `rt` profile
//! (`panic = "abort"`, fat LTO, one codegen unit), emitting a single relocatable object.
//! `objcopy` then drops debug sections (Go's linker accepts few relocation types in
//! them) and localizes every symbol but the `__tsan_*` entry points, so our
//! `memcpy`/`memset` never meet libc's. The result must have no undefined symbols.

use std::env;
use std::fs;
use std::path::PathBuf;
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

    let deps = target_dir.join("rt/deps");
    if let Ok(entries) = fs::read_dir(&deps) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("gorace_rt-") && name.ends_with(".o") {
                let _ = fs::remove_file(e.path());
            }
        }
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["rustc", "--quiet", "-p", "gorace-rt", "--profile", "rt"])
        .args(["--crate-type", "staticlib", "--target-dir"])
        .arg(&target_dir)
        .args(["--", "--emit=obj", "-C", "force-unwind-tables=no"]);
    // The outer build's settings (wrappers such as clippy-driver, target overrides,
    // flags meant for host code) must not leak into the runtime object.
    for (k, _) in env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO_") && k != "CARGO_HOME"
            || k.starts_with("RUSTC")
            || k.starts_with("RUSTFLAGS")
            || k == "RUSTDOCFLAGS"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    let status = cmd.status().expect("running cargo for gorace-rt");
    assert!(status.success(), "building the runtime object failed");

    let obj = fs::read_dir(&deps)
        .expect("rt deps dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("gorace_rt-") && n.ends_with(".o")
        })
        .expect("cargo emitted gorace_rt-*.o");

    let dest = out.join("gorace_rt.o");
    run(Command::new("objcopy")
        .args([
            "--strip-debug",
            "--wildcard",
            "--keep-global-symbol=__tsan_*",
        ])
        .arg(&obj)
        .arg(&dest));

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

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed");
}
