//! # uring: the append-only file over io_uring
//!
//! [`UringStorage`] is the [`Storage`] back-end for kernels with io_uring. Its reason to exist
//! is [`Storage::write_batch`]: the writer's batch and the `fdatasync` that makes it durable go
//! to the kernel together in one `io_uring_enter`, where [`FileStorage`] needs a `pwrite` and
//! an `fdatasync` system call, each waited for on its own.
//!
//! ## Why the fsync is linked
//!
//! io_uring does not run the entries of one submission in order: it may start them all at
//! once, so an `IORING_OP_FSYNC` queued after a write can run before the write has put its
//! bytes in the page cache and then make none of them durable. Two flags order it: the fsync's
//! `IOSQE_IO_DRAIN` (wait for everything submitted before it, on the whole ring) or the write's
//! `IOSQE_IO_LINK` (start the next entry only when this one has completed). We link, which
//! orders exactly the pair we care about: the write carries `IO_LINK`, the fsync follows it,
//! and both go in one `submit_and_wait(2)`. A batch longer than one entry may carry
//! ([`CHUNK_BYTES_MAX`]) is written chunk by chunk, each chunk waited for, and only the last
//! chunk is linked to the fsync; the earlier ones have completed before it is submitted, so
//! the fsync covers them too.
//!
//! ## What a broken link does
//!
//! When an entry of a chain fails, the kernel starts none of the entries linked behind it: they
//! complete with `-ECANCELED`. For a read or a write, "fails" includes a *short* result, fewer
//! bytes than asked. So for the write and its fsync:
//!
//! * the write fails (EIO, ENOSPC, EBADF, ...): the fsync comes back `-ECANCELED`; we reap both
//!   and return the write's error;
//! * the write is short: the fsync comes back `-ECANCELED`; we advance past the bytes written
//!   and submit the rest, linked to a new fsync, until a write completes in full (and a write
//!   of zero bytes is an error, as in [`Storage::write_all_at`]);
//! * the write returns EINTR or EAGAIN (rare: io_uring retries EAGAIN itself on a worker
//!   thread): we submit the same pair again;
//! * the fsync fails: we return its errno and never retry it, because after a failed fsync
//!   Linux may have dropped the dirty pages and will not report the error twice (see
//!   [`crate::storage`]).
//!
//! ## Every completion is reaped before a call returns
//!
//! The entries point into the caller's buffer, so no call returns while the kernel may still
//! use one: a call waits for the completion of every entry it pushed, also after one of them
//! has failed. Each entry carries a fresh `user_data` from a counter, and every completion is
//! checked against the entries of the current call, so a stale completion cannot be taken for
//! a later one. If `io_uring_enter` fails in a way that cannot be retried (the ring itself is
//! broken) while entries are out, the process aborts: returning, or unwinding from a panic,
//! would let the caller free a buffer the kernel may still read from or write into.
//!
//! ## One owner
//!
//! The writer thread owns its `UringStorage`. It is `Send` but not `Sync`: [`Storage::read_at`]
//! takes `&self`, so entries are pushed through a shared reference to the ring, which is sound
//! only because no other thread can hold one at the same time.
//!
//! ## Without io_uring
//!
//! Older kernels, kernels with `kernel.io_uring_disabled` set and seccomp profiles that refuse
//! `io_uring_setup` (ENOSYS, EPERM) cannot build a ring. [`UringStorage::probe`] tells the
//! server why, so that it can log the reason and fall back to [`FileStorage`] (`--aof-io
//! sync`).
//!
//! [`FileStorage`]: crate::storage::FileStorage

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring, Probe};

use crate::storage::Storage;

/// Entries in the submission queue (the completion queue gets twice as many). A call has at
/// most two entries out at a time, a write and the fsync linked behind it; eight leave room.
const RING_ENTRIES: u32 = 8;

/// The most bytes one read or write entry carries. An entry's length is a `u32`, and Linux
/// does at most `MAX_RW_COUNT` (2 GiB less a page) in one read or write; 1 GiB is under both.
pub const CHUNK_BYTES_MAX: usize = 1 << 30;

const _: () = assert!(CHUNK_BYTES_MAX <= u32::MAX as usize);

/// The file's slot in the ring's table of registered files.
const REGISTERED_FILE_INDEX: u32 = 0;

/// How many times in a row `io_uring_enter` may answer EAGAIN (no memory for a request) or
/// EBUSY (completion queue overflow) before we give up on the ring, and how long we wait
/// before each retry: one second in all, long past any transient shortage.
const ENTER_BUSY_RETRIES_MAX: u32 = 1000;
const ENTER_BUSY_BACKOFF: Duration = Duration::from_millis(1);

/// The errno values this module tells apart (Linux numbering; this crate is Linux-only).
mod errno {
    pub const EINTR: i32 = 4;
    pub const EAGAIN: i32 = 11;
    pub const EBUSY: i32 = 16;
    pub const ECANCELED: i32 = 125;
}

/// How entries name the file.
#[derive(Debug, Clone, Copy)]
enum FileTarget {
    /// By its slot in the ring's registered-file table, which spares the kernel a file-table
    /// lookup and a reference count per entry.
    Registered,
    /// By descriptor, where registration failed.
    Descriptor(RawFd),
}

/// Expands `$build` with `$file` bound to the file as this target names it. The opcode
/// builders take the fixed-slot and the descriptor form as different types.
macro_rules! with_file {
    ($target:expr, |$file:ident| $build:expr) => {
        match $target {
            FileTarget::Registered => {
                let $file = types::Fixed(REGISTERED_FILE_INDEX);
                $build
            }
            FileTarget::Descriptor(descriptor) => {
                let $file = types::Fd(descriptor);
                $build
            }
        }
    };
}

/// A file written through its own io_uring; see the module docs.
pub struct UringStorage {
    ring: IoUring,
    file: File,
    target: FileTarget,
    /// The `user_data` of the next entry. Being a `Cell`, it also keeps the type from being
    /// `Sync`, which pushing through `&self` relies on.
    next_user_data: Cell<u64>,
}

impl fmt::Debug for UringStorage {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UringStorage")
            .field("ring", &self.ring.as_raw_fd())
            .field("file", &self.file)
            .field("target", &self.target)
            .field("next_user_data", &self.next_user_data.get())
            .finish()
    }
}

impl UringStorage {
    /// Builds a ring and runs one no-op through it; the error says why io_uring cannot be
    /// used here (the server logs it and falls back to plain `pwrite`).
    pub fn probe() -> io::Result<()> {
        let mut ring = new_ring()?;
        // SAFETY: a no-op entry points to no memory, so nothing has to outlive it.
        let pushed = unsafe { ring.submission().push(&opcode::Nop::new().build()) };
        pushed.expect("a new ring has room for one entry");
        // Only `io_uring_enter` itself is tried here, so one wait is enough: an error means a
        // filter that allows the setup but not the submission.
        loop {
            match ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(errno::EINTR) => continue,
                Err(error) => return Err(error),
            }
            if let Some(completion) = ring.completion().next() {
                return match completion.result() {
                    0 => Ok(()),
                    result => Err(os_error(result)),
                };
            }
        }
    }

    /// Wraps an open file (opened for reading and writing) and builds its ring.
    pub fn new(file: File) -> io::Result<Self> {
        let ring = new_ring()?;
        let target = match ring.submitter().register_files(&[file.as_raw_fd()]) {
            Ok(()) => FileTarget::Registered,
            Err(error) => {
                tracing::debug!(%error, "io_uring: cannot register the file; naming it by fd");
                FileTarget::Descriptor(file.as_raw_fd())
            }
        };
        Ok(Self {
            ring,
            file,
            target,
            next_user_data: Cell::new(0),
        })
    }

    /// Whether entries name the file by its registered slot rather than by descriptor.
    pub fn is_file_registered(&self) -> bool {
        matches!(self.target, FileTarget::Registered)
    }

    /// A write of `chunk` (at most [`CHUNK_BYTES_MAX`] bytes) at `offset`.
    fn write_entry(&self, offset: u64, chunk: &[u8]) -> io::Result<squeue::Entry> {
        let offset = file_offset(offset)?;
        assert!(chunk.len() <= CHUNK_BYTES_MAX);
        let length = chunk.len() as u32;
        let pointer = chunk.as_ptr();
        Ok(with_file!(self.target, |file| {
            opcode::Write::new(file, pointer, length)
                .offset(offset)
                .build()
        }))
    }

    /// A read into `buffer`, or into its first [`CHUNK_BYTES_MAX`] bytes, from `offset`.
    fn read_entry(&self, offset: u64, buffer: &mut [u8]) -> io::Result<squeue::Entry> {
        let offset = file_offset(offset)?;
        let length = buffer.len().min(CHUNK_BYTES_MAX) as u32;
        let pointer = buffer.as_mut_ptr();
        Ok(with_file!(self.target, |file| {
            opcode::Read::new(file, pointer, length)
                .offset(offset)
                .build()
        }))
    }

    /// An `fdatasync` of the file.
    fn fsync_entry(&self) -> squeue::Entry {
        with_file!(self.target, |file| {
            opcode::Fsync::new(file)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
        })
    }

    /// Submits `entries` as one chain (each linked to the next), waits until every one of
    /// them has completed and returns their results in order: a count, or a negated errno.
    ///
    /// # Safety
    ///
    /// Every buffer an entry points to must be valid for the whole call for the access the
    /// entry makes: readable for its length for a write, writable for its length and not
    /// accessed through anything else for a read.
    unsafe fn complete<const N: usize>(&self, entries: [squeue::Entry; N]) -> [i32; N] {
        const { assert!(N >= 1 && N <= RING_ENTRIES as usize) };
        let first = self.next_user_data.get();
        self.next_user_data.set(first.wrapping_add(N as u64));
        let mut index = 0;
        let chain = entries.map(|entry| {
            let entry = entry.user_data(first.wrapping_add(index as u64));
            index += 1;
            if index < N {
                entry.flags(squeue::Flags::IO_LINK)
            } else {
                entry
            }
        });

        // SAFETY:
        // 1. No other handle on this ring's submission queue exists: `UringStorage` is not
        //    `Sync`, so no other thread holds a `&self`, and no method keeps a queue handle
        //    across a call to another one. The handle drops at the end of this block, which
        //    publishes the new tail to the kernel.
        // 2. The buffers outlive the operations: the caller keeps them valid for this call,
        //    and the loop below returns only once every entry of the chain has completed (or
        //    the process aborts).
        unsafe {
            let mut queue = self.ring.submission_shared();
            assert!(
                queue.is_empty(),
                "an entry of an earlier call was never submitted"
            );
            queue
                .push_multiple(&chain)
                .expect("the queue is empty and holds RING_ENTRIES");
        }

        let mut results = [0; N];
        let mut reaped = [false; N];
        let mut outstanding = N;
        let mut stale = None;
        let mut busy_retries = 0;
        while outstanding > 0 {
            // Submits whatever the kernel has not taken yet and waits for the rest. A success
            // does not promise `outstanding` completions: when it submitted entries, the
            // kernel reports that count and swallows an interrupted wait.
            match self.ring.submit_and_wait(outstanding) {
                Ok(_) => busy_retries = 0,
                Err(error) if error.raw_os_error() == Some(errno::EINTR) => {}
                Err(error)
                    if matches!(error.raw_os_error(), Some(errno::EAGAIN | errno::EBUSY))
                        && busy_retries < ENTER_BUSY_RETRIES_MAX =>
                {
                    busy_retries += 1;
                    std::thread::sleep(ENTER_BUSY_BACKOFF);
                }
                Err(error) => abandon_ring(&error, outstanding),
            }
            // SAFETY: no other handle on this ring's completion queue exists, for the reason
            // in (1) above; this one drops at the end of the loop, which frees the slots read.
            let completions = unsafe { self.ring.completion_shared() };
            for completion in completions {
                let index = completion.user_data().wrapping_sub(first);
                match usize::try_from(index) {
                    Ok(index) if index < N && !reaped[index] => {
                        results[index] = completion.result();
                        reaped[index] = true;
                        outstanding -= 1;
                    }
                    // Not ours: remember it, keep waiting for ours, and panic once nothing of
                    // this call is left in the kernel.
                    _ => stale = stale.or(Some(completion.user_data())),
                }
            }
        }
        if let Some(user_data) = stale {
            panic!(
                "io_uring: completion {user_data} does not belong to this call's entries \
                 {first}..{}",
                first.wrapping_add(N as u64)
            );
        }
        results
    }
}

impl Storage for UringStorage {
    fn pipeline(
        &self,
        depth: usize,
        wake: std::io::PipeReader,
        wake_self: std::io::PipeWriter,
    ) -> Option<io::Result<UringPipeline>> {
        Some(
            self.file
                .try_clone()
                .and_then(|file| UringPipeline::new(file, depth, wake, wake_self)),
        )
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<usize> {
        let chunk = &bytes[..bytes.len().min(CHUNK_BYTES_MAX)];
        let write = self.write_entry(offset, chunk)?;
        // SAFETY: the entry reads from `chunk`, which is borrowed for this whole call.
        let [written] = unsafe { self.complete([write]) };
        count(written)
    }

    fn read_at(&self, offset: u64, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.read_entry(offset, buffer)?;
        // SAFETY: the entry writes into `buffer`, which is borrowed mutably (so used by
        // nothing else) for this whole call.
        let [got] = unsafe { self.complete([read]) };
        count(got)
    }

    fn sync(&mut self) -> io::Result<()> {
        // SAFETY: an fsync entry points to no memory.
        let [synced] = unsafe { self.complete([self.fsync_entry()]) };
        count(synced).map(drop)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn truncate(&mut self, size: u64) -> io::Result<()> {
        self.file.set_len(size)?;
        self.file.sync_all()
    }

    fn write_batch(&mut self, mut offset: u64, mut bytes: &[u8], sync: bool) -> io::Result<()> {
        loop {
            let chunk = &bytes[..bytes.len().min(CHUNK_BYTES_MAX)];
            let is_last_chunk = chunk.len() == bytes.len();
            if !(sync && is_last_chunk) {
                if chunk.is_empty() {
                    return Ok(());
                }
                let write = self.write_entry(offset, chunk)?;
                // SAFETY: the entry reads from `chunk`, part of `bytes`, borrowed for this
                // whole call.
                let [written] = unsafe { self.complete([write]) };
                if let Some(written) = written_count(written, chunk.len())? {
                    offset += written as u64;
                    bytes = &bytes[written..];
                }
                continue;
            }
            if chunk.is_empty() {
                return self.sync();
            }
            let chain = [self.write_entry(offset, chunk)?, self.fsync_entry()];
            // SAFETY: the write reads from `chunk`, part of `bytes`, borrowed for this whole
            // call; the fsync points to no memory.
            let [written, synced] = unsafe { self.complete(chain) };
            // An fsync that ran and failed is reported whatever became of the write, because
            // Linux reports a writeback error to one fsync only.
            if synced < 0 && synced != -errno::ECANCELED {
                return Err(os_error(synced));
            }
            if let Some(written) = written_count(written, chunk.len())? {
                offset += written as u64;
                bytes = &bytes[written..];
            }
            if synced == 0 && bytes.is_empty() {
                return Ok(());
            }
            // A short or interrupted write broke the link and cancelled the fsync; what is
            // left goes again, linked to a new one. (The next turn submits a lone fsync if
            // the write completed in full and the fsync was cancelled all the same.)
            tracing::debug!(
                offset,
                left = bytes.len(),
                written,
                synced,
                "io_uring: write incomplete, fsync not run; resubmitting"
            );
        }
    }
}

/// The most batches a [`UringPipeline`] may keep in flight (`aof-pipeline-depth`). Linux lets
/// several `fdatasync`s of one file run at once and ext4 folds concurrent ones into shared
/// journal commits: on our VMs four threads syncing concurrently got 2.2x the syncs per second
/// of one, eight 4.2x (pwrite + fdatasync from 1, 2, 4 and 8 threads). Whether the server
/// gains from it depends on the CPU left for io_uring's workers: see
/// bench-results/persistence.md for the depth we measured best.
pub const PIPELINE_DEPTH_MAX: usize = 8;

/// `user_data` of a pipeline's entries: the batch slot in the high bits, the kind below.
const KIND_BITS: u64 = 2;
const KIND_WRITE: u64 = 1;
const KIND_FSYNC: u64 = 2;
const KIND_WAKE: u64 = 3;

/// A batch a [`UringPipeline`] finished: its id, its buffer (for reuse) and its outcome.
#[derive(Debug)]
pub struct Completion {
    /// What [`UringPipeline::submit`] returned for it.
    pub id: u64,
    /// The bytes it wrote, handed back.
    pub bytes: Vec<u8>,
    /// `Ok` once all of it is written and, if asked, synced.
    pub result: io::Result<()>,
}

/// One batch in flight.
struct Flight {
    id: u64,
    bytes: Vec<u8>,
    offset: u64,
    /// Bytes of `bytes` known written.
    written: usize,
    sync: bool,
    write_out: bool,
    fsync_out: bool,
    /// The write came back short or interrupted: submit the rest (and the sync) again once
    /// the chain is back.
    again: bool,
    error: Option<io::Error>,
}

/// Several batches in flight at once, each a write linked to an `fdatasync`, on a ring of its
/// own: the group commit of `appendfsync always` without waiting for one batch's sync before
/// writing the next. Batches may complete out of order; the caller treats a batch as durable
/// only when every batch before it is (an fsync covers the data written before it *started*,
/// and a later batch's fsync may start before an earlier batch's write finished).
///
/// The writer thread blocks in [`UringPipeline::wait`] for a completion *or* a wake-up: a read
/// of a pipe is kept in flight on the same ring, and appenders write a byte to the pipe's
/// other end when the writer sleeps there (see `log`). Short and interrupted writes are
/// resubmitted as in [`Storage::write_batch`]; a failed write or sync completes the batch with
/// its error and the caller goes back to its synchronous retry path.
pub struct UringPipeline {
    ring: IoUring,
    /// Keeps the registered descriptor open.
    _file: File,
    target: FileTarget,
    flights: Vec<Option<Flight>>,
    wake: std::io::PipeReader,
    /// Our own end of the wake pipe: `Drop` uses it to bring the pending read back.
    wake_self: std::io::PipeWriter,
    wake_buffer: Box<[u8; 64]>,
    wake_out: bool,
    next_id: u64,
    ready: Vec<Completion>,
}

impl fmt::Debug for UringPipeline {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("UringPipeline")
            .field("ring", &self.ring.as_raw_fd())
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl UringPipeline {
    /// A pipeline writing `file`, woken by writes to the pipe whose read end is `wake`.
    pub fn new(
        file: File,
        depth: usize,
        wake: std::io::PipeReader,
        wake_self: std::io::PipeWriter,
    ) -> io::Result<Self> {
        assert!((1..=PIPELINE_DEPTH_MAX).contains(&depth));
        let ring = new_ring_with(4 * PIPELINE_DEPTH_MAX as u32)?;
        let target = match ring.submitter().register_files(&[file.as_raw_fd()]) {
            Ok(()) => FileTarget::Registered,
            Err(_) => FileTarget::Descriptor(file.as_raw_fd()),
        };
        Ok(Self {
            ring,
            _file: file,
            target,
            flights: (0..depth).map(|_| None).collect(),
            wake,
            wake_self,
            wake_buffer: Box::new([0; 64]),
            wake_out: false,
            next_id: 0,
            ready: Vec::new(),
        })
    }

    /// Batches submitted and not yet handed back.
    pub fn in_flight(&self) -> usize {
        self.flights
            .iter()
            .filter(|flight| flight.is_some())
            .count()
    }

    /// Whether another batch may be submitted.
    pub fn has_room(&self) -> bool {
        self.flights.iter().any(Option::is_none)
    }

    /// Starts writing `bytes` at `offset` (and syncing, if `sync`); returns the batch's id.
    /// There must be room ([`UringPipeline::has_room`]) and `bytes` at most
    /// [`CHUNK_BYTES_MAX`] long, and the batch must end below `i64::MAX` (io_uring reads a
    /// larger offset as "the file position").
    pub fn submit(&mut self, offset: u64, bytes: Vec<u8>, sync: bool) -> u64 {
        assert!(
            bytes.len() <= CHUNK_BYTES_MAX,
            "a batch over one entry's size"
        );
        assert!(
            offset.saturating_add(bytes.len() as u64) <= i64::MAX as u64,
            "a batch past the largest file offset"
        );
        let slot = self
            .flights
            .iter()
            .position(Option::is_none)
            .expect("submit only with room");
        let id = self.next_id;
        self.next_id += 1;
        self.flights[slot] = Some(Flight {
            id,
            bytes,
            offset,
            written: 0,
            sync,
            write_out: false,
            fsync_out: false,
            again: false,
            error: None,
        });
        self.push_chain(slot);
        self.enter(0);
        id
    }

    /// Pushes what is left of the batch in `slot`: its write (linked to the sync) and sync.
    fn push_chain(&mut self, slot: usize) {
        let target = self.target;
        let flight = self.flights[slot].as_mut().expect("a batch in this slot");
        let rest = &flight.bytes[flight.written..];
        let mut entries = Vec::with_capacity(2);
        if !rest.is_empty() {
            let pointer = rest.as_ptr();
            let length = rest.len() as u32;
            let offset = flight.offset + flight.written as u64;
            let write = with_file!(target, |file| {
                opcode::Write::new(file, pointer, length)
                    .offset(offset)
                    .build()
            })
            .user_data(((slot as u64) << KIND_BITS) | KIND_WRITE);
            entries.push(if flight.sync {
                write.flags(squeue::Flags::IO_LINK)
            } else {
                write
            });
            flight.write_out = true;
        }
        if flight.sync {
            let fsync = with_file!(target, |file| {
                opcode::Fsync::new(file)
                    .flags(types::FsyncFlags::DATASYNC)
                    .build()
            })
            .user_data(((slot as u64) << KIND_BITS) | KIND_FSYNC);
            entries.push(fsync);
            flight.fsync_out = true;
        }
        if entries.is_empty() {
            // Nothing to write and no sync asked: done at once.
            let flight = self.flights[slot].take().expect("a batch in this slot");
            self.ready.push(Completion {
                id: flight.id,
                bytes: flight.bytes,
                result: Ok(()),
            });
            return;
        }
        // SAFETY:
        // 1. The write points into `flight.bytes`, a heap buffer owned by `self.flights[slot]`
        //    until both of the batch's entries have completed: the slot is only emptied in
        //    `reap` after its last completion, and `Drop` waits for every completion.
        // 2. This is the only handle on the submission queue (`&mut self`), and the queue
        //    has room: at most PIPELINE_DEPTH_MAX batches of two entries plus one read are
        //    out, in a ring of 4 * PIPELINE_DEPTH_MAX entries.
        unsafe {
            self.ring
                .submission()
                .push_multiple(&entries)
                .expect("the ring has room for every batch in flight");
        }
    }

    /// Submits what is queued; with `wait`, also waits for that many completions.
    fn enter(&mut self, wait: usize) {
        let mut busy_retries = 0;
        loop {
            match self.ring.submit_and_wait(wait) {
                Ok(_) => return,
                Err(error) if error.raw_os_error() == Some(errno::EINTR) => {
                    if wait == 0 || !self.ring.completion().is_empty() {
                        // Submitted or not, the entries stay queued and go out next time.
                        return;
                    }
                }
                Err(error)
                    if matches!(error.raw_os_error(), Some(errno::EAGAIN | errno::EBUSY))
                        && busy_retries < ENTER_BUSY_RETRIES_MAX =>
                {
                    busy_retries += 1;
                    std::thread::sleep(ENTER_BUSY_BACKOFF);
                }
                Err(error) => abandon_ring(&error, self.in_flight()),
            }
        }
    }

    /// Keeps a read of the wake pipe in flight.
    fn arm_wake(&mut self) {
        if self.wake_out {
            return;
        }
        let read = opcode::Read::new(
            types::Fd(self.wake.as_raw_fd()),
            self.wake_buffer.as_mut_ptr(),
            self.wake_buffer.len() as u32,
        )
        .build()
        .user_data(KIND_WAKE);
        // SAFETY: the read fills `wake_buffer`, a heap buffer owned by `self` that nothing
        // else touches while `wake_out` is set; `Drop` brings the read back before freeing it.
        // The queue has room as in `push_chain`.
        unsafe {
            self.ring
                .submission()
                .push(&read)
                .expect("the ring has room for the wake read");
        }
        self.wake_out = true;
    }

    /// Blocks until at least one batch completes or someone writes to the wake pipe; returns
    /// the batches completed (possibly none, after a wake-up).
    pub fn wait(&mut self) -> Vec<Completion> {
        if self.ready.is_empty() {
            self.arm_wake();
            self.enter(1);
        }
        self.reap();
        std::mem::take(&mut self.ready)
    }

    /// The batches completed so far, without blocking.
    pub fn poll(&mut self) -> Vec<Completion> {
        self.reap();
        std::mem::take(&mut self.ready)
    }

    /// Takes every completion from the queue, resubmits short writes, and moves finished
    /// batches to `ready`.
    fn reap(&mut self) {
        let mut again = Vec::new();
        let results: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|completion| (completion.user_data(), completion.result()))
            .collect();
        for (user_data, result) in results {
            let kind = user_data & ((1 << KIND_BITS) - 1);
            if kind == KIND_WAKE {
                self.wake_out = false;
                continue;
            }
            let slot = (user_data >> KIND_BITS) as usize;
            let flight = self.flights[slot]
                .as_mut()
                .expect("a completion for a batch in flight");
            match kind {
                KIND_WRITE => {
                    flight.write_out = false;
                    let asked = flight.bytes.len() - flight.written;
                    match written_count(result, asked) {
                        Ok(Some(written)) => {
                            flight.written += written;
                            flight.again |= flight.written < flight.bytes.len();
                        }
                        Ok(None) => flight.again = true,
                        Err(error) => flight.error = flight.error.take().or(Some(error)),
                    }
                }
                _ => {
                    flight.fsync_out = false;
                    // A cancelled sync follows a failed or short write, handled there.
                    if result < 0 && result != -errno::ECANCELED {
                        flight.error = flight.error.take().or(Some(os_error(result)));
                    } else if result == -errno::ECANCELED && flight.error.is_none() {
                        flight.again = true;
                    }
                }
            }
            if flight.write_out || flight.fsync_out {
                continue;
            }
            if flight.error.is_none() && flight.again {
                flight.again = false;
                again.push(slot);
                continue;
            }
            let flight = self.flights[slot].take().expect("a batch in this slot");
            self.ready.push(Completion {
                id: flight.id,
                bytes: flight.bytes,
                result: flight.error.map_or(Ok(()), Err),
            });
        }
        if !again.is_empty() {
            for slot in again {
                self.push_chain(slot);
            }
            self.enter(0);
        }
    }
}

impl Drop for UringPipeline {
    fn drop(&mut self) {
        // The kernel may still write into the wake buffer and read from the batches: bring
        // every entry back before they are freed.
        if self.wake_out {
            use std::io::Write as _;
            let _ = self.wake_self.write_all(b"!");
        }
        while self.in_flight() > 0 || self.wake_out {
            self.enter(1);
            self.reap();
            if self.in_flight() == 0 && self.wake_out {
                let _ = std::io::Write::write_all(&mut self.wake_self, b"!");
            }
        }
    }
}

/// Builds a ring and checks that the kernel has the opcodes this module uses (`IORING_OP_WRITE`
/// and `IORING_OP_READ` arrived in Linux 5.6).
fn new_ring() -> io::Result<IoUring> {
    new_ring_with(RING_ENTRIES)
}

/// [`new_ring`] with `entries` submission entries.
fn new_ring_with(entries: u32) -> io::Result<IoUring> {
    let ring = IoUring::new(entries)?;
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (code, name) in [
        (opcode::Write::CODE, "IORING_OP_WRITE"),
        (opcode::Read::CODE, "IORING_OP_READ"),
        (opcode::Fsync::CODE, "IORING_OP_FSYNC"),
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("io_uring lacks {name}"),
            ));
        }
    }
    Ok(ring)
}

/// Checks an offset the way `pwrite` does (EINVAL past `i64::MAX`). io_uring would read
/// `u64::MAX` as "at the file position" instead, and write somewhere else.
fn file_offset(offset: u64) -> io::Result<u64> {
    if offset > i64::MAX as u64 {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    Ok(offset)
}

/// A completion's result as a byte count, or its error.
fn count(result: i32) -> io::Result<usize> {
    usize::try_from(result).map_err(|_| os_error(result))
}

/// A write's result within [`Storage::write_batch`]: how many bytes it wrote, `None` to submit
/// it again (EINTR, EAGAIN), or the error (and [`io::ErrorKind::WriteZero`] for nothing
/// written).
fn written_count(result: i32, asked: usize) -> io::Result<Option<usize>> {
    if result == -errno::EINTR || result == -errno::EAGAIN {
        return Ok(None);
    }
    match count(result)? {
        0 => Err(io::ErrorKind::WriteZero.into()),
        written => {
            assert!(written <= asked, "wrote {written} of {asked} bytes");
            Ok(Some(written))
        }
    }
}

/// The error a negative completion result stands for.
fn os_error(result: i32) -> io::Error {
    io::Error::from_raw_os_error(-result)
}

/// Gives up when `io_uring_enter` fails for good with `outstanding` entries of a call still out.
#[cold]
fn abandon_ring(error: &io::Error, outstanding: usize) -> ! {
    // Neither returning the error nor panicking is sound here: both end the borrow of a buffer
    // the kernel may still read from or write into. Written to stderr, not through `tracing`,
    // so that it shows with or without a subscriber.
    eprintln!("io_uring_enter failed ({error}) with {outstanding} operations out; aborting");
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// EBADF and EFBIG (Linux numbering).
    const EBADF: i32 = 9;
    const EFBIG: i32 = 27;

    /// A file in the temporary directory, removed when dropped.
    struct TempFile {
        path: PathBuf,
    }

    impl TempFile {
        fn new() -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            // Relaxed: the counter only has to hand out distinct numbers; no other memory is
            // published through it.
            let number = COUNTER.fetch_add(1, Ordering::Relaxed);
            let name = format!("workingdb-uring-{}-{number}", std::process::id());
            Self {
                path: std::env::temp_dir().join(name),
            }
        }

        fn open(&self) -> File {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&self.path)
                .unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// A fresh file and its storage, or `None` (said on stderr) where io_uring is unavailable.
    fn storage(test: &str) -> Option<(TempFile, UringStorage)> {
        if let Err(error) = UringStorage::probe() {
            eprintln!("{test}: skipped, io_uring is unavailable here: {error}");
            return None;
        }
        let temp = TempFile::new();
        let storage = UringStorage::new(temp.open()).unwrap();
        Some((temp, storage))
    }

    #[test]
    fn a_pipeline_keeps_several_batches_in_flight_and_wakes_on_the_pipe() {
        let Some((temp, storage)) = storage("pipeline") else {
            return;
        };
        let (reader, writer) = std::io::pipe().unwrap();
        let waker = writer.try_clone().unwrap();
        let mut pipeline = storage.pipeline(4, reader, writer).unwrap().unwrap();
        let mut expected = Vec::new();
        let mut offset = 0u64;
        let mut outstanding = std::collections::BTreeSet::new();
        let mut completed = 0;
        for batch in 0..50u32 {
            while !pipeline.has_room() {
                for completion in pipeline.wait() {
                    completion.result.unwrap();
                    assert!(outstanding.remove(&completion.id));
                    completed += 1;
                }
            }
            let bytes: Vec<u8> = (0..100 + batch).map(|i| (i + batch) as u8).collect();
            expected.extend_from_slice(&bytes);
            let length = bytes.len() as u64;
            outstanding.insert(pipeline.submit(offset, bytes, batch % 3 != 0));
            offset += length;
            assert!(pipeline.in_flight() <= 4);
        }
        while !outstanding.is_empty() {
            for completion in pipeline.wait() {
                completion.result.unwrap();
                assert!(outstanding.remove(&completion.id));
                completed += 1;
            }
        }
        assert_eq!(completed, 50);
        assert_eq!(std::fs::read(&temp.path).unwrap(), expected);
        // With nothing in flight, a byte on the pipe ends a wait with no completions.
        use std::io::Write as _;
        (&waker).write_all(b"x").unwrap();
        assert!(pipeline.wait().is_empty());
        drop(pipeline);
    }

    /// The same storage naming its file by descriptor, as where registration fails.
    fn by_descriptor(mut storage: UringStorage) -> UringStorage {
        storage.target = FileTarget::Descriptor(storage.file.as_raw_fd());
        storage
    }

    #[test]
    fn probe_succeeds_where_io_uring_is_available() {
        match UringStorage::probe() {
            Ok(()) => {
                let temp = TempFile::new();
                let storage = UringStorage::new(temp.open()).unwrap();
                eprintln!(
                    "io_uring available; file registered: {}",
                    storage.is_file_registered()
                );
            }
            Err(error) => eprintln!("io_uring is unavailable here (CI sandbox?): {error}"),
        }
    }

    #[test]
    fn a_synced_batch_reads_back() {
        for registered in [true, false] {
            let Some((temp, storage)) = storage("a_synced_batch_reads_back") else {
                return;
            };
            let mut storage = if registered {
                storage
            } else {
                by_descriptor(storage)
            };
            storage.write_batch(0, b"hello world", true).unwrap();
            assert_eq!(std::fs::read(&temp.path).unwrap(), b"hello world");
            assert_eq!(storage.size().unwrap(), 11);
            let mut buffer = [0; 5];
            assert_eq!(storage.read_at(6, &mut buffer).unwrap(), 5);
            assert_eq!(&buffer, b"world");
        }
    }

    #[test]
    fn many_batches_at_increasing_offsets() {
        let Some((temp, mut storage)) = storage("many_batches_at_increasing_offsets") else {
            return;
        };
        let mut expected = Vec::new();
        for batch in 0..200u32 {
            let length = 1 + (batch as usize * 37) % 700;
            let bytes: Vec<u8> = (0..length).map(|i| (i as u32 ^ batch) as u8).collect();
            storage
                .write_batch(expected.len() as u64, &bytes, batch % 3 != 0)
                .unwrap();
            expected.extend_from_slice(&bytes);
        }
        storage.sync().unwrap();
        assert_eq!(std::fs::read(&temp.path).unwrap(), expected);
        let mut back = vec![0; expected.len()];
        assert_eq!(storage.read_at(0, &mut back).unwrap(), expected.len());
        assert_eq!(back, expected);
    }

    #[test]
    fn a_batch_at_an_offset_and_an_empty_batch() {
        let Some((temp, mut storage)) = storage("a_batch_at_an_offset_and_an_empty_batch") else {
            return;
        };
        storage.write_batch(0, b"abc", false).unwrap();
        storage.write_batch(10, b"xyz", true).unwrap();
        assert_eq!(std::fs::read(&temp.path).unwrap(), b"abc\0\0\0\0\0\0\0xyz");
        // An empty batch writes nothing; with `sync` it is a lone fsync.
        storage.write_batch(13, b"", true).unwrap();
        storage.write_batch(13, b"", false).unwrap();
        assert_eq!(storage.size().unwrap(), 13);
        // Overwrite in the middle.
        storage.write_batch(3, b"-------", true).unwrap();
        assert_eq!(std::fs::read(&temp.path).unwrap(), b"abc-------xyz");
    }

    #[test]
    fn read_at_and_truncate() {
        let Some((temp, mut storage)) = storage("read_at_and_truncate") else {
            return;
        };
        assert_eq!(storage.write_at(0, b"hello world").unwrap(), 11);
        storage.sync().unwrap();
        let mut buffer = [0; 5];
        assert_eq!(storage.read_at(6, &mut buffer).unwrap(), 5);
        assert_eq!(&buffer, b"world");
        // Past the end a read returns what there is, then nothing.
        assert_eq!(storage.read_at(9, &mut buffer).unwrap(), 2);
        assert_eq!(&buffer[..2], b"ld");
        assert_eq!(storage.read_at(11, &mut buffer).unwrap(), 0);
        storage.truncate(5).unwrap();
        assert_eq!(storage.size().unwrap(), 5);
        assert_eq!(std::fs::read(&temp.path).unwrap(), b"hello");
        assert_eq!(storage.read_at(0, &mut buffer).unwrap(), 5);
        assert_eq!(&buffer, b"hello");
        // An offset io_uring would read as "the file position" is refused.
        assert_eq!(
            storage.write_at(u64::MAX, b"x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn a_failed_write_leaves_no_stale_completion() {
        if let Err(error) = UringStorage::probe() {
            eprintln!("a_failed_write_leaves_no_stale_completion: skipped: {error}");
            return;
        }
        let temp = TempFile::new();
        std::fs::write(&temp.path, b"read only").unwrap();
        let file = File::open(&temp.path).unwrap();
        let mut storage = UringStorage::new(file).unwrap();
        let mut buffer = [0; 9];
        for round in 0..4 {
            if round == 2 {
                storage = by_descriptor(storage);
            }
            // The write fails (EBADF: not open for writing) and its linked fsync is cancelled;
            // both completions are reaped, so the read that follows sees its own.
            let error = storage.write_batch(0, b"overwrite", true).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(EBADF), "{error}");
            assert_eq!(storage.read_at(0, &mut buffer).unwrap(), 9);
            assert_eq!(&buffer, b"read only");
            let error = storage.write_batch(0, b"overwrite", false).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(EBADF), "{error}");
            let error = storage.write_at(0, b"overwrite").unwrap_err();
            assert_eq!(error.raw_os_error(), Some(EBADF), "{error}");
        }
        storage.sync().unwrap();
        assert_eq!(std::fs::read(&temp.path).unwrap(), b"read only");
    }

    /// The environment variable that tells [`short_write_child`] it runs under a file size
    /// limit set by [`a_short_write_is_advanced_past_and_its_rest_resubmitted`].
    const SHORT_WRITE_CHILD: &str = "WORKINGDB_URING_SHORT_WRITE_CHILD";

    /// A regular file gives a short write on demand only at the file size limit
    /// (`RLIMIT_FSIZE`): a write across it stops there, and the next fails with EFBIG. This
    /// runs the test binary again under `ulimit -f`, with SIGXFSZ ignored, to run
    /// [`short_write_child`].
    #[test]
    fn a_short_write_is_advanced_past_and_its_rest_resubmitted() {
        if let Err(error) = UringStorage::probe() {
            eprintln!("a_short_write_is_advanced_past_and_its_rest_resubmitted: skipped: {error}");
            return;
        }
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -f 8 && trap '' XFSZ && exec \"$0\" \"$@\"")
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "uring::tests::short_write_child",
                "--ignored",
                "--nocapture",
            ])
            .env(SHORT_WRITE_CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
    }

    #[test]
    #[ignore = "run by a_short_write_is_advanced_past_and_its_rest_resubmitted, under ulimit -f"]
    fn short_write_child() {
        if std::env::var_os(SHORT_WRITE_CHILD).is_none() {
            return;
        }
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let limit: usize = limits
            .lines()
            .find(|line| line.starts_with("Max file size"))
            .and_then(|line| line.split_whitespace().nth(3))
            .and_then(|soft| soft.parse().ok())
            .expect("a file size limit in bytes");
        let temp = TempFile::new();
        let mut storage = UringStorage::new(temp.open()).unwrap();
        let bytes: Vec<u8> = (0..2 * limit).map(|i| (i % 251) as u8).collect();

        // The first write stops at the limit (short, so the kernel cancels its fsync); the
        // rest goes again at the advanced offset and fails with EFBIG. Had the first write
        // failed outright, the file would be empty.
        let error = storage.write_batch(0, &bytes, true).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(EFBIG), "{error}");
        assert_eq!(std::fs::read(&temp.path).unwrap(), &bytes[..limit]);

        // The same without sync.
        let error = storage.write_batch(0, &bytes, false).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(EFBIG), "{error}");

        // No completion was left behind: the ring still pairs each call with its own.
        let mut back = vec![0; limit];
        assert_eq!(storage.read_at(0, &mut back).unwrap(), limit);
        assert_eq!(back, &bytes[..limit]);
        storage
            .write_batch((limit / 2) as u64, &bytes[..limit / 2], true)
            .unwrap();
        assert_eq!(storage.size().unwrap(), limit as u64);
    }
}
