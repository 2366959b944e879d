//! # rewrite: a new base from a snapshot, while the writer goes on
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
//!
//! ## Starting the log at run time
//!
//! `CONFIG SET appendonly yes` starts a log over a keyspace that already holds data, as Redis
//! does: [`AppendLog::start_with_base`] opens a new incremental segment that the manifest does
//! not name yet, subscribes, and writes a base from a snapshot; only when the base is durable
//! does the manifest become "new base + new segment" (and the parts of any older log go). A
//! crash before that leaves the old manifest (or none), which is what Redis's
//! `AOF_WAIT_REWRITE` state leaves too; the unnamed segment is removed at the next start. If
//! the base fails, the next rewrite request writes it again over the same segment rather
//! than switching, because the manifest must not name a segment without its base.

use crate::effect;
use crate::journal::now_ms;
use crate::manifest::{self, Kind, Manifest, Part};
use crate::storage::{FileStorage, Storage};
use crate::writer::{
    lock, pending_bytes_max_for, AppendLog, Opener, Options, Shared, Start, Status, Writer,
};
use keyspace::Effect;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Walks the live keyspace, calling the visitor with each key's database, version and
/// whole-value effect (see `Keyspace::snapshot`).
pub type Snapshotter = Arc<dyn Fn(&mut dyn FnMut(u8, u64, &Effect<'_>)) + Send + Sync>;

impl AppendLog {
    /// Starts a log at run time over a keyspace that already holds data (`CONFIG SET
    /// appendonly yes`; see the module docs): a new segment that the manifest in `options.dir`
    /// (if any) does not name yet, then `subscribe` (which must attach the log to the
    /// journal), then the base, written from a snapshot by the rewrite thread. The manifest
    /// names the new log once the base is durable; `INFO`'s `aof_rewrite_in_progress` says
    /// when. `first_position` is where the previous log of this process ended (0 if none).
    pub fn start_with_base(
        options: Options,
        opener: Opener,
        snapshotter: Snapshotter,
        first_position: u64,
        subscribe: impl FnOnce(&Arc<AppendLog>),
    ) -> io::Result<Arc<AppendLog>> {
        fs::create_dir_all(&options.dir)?;
        let mut manifest = manifest::load(&options.dir, &options.file_name)?.unwrap_or_default();
        let seq = manifest.max_seq() + 1;
        let name = manifest::part_name(&options.file_name, seq, Kind::Incremental);
        // A part of that name can only be left by an earlier start that died before its base
        // was written: the manifest does not name it, so nothing in it is owed.
        match fs::remove_file(options.dir.join(&name)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        manifest.parts.push(Part {
            name,
            seq,
            kind: Kind::Incremental,
        });
        let start = Start {
            active_bytes: 0,
            first_position,
            base_missing: true,
        };
        let log = Arc::new(Self::start_inner(
            options,
            manifest,
            opener,
            snapshotter,
            start,
        )?);
        subscribe(&log);
        // The writer sees `base_missing` and writes the base rather than switching segments.
        log.rewrite().map_err(io::Error::other)?;
        Ok(log)
    }
}

impl Writer {
    /// Writes the base of a log started at run time (again, if the last attempt failed) over
    /// the active segment, which holds every record since the log subscribed.
    pub(crate) fn write_missing_base(&mut self) -> bool {
        let shared = Arc::clone(&self.shared);
        let seq = lock(&shared.manifest).active().seq;
        lock(&shared.status).rewrite_started = Some(Instant::now());
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

    /// Starts a new incremental segment and the rewrite thread that writes the new base.
    pub(crate) fn switch_segment(&mut self) -> bool {
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

    /// Asks for a rewrite when the log grew past the `auto-aof-rewrite-*` thresholds (or a
    /// device segment is half full).
    pub(crate) fn maybe_auto_rewrite(&mut self) {
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
        let shared = &self.shared;
        let percentage = shared.auto_rewrite_percentage.load(Ordering::Relaxed);
        let min_bytes = shared.auto_rewrite_min_bytes.load(Ordering::Relaxed);
        if percentage == 0 || shared.rewriting.load(Ordering::Acquire) {
            return;
        }
        let status = lock(&shared.status);
        let size = status.older_parts_bytes + shared.active_bytes.load(Ordering::Relaxed);
        let base = status.base_bytes.max(1);
        drop(status);
        let growth_percent = (size.saturating_sub(base)).saturating_mul(100) / base;
        if size >= min_bytes && growth_percent >= percentage {
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
    pub(crate) fn rewrites_backing_off(&self) -> bool {
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
    // Release: the writer's Acquire load then sees the manifest that names the base.
    shared.base_missing.store(false, Ordering::Release);
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
