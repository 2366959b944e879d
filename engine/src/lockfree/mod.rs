//! # lockfree: our own lock-free hash table
//!
//! An open-addressing table with linear probing whose slots hold tagged pointers to immutable
//! nodes, resized by a cooperative, chunked migration, with retired nodes and tables
//! reclaimed by `crossbeam-epoch`. It learns from Cliff Click's non-blocking hash map (keys
//! never move within a table; a state machine per slot drives the copy), from papaya (entries
//! behind pointers with tag bits, fingerprints to skip probes, cooperative incremental copy)
//! and from Redis's `dictScan` (the reverse-binary cursor that survives resizes).
//!
//! ## Layout
//!
//! A table is a power-of-two array of slots. A slot is one `AtomicPtr` holding a
//! [`SlotWord`](node::SlotWord): a pointer to a [`Node`](node::Node) (hash, key bytes inline,
//! the entry), the key's 8-bit fingerprint in the pointer's unused top byte, and two state
//! bits, [`FROZEN`](node::FROZEN) and [`DEAD`](node::DEAD). A key's home is
//! `hash & mask`; it lives in the first slot at or after its home that was empty when it was
//! first inserted.
//!
//! Beside the slots, each table keeps one metadata byte per slot: zero while the slot has
//! never held a node, else seven bits of the hash. Readers probe the bytes first and only load
//! a slot whose byte matches; an absent key (most lookups of a cache) ends at a zero byte
//! without touching the slot array, which is eight times larger and mostly out of cache.
//! Profiling showed three quarters of a lookup's time on that slot-array miss before the
//! bytes existed (`bench-results/engine.md`). A writer sets the byte of a slot it claims right
//! after its CAS, and of every taken slot its probe passes, so a zero byte may be trusted (see
//! `Table::mark`). hashbrown's control bytes and papaya's metadata table work the same way.
//!
//! Every write allocates a node, so the node allocator is part of the write path: it is a type
//! parameter, [`NodeAllocator`], and mimalloc by default whatever the process's global
//! allocator is (`allocator.rs` has the profile that decided it).
//!
//! ## Slot states
//!
//! ```text
//!   EMPTY ──insert──▶ LIVE(node) ──update──▶ LIVE(node')
//!     │                 │    ▲
//!     │              remove  insert
//!     │                 ▼    │
//!     │               DEAD(tombstone for the same key)
//!     │                 │
//!     └──migration──▶ FROZEN(whatever it held)      (FROZEN is final for this table)
//! ```
//!
//! ## Invariants
//!
//! 1. **A slot, once claimed, belongs to one key for the table's life.** Removal installs a
//!    tombstone for the same key (a DEAD word whose node names the key: a new node without an
//!    entry, or the removed node itself when dropping its entry frees nothing else, see
//!    `LockFree::tombstone`) instead of emptying the slot, and a re-insert of that key
//!    replaces the tombstone. So no two slots of a table ever hold the same key, however
//!    inserts, removes and re-inserts race, and a key deleted and set again (a cache's
//!    churn) reuses its slot instead of filling the table with tombstones. Keys removed for
//!    good (bustle's Exchange mix never re-inserts one) leave tombstones that the next
//!    migration drops.
//! 2. **No slot between a key's home and its slot is empty** (slots are never emptied and
//!    inserts take the first empty slot), so a probe may stop at the first empty slot, and
//!    [`Engine::scan`] finds all keys of a home bucket by walking from it to the first empty.
//! 3. **Nodes are immutable once published.** Every change is one compare-and-swap of a slot
//!    from the word the writer read to a word with a new node. The writer draws the entry's
//!    version after reading the old word and before the CAS, so versions of a key only grow.
//! 4. **A frozen slot never changes again, and only the root table is written.** Writers that
//!    meet a frozen slot help the migration finish and retry on the new root; nothing writes
//!    to a migration target until it has become the root. Readers never help and never wait:
//!    the frozen slots of the old table still hold the latest nodes (nobody can have written
//!    a newer one anywhere), so a reader simply reads whatever table it loaded from the root.
//!
//! ## Migration
//!
//! A table that fills up (with keys or tombstones) or drains is copied into a new one, chunk
//! by chunk, by the writers that meet it; the new one then becomes the root. `migration.rs`
//! has the protocol: when one starts, how the target is sized, who copies, and what happens
//! when a target proves too small.
//!
//! [`Engine::clear`] is a migration to an empty table that copies nothing.
//!
//! ## Reclamation
//!
//! A node replaced or removed in the root is retired with `defer_unchecked` and freed after a
//! grace period. A node copied by a migration is shared by the old table's frozen slot and the
//! new table: it is freed only if it is later replaced in the new table, and that can only
//! happen after the new table became the root. A reader that can still reach the old table
//! loaded the old root, so it was pinned before the switch and therefore before the
//! retirement; crossbeam-epoch keeps the node for it. The old table is retired by the thread
//! that switches the root, and its destructor frees the slot array and the tombstones (never
//! copied), plus the live nodes when the target copied nothing (`clear`). That thread then
//! flushes its crossbeam-epoch bag to the global queue, so a thread that goes quiet after a
//! migration or a `clear` does not keep the old table, and every value it held, in a bag of
//! its own (issue 16). Memory therefore
//! stays bounded under endless churn: tombstones live at most until the next migration, and a
//! drained table shrinks.
//!
//! ## What is shared, what is not
//!
//! A read pins the epoch (a thread-local operation), hashes, loads the root and probes the
//! metadata bytes and slots: it writes no shared memory and takes no lock. Writes draw a
//! version from the shared [`VersionClock`] (one `fetch_add`) and count live keys in a
//! [`StripedCounter`].

mod allocator;
mod migration;
mod node;
mod table;

#[cfg(not(loom))]
pub use self::allocator::Mimalloc;
pub use self::allocator::{DefaultNodeAllocator, GlobalAllocator, NodeAllocator};
use self::node::{Node, SlotWord};
use self::table::{Probe, Table, CAPACITY_MIN};
use crate::counter::StripedCounter;
use crate::sync::{AtomicPtr, Ordering};
use crate::{Decision, Engine, Entry, Inserted, Meta, Updated, VersionClock};
use crossbeam_epoch::{self as epoch, Guard};
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The hasher of the lock-free table: foldhash, randomly seeded per map.
#[cfg(not(loom))]
pub type DefaultHasher = foldhash::fast::RandomState;
/// Under loom the seed is fixed so every execution of a model probes the same slots.
#[cfg(loom)]
pub type DefaultHasher = foldhash::fast::FixedState;

/// Our lock-free hash table. See the module docs; `A` is where its nodes come from (see
/// [`NodeAllocator`]).
pub struct LockFree<V, S = DefaultHasher, A: NodeAllocator = DefaultNodeAllocator> {
    /// The table all operations start from.
    root: AtomicPtr<Table<V>>,
    /// No migration sizes a table below this: the capacity the map was created with. A map
    /// created for 2^23 keys used to shrink to a few slots at the first sampled removal while
    /// it was still filling up (bustle's RapidGrow removes 5% of the time), and then grow
    /// back through every doubling: a fifth of that benchmark's time went to copying.
    /// hashbrown and dashmap keep a requested capacity the same way.
    capacity_floor: usize,
    live: StripedCounter,
    versions: VersionClock,
    hasher: S,
    /// The allocator is named by type only (it has no state); `fn() -> A` keeps the map's
    /// auto traits independent of `A`.
    allocator: PhantomData<fn() -> A>,
}

// SAFETY: the map owns its nodes and hands out `&Entry<V>` to any thread and moves `V`s
// between threads (a value inserted on one thread is dropped on whichever thread reclaims it),
// so `V: Send + Sync` is exactly what sharing the map requires; `S` is only read. The node
// allocator has no state, and its blocks may be freed on any thread (`NodeAllocator`'s
// contract).
unsafe impl<V: Send + Sync, S: Send + Sync, A: NodeAllocator> Send for LockFree<V, S, A> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync, S: Send + Sync, A: NodeAllocator> Sync for LockFree<V, S, A> {}

impl<V, S: Default, A: NodeAllocator> Default for LockFree<V, S, A> {
    fn default() -> Self {
        Self::with_capacity_and_hasher(0, S::default())
    }
}

impl<V, S, A: NodeAllocator> LockFree<V, S, A> {
    /// A map sized for about `capacity` keys, hashing with `hasher` (tests use this to force
    /// collisions).
    pub fn with_capacity_and_hasher(capacity: usize, hasher: S) -> Self {
        let table = Table::new(capacity_for(capacity), true);
        Self {
            root: AtomicPtr::new(Box::into_raw(table)),
            capacity_floor: capacity_floor(capacity),
            live: StripedCounter::default(),
            versions: VersionClock::default(),
            hasher,
            allocator: PhantomData,
        }
    }

    /// The root table.
    ///
    /// # Safety
    ///
    /// The returned reference is valid while `guard` is alive: tables are retired through the
    /// epoch after they stop being the root.
    unsafe fn root<'guard>(&self, _guard: &'guard Guard) -> &'guard Table<V> {
        // Acquire: pairs with the Release of the CAS that made this table the root (and of its
        // construction), so its slots and everything copied into it are visible.
        let table = self.root.load(Ordering::Acquire);
        // SAFETY: the root is never null, and see the function's contract.
        unsafe { &*table }
    }

    /// The capacity of the root table (for tests and the benchmark report).
    pub fn capacity(&self) -> usize {
        let guard = epoch::pin();
        // SAFETY: read under `guard`.
        unsafe { self.root(&guard) }.capacity()
    }
}

impl<V, S: BuildHasher, A: NodeAllocator> LockFree<V, S, A> {
    #[inline]
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The tombstone that replaces `word`, the live node of `key`, when the key is removed.
    ///
    /// A tombstone must name its key (invariant 1), so it is a node of the key's size either
    /// way. When dropping an entry frees nothing outside its node (`V` has no drop glue:
    /// plain data such as the engine benchmark's `u64`s), the removed node itself becomes the
    /// tombstone, flagged dead, and the removal allocates nothing; it is freed when the key is
    /// re-inserted or the table is retired, as a tombstone node would have been. A value that
    /// may own memory elsewhere (the server's long strings and lists) must not live on until
    /// then, so it gets a new node without an entry and is retired at once. On bustle's
    /// Exchange mix at 2 threads (40% removals, each leaving a tombstone nobody revives),
    /// keeping the node made the map 1.44x faster (5 alternating rounds, 2026-12-06).
    fn tombstone(word: SlotWord<V>, hash: u64, key: &[u8]) -> SlotWord<V> {
        if std::mem::needs_drop::<V>() {
            SlotWord::new(Node::alloc::<A>(hash, key, None), hash, true)
        } else {
            word.dead()
        }
    }

    /// Retires a node that was just unlinked from the root.
    ///
    /// # Safety
    ///
    /// `word` was replaced in a slot of the root table by this thread's successful CAS.
    unsafe fn retire(&self, word: SlotWord<V>, guard: &Guard) {
        if let Some(node) = word.node() {
            // SAFETY: the node is unreachable from the root now; readers that loaded it are
            // pinned and the deferred free waits for them. Nodes copied into this table from
            // an older one are only reachable from the older table by threads pinned before
            // this table became the root (see the module docs).
            unsafe { guard.defer_unchecked(move || Node::free::<A>(node)) };
        }
    }

    /// [`Engine::update`] of a key the probe found absent, with an empty slot at `index`,
    /// `displacement` slots from its home. `None`: the caller must probe again.
    ///
    /// Always inlined: it is half of the write path's one loop, split out to be read, not to
    /// be called.
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`, and the probe was of `table`.
    #[inline(always)]
    unsafe fn update_vacant<R>(
        &self,
        table: &Table<V>,
        (index, displacement): (usize, usize),
        hash: u64,
        key: &[u8],
        decide: &mut impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
        guard: &Guard,
    ) -> Option<Updated<R>> {
        let (decision, output) = decide(None);
        let Decision::Replace { value, meta } = decision else {
            return Some(Updated {
                output,
                version: None,
            });
        };
        // SAFETY: forwarded from the caller.
        if !unsafe { self.may_claim(table, displacement, guard) } {
            return None;
        }
        let version = self.versions.next();
        let node = Node::alloc::<A>(hash, key, Some(Entry::new(version, meta, value)));
        let word = SlotWord::new(node, hash, false);
        // Counted before the compare-and-swap that makes the key present, and taken back if it
        // fails: see `StripedCounter`'s protocol.
        self.live.add(1);
        match table.compare_exchange(index, SlotWord::EMPTY, word) {
            Ok(()) => {
                table.mark(index, word);
                table.claimed.add(1);
                Some(Updated {
                    output,
                    version: Some(version),
                })
            }
            Err(_) => {
                self.live.sub(1);
                // SAFETY: never published.
                unsafe { Node::free::<A>(node) };
                None
            }
        }
    }

    /// [`Engine::update`] of a key the probe found at `index`, holding `word` (the key's live
    /// node or its tombstone). `None`: the caller must probe again.
    ///
    /// Always inlined, as [`LockFree::update_vacant`].
    ///
    /// # Safety
    ///
    /// `table` was loaded from the root under `guard`, and `word` from `table`.
    #[inline(always)]
    unsafe fn update_found<R>(
        &self,
        table: &Table<V>,
        (index, word): (usize, SlotWord<V>),
        hash: u64,
        key: &[u8],
        decide: &mut impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
        guard: &Guard,
    ) -> Option<Updated<R>> {
        let dead = word.is_dead();
        let current = if dead {
            None
        } else {
            // SAFETY: loaded from the root under `guard`.
            unsafe { word.node().expect("found a node").as_ref() }
                .entry
                .as_ref()
        };
        let (decision, output) = decide(current);
        let unchanged = Updated {
            output,
            version: None,
        };
        let (new_word, version) = match decision {
            Decision::Keep => return Some(unchanged),
            Decision::Remove if dead => return Some(unchanged),
            Decision::Remove => (Self::tombstone(word, hash, key), self.versions.next()),
            Decision::Replace { value, meta } => {
                // Reviving a tombstone adds a key, like claiming an empty slot.
                // SAFETY: forwarded from the caller.
                if dead && !unsafe { self.may_claim(table, 0, guard) } {
                    return None;
                }
                let version = self.versions.next();
                let entry = Entry::new(version, meta, value);
                let node = Node::alloc::<A>(hash, key, Some(entry));
                (SlotWord::new(node, hash, false), version)
            }
        };
        // Reviving a tombstone is counted before the compare-and-swap, a removal after it (see
        // `StripedCounter`'s protocol).
        let revives = dead && !new_word.is_dead();
        if revives {
            self.live.add(1);
        }
        // A tombstone that is the removed node itself (see `tombstone`) unlinks nothing and was
        // never a new allocation.
        let kept = new_word.node() == word.node();
        match table.compare_exchange(index, word, new_word) {
            Ok(()) => {
                if !kept {
                    // SAFETY: our CAS unlinked `word` from the root.
                    unsafe { self.retire(word, guard) };
                }
                if !dead && new_word.is_dead() {
                    // A removal is counted after the compare-and-swap that made the key absent
                    // (see `StripedCounter`'s protocol).
                    self.live.sub(1);
                    // SAFETY: forwarded from the caller.
                    unsafe { self.maybe_shrink(table, version, guard) };
                }
                Some(Updated {
                    output: unchanged.output,
                    version: Some(version),
                })
            }
            Err(_) => {
                if revives {
                    self.live.sub(1);
                }
                if !kept {
                    let node = new_word.node().expect("a new word has a node");
                    // SAFETY: never published.
                    unsafe { Node::free::<A>(node) };
                }
                None
            }
        }
    }
}

impl<V, S, A> Engine for LockFree<V, S, A>
where
    V: Send + Sync + 'static,
    S: BuildHasher + Default + Send + Sync + 'static,
    A: NodeAllocator,
{
    type Value = V;
    const NAME: &'static str = "lockfree";

    fn with_capacity(capacity: usize) -> Self {
        Self::with_capacity_and_hasher(capacity, S::default())
    }

    fn get<R>(&self, key: &[u8], read: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        let hash = self.hash(key);
        let tag = table::meta_tag(hash);
        let guard = epoch::pin();
        // SAFETY: used under `guard` only.
        let table = unsafe { self.root(&guard) };
        let mut index = hash as usize & table.mask;
        for _ in 0..=table.mask {
            let meta = table.meta(index);
            // A zero byte: the slot never held a node, so the key is absent (invariant 2 and
            // `Table::mark`). Only a matching byte costs a look at the slot array.
            if meta == 0 {
                return None;
            }
            if meta == tag {
                let word = table.load(index);
                // Tombstones are skipped without a look: if this one is our key's, our key is
                // absent and the probe ends at the next empty slot anyway (invariant 1).
                if let (Some(pointer), false) = (word.node(), word.is_dead()) {
                    // SAFETY: loaded from the root under `guard`; freed only after it unpins.
                    let node = unsafe { pointer.as_ref() };
                    // SAFETY: as above; the key is read through the slot's pointer.
                    if node.hash == hash && unsafe { Node::key(pointer) } == key {
                        return node.entry.as_ref().map(read);
                    }
                }
            }
            index = (index + 1) & table.mask;
        }
        None
    }

    fn update<R>(
        &self,
        key: &[u8],
        mut decide: impl FnMut(Option<&Entry<V>>) -> (Decision<V>, R),
    ) -> Updated<R> {
        let hash = self.hash(key);
        let guard = epoch::pin();
        // SAFETY: used under `guard` only.
        unsafe { self.root(&guard) }.warm(hash);
        loop {
            // SAFETY: used under `guard` only.
            let table = unsafe { self.root(&guard) };
            // SAFETY: `table` came from the root under `guard`.
            unsafe { self.help_if_migrating(table, &guard) };
            // SAFETY: as above.
            let done = match unsafe { table.probe(hash, key) } {
                Probe::Frozen => {
                    // SAFETY: a frozen slot means a migration has started.
                    unsafe { self.finish_migration(table, &guard) };
                    None
                }
                Probe::Full => {
                    let (decision, output) = decide(None);
                    if !matches!(decision, Decision::Replace { .. }) {
                        return Updated {
                            output,
                            version: None,
                        };
                    }
                    // SAFETY: `table` came from the root under `guard`.
                    unsafe { self.migrate_full(table, &guard) };
                    None
                }
                Probe::Vacant {
                    index,
                    displacement,
                } => {
                    let vacant = (index, displacement);
                    // SAFETY: the probe was of `table`, which came from the root under `guard`.
                    unsafe { self.update_vacant(table, vacant, hash, key, &mut decide, &guard) }
                }
                Probe::Found { index, word } => {
                    // SAFETY: `word` was loaded from `table`, which came from the root under
                    // `guard`.
                    unsafe {
                        self.update_found(table, (index, word), hash, key, &mut decide, &guard)
                    }
                }
            };
            if let Some(updated) = done {
                return updated;
            }
        }
    }

    fn insert(&self, key: &[u8], value: V, meta: Meta) -> Inserted {
        let hash = self.hash(key);
        let guard = epoch::pin();
        // SAFETY: used under `guard` only.
        unsafe { self.root(&guard) }.warm(hash);
        // One allocation for the whole call: the node is ours until the CAS publishes it, so
        // a lost race only re-stamps its version. Made after `warm`, so that the allocation
        // runs while the probe's cache lines are on their way.
        let mut node = Node::alloc::<A>(hash, key, Some(Entry::new(0, meta, value)));
        let word = SlotWord::new(node, hash, false);
        loop {
            // SAFETY: used under `guard` only.
            let table = unsafe { self.root(&guard) };
            // SAFETY: `table` came from the root under `guard`.
            unsafe { self.help_if_migrating(table, &guard) };
            // SAFETY: as above.
            let (index, current) = match unsafe { table.probe(hash, key) } {
                Probe::Frozen => {
                    // SAFETY: a frozen slot means a migration has started.
                    unsafe { self.finish_migration(table, &guard) };
                    continue;
                }
                Probe::Full => {
                    // SAFETY: `table` came from the root under `guard`.
                    unsafe { self.migrate_full(table, &guard) };
                    continue;
                }
                Probe::Vacant {
                    index,
                    displacement,
                } => {
                    // SAFETY: as above.
                    if !unsafe { self.may_claim(table, displacement, &guard) } {
                        continue;
                    }
                    (index, SlotWord::EMPTY)
                }
                Probe::Found { index, word } => {
                    // SAFETY: as above.
                    if word.is_dead() && !unsafe { self.may_claim(table, 0, &guard) } {
                        continue;
                    }
                    (index, word)
                }
            };
            let version = self.versions.next();
            // SAFETY: the node is not published yet, so we have it to ourselves.
            let entry = unsafe { node.as_mut() }
                .entry
                .as_mut()
                .expect("a live node");
            entry.version = version;
            // A write that makes the key present (into an empty slot or over its tombstone)
            // is counted before the compare-and-swap that does it, and taken back if that
            // fails: see `StripedCounter`'s protocol.
            let adds_key = current.node().is_none() || current.is_dead();
            if adds_key {
                self.live.add(1);
            }
            if table.compare_exchange(index, current, word).is_err() {
                if adds_key {
                    self.live.sub(1);
                }
            } else {
                table.mark(index, word);
                if current.node().is_none() {
                    table.claimed.add(1);
                }
                let replaced = match current.node() {
                    Some(node) if !adds_key => {
                        // SAFETY: loaded from the root under `guard`, which still holds it
                        // alive: `retire` below only defers its release.
                        unsafe { node.as_ref() }
                            .entry
                            .as_ref()
                            .map(|entry| entry.meta)
                    }
                    _ => None,
                };
                // SAFETY: our CAS unlinked `current` (if it was a node) from the root.
                unsafe { self.retire(current, &guard) };
                return Inserted { version, replaced };
            }
        }
    }

    fn scan(&self, cursor: u64, count: usize, mut visit: impl FnMut(&[u8], &Entry<V>)) -> u64 {
        let guard = epoch::pin();
        // SAFETY: used under `guard` only.
        let table = unsafe { self.root(&guard) };
        let mask = table.mask as u64;
        let count = count.max(1);
        // As Redis does, give up after visiting ten times `count` buckets without filling the
        // reply, so a sparse table does not make one call walk all of it. Except when the map
        // looks empty: then walk to the end, so that a scan of an empty map answers cursor 0
        // in one call, as Redis's does. The live count only chooses how far to walk, never
        // whether to: it used to end the scan outright when it read 0, and a count read
        // during a racing insert and removal of another key could read 0 with a key present
        // (issue 16). The unbounded walk costs a pass over the table once per scan of an
        // empty map; a drained table shrinks, so that pass is short.
        let buckets_max = if self.live.sum() == 0 {
            usize::MAX
        } else {
            count.saturating_mul(10)
        };
        let mut cursor = cursor;
        let mut visited = 0;
        let mut buckets = 0;
        loop {
            let home = (cursor & mask) as usize;
            let mut index = home;
            for _ in 0..=table.mask {
                let word = table.load(index);
                let Some(pointer) = word.node() else { break };
                if !word.is_dead() {
                    // SAFETY: loaded from the root under `guard`.
                    let node = unsafe { pointer.as_ref() };
                    if node.hash as usize & table.mask == home {
                        if let Some(entry) = &node.entry {
                            // SAFETY: as above.
                            visit(unsafe { Node::key(pointer) }, entry);
                            visited += 1;
                        }
                    }
                }
                index = (index + 1) & table.mask;
            }
            buckets += 1;
            // Redis's reverse-binary increment: count up in the bits above the mask first, so
            // that a cursor from a table of one size stays meaningful in a table of another
            // (every bucket of the larger table maps to an unvisited prefix of the smaller).
            cursor |= !mask;
            cursor = cursor.reverse_bits().wrapping_add(1).reverse_bits();
            if cursor == 0 || visited >= count || buckets >= buckets_max {
                return cursor;
            }
        }
    }

    /// Never less than the number of keys whose insert completed before the call and that
    /// no removal finished before the call ended removed (see [`StripedCounter`]); exact when
    /// no write is in flight; may count keys being added or removed during the call.
    fn len(&self) -> usize {
        self.live.sum()
    }

    fn clear(&self) {
        let guard = epoch::pin();
        loop {
            // SAFETY: used under `guard` only.
            let table = unsafe { self.root(&guard) };
            if table.next.load(Ordering::Acquire).is_null() {
                // A migration to an empty table that copies nothing; if another migration
                // wins the race to start, we finish that one and try again on its target.
                let capacity = CAPACITY_MIN;
                let next = Box::into_raw(Table::new(capacity, false));
                // AcqRel: as in `start_migration`.
                match table.next.compare_exchange(
                    std::ptr::null_mut(),
                    next,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // SAFETY: our migration has started on a table loaded under `guard`.
                        unsafe { self.finish_migration(table, &guard) };
                        return;
                    }
                    // SAFETY: never published.
                    Err(_) => drop(unsafe { Box::from_raw(next) }),
                }
            }
            // SAFETY: a migration has started on a table loaded under `guard`.
            unsafe { self.finish_migration(table, &guard) };
        }
    }

    fn versions(&self) -> &VersionClock {
        &self.versions
    }
}

impl<V, S, A: NodeAllocator> Drop for LockFree<V, S, A> {
    fn drop(&mut self) {
        // We have the map to ourselves: finish any migration so one table owns every node,
        // then free it. Garbage retired earlier is freed by crossbeam-epoch in due course.
        // SAFETY: `&mut self` means no other thread is inside the map; an unprotected guard
        // is sound when nothing is concurrent.
        let guard = unsafe { epoch::unprotected() };
        loop {
            // SAFETY: exclusive access (see above).
            let table = unsafe { self.root(guard) };
            if Self::next_of(table).is_none() {
                // The raw root pointer, which may free the table (see `finish_migration`).
                let table = NonNull::new(self.root.load(Ordering::Relaxed)).expect("a root");
                // SAFETY: exclusive access; the root owns all its nodes.
                unsafe { Table::free::<A>(table, true) };
                return;
            }
            // SAFETY: exclusive access; the migration has started. With an unprotected guard
            // the old table is freed immediately, which is fine with nobody else here.
            unsafe { self.finish_migration(table, guard) };
        }
    }
}

/// The capacity for about `keys` keys: at most half full, a power of two, at least the
/// minimum.
fn capacity_for(keys: usize) -> usize {
    keys.saturating_mul(2).next_power_of_two().max(CAPACITY_MIN)
}

/// The smallest table a map created for `capacity` keys migrates to: the table it was created
/// with. Under loom, the minimum: the models start from four-slot maps and must be able to
/// shrink them (see `CAPACITY_MIN`).
fn capacity_floor(capacity: usize) -> usize {
    if cfg!(loom) {
        CAPACITY_MIN
    } else {
        capacity_for(capacity)
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
