//! Reading the process environment without libc: `/proc/self/environ`.

use alloc::string::String;
use alloc::vec::Vec;

use crate::sys;

/// The value of environment variable `name`, if set.
pub fn var(name: &str) -> Option<String> {
    let fd = sys::open(b"/proc/self/environ\0", sys::O_RDONLY | sys::O_CLOEXEC, 0);
    if fd < 0 {
        return None;
    }
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = sys::read(fd as i32, &mut buf);
        if n == -sys::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        data.extend_from_slice(&buf[..n as usize]);
    }
    sys::close(fd as i32);
    data.split(|&b| b == 0).find_map(|entry| {
        let rest = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(rest).into_owned())
    })
}
