//! # writer: the append-only file as a journal subscriber, and the one writer thread behind it
//!
//! [`AppendLog`] is the [`crate::journal`]'s first subscriber (and, for tests and tools, a
//! keyspace journal of its own). It owns the pending buffer the event loops append to, the
//! writer thread, the active segment's storage and the durable position; [`crate::rewrite`]
//! owns what a rewrite adds (the segment switch, the base, the backoff), working on the same
//! state. The manifest and the parts are read and written under `Shared::manifest` by both.
//!
//! ## Flow of a record
//!
//! 1. An event loop runs a command; the keyspace installs its effect and reports it to the
//!    journal on the same thread, which encodes it once into a thread-local scratch buffer
//!    (the encoder checks the record by reading it back) and delivers it to each subscriber.
//! 2. [`AppendLog::append`], the AOF's delivery, then, under one short mutex, appends the bytes to the
//!    *pending* buffer and takes the log position after them: the record's *ticket*. The
//!    thread remembers its latest ticket ([`thread_ticket`]).
//! 3. The writer thread swaps the pending buffer for an empty one (group commit: everything
//!    every loop appended since the last batch goes in one write) and writes it at the end of
//!    the active segment with [`Storage::write_batch`]: under `appendfsync always` with the
//!    `fdatasync` linked behind the writes (io_uring), under `everysec` without, syncing on a
//!    one-second timer, under `no` never syncing.
//! 4. When a batch is durable the writer publishes the new durable position and calls the
//!    listeners (each event loop registers a closure that wakes it). Under `always` an event
//!    loop holds a client's replies until the durable position reaches the client's ticket;
//!    it never blocks on the writer, it is woken.
//!
//! ## Disk faults
//!
//! A failed write or sync sets the log *failing* ([`AppendLog::write_error`]): the server
//! refuses new writes (`-MISCONF Errors writing to the AOF file: ...`, as Redis) while reads
//! go on. The writer keeps every byte since the last successful sync in memory (`tail`) and
//! retries with a growing pause (10 ms to 1 s). Because Linux may drop dirty pages after a
//! failed `fsync` and then report success for the next one, a failed sync makes the writer
//! rewrite the whole tail from the last durable offset before it syncs again, rather than
//! trusting what the page cache holds. When a retry succeeds the log stops failing and the
//! held replies go out. So no client is ever told that a write it made *failed*: a write
//! that was refused was never applied nor logged, and a write that was applied is
//! acknowledged only once durable (under `always`) or was acknowledged before the fault
//! (under `everysec` and `no`, which promise nothing more).
//!
//! What replay does with the records of a batch whose write or sync failed: if the process
//! dies before a retry succeeds, those bytes may be in the file in full, in part, or not at
//! all. Replay treats them like any unsynced tail: whole records are applied (they are effects
//! that were applied in memory; under `always` no client had been answered), a torn record at
//! the end is cut off with a warning. None of them was acknowledged, so none is owed.

use crate::journal::{self, Entry, Subscriber};
use crate::manifest::{Kind, Manifest};
use crate::rewrite::Snapshotter;
use crate::storage::{FileStorage, Storage};
use keyspace::{Effect, Journal};
use std::cell::Cell;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every [`Fsync`], in the order of its number in `Shared::fsync`.
const FSYNC_POLICIES: [Fsync; 3] = [Fsync::Always, Fsync::EverySec, Fsync::No];

fn fsync_index(fsync: Fsync) -> u8 {
    match fsync {
        Fsync::Always => 0,
        Fsync::EverySec => 1,
        Fsync::No => 2,
    }
}

/// `appendfsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Every batch is synced before its clients are answered.
    Always,
    /// Synced once a second; clients are answered when the write is in memory.
    EverySec,
    /// Never synced by us; the kernel writes back when it likes.
    No,
}

impl Fsync {
    /// Redis's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }

    /// Parses Redis's name.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "always" => Some(Fsync::Always),
            "everysec" => Some(Fsync::EverySec),
            "no" => Some(Fsync::No),
            _ => None,
        }
    }
}

/// How the writer talks to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// io_uring, the sync linked behind the writes.
    Uring,
    /// `pwrite` and `fdatasync`.
    Sync,
}

/// Under `everysec` and `no`, how long the writer lets records gather before it takes them
/// (unless [`LAZY_BATCH_BYTES`] gather first). Nobody waits for these batches, so a writer
/// woken by every first record (a futex wake in the event loop, a context switch on a 2-core
/// machine) only costs CPU the loops need; Redis, single-threaded, writes once per event-loop
/// iteration for the same reason. It widens what a process crash can lose by at most this
/// much, which `everysec` (up to two seconds in Redis) does not notice.
pub const LAZY_BATCH_INTERVAL: Duration = Duration::from_millis(1);
/// Pending bytes that wake a lazy writer at once.
pub const LAZY_BATCH_BYTES: usize = 1024 * 1024;
/// How many times a shutting-down writer retries a failing disk before it gives up.
pub const SHUTDOWN_ATTEMPTS_MAX: u32 = 5;
/// How often `everysec` syncs.
pub const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);
/// The first pause before a retry after a fault; it doubles up to [`RETRY_PAUSE_MAX`].
pub const RETRY_PAUSE_MIN: Duration = Duration::from_millis(10);
/// The longest pause between retries.
pub const RETRY_PAUSE_MAX: Duration = Duration::from_secs(1);
/// Pending bytes past which [`AppendLog::record`] waits for the writer (backpressure, as
/// Redis delays writes when its fsync falls behind). 64 MiB is a few hundred milliseconds of
/// a fast disk, far more than any batch the writer takes under normal load.
pub const PENDING_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The pending limit for a store of `capacity` bytes: a quarter of a segment of fixed size,
/// so that the writer's tail (at most a quarter when it stops taking batches, plus one batch)
/// always fits an empty segment and can be carried whole into the next one.
pub(crate) fn pending_bytes_max_for(capacity: Option<u64>) -> usize {
    match capacity {
        Some(capacity) => PENDING_BYTES_MAX.min((capacity / 4) as usize).max(1),
        None => PENDING_BYTES_MAX,
    }
}

/// Opens the storage of a segment (a plain file, an io_uring file, or a test's fake).
pub type Opener = Box<dyn FnMut(&Path) -> io::Result<Box<dyn Storage>> + Send>;

/// What the log needs to run.
pub struct Options {
    /// The log directory (`dir/appenddirname`).
    pub dir: PathBuf,
    /// `appendfilename`: the stem of every part's name.
    pub file_name: String,
    /// `appendfsync`.
    pub fsync: Fsync,
    /// `auto-aof-rewrite-percentage`: rewrite when the log grew this much over its size after
    /// the last rewrite; 0 turns automatic rewrites off.
    pub auto_rewrite_percentage: u64,
    /// `auto-aof-rewrite-min-size`: never rewrite automatically below this size.
    pub auto_rewrite_min_bytes: u64,
    /// `aof-pipeline-depth` (ours): under `always`, how many batches may be in flight at once
    /// when the back-end has a pipeline (io_uring); 1 writes one batch at a time.
    pub pipeline_depth: usize,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("dir", &self.dir)
            .field("fsync", &self.fsync)
            .finish_non_exhaustive()
    }
}

/// An opener for plain files, or io_uring files when `io` says so.
pub fn file_opener(io: Io) -> Opener {
    Box::new(move |path| {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let storage: Box<dyn Storage> = match io {
            Io::Sync => Box::new(FileStorage::new(file)),
            Io::Uring => Box::new(crate::uring::UringStorage::new(file)?),
        };
        Ok(storage)
    })
}

thread_local! {
    /// The log position after the last record this thread appended.
    static TICKET: Cell<u64> = const { Cell::new(0) };
}

/// The log position after the last record the calling thread appended (0 if none): an event
/// loop compares it before and after running a client's commands to learn whether they wrote.
pub fn thread_ticket() -> u64 {
    TICKET.with(Cell::get)
}

/// What the event loops append to and the writer takes from.
pub(crate) struct Pending {
    pub(crate) bytes: Vec<u8>,
    /// The log position after `bytes` (positions count every byte ever appended, across
    /// segments, from the start of this process).
    pub(crate) end: u64,
    /// Set by [`AppendLog::rewrite`]; the writer clears it when it switches segments.
    pub(crate) rewrite_requested: bool,
    /// Set by [`AppendLog::set_fsync`]: the writer leaves its pipeline and reopens it (or not)
    /// for the new policy.
    pub(crate) reconfigure: bool,
    pub(crate) shutdown: bool,
}

/// Counters and state for `INFO persistence`.
#[derive(Debug, Default)]
pub(crate) struct Status {
    pub(crate) last_write_error: Option<String>,
    pub(crate) rewrite_started: Option<Instant>,
    pub(crate) last_rewrite_seconds: Option<u64>,
    pub(crate) last_rewrite_ok: bool,
    pub(crate) rewrites: u64,
    pub(crate) rewrite_failures_in_a_row: u64,
    /// When the last rewrite failed: automatic rewrites back off after repeated failures.
    pub(crate) last_rewrite_failure: Option<Instant>,
    pub(crate) last_rewrite_unix: u64,
    pub(crate) base_bytes: u64,
    /// Bytes of every part before the active segment.
    pub(crate) older_parts_bytes: u64,
    pub(crate) longest_switch_pause: Duration,
}

pub(crate) struct Shared {
    pub(crate) options: Options,
    pub(crate) pending: Mutex<Pending>,
    /// Wakes the writer when there is work; wakes appenders waiting for room.
    pub(crate) work: Condvar,
    pub(crate) room: Condvar,
    /// Appenders wait while the pending buffer holds more than this: [`PENDING_BYTES_MAX`],
    /// or less for a segment of fixed size (see [`pending_bytes_max_for`]).
    pub(crate) pending_bytes_max: AtomicUsize,
    /// The log position durable on disk (under `no`: handed to the kernel).
    pub(crate) durable: AtomicU64,
    /// Bytes in the active segment (for INFO and automatic rewrites).
    pub(crate) active_bytes: AtomicU64,
    pub(crate) failing: AtomicBool,
    pub(crate) rewriting: AtomicBool,
    pub(crate) status: Mutex<Status>,
    pub(crate) manifest: Mutex<Manifest>,
    pub(crate) listeners: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    pub(crate) snapshotter: Snapshotter,
    /// Set while the writer sleeps in its io_uring pipeline: an appender that finds the
    /// pending buffer empty then writes a byte to `wake_pipe` (the pipeline keeps a read of
    /// the other end in flight). The pending mutex orders the flag against the buffer check.
    pub(crate) writer_in_ring: AtomicBool,
    pub(crate) wake_pipe: std::io::PipeWriter,
    /// Set while the writer waits for records with nothing pending (an untimed wait, as far
    /// as appenders are concerned): the first record must notify it. While it is clear the
    /// writer wakes on its own ([`LAZY_BATCH_INTERVAL`]) and appenders skip the notification.
    pub(crate) writer_sleeping: AtomicBool,
    /// `appendfsync` now ([`Fsync`] as its index in [`FSYNC_POLICIES`]): `CONFIG SET` changes
    /// it while the writer runs.
    pub(crate) fsync: AtomicU8,
    /// Set while the log has no base yet (started at run time, its first base not written):
    /// a rewrite request then writes the base again instead of switching segments (see
    /// [`crate::rewrite`]).
    pub(crate) base_missing: AtomicBool,
    /// `auto-aof-rewrite-percentage` and `auto-aof-rewrite-min-size` now (`CONFIG SET`
    /// changes them; `options` holds their values at start-up).
    pub(crate) auto_rewrite_percentage: AtomicU64,
    pub(crate) auto_rewrite_min_bytes: AtomicU64,
}

impl Shared {
    /// `appendfsync` now.
    pub(crate) fn fsync(&self) -> Fsync {
        // Relaxed: a policy read afresh at every decision; nothing is published with it.
        FSYNC_POLICIES[usize::from(self.fsync.load(Ordering::Relaxed))]
    }

    /// Publishes `position` as durable: the log is healthy again if it was failing, and the
    /// listeners (event loops holding replies) are called. Each listener fences before it
    /// reads its loop's flag, which pairs with the loop's side (see `net::server`).
    pub(crate) fn publish_durable(&self, position: u64) {
        // Release: a loop that reads the position may answer for every byte before it.
        self.durable.store(position, Ordering::Release);
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::warn!("AOF write error is gone: writes are accepted again");
        }
        for listener in lock(&self.listeners).iter() {
            listener();
        }
    }

    /// Marks the log failing with `error` (logged once per failing spell).
    fn report_write_error(&self, error: &io::Error) {
        let text = error.to_string();
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "AOF write error: {text}; refusing writes and retrying every {:?} at most",
                RETRY_PAUSE_MAX
            );
        }
        lock(&self.status).last_write_error = Some(text);
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning: the state behind these mutexes is updated in single assignments; a panic
    // elsewhere cannot leave it half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The append-only file: a [`Journal`] for the keyspace and the writer thread behind it.
pub struct AppendLog {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for AppendLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppendLog")
            .field("options", &self.shared.options)
            .field("durable", &self.durable_position())
            .finish_non_exhaustive()
    }
}

impl AppendLog {
    /// Starts the writer on the manifest's active segment, appending after `active_bytes`
    /// (what replay kept of it). `opener` opens segments; `snapshotter` walks the keyspace for
    /// rewrites.
    pub fn start(
        options: Options,
        manifest: Manifest,
        active_bytes: u64,
        opener: Opener,
        snapshotter: Snapshotter,
    ) -> io::Result<Self> {
        let start = Start {
            active_bytes,
            first_position: 0,
            base_missing: false,
        };
        Self::start_inner(options, manifest, opener, snapshotter, start)
    }

    /// Starts the writer as [`AppendLog::start`] does, with what a log started at run time
    /// differs in (see [`crate::rewrite`]).
    pub(crate) fn start_inner(
        options: Options,
        manifest: Manifest,
        mut opener: Opener,
        snapshotter: Snapshotter,
        start: Start,
    ) -> io::Result<Self> {
        let active_path = options.dir.join(&manifest.active().name);
        let storage = opener(&active_path)?;
        let mut status = Status {
            last_rewrite_ok: true,
            last_rewrite_unix: journal::now_ms() / 1000,
            ..Status::default()
        };
        if !start.base_missing {
            for part in &manifest.parts[..manifest.parts.len() - 1] {
                let bytes = fs::metadata(options.dir.join(&part.name))?.len();
                status.older_parts_bytes += bytes;
                if part.kind == Kind::Base {
                    status.base_bytes = bytes;
                }
            }
        }
        let (wake_reader, wake_pipe) = std::io::pipe()?;
        let fsync = fsync_index(options.fsync);
        let auto_rewrite_percentage = options.auto_rewrite_percentage;
        let auto_rewrite_min_bytes = options.auto_rewrite_min_bytes;
        let shared = Arc::new(Shared {
            writer_in_ring: AtomicBool::new(false),
            writer_sleeping: AtomicBool::new(true),
            wake_pipe,
            options,
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                end: start.first_position,
                rewrite_requested: false,
                reconfigure: false,
                shutdown: false,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            pending_bytes_max: AtomicUsize::new(pending_bytes_max_for(storage.capacity())),
            durable: AtomicU64::new(start.first_position),
            active_bytes: AtomicU64::new(start.active_bytes),
            failing: AtomicBool::new(false),
            rewriting: AtomicBool::new(false),
            status: Mutex::new(status),
            manifest: Mutex::new(manifest),
            listeners: Mutex::new(Vec::new()),
            snapshotter,
            fsync: AtomicU8::new(fsync),
            base_missing: AtomicBool::new(start.base_missing),
            auto_rewrite_percentage: AtomicU64::new(auto_rewrite_percentage),
            auto_rewrite_min_bytes: AtomicU64::new(auto_rewrite_min_bytes),
        });
        let mut writer = Writer {
            shared: Arc::clone(&shared),
            storage,
            opener,
            synced_offset: start.active_bytes,
            tail: Vec::new(),
            tail_written: 0,
            tail_start_position: start.first_position,
            last_sync: Instant::now(),
            last_take: Instant::now(),
            pause: RETRY_PAUSE_MIN,
            rewrite_needed_from_synced: false,
            last_flush_full: false,
            wake_reader,
            pipeline: None,
        };
        writer.open_pipeline();
        let handle = std::thread::Builder::new()
            .name("aof-writer".into())
            .spawn(move || writer.run())?;
        Ok(Self {
            shared,
            writer: Mutex::new(Some(handle)),
        })
    }

    /// `appendfsync`.
    pub fn fsync(&self) -> Fsync {
        self.shared.fsync()
    }

    /// Changes `appendfsync` while the log runs (`CONFIG SET appendfsync`). The writer takes
    /// the new policy at its next batch; under `always` it leaves or enters its pipeline.
    pub fn set_fsync(&self, fsync: Fsync) {
        let mut pending = lock(&self.shared.pending);
        self.shared
            .fsync
            .store(fsync_index(fsync), Ordering::Relaxed);
        pending.reconfigure = true;
        drop(pending);
        self.shared.work.notify_one();
    }

    /// Changes the automatic rewrite thresholds while the log runs (`CONFIG SET
    /// auto-aof-rewrite-percentage` / `auto-aof-rewrite-min-size`).
    pub fn set_auto_rewrite(&self, percentage: u64, min_bytes: u64) {
        // Relaxed: thresholds read afresh at each check; nothing is published with them.
        let shared = &self.shared;
        shared
            .auto_rewrite_percentage
            .store(percentage, Ordering::Relaxed);
        shared
            .auto_rewrite_min_bytes
            .store(min_bytes, Ordering::Relaxed);
    }

    /// Registers a closure the writer calls whenever the durable position advances (an event
    /// loop's waker). It must be cheap and must not block.
    pub fn add_listener(&self, listener: Box<dyn Fn() + Send + Sync>) {
        lock(&self.shared.listeners).push(listener);
    }

    /// The log position known durable.
    pub fn durable_position(&self) -> u64 {
        // Acquire: pairs with the writer's Release store after the sync returned.
        self.shared.durable.load(Ordering::Acquire)
    }

    /// The error of the last failed write or sync while the log is failing; `None` when it is
    /// healthy. The server refuses writes while this is `Some`.
    pub fn write_error(&self) -> Option<String> {
        // Relaxed: a hint checked per command; the string is read under its mutex.
        if !self.shared.failing.load(Ordering::Relaxed) {
            return None;
        }
        lock(&self.shared.status).last_write_error.clone()
    }

    /// Asks for a rewrite (`BGREWRITEAOF`). `Err` with Redis's text when one is running.
    pub fn rewrite(&self) -> Result<(), &'static str> {
        if self.shared.rewriting.load(Ordering::Acquire) {
            return Err("Background append only file rewriting already in progress");
        }
        let mut pending = lock(&self.shared.pending);
        pending.rewrite_requested = true;
        self.shared.work.notify_one();
        Ok(())
    }

    /// Blocks until the durable position reaches `position` or `timeout` passes; whether it
    /// did. For tests and shutdown; event loops never call it.
    pub fn wait_durable(&self, position: u64, timeout: Duration) -> bool {
        let started = Instant::now();
        while self.durable_position() < position {
            if started.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Whether a rewrite is running.
    pub fn rewriting(&self) -> bool {
        self.shared.rewriting.load(Ordering::Acquire)
    }

    /// The `INFO persistence` fields that concern the AOF, in Redis's names and order.
    pub fn info(&self) -> Vec<(&'static str, String)> {
        let status = lock(&self.shared.status);
        // The request first, then the running flag: the writer sets the flag in the same
        // critical section in which it takes the request, so read in this order the two never
        // both say no while a requested rewrite has not finished (read the other way round,
        // a take between the two reads showed neither, and a test waiting on both saw a
        // rewrite "done" before it started).
        let pending = lock(&self.shared.pending);
        let (scheduled, buffered) = (pending.rewrite_requested, pending.bytes.len());
        drop(pending);
        let rewriting = self.rewriting();
        let current_rewrite = status
            .rewrite_started
            .filter(|_| rewriting)
            .map_or(-1, |started| started.elapsed().as_secs() as i64);
        let active = self.shared.active_bytes.load(Ordering::Relaxed);
        vec![
            ("aof_enabled", "1".into()),
            ("aof_rewrite_in_progress", u8::from(rewriting).to_string()),
            ("aof_rewrite_scheduled", u8::from(scheduled).to_string()),
            (
                "aof_last_rewrite_time_sec",
                status
                    .last_rewrite_seconds
                    .map_or(-1, |seconds| seconds as i64)
                    .to_string(),
            ),
            ("aof_current_rewrite_time_sec", current_rewrite.to_string()),
            (
                "aof_last_bgrewrite_status",
                if status.last_rewrite_ok { "ok" } else { "err" }.into(),
            ),
            ("aof_rewrites", status.rewrites.to_string()),
            (
                "aof_rewrites_consecutive_failures",
                status.rewrite_failures_in_a_row.to_string(),
            ),
            (
                "aof_last_write_status",
                if self.shared.failing.load(Ordering::Relaxed) {
                    "err"
                } else {
                    "ok"
                }
                .into(),
            ),
            ("aof_last_cow_size", "0".into()),
            (
                "aof_current_size",
                (status.older_parts_bytes + active).to_string(),
            ),
            ("aof_base_size", status.base_bytes.to_string()),
            ("aof_pending_rewrite", "0".into()),
            ("aof_buffer_length", buffered.to_string()),
            ("aof_pending_bio_fsync", "0".into()),
            ("aof_delayed_fsync", "0".into()),
            (
                "aof_longest_rewrite_switch_us",
                status.longest_switch_pause.as_micros().to_string(),
            ),
        ]
    }

    /// Unix time of the last successful rewrite (or of the start): what `LASTSAVE` reports.
    pub fn last_save_unix(&self) -> u64 {
        lock(&self.shared.status).last_rewrite_unix
    }

    /// Writes and syncs everything appended so far, then stops the writer.
    pub fn shutdown(&self) {
        {
            let mut pending = lock(&self.shared.pending);
            pending.shutdown = true;
            self.shared.work.notify_one();
        }
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }

    /// The position after everything appended so far.
    pub fn appended_position(&self) -> u64 {
        lock(&self.shared.pending).end
    }
}

impl Drop for AppendLog {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Journal for AppendLog {
    /// The log as a keyspace's journal of its own (database 0), without a
    /// [`crate::journal::Journal`] in between: for tests and tools that run one log over one
    /// keyspace.
    fn record(&self, version: u64, effect: &Effect<'_>) {
        self.record_in(0, version, effect);
    }
}

impl Subscriber for AppendLog {
    fn deliver(&self, entry: &Entry<'_>) {
        self.append(entry.records);
    }
}

impl AppendLog {
    /// Appends the record of `effect`, in database `db`, to the pending batch.
    pub fn record_in(&self, db: u8, version: u64, effect: &Effect<'_>) {
        journal::encode(db, version, effect, |records| self.append(records));
    }

    /// Appends encoded records to the pending batch (waiting while it is over its limit: the
    /// AOF's backpressure, see [`crate::journal`]) and wakes the writer if it needs waking.
    pub fn append(&self, records: &[u8]) {
        let mut pending = lock(&self.shared.pending);
        // Relaxed: a limit, read afresh on every append; nothing is published with it.
        let limit = self.shared.pending_bytes_max.load(Ordering::Relaxed);
        while pending.bytes.len() > limit && !pending.shutdown {
            pending = self
                .shared
                .room
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let was_empty = pending.bytes.is_empty();
        let before = pending.bytes.len();
        pending.bytes.extend_from_slice(records);
        pending.end += records.len() as u64;
        TICKET.with(|ticket| ticket.set(pending.end));
        // Read under the mutex: the writer sets and clears it holding the mutex too.
        let sleeping = self.shared.writer_sleeping.load(Ordering::Relaxed);
        let crossed = before < LAZY_BATCH_BYTES && pending.bytes.len() >= LAZY_BATCH_BYTES;
        drop(pending);
        let lazy = self.shared.fsync() != Fsync::Always;
        if crossed || (was_empty && (!lazy || sleeping)) {
            self.shared.work.notify_one();
        }
        if was_empty {
            // SeqCst: see `writer_in_ring`; the mutex above already orders it.
            if self.shared.writer_in_ring.load(Ordering::SeqCst) {
                use std::io::Write as _;
                // One byte per empty-to-full edge while the writer sleeps: the pipe cannot
                // fill up, so this never blocks for long.
                let _ = (&self.shared.wake_pipe).write(&[1]);
            }
        }
    }
}

/// What differs between a log started over a replayed directory and one started at run time.
pub(crate) struct Start {
    /// Bytes of the active segment already written (what replay kept of it).
    pub(crate) active_bytes: u64,
    /// The log position of the first byte appended: 0, or for a log started at run time the
    /// position where the previous log of this process ended, so that positions an event loop
    /// holds from that log never exceed the new log's (a held reply would wait forever).
    pub(crate) first_position: u64,
    /// The log has no base yet (started at run time).
    pub(crate) base_missing: bool,
}

/// The writer thread's state. It alone touches the active segment's storage.
pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) storage: Box<dyn Storage>,
    pub(crate) opener: Opener,
    /// The offset in the active segment up to which it is durable.
    pub(crate) synced_offset: u64,
    /// Every byte taken since `synced_offset` (written or not): what a retry rewrites.
    pub(crate) tail: Vec<u8>,
    /// How many bytes of `tail` are written (since the last fault).
    pub(crate) tail_written: usize,
    /// The log position of `tail[0]`.
    pub(crate) tail_start_position: u64,
    pub(crate) last_sync: Instant,
    /// When the writer last took a batch (the lazy policies' tick).
    pub(crate) last_take: Instant,
    pub(crate) pause: Duration,
    /// A sync failed: the page cache cannot be trusted, rewrite the whole tail.
    pub(crate) rewrite_needed_from_synced: bool,
    /// The last flush failed because a fixed-size segment (on an `--aof-device`) is full.
    pub(crate) last_flush_full: bool,
    /// The read end of the wake pipe, cloned into each pipeline.
    pub(crate) wake_reader: std::io::PipeReader,
    /// Under `always` with io_uring: the active segment's pipeline.
    pub(crate) pipeline: Option<crate::uring::UringPipeline>,
}

/// A batch in the pipeline.
struct InFlight {
    id: u64,
    /// The log position of its first byte and after its last.
    start_position: u64,
    end_position: u64,
    /// The segment offset after its last byte.
    end_offset: u64,
    /// Back from the kernel: its bytes, and whether it succeeded.
    done: Option<(Vec<u8>, bool)>,
}

impl Writer {
    /// Under `always` with a back-end that has one, opens the active segment's pipeline.
    pub(crate) fn open_pipeline(&mut self) {
        self.pipeline = None;
        let depth = self.shared.options.pipeline_depth;
        if self.shared.fsync() != Fsync::Always || depth <= 1 {
            return;
        }
        let wake = match (
            self.wake_reader.try_clone(),
            self.shared.wake_pipe.try_clone(),
        ) {
            (Ok(reader), Ok(writer)) => (reader, writer),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!("AOF: no pipeline ({error}); one batch at a time");
                return;
            }
        };
        match self.storage.pipeline(depth, wake.0, wake.1) {
            None => {}
            Some(Ok(pipeline)) => self.pipeline = Some(pipeline),
            Some(Err(error)) => tracing::warn!("AOF: no pipeline ({error}); one batch at a time"),
        }
    }

    fn run(&mut self) {
        let mut shutdown_attempts = 0;
        loop {
            if self.pipeline.is_some()
                && self.tail.is_empty()
                && !self.shared.failing.load(Ordering::Relaxed)
            {
                self.run_pipelined();
            }
            let (mut batch, end, rewrite, shutdown) = self.next_batch();
            if self.tail.is_empty() {
                // The common case under `always` and `no`: the batch becomes the tail as it is.
                self.tail_start_position = end - batch.len() as u64;
                std::mem::swap(&mut self.tail, &mut batch);
            } else {
                self.tail.extend_from_slice(&batch);
            }
            self.give_back(batch);
            // A tail at its limit on a segment of fixed size holds back new batches until a
            // sync clears it (see `next_batch`): sync now rather than at the next tick.
            let tail_at_limit = self.tail_at_limit();
            let sync_due = match self.shared.fsync() {
                Fsync::Always => true,
                Fsync::EverySec => {
                    self.last_sync.elapsed() >= EVERYSEC_INTERVAL || shutdown || tail_at_limit
                }
                Fsync::No => shutdown,
            };
            let mut healthy = self.flush(sync_due);
            if rewrite {
                // Even when the flush failed: the switch flushes first and, if it still
                // cannot, asks again later (or, on a full device segment, carries the tail
                // into the new segment). Skipping it would leave the rewrite marked running.
                healthy = if self.shared.base_missing.load(Ordering::Acquire) {
                    self.write_missing_base()
                } else {
                    self.switch_segment()
                };
            }
            if shutdown {
                // Done only when nothing is left behind: a tail held at its limit (segments of
                // fixed size) leaves records in the pending buffer for the next turn.
                if healthy && self.tail.is_empty() && lock(&self.shared.pending).bytes.is_empty() {
                    return;
                }
                if healthy {
                    continue;
                }
                shutdown_attempts += 1;
                if shutdown_attempts >= SHUTDOWN_ATTEMPTS_MAX {
                    tracing::error!(
                        "AOF: giving up on {} unwritten bytes at shutdown: the disk keeps failing",
                        self.tail.len()
                    );
                    return;
                }
            }
            if !healthy {
                if self.last_flush_full
                    && !lock(&self.shared.status).rewrites_backing_off()
                    && !self.shared.rewriting.load(Ordering::Acquire)
                {
                    // A full device segment empties only through a rewrite, unless the tail is
                    // larger than a whole segment: then no switch can help, and the error
                    // (MISCONF) stays until the operator gives the device more room.
                    let capacity = self.storage.capacity().unwrap_or(u64::MAX);
                    if (self.tail.len() as u64) < capacity {
                        lock(&self.shared.pending).rewrite_requested = true;
                    } else {
                        tracing::error!(
                            "AOF: a batch of {} bytes is larger than a device segment ({capacity} \
                             bytes); give --aof-device more room",
                            self.tail.len()
                        );
                    }
                }
                std::thread::sleep(self.pause);
                self.pause = (self.pause * 2).min(RETRY_PAUSE_MAX);
            } else {
                self.pause = RETRY_PAUSE_MIN;
                self.maybe_auto_rewrite();
            }
        }
    }

    /// The group commit with several batches in flight (`always` over io_uring). Returns, with
    /// nothing in flight, when a rewrite or shutdown is asked for (left for `run` to take) or a
    /// batch failed (its bytes and every later batch's become the tail, to be rewritten from
    /// the last durable offset by `run`'s retry path).
    fn run_pipelined(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut pipeline = self.pipeline.take().expect("called with a pipeline");
        let mut flights: std::collections::VecDeque<InFlight> = Default::default();
        let mut next_offset = self.synced_offset;
        let mut failed: Option<io::Error> = None;
        let mut stopping = false;
        let mut batches_since_check = 0u32;
        loop {
            // 1. Take what the loops appended, if there is room for another batch.
            let mut took = false;
            if failed.is_none() && !stopping && pipeline.has_room() {
                let mut pending = lock(&shared.pending);
                if pending.rewrite_requested || pending.shutdown || pending.reconfigure {
                    stopping = true;
                } else if !pending.bytes.is_empty() {
                    let batch = std::mem::take(&mut pending.bytes);
                    let end_position = pending.end;
                    drop(pending);
                    shared.room.notify_all();
                    let length = batch.len() as u64;
                    let id = pipeline.submit(next_offset, batch, true);
                    flights.push_back(InFlight {
                        id,
                        start_position: end_position - length,
                        end_position,
                        end_offset: next_offset + length,
                        done: None,
                    });
                    next_offset += length;
                    took = true;
                }
            }
            if flights.is_empty() {
                if stopping || failed.is_some() {
                    break;
                }
                // Idle: wait for an appender, as `next_batch` does.
                let pending = lock(&shared.pending);
                if pending.bytes.is_empty()
                    && !pending.rewrite_requested
                    && !pending.shutdown
                    && !pending.reconfigure
                {
                    let _ = shared
                        .work
                        .wait_timeout(pending, EVERYSEC_INTERVAL)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                continue;
            }
            // 2. Completions: wait for one when there is nothing new to send.
            let completions = if took && pipeline.has_room() {
                pipeline.poll()
            } else {
                shared.writer_in_ring.store(true, Ordering::SeqCst);
                let idle = lock(&shared.pending).bytes.is_empty();
                let completions = if idle || !pipeline.has_room() || stopping {
                    pipeline.wait()
                } else {
                    pipeline.poll()
                };
                shared.writer_in_ring.store(false, Ordering::SeqCst);
                completions
            };
            for completion in completions {
                let flight = flights
                    .iter_mut()
                    .find(|flight| flight.id == completion.id)
                    .expect("a completion of a batch in flight");
                let ok = completion.result.is_ok();
                if let Err(error) = completion.result {
                    failed.get_or_insert(error);
                }
                flight.done = Some((completion.bytes, ok));
            }
            // 3. Durable: the batches before the first one still out or failed.
            let mut durable = None;
            while let Some(InFlight {
                done: Some((_, true)),
                ..
            }) = flights.front()
            {
                let flight = flights.pop_front().expect("a front batch");
                let (bytes, _) = flight.done.expect("checked above");
                self.synced_offset = flight.end_offset;
                self.tail_start_position = flight.end_position;
                shared
                    .active_bytes
                    .store(flight.end_offset, Ordering::Relaxed);
                self.give_back(bytes);
                durable = Some(flight.end_position);
                batches_since_check += 1;
            }
            if let Some(position) = durable {
                shared.publish_durable(position);
                if batches_since_check >= 64 {
                    batches_since_check = 0;
                    self.maybe_auto_rewrite();
                }
            }
            if failed.is_some() && flights.iter().all(|flight| flight.done.is_some()) {
                break;
            }
        }
        if let Some(error) = failed {
            // Everything not durable goes back to the synchronous path, rewritten whole from
            // the last durable offset (a failed sync poisons what the page cache holds).
            self.tail.clear();
            self.tail_written = 0;
            if let Some(first) = flights.front() {
                self.tail_start_position = first.start_position;
            }
            for flight in flights {
                let (bytes, _) = flight.done.expect("every batch is back");
                self.tail.extend_from_slice(&bytes);
            }
            self.rewrite_needed_from_synced = true;
            shared.report_write_error(&error);
        }
        self.pipeline = Some(pipeline);
    }

    /// Whether the tail has reached a quarter of a segment of fixed size: it then takes no
    /// new batch (see `next_batch`), so that it can always be carried whole into an empty
    /// segment (the same bound as [`pending_bytes_max_for`]).
    fn tail_at_limit(&self) -> bool {
        self.storage
            .capacity()
            .is_some_and(|capacity| self.tail.len() as u64 >= capacity / 4)
    }

    /// Waits for work and takes it: the pending bytes, the position after them, whether a
    /// rewrite was asked for, whether to shut down.
    fn next_batch(&mut self) -> (Vec<u8>, u64, bool, bool) {
        let shared = Arc::clone(&self.shared);
        let lazy = shared.fsync() != Fsync::Always;
        let mut pending = lock(&shared.pending);
        loop {
            let failing = shared.failing.load(Ordering::Relaxed);
            let unsynced = !self.tail.is_empty();
            if pending.rewrite_requested || pending.shutdown || pending.reconfigure || failing {
                break;
            }
            let sync_due = unsynced
                && shared.fsync() == Fsync::EverySec
                && self.last_sync.elapsed() >= EVERYSEC_INTERVAL;
            if sync_due {
                break;
            }
            if !pending.bytes.is_empty() {
                // Lazy policies let a batch gather for a tick after the last one was taken.
                let waited = self.last_take.elapsed();
                if !lazy || waited >= LAZY_BATCH_INTERVAL || pending.bytes.len() >= LAZY_BATCH_BYTES
                {
                    break;
                }
                let (guard, _) = shared
                    .work
                    .wait_timeout(pending, LAZY_BATCH_INTERVAL - waited)
                    .unwrap_or_else(PoisonError::into_inner);
                pending = guard;
                continue;
            }
            let timeout = match (shared.fsync(), unsynced) {
                (Fsync::EverySec, true) => {
                    EVERYSEC_INTERVAL.saturating_sub(self.last_sync.elapsed())
                }
                _ => EVERYSEC_INTERVAL,
            };
            // Nothing pending: the first record must wake us.
            shared.writer_sleeping.store(true, Ordering::Relaxed);
            let (guard, _) = shared
                .work
                .wait_timeout(pending, timeout)
                .unwrap_or_else(PoisonError::into_inner);
            pending = guard;
            shared.writer_sleeping.store(false, Ordering::Relaxed);
            if !pending.bytes.is_empty() && lazy {
                // Woken by a first record: give the others the tick to join it.
                self.last_take = Instant::now();
            }
        }
        self.last_take = Instant::now();
        // While a fixed-size segment is full, the tail stays what it was when it filled: it is
        // carried whole into the next segment, so it must not outgrow one. New records wait in
        // the pending buffer (and its backpressure) until the switch. For the same reason a
        // tail that failing writes let grow to a quarter of a segment takes no more.
        let batch = if self.last_flush_full || self.tail_at_limit() {
            Vec::new()
        } else {
            std::mem::take(&mut pending.bytes)
        };
        let end = pending.end;
        // Taking the request marks the rewrite as running (until it ends or fails), so no
        // observer sees a moment where it is neither scheduled nor running.
        let rewrite = std::mem::take(&mut pending.rewrite_requested)
            && !shared.rewriting.swap(true, Ordering::AcqRel);
        let shutdown = pending.shutdown;
        let reconfigure = std::mem::take(&mut pending.reconfigure);
        drop(pending);
        shared.room.notify_all();
        if reconfigure {
            // Between batches nothing is in flight: the pipeline can go, or come, at once.
            self.open_pipeline();
        }
        (batch, end, rewrite, shutdown)
    }

    /// Hands an emptied batch buffer back so the appenders reuse its allocation.
    fn give_back(&mut self, mut batch: Vec<u8>) {
        batch.clear();
        let mut pending = lock(&self.shared.pending);
        if pending.bytes.is_empty() && pending.bytes.capacity() < batch.capacity() {
            pending.bytes = batch;
        }
    }

    /// Writes what of the tail is unwritten and, if `sync`, syncs; publishes positions and
    /// wakes listeners. Returns whether the storage is healthy.
    pub(crate) fn flush(&mut self, sync: bool) -> bool {
        let unwritten_from = if self.rewrite_needed_from_synced {
            0
        } else {
            self.tail_written
        };
        let need_write = unwritten_from < self.tail.len();
        let need_sync = sync && !self.tail.is_empty();
        if !need_write && !need_sync {
            return true;
        }
        let offset = self.synced_offset + unwritten_from as u64;
        let result = self
            .storage
            .write_batch(offset, &self.tail[unwritten_from..], sync);
        let shared = &self.shared;
        match result {
            Ok(()) => {
                self.last_flush_full = false;
                self.tail_written = self.tail.len();
                self.rewrite_needed_from_synced = false;
                let end_position = self.tail_start_position + self.tail.len() as u64;
                let end_offset = self.synced_offset + self.tail.len() as u64;
                shared.active_bytes.store(end_offset, Ordering::Relaxed);
                if sync || shared.fsync() == Fsync::No {
                    if sync {
                        self.last_sync = Instant::now();
                    }
                    self.synced_offset = end_offset;
                    self.tail.clear();
                    self.tail_written = 0;
                    self.tail_start_position = end_position;
                    shared.publish_durable(end_position);
                }
                true
            }
            Err(error) => {
                // A segment of fixed size that is full: nothing of the batch was written.
                self.last_flush_full =
                    error.kind() == io::ErrorKind::StorageFull && self.storage.capacity().is_some();
                if sync && !self.last_flush_full {
                    // After a failed sync the page cache cannot be trusted (module docs).
                    self.rewrite_needed_from_synced = true;
                }
                shared.report_write_error(&error);
                false
            }
        }
    }
}
