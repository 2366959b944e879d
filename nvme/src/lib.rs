//! `nvme`: the path that bypasses the page cache, for users who give WorkingDB a device of
//! its own.
//!
//! * [`geometry`]: the alignments and block size direct I/O needs, from the kernel (the
//!   `BLKSSZGET` ioctl for a block device, `statx` `STATX_DIOALIGN` for a file, 4096 when
//!   neither answers), and a clear refusal where direct I/O reaches no device (tmpfs).
//! * [`buffer`]: aligned buffers, allocated once in a fixed pool.
//! * [`device`]: a block device or preallocated file opened with `O_DIRECT`, written through
//!   io_uring with the pool registered and the file fixed, durable per batch by `RWF_DSYNC`
//!   or by one drained fdatasync.
//! * [`blocklog`]: an append-only byte stream on a device: a superblock, then CRC-checked
//!   blocks, the tail block rewritten in place until full, recovery to the last valid block,
//!   and a reset that reclaims the space.
//!
//! The AOF's records go into the block log as they go into a segment file; that wiring (the
//! `--aof-device` option) lives in `persistence` and the binary.

pub mod blocklog;
pub mod buffer;
pub mod device;
pub mod geometry;

pub use blocklog::{shared, BlockLog, OpenError, Recovered, Region, SharedDevice};
pub use buffer::{AlignedBuf, BufferPool};
pub use device::{Device, DeviceOptions, Durability, Write};
pub use geometry::{Geometry, Kind};
