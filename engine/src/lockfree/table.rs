//! One open-addressing table and the migration from it to the next.
//!
//! See the parent module for the algorithm; this file holds the mechanics: probing, freezing
//! and copying slots, and freeing a table.

use super::allocator::NodeAllocator;
use super::node::{Node, SlotWord};
use crate::counter::StripedCounter;
use crate::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::ptr::{self, NonNull};

/// Slots copied per unit of migration work. Small enough that a writer helping with one chunk
/// per operation adds a few microseconds at most (256 slots of 8 bytes are 32 cache lines),
/// large enough that claiming chunks is not itself a contention point.
#[cfg(not(loom))]
pub(crate) const CHUNK_SLOTS: usize = 256;
/// Under loom, two slots per chunk so a model with a four-slot table has several chunks.
#[cfg(loom)]
pub(crate) const CHUNK_SLOTS: usize = 2;

/// The smallest table. Tiny tables under loom keep the state space small and make every model
/// migrate.
#[cfg(not(loom))]
pub(crate) const CAPACITY_MIN: usize = 16;
/// Under loom, two slots: the models start from four-slot maps (`with_capacity(2)`), and a
/// two-slot minimum lets a four-slot table shrink (a migration of four slots instead of the
/// eight that a four-slot minimum would need, which made the shrink model take minutes) and
/// lets a model size a migration target too small for three keys.
#[cfg(loom)]
pub(crate) const CAPACITY_MIN: usize = 2;

/// Where a probe for a key ended.
pub(crate) enum Probe<V> {
    /// The key's slot: `index`, holding `word` (a live node or the key's tombstone).
    Found { index: usize, word: SlotWord<V> },
    /// The key is absent; `index` is the first empty slot of its probe sequence, `displacement`
    /// slots from its home.
    Vacant { index: usize, displacement: usize },
    /// The probe met a frozen slot: the table is migrating and this key must wait for (help)
    /// the migration to finish before it may be written.
    Frozen,
    /// The key is absent and the table has no empty slot left. Only a small table can get
    /// here (a large one sees long probes, and migrates, well before), since inserts with short
    /// probes do not look at the load; the caller migrates.
    Full,
}

/// A migration target has no empty slot left for a node the copy must place.
///
/// A target is sized from the live count, which is an estimate taken before the copy: writes
/// that passed their checks before the migration started may still add keys to the old table,
/// and an estimate can be wrong for other reasons (issue 16 found one). Instead of trusting
/// the estimate, the copy reports the overflow and the migration is redone into a target
/// twice as large ([`LockFree`](super::LockFree)'s `retarget`). A full target can never
/// complete: the node that did not fit can never be placed (slots are never emptied), so no
/// helper can count its chunk as copied, and no helper can make that target the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TargetFull;

/// An open-addressing table with linear probing.
pub(crate) struct Table<V> {
    /// Tagged node pointers; see [`SlotWord`].
    pub(crate) slots: Box<[AtomicPtr<Node<V>>]>,
    /// One byte per slot: `0` while the slot has never held a node, else [`meta_tag`] of the
    /// key's hash. Readers probe this array first: it is an eighth of the slot array, so it
    /// mostly stays in cache, and a lookup of an absent key (most lookups of a cache are
    /// misses) ends at a zero byte without touching the slot array. See [`Table::mark`] for
    /// why a zero byte may be trusted.
    pub(crate) meta: Box<[AtomicU8]>,
    /// `capacity - 1`; capacity is a power of two.
    pub(crate) mask: usize,
    /// An insert that would land further than this from its home slot starts a migration
    /// instead, which bounds probe lengths.
    pub(crate) displacement_max: usize,
    /// The table this one migrates to, once a migration has started. Set once.
    pub(crate) next: AtomicPtr<Table<V>>,
    /// Whether this table receives the live nodes of the table before it (`false` for the
    /// empty table that [`crate::Engine::clear`] migrates to).
    pub(crate) copies_previous: bool,
    /// Slots claimed so far (live keys and tombstones): the table's real load, which decides
    /// whether a long probe means "full" (migrate) or "unlucky cluster" (carry on).
    pub(crate) claimed: StripedCounter,
    /// The copy *into* this table, while it is a migration target: the next chunk of the
    /// previous table a helper may claim. The tickets live in the target, not in the table
    /// being copied, because a target that proves too small is replaced (see
    /// [`TargetFull`]) and its replacement needs fresh tickets.
    pub(crate) chunks_claimed: AtomicUsize,
    /// Chunks of the previous table whose copy into this table has completed.
    pub(crate) chunks_copied: AtomicUsize,
}

impl<V> Table<V> {
    /// A table of `capacity` (a power of two, at least [`CAPACITY_MIN`]) empty slots.
    pub(crate) fn new(capacity: usize, copies_previous: bool) -> Box<Self> {
        assert!(capacity.is_power_of_two() && capacity >= CAPACITY_MIN);
        Box::new(Self {
            slots: empty_slots(capacity),
            meta: empty_meta(capacity),
            mask: capacity - 1,
            displacement_max: displacement_max(capacity),
            next: AtomicPtr::new(ptr::null_mut()),
            copies_previous,
            claimed: StripedCounter::default(),
            chunks_claimed: AtomicUsize::new(0),
            chunks_copied: AtomicUsize::new(0),
        })
    }

    /// The number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The number of migration chunks.
    pub(crate) fn chunks(&self) -> usize {
        self.capacity().div_ceil(CHUNK_SLOTS)
    }

    /// Loads slot `index`.
    #[inline]
    pub(crate) fn load(&self, index: usize) -> SlotWord<V> {
        // Acquire: pairs with the Release of the compare-and-swap that published the node, so
        // its header, key and entry are visible before we dereference it.
        SlotWord(self.slots[index].load(Ordering::Acquire))
    }

    /// Starts loading the slot and the metadata byte of `hash`'s home slot into the cache, so
    /// that a write's two cache misses overlap with each other and with the work it does
    /// before its probe (allocating its node).
    ///
    /// A write of a new key into an empty slot needs both lines: the probe reads the slot, and
    /// [`Table::mark`] reads and sets the metadata byte after the compare-and-swap. A locked
    /// instruction is a full barrier on x86-64, so without this the metadata miss could only
    /// start once the slot's miss had been served and the compare-and-swap done: two misses
    /// one after the other on every insert into a table larger than the caches. Only a hint:
    /// the loaded values are thrown away (`black_box` keeps the compiler from dropping the
    /// loads), and under loom, where every load is a step of the model, it does nothing.
    #[inline]
    pub(crate) fn warm(&self, hash: u64) {
        #[cfg(not(loom))]
        {
            let index = hash as usize & self.mask;
            // Relaxed: the values are discarded; only the cache lines matter.
            std::hint::black_box(self.slots[index].load(Ordering::Relaxed));
            std::hint::black_box(self.meta[index].load(Ordering::Relaxed));
        }
        #[cfg(loom)]
        let _ = hash;
    }

    /// The metadata byte of slot `index`.
    #[inline]
    pub(crate) fn meta(&self, index: usize) -> u8 {
        // Acquire: pairs with the Release in `mark`, which comes after the slot's node was
        // published, so a reader that sees the byte also sees the node when it loads the slot.
        self.meta[index].load(Ordering::Acquire)
    }

    /// Sets the metadata byte of slot `index`, which holds `word` (a node), if it is not set.
    ///
    /// The rule that lets readers stop at a zero byte: a writer that claims a slot marks it
    /// right after its compare-and-swap, and a writer whose probe passes a non-empty slot
    /// marks it before going on. So once any write that relied on the slot being taken has
    /// completed, the byte is set; a reader that still sees zero overlaps the claiming write
    /// and may be ordered before it.
    #[inline]
    pub(crate) fn mark(&self, index: usize, word: SlotWord<V>) {
        // Relaxed check first so that marked slots (all but a brief window) cost no write.
        if self.meta[index].load(Ordering::Relaxed) == 0 {
            // Release: see `meta`.
            self.meta[index].store(
                meta_tag_of_fingerprint(word.fingerprint()),
                Ordering::Release,
            );
        }
    }

    /// Compare-and-swap on slot `index`; on failure returns what the slot holds.
    #[inline]
    pub(crate) fn compare_exchange(
        &self,
        index: usize,
        current: SlotWord<V>,
        new: SlotWord<V>,
    ) -> Result<(), SlotWord<V>> {
        // Success AcqRel: Release publishes the new node to readers' Acquire loads; Acquire
        // orders our later retirement of the old node after the write that installed it.
        // Failure Acquire: the caller may dereference the node it finds.
        self.slots[index]
            .compare_exchange(current.0, new.0, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(SlotWord)
    }

    /// Finds `key` (whose hash is `hash`) for a writer.
    ///
    /// # Safety
    ///
    /// The caller is pinned to the epoch and loaded this table from the map's root (or from a
    /// table it loaded so) while pinned, so every node reachable from it stays allocated.
    pub(crate) unsafe fn probe(&self, hash: u64, key: &[u8]) -> Probe<V> {
        let fingerprint = super::node::fingerprint(hash);
        let mut index = hash as usize & self.mask;
        for displacement in 0..=self.mask {
            let word = self.load(index);
            if word.is_frozen() {
                return Probe::Frozen;
            }
            let Some(node) = word.node() else {
                return Probe::Vacant {
                    index,
                    displacement,
                };
            };
            self.mark(index, word);
            if word.fingerprint() == fingerprint {
                // SAFETY: the node was loaded from this table while pinned (the function's
                // contract), so it is not freed before the guard drops.
                if unsafe { node.as_ref().hash == hash && Node::key(node) == key } {
                    return Probe::Found { index, word };
                }
            }
            index = (index + 1) & self.mask;
        }
        Probe::Full
    }

    /// Freezes slot `index` and copies what it holds to `next`. Idempotent: any number of
    /// threads may copy the same slot, in any order, before or after the table is retired.
    /// Returns `Some(was_live)` to the one thread whose compare-and-swap froze the slot (it
    /// does the accounting), `None` to the others, and [`TargetFull`] if `next` has no room
    /// for the node (then the slot is frozen but not copied, and the accounting, which only
    /// a target that copies nothing needs, is moot: such a target never fills up).
    ///
    /// # Safety
    ///
    /// As for [`Table::probe`], and `next` is this table's migration target.
    pub(crate) unsafe fn copy_slot(
        &self,
        index: usize,
        next: &Table<V>,
    ) -> Result<Option<bool>, TargetFull> {
        let mut word = self.load(index);
        let mut froze = false;
        while !word.is_frozen() {
            match self.compare_exchange(index, word, word.frozen()) {
                Ok(()) => {
                    froze = true;
                    break;
                }
                Err(actual) => word = actual,
            }
        }
        let live = word.node().is_some() && !word.is_dead();
        if live && next.copies_previous {
            let node = word.node().expect("a live word has a node");
            // SAFETY: the node was loaded from this table while pinned.
            unsafe { next.insert_copy(node) }?;
        }
        Ok(froze.then_some(live))
    }

    /// Places a node copied from the previous table, unless its key is already here.
    ///
    /// Before this table becomes the root only copies write to it, and a key's slot is never
    /// emptied, so "already here" means another helper copied it (or, for a helper that was
    /// delayed past the switch, that a writer has since replaced or removed it, which must not
    /// be undone). Copies ignore `displacement_max`: a target is sized to be at most half full,
    /// so the probe is usually short; if the estimate it was sized from was wrong and no slot is
    /// left, the copy reports [`TargetFull`] instead of placing the node.
    ///
    /// # Safety
    ///
    /// As for [`Table::probe`]; `node` was loaded from the previous table while pinned.
    unsafe fn insert_copy(&self, node: NonNull<Node<V>>) -> Result<(), TargetFull> {
        // SAFETY: see the function's contract.
        let (hash, key) = unsafe { (node.as_ref().hash, Node::key(node)) };
        let fingerprint = super::node::fingerprint(hash);
        let mut index = hash as usize & self.mask;
        for _ in 0..=self.mask {
            let word = self.load(index);
            match word.node() {
                None if word.is_frozen() => {
                    // Only a helper delayed past the switch (and past the start of this
                    // table's own migration) sees this; by then the key was copied.
                    return Ok(());
                }
                None => {
                    let new = SlotWord::new(node, hash, false);
                    match self.compare_exchange(index, word, new) {
                        Ok(()) => {
                            self.mark(index, new);
                            self.claimed.add(1);
                            return Ok(());
                        }
                        // Someone claimed the slot: look at it again.
                        Err(_) => continue,
                    }
                }
                Some(other) => {
                    self.mark(index, word);
                    if other == node {
                        return Ok(());
                    }
                    if word.fingerprint() == fingerprint {
                        // SAFETY: loaded from this table while pinned.
                        if unsafe { other.as_ref().hash == hash && Node::key(other) == key } {
                            return Ok(());
                        }
                    }
                }
            }
            index = (index + 1) & self.mask;
        }
        // Every slot holds another key's node: this target is too small for what the copy
        // has to place. Slots are never emptied, so it stays that way.
        Err(TargetFull)
    }

    /// Copies chunk `chunk`; returns the change in live keys this thread accounts for (only
    /// non-zero when the target does not copy, i.e. for `clear`), or [`TargetFull`] if the
    /// chunk does not fit (the rest of the chunk is then left alone).
    ///
    /// # Safety
    ///
    /// As for [`Table::copy_slot`].
    pub(crate) unsafe fn copy_chunk(
        &self,
        chunk: usize,
        next: &Table<V>,
    ) -> Result<usize, TargetFull> {
        let start = chunk * CHUNK_SLOTS;
        let end = (start + CHUNK_SLOTS).min(self.capacity());
        let mut dropped = 0;
        for index in start..end {
            // SAFETY: forwarded from the caller.
            if let Some(true) = unsafe { self.copy_slot(index, next) }? {
                if !next.copies_previous {
                    dropped += 1;
                }
            }
        }
        Ok(dropped)
    }

    /// Frees the table and the nodes it alone owns: tombstones always, live nodes only when
    /// `free_live` (they were not copied anywhere: `clear`, or the map is being dropped).
    ///
    /// # Safety
    ///
    /// No thread can reach the table any more, and, unless `free_live`, its live nodes are
    /// owned by another table (the next one, or for an abandoned migration target, the table
    /// it was copying from). Every node in it was allocated with `A`.
    pub(crate) unsafe fn free<A: NodeAllocator>(table: NonNull<Self>, free_live: bool) {
        // SAFETY: by the contract we own the table.
        let table = unsafe { Box::from_raw(table.as_ptr()) };
        for index in 0..table.capacity() {
            let word = table.load(index);
            if let Some(node) = word.node() {
                if word.is_dead() || free_live {
                    // SAFETY: the node is owned by this table alone (tombstones are never
                    // copied; live nodes only when `free_live`), and nobody can reach it.
                    unsafe { Node::free::<A>(node) };
                }
            }
        }
    }
}

/// The probe length past which an insert into a full table (see `LOAD_PERCENT_MAX`) must wait
/// for a migration (past half of it, the migration starts).
///
/// Linear probing's longest probe grows with the log of the table size at a fixed load, so
/// the limit is twice the log with a floor for small tables; the `load_factor_at_first_
/// migration` test prints the load at which a table of distinct keys starts migrating. In a
/// table that is not full a long probe is a cluster of colliding hashes, which
/// a bigger table would not fix, so there the limit does not apply.
fn displacement_max(capacity: usize) -> usize {
    (2 * capacity.trailing_zeros() as usize)
        .max(8)
        .min(capacity / 2)
}

/// The metadata byte for a hash: its top seven bits with the high bit set, so it is never 0.
#[inline]
pub(crate) fn meta_tag(hash: u64) -> u8 {
    ((hash >> 57) as u8) | 0x80
}

/// [`meta_tag`] from a slot word's 8-bit fingerprint (the hash's top byte), so marking a
/// passed slot needs no dereference.
#[inline]
fn meta_tag_of_fingerprint(fingerprint: usize) -> u8 {
    ((fingerprint >> 1) as u8) | 0x80
}

/// `capacity` zero metadata bytes.
#[cfg(not(loom))]
fn empty_meta(capacity: usize) -> Box<[AtomicU8]> {
    let meta = Box::<[AtomicU8]>::new_zeroed_slice(capacity);
    advise_huge_pages(&meta);
    // SAFETY: an all-zero `AtomicU8` is 0, "never held a node".
    unsafe { meta.assume_init() }
}

/// Arrays at least this large are backed by transparent huge pages where the kernel offers
/// them: 2 MiB, one x86-64 huge page, so smaller tables (most of a server's life) never
/// round up to one.
#[cfg(not(loom))]
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Asks Linux to back the whole 2 MiB pages inside `array` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`; the default THP mode, `madvise`, only uses them where asked).
///
/// Every operation on a table larger than the caches lands on a random slot and a random
/// metadata byte, and with 4 KiB pages each of those is also a TLB miss; on a virtual machine
/// a TLB miss walks two sets of page tables. In bustle's mixes at 2^23 keys (a 128 MiB slot
/// array) more than 80% of an insert's time sat on the slot load. A 2 MiB page covers 512
/// times as much per TLB entry. hashbrown and dashmap do not do this; it is a choice of ours
/// for the large tables a cache server keeps.
///
/// Only a hint: where THP is off, or the kernel finds no huge page, nothing changes, and the
/// call's result is ignored for that reason. The range is the page-aligned interior of the
/// allocation, so no byte outside it is affected.
#[cfg(not(loom))]
fn advise_huge_pages<T>(array: &[T]) {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        let bytes = std::mem::size_of_val(array);
        if bytes < 2 * HUGE_PAGE_BYTES {
            return;
        }
        let start = array.as_ptr().addr().next_multiple_of(HUGE_PAGE_BYTES);
        let end = (array.as_ptr().addr() + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if start < end {
            // SAFETY: madvise with MADV_HUGEPAGE changes how the kernel backs the pages, never
            // their contents; [start, end) lies inside `array`'s allocation, which we own, and
            // both ends are page-aligned as madvise requires.
            unsafe {
                libc::madvise(
                    std::ptr::with_exposed_provenance_mut::<libc::c_void>(start),
                    end - start,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    let _ = array;
}

/// `capacity` zero metadata bytes (loom's atomics are built one by one).
#[cfg(loom)]
fn empty_meta(capacity: usize) -> Box<[AtomicU8]> {
    (0..capacity).map(|_| AtomicU8::new(0)).collect()
}

/// `capacity` empty slots.
#[cfg(not(loom))]
fn empty_slots<V>(capacity: usize) -> Box<[AtomicPtr<Node<V>>]> {
    let slots = Box::<[AtomicPtr<Node<V>>]>::new_zeroed_slice(capacity);
    advise_huge_pages(&slots);
    // SAFETY: an all-zero `AtomicPtr` is a null pointer (it has the same in-memory
    // representation as `*mut T`), which is an empty slot; calloc gives us zero pages for free.
    unsafe { slots.assume_init() }
}

/// `capacity` empty slots; loom's atomics are not plain memory, so build them one by one.
#[cfg(loom)]
fn empty_slots<V>(capacity: usize) -> Box<[AtomicPtr<Node<V>>]> {
    (0..capacity)
        .map(|_| AtomicPtr::new(ptr::null_mut()))
        .collect()
}
