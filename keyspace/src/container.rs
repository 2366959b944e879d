//! The container protocol: how a value that is mutated in place (a list today; hashes, sets
//! and sorted sets next) stays in step with the engine's versions.
//!
//! The engine replaces whole entries; a container value is instead an `Arc<Container<T>>`
//! that the entry points to, mutated in place under the container's own mutex, because
//! copy-on-write would make every `LPUSH` or `HSET` cost the size of the value. Every
//! mutation runs [`Keyspace::mutate_container`]:
//!
//! 1. read the key's entry and clone the `Arc` (a missing key goes to step 5);
//! 2. lock the container;
//! 3. look at the contents and work out whether the operation leaves them empty;
//! 4. [`Engine::update`] the key, only if it still holds *this* container (pointer
//!    equality), with either a fresh entry holding the same container (a new version, the same
//!    metadata) or, if the container will be empty, a removal (Redis never keeps an empty
//!    list, hash, set or sorted set). If the key changed since step 1 (replaced by `SET`,
//!    deleted, expired), the update keeps it as it is and we start again from step 1;
//! 5. only now mutate the contents, still under the lock; a missing key gets a new container
//!    that already holds its contents and is installed only if the key is still absent.
//!
//! So a mutation happens only after its version is installed, while the container is
//! provably current, and the lock orders the mutations of one container in the same order as
//! their versions (what the append-only file needs to replay them). A writer that replaces the
//! key (SET, DEL, expiry) never takes the container's lock; a container writer that started
//! before it either installed its version first (and the replacement comes after it, also in
//! version order) or sees the change in step 4. Readers clone the `Arc` and read under the
//! lock: they see the contents as some mutation left them, which was their content at some
//! moment inside the read.
//!
//! A data type joins by implementing [`Contained`] for its contents (which [`Value`] variant
//! holds them) and writing its operations over `mutate_container` and `read_container`.

use crate::{Db, Effect, Error, Result, Value};
use engine::{Decision, Engine, Meta};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A value mutated in place: its contents behind their own lock (see the module docs).
#[derive(Default)]
pub struct Container<T>(Mutex<T>);

impl<T> Container<T> {
    /// A container holding `contents`.
    pub fn new(contents: T) -> Self {
        Self(Mutex::new(contents))
    }

    /// Locks the contents. Every mutation of a data type leaves its contents whole between
    /// calls into them (each is one call on the collection or a loop of such calls), so a
    /// panic while the lock was held cannot leave them half-updated, and a poisoned lock is
    /// taken as it is.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: fmt::Debug> fmt::Debug for Container<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Container").field(&*self.lock()).finish()
    }
}

/// Contents that live in a [`Container`] inside one [`Value`] variant.
pub trait Contained: Sized + Send + Sync + 'static {
    /// The container `value` holds, if it is of this type.
    fn of(value: &Value) -> Option<&Arc<Container<Self>>>;

    /// `container` as a value.
    fn into_value(container: Arc<Container<Self>>) -> Value;

    /// Whether there is nothing in it (an empty container is never kept under a key).
    fn is_empty(&self) -> bool;
}

/// What [`Keyspace::mutate_container`] does with a missing key.
pub(crate) enum Missing<T, R> {
    /// Nothing is created; the operation answers this.
    Answer(R),
    /// These contents are installed under the key (if it is still absent), and the operation
    /// answers this.
    Create(T, R),
}

impl<E: Engine<Value = Value>> Db<'_, E> {
    /// The container protocol of the module docs. `missing` says what a missing key gets (it
    /// may be called again if the key appears and vanishes while we work); `will_empty` looks
    /// at the contents under the lock and says whether `apply` will leave them empty; `apply`
    /// then mutates them. `effect` is what the journal is told, with the version installed,
    /// after `apply` and before the lock is released (a creation reports it too).
    pub(crate) fn mutate_container<T: Contained, R>(
        &self,
        key: &[u8],
        effect: Effect<'_>,
        missing: impl Fn() -> Missing<T, R>,
        will_empty: impl Fn(&T) -> bool,
        apply: impl FnOnce(&mut T) -> R,
    ) -> Result<R> {
        let keyspace = self.keyspace();
        let mut apply = Some(apply);
        loop {
            // 1. The current container, if any.
            let found = keyspace.peek_locked(key, |entry| {
                T::of(&entry.value).map(Arc::clone).ok_or(Error::WrongType)
            });
            let Some(container) = found.transpose()? else {
                // 5, for a missing key.
                let (contents, answer) = match missing() {
                    Missing::Answer(answer) => return Ok(answer),
                    Missing::Create(contents, answer) => (contents, answer),
                };
                let fresh = T::into_value(Arc::new(Container::new(contents)));
                let installed = keyspace.write_unreported(key, |current| match current {
                    None => (
                        Decision::Replace {
                            value: fresh.clone(),
                            meta: Meta::default(),
                        },
                        true,
                    ),
                    Some(_) => (Decision::Keep, false),
                });
                if installed.output {
                    if let (Some(journal), Some(version)) =
                        (keyspace.listening_journal(), installed.version)
                    {
                        // Nobody can have changed the container between its install and this
                        // report in a way that matters: they would draw a higher version.
                        journal.record(version, &effect);
                    }
                    return Ok(answer);
                }
                // Someone created the key first: go round and use theirs.
                continue;
            };
            // 2. Lock it; 3. work out the effect.
            let mut contents = container.lock();
            let empties = will_empty(&contents);
            // 4. New version (or removal), only if the key still holds this container.
            let bumped = keyspace.write_unreported(key, |current| match current {
                Some(entry) => match T::of(&entry.value) {
                    Some(now) if Arc::ptr_eq(now, &container) => {
                        let decision = if empties {
                            Decision::Remove
                        } else {
                            Decision::Replace {
                                value: T::into_value(Arc::clone(&container)),
                                meta: entry.meta,
                            }
                        };
                        (decision, true)
                    }
                    _ => (Decision::Keep, false),
                },
                None => (Decision::Keep, false),
            });
            if !bumped.output {
                drop(contents);
                continue;
            }
            // 5. Mutate, still under the lock.
            let apply = apply
                .take()
                .expect("apply runs once: the loop returns after it");
            let output = apply(&mut contents);
            debug_assert_eq!(
                Contained::is_empty(&*contents),
                empties,
                "will_empty must say whether apply leaves the container empty"
            );
            if let (Some(journal), Some(version)) = (keyspace.listening_journal(), bumped.version) {
                journal.record(version, &effect);
            }
            drop(contents);
            return Ok(output);
        }
    }

    /// Reads the key's contents under the container's lock; `None` for a missing key. Counts
    /// a hit or a miss.
    pub(crate) fn read_container<T: Contained, R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&T) -> R,
    ) -> Result<Option<R>> {
        let found = self.keyspace().read_locked(key, |entry| {
            T::of(&entry.value).map(Arc::clone).ok_or(Error::WrongType)
        });
        let Some(container) = found.transpose()? else {
            return Ok(None);
        };
        let contents = container.lock();
        Ok(Some(read(&contents)))
    }
}
