//! Which Go release built the program: the version string the linker writes into the
//! executable's `.go.buildinfo` section (what `go version prog` prints).
//!
//! Some of Go's `g` fields change meaning between releases (`g.waitreason`'s values
//! were renumbered in 1.25 and 1.26), and the race ABI never says which release is
//! calling. The executable does. The layout read here is the one `debug/buildinfo`
//! documents for Go 1.18 and later:
//!
//! ```text
//! ELF section header table      e_shoff (+0x28), e_shentsize (+0x3a), e_shnum (+0x3c),
//!                               e_shstrndx (+0x3e); a section's name at +0, offset at +24
//! .go.buildinfo                 "\xff Go buildinf:", pointer size, flags (bit 1: the
//!                               strings follow inline), padding to 32 bytes, then the
//!                               version as a uvarint length and its bytes
//! ```
//!
//! Four small `pread`s of `/proc/self/exe`; any mismatch gives no answer (callers
//! then fall back to what needs no version).

use core::sync::atomic::{AtomicU32, Ordering};

use crate::sys;

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
const SECTION: &[u8] = b".go.buildinfo\0";

/// The minor version once read (`27` for go1.27.3); 0 until then, `u32::MAX` if the
/// executable did not say.
static MINOR: AtomicU32 = AtomicU32::new(0);

/// Go's minor version (`27` for go1.27.3), read from the executable on first use.
/// Safe on any thread: it only makes system calls.
pub fn go_minor() -> Option<u32> {
    let mut m = MINOR.load(Ordering::Relaxed);
    if m == 0 {
        m = read_minor().unwrap_or(u32::MAX);
        MINOR.store(m, Ordering::Relaxed);
    }
    (m != u32::MAX).then_some(m)
}

fn read_minor() -> Option<u32> {
    let fd = sys::open(b"/proc/self/exe\0", sys::O_RDONLY | sys::O_CLOEXEC, 0);
    if fd < 0 {
        return None;
    }
    let fd = fd as i32;
    let minor = section_offset(fd).and_then(|off| version_minor(fd, off));
    sys::close(fd);
    minor
}

/// Reads `N` bytes at `off`, all or nothing.
fn read_at<const N: usize>(fd: i32, off: u64) -> Option<[u8; N]> {
    let mut buf = [0; N];
    (sys::pread(fd, &mut buf, off) == N as isize).then_some(buf)
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut w = [0; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The file offset of the `.go.buildinfo` section.
fn section_offset(fd: i32) -> Option<u64> {
    let eh: [u8; 64] = read_at(fd, 0)?;
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 {
        return None;
    }
    let (shoff, shentsize) = (u64_at(&eh, 0x28), u16_at(&eh, 0x3a) as u64);
    let (shnum, shstrndx) = (u16_at(&eh, 0x3c), u16_at(&eh, 0x3e) as u64);
    if shentsize < 64 || shstrndx as usize >= shnum {
        return None;
    }
    let header = |i: u64| read_at::<64>(fd, shoff + i * shentsize);
    let names = u64_at(&header(shstrndx)?, 24);
    (0..shnum as u64).find_map(|i| {
        let sh = header(i)?;
        let name_off = u32::from_le_bytes([sh[0], sh[1], sh[2], sh[3]]) as u64;
        let name: [u8; 14] = read_at(fd, names + name_off)?;
        (name[..] == *SECTION).then(|| u64_at(&sh, 24))
    })
}

/// The minor version in the build info at `off`.
fn version_minor(fd: i32, off: u64) -> Option<u32> {
    let info: [u8; 64] = read_at(fd, off)?;
    if info[..14] != MAGIC[..] || info[15] & 2 == 0 {
        return None;
    }
    // A version string is far shorter than 128 bytes: its uvarint length is one byte.
    let len = info[32] as usize;
    if len >= 0x80 || 33 + len > info.len() {
        return None;
    }
    parse_minor(&info[33..33 + len])
}

/// `go1.27.3`, `go1.25rc1`, `go1.24` → the minor version.
fn parse_minor(version: &[u8]) -> Option<u32> {
    let rest = version.strip_prefix(b"go1.")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 3 {
        return None;
    }
    Some(
        rest[..digits]
            .iter()
            .fold(0, |n, &d| n * 10 + (d - b'0') as u32),
    )
}
