//! # device: `O_DIRECT` writes through io_uring with registered buffers and a fixed file
//!
//! A [`Device`] is a block device or a regular file opened with `O_DIRECT`, its
//! [`Geometry`], a [`BufferPool`] allocated once, and an io_uring ring with the pool's buffers
//! registered (pinned once, not for every request) and the file registered as fixed file 0
//! (no descriptor lookup per request). [`Device::write`] submits a batch of writes at the
//! configured queue depth and returns when the whole batch is durable:
//!
//! * [`Durability::Dsync`]: every write carries `RWF_DSYNC`. On a pure overwrite (nothing
//!   for the file system to allocate or convert) the kernel can complete it with a FUA write
//!   and no cache flush.
//! * [`Durability::Fdatasync`]: plain writes, then one fdatasync marked `IO_DRAIN`, which
//!   io_uring starts only after every earlier request of the ring has completed. Linking the
//!   writes to it instead would serialise them (a link starts each request after the previous
//!   one), which defeats the queue depth.
//!
//! A failed or short write fails the whole batch. Nothing is retried here: the caller
//! decides, and rewriting the same blocks at the same offsets is always safe.
//!
//! ## Files are preallocated by writing zeros
//!
//! A file is created at its full size by writing zeros through `O_DIRECT` and syncing once.
//! `fallocate` alone would leave *unwritten* extents, and the first write to each would
//! convert the extent in the file system's journal, so every durable write would still pay
//! for a metadata update. After the zeros, every write is an overwrite of allocated, written
//! blocks.

use crate::buffer::BufferPool;
use crate::geometry::{Geometry, Kind};
use io_uring::{opcode, squeue, types, IoUring};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The deepest queue we submit.
pub const QUEUE_DEPTH_MAX: usize = 256;
/// The largest buffer of the pool.
pub const BUFFER_BYTES_MAX: usize = 8 << 20;

/// How a batch is made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Each write with `RWF_DSYNC`.
    Dsync,
    /// The writes, then one fdatasync after all of them (`IO_DRAIN`).
    Fdatasync,
}

/// How to open a [`Device`].
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Writes in flight at once (and buffers in the pool).
    pub queue_depth: usize,
    /// Bytes of each pool buffer, rounded up to whole blocks.
    pub buffer_bytes: usize,
    /// Poll the submission queue from a kernel thread, which sleeps after this many idle
    /// milliseconds (`None`: submit with a system call).
    pub sqpoll_idle_ms: Option<u32>,
    /// How a batch is made durable.
    pub durability: Durability,
    /// For a path that is not a block device: the size of the file, created and
    /// preallocated when it does not exist. `None` opens only an existing file.
    pub file_bytes: Option<u64>,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            queue_depth: 8,
            buffer_bytes: 256 * 1024,
            sqpoll_idle_ms: None,
            durability: Durability::Dsync,
            file_bytes: None,
        }
    }
}

/// One write of a batch: the first `bytes` of pool buffer `buffer` at device offset `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// The pool buffer.
    pub buffer: usize,
    /// How many of its bytes (a multiple of the offset alignment).
    pub bytes: usize,
    /// Where on the device (a multiple of the offset alignment).
    pub offset: u64,
}

/// A target opened for direct I/O.
pub struct Device {
    /// First, so it is closed before the pool's buffers are freed (fields drop in order).
    ring: IoUring,
    pool: BufferPool,
    path: PathBuf,
    file: File,
    geometry: Geometry,
    options: DeviceOptions,
    /// The ring failed outside any one request (an `io_uring_enter` error): requests may be
    /// left in it, still using pool buffers, so the device refuses all further I/O.
    broken: bool,
}

fn error(kind: io::ErrorKind, path: &Path, message: impl std::fmt::Display) -> io::Error {
    io::Error::new(kind, format!("{}: {message}", path.display()))
}

fn round_up(value: usize, multiple: usize) -> usize {
    value.div_ceil(multiple) * multiple
}

impl Device {
    /// Opens `path` (a block device, or a file, created and preallocated to
    /// `options.file_bytes` when it does not exist) for direct I/O.
    pub fn open(path: &Path, options: DeviceOptions) -> io::Result<Device> {
        if !(1..=QUEUE_DEPTH_MAX).contains(&options.queue_depth) {
            return Err(error(
                io::ErrorKind::InvalidInput,
                path,
                format!(
                    "queue depth {} is outside 1..={QUEUE_DEPTH_MAX}",
                    options.queue_depth
                ),
            ));
        }
        let exists = path.exists();
        let mut open = OpenOptions::new();
        open.read(true).write(true);
        let mut flags = libc::O_DIRECT | libc::O_CLOEXEC;
        let is_block_device = exists && {
            use std::os::unix::fs::FileTypeExt;
            std::fs::metadata(path)?.file_type().is_block_device()
        };
        if is_block_device {
            // O_EXCL on a block device claims it: the open fails with EBUSY while a file
            // system is mounted on it or another process holds the claim.
            flags |= libc::O_EXCL;
        } else if !exists {
            if options.file_bytes.is_none() {
                return Err(error(
                    io::ErrorKind::NotFound,
                    path,
                    "does not exist (give a size to create it as a file)",
                ));
            }
            open.create_new(true);
        }
        open.custom_flags(flags);
        let opened = open.open(path);
        if opened.is_err() && !exists {
            // Some file systems create the file before they refuse O_DIRECT.
            let _ = std::fs::remove_file(path);
        }
        let file = opened.map_err(|failure| match failure.raw_os_error() {
            Some(libc::EINVAL) => error(
                io::ErrorKind::Unsupported,
                path,
                "the file system does not support direct I/O (open with O_DIRECT: EINVAL)",
            ),
            Some(libc::EBUSY) => error(
                failure.kind(),
                path,
                "the device is busy (mounted, or claimed by another process)",
            ),
            _ => error(failure.kind(), path, failure),
        })?;
        let created = !exists;
        let result = Device::set_up(path, file, options, created);
        if result.is_err() && created {
            // Leave nothing half-made behind.
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn set_up(
        path: &Path,
        file: File,
        options: DeviceOptions,
        created: bool,
    ) -> io::Result<Device> {
        let geometry =
            Geometry::of(&file).map_err(|failure| error(failure.kind(), path, failure))?;
        let block = geometry.block_bytes();
        let buffer_bytes = round_up(options.buffer_bytes.clamp(1, BUFFER_BYTES_MAX), block);
        let pool = BufferPool::new(
            options.queue_depth,
            buffer_bytes,
            geometry.memory_align.max(block),
        );
        if geometry.kind == Kind::File {
            if let Some(wanted) = options.file_bytes {
                if !wanted.is_multiple_of(block as u64) {
                    return Err(error(
                        io::ErrorKind::InvalidInput,
                        path,
                        format!("size {wanted} is not a multiple of the block size {block}"),
                    ));
                }
                if !created && geometry.size_bytes != wanted {
                    return Err(error(
                        io::ErrorKind::InvalidInput,
                        path,
                        format!(
                            "exists with {} bytes, not the {wanted} asked for (resizing a \
                             device file is not supported)",
                            geometry.size_bytes
                        ),
                    ));
                }
            }
        }
        let mut builder = IoUring::builder();
        if let Some(idle) = options.sqpoll_idle_ms {
            builder.setup_sqpoll(idle);
        }
        let entries = (options.queue_depth + 1).next_power_of_two() as u32;
        let ring = builder.build(entries).map_err(|failure| {
            error(
                failure.kind(),
                path,
                format!("io_uring is not available: {failure}"),
            )
        })?;
        let mut device = Device {
            path: path.to_path_buf(),
            file,
            geometry,
            pool,
            ring,
            options,
            broken: false,
        };
        let iovecs = device.pool.iovecs();
        // SAFETY: the iovecs describe the pool's buffers, which the device owns, never
        // reallocates, and frees only after the ring is closed (`Drop` unregisters them and
        // the field order drops `ring` before `pool`).
        unsafe { device.ring.submitter().register_buffers(&iovecs) }.map_err(|failure| {
            error(
                failure.kind(),
                path,
                format!("cannot register buffers: {failure}"),
            )
        })?;
        device
            .ring
            .submitter()
            .register_files(&[device.file.as_raw_fd()])
            .map_err(|failure| {
                error(
                    failure.kind(),
                    path,
                    format!("cannot register the file: {failure}"),
                )
            })?;
        if created {
            let bytes = device
                .options
                .file_bytes
                .expect("a created file has a size");
            device.preallocate(bytes)?;
        }
        Ok(device)
    }

    /// Writes zeros over the whole new file and syncs it and its directory.
    fn preallocate(&mut self, bytes: u64) -> io::Result<()> {
        // The file's size from here on (writes are checked against it).
        self.geometry.size_bytes = bytes;
        let buffer_bytes = self.pool.buffer_bytes() as u64;
        for index in 0..self.pool.len() {
            self.pool.get_mut(index).as_mut_slice().fill(0);
        }
        let mut offset = 0u64;
        let mut batch = Vec::with_capacity(self.pool.len());
        while offset < bytes {
            batch.clear();
            while offset < bytes && batch.len() < self.pool.len() {
                let length = buffer_bytes.min(bytes - offset);
                batch.push(Write {
                    buffer: batch.len(),
                    bytes: length as usize,
                    offset,
                });
                offset += length;
            }
            self.submit(&batch, false)?;
        }
        self.file.sync_all()?;
        if let Some(parent) = self.path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its direct-I/O rules and size.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The options it was opened with.
    pub fn options(&self) -> &DeviceOptions {
        &self.options
    }

    /// The buffers writes and reads go through.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// The buffers, to fill before [`Device::write`].
    pub fn pool_mut(&mut self) -> &mut BufferPool {
        &mut self.pool
    }

    /// Writes the batch and returns once all of it is durable (see the module docs). At most
    /// one write per pool buffer, so at most the queue depth.
    pub fn write(&mut self, batch: &[Write]) -> io::Result<()> {
        self.submit(batch, true)
    }

    /// Writes the batch without making it durable: the bytes may sit in the device's volatile
    /// cache until [`Device::sync`]. What `appendfsync everysec` and `no` need.
    pub fn write_volatile(&mut self, batch: &[Write]) -> io::Result<()> {
        self.submit(batch, false)
    }

    /// Makes every completed write durable (an fdatasync through the ring).
    pub fn sync(&mut self) -> io::Result<()> {
        self.refuse_if_broken()?;
        let entry = opcode::Fsync::new(types::Fixed(0))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(u64::MAX);
        // SAFETY: an fsync references no memory; the ring is empty between calls, so there is
        // room.
        unsafe { self.ring.submission().push(&entry) }.expect("room in the submission queue");
        loop {
            self.submit_and_wait(1)?;
            if let Some(completion) = self.ring.completion().next() {
                if completion.result() < 0 {
                    let os = io::Error::from_raw_os_error(-completion.result());
                    return Err(error(os.kind(), &self.path, format!("fdatasync: {os}")));
                }
                return Ok(());
            }
        }
    }

    fn check(&self, write: &Write) {
        let align = self.geometry.offset_align;
        assert!(write.buffer < self.pool.len(), "buffer {}", write.buffer);
        assert!(
            write.bytes > 0
                && write.bytes <= self.pool.buffer_bytes()
                && write.bytes.is_multiple_of(align)
                && write.offset.is_multiple_of(align as u64),
            "a misaligned write: {write:?}, alignment {align}"
        );
        assert!(
            write.offset + write.bytes as u64 <= self.geometry.size_bytes,
            "a write past the end of the device: {write:?}"
        );
    }

    /// Submits what is queued and waits for `want` completions, retrying on EINTR. Any other
    /// failure of the ring itself marks the device broken (requests may still be in it).
    fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        loop {
            match self.ring.submit_and_wait(want) {
                Ok(_) => return Ok(()),
                Err(failure) if failure.raw_os_error() == Some(libc::EINTR) => continue,
                Err(failure) => {
                    self.broken = true;
                    return Err(error(
                        failure.kind(),
                        &self.path,
                        format!("io_uring failed; the device is closed to further I/O: {failure}"),
                    ));
                }
            }
        }
    }

    fn refuse_if_broken(&self) -> io::Result<()> {
        if self.broken {
            return Err(error(
                io::ErrorKind::BrokenPipe,
                &self.path,
                "io_uring failed earlier; the device must be opened again",
            ));
        }
        Ok(())
    }

    fn submit(&mut self, batch: &[Write], durable: bool) -> io::Result<()> {
        self.refuse_if_broken()?;
        assert!(
            batch.len() <= self.pool.len(),
            "a batch of {} writes",
            batch.len()
        );
        if batch.is_empty() {
            return Ok(());
        }
        for write in batch {
            self.check(write);
        }
        let dsync = durable && self.options.durability == Durability::Dsync;
        let fsync = durable && self.options.durability == Durability::Fdatasync;
        let rw_flags = if dsync { libc::RWF_DSYNC } else { 0 };
        {
            let mut queue = self.ring.submission();
            for (index, write) in batch.iter().enumerate() {
                let buffer = self.pool.get(write.buffer);
                let entry = opcode::WriteFixed::new(
                    types::Fixed(0),
                    buffer.as_ptr(),
                    write.bytes as u32,
                    write.buffer as u16,
                )
                .offset(write.offset)
                .rw_flags(rw_flags)
                .build()
                .user_data(index as u64);
                // SAFETY: the buffer is registered, owned by the pool and not touched until
                // every completion of this batch is reaped below; the entry count is below
                // the ring's size (queue depth + 1 entries, at most queue depth writes).
                unsafe { queue.push(&entry) }.expect("room in the submission queue");
            }
            if fsync {
                let entry = opcode::Fsync::new(types::Fixed(0))
                    .flags(types::FsyncFlags::DATASYNC)
                    .build()
                    .flags(squeue::Flags::IO_DRAIN)
                    .user_data(u64::MAX);
                // SAFETY: an fsync references no memory; there is room for it (see above).
                unsafe { queue.push(&entry) }.expect("room in the submission queue");
            }
        }
        let expected = batch.len() + usize::from(fsync);
        let mut completed = 0;
        let mut failure: Option<io::Error> = None;
        while completed < expected {
            self.submit_and_wait(expected - completed)?;
            for completion in self.ring.completion() {
                completed += 1;
                let result = completion.result();
                let index = completion.user_data();
                if failure.is_some() {
                    continue;
                }
                if result < 0 {
                    let what = if index == u64::MAX {
                        "fdatasync"
                    } else {
                        "write"
                    };
                    let os = io::Error::from_raw_os_error(-result);
                    failure = Some(error(os.kind(), &self.path, format!("{what}: {os}")));
                } else if index != u64::MAX && result as usize != batch[index as usize].bytes {
                    let write = batch[index as usize];
                    failure = Some(error(
                        io::ErrorKind::WriteZero,
                        &self.path,
                        format!(
                            "a short write: {result} of {} bytes at offset {}",
                            write.bytes, write.offset
                        ),
                    ));
                }
            }
        }
        match failure {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }

    /// Reads `bytes` at `offset` into pool buffer `buffer` (both aligned), returning how many
    /// bytes were read (fewer at the end of the device). Recovery's path: plain `pread`.
    pub fn read(&mut self, buffer: usize, bytes: usize, offset: u64) -> io::Result<usize> {
        let align = self.geometry.offset_align;
        assert!(
            bytes <= self.pool.buffer_bytes()
                && bytes.is_multiple_of(align)
                && offset.is_multiple_of(align as u64),
            "a misaligned read of {bytes} at {offset}"
        );
        let target = self.pool.get_mut(buffer);
        let mut done = 0usize;
        while done < bytes {
            // SAFETY: the destination is the pool buffer's bytes `done..bytes`, inside its
            // allocation (asserted above) and exclusively borrowed for the call.
            let result = unsafe {
                libc::pread(
                    self.file.as_raw_fd(),
                    target.as_mut_ptr().add(done).cast(),
                    bytes - done,
                    (offset + done as u64) as libc::off_t,
                )
            };
            if result < 0 {
                let os = io::Error::last_os_error();
                if os.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(error(os.kind(), &self.path, format!("read: {os}")));
            }
            if result == 0 {
                break;
            }
            done += result as usize;
        }
        Ok(done)
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Nothing is in flight between calls (every `submit` reaps all it submitted), so the
        // buffers can be unregistered and freed after this.
        let _ = self.ring.submitter().unregister_buffers();
        let _ = self.ring.submitter().unregister_files();
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("path", &self.path)
            .field("geometry", &self.geometry)
            .field("options", &self.options)
            .finish()
    }
}
