//! # migration: copying a table into a new one while every thread goes on
//!
//! The protocol the lock-free table's module docs (`mod.rs`) outline under "Migration".
//!
//! A writer starts a migration when an insert would land more than `displacement_max` slots
//! from home (the table is full of keys or tombstones) or, on a sample of removals, when
//! the table is less than 1/8 live. The target's size comes from the live count, so a
//! migration can grow, clean (same size, tombstones dropped) or shrink. The target is
//! installed in `table.next` by CAS. The copy is split into chunks claimed with a ticket
//! counter; every writer that finds a migration in progress copies one chunk before its own
//! operation (incremental), and a writer that needs a frozen part of the table (or wants to
//! claim an empty slot, which would add a key the copy may already have passed) helps until
//! the copy is done and then switches the root itself (cooperative). Copying a slot means:
//! freeze it (CAS in the FROZEN bit), then, if it holds a live node, place that same node in
//! the target unless its key is already there. Both steps are idempotent, so a helper that
//! finds every chunk claimed but not all finished does the whole copy again itself rather than
//! wait for a slow thread: the migration is lock-free, never blocking.
//!
//! The live count a target is sized from is an estimate taken before the copy (writes that
//! passed their checks earlier may still add keys to the old table), so a target can prove too
//! small. A copy that finds no empty slot for a node reports it ([`TargetFull`]) and
//! the helper replaces the target in `table.next` with one twice its size; the chunk tickets
//! live in the target, so the copy starts over into the new one. A full target can never
//! complete (the node that did not fit can never be placed), so it is never made the root; it
//! is retired like any other table. This used to be `unreachable!`, and a shrink sized from a
//! count that read low would have panicked in every writer that helped (issue 16).

use super::table::{Table, TargetFull, CAPACITY_MIN};
use super::{capacity_for, LockFree, NodeAllocator};
use crate::sync::Ordering;
use crossbeam_epoch::Guard;
use std::ptr::NonNull;

/// Keys added to the live count when sizing a migration target. The count never under-reads
/// the keys present throughout, but writes that passed their checks before a migration started
/// may still add keys to the table being copied. A target that proves too small is replaced by
/// a larger one ([`LockFree::retarget`]), so the slack is about not wasting a copy, not about
/// correctness: sixty-four keys is more than the threads a server runs.
#[cfg(not(loom))]
pub(super) const LIVE_SLACK: usize = 64;
/// Under loom the models have a handful of keys and two or three threads.
#[cfg(loom)]
pub(super) const LIVE_SLACK: usize = 1;

/// How full (live keys plus tombstones) a table may get before a long probe starts a
/// migration. Linear probing's expected probe for a missing key at 70% is about six slots,
/// which the fingerprints make one or two cache lines; a migration target is at most half
/// full, so tables run between 35% and 70% full.
const LOAD_PERCENT_MAX: usize = 70;

/// One removal in this many (chosen by the removal's version, so no thread-local state) checks
/// whether the table has drained enough to shrink. Summing the striped counter reads 16 cache
/// lines; doing it on 1/64 of removals keeps that cost under a cache line per removal.
#[cfg(not(loom))]
pub(super) const SHRINK_CHECK_PERIOD: u64 = 64;
/// Under loom every removal checks: a model has a handful of versions, and a period of 64
/// meant no model ever shrank a table.
#[cfg(loom)]
pub(super) const SHRINK_CHECK_PERIOD: u64 = 1;

impl<V, S, A: NodeAllocator> LockFree<V, S, A> {
    /// Starts a migration of the root table to a target of `capacity` slots, unless one is in
    /// progress, and leaves it for the next writers to carry out. A hook for the loom models
    /// only: it lets a model race writers against a migration that starts at a chosen moment,
    /// with a target of a chosen size (the same size: a clean; too small: what a live count
    /// that read low would size), which the real triggers reach only after many writes.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn start_migration_for_model(&self, capacity: usize) {
        let guard = crossbeam_epoch::pin();
        // SAFETY: used under `guard` only.
        let table = unsafe { self.root(&guard) };
        self.start_migration(table, capacity, true);
    }

    /// The migration target of `table`, if a migration has started.
    pub(super) fn next_of(table: &Table<V>) -> Option<&Table<V>> {
        // Acquire: pairs with the Release of the CAS that installed the target, so its empty
        // slots are visible.
        let next = table.next.load(Ordering::Acquire);
        // SAFETY: `table` was loaded under a guard that outlives the borrow, and a target
        // loaded from it under that guard stays allocated while the guard lives: it is retired
        // (with `defer_unchecked`) only after it stops being reachable from `table.next` (it
        // was replaced by `retarget`) or from the root (it became the root and was replaced in
        // turn), and a thread that loaded it was pinned before either.
        unsafe { next.as_ref() }
    }

    /// Starts a migration of `table` to a new table of `capacity` slots, unless one has
    /// started already.
    pub(super) fn start_migration(&self, table: &Table<V>, capacity: usize, copies_previous: bool) {
        if !table.next.load(Ordering::Relaxed).is_null() {
            // Relaxed: only a hint to skip the allocation; the CAS below decides.
            return;
        }
        let next = Box::into_raw(Table::new(capacity, copies_previous));
        // Release: publishes the target's empty slots to helpers' Acquire loads of `next`.
        if table
            .next
            .compare_exchange(
                std::ptr::null_mut(),
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: we just allocated `next` and never published it.
            drop(unsafe { Box::from_raw(next) });
        }
    }

    /// Replaces `table`'s migration target `full`, which has no room for a node the copy must
    /// place (see [`TargetFull`]), with a target twice its size, unless another helper has
    /// replaced it already. The copy then starts over into the new target: the old table's
    /// frozen slots never change, so the new target receives exactly what the full one would
    /// have, and the full one, which can never complete, is never made the root.
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`, and `full` from `table.next`.
    unsafe fn retarget(&self, table: &Table<V>, full: &Table<V>, guard: &Guard) {
        debug_assert!(
            full.copies_previous,
            "a target that copies nothing cannot fill up"
        );
        // Acquire: as in `next_of`. The raw pointer (not one derived from `full`) is the one
        // with the provenance to free the table.
        let current = table.next.load(Ordering::Acquire);
        if !std::ptr::eq(current, full) {
            return;
        }
        let bigger = Box::into_raw(Table::new(full.capacity() * 2, true));
        // AcqRel: Release publishes the new target's empty slots, as in `start_migration`.
        match table
            .next
            .compare_exchange(current, bigger, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(abandoned) => {
                let abandoned = NonNull::new(abandoned).expect("a target is never null");
                // SAFETY: (1) no thread can load the abandoned target any more (it was only
                // reachable from `table.next`, never from the root); threads that loaded it
                // were pinned before this CAS and the deferred function runs after they unpin.
                // (2) It never became the root, so only copies wrote to it and every node in it
                // is owned by `table` (hence `free_live == false`); it holds no tombstones and
                // never started a migration of its own.
                unsafe { guard.defer_unchecked(move || Table::free::<A>(abandoned, false)) };
            }
            // SAFETY: never published.
            Err(_) => drop(unsafe { Box::from_raw(bigger) }),
        }
    }

    /// Copies one chunk of `table`'s migration into `next`, if any is left to claim.
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`, and `next` from `table.next`.
    unsafe fn help_one_chunk(
        &self,
        table: &Table<V>,
        next: &Table<V>,
        _guard: &Guard,
    ) -> Result<(), TargetFull> {
        // Relaxed: a ticket; the chunk's contents are synchronised by the slots themselves.
        let chunk = next.chunks_claimed.fetch_add(1, Ordering::Relaxed);
        if chunk < table.chunks() {
            // SAFETY: forwarded from the caller.
            let dropped = unsafe { table.copy_chunk(chunk, next) }?;
            // After the freezing compare-and-swaps that unpublished those keys, as the
            // counter's protocol asks.
            self.live.sub(dropped);
            // Release: the copy of this chunk happens-before whoever sees the final count.
            next.chunks_copied.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }

    /// Copies all of `table` into `next`: claims chunks until none is left, then, if some
    /// claimed chunk is not reported done, copies every chunk itself.
    ///
    /// # Safety
    ///
    /// As for [`LockFree::help_one_chunk`].
    unsafe fn copy_all(
        &self,
        table: &Table<V>,
        next: &Table<V>,
        guard: &Guard,
    ) -> Result<(), TargetFull> {
        let chunks = table.chunks();
        // Relaxed on the first check: the Acquire re-check below is what we rely on.
        while next.chunks_claimed.load(Ordering::Relaxed) < chunks {
            // SAFETY: forwarded from the caller.
            unsafe { self.help_one_chunk(table, next, guard) }?;
        }
        // Acquire: pairs with the Release increments, so every chunk's copy is visible.
        if next.chunks_copied.load(Ordering::Acquire) < chunks {
            // Some claimed chunk is still being copied by a thread we cannot see progress
            // from. Copying is idempotent, so copy everything ourselves instead of waiting:
            // that keeps the migration lock-free.
            for chunk in 0..chunks {
                // SAFETY: forwarded from the caller.
                let dropped = unsafe { table.copy_chunk(chunk, next) }?;
                self.live.sub(dropped);
            }
        }
        Ok(())
    }

    /// Helps `table`'s migration to completion and makes the target the root.
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`, and its migration has started.
    pub(super) unsafe fn finish_migration(&self, table: &Table<V>, guard: &Guard) {
        loop {
            // The pointers we store and free must be the ones the tables were published with
            // (their provenance allows writes and deallocation), not ones derived from our
            // shared references: so the new root is the raw pointer loaded from `table.next`,
            // and the table we retire is the raw pointer the CAS hands back.
            // Acquire: as in `next_of`.
            let next_raw = table.next.load(Ordering::Acquire);
            // SAFETY: as in `next_of`.
            let next = unsafe { next_raw.as_ref() }.expect("finish_migration without a migration");
            // SAFETY: forwarded from the caller; `next` came from `table.next`.
            if unsafe { self.copy_all(table, next, guard) }.is_err() {
                // SAFETY: as above.
                unsafe { self.retarget(table, next, guard) };
                continue;
            }
            // `next` is complete. A complete target is never replaced (only a full one is, and
            // a full one never completes), so `next_raw` is still `table.next`.
            let expected = (table as *const Table<V>).cast_mut();
            // AcqRel: Release publishes the copied target to readers' Acquire loads of the root.
            if let Ok(retired) =
                self.root
                    .compare_exchange(expected, next_raw, Ordering::AcqRel, Ordering::Acquire)
            {
                let free_live = !next.copies_previous;
                let table = NonNull::new(retired).expect("the root is never null");
                // SAFETY: `table` is no longer the root; threads that can still reach it pinned
                // before this point, and the deferred function runs after they unpin. Its live
                // nodes belong to `next` unless `next` copied nothing.
                unsafe {
                    guard.defer_unchecked(move || Table::free::<A>(table, free_live));
                }
                // A retired table is the largest garbage there is (its slot array, and for
                // `clear` every value of the map), and a thread-local bag is only handed to the
                // global queue when it fills up or the thread exits: a thread that goes quiet
                // after a migration or a FLUSHALL (the sweeper, an idle connection's loop)
                // would keep it forever (issue 16). Handing it over now lets any thread's
                // next collection free it.
                guard.flush();
            }
            return;
        }
    }

    /// Decides whether a write that is about to claim an empty slot at `displacement` (or
    /// revive a tombstone, `displacement == 0`) may do so in `table`. If not, it helps the
    /// migration that must happen first and returns `false`; the caller retries from the root.
    ///
    /// Growing is incremental: past half of `displacement_max` a migration starts, but inserts
    /// go on landing in the old table (the copy will carry them over) while writers each copy
    /// a chunk, until an insert would pass `displacement_max`. Only a target strictly larger
    /// than the old table accepts that (its capacity is at least every slot of the old one
    /// plus one, so every node the copy can meet fits with a slot to spare). A same-size
    /// (cleaning) or smaller (shrinking) target could overflow if keys kept arriving, so new
    /// keys wait for those to finish. The benchmark's RapidGrow mix at 4 threads found this:
    /// same-size targets used to admit inserts, and a target filled up.
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`.
    pub(super) unsafe fn may_claim(
        &self,
        table: &Table<V>,
        displacement: usize,
        guard: &Guard,
    ) -> bool {
        let migrating = Self::next_of(table);
        if displacement <= table.displacement_max / 2 {
            // The common case: a short probe. Only a migration that does not grow stops it.
            return match migrating {
                Some(next) if next.capacity() <= table.capacity() => {
                    // SAFETY: forwarded from the caller; a migration has started.
                    unsafe { self.finish_migration(table, guard) };
                    false
                }
                _ => true,
            };
        }
        // A long probe: is the table full, or is this an unlucky cluster?
        if table.claimed.sum() * 100 <= table.capacity() * LOAD_PERCENT_MAX {
            return migrating.is_none_or(|next| next.capacity() > table.capacity());
        }
        if migrating.is_none() {
            let live = self.live.sum();
            let mut capacity = self.target_capacity(live);
            if capacity <= table.capacity() && live * 4 > table.capacity() {
                // Mostly live and still overflowing: grow rather than reshuffle.
                capacity = table.capacity() * 2;
            }
            self.start_migration(table, capacity, true);
        }
        let next = Self::next_of(table).expect("a migration has started");
        if next.capacity() > table.capacity() && displacement <= table.displacement_max {
            return true;
        }
        // SAFETY: forwarded from the caller; a migration has started.
        unsafe { self.finish_migration(table, guard) };
        false
    }

    /// Migrates a table that has no empty slot left (see [`Probe::Full`]).
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`.
    pub(super) unsafe fn migrate_full(&self, table: &Table<V>, guard: &Guard) {
        let live = self.live.sum();
        let capacity = self.target_capacity(live).max(table.capacity() * 2);
        self.start_migration(table, capacity, true);
        // SAFETY: forwarded from the caller; a migration has started.
        unsafe { self.finish_migration(table, guard) };
    }

    /// If a migration is in progress, copies one chunk of it (the incremental part).
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`.
    #[inline]
    pub(super) unsafe fn help_if_migrating(&self, table: &Table<V>, guard: &Guard) {
        if let Some(next) = Self::next_of(table) {
            // SAFETY: forwarded from the caller; `next` came from `table.next`.
            if unsafe { self.help_one_chunk(table, next, guard) }.is_err() {
                // SAFETY: as above.
                unsafe { self.retarget(table, next, guard) };
            }
        }
    }

    /// After a removal drawn as `version`, on a sample of removals, shrinks a table that is
    /// mostly empty. The remover that starts a shrink finishes it: a drained map would
    /// otherwise keep its memory until the next write, and the cost is one pass over a table
    /// whose live keys are few.
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`.
    pub(super) unsafe fn maybe_shrink(&self, table: &Table<V>, version: u64, guard: &Guard) {
        if !version.is_multiple_of(SHRINK_CHECK_PERIOD) || table.capacity() <= CAPACITY_MIN {
            return;
        }
        let live = self.live.sum();
        let capacity = self.target_capacity(live);
        if live * 8 < table.capacity() && capacity < table.capacity() {
            self.start_migration(table, capacity, true);
            // SAFETY: forwarded from the caller; the migration has started.
            unsafe { self.finish_migration(table, guard) };
        }
    }

    /// The capacity of a migration target for `live` keys: room for them and the slack, and
    /// never below the capacity the map was created with.
    fn target_capacity(&self, live: usize) -> usize {
        capacity_for(live + LIVE_SLACK).max(self.capacity_floor)
    }
}
