//! # geometry: the sizes and alignments a device asks of direct I/O
//!
//! `O_DIRECT` moves data between user memory and the device without the page cache, so the
//! device's rules apply to every request: the file offset and the length must be multiples of
//! the *offset alignment*, and the memory address a multiple of the *memory alignment*.
//!
//! * A block device reports its logical block size through the `BLKSSZGET` ioctl; that is both
//!   alignments (Linux's own rule for direct I/O on a block device), and its size is where
//!   `lseek(SEEK_END)` lands.
//! * A regular file reports both alignments through `statx` with `STATX_DIOALIGN` (Linux 6.1
//!   and later). A file system that does not support direct I/O reports 0, which we turn into
//!   a clear error rather than a guess.
//! * When neither answers (an older kernel), 4096 bytes is the fallback: every device and file
//!   system in use aligns to it.
//!
//! The block size we use is the offset alignment rounded up to at least
//! [`BLOCK_BYTES_MIN`]: a smaller block would spend most of itself on the block header.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;

/// The alignment assumed when the kernel does not say.
pub const FALLBACK_ALIGN_BYTES: usize = 4096;
/// The smallest block the log uses, whatever smaller sector the device allows.
pub const BLOCK_BYTES_MIN: usize = 4096;
/// The largest alignment we accept from the kernel: anything above is not a sector size.
pub const ALIGN_BYTES_MAX: usize = 64 * 1024;

/// `statfs` magic numbers of the file systems that keep data only in memory: `O_DIRECT` may
/// open there (tmpfs accepts the flag since Linux 6.6) but nothing reaches a device.
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// What kind of target the path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A block device (`/dev/nvme0n1`, a loop device).
    BlockDevice,
    /// A regular file, preallocated by us.
    File,
}

/// The rules of direct I/O on one open target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Block device or file.
    pub kind: Kind,
    /// File offsets and lengths are multiples of this.
    pub offset_align: usize,
    /// Buffer addresses are multiples of this.
    pub memory_align: usize,
    /// The target's size in bytes (a file's current length).
    pub size_bytes: u64,
    /// Where the alignments came from, for the start-up log line.
    pub source: &'static str,
}

impl Geometry {
    /// The block size the log uses: the offset alignment, at least [`BLOCK_BYTES_MIN`].
    pub fn block_bytes(&self) -> usize {
        self.offset_align.max(BLOCK_BYTES_MIN)
    }

    /// Reads the geometry of `file`, which must be open with `O_DIRECT`.
    pub fn of(file: &File) -> io::Result<Geometry> {
        let metadata = file.metadata()?;
        let file_type = metadata.file_type();
        if file_type.is_block_device() {
            return block_device(file);
        }
        if !file_type.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither a block device nor a regular file",
            ));
        }
        refuse_memory_file_system(file)?;
        let (offset_align, memory_align, source) = match dio_align(file)? {
            Some((0, _)) | Some((_, 0)) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "the file system does not support direct I/O (O_DIRECT): statx reports no \
                     alignment for it",
                ));
            }
            Some((offset, memory)) => (offset as usize, memory as usize, "statx STATX_DIOALIGN"),
            None => (
                FALLBACK_ALIGN_BYTES,
                FALLBACK_ALIGN_BYTES,
                "fallback (statx has no STATX_DIOALIGN on this kernel)",
            ),
        };
        checked(Geometry {
            kind: Kind::File,
            offset_align,
            memory_align,
            size_bytes: metadata.len(),
            source,
        })
    }
}

fn checked(geometry: Geometry) -> io::Result<Geometry> {
    for align in [geometry.offset_align, geometry.memory_align] {
        if !align.is_power_of_two() || align > ALIGN_BYTES_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the kernel reports an alignment of {align} bytes, which we do not use"),
            ));
        }
    }
    Ok(geometry)
}

fn block_device(file: &File) -> io::Result<Geometry> {
    let mut logical: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer, which points at `logical`, alive
    // for the call; the descriptor is open for the call's duration.
    let result = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET, &mut logical) };
    let (align, source) = if result == 0 && logical > 0 {
        (logical as usize, "ioctl BLKSSZGET")
    } else {
        (FALLBACK_ALIGN_BYTES, "fallback (BLKSSZGET failed)")
    };
    // SAFETY: lseek on an open descriptor; it touches no memory of ours.
    let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
    if end < 0 {
        return Err(io::Error::last_os_error());
    }
    checked(Geometry {
        kind: Kind::BlockDevice,
        offset_align: align,
        memory_align: align,
        size_bytes: end as u64,
        source,
    })
}

/// The file's direct-I/O alignments (offset, memory) from statx, or `None` when this kernel
/// does not report them.
fn dio_align(file: &File) -> io::Result<Option<(u32, u32)>> {
    // SAFETY: statx is plain old data; all zeros is a valid value.
    let mut stat: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the path is an empty C string with AT_EMPTY_PATH, so statx reads the open
    // descriptor; it writes one statx into `stat`, alive for the call.
    let result = unsafe {
        libc::statx(
            file.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_DIOALIGN,
            &mut stat,
        )
    };
    if result != 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ENOSYS) => Ok(None),
            _ => Err(error),
        };
    }
    if stat.stx_mask & libc::STATX_DIOALIGN == 0 {
        return Ok(None);
    }
    Ok(Some((stat.stx_dio_offset_align, stat.stx_dio_mem_align)))
}

fn refuse_memory_file_system(file: &File) -> io::Result<()> {
    // SAFETY: statfs is plain old data; all zeros is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes one statfs into `stat`, alive for the call.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut stat) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let magic = stat.f_type as i64;
    if magic == TMPFS_MAGIC || magic == RAMFS_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the file is on a memory file system (tmpfs or ramfs): direct I/O reaches no \
             device there",
        ));
    }
    Ok(())
}
