//! Nodes and the tagged slot word.
//!
//! A node is one allocation: a [`Node`] header (hash, key length, the entry) followed directly
//! by the key's bytes, so a lookup that matches a fingerprint touches one cache line for the
//! hash, the key and usually the entry. Nodes are immutable once published: a write replaces
//! the whole node with one compare-and-swap on the slot, and the old node is retired through
//! crossbeam-epoch.
//!
//! A slot holds a tagged pointer to a node ([`SlotWord`]). The low bits carry the slot's
//! state, the top byte carries a fingerprint of the key's hash so a probe can skip slots of
//! other keys without dereferencing them.

use super::allocator::NodeAllocator;
use crate::Entry;
use std::alloc::{self, Layout};
use std::ptr::{self, NonNull};

/// The slot's contents may no longer change: the table is being migrated and this slot has
/// been (or is being) copied to the next table. Set by compare-and-swap, never cleared.
pub(crate) const FROZEN: usize = 0b01;

/// The node is a tombstone: it keeps the slot claimed for its key (so a re-insert of the key
/// reuses the slot and no other slot can ever hold the same key), and its entry, if it has
/// one (a removed node kept as its own tombstone), is never read.
pub(crate) const DEAD: usize = 0b10;

/// The state bits; a node's alignment keeps them free.
pub(crate) const STATE_MASK: usize = FROZEN | DEAD;

/// Where the fingerprint lives: the top byte of the address. Linux gives user space at most
/// 47 bits of address unless a program asks mmap for more (x86-64 with 5-level paging and
/// arm64 with 52-bit VAs both keep the 47/48-bit default), so the top byte of a heap address
/// is zero; [`Node::alloc`] checks it.
pub(crate) const FINGERPRINT_SHIFT: u32 = 56;

/// Every bit that is not part of the address.
pub(crate) const TAG_MASK: usize = STATE_MASK | (0xff << FINGERPRINT_SHIFT);

const _: () = assert!(
    std::mem::size_of::<usize>() == 8,
    "the slot word needs 64-bit pointers"
);
const _: () = assert!(std::mem::align_of::<Node<()>>() > STATE_MASK);

/// The fingerprint of a hash: its top byte. The table index uses the low bits, so the two are
/// independent and a fingerprint match within a probe sequence is a 1-in-256 false positive.
#[inline]
pub(crate) fn fingerprint(hash: u64) -> usize {
    (hash >> FINGERPRINT_SHIFT) as usize
}

/// A slot's value: a node pointer with state bits and fingerprint folded in.
///
/// The pointer keeps its provenance: tags are added and removed with `map_addr`.
#[derive(PartialEq, Eq, Debug)]
pub(crate) struct SlotWord<V>(pub(crate) *mut Node<V>);

// Manual impls: a derive would demand `V: Copy`, but the word only holds a pointer.
impl<V> Clone for SlotWord<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for SlotWord<V> {}

impl<V> SlotWord<V> {
    /// An empty, unfrozen slot.
    pub(crate) const EMPTY: Self = Self(ptr::null_mut());

    /// A word for a freshly published node.
    #[inline]
    pub(crate) fn new(node: NonNull<Node<V>>, hash: u64, dead: bool) -> Self {
        let state = if dead { DEAD } else { 0 };
        Self(
            node.as_ptr()
                .map_addr(|address| address | (fingerprint(hash) << FINGERPRINT_SHIFT) | state),
        )
    }

    /// The node, or `None` for an empty slot (frozen or not).
    #[inline]
    pub(crate) fn node(self) -> Option<NonNull<Node<V>>> {
        NonNull::new(self.0.map_addr(|address| address & !TAG_MASK))
    }

    /// Whether the slot is frozen for migration.
    #[inline]
    pub(crate) fn is_frozen(self) -> bool {
        self.0.addr() & FROZEN != 0
    }

    /// Whether the node is a tombstone.
    #[inline]
    pub(crate) fn is_dead(self) -> bool {
        self.0.addr() & DEAD != 0
    }

    /// The fingerprint stored with the node (meaningless for an empty slot).
    #[inline]
    pub(crate) fn fingerprint(self) -> usize {
        self.0.addr() >> FINGERPRINT_SHIFT
    }

    /// The same word with the dead bit set.
    #[inline]
    pub(crate) fn dead(self) -> Self {
        Self(self.0.map_addr(|address| address | DEAD))
    }

    /// The same word with the frozen bit set.
    #[inline]
    pub(crate) fn frozen(self) -> Self {
        Self(self.0.map_addr(|address| address | FROZEN))
    }
}

/// A key and what it maps to (or a tombstone for the key), followed in memory by the key.
#[repr(C)]
pub(crate) struct Node<V> {
    /// The key's full hash, compared before the key bytes and used to re-home the node when
    /// the table migrates.
    pub(crate) hash: u64,
    key_len: usize,
    /// `None` for a node allocated as a tombstone; a removed node kept as its own tombstone
    /// keeps its entry, which the DEAD bit of its slot makes unreadable.
    pub(crate) entry: Option<Entry<V>>,
}

impl<V> Node<V> {
    /// The layout of a node with a key of `key_len` bytes, and the offset of the key.
    fn layout(key_len: usize) -> (Layout, usize) {
        let (layout, offset) = Layout::new::<Self>()
            .extend(Layout::array::<u8>(key_len).expect("key length overflows a layout"))
            .expect("key length overflows a layout");
        (layout.pad_to_align(), offset)
    }

    /// Allocates a node from `A`. It is owned by the caller until published in a slot, and
    /// must be freed with [`Node::free`] and the same `A`.
    pub(crate) fn alloc<A: NodeAllocator>(
        hash: u64,
        key: &[u8],
        entry: Option<Entry<V>>,
    ) -> NonNull<Self> {
        let (layout, offset) = Self::layout(key.len());
        debug_assert_eq!(offset, Self::KEY_OFFSET);
        // SAFETY: the layout has a non-zero size (the header is at least 16 bytes).
        let raw = unsafe { A::allocate(layout) };
        let Some(node) = NonNull::new(raw.cast::<Self>()) else {
            alloc::handle_alloc_error(layout)
        };
        assert!(
            raw.addr() & TAG_MASK == 0,
            "the allocator returned {raw:p}, whose top byte is not zero; the lock-free table \
             keeps a fingerprint there and cannot run on this platform"
        );
        // SAFETY: `node` is a fresh allocation of `layout`, which starts with a `Self` and has
        // room for `key.len()` bytes at `offset`; the source and destination do not overlap.
        unsafe {
            node.as_ptr().write(Self {
                hash,
                key_len: key.len(),
                entry,
            });
            ptr::copy_nonoverlapping(key.as_ptr(), raw.add(offset), key.len());
        }
        node
    }

    /// The key's bytes of the node at `node`.
    ///
    /// An associated function on the raw pointer, not a method on `&self`: the key lies past
    /// `size_of::<Node>()`, and a pointer derived from a `&Node` may only access the header
    /// (Stacked Borrows, which miri checks, shrinks a reference's provenance to its type's
    /// size), so reading the key through it would be undefined behaviour. The slot word's
    /// pointer carries the provenance of the whole allocation from [`Node::alloc`].
    ///
    /// # Safety
    ///
    /// `node` came from [`Node::alloc`] (with the provenance `alloc` returned, as every slot
    /// word keeps it) and stays allocated for `'node`: the caller loaded it from a table while
    /// pinned, and it is freed only after the caller's guard is dropped.
    #[inline]
    pub(crate) unsafe fn key<'node>(node: NonNull<Self>) -> &'node [u8] {
        let raw = node.as_ptr();
        // SAFETY: by the contract the header is initialised and allocated, and nodes are
        // immutable once published; `key_len` is read through the raw pointer, without a
        // reference to the whole header.
        let key_len = unsafe { (*raw).key_len };
        // SAFETY: `alloc` copied `key_len` bytes to `KEY_OFFSET` (see `layout`) in the same
        // allocation, which by the contract lives for `'node` and is never written again; `raw`
        // has the provenance of that whole allocation.
        unsafe { std::slice::from_raw_parts(raw.cast::<u8>().add(Self::KEY_OFFSET), key_len) }
    }

    /// Where the key starts: right after the header, since bytes need no alignment. A
    /// constant, so the lookup path does no layout arithmetic (checked against `layout` in
    /// `alloc`).
    const KEY_OFFSET: usize = std::mem::size_of::<Self>();

    /// Frees a node and drops its entry.
    ///
    /// # Safety
    ///
    /// 1. `node` came from [`Node::alloc`] with the same `A` and has not been freed.
    /// 2. No thread can reach it any more: it was never published, or it was unlinked from
    ///    every slot a reader could still load and a grace period has passed (the caller runs
    ///    this from a crossbeam-epoch deferred function, or owns the whole table).
    pub(crate) unsafe fn free<A: NodeAllocator>(node: NonNull<Self>) {
        // SAFETY: by (1) the header is initialised; by (2) nobody else reads it.
        let key_len = unsafe { node.as_ref().key_len };
        let (layout, _) = Self::layout(key_len);
        // SAFETY: (1) and (2) as above; the layout is the one `alloc` used.
        unsafe {
            ptr::drop_in_place(node.as_ptr());
            A::deallocate(node.as_ptr().cast(), layout);
        }
    }
}
