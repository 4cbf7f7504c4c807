//! Where reports go (`log_path`): standard error, standard output, or `<path>.<pid>`.

use alloc::format;
use core::sync::atomic::{AtomicI32, Ordering};

use gorace_engine::options::LogPath;

use crate::sys;

static FD: AtomicI32 = AtomicI32::new(2);

/// Opens the destination chosen by `log_path`. A file that cannot be created is
/// reported on standard error, in one line, and reports go to standard error instead.
pub fn open(path: &LogPath) {
    let fd = match path {
        LogPath::Stderr => 2,
        LogPath::Stdout => 1,
        LogPath::File(prefix) => {
            let name = format!("{prefix}.{}", sys::getpid());
            let mut c = name.clone().into_bytes();
            c.push(0);
            let flags = sys::O_WRONLY | sys::O_CREAT | sys::O_TRUNC | sys::O_CLOEXEC;
            let fd = sys::open(&c, flags, 0o644);
            if fd < 0 {
                write_fd(
                    2,
                    &format!(
                        "gorace: cannot create log file {name:?} (errno {}); reports go to \
                         stderr. Fix GORACE=log_path=... to name a writable location.\n",
                        -fd
                    ),
                );
                2
            } else {
                fd as i32
            }
        }
    };
    FD.store(fd, Ordering::Relaxed);
}

fn write_fd(fd: i32, text: &str) {
    sys::write_all(fd, text.as_bytes());
}

/// Writes `text` to the report destination in one piece.
pub fn write(text: &str) {
    write_fd(FD.load(Ordering::Relaxed), text);
}

/// Writes a diagnostic line to standard error.
pub fn warn(text: &str) {
    write_fd(2, text);
}
