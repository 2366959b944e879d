//! # databases: the numbered databases, and SWAPDB's map from numbers to keyspaces
//!
//! A server holds `databases` keyspaces (Redis's default 16). They are *physical*: keyspace
//! `p` keeps its data, its version clock and its journal tag (the `db` byte of every record
//! it logs) for the life of the process and across restarts. What a client selects is a
//! *logical* number, and [`Databases`] maps each logical number to a physical keyspace.
//! The map starts as the identity; `SWAPDB a b` exchanges two of its entries, so swapping two
//! databases of any size costs two byte stores, and no key moves (Redis swaps its two `redisDb`
//! structures for the same reason).
//!
//! ## Locking
//!
//! The map changes only under every physical keyspace's exclusive guard ([`AllGuards`]). A
//! command that runs on one database reads the map, takes the guard of the keyspace it names,
//! then reads the map again ([`Databases::lock`]): if the entry is unchanged it stays so
//! while the guard is held (a swap would need that guard), and if a swap slipped in between
//! the guard is dropped and the lookup repeated. A server that never swaps pays two loads of
//! a byte that no one writes.
//!
//! ## Durability
//!
//! Records are tagged with the physical keyspace they change, so a swap never rewrites them;
//! only the map must be logged. Every change of the map is numbered (its *epoch*, counted
//! from 1 over the life of the log) and reported to the journal as one
//! [`Effect::DatabaseMap`] carrying the whole map, with the epoch as its version. Replay keeps
//! the map with the highest epoch, whatever order the records come in; a rewrite's base
//! starts with the map and epoch it read (see [`Databases::map`]), so any swap after that is
//! in the new segment with a higher epoch. Swaps are numbered under a mutex that also covers
//! the journal call, so epochs reach the journal in order.

use crate::{Effect, Guard, Journal, Keyspace, Mode, Value};
use engine::Engine;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The most databases a server can have: the log tags records with the database in one byte.
pub const DATABASES_MAX: usize = 256;

/// The numbered databases: the physical keyspaces and the map from logical numbers to them.
/// See the module docs.
pub struct Databases<E: Engine<Value = Value>> {
    /// In physical order: `keyspaces[p]` logs its records as database `p`.
    keyspaces: Vec<Arc<Keyspace<E>>>,
    /// `map[logical]` is the physical index of database `logical`.
    map: Box<[AtomicU8]>,
    /// The epoch of the map in force (0: never swapped), held while a swap changes the map
    /// and reports it, and while [`Databases::map`] reads it.
    epoch: Mutex<u64>,
    /// Where map changes are reported, once attached.
    journal: OnceLock<Arc<dyn Journal>>,
}

/// A map read back from a log is not a map of this server's databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMap(pub String);

impl std::fmt::Display for BadMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: Engine<Value = Value>> Databases<E> {
    /// `keyspaces` (at least one, at most [`DATABASES_MAX`]) under the identity map.
    pub fn new(keyspaces: Vec<Arc<Keyspace<E>>>) -> Self {
        assert!(
            (1..=DATABASES_MAX).contains(&keyspaces.len()),
            "a server has between 1 and {DATABASES_MAX} databases"
        );
        let map = (0..keyspaces.len())
            .map(|index| AtomicU8::new(index as u8))
            .collect();
        Self {
            keyspaces,
            map,
            epoch: Mutex::new(0),
            journal: OnceLock::new(),
        }
    }

    /// `keyspaces` under `map` (logical to physical, as logged) at `epoch`. A map shorter than
    /// the databases is extended with the identity (the server was restarted with more
    /// databases); one longer may only hold the identity past the last database. Anything
    /// that is not then a permutation is refused.
    pub fn with_map(
        keyspaces: Vec<Arc<Keyspace<E>>>,
        map: &[u8],
        epoch: u64,
    ) -> Result<Self, BadMap> {
        let databases = Self::new(keyspaces);
        let count = databases.len();
        let mut seen = vec![false; count];
        for logical in 0..count.max(map.len()) {
            let physical = map.get(logical).map_or(logical, |&byte| usize::from(byte));
            if logical >= count {
                if physical != logical {
                    return Err(BadMap(format!(
                        "the log maps database {logical} to {physical}, but the server has {count} databases (set 'databases')"
                    )));
                }
                continue;
            }
            if physical >= count || std::mem::replace(&mut seen[physical], true) {
                return Err(BadMap(format!(
                    "the log's database map {map:?} is not a permutation of {count} databases"
                )));
            }
            // Relaxed: nobody else sees the map yet.
            databases.map[logical].store(physical as u8, Ordering::Relaxed);
        }
        *databases
            .epoch
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = epoch;
        Ok(databases)
    }

    /// How many databases.
    pub fn len(&self) -> usize {
        self.keyspaces.len()
    }

    /// Never: a server has at least one database.
    pub fn is_empty(&self) -> bool {
        self.keyspaces.is_empty()
    }

    /// The keyspaces in physical order, for what covers them all without caring which number
    /// each has (the sweeper, FLUSHALL, statistics).
    pub fn physical(&self) -> &[Arc<Keyspace<E>>] {
        &self.keyspaces
    }

    /// The physical index of database `logical` now. It can change as soon as it is read
    /// unless the caller holds a guard that a swap needs.
    pub fn physical_index(&self, logical: usize) -> usize {
        // Acquire: pairs with the Release of `swap`; the guards order it anyway.
        usize::from(self.map[logical].load(Ordering::Acquire))
    }

    /// Database `logical`'s keyspace without a lock: for what needs none (its size, its
    /// counters), never for an operation.
    pub fn unlocked(&self, logical: usize) -> &Arc<Keyspace<E>> {
        &self.keyspaces[self.physical_index(logical)]
    }

    /// Takes database `logical`'s guard in `mode`; see the module docs.
    pub fn lock(&self, logical: usize, mode: Mode) -> Guard<'_, E> {
        loop {
            let physical = self.physical_index(logical);
            let guard = self.keyspaces[physical].lock_in(mode);
            if self.physical_index(logical) == physical {
                return guard;
            }
        }
    }

    /// Takes every database's exclusive guard, in physical order (so two callers cannot
    /// deadlock).
    pub fn lock_all(&self) -> AllGuards<'_, E> {
        AllGuards {
            databases: self,
            guards: self
                .keyspaces
                .iter()
                .map(|keyspace| keyspace.exclusive())
                .collect(),
        }
    }

    /// Attaches the journal map changes are reported to; a second call is refused.
    pub fn set_journal(&self, journal: Arc<dyn Journal>) -> Result<(), Arc<dyn Journal>> {
        self.journal.set(journal)
    }

    /// The map in force (logical to physical) and its epoch, read together: what a rewrite's
    /// base records.
    pub fn map(&self) -> (u64, Vec<u8>) {
        let epoch = self.epoch.lock().unwrap_or_else(PoisonError::into_inner);
        (*epoch, self.current_map())
    }

    /// The map as it reads now, one byte per logical database (callers hold `epoch`).
    fn current_map(&self) -> Vec<u8> {
        (0..self.len())
            .map(|logical| self.physical_index(logical) as u8)
            .collect()
    }
}

/// Every database's exclusive guard, in physical order: what `FLUSHALL`, `MOVE`, `COPY ...
/// DB` and `SWAPDB` run under, and later whole transactions.
pub struct AllGuards<'d, E: Engine<Value = Value>> {
    databases: &'d Databases<E>,
    guards: Vec<Guard<'d, E>>,
}

impl<'d, E: Engine<Value = Value>> AllGuards<'d, E> {
    /// Database `logical`'s [`Db`](crate::Db), if it exists.
    pub fn db(&self, logical: usize) -> Option<crate::Db<'d, E>> {
        (logical < self.guards.len())
            .then(|| self.guards[self.databases.physical_index(logical)].db())
    }

    /// Swaps databases `a` and `b` (`SWAPDB`): every client of one now sees the other's
    /// keys. Reports the new map to the journal before it returns.
    pub fn swap(&self, a: usize, b: usize) {
        let databases = self.databases;
        assert!(
            a < databases.len() && b < databases.len(),
            "database index out of range"
        );
        if a == b {
            return;
        }
        let mut epoch = databases
            .epoch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (physical_a, physical_b) = (databases.physical_index(a), databases.physical_index(b));
        // Release: pairs with the Acquire of `physical_index` (the guards order it anyway).
        databases.map[a].store(physical_b as u8, Ordering::Release);
        databases.map[b].store(physical_a as u8, Ordering::Release);
        *epoch += 1;
        if let Some(journal) = databases.journal.get() {
            let map = databases.current_map();
            journal.record(*epoch, &Effect::DatabaseMap { map: &map });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::LockFree;

    fn databases(count: usize) -> Databases<LockFree<Value>> {
        Databases::new(
            (0..count)
                .map(|_| Arc::new(Keyspace::new(LockFree::new())))
                .collect(),
        )
    }

    fn set(databases: &Databases<LockFree<Value>>, logical: usize, key: &[u8]) {
        let guard = databases.lock(logical, Mode::Shared);
        guard
            .set(
                key,
                crate::Str::copy_from(b"v"),
                crate::SetOptions::default(),
            )
            .expect("a plain SET succeeds");
    }

    fn exists(databases: &Databases<LockFree<Value>>, logical: usize, key: &[u8]) -> bool {
        let guard = databases.lock(logical, Mode::Shared);
        guard.exists(&[key]) == 1
    }

    #[test]
    fn a_swap_exchanges_what_two_numbers_see() {
        let databases = databases(3);
        set(&databases, 0, b"zero");
        set(&databases, 2, b"two");
        databases.lock_all().swap(0, 2);
        assert!(exists(&databases, 0, b"two"));
        assert!(exists(&databases, 2, b"zero"));
        assert!(!exists(&databases, 1, b"zero"));
        assert_eq!(databases.map(), (1, vec![2, 1, 0]));
        // Swapping a database with itself changes nothing and is not numbered.
        databases.lock_all().swap(1, 1);
        assert_eq!(databases.map(), (1, vec![2, 1, 0]));
        databases.lock_all().swap(2, 0);
        assert_eq!(databases.map(), (2, vec![0, 1, 2]));
        assert!(exists(&databases, 0, b"zero"));
    }

    #[derive(Default)]
    struct Recorded(Mutex<Vec<(u64, Vec<u8>)>>);

    impl Journal for Recorded {
        fn record(&self, version: u64, effect: &Effect<'_>) {
            let Effect::DatabaseMap { map } = effect else {
                panic!("only map changes are reported here: {effect:?}");
            };
            self.0.lock().unwrap().push((version, map.to_vec()));
        }
    }

    #[test]
    fn every_swap_reports_the_whole_map_with_its_epoch() {
        let databases = databases(4);
        let recorded = Arc::new(Recorded::default());
        assert!(databases.set_journal(recorded.clone()).is_ok());
        databases.lock_all().swap(0, 3);
        databases.lock_all().swap(3, 1);
        assert_eq!(
            *recorded.0.lock().unwrap(),
            vec![(1, vec![3, 1, 2, 0]), (2, vec![3, 0, 2, 1])]
        );
    }

    #[test]
    fn a_logged_map_is_checked_and_extended() {
        let keyspaces = |count: usize| -> Vec<Arc<Keyspace<LockFree<Value>>>> {
            (0..count)
                .map(|_| Arc::new(Keyspace::new(LockFree::new())))
                .collect()
        };
        let databases = Databases::with_map(keyspaces(4), &[1, 0], 7).expect("a permutation");
        assert_eq!(databases.map(), (7, vec![1, 0, 2, 3]));
        let shrunk = Databases::with_map(keyspaces(2), &[1, 0, 2, 3], 7).expect("identity tail");
        assert_eq!(shrunk.map(), (7, vec![1, 0]));
        for (count, map) in [(2, &[3u8, 2, 1, 0][..]), (3, &[0, 0, 1]), (2, &[5])] {
            assert!(
                Databases::with_map(keyspaces(count), map, 1).is_err(),
                "{map:?} over {count} databases"
            );
        }
    }

    /// A command locking one database while another thread swaps it never runs on the
    /// keyspace the number no longer names: the re-check after locking catches the swap.
    #[test]
    fn a_lock_taken_across_a_swap_follows_the_map() {
        let databases = Arc::new(databases(2));
        set(&databases, 1, b"marker");
        let swapper = {
            let databases = Arc::clone(&databases);
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    databases.lock_all().swap(0, 1);
                }
            })
        };
        while !swapper.is_finished() {
            let guard = databases.lock(0, Mode::Shared);
            // Under the guard the map cannot change, so the answer must match it.
            let expected = databases.physical_index(0) == 1;
            assert_eq!(guard.exists(&[b"marker"]) == 1, expected);
        }
        swapper.join().unwrap();
    }
}
