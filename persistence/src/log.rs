//! # log: the journal the keyspace reports to, and the one writer thread behind it
//!
//! ## Flow of a record
//!
//! 1. An event loop runs a command; the keyspace installs its effect and calls
//!    [`AppendLog::record`] (the [`Journal`] implementation) on the same thread.
//! 2. `record` encodes the effect into a thread-local scratch buffer (the encoder checks the
//!    record by reading it back), then, under one short mutex, appends the bytes to the
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
//!
//! ## Rewrite
//!
//! [`AppendLog::rewrite`] asks the writer to start a new incremental segment at its next
//! batch boundary (it syncs the old one first and names the new one in the manifest), then a
//! rewrite thread writes a base from [`keyspace::Keyspace::snapshot`] and switches the
//! manifest to "new base + new segment". The writer is never stopped for more than the segment
//! switch (open a file, one fsync, one manifest store); the event loops never stop.
//!
//! A segment on an `--aof-device` ([`crate::device`]) has a fixed size: the writer asks for a
//! rewrite when it is half full, and should it fill up anyway, the switch carries the tail
//! that did not fit (none of it was written: the block log checks room before writing) to the
//! start of the new segment, in the same order.

use crate::effect;
use crate::manifest::{self, Kind, Manifest, Part};
use crate::storage::{FileStorage, Storage};
use keyspace::{Effect, Journal};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
fn pending_bytes_max_for(capacity: Option<u64>) -> usize {
    match capacity {
        Some(capacity) => PENDING_BYTES_MAX.min((capacity / 4) as usize).max(1),
        None => PENDING_BYTES_MAX,
    }
}

/// Opens the storage of a segment (a plain file, an io_uring file, or a test's fake).
pub type Opener = Box<dyn FnMut(&Path) -> io::Result<Box<dyn Storage>> + Send>;

/// Walks the live keyspace, calling the visitor with each key's database, version and
/// whole-value effect (see `Keyspace::snapshot`).
pub type Snapshotter = Arc<dyn Fn(&mut dyn FnMut(u8, u64, &Effect<'_>)) + Send + Sync>;

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
    /// Where this thread encodes a record before appending it.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The log position after the last record the calling thread appended (0 if none): an event
/// loop compares it before and after running a client's commands to learn whether they wrote.
pub fn thread_ticket() -> u64 {
    TICKET.with(Cell::get)
}

/// What the event loops append to and the writer takes from.
struct Pending {
    bytes: Vec<u8>,
    /// The log position after `bytes` (positions count every byte ever appended, across
    /// segments, from the start of this process).
    end: u64,
    /// Set by [`AppendLog::rewrite`]; the writer clears it when it switches segments.
    rewrite_requested: bool,
    shutdown: bool,
}

/// Counters and state for `INFO persistence`.
#[derive(Debug, Default)]
struct Status {
    last_write_error: Option<String>,
    rewrite_started: Option<Instant>,
    last_rewrite_seconds: Option<u64>,
    last_rewrite_ok: bool,
    rewrites: u64,
    rewrite_failures_in_a_row: u64,
    /// When the last rewrite failed: automatic rewrites back off after repeated failures.
    last_rewrite_failure: Option<Instant>,
    last_rewrite_unix: u64,
    base_bytes: u64,
    /// Bytes of every part before the active segment.
    older_parts_bytes: u64,
    longest_switch_pause: Duration,
}

struct Shared {
    options: Options,
    pending: Mutex<Pending>,
    /// Wakes the writer when there is work; wakes appenders waiting for room.
    work: Condvar,
    room: Condvar,
    /// Appenders wait while the pending buffer holds more than this: [`PENDING_BYTES_MAX`],
    /// or less for a segment of fixed size (see [`pending_bytes_max_for`]).
    pending_bytes_max: AtomicUsize,
    /// The log position durable on disk (under `no`: handed to the kernel).
    durable: AtomicU64,
    /// Bytes in the active segment (for INFO and automatic rewrites).
    active_bytes: AtomicU64,
    failing: AtomicBool,
    rewriting: AtomicBool,
    status: Mutex<Status>,
    manifest: Mutex<Manifest>,
    listeners: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    snapshotter: Snapshotter,
    /// Set while the writer sleeps in its io_uring pipeline: an appender that finds the
    /// pending buffer empty then writes a byte to `wake_pipe` (the pipeline keeps a read of
    /// the other end in flight). The pending mutex orders the flag against the buffer check.
    writer_in_ring: AtomicBool,
    wake_pipe: std::io::PipeWriter,
    /// Set while the writer waits for records with nothing pending (an untimed wait, as far
    /// as appenders are concerned): the first record must notify it. While it is clear the
    /// writer wakes on its own ([`LAZY_BATCH_INTERVAL`]) and appenders skip the notification.
    writer_sleeping: AtomicBool,
}

impl Shared {
    /// Publishes `position` as durable: the log is healthy again if it was failing, and the
    /// listeners (event loops holding replies) are called. Each listener fences before it
    /// reads its loop's flag, which pairs with the loop's side (see `net::server`).
    fn publish_durable(&self, position: u64) {
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Poisoning: the state behind these mutexes is updated in single assignments; a panic
    // elsewhere cannot leave it half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
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
        mut opener: Opener,
        snapshotter: Snapshotter,
    ) -> io::Result<Self> {
        let active_path = options.dir.join(&manifest.active().name);
        let storage = opener(&active_path)?;
        let mut status = Status {
            last_rewrite_ok: true,
            last_rewrite_unix: now_ms() / 1000,
            ..Status::default()
        };
        for part in &manifest.parts[..manifest.parts.len() - 1] {
            let bytes = fs::metadata(options.dir.join(&part.name))?.len();
            status.older_parts_bytes += bytes;
            if part.kind == Kind::Base {
                status.base_bytes = bytes;
            }
        }
        let (wake_reader, wake_pipe) = std::io::pipe()?;
        let shared = Arc::new(Shared {
            writer_in_ring: AtomicBool::new(false),
            writer_sleeping: AtomicBool::new(true),
            wake_pipe,
            options,
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                end: 0,
                rewrite_requested: false,
                shutdown: false,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            pending_bytes_max: AtomicUsize::new(pending_bytes_max_for(storage.capacity())),
            durable: AtomicU64::new(0),
            active_bytes: AtomicU64::new(active_bytes),
            failing: AtomicBool::new(false),
            rewriting: AtomicBool::new(false),
            status: Mutex::new(status),
            manifest: Mutex::new(manifest),
            listeners: Mutex::new(Vec::new()),
            snapshotter,
        });
        let mut writer = Writer {
            shared: Arc::clone(&shared),
            storage,
            opener,
            synced_offset: active_bytes,
            tail: Vec::new(),
            tail_written: 0,
            tail_start_position: 0,
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
        self.shared.options.fsync
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
        let rewriting = self.rewriting();
        let pending = lock(&self.shared.pending);
        let (scheduled, buffered) = (pending.rewrite_requested, pending.bytes.len());
        drop(pending);
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

/// The journal of numbered database `db`: the log, tagging every record with the database.
/// Each database's keyspace reports to its own (database 0's records are exactly those of a
/// log written before there were several).
pub struct DbJournal {
    db: u8,
    log: Arc<AppendLog>,
}

impl DbJournal {
    /// Database `db`'s journal into `log`.
    pub fn new(db: u8, log: Arc<AppendLog>) -> Self {
        Self { db, log }
    }
}

impl Journal for DbJournal {
    fn record(&self, version: u64, effect: &Effect<'_>) {
        self.log.record_in(self.db, version, effect);
    }
}

impl Journal for AppendLog {
    fn record(&self, version: u64, effect: &Effect<'_>) {
        self.record_in(0, version, effect);
    }
}

impl AppendLog {
    /// Appends the record of `effect`, in database `db`, to the pending batch.
    pub fn record_in(&self, db: u8, version: u64, effect: &Effect<'_>) {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            if let Err(too_large) = effect::encode_in(&mut scratch, db, version, now_ms(), effect) {
                // The keyspace caps values at 512 MiB and lists are split by the caller, so
                // this is a programmer error, not an operating one.
                panic!("an effect too large for a record: {too_large:?}");
            }
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
            pending.bytes.extend_from_slice(&scratch);
            pending.end += scratch.len() as u64;
            TICKET.with(|ticket| ticket.set(pending.end));
            // Read under the mutex: the writer sets and clears it holding the mutex too.
            let sleeping = self.shared.writer_sleeping.load(Ordering::Relaxed);
            let crossed = before < LAZY_BATCH_BYTES && pending.bytes.len() >= LAZY_BATCH_BYTES;
            drop(pending);
            let lazy = self.shared.options.fsync != Fsync::Always;
            if crossed || (was_empty && (!lazy || sleeping)) {
                self.shared.work.notify_one();
            }
            if was_empty {
                // SeqCst: see `writer_in_ring`; the mutex above already orders it.
                if self.shared.writer_in_ring.load(Ordering::SeqCst) {
                    use std::io::Write as _;
                    // One byte per empty-to-full edge while the writer sleeps: the pipe
                    // cannot fill up, so this never blocks for long.
                    let _ = (&self.shared.wake_pipe).write(&[1]);
                }
            }
        });
    }
}

/// The writer thread's state. It alone touches the active segment's storage.
struct Writer {
    shared: Arc<Shared>,
    storage: Box<dyn Storage>,
    opener: Opener,
    /// The offset in the active segment up to which it is durable.
    synced_offset: u64,
    /// Every byte taken since `synced_offset` (written or not): what a retry rewrites.
    tail: Vec<u8>,
    /// How many bytes of `tail` are written (since the last fault).
    tail_written: usize,
    /// The log position of `tail[0]`.
    tail_start_position: u64,
    last_sync: Instant,
    /// When the writer last took a batch (the lazy policies' tick).
    last_take: Instant,
    pause: Duration,
    /// A sync failed: the page cache cannot be trusted, rewrite the whole tail.
    rewrite_needed_from_synced: bool,
    /// The last flush failed because a fixed-size segment (on an `--aof-device`) is full.
    last_flush_full: bool,
    /// The read end of the wake pipe, cloned into each pipeline.
    wake_reader: std::io::PipeReader,
    /// Under `always` with io_uring: the active segment's pipeline.
    pipeline: Option<crate::uring::UringPipeline>,
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
    fn open_pipeline(&mut self) {
        self.pipeline = None;
        let depth = self.shared.options.pipeline_depth;
        if self.shared.options.fsync != Fsync::Always || depth <= 1 {
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
            let sync_due = match self.shared.options.fsync {
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
                healthy = self.switch_segment();
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
                if pending.rewrite_requested || pending.shutdown {
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
                if pending.bytes.is_empty() && !pending.rewrite_requested && !pending.shutdown {
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
        let lazy = shared.options.fsync != Fsync::Always;
        let mut pending = lock(&shared.pending);
        loop {
            let failing = shared.failing.load(Ordering::Relaxed);
            let unsynced = !self.tail.is_empty();
            if pending.rewrite_requested || pending.shutdown || failing {
                break;
            }
            let sync_due = unsynced
                && shared.options.fsync == Fsync::EverySec
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
            let timeout = match (shared.options.fsync, unsynced) {
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
        drop(pending);
        shared.room.notify_all();
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
    fn flush(&mut self, sync: bool) -> bool {
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
                if sync || shared.options.fsync == Fsync::No {
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

    /// Starts a new incremental segment and the rewrite thread that writes the new base.
    fn switch_segment(&mut self) -> bool {
        let started = Instant::now();
        let shared = Arc::clone(&self.shared);
        // Everything before the switch must be durable in the old segment: a crash during the
        // rewrite replays old parts + the new segment, and must not lose a middle piece.
        let carry_tail = !self.tail.is_empty() && !self.flush(true);
        if carry_tail && !self.last_flush_full {
            // Not now: the disk is failing. Ask again once it is back.
            shared.rewriting.store(false, Ordering::Release);
            lock(&shared.pending).rewrite_requested = true;
            return false;
        }
        // Otherwise, when the flush failed, the old segment is a full device segment. What of
        // the tail it took (written, not yet synced, under everysec and no) is synced there
        // and dropped from the tail; the rest, which it could not take, goes to the start of
        // the new segment, in the same order. Carrying the written part too would log its
        // records twice, and a list push applied twice is a different list.
        if carry_tail && self.tail_written > 0 {
            if self.rewrite_needed_from_synced || self.storage.sync().is_err() {
                shared.rewriting.store(false, Ordering::Release);
                lock(&shared.pending).rewrite_requested = true;
                return false;
            }
            let written = self.tail_written;
            self.synced_offset += written as u64;
            self.tail_start_position += written as u64;
            self.tail.drain(..written);
            self.tail_written = 0;
            self.last_sync = Instant::now();
            shared.publish_durable(self.tail_start_position);
        }
        let mut manifest = lock(&shared.manifest);
        let seq = manifest.max_seq() + 1;
        let name = manifest::part_name(&shared.options.file_name, seq, Kind::Incremental);
        let path = shared.options.dir.join(&name);
        let opened = (self.opener)(&path).and_then(|storage| {
            manifest::sync_dir(&shared.options.dir)?;
            Ok(storage)
        });
        let storage = match opened {
            Ok(storage) => storage,
            Err(error) => {
                tracing::error!("AOF rewrite: cannot create {}: {error}", path.display());
                lock(&shared.status).last_rewrite_ok = false;
                shared.rewriting.store(false, Ordering::Release);
                return true;
            }
        };
        let mut next = manifest.clone();
        next.parts.push(Part {
            name,
            seq,
            kind: Kind::Incremental,
        });
        if let Err(error) = manifest::store(&shared.options.dir, &shared.options.file_name, &next) {
            tracing::error!("AOF rewrite: cannot store the manifest: {error}");
            lock(&shared.status).last_rewrite_ok = false;
            shared.rewriting.store(false, Ordering::Release);
            let _ = fs::remove_file(&path);
            return true;
        }
        let old_active = self.synced_offset;
        *manifest = next.clone();
        drop(manifest);
        self.pipeline = None;
        self.shared
            .pending_bytes_max
            .store(pending_bytes_max_for(storage.capacity()), Ordering::Relaxed);
        self.storage = storage;
        self.open_pipeline();
        self.synced_offset = 0;
        if !carry_tail {
            self.tail.clear();
        }
        self.tail_written = 0;
        self.rewrite_needed_from_synced = false;
        // A carried tail keeps `last_flush_full` until it is written, so no new batch joins
        // it before then (see `next_batch`).
        self.last_flush_full = carry_tail;
        shared.active_bytes.store(0, Ordering::Relaxed);
        shared.rewriting.store(true, Ordering::Release);
        {
            let mut status = lock(&shared.status);
            status.older_parts_bytes += old_active;
            status.rewrite_started = Some(Instant::now());
            let pause = started.elapsed();
            status.longest_switch_pause = status.longest_switch_pause.max(pause);
        }
        let rewriter = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("aof-rewrite".into())
            .spawn(move || write_base(&rewriter, seq));
        if let Err(error) = spawned {
            tracing::error!("AOF rewrite: cannot start its thread: {error}");
            shared.rewriting.store(false, Ordering::Release);
        }
        true
    }

    fn maybe_auto_rewrite(&mut self) {
        if lock(&self.shared.status).rewrites_backing_off() {
            return;
        }
        if let Some(capacity) = self.storage.capacity() {
            // A device segment has a fixed size: rewrite at half of it, whatever the
            // percentage options say, so the new segment starts long before this one fills.
            let active = self.shared.active_bytes.load(Ordering::Relaxed);
            if active >= capacity / 2 && !self.shared.rewriting.load(Ordering::Acquire) {
                tracing::info!(
                    "Starting rewriting of AOF: the device segment holds {active} of its \
                     {capacity} bytes"
                );
                lock(&self.shared.pending).rewrite_requested = true;
                return;
            }
        }
        let options = &self.shared.options;
        if options.auto_rewrite_percentage == 0 || self.shared.rewriting.load(Ordering::Acquire) {
            return;
        }
        let status = lock(&self.shared.status);
        let size = status.older_parts_bytes + self.shared.active_bytes.load(Ordering::Relaxed);
        let base = status.base_bytes.max(1);
        drop(status);
        let growth_percent = (size.saturating_sub(base)).saturating_mul(100) / base;
        if size >= options.auto_rewrite_min_bytes
            && growth_percent >= options.auto_rewrite_percentage
        {
            tracing::info!("Starting automatic rewriting of AOF on {growth_percent}% growth");
            let mut pending = lock(&self.shared.pending);
            pending.rewrite_requested = true;
        }
    }
}

/// Ends a failed rewrite: the new base goes, the manifest still names the old parts and the
/// new segment (all loadable), and the next rewrite starts from there.
fn rewrite_failed(shared: &Shared, base: &Path, why: &str) {
    tracing::error!("AOF rewrite failed {why}");
    let _ = fs::remove_file(base);
    let mut status = lock(&shared.status);
    status.last_rewrite_ok = false;
    status.rewrite_failures_in_a_row += 1;
    status.last_rewrite_failure = Some(Instant::now());
    shared.rewriting.store(false, Ordering::Release);
}

impl Status {
    /// Whether automatic rewrites are waiting out [`rewrite_backoff`] after failures.
    fn rewrites_backing_off(&self) -> bool {
        let backoff = rewrite_backoff(self.rewrite_failures_in_a_row);
        self.last_rewrite_failure
            .is_some_and(|at| at.elapsed() < backoff)
    }
}

/// How long automatic rewrites wait after `failures` failed in a row, as Redis 7 does: none
/// for the first [`REWRITE_FAILURES_FREE`], then 1, 2, 4, ... minutes, at most an hour. Each
/// attempt starts a segment, so retrying at once would pile segments up while the cause lasts.
fn rewrite_backoff(failures: u64) -> Duration {
    if failures < REWRITE_FAILURES_FREE {
        return Duration::ZERO;
    }
    let minutes = 1u64 << (failures - REWRITE_FAILURES_FREE).min(6);
    Duration::from_secs(60 * minutes.min(60))
}

/// Failed rewrites in a row before automatic rewrites back off (Redis: 3).
const REWRITE_FAILURES_FREE: u64 = 3;

/// The rewrite thread: writes base `seq` from a snapshot, then makes the manifest "new base +
/// segment `seq`" and removes the parts it replaces.
fn write_base(shared: &Shared, seq: u64) {
    let started = Instant::now();
    let options = &shared.options;
    let name = manifest::part_name(&options.file_name, seq, Kind::Base);
    let path = options.dir.join(&name);
    let result = (|| -> io::Result<u64> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let mut storage = FileStorage::new(file);
        let mut buffer = Vec::with_capacity(1 << 20);
        let mut offset = 0u64;
        let mut failure = None;
        let timestamp = now_ms();
        (shared.snapshotter)(&mut |db, version, effect| {
            if failure.is_some() {
                return;
            }
            if let Err(too_large) = effect::encode_in(&mut buffer, db, version, timestamp, effect) {
                failure = Some(io::Error::other(format!("record too large: {too_large:?}")));
                return;
            }
            if buffer.len() >= 1 << 20 {
                if let Err(error) = storage.write_all_at(offset, &buffer) {
                    failure = Some(error);
                }
                offset += buffer.len() as u64;
                buffer.clear();
            }
        });
        if let Some(error) = failure {
            return Err(error);
        }
        storage.write_all_at(offset, &buffer)?;
        offset += buffer.len() as u64;
        storage.sync()?;
        Ok(offset)
    })();
    let base_bytes = match result {
        Ok(bytes) => bytes,
        Err(error) => {
            let why = format!("writing {}: {error}", path.display());
            return rewrite_failed(shared, &path, &why);
        }
    };
    let mut manifest = lock(&shared.manifest);
    let replaced: Vec<Part> = manifest
        .parts
        .iter()
        .filter(|part| part.seq < seq)
        .cloned()
        .collect();
    let mut next = Manifest::default();
    next.parts.push(Part {
        name,
        seq,
        kind: Kind::Base,
    });
    next.parts.extend(
        manifest
            .parts
            .iter()
            .filter(|part| part.seq >= seq)
            .cloned(),
    );
    if let Err(error) = manifest::store(&options.dir, &options.file_name, &next) {
        return rewrite_failed(shared, &path, &format!("storing the manifest: {error}"));
    }
    *manifest = next;
    drop(manifest);
    for part in &replaced {
        if let Err(error) = fs::remove_file(options.dir.join(&part.name)) {
            tracing::warn!("AOF rewrite: cannot remove {}: {error}", part.name);
        }
    }
    let seconds = started.elapsed().as_secs();
    {
        let mut status = lock(&shared.status);
        status.last_rewrite_ok = true;
        status.rewrite_failures_in_a_row = 0;
        status.rewrites += 1;
        status.last_rewrite_seconds = Some(seconds);
        status.last_rewrite_unix = now_ms() / 1000;
        status.base_bytes = base_bytes;
        status.older_parts_bytes = base_bytes;
    }
    shared.rewriting.store(false, Ordering::Release);
    tracing::info!(
        "Background AOF rewrite finished successfully ({base_bytes} bytes of base in {:?})",
        started.elapsed()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn automatic_rewrites_back_off_after_three_failures_as_redis_does() {
        let minutes = |failures| super::rewrite_backoff(failures).as_secs() / 60;
        assert_eq!([0, 1, 2].map(minutes), [0, 0, 0]);
        assert_eq!([3, 4, 5, 8, 9, 40].map(minutes), [1, 2, 4, 32, 60, 60]);
    }
}
