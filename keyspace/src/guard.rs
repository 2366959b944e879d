//! # Locking, chosen by the caller
//!
//! Every keyspace operation runs on a [`Db`]: the keyspace together with the lock its caller
//! holds on it. The keyspace never takes its own lock inside an operation; the caller (the
//! server's dispatcher, from the command's flags and keys) takes a [`Guard`] first and runs
//! one command, or a whole sequence of commands, under it:
//!
//! | guard | taken for | costs |
//! |---|---|---|
//! | [`Keyspace::shared`] | a command that reads any number of keys or writes one key | one uncontended atomic on the calling thread's own slot |
//! | [`Db::lock_keys`], under a shared guard | a command that reads several keys (`MGET`) or writes several keys independently (`MSET`, `DEL a b`) | the keys' stripes (see [`stripes`]) |
//! | [`Keyspace::exclusive`] | a command that writes several keys from what it read (`RENAME`, `MSETNX`, `LMOVE`), `FLUSHDB`, and later a whole `MULTI`/`EXEC` or script | every slot: waits for every shared holder |
//!
//! The lock is crossbeam's [`ShardedLock`], a "big reader" lock: one reader-writer lock per
//! thread slot, so shared holders on different threads never touch the same cache line. It
//! is not reentrant, which is why it is taken once, outside, and never by an operation.
//!
//! ## What is atomic with what
//!
//! * A single-key operation is atomic by itself: it is one [`Engine::update`] (or one
//!   container mutation, see [`container`](crate::container)), whatever lock is held.
//! * Operations under one exclusive guard are atomic together: no other operation on that
//!   keyspace runs between them, so no client sees a multi-key write half done, and a
//!   sequence of commands under one guard (EXEC, a script) is seen whole or not at all.
//! * A write of several independent keys under their stripes is atomic too: no operation
//!   that starts after any of its effects could be seen finds it half done (the argument is
//!   in [`stripes`]). A read of several keys under their stripes sees every
//!   such write, and every exclusive sequence, wholly before or wholly after it, but may see
//!   two single-key writes of other clients in between its keys.
//! * Operations under shared guards otherwise interleave freely, each one atomic.
//! * Expiry (lazy, or the sweeper under its own shared guard) is a single-key removal.
//!
//! An operation on several keys checks the [`Db`] it runs on and panics when neither the
//! exclusive guard nor the stripes it needs are held: that is a dispatcher bug, and every
//! multi-key command has a test. In debug builds every operation also checks that
//! the calling thread really holds a guard of at least the [`Db`]'s mode on that keyspace, so
//! a `Db` kept past its guard is caught by the tests.

use crate::stripes::{self, Access};
use crate::{Keyspace, Value};
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use engine::Engine;
use std::ops::Deref;
use std::sync::PoisonError;

/// How many times [`Keyspace::shared`] tries the lock before it sleeps on it.
const SHARED_SPINS: u32 = 2000;
/// How many times [`Keyspace::exclusive`] tries the lock before it sleeps on it. An exclusive
/// taker (MSET of several keys) waits for the other loops' shared guards, which last a batch
/// (microseconds); asleep, it waits for a wake-up too, which on cores shared with the client
/// took up to a scheduler tick: MSET's -P 1 p99 was 4.3 ms with two loops, 1.3 ms with this
/// spin (bench-results/server-mset-spin.md).
const EXCLUSIVE_SPINS: u32 = 20000;

/// Tries `try_lock` up to `spins` times, then blocks in `lock`. Poisoning: the lock guards no
/// data of its own (the engine stays consistent through any panic, see the back-ends), so a
/// poisoned lock is taken as it is.
fn try_then_block<G>(
    spins: u32,
    try_lock: impl Fn() -> std::sync::TryLockResult<G>,
    lock: impl FnOnce() -> std::sync::LockResult<G>,
) -> G {
    for _ in 0..spins {
        match try_lock() {
            Ok(guard) => return guard,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => std::hint::spin_loop(),
        }
    }
    lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock a [`Db`] runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Shared with every other shared holder.
    Shared,
    /// Nobody else holds the keyspace's lock.
    Exclusive,
}

/// A lock held on one keyspace; dereferences to the [`Db`] it allows. Dropping it releases
/// the lock.
pub struct Guard<'k, E: Engine<Value = Value>> {
    db: Db<'k, E>,
    _lock: Lock<'k>,
}

enum Lock<'k> {
    Shared(#[allow(dead_code)] ShardedLockReadGuard<'k, ()>),
    Exclusive(#[allow(dead_code)] ShardedLockWriteGuard<'k, ()>),
}

/// A keyspace and the mode of the lock its caller holds on it: what every operation runs on.
///
/// It is `Copy` and lives as long as the keyspace, not the guard, so a command handler can
/// keep it while it writes its reply; holding it past the guard is a bug the debug build
/// catches (see the module docs).
pub struct Db<'k, E: Engine<Value = Value>> {
    keyspace: &'k Keyspace<E>,
    mode: Mode,
    /// The stripes held for the command's keys, under a shared guard ([`Db::lock_keys`]).
    keys: Option<Access>,
}

/// The stripes of one command's keys, held under a shared guard; dereferences to the [`Db`]
/// that allows the multi-key operation. Dropping it releases the stripes (the guard stays).
pub struct KeysGuard<'k, E: Engine<Value = Value>> {
    db: Db<'k, E>,
    _held: Option<stripes::Held<'k>>,
}

/// A multi-key read started without stripes ([`Db::read_optimistically`]).
pub struct Optimistic<'k, E: Engine<Value = Value>> {
    db: Db<'k, E>,
    /// The stripe writers' word when it started (`None` under the exclusive lock, where no
    /// writer can run).
    word: Option<u64>,
}

impl<'k, E: Engine<Value = Value>> Optimistic<'k, E> {
    /// The [`Db`] to read through (it allows reads of several keys).
    pub fn db(&self) -> Db<'k, E> {
        self.db
    }

    /// Whether no stripe writer started since the read began: then what it read is a
    /// consistent view of its keys.
    pub fn still_valid(&self) -> bool {
        self.word
            .is_none_or(|word| self.db.keyspace.stripes.still_valid(word))
    }
}

impl<'k, E: Engine<Value = Value>> KeysGuard<'k, E> {
    /// The [`Db`] these stripes allow.
    pub fn db(&self) -> Db<'k, E> {
        self.db
    }
}

impl<'k, E: Engine<Value = Value>> Deref for KeysGuard<'k, E> {
    type Target = Db<'k, E>;

    fn deref(&self) -> &Db<'k, E> {
        &self.db
    }
}

impl<E: Engine<Value = Value>> Clone for Db<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Engine<Value = Value>> Copy for Db<'_, E> {}

impl<E: Engine<Value = Value>> Keyspace<E> {
    /// Takes the shared side of the keyspace's lock.
    pub fn shared(&self) -> Guard<'_, E> {
        // An exclusive holder (MSET, RENAME) keeps the lock for microseconds; sleeping on it
        // costs a wake-up, which on a core shared with other work can take a scheduler tick.
        let lock = try_then_block(
            SHARED_SPINS,
            || self.lock().try_read(),
            || self.lock().read(),
        );
        Guard::new(self, Mode::Shared, Lock::Shared(lock))
    }

    /// Takes the exclusive side of the keyspace's lock.
    pub fn exclusive(&self) -> Guard<'_, E> {
        let lock = try_then_block(
            EXCLUSIVE_SPINS,
            || self.lock().try_write(),
            || self.lock().write(),
        );
        Guard::new(self, Mode::Exclusive, Lock::Exclusive(lock))
    }

    /// Takes the lock in `mode`.
    pub fn lock_in(&self, mode: Mode) -> Guard<'_, E> {
        match mode {
            Mode::Shared => self.shared(),
            Mode::Exclusive => self.exclusive(),
        }
    }

    fn lock(&self) -> &ShardedLock<()> {
        &self.multi
    }
}

impl<'k, E: Engine<Value = Value>> Guard<'k, E> {
    fn new(keyspace: &'k Keyspace<E>, mode: Mode, lock: Lock<'k>) -> Self {
        held::enter(keyspace.address(), mode);
        Self {
            db: Db {
                keyspace,
                mode,
                keys: None,
            },
            _lock: lock,
        }
    }

    /// The [`Db`] this guard allows.
    pub fn db(&self) -> Db<'k, E> {
        self.db
    }
}

impl<E: Engine<Value = Value>> Drop for Guard<'_, E> {
    fn drop(&mut self) {
        held::leave(self.db.keyspace.address(), self.db.mode);
    }
}

impl<'k, E: Engine<Value = Value>> Deref for Guard<'k, E> {
    type Target = Db<'k, E>;

    fn deref(&self) -> &Db<'k, E> {
        &self.db
    }
}

impl<'k, E: Engine<Value = Value>> Db<'k, E> {
    /// The keyspace.
    pub fn keyspace(&self) -> &'k Keyspace<E> {
        self.check();
        self.keyspace
    }

    /// The mode of the lock held.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The stripes held for the command's keys, if any ([`Db::lock_keys`]).
    pub fn stripes_held(&self) -> Option<Access> {
        self.keys
    }

    /// Locks the stripes of `keys` with `access` for one command (see
    /// [`stripes`]). Under the exclusive guard there is nothing to lock: the
    /// guard returned holds no stripe and allows everything the exclusive guard does.
    pub fn lock_keys<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [u8]>,
        access: Access,
    ) -> KeysGuard<'k, E> {
        self.check();
        if self.mode == Mode::Exclusive {
            return KeysGuard {
                db: *self,
                _held: None,
            };
        }
        let held = self.keyspace.stripes.lock(keys, access);
        KeysGuard {
            db: Db {
                keys: Some(held.access()),
                ..*self
            },
            _held: Some(held),
        }
    }

    /// Starts a multi-key read without stripes, for when no stripe writer is at work: `None`
    /// when one is (take the stripes with [`Db::lock_keys`] instead). The reads made through
    /// the returned [`Optimistic`]'s [`Db`] saw every multi-key write whole if
    /// [`Optimistic::still_valid`] says so afterwards; if not, their results are to be thrown
    /// away and the read done again under the stripes. See [`stripes`].
    pub fn read_optimistically(&self) -> Option<Optimistic<'k, E>> {
        self.check();
        if self.mode == Mode::Exclusive {
            return Some(Optimistic {
                db: *self,
                word: None,
            });
        }
        let word = self.keyspace.stripes.optimistic()?;
        Some(Optimistic {
            db: Db {
                keys: Some(Access::Read),
                ..*self
            },
            word: Some(word),
        })
    }

    /// Panics unless the exclusive lock is held: `what` needs it (see the module docs).
    pub(crate) fn require_exclusive(&self, what: &str) {
        assert!(
            self.mode == Mode::Exclusive,
            "{what} needs the keyspace's exclusive lock: the dispatcher took the shared one"
        );
    }

    /// Panics unless the exclusive lock or the keys' writer stripes are held: `what` writes
    /// several keys independently.
    pub(crate) fn require_keys_written(&self, what: &str) {
        assert!(
            self.mode == Mode::Exclusive || self.keys == Some(Access::Write),
            "{what} needs its keys' writer stripes or the exclusive lock: the dispatcher took neither"
        );
    }

    /// Panics unless the exclusive lock or the keys' stripes are held: `what` reads several
    /// keys.
    pub(crate) fn require_keys_read(&self, what: &str) {
        assert!(
            self.mode == Mode::Exclusive || self.keys.is_some(),
            "{what} needs its keys' stripes or the exclusive lock: the dispatcher took neither"
        );
    }

    /// In debug builds, that this thread holds a guard of at least this mode on the keyspace.
    fn check(&self) {
        held::check(self.keyspace.address(), self.mode);
    }
}

impl<'k, E: Engine<Value = Value>> Deref for Db<'k, E> {
    type Target = Keyspace<E>;

    fn deref(&self) -> &Keyspace<E> {
        self.keyspace()
    }
}

/// The guards this thread holds, in debug builds: what lets [`Db`] check it runs under one.
#[cfg(debug_assertions)]
mod held {
    use super::Mode;
    use std::cell::RefCell;

    thread_local! {
        static HELD: RefCell<Vec<(usize, Mode)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn enter(keyspace: usize, mode: Mode) {
        HELD.with(|held| held.borrow_mut().push((keyspace, mode)));
    }

    pub(super) fn leave(keyspace: usize, mode: Mode) {
        HELD.with(|held| {
            let mut held = held.borrow_mut();
            if let Some(at) = held.iter().rposition(|&entry| entry == (keyspace, mode)) {
                held.remove(at);
            }
        });
    }

    pub(super) fn check(keyspace: usize, mode: Mode) {
        HELD.with(|held| {
            assert!(
                held.borrow()
                    .iter()
                    .any(|&(address, held_mode)| address == keyspace && held_mode >= mode),
                "a keyspace operation ran without its guard ({mode:?}) held on this thread"
            );
        });
    }
}

#[cfg(not(debug_assertions))]
mod held {
    use super::Mode;

    #[inline(always)]
    pub(super) fn enter(_keyspace: usize, _mode: Mode) {}
    #[inline(always)]
    pub(super) fn leave(_keyspace: usize, _mode: Mode) {}
    #[inline(always)]
    pub(super) fn check(_keyspace: usize, _mode: Mode) {}
}
