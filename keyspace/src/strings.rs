//! String operations: the `SET` family, reads, counters and in-place edits.
//!
//! Every write is one [`Engine::update`]: the closure looks at the live entry and computes the
//! replacement, so a read-modify-write such as `INCR` or `APPEND` is atomic on every back-end.
//! The closures may run more than once (optimistic back-ends retry), so they only compute.

use crate::numeric::{itoa_bytes, long_double, parse_i64};
use crate::{Db, Error, Result, Str, Value, STRING_BYTES_MAX};
use engine::{Decision, Engine, Entry, Meta};

/// When `SET` may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Always.
    #[default]
    Always,
    /// Only if the key does not exist (`NX`).
    IfAbsent,
    /// Only if the key exists (`XX`).
    IfPresent,
}

/// What a write does to the key's expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireOption {
    /// Remove any expiry (a plain `SET`).
    #[default]
    Clear,
    /// Expire at this absolute time in milliseconds.
    At(u64),
    /// Keep the current expiry (`KEEPTTL`).
    Keep,
}

/// Options of [`Keyspace::set`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// `NX` / `XX`.
    pub condition: SetCondition,
    /// Expiry after the write.
    pub expire: ExpireOption,
    /// `GET`: return the old value (an error if it is not a string).
    pub get_old: bool,
    /// memcached client flags to store (0 over RESP).
    pub flags: u32,
}

/// The result of [`Keyspace::set`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the value was written (false when `NX`/`XX` said no).
    pub written: bool,
    /// The old value when `get_old` was asked for and the key held a string.
    pub old: Option<Str>,
    /// The version installed, when written.
    pub version: Option<u64>,
}

impl ExpireOption {
    fn resolve(self, current: Option<&Entry<Value>>) -> u64 {
        match self {
            ExpireOption::Clear => 0,
            ExpireOption::At(at) => at,
            ExpireOption::Keep => current.map_or(0, |entry| entry.meta.expire_at_ms),
        }
    }
}

/// The string value of an entry, or `WrongType`.
fn as_str(entry: &Entry<Value>) -> Result<&Str> {
    match &entry.value {
        Value::Str(value) => Ok(value),
        _ => Err(Error::WrongType),
    }
}

/// The bytes and metadata of the string a read-modify-write starts from: a missing key is
/// the empty string with default metadata, as Redis treats it in APPEND and SETRANGE.
fn string_or_empty(current: Option<&Entry<Value>>) -> Result<(&[u8], Meta)> {
    match current {
        None => Ok((&[], Meta::default())),
        Some(entry) => as_str(entry).map(|value| (value.as_bytes(), entry.meta)),
    }
}

impl<E: Engine<Value = Value>> Db<'_, E> {
    /// `GET`: calls `read` with the string value.
    pub fn get_with<R>(&self, key: &[u8], read: impl FnOnce(&Str) -> R) -> Result<Option<R>> {
        self.get_with_locked(key, read)
    }

    pub(super) fn get_with_locked<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&Str) -> R,
    ) -> Result<Option<R>> {
        self.read_locked(key, |entry| as_str(entry).map(read))
            .transpose()
    }

    /// `GET`, returning a clone of the value (a reference count increment).
    pub fn get(&self, key: &[u8]) -> Result<Option<Str>> {
        self.get_with(key, Str::clone)
    }

    /// `MGET`: each key's string value, `None` for missing keys and keys of other types.
    /// Several keys are read under their stripes, so no `MSET` is seen half done.
    pub fn mget_with(&self, keys: &[&[u8]], mut read: impl FnMut(Option<&Str>)) {
        if keys.len() > 1 {
            self.require_keys_read("an MGET of several keys");
        }
        for key in keys {
            let found = self.read_locked(key, |entry| match &entry.value {
                Value::Str(value) => {
                    read(Some(value));
                    true
                }
                _ => false,
            });
            if found != Some(true) {
                read(None);
            }
        }
    }

    /// `SET` with all its options.
    pub fn set(&self, key: &[u8], value: Str, options: SetOptions) -> Result<SetOutcome> {
        self.set_locked(key, value, options)
    }

    pub(super) fn set_locked(
        &self,
        key: &[u8],
        value: Str,
        options: SetOptions,
    ) -> Result<SetOutcome> {
        // Blind overwrite: no closure to run, the cheapest path of every back-end.
        if options == (SetOptions::default()) {
            let version = self.insert_locked(key, Value::Str(value), Meta::default());
            return Ok(SetOutcome {
                written: true,
                old: None,
                version: Some(version),
            });
        }
        let updated = self.write_locked(key, |current| {
            let old = match (options.get_old, current) {
                (true, Some(entry)) => match as_str(entry) {
                    Ok(old) => Some(old.clone()),
                    Err(error) => return (Decision::Keep, Err(error)),
                },
                _ => None,
            };
            let allowed = match options.condition {
                SetCondition::Always => true,
                SetCondition::IfAbsent => current.is_none(),
                SetCondition::IfPresent => current.is_some(),
            };
            if !allowed {
                return (Decision::Keep, Ok((false, old)));
            }
            let meta = Meta {
                expire_at_ms: options.expire.resolve(current),
                flags: options.flags,
            };
            let decision = Decision::Replace {
                value: Value::Str(value.clone()),
                meta,
            };
            (decision, Ok((true, old)))
        });
        let (written, old) = updated.output?;
        Ok(SetOutcome {
            written,
            old,
            version: updated.version,
        })
    }

    /// `MSET`: all pairs, atomically: one pair is one write, which the shared lock allows;
    /// several need their keys' writer stripes (or the exclusive lock).
    pub fn mset(&self, pairs: &[(&[u8], &[u8])]) {
        if pairs.len() > 1 {
            self.require_keys_written("an MSET of several keys");
        }
        for (key, value) in pairs {
            self.insert_locked(key, Value::Str(Str::copy_from(value)), Meta::default());
        }
    }

    /// `MSETNX`: all pairs if none of the keys exists, atomically; returns whether it wrote.
    /// Always under the exclusive lock: even for one key, the check and the writes are
    /// separate steps.
    pub fn msetnx(&self, pairs: &[(&[u8], &[u8])]) -> bool {
        self.require_exclusive("MSETNX");
        if pairs
            .iter()
            .any(|(key, _)| self.peek_locked(key, |_| ()).is_some())
        {
            return false;
        }
        for (key, value) in pairs {
            self.insert_locked(key, Value::Str(Str::copy_from(value)), Meta::default());
        }
        true
    }

    /// `GETDEL`: the string value, removing the key.
    pub fn getdel(&self, key: &[u8]) -> Result<Option<Str>> {
        let updated = self.write_locked(key, |current| match current {
            None => (Decision::Keep, Ok(None)),
            Some(entry) => match as_str(entry) {
                Ok(value) => (Decision::Remove, Ok(Some(value.clone()))),
                Err(error) => (Decision::Keep, Err(error)),
            },
        });
        self.count_read(updated.output)
    }

    /// `GETEX`: the string value, setting (or with `Clear`, removing) its expiry;
    /// `expire == None` leaves it alone.
    pub fn getex(&self, key: &[u8], expire: Option<ExpireOption>) -> Result<Option<Str>> {
        let Some(expire) = expire else {
            return self.get_with_locked(key, Str::clone);
        };
        let now = self.now_ms();
        let updated = self.write_locked(key, |current| match current {
            None => (Decision::Keep, Ok(None)),
            Some(entry) => match as_str(entry) {
                Ok(value) => {
                    let expire_at_ms = expire.resolve(Some(entry));
                    let decision = if expire_at_ms != 0 && expire_at_ms <= now {
                        Decision::Remove
                    } else {
                        Decision::Replace {
                            value: entry.value.clone(),
                            meta: Meta {
                                expire_at_ms,
                                ..entry.meta
                            },
                        }
                    };
                    (decision, Ok(Some(value.clone())))
                }
                Err(error) => (Decision::Keep, Err(error)),
            },
        });
        self.count_read(updated.output)
    }

    /// Counts a hit or a miss for a read done through `write_locked`.
    fn count_read(&self, output: Result<Option<Str>>) -> Result<Option<Str>> {
        match &output {
            Ok(Some(_)) => self.stats.hits.add(1),
            Ok(None) => self.stats.misses.add(1),
            Err(_) => {}
        }
        output
    }

    /// `INCRBY` (and `INCR`, `DECR`, `DECRBY`): the new value.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64> {
        let updated = self.write_locked(key, |current| {
            let (old, meta) = match current {
                None => (0, Meta::default()),
                Some(entry) => match as_str(entry)
                    .and_then(|value| parse_i64(value.as_bytes()).ok_or(Error::NotInteger))
                {
                    Ok(old) => (old, entry.meta),
                    Err(error) => return (Decision::Keep, Err(error)),
                },
            };
            let Some(new) = old.checked_add(delta) else {
                return (Decision::Keep, Err(Error::Overflow));
            };
            let value = Value::Str(Str::from(itoa_bytes(new)));
            (Decision::Replace { value, meta }, Ok(new))
        });
        updated.output
    }

    /// `INCRBYFLOAT` as Redis 7 computes it: the stored value and the increment (`delta`, the
    /// argument's bytes) are parsed as C's `strtold` parses them, added in x86-64 `long
    /// double` (80-bit extended precision) and printed as `"%.17Lf"` without trailing zeros
    /// (see [`long_double`]). Redis checks in this order, and so do we: the key's type
    /// (`WrongType`), the stored value (`NotFloat`), the increment (`NotFloat`), and a sum
    /// that is infinite or not a number (`Overflow`). Returns the new value.
    pub fn incr_by_float_text(&self, key: &[u8], delta: &[u8]) -> Result<Str> {
        let updated = self.write_locked(key, |current| {
            let (old, meta) = match current {
                None => (
                    long_double::Parsed::Finite(long_double::Extended::ZERO),
                    Meta::default(),
                ),
                Some(entry) => match as_str(entry)
                    .and_then(|value| long_double::parse(value.as_bytes()).ok_or(Error::NotFloat))
                {
                    Ok(old) => (old, entry.meta),
                    Err(error) => return (Decision::Keep, Err(error)),
                },
            };
            let Some(delta) = long_double::parse(delta) else {
                return (Decision::Keep, Err(Error::NotFloat));
            };
            // An infinite operand makes the sum infinite or NaN, which Redis refuses.
            let (long_double::Parsed::Finite(old), long_double::Parsed::Finite(delta)) =
                (old, delta)
            else {
                return (Decision::Keep, Err(Error::Overflow));
            };
            let Some(new) = long_double::add(&old, &delta) else {
                return (Decision::Keep, Err(Error::Overflow));
            };
            let text = Str::from(long_double::format(&new).into_bytes());
            let value = Value::Str(text.clone());
            (Decision::Replace { value, meta }, Ok(text))
        });
        updated.output
    }

    /// `APPEND`: the new length.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize> {
        let updated = self.write_locked(key, |current| {
            let (old, meta) = match string_or_empty(current) {
                Ok(found) => found,
                Err(error) => return (Decision::Keep, Err(error)),
            };
            let length = old.len() + suffix.len();
            if length > STRING_BYTES_MAX {
                return (Decision::Keep, Err(Error::TooLarge));
            }
            let mut bytes = Vec::with_capacity(length);
            bytes.extend_from_slice(old);
            bytes.extend_from_slice(suffix);
            let value = Value::Str(Str::from(bytes));
            (Decision::Replace { value, meta }, Ok(length))
        });
        updated.output
    }

    /// `STRLEN`.
    pub fn strlen(&self, key: &[u8]) -> Result<usize> {
        Ok(self.get_with(key, Str::len)?.unwrap_or(0))
    }

    /// `GETRANGE` with Redis's index rules (negative from the end, clamped, inclusive).
    pub fn getrange(&self, key: &[u8], start: i64, end: i64) -> Result<Vec<u8>> {
        let range = self.get_with(key, |value| {
            let bytes = value.as_bytes();
            let length = bytes.len() as i64;
            if length == 0 {
                return Vec::new();
            }
            // Redis: a negative start and end, start > end, is empty; otherwise clamp.
            if start < 0 && end < 0 && start > end {
                return Vec::new();
            }
            let mut from = if start < 0 { length + start } else { start };
            let mut to = if end < 0 { length + end } else { end };
            from = from.max(0);
            to = to.max(0);
            if to >= length {
                to = length - 1;
            }
            if from > to {
                return Vec::new();
            }
            bytes[from as usize..=to as usize].to_vec()
        })?;
        Ok(range.unwrap_or_default())
    }

    /// `SETRANGE`: the new length. `offset` is non-negative (the server checks).
    pub fn setrange(&self, key: &[u8], offset: usize, patch: &[u8]) -> Result<usize> {
        let updated = self.write_locked(key, |current| {
            let (old, meta) = match string_or_empty(current) {
                Ok(found) => found,
                Err(error) => return (Decision::Keep, Err(error)),
            };
            // Redis's order: the type, then an empty patch (which changes and creates
            // nothing, however far the offset), then the size limit.
            if patch.is_empty() {
                return (Decision::Keep, Ok(old.len()));
            }
            if offset.saturating_add(patch.len()) > STRING_BYTES_MAX {
                return (Decision::Keep, Err(Error::TooLarge));
            }
            let length = old.len().max(offset + patch.len());
            let mut bytes = Vec::with_capacity(length);
            bytes.extend_from_slice(old);
            bytes.resize(length, 0);
            bytes[offset..offset + patch.len()].copy_from_slice(patch);
            let value = Value::Str(Str::from(bytes));
            (Decision::Replace { value, meta }, Ok(length))
        });
        updated.output
    }

    /// Whether `key` exists and is live (a helper for `SET`'s callers and tests).
    pub fn contains(&self, key: &[u8]) -> bool {
        self.peek_locked(key, |_| ()).is_some()
    }
}
