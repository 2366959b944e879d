//! The operations memcached's commands need, with memcached's semantics: client flags kept
//! with the value, the entry's version as the CAS unique, and stores conditioned on presence
//! or on the CAS. A key holding a list (written over RESP) is a miss for memcached reads and
//! cannot be appended to.

use crate::{Db, Str, Value};
use engine::{Decision, Engine, Entry, Meta};

/// A memcached item as a read returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The data.
    pub value: Str,
    /// The client flags.
    pub flags: u32,
    /// The CAS unique: the entry's version.
    pub version: u64,
    /// Absolute expiry in milliseconds, 0 for none.
    pub expire_at_ms: u64,
}

/// The storage commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `set`: store unconditionally.
    Set,
    /// `add`: store only if absent.
    Add,
    /// `replace`: store only if present.
    Replace,
    /// `append`: add the data after the existing data (keeps flags and expiry).
    Append,
    /// `prepend`: add the data before the existing data (keeps flags and expiry).
    Prepend,
}

/// The result of [`Keyspace::store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// `STORED`, with the new CAS unique.
    Stored(u64),
    /// `NOT_STORED`: the mode's condition failed.
    NotStored,
    /// `EXISTS`: the CAS unique did not match.
    Exists,
    /// `NOT_FOUND`: a CAS store on a missing key.
    NotFound,
}

/// The result of [`Keyspace::arith`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOutcome {
    /// The new value and CAS unique.
    Value(u64, u64),
    /// The key is missing (and no initial value was given).
    NotFound,
    /// The value is not a decimal number.
    NonNumeric,
    /// A CAS unique was given and did not match.
    Exists,
}

/// The result of [`Keyspace::delete_item`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// `DELETED`.
    Deleted,
    /// `NOT_FOUND`.
    NotFound,
    /// `EXISTS`: the CAS unique did not match.
    Exists,
}

/// The item view of an entry, `None` for non-string values.
fn item_of(entry: &Entry<Value>) -> Option<Item> {
    match &entry.value {
        Value::Str(value) => Some(Item {
            value: value.clone(),
            flags: entry.meta.flags,
            version: entry.version,
            expire_at_ms: entry.meta.expire_at_ms,
        }),
        _ => None,
    }
}

/// memcached's rule for a counter value: decimal digits only (at most 20 of them), fitting in
/// 64 bits.
fn parse_counter(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 20 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

impl<E: Engine<Value = Value>> Db<'_, E> {
    /// `get` / `gets` / `mg`: calls `read` with the value, its flags and its CAS unique.
    pub fn get_item_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&Str, &Meta, u64) -> R,
    ) -> Option<R> {
        self.read_locked(key, |entry| match &entry.value {
            Value::Str(value) => Some(read(value, &entry.meta, entry.version)),
            _ => None,
        })
        .flatten()
    }

    /// `gat` / `gats` / `touch`: sets the expiry and returns the item as it is afterwards.
    pub fn touch_item(&self, key: &[u8], expire_at_ms: u64) -> Option<Item> {
        let now = self.now_ms();
        let updated = self.write_locked(key, |current| match current.and_then(item_of) {
            None => (Decision::Keep, None),
            Some(item) => {
                let meta = Meta {
                    expire_at_ms,
                    ..current.map(|entry| entry.meta).unwrap_or_default()
                };
                let decision = if expire_at_ms != 0 && expire_at_ms <= now {
                    Decision::Remove
                } else {
                    Decision::Replace {
                        value: Value::Str(item.value.clone()),
                        meta,
                    }
                };
                (decision, Some(item))
            }
        });
        let mut item = updated.output?;
        if let Some(version) = updated.version {
            item.version = version;
        }
        item.expire_at_ms = expire_at_ms;
        Some(item)
    }

    /// The storage commands, with an optional CAS unique to match (`cas`, `ms C`).
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        data: Str,
        flags: u32,
        expire_at_ms: u64,
        cas: Option<u64>,
    ) -> StoreOutcome {
        let now = self.now_ms();
        let updated = self.write_locked(key, |current| {
            if let Some(cas) = cas {
                match current {
                    None => return (Decision::Keep, StoreOutcome::NotFound),
                    Some(entry) if entry.version != cas => {
                        return (Decision::Keep, StoreOutcome::Exists)
                    }
                    Some(_) => {}
                }
            }
            let allowed = match mode {
                StoreMode::Set => true,
                StoreMode::Add => current.is_none(),
                StoreMode::Replace => current.is_some(),
                StoreMode::Append | StoreMode::Prepend => current.and_then(item_of).is_some(),
            };
            if !allowed {
                return (Decision::Keep, StoreOutcome::NotStored);
            }
            let (value, meta) = match (mode, current.and_then(item_of)) {
                (StoreMode::Append | StoreMode::Prepend, Some(old)) => {
                    let (first, second) = if mode == StoreMode::Append {
                        (old.value.as_bytes(), data.as_bytes())
                    } else {
                        (data.as_bytes(), old.value.as_bytes())
                    };
                    let mut joined = Vec::with_capacity(first.len() + second.len());
                    joined.extend_from_slice(first);
                    joined.extend_from_slice(second);
                    let meta = Meta {
                        expire_at_ms: old.expire_at_ms,
                        flags: old.flags,
                    };
                    (Str::from(joined), meta)
                }
                _ => (
                    data.clone(),
                    Meta {
                        expire_at_ms,
                        flags,
                    },
                ),
            };
            // memcached stores an item with a past expiry and it is gone at once: a removal.
            let decision = if meta.expire_at_ms != 0 && meta.expire_at_ms <= now {
                Decision::Remove
            } else {
                Decision::Replace {
                    value: Value::Str(value),
                    meta,
                }
            };
            (decision, StoreOutcome::Stored(0))
        });
        match updated.output {
            // A removal of an absent key draws no version; the item is "stored" and gone.
            StoreOutcome::Stored(_) => StoreOutcome::Stored(updated.version.unwrap_or(0)),
            other => other,
        }
    }

    /// `incr` / `decr` / `ma`: adds or subtracts `delta` (incr wraps at 2^64, decr stops at
    /// 0). A missing key is created with `initial` (and that expiry) when given.
    pub fn arith(
        &self,
        key: &[u8],
        increment: bool,
        delta: u64,
        initial: Option<(u64, u64)>,
        cas: Option<u64>,
    ) -> ArithOutcome {
        let updated = self.write_locked(key, |current| {
            let Some(entry) = current else {
                return match initial {
                    None => (Decision::Keep, ArithOutcome::NotFound),
                    Some((value, expire_at_ms)) => {
                        let meta = Meta {
                            expire_at_ms,
                            flags: 0,
                        };
                        let data = Value::Str(Str::from(value.to_string().into_bytes()));
                        let decision = Decision::Replace { value: data, meta };
                        (decision, ArithOutcome::Value(value, 0))
                    }
                };
            };
            if cas.is_some_and(|cas| cas != entry.version) {
                return (Decision::Keep, ArithOutcome::Exists);
            }
            let Some(old) = item_of(entry).and_then(|item| parse_counter(item.value.as_bytes()))
            else {
                return (Decision::Keep, ArithOutcome::NonNumeric);
            };
            let new = if increment {
                old.wrapping_add(delta)
            } else {
                old.saturating_sub(delta)
            };
            let data = Value::Str(Str::from(new.to_string().into_bytes()));
            let decision = Decision::Replace {
                value: data,
                meta: entry.meta,
            };
            (decision, ArithOutcome::Value(new, 0))
        });
        match updated.output {
            ArithOutcome::Value(value, _) => {
                ArithOutcome::Value(value, updated.version.unwrap_or(0))
            }
            other => other,
        }
    }

    /// `delete` / `md`, with an optional CAS unique to match.
    pub fn delete_item(&self, key: &[u8], cas: Option<u64>) -> DeleteOutcome {
        self.write_locked(key, |current| match current {
            None => (Decision::Keep, DeleteOutcome::NotFound),
            Some(entry) if cas.is_some_and(|cas| cas != entry.version) => {
                (Decision::Keep, DeleteOutcome::Exists)
            }
            Some(_) => (Decision::Remove, DeleteOutcome::Deleted),
        })
        .output
    }
}
