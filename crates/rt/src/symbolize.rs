//! Symbolisation through the Go runtime's callback (`runtime.racecallbackthunk`).
//!
//! Go passes the callback to `__tsan_init`. Command 1 fills a
//! `symbolizeCodeContext {pc, fn, file, line, off, res}` for a pc; when the pc is in
//! inlined code Go describes the inlined function and rewrites `pc` to a pc in the
//! enclosing function, so we call again until `pc` comes back unchanged, one frame per
//! call. Names and files point into the binary and live forever.
//!
//! Only call this while serving a call from a user goroutine (the report path).
//!
//! File names: `gorace` builds through a shadow GOROOT, so the binary's standard-library
//! file names start with the shadow's path. They are shown with the real GOROOT's path
//! instead: from `GORACE_SHADOW_GOROOT`/`GORACE_REAL_GOROOT` when `gorace` runs the
//! program, else found through the marker file `.gorace-shadow` (holding the real path)
//! at the root of the shadow tree, for binaries from `gorace build` run directly.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use gorace_engine::report::{Frame, Symbolize};

use crate::{env, sys};

/// `(shadow GOROOT, real GOROOT)` once known.
static GOROOT_MAP: gorace_engine::lock::Mutex<Option<(String, String)>> =
    gorace_engine::lock::Mutex::new(None);

/// Takes the GOROOT mapping from the environment, if `gorace` set it.
pub fn init_goroot_map() {
    if let (Some(shadow), Some(real)) = (
        env::var("GORACE_SHADOW_GOROOT"),
        env::var("GORACE_REAL_GOROOT"),
    ) {
        *GOROOT_MAP.lock() = Some((shadow, real));
    }
}

/// Reads a small file (the shadow marker) whole.
fn read_file(path: &str) -> Option<String> {
    let mut c = String::from(path).into_bytes();
    c.push(0);
    let fd = sys::open(&c, sys::O_RDONLY | sys::O_CLOEXEC, 0);
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 4096];
    let n = sys::read(fd as i32, &mut buf);
    sys::close(fd as i32);
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).trim().into())
}

/// The real-GOROOT name of `file`.
fn real_path(file: String) -> String {
    let mut map = GOROOT_MAP.lock();
    if map.is_none() {
        // A shadow tree is `<cache>/<key>/goroot`; its marker names the real GOROOT.
        if let Some(i) = file.find("/goroot/src/") {
            let root = &file[..i + "/goroot".len()];
            if let Some(real) = read_file(&alloc::format!("{root}/.gorace-shadow")) {
                *map = Some((root.into(), real));
            }
        }
    }
    match &*map {
        Some((shadow, real)) if file.starts_with(shadow.as_str()) => {
            alloc::format!("{real}{}", &file[shadow.len()..])
        }
        _ => file,
    }
}

/// The callback's address, set once by `__tsan_init`.
pub static CALLBACK: AtomicUsize = AtomicUsize::new(0);

const CMD_SYMBOLIZE_CODE: usize = 1;

#[repr(C)]
struct CodeContext {
    pc: usize,
    func: *const u8,
    file: *const u8,
    line: usize,
    off: usize,
    res: usize,
}

fn c_str(p: *const u8) -> String {
    if p.is_null() {
        return String::from("??");
    }
    let mut n = 0;
    // SAFETY: Go hands out NUL-terminated strings that live as long as the binary.
    unsafe {
        while *p.add(n) != 0 {
            n += 1;
        }
        String::from_utf8_lossy(core::slice::from_raw_parts(p, n)).into_owned()
    }
}

/// The Go runtime's symbolizer.
pub struct GoSymbolizer;

impl Symbolize for GoSymbolizer {
    fn frames(&mut self, pc: u64, out: &mut Vec<Frame>) {
        let cb = CALLBACK.load(Ordering::Relaxed);
        if cb == 0 {
            return;
        }
        // SAFETY: CALLBACK holds the function pointer Go passed to __tsan_init, which
        // follows the C calling convention with (command, context) arguments.
        let cb: extern "C" fn(usize, *mut CodeContext) = unsafe { core::mem::transmute(cb) };
        // Return address minus one: a pc inside the call instruction.
        let mut pc = (pc as usize).wrapping_sub(1);
        for _ in 0..64 {
            let mut ctx = CodeContext {
                pc,
                func: core::ptr::null(),
                file: core::ptr::null(),
                line: 0,
                off: 0,
                res: 0,
            };
            cb(CMD_SYMBOLIZE_CODE, &mut ctx);
            if ctx.res == 0 {
                return;
            }
            out.push(Frame {
                func: c_str(ctx.func),
                file: real_path(c_str(ctx.file)),
                line: ctx.line as u64,
                offset: ctx.off as u64,
            });
            if ctx.pc == pc {
                return; // the physical (non-inlined) function: done
            }
            pc = ctx.pc;
        }
    }
}
