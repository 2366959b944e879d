//! Operations on keys whatever their type: deletion, expiry, renaming, copying, iteration.

use crate::{glob_match, is_expired, Db, Error, List, Result, Value};
use engine::{Decision, Engine, Meta};
use std::sync::Arc;

/// `EXPIRE`'s `NX` / `XX` / `GT` / `LT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    /// Always set.
    #[default]
    Always,
    /// Only if the key has no expiry.
    IfNone,
    /// Only if the key has an expiry.
    IfSome,
    /// Only if the new expiry is later (no expiry counts as infinitely late).
    IfGreater,
    /// Only if the new expiry is earlier (no expiry counts as infinitely late).
    IfLess,
}

/// A key's remaining life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// The key does not exist (Redis replies -2).
    Missing,
    /// The key has no expiry (Redis replies -1).
    Persistent,
    /// The key expires at this absolute time in milliseconds.
    ExpiresAt(u64),
}

/// `SCAN`'s `MATCH` and `TYPE` filters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanFilter<'a> {
    /// A glob pattern keys must match.
    pub pattern: Option<&'a [u8]>,
    /// The type name (`string`, `list`, ...) values must have.
    pub type_name: Option<&'a [u8]>,
}

/// A deep copy of a value: lists are copied, strings (immutable) are shared.
fn deep_copy(value: &Value) -> Value {
    match value {
        Value::Str(value) => Value::Str(value.clone()),
        Value::List(list) => Value::List(Arc::new(List::new(list.lock().clone()))),
    }
}

impl<E: Engine<Value = Value>> Db<'_, E> {
    /// `DEL` / `UNLINK`: how many of the keys existed. Several keys are deleted atomically.
    pub fn del(&self, keys: &[&[u8]]) -> usize {
        let delete = |key: &[u8]| {
            self.write_locked(key, |current| match current {
                Some(_) => (Decision::Remove, ()),
                None => (Decision::Keep, ()),
            })
            .version
            .is_some()
        };
        if let [key] = keys {
            return usize::from(delete(key));
        }
        self.require_keys_written("a DEL of several keys");
        keys.iter().filter(|key| delete(key)).count()
    }

    /// `EXISTS` / `TOUCH`: how many of the keys exist (a key named twice counts twice).
    pub fn exists(&self, keys: &[&[u8]]) -> usize {
        if keys.len() > 1 {
            self.require_keys_read("an EXISTS of several keys");
        }
        keys.iter()
            .filter(|key| self.peek_locked(key, |_| ()).is_some())
            .count()
    }

    /// `TYPE`: the type name, `None` for a missing key.
    pub fn type_of(&self, key: &[u8]) -> Option<&'static str> {
        self.peek_locked(key, |entry| entry.value.type_name())
    }

    /// `OBJECT ENCODING`: the name Redis 7.0 gives the encoding of the value, `None` for a
    /// missing key (see [`Value::encoding_name`]).
    pub fn encoding_of(&self, key: &[u8]) -> Option<&'static str> {
        self.peek_locked(key, |entry| entry.value.encoding_name())
    }

    /// `OBJECT REFCOUNT`: what Redis 7.0 reports, `None` for a missing key (see
    /// [`Value::reference_count`]).
    pub fn reference_count_of(&self, key: &[u8]) -> Option<i64> {
        self.peek_locked(key, |entry| entry.value.reference_count())
    }

    /// `TTL` and friends.
    pub fn ttl(&self, key: &[u8]) -> Ttl {
        match self.peek_locked(key, |entry| entry.meta.expire_at_ms) {
            None => Ttl::Missing,
            Some(0) => Ttl::Persistent,
            Some(at) => Ttl::ExpiresAt(at),
        }
    }

    /// `EXPIRE` and friends with an absolute time; returns whether the expiry was set. A time
    /// not in the future deletes the key (and returns true), as Redis does.
    pub fn expire_at(&self, key: &[u8], at_ms: u64, condition: ExpireCondition) -> bool {
        let now = self.now_ms();
        self.write_locked(key, |current| {
            let Some(entry) = current else {
                return (Decision::Keep, false);
            };
            let current_at = entry.meta.expire_at_ms;
            // No expiry is "infinitely late" for GT and LT.
            let allowed = match condition {
                ExpireCondition::Always => true,
                ExpireCondition::IfNone => current_at == 0,
                ExpireCondition::IfSome => current_at != 0,
                ExpireCondition::IfGreater => current_at != 0 && at_ms > current_at,
                ExpireCondition::IfLess => current_at == 0 || at_ms < current_at,
            };
            if !allowed {
                return (Decision::Keep, false);
            }
            if at_ms <= now {
                return (Decision::Remove, true);
            }
            let decision = Decision::Replace {
                value: entry.value.clone(),
                meta: Meta {
                    expire_at_ms: at_ms,
                    ..entry.meta
                },
            };
            (decision, true)
        })
        .output
    }

    /// `PERSIST`: whether an expiry was removed.
    pub fn persist(&self, key: &[u8]) -> bool {
        self.write_locked(key, |current| match current {
            Some(entry) if entry.meta.expire_at_ms != 0 => (
                Decision::Replace {
                    value: entry.value.clone(),
                    meta: Meta {
                        expire_at_ms: 0,
                        ..entry.meta
                    },
                },
                true,
            ),
            _ => (Decision::Keep, false),
        })
        .output
    }

    /// `RENAME` (`only_if_absent == false`) and `RENAMENX`: `Ok(false)` when `RENAMENX` found
    /// the destination taken; `NoSuchKey` when the source is missing. The value keeps its
    /// expiry.
    pub fn rename(&self, source: &[u8], destination: &[u8], only_if_absent: bool) -> Result<bool> {
        self.require_exclusive("RENAME");
        let Some((value, meta)) =
            self.peek_locked(source, |entry| (entry.value.clone(), entry.meta))
        else {
            return Err(Error::NoSuchKey);
        };
        if source == destination {
            return Ok(!only_if_absent);
        }
        if only_if_absent && self.peek_locked(destination, |_| ()).is_some() {
            return Ok(false);
        }
        // The destination first, then the source: the exclusive lock hides the order from
        // clients, and the versions order the two writes for the append-only file.
        self.insert_locked(destination, value, meta);
        self.remove_locked(source);
        Ok(true)
    }

    /// `COPY`: whether it copied (false when the destination exists and `replace` is off, or
    /// the source is missing).
    pub fn copy(&self, source: &[u8], destination: &[u8], replace: bool) -> bool {
        self.require_exclusive("COPY");
        let Some((value, meta)) =
            self.peek_locked(source, |entry| (deep_copy(&entry.value), entry.meta))
        else {
            return false;
        };
        if !replace && self.peek_locked(destination, |_| ()).is_some() {
            return false;
        }
        if source == destination {
            return false;
        }
        self.insert_locked(destination, value, meta);
        true
    }

    /// `COPY ... DB` (`remove_source` false) and `MOVE` (true) between two numbered databases:
    /// puts `source`'s value and expiry at `destination` in `to`, unless `to` has that key
    /// and `replace` is off, and removes `source` here when moving. Returns whether it did.
    ///
    /// Atomic with respect to both keyspaces: the caller holds both exclusive locks. `to`
    /// must be another keyspace.
    pub fn transfer(
        &self,
        to: Db<'_, E>,
        source: &[u8],
        destination: &[u8],
        replace: bool,
        remove_source: bool,
    ) -> bool {
        assert_ne!(
            self.address(),
            to.address(),
            "a transfer within one keyspace"
        );
        self.require_exclusive("MOVE and COPY ... DB");
        to.require_exclusive("MOVE and COPY ... DB");
        let Some((value, meta)) =
            self.peek_locked(source, |entry| (deep_copy(&entry.value), entry.meta))
        else {
            return false;
        };
        if !replace && to.peek_locked(destination, |_| ()).is_some() {
            return false;
        }
        to.insert_locked(destination, value, meta);
        if remove_source {
            self.remove_locked(source);
        }
        true
    }

    /// One step of `SCAN`: calls `visit` with each live key that passes `filter`; returns the
    /// next cursor (0 when done).
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        filter: ScanFilter<'_>,
        mut visit: impl FnMut(&[u8]),
    ) -> u64 {
        let now = self.now_ms();
        self.map.scan(cursor, count, |key, entry| {
            if is_expired(&entry.meta, now) {
                return;
            }
            if let Some(pattern) = filter.pattern {
                if !glob_match(pattern, key, false) {
                    return;
                }
            }
            if let Some(type_name) = filter.type_name {
                if !type_name.eq_ignore_ascii_case(entry.value.type_name().as_bytes()) {
                    return;
                }
            }
            visit(key);
        })
    }

    /// `KEYS`: every live key matching `pattern`.
    pub fn keys(&self, pattern: &[u8]) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut cursor = 0;
        let filter = ScanFilter {
            pattern: Some(pattern),
            type_name: None,
        };
        loop {
            cursor = self.scan(cursor, 1024, filter, |key| keys.push(key.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        // A resizing table may return a key twice; KEYS promises each once.
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// `RANDOMKEY`: some live key, `None` when there are none.
    ///
    /// The engine offers no random access, so this samples: it starts a scan at the cursor a
    /// random seed picks among the first steps, and takes a random key of that batch. Every key
    /// can be returned, but not with equal probability.
    pub fn random_key(&self, seed: u64) -> Option<Vec<u8>> {
        let skip = seed % 8;
        let mut batch = Vec::new();
        let mut last_batch = Vec::new();
        let mut nonempty_batches = 0;
        let mut cursor = 0;
        loop {
            batch.clear();
            cursor = self.scan(cursor, 16, ScanFilter::default(), |key| {
                batch.push(key.to_vec())
            });
            if !batch.is_empty() {
                if nonempty_batches >= skip {
                    let pick = (seed / 8) as usize % batch.len();
                    return Some(batch.swap_remove(pick));
                }
                nonempty_batches += 1;
                std::mem::swap(&mut batch, &mut last_batch);
            }
            if cursor == 0 {
                if last_batch.is_empty() {
                    return None;
                }
                let pick = (seed / 8) as usize % last_batch.len();
                return Some(last_batch.swap_remove(pick));
            }
        }
    }
}
