//! List operations.
//!
//! ## The list protocol
//!
//! A list lives in an `Arc<List>` that the key's entry points to, and is mutated in place under
//! the list's own mutex. Every mutation runs [`Keyspace::mutate_list`]:
//!
//! 1. read the key's entry and clone the `Arc<List>` (a missing key goes to step 5);
//! 2. lock the list;
//! 3. look at the elements and work out whether the operation leaves the list empty;
//! 4. [`Engine::update`] the key, only if it still holds *this* list (pointer equality), with
//!    either a fresh entry holding the same list (a new version, the same metadata) or, if the
//!    list will be empty, a removal (Redis never keeps an empty list). If the key changed since
//!    step 1 (replaced by `SET`, deleted, expired), the update keeps it as it is and we start
//!    again from step 1;
//! 5. only now mutate the elements, still under the lock; a missing key gets a new list that
//!    already holds its elements and is installed only if the key is still absent.
//!
//! So a mutation happens only after its version is installed, while the list is provably
//! current, and the lock orders the mutations of one list in the same order as their versions
//! (what the append-only file needs to replay them). A writer that replaces the list key
//! (SET, DEL, expiry) never takes the list's lock; a list writer that started before it either
//! installed its version first (and the replacement comes after it, also in version order) or
//! sees the change in step 4. Readers clone the `Arc` and read under the lock: they see the
//! list as some mutation left it, which was its content at some moment inside the read.

use super::{Effect, Error, Keyspace, List, Result, Value};
use crate::{Decision, Engine, Meta};
use std::collections::VecDeque;
use std::sync::Arc;

/// A list end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The head (`LPUSH`, `LPOP`, `LEFT`).
    Left,
    /// The tail (`RPUSH`, `RPOP`, `RIGHT`).
    Right,
}

/// `LINSERT BEFORE|AFTER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListPosition {
    /// Before the pivot.
    Before,
    /// After the pivot.
    After,
}

/// `LPOS` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PosOptions {
    /// `RANK`: which match to start from; negative searches from the tail. Never 0.
    pub rank: i64,
    /// `COUNT`: how many matches to return; `None` returns the first as a single reply,
    /// `Some(0)` means all.
    pub count: Option<usize>,
    /// `MAXLEN`: compare at most this many elements; 0 means all.
    pub max_len: usize,
}

/// Elements, as the list stores them.
type Items = VecDeque<Box<[u8]>>;

/// What [`Keyspace::mutate_list`] does with a missing key.
enum OnMissing<'a> {
    /// Nothing (the operation's result for a missing key is computed by `missing`).
    Nothing,
    /// Create the list holding these elements, pushed at this end.
    Create(End, &'a [&'a [u8]]),
}

fn push_all(items: &mut Items, end: End, elements: &[&[u8]]) {
    for element in elements {
        let element: Box<[u8]> = Box::from(*element);
        match end {
            End::Left => items.push_front(element),
            End::Right => items.push_back(element),
        }
    }
}

/// Resolves Redis's inclusive, possibly negative `start..=stop` against `length`; `None` when
/// the range is empty.
fn resolve_range(start: i64, stop: i64, length: usize) -> Option<(usize, usize)> {
    let length = length as i64;
    let mut start = if start < 0 { length + start } else { start };
    let mut stop = if stop < 0 { length + stop } else { stop };
    if start < 0 {
        start = 0;
    }
    if start > stop || start >= length {
        return None;
    }
    if stop >= length {
        stop = length - 1;
    }
    Some((start as usize, stop as usize))
}

/// Resolves a possibly negative index.
fn resolve_index(index: i64, length: usize) -> Option<usize> {
    let length = length as i64;
    let index = if index < 0 { length + index } else { index };
    (0..length).contains(&index).then_some(index as usize)
}

impl<E: Engine<Value = Value>> Keyspace<E> {
    /// The list protocol of the module docs. `will_empty` looks at the elements under the lock
    /// and says whether `apply` will leave none; `apply` then mutates them. A missing key
    /// returns `missing` (or, with `OnMissing::Create`, creates the list and returns
    /// `created(length)`). `effect` is what the journal is told, with the version installed,
    /// after `apply` and before the list's lock is released (a creation reports it too).
    // Eight arguments: the protocol's steps each take the caller's closure, and bundling them
    // in a struct would only move the same list elsewhere.
    #[allow(clippy::too_many_arguments)]
    fn mutate_list<R>(
        &self,
        key: &[u8],
        effect: Effect<'_>,
        on_missing: OnMissing<'_>,
        missing: impl Fn() -> R,
        created: impl Fn(usize) -> R,
        will_empty: impl Fn(&Items) -> bool,
        apply: impl FnOnce(&mut Items) -> R,
    ) -> Result<R> {
        let mut apply = Some(apply);
        loop {
            // 1. The current list, if any.
            let list = self.peek_locked(key, |entry| match &entry.value {
                Value::List(list) => Ok(Arc::clone(list)),
                _ => Err(Error::WrongType),
            });
            let Some(list) = list.transpose()? else {
                // 5, for a missing key.
                let OnMissing::Create(end, elements) = on_missing else {
                    return Ok(missing());
                };
                let mut items = Items::with_capacity(elements.len());
                push_all(&mut items, end, elements);
                let length = items.len();
                let fresh = Arc::new(List::new(items));
                let installed = self.write_unreported(key, |current| match current {
                    None => (
                        Decision::Replace {
                            value: Value::List(Arc::clone(&fresh)),
                            meta: Meta::default(),
                        },
                        true,
                    ),
                    Some(_) => (Decision::Keep, false),
                });
                if installed.output {
                    if let (Some(journal), Some(version)) = (self.journal(), installed.version) {
                        // Nobody can have changed the list between its install and this
                        // report in a way that matters: they would draw a higher version.
                        journal.record(version, &effect);
                    }
                    return Ok(created(length));
                }
                // Someone created the key first: go round and use theirs.
                continue;
            };
            // 2. Lock it; 3. work out the effect.
            let mut items = list.lock();
            let empties = will_empty(&items);
            // 4. New version (or removal), only if the key still holds this list.
            let bumped = self.write_unreported(key, |current| match current {
                Some(entry) => match &entry.value {
                    Value::List(now) if Arc::ptr_eq(now, &list) => {
                        let decision = if empties {
                            Decision::Remove
                        } else {
                            Decision::Replace {
                                value: Value::List(Arc::clone(&list)),
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
                drop(items);
                continue;
            }
            // 5. Mutate, still under the lock.
            let apply = apply
                .take()
                .expect("apply runs once: the loop returns after it");
            let output = apply(&mut items);
            if let (Some(journal), Some(version)) = (self.journal(), bumped.version) {
                journal.record(version, &effect);
            }
            drop(items);
            return Ok(output);
        }
    }

    /// Reads the key's list under its lock; `None` for a missing key.
    fn read_list<R>(&self, key: &[u8], read: impl FnOnce(&Items) -> R) -> Result<Option<R>> {
        let _shared = self.shared();
        let list = self.read_locked(key, |entry| match &entry.value {
            Value::List(list) => Ok(Arc::clone(list)),
            _ => Err(Error::WrongType),
        });
        let Some(list) = list.transpose()? else {
            return Ok(None);
        };
        let items = list.lock();
        Ok(Some(read(&items)))
    }

    /// `LPUSH` / `RPUSH`: the new length. `elements` is not empty.
    pub fn push(&self, key: &[u8], end: End, elements: &[&[u8]]) -> Result<usize> {
        let _shared = self.shared();
        self.mutate_list(
            key,
            Effect::ListPush { key, end, elements },
            OnMissing::Create(end, elements),
            || 0,
            |length| length,
            |_| false,
            |items| {
                push_all(items, end, elements);
                items.len()
            },
        )
    }

    /// `LPUSHX` / `RPUSHX`: the new length, 0 (and nothing created) for a missing key.
    pub fn push_existing(&self, key: &[u8], end: End, elements: &[&[u8]]) -> Result<usize> {
        let _shared = self.shared();
        self.mutate_list(
            key,
            Effect::ListPush { key, end, elements },
            OnMissing::Nothing,
            || 0,
            |length| length,
            |_| false,
            |items| {
                push_all(items, end, elements);
                items.len()
            },
        )
    }

    /// `LPOP` / `RPOP` with a count: up to `count` elements; `None` for a missing key.
    pub fn pop(&self, key: &[u8], end: End, count: usize) -> Result<Option<Vec<Box<[u8]>>>> {
        let _shared = self.shared();
        self.pop_locked(key, end, count)
    }

    fn pop_locked(&self, key: &[u8], end: End, count: usize) -> Result<Option<Vec<Box<[u8]>>>> {
        self.mutate_list(
            key,
            Effect::ListPop {
                key,
                end,
                count: count as u64,
            },
            OnMissing::Nothing,
            || None,
            |_| None,
            |items| items.len() <= count,
            |items| {
                let taken = count.min(items.len());
                let popped = match end {
                    End::Left => items.drain(..taken).collect(),
                    End::Right => items.drain(items.len() - taken..).rev().collect(),
                };
                Some(popped)
            },
        )
    }

    /// `LLEN`.
    pub fn llen(&self, key: &[u8]) -> Result<usize> {
        Ok(self.read_list(key, VecDeque::len)?.unwrap_or(0))
    }

    /// `LINDEX`.
    pub fn lindex(&self, key: &[u8], index: i64) -> Result<Option<Box<[u8]>>> {
        Ok(self
            .read_list(key, |items| {
                resolve_index(index, items.len()).map(|index| items[index].clone())
            })?
            .flatten())
    }

    /// `LRANGE`: calls `visit` with the number of elements, then with each.
    pub fn lrange_with(
        &self,
        key: &[u8],
        start: i64,
        stop: i64,
        mut visit: impl FnMut(usize, Option<&[u8]>),
    ) -> Result<()> {
        let found = self.read_list(key, |items| match resolve_range(start, stop, items.len()) {
            None => visit(0, None),
            Some((from, to)) => {
                visit(to - from + 1, None);
                for item in items.range(from..=to) {
                    visit(0, Some(item));
                }
            }
        })?;
        if found.is_none() {
            visit(0, None);
        }
        Ok(())
    }

    /// `LSET`.
    pub fn lset(&self, key: &[u8], index: i64, element: &[u8]) -> Result<()> {
        let _shared = self.shared();
        // An index outside the list changes nothing; it still draws a version (the bump comes
        // before `apply` sees the index), a new version with the same content, which is harmless.
        self.mutate_list(
            key,
            Effect::ListSet {
                key,
                index,
                element,
            },
            OnMissing::Nothing,
            || Err(Error::NoSuchKey),
            |_| Err(Error::NoSuchKey),
            |_| false,
            |items| match resolve_index(index, items.len()) {
                Some(index) => {
                    items[index] = Box::from(element);
                    Ok(())
                }
                None => Err(Error::IndexOutOfRange),
            },
        )?
    }

    /// `LREM`: removes up to `|count|` elements equal to `element` (all when `count` is 0),
    /// from the head when `count >= 0`, from the tail otherwise; returns how many.
    pub fn lrem(&self, key: &[u8], count: i64, element: &[u8]) -> Result<usize> {
        let _shared = self.shared();
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().try_into().unwrap_or(usize::MAX)
        };
        let matches = |items: &Items| items.iter().filter(|item| ***item == *element).count();
        self.mutate_list(
            key,
            Effect::ListRemove {
                key,
                count,
                element,
            },
            OnMissing::Nothing,
            || 0,
            |_| 0,
            |items| matches(items).min(limit) == items.len(),
            |items| {
                let mut removed = 0;
                if count >= 0 {
                    let mut index = 0;
                    while index < items.len() && removed < limit {
                        if *items[index] == *element {
                            items.remove(index);
                            removed += 1;
                        } else {
                            index += 1;
                        }
                    }
                } else {
                    let mut index = items.len();
                    while index > 0 && removed < limit {
                        index -= 1;
                        if *items[index] == *element {
                            items.remove(index);
                            removed += 1;
                        }
                    }
                }
                removed
            },
        )
    }

    /// `LTRIM`.
    pub fn ltrim(&self, key: &[u8], start: i64, stop: i64) -> Result<()> {
        let _shared = self.shared();
        self.mutate_list(
            key,
            Effect::ListTrim { key, start, stop },
            OnMissing::Nothing,
            || (),
            |_| (),
            |items| resolve_range(start, stop, items.len()).is_none(),
            |items| match resolve_range(start, stop, items.len()) {
                None => items.clear(),
                Some((from, to)) => {
                    items.truncate(to + 1);
                    items.drain(..from);
                }
            },
        )
    }

    /// `LINSERT`: the new length, -1 when the pivot is not found, 0 for a missing key.
    pub fn linsert(
        &self,
        key: &[u8],
        position: ListPosition,
        pivot: &[u8],
        element: &[u8],
    ) -> Result<i64> {
        let _shared = self.shared();
        self.mutate_list(
            key,
            Effect::ListInsert {
                key,
                position,
                pivot,
                element,
            },
            OnMissing::Nothing,
            || 0,
            |_| 0,
            |_| false,
            |items| match items.iter().position(|item| **item == *pivot) {
                None => -1,
                Some(at) => {
                    let at = match position {
                        ListPosition::Before => at,
                        ListPosition::After => at + 1,
                    };
                    items.insert(at, Box::from(element));
                    items.len() as i64
                }
            },
        )
    }

    /// `LPOS`: the matching indexes (at most one unless `count` is given).
    pub fn lpos(&self, key: &[u8], element: &[u8], options: PosOptions) -> Result<Vec<usize>> {
        let found = self.read_list(key, |items| {
            let wanted = match options.count {
                None => 1,
                Some(0) => usize::MAX,
                Some(count) => count,
            };
            let mut skip = options.rank.unsigned_abs().saturating_sub(1);
            let compare_max = if options.max_len == 0 {
                usize::MAX
            } else {
                options.max_len
            };
            let mut positions = Vec::new();
            let length = items.len();
            for step in 0..length.min(compare_max) {
                let index = if options.rank > 0 {
                    step
                } else {
                    length - 1 - step
                };
                if *items[index] == *element {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    positions.push(index);
                    if positions.len() >= wanted {
                        break;
                    }
                }
            }
            positions
        })?;
        Ok(found.unwrap_or_default())
    }

    /// `LMOVE`: pops from `source` at `from` and pushes onto `destination` at `to`,
    /// atomically; the element moved, `None` when `source` is missing.
    pub fn lmove(
        &self,
        source: &[u8],
        destination: &[u8],
        from: End,
        to: End,
    ) -> Result<Option<Box<[u8]>>> {
        let _exclusive = self.exclusive();
        // Check the destination's type before popping, as Redis does: a wrong-typed
        // destination must leave the source untouched.
        let destination_type = self.peek_locked(destination, |entry| match entry.value {
            Value::List(_) => Ok(()),
            _ => Err(Error::WrongType),
        });
        let source_exists = self
            .peek_locked(source, |entry| match entry.value {
                Value::List(_) => Ok(()),
                _ => Err(Error::WrongType),
            })
            .transpose()?
            .is_some();
        if !source_exists {
            return Ok(None);
        }
        destination_type.transpose()?;
        let Some(mut popped) = self.pop_locked(source, from, 1)? else {
            return Ok(None);
        };
        let Some(element) = popped.pop() else {
            return Ok(None);
        };
        let element_slice: &[u8] = &element;
        let pushed = [element_slice];
        self.mutate_list(
            destination,
            Effect::ListPush {
                key: destination,
                end: to,
                elements: &pushed,
            },
            OnMissing::Create(to, &pushed),
            || 0,
            |length| length,
            |_| false,
            |items| {
                push_all(items, to, &[element_slice]);
                items.len()
            },
        )?;
        Ok(Some(element))
    }
}

#[cfg(test)]
mod unit {
    use super::{resolve_index, resolve_range};

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(resolve_range(0, -1, 5), Some((0, 4)));
        assert_eq!(resolve_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(resolve_range(3, 1, 5), None);
        assert_eq!(resolve_range(5, 10, 5), None);
        assert_eq!(resolve_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(resolve_range(0, 0, 0), None);
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(-4, 3), None);
    }
}
