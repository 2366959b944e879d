//! # journal: every effect the keyspace installs, fanned out to its subscribers
//!
//! The keyspace reports each mutation's effect, with its version, to a
//! [`keyspace::Journal`]. Here that is one [`Journal`] for the whole server (each
//! numbered database reports through a [`DbJournal`] that adds its number), and the journal
//! hands every effect to each of its [`Subscriber`]s: the append-only file
//! ([`crate::writer::AppendLog`]) today, a live change feed ([`Tap`]) and replication later.
//! The journal is attached once, at start-up, whether or not anything subscribes; a
//! subscriber comes and goes at run time (`CONFIG SET appendonly yes|no`).
//!
//! ## What a subscriber receives
//!
//! An [`Entry`] per effect: its database, its version, the effect itself (borrowed, for a
//! subscriber that acts on effects, such as keyspace notifications) and the effect already
//! encoded as one or more records (for a subscriber that stores or ships bytes: the AOF, a
//! replica). The journal encodes each effect once, whatever the number of subscribers, and
//! only when there is at least one: with none, a write pays one atomic load here.
//!
//! *Order.* Entries are delivered on the thread that installed the effect, before the
//! operation returns (so a reply never goes out before every subscriber has the write). Per
//! key, and for every multi-key command or flush, delivery order is version order (the
//! keyspace's journal docs explain why); across keys on different threads entries may
//! arrive slightly out of version order, and a consumer that needs one order sorts by version
//! as replay does, or keeps the highest version per key. Entries of all databases share one
//! stream; each record names its database.
//!
//! *Batches.* Delivery is per entry because the writing thread must not wait; batching is the
//! subscriber's business and each does it the same way: append the bytes to a buffer under a
//! short lock and let a consumer thread take the whole buffer at once (the AOF writer's group
//! commit; [`Tap::take`]). A batch is whole records, in delivery order.
//!
//! ## A slow subscriber
//!
//! `deliver` runs on an event loop, so a subscriber must never block for long. Each chooses
//! what happens when its consumer falls behind, by how much it lets its buffer grow:
//!
//! * *Backpressure* (the AOF): past its limit ([`crate::writer::PENDING_BYTES_MAX`]) the
//!   writing threads wait for the consumer. Durability allows nothing else: a record the AOF
//!   dropped would be a write lost after it was acknowledged. Redis delays writes the same way
//!   when its fsync falls behind.
//! * *Detach* (a live feed, a replica): past its limit ([`Tap`]'s `queued_bytes_max`) the
//!   subscriber drops its queue, stops taking entries and tells its consumer it lagged; the
//!   consumer starts again from a snapshot (`Keyspace::snapshot`, as the AOF rewrite does)
//!   and a new subscription. This is what Redis does to a replica or a pub/sub client past
//!   its `client-output-buffer-limit`: one slow reader never slows the writers.
//!
//! ## Subscribing and unsubscribing
//!
//! [`Journal::subscribe`] and [`Journal::unsubscribe`] replace the list under a lock and
//! stamp it with a new generation. The hot path does not take that lock: each thread keeps
//! the list it last saw with its generation and compares one atomic load per effect, taking
//! the lock only after a change. A subscription takes effect for every effect whose delivery
//! starts after `subscribe` returns; so a subscriber that needs the state before it (the AOF
//! started at run time) subscribes first and then writes a snapshot, and replay keeps the
//! highest version per key where the two overlap, as a rewrite does.

use crate::effect;
use keyspace::Effect;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One effect, as every subscriber receives it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The numbered database it belongs to.
    pub db: u8,
    /// The version the engine drew for it.
    pub version: u64,
    /// The effect.
    pub effect: &'a Effect<'a>,
    /// The effect encoded: one record, or several for a list too long for one (see
    /// [`crate::effect`]), each checked by reading it back.
    pub records: &'a [u8],
}

/// Something the journal feeds. See the module docs for the contract.
pub trait Subscriber: Send + Sync + 'static {
    /// Takes one entry, on the thread that installed it. Must not call back into the keyspace
    /// and must not block but for the backpressure its policy chose.
    fn deliver(&self, entry: &Entry<'_>);
}

/// A subscription, for [`Journal::unsubscribe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionId(u64);

type List = Arc<[(SubscriptionId, Arc<dyn Subscriber>)]>;

/// Generations of every journal's subscriber list come from one counter, so a thread's cached
/// list can never be mistaken for another journal's, or for an older list of the same one.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The subscriber list this thread saw last, with its generation.
    static SEEN: RefCell<(u64, Option<List>)> = const { RefCell::new((0, None)) };
    /// Where this thread encodes an effect before handing it out.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// Whether `SEEN` holds a list: read without touching `SEEN` (which has a destructor, so
    /// every access checks its registration), on the path of every write while nobody
    /// listens.
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// The server's journal: effects in, entries out to every subscriber.
pub struct Journal {
    subscribers: RwLock<List>,
    /// The generation of `subscribers`; 0 while the list is empty (nothing to encode for).
    generation: AtomicU64,
    next_id: AtomicU64,
}

impl Default for Journal {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("subscribers", &self.subscriber_count())
            .finish()
    }
}

impl Journal {
    /// A journal with no subscriber.
    pub fn new() -> Self {
        Self {
            subscribers: RwLock::new(Arc::from(Vec::new())),
            generation: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// Adds `subscriber`: every effect whose delivery starts after this returns reaches it.
    pub fn subscribe(&self, subscriber: Arc<dyn Subscriber>) -> SubscriptionId {
        let id = SubscriptionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        self.replace(|list| {
            let mut list = list.to_vec();
            list.push((id, subscriber));
            list
        });
        id
    }

    /// Removes subscription `id`. Deliveries already under way on other threads may still
    /// reach it; none that starts after this returns does.
    pub fn unsubscribe(&self, id: SubscriptionId) {
        self.replace(|list| {
            list.iter()
                .filter(|(listed, _)| *listed != id)
                .cloned()
                .collect()
        });
    }

    /// How many subscribers there are.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn replace(&self, change: impl FnOnce(&List) -> Vec<(SubscriptionId, Arc<dyn Subscriber>)>) {
        let mut subscribers = self
            .subscribers
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let list: List = Arc::from(change(&subscribers));
        let generation = if list.is_empty() {
            0
        } else {
            NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
        };
        *subscribers = list;
        // SeqCst, stored while the list's lock is held: a thread whose load in `record_in`
        // comes after this store in the single total order reads the new list (it takes the
        // lock, which this thread releases after the store). A write that a snapshot taken
        // after `subscribe` did not see installs, and so loads, after this store.
        self.generation.store(generation, Ordering::SeqCst);
    }

    /// Whether [`Journal::record_in`] has anything to do now: a subscriber listens, or this
    /// thread still holds the list of the last one, to let go of. Asked after a mutation is
    /// installed, it answers as `record_in` would (the same SeqCst load), so a caller may
    /// skip building the effect when it says no.
    pub fn listening(&self) -> bool {
        // SeqCst: as in `record_in`.
        self.generation.load(Ordering::SeqCst) != 0 || HOLDING.with(Cell::get)
    }

    /// Hands the effect of `version` in database `db` to every subscriber.
    pub fn record_in(&self, db: u8, version: u64, effect: &Effect<'_>) {
        // SeqCst: pairs with the store in `replace`; on x86 and ARMv8 as cheap as Acquire.
        let generation = self.generation.load(Ordering::SeqCst);
        if generation == 0 {
            // Let go of a list seen before the last subscriber left (the AOF turned off), so
            // it does not outlive its subscription in this thread's cache.
            SEEN.with(|seen| {
                if let Ok(mut seen) = seen.try_borrow_mut() {
                    if seen.1.is_some() {
                        *seen = (0, None);
                    }
                    HOLDING.with(|holding| holding.set(false));
                }
            });
            return;
        }
        SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            if seen.0 != generation || seen.1.is_none() {
                let list = self
                    .subscribers
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                *seen = (generation, Some(list));
                HOLDING.with(|holding| holding.set(true));
            }
            let list = seen.1.as_ref().expect("filled above");
            encode(db, version, effect, |records| {
                let entry = Entry {
                    db,
                    version,
                    effect,
                    records,
                };
                for (_, subscriber) in list.iter() {
                    subscriber.deliver(&entry);
                }
            });
        });
    }
}

/// Encodes `effect` into this thread's scratch buffer and calls `with` on the bytes.
pub(crate) fn encode<R>(
    db: u8,
    version: u64,
    effect: &Effect<'_>,
    with: impl FnOnce(&[u8]) -> R,
) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        scratch.clear();
        if let Err(too_large) = effect::encode_in(&mut scratch, db, version, now_ms(), effect) {
            // The keyspace caps values at 512 MiB and lists are split by the encoder, so this
            // is a programmer error, not an operating one.
            panic!("an effect too large for a record: {too_large:?}");
        }
        with(&scratch)
    })
}

/// Milliseconds since the Unix epoch (a record's timestamp).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// The journal of numbered database `db`: what its keyspace reports to. Database 0's records
/// are exactly those of a log written before there were several.
pub struct DbJournal {
    db: u8,
    journal: Arc<Journal>,
}

impl DbJournal {
    /// Database `db`'s view of `journal`.
    pub fn new(db: u8, journal: Arc<Journal>) -> Self {
        Self { db, journal }
    }
}

impl keyspace::Journal for DbJournal {
    fn record(&self, version: u64, effect: &Effect<'_>) {
        self.journal.record_in(self.db, version, effect);
    }

    fn listening(&self) -> bool {
        self.journal.listening()
    }
}

/// The consumer of a [`Tap`] fell behind by more than the tap holds: entries were dropped,
/// and it must start again from a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lagged;

/// A subscriber that queues records for a consumer thread, and detaches when the consumer
/// falls behind by more than `queued_bytes_max` (the *detach* policy of the module docs): the
/// building block of a live change feed or a replica link.
#[derive(Debug)]
pub struct Tap {
    queue: Mutex<TapQueue>,
    ready: Condvar,
    queued_bytes_max: usize,
    lagged: AtomicBool,
}

#[derive(Debug, Default)]
struct TapQueue {
    bytes: Vec<u8>,
}

impl Tap {
    /// A tap that holds at most `queued_bytes_max` bytes of records for its consumer.
    pub fn new(queued_bytes_max: usize) -> Self {
        Self {
            queue: Mutex::new(TapQueue::default()),
            ready: Condvar::new(),
            queued_bytes_max,
            lagged: AtomicBool::new(false),
        }
    }

    /// Takes every record queued since the last call (whole records, in delivery order),
    /// waiting up to `timeout` for the first; empty when none came. `Err(Lagged)` once the
    /// tap detached.
    pub fn take(&self, timeout: Duration) -> Result<Vec<u8>, Lagged> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.bytes.is_empty() && !self.lagged.load(Ordering::Relaxed) {
            queue = self
                .ready
                .wait_timeout(queue, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if self.lagged.load(Ordering::Relaxed) {
            return Err(Lagged);
        }
        Ok(std::mem::take(&mut queue.bytes))
    }

    /// Whether the tap detached because its consumer fell behind.
    pub fn lagged(&self) -> bool {
        self.lagged.load(Ordering::Relaxed)
    }
}

impl Subscriber for Tap {
    fn deliver(&self, entry: &Entry<'_>) {
        // Relaxed: a hint; the decision is taken again under the queue's mutex.
        if self.lagged.load(Ordering::Relaxed) {
            return;
        }
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if queue.bytes.len() + entry.records.len() > self.queued_bytes_max {
            // Detach: the consumer resyncs from a snapshot; the writers never wait for it.
            self.lagged.store(true, Ordering::Relaxed);
            queue.bytes = Vec::new();
        } else {
            queue.bytes.extend_from_slice(entry.records);
        }
        drop(queue);
        self.ready.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;
    use engine::Meta;

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Effect<'a> {
        Effect::PutString {
            key,
            value,
            meta: Meta::default(),
        }
    }

    /// The effects in a batch of records, as (db, version, key).
    fn decoded(mut bytes: &[u8]) -> Vec<(u8, u64, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let (found, size) = record::decode(bytes).expect("whole records");
            match effect::decode(&found).expect("an effect") {
                Effect::PutString { key, .. } => out.push((found.db, found.version, key.to_vec())),
                other => panic!("{other:?}"),
            }
            bytes = &bytes[size..];
        }
        out
    }

    /// `listening` says no only when `record_in` would do nothing: nobody subscribed and this
    /// thread holds no list of an earlier subscriber (which the next `record_in` lets go of).
    #[test]
    fn listening_covers_letting_go_of_the_last_list() {
        std::thread::spawn(|| {
            let journal = Journal::new();
            assert!(!journal.listening());
            let tap = Arc::new(Tap::new(1 << 20));
            let id = journal.subscribe(Arc::clone(&tap) as Arc<dyn Subscriber>);
            assert!(journal.listening());
            journal.record_in(0, 1, &put(b"a", b"1"));
            journal.unsubscribe(id);
            // This thread still holds the list, and so the tap.
            assert!(Arc::strong_count(&tap) > 1);
            assert!(journal.listening(), "the list held must still be let go of");
            journal.record_in(0, 2, &put(b"b", b"2"));
            assert_eq!(
                Arc::strong_count(&tap),
                1,
                "the list outlived its subscription"
            );
            assert!(!journal.listening());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn every_subscriber_gets_every_entry_in_delivery_order_until_it_unsubscribes() {
        let journal = Journal::new();
        journal.record_in(0, 1, &put(b"nobody", b"x"));
        let first = Arc::new(Tap::new(1 << 20));
        let second = Arc::new(Tap::new(1 << 20));
        let first_id = journal.subscribe(Arc::clone(&first) as Arc<dyn Subscriber>);
        journal.subscribe(Arc::clone(&second) as Arc<dyn Subscriber>);
        journal.record_in(0, 2, &put(b"a", b"1"));
        journal.record_in(3, 3, &put(b"b", b"2"));
        let both = vec![(0, 2, b"a".to_vec()), (3, 3, b"b".to_vec())];
        assert_eq!(decoded(&first.take(Duration::ZERO).unwrap()), both);
        journal.unsubscribe(first_id);
        journal.record_in(0, 4, &put(b"c", b"3"));
        assert_eq!(first.take(Duration::ZERO).unwrap(), Vec::<u8>::new());
        let mut all = both;
        all.push((0, 4, b"c".to_vec()));
        assert_eq!(decoded(&second.take(Duration::ZERO).unwrap()), all);
        assert_eq!(journal.subscriber_count(), 1);
    }

    #[test]
    fn a_slow_tap_detaches_and_the_others_go_on() {
        let journal = Journal::new();
        let slow = Arc::new(Tap::new(200));
        let fast = Arc::new(Tap::new(1 << 20));
        journal.subscribe(Arc::clone(&slow) as Arc<dyn Subscriber>);
        journal.subscribe(Arc::clone(&fast) as Arc<dyn Subscriber>);
        for version in 1..=10 {
            journal.record_in(0, version, &put(b"key", b"value"));
        }
        assert!(slow.lagged());
        assert_eq!(slow.take(Duration::ZERO), Err(Lagged));
        assert_eq!(decoded(&fast.take(Duration::ZERO).unwrap()).len(), 10);
    }

    #[test]
    fn a_thread_sees_a_subscription_made_on_another() {
        let journal = Arc::new(Journal::new());
        let tap = Arc::new(Tap::new(1 << 20));
        // The writer thread caches the empty list first, then must notice the new one.
        let (cached, cached_seen) = std::sync::mpsc::channel();
        let (subscribed, subscribed_seen) = std::sync::mpsc::channel::<()>();
        let writer = {
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                journal.record_in(0, 1, &put(b"before", b"x"));
                cached.send(()).unwrap();
                subscribed_seen.recv().unwrap();
                journal.record_in(0, 2, &put(b"after", b"x"));
            })
        };
        cached_seen.recv().unwrap();
        journal.subscribe(Arc::clone(&tap) as Arc<dyn Subscriber>);
        subscribed.send(()).unwrap();
        writer.join().unwrap();
        assert_eq!(
            decoded(&tap.take(Duration::ZERO).unwrap()),
            vec![(0, 2, b"after".to_vec())]
        );
    }
}
