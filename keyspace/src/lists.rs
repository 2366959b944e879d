//! List operations.
//!
//! A list is a [`Container`](crate::Container) of [`ListItems`]: every mutation runs the
//! container protocol ([`crate::container`]), which keeps in-place mutation in step with the
//! engine's versions and removes a list that becomes empty.

use crate::container::{Contained, Container, Missing};
use crate::{Db, Effect, Error, ListItems, Result, Value};
use engine::Engine;
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
type Items = ListItems;

impl Contained for ListItems {
    fn of(value: &Value) -> Option<&Arc<Container<Self>>> {
        match value {
            Value::List(list) => Some(list),
            _ => None,
        }
    }

    fn into_value(container: Arc<Container<Self>>) -> Value {
        Value::List(container)
    }

    fn is_empty(&self) -> bool {
        VecDeque::is_empty(self)
    }
}

/// A new list of `elements` pushed at `end`, and its length: what a push creates.
fn created(end: End, elements: &[&[u8]]) -> Missing<Items, usize> {
    let mut items = Items::with_capacity(elements.len());
    push_all(&mut items, end, elements);
    let length = items.len();
    Missing::Create(items, length)
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

impl<E: Engine<Value = Value>> Db<'_, E> {
    /// Reads the key's list under its lock; `None` for a missing key.
    fn read_list<R>(&self, key: &[u8], read: impl FnOnce(&Items) -> R) -> Result<Option<R>> {
        self.read_container(key, read)
    }

    /// `LPUSH` / `RPUSH`: the new length. `elements` is not empty.
    pub fn push(&self, key: &[u8], end: End, elements: &[&[u8]]) -> Result<usize> {
        self.mutate_container(
            key,
            Effect::ListPush { key, end, elements },
            || created(end, elements),
            |_: &Items| false,
            |items| {
                push_all(items, end, elements);
                items.len()
            },
        )
    }

    /// `LPUSHX` / `RPUSHX`: the new length, 0 (and nothing created) for a missing key.
    pub fn push_existing(&self, key: &[u8], end: End, elements: &[&[u8]]) -> Result<usize> {
        self.mutate_container(
            key,
            Effect::ListPush { key, end, elements },
            || Missing::Answer(0),
            |_: &Items| false,
            |items| {
                push_all(items, end, elements);
                items.len()
            },
        )
    }

    /// `LPOP` / `RPOP` with a count: up to `count` elements; `None` for a missing key.
    pub fn pop(&self, key: &[u8], end: End, count: usize) -> Result<Option<Vec<Box<[u8]>>>> {
        self.pop_locked(key, end, count)
    }

    fn pop_locked(&self, key: &[u8], end: End, count: usize) -> Result<Option<Vec<Box<[u8]>>>> {
        self.mutate_container(
            key,
            Effect::ListPop {
                key,
                end,
                count: count as u64,
            },
            || Missing::Answer(None),
            |items: &Items| items.len() <= count,
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
        // An index outside the list changes nothing; it still draws a version (the bump comes
        // before `apply` sees the index), a new version with the same content, which is harmless.
        self.mutate_container(
            key,
            Effect::ListSet {
                key,
                index,
                element,
            },
            || Missing::Answer(Err(Error::NoSuchKey)),
            |_: &Items| false,
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
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().try_into().unwrap_or(usize::MAX)
        };
        let matches = |items: &Items| items.iter().filter(|item| ***item == *element).count();
        self.mutate_container(
            key,
            Effect::ListRemove {
                key,
                count,
                element,
            },
            || Missing::Answer(0),
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
        self.mutate_container(
            key,
            Effect::ListTrim { key, start, stop },
            || Missing::Answer(()),
            |items: &Items| resolve_range(start, stop, items.len()).is_none(),
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
        self.mutate_container(
            key,
            Effect::ListInsert {
                key,
                position,
                pivot,
                element,
            },
            || Missing::Answer(0),
            |_: &Items| false,
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
        self.require_exclusive("LMOVE");
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
        self.mutate_container(
            destination,
            Effect::ListPush {
                key: destination,
                end: to,
                elements: &pushed,
            },
            || created(to, &pushed),
            |_: &Items| false,
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
