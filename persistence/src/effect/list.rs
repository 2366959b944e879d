//! # list: the list type's effects
//!
//! The relative effects (push, pop, set, remove, trim, insert) replay the command's semantics
//! on the list as it was at their version (see the keyspace's journal docs for why that list
//! is the one clients saw); `PutList` replaces the key with a whole list (RENAME, COPY, a
//! rewrite's base). A list too long for one record (more than
//! [`LIST_ELEMENTS_PER_RECORD_MAX`] elements or about 64 MiB) continues as `ListPush`
//! records of the same version, which replay applies in file order.

use super::{i64_of, u64_of, Malformed, Out};
use crate::record::{self, Argument, Opcode, TooLarge};
use engine::Meta;
use keyspace::{Effect, End, ListPosition};

/// The opcodes this file owns.
pub const OPCODES: &[Opcode] = &[
    Opcode::ListPush,
    Opcode::ListPop,
    Opcode::ListSet,
    Opcode::ListRemove,
    Opcode::ListTrim,
    Opcode::ListInsert,
    Opcode::PutList,
];

/// The most elements one list record carries: a record has at most
/// [`record::ARGUMENTS_MAX`] arguments, two of which are the key and the end (or expiry).
pub const LIST_ELEMENTS_PER_RECORD_MAX: usize = record::ARGUMENTS_MAX - 2;
/// The most element bytes one list record carries, well under [`record::RECORD_BYTES_MAX`].
const LIST_BYTES_PER_RECORD_MAX: usize = 64 * 1024 * 1024;

/// How many of `elements` fit one record (at least one: a single element is at most 512 MiB,
/// which a record holds).
fn chunk_len(elements: &[&[u8]]) -> usize {
    let mut bytes = 0usize;
    let mut count = 0usize;
    for element in elements.iter().take(LIST_ELEMENTS_PER_RECORD_MAX) {
        bytes += element.len() + 4;
        if count > 0 && bytes > LIST_BYTES_PER_RECORD_MAX {
            break;
        }
        count += 1;
    }
    count
}

/// Appends the records of a list effect: one, or for a `PutList` or `ListPush` too long for
/// one, a first record and `ListPush` continuations.
pub(super) fn encode(out: &mut Out<'_>, effect: &Effect<'_>) -> Result<usize, TooLarge> {
    let (key, first_end, elements, put_meta) = match *effect {
        Effect::ListPush { key, end, elements } => (key, end, elements, None),
        Effect::PutList {
            key,
            meta,
            elements,
        } => (key, End::Right, elements, Some(meta)),
        _ => return encode_one(out, effect),
    };
    if chunk_len(elements) == elements.len() {
        return encode_one(out, effect);
    }
    let mut size = 0;
    let mut rest = elements;
    let mut first = true;
    while !rest.is_empty() {
        let count = chunk_len(rest);
        let chunk = &rest[..count];
        let part = match put_meta {
            // The first record of a long list replaces the key; the rest push onto it.
            Some(meta) if first => Effect::PutList {
                key,
                meta,
                elements: chunk,
            },
            _ => Effect::ListPush {
                key,
                end: first_end,
                elements: chunk,
            },
        };
        size += encode_one(out, &part)?;
        rest = &rest[count..];
        first = false;
    }
    Ok(size)
}

fn end_byte(end: End) -> u8 {
    match end {
        End::Left => 0,
        End::Right => 1,
    }
}

/// Appends exactly one record of a list effect; returns its size.
fn encode_one(out: &mut Out<'_>, effect: &Effect<'_>) -> Result<usize, TooLarge> {
    use Argument::{Bytes, I64, U64, U8};
    match *effect {
        Effect::ListPush { key, end, elements } => {
            let mut arguments = Vec::with_capacity(2 + elements.len());
            arguments.extend([Bytes(key), U8(end_byte(end))]);
            arguments.extend(elements.iter().map(|element| Bytes(element)));
            out.write(Opcode::ListPush, &arguments)
        }
        Effect::ListPop { key, end, count } => out.write(
            Opcode::ListPop,
            &[Bytes(key), U8(end_byte(end)), U64(count)],
        ),
        Effect::ListSet {
            key,
            index,
            element,
        } => out.write(Opcode::ListSet, &[Bytes(key), I64(index), Bytes(element)]),
        Effect::ListRemove {
            key,
            count,
            element,
        } => out.write(
            Opcode::ListRemove,
            &[Bytes(key), I64(count), Bytes(element)],
        ),
        Effect::ListTrim { key, start, stop } => {
            out.write(Opcode::ListTrim, &[Bytes(key), I64(start), I64(stop)])
        }
        Effect::ListInsert {
            key,
            position,
            pivot,
            element,
        } => {
            let position = match position {
                ListPosition::Before => 0,
                ListPosition::After => 1,
            };
            out.write(
                Opcode::ListInsert,
                &[Bytes(key), U8(position), Bytes(pivot), Bytes(element)],
            )
        }
        Effect::PutList {
            key,
            meta,
            elements,
        } => {
            let mut arguments = Vec::with_capacity(2 + elements.len());
            arguments.extend([Bytes(key), U64(meta.expire_at_ms)]);
            arguments.extend(elements.iter().map(|element| Bytes(element)));
            out.write(Opcode::PutList, &arguments)
        }
        _ => unreachable!("not a list effect: {effect:?}"),
    }
}

fn end_of(bytes: &[u8]) -> Result<End, Malformed> {
    match bytes {
        [0] => Ok(End::Left),
        [1] => Ok(End::Right),
        _ => Err(Malformed),
    }
}

/// The effect of a record with one of [`OPCODES`].
pub(super) fn decode<'r>(
    opcode: Opcode,
    arguments: &'r [&'r [u8]],
) -> Result<Effect<'r>, Malformed> {
    Ok(match (opcode, arguments) {
        (Opcode::ListPush, [key, end, elements @ ..]) if !elements.is_empty() => Effect::ListPush {
            key,
            end: end_of(end)?,
            elements,
        },
        (Opcode::ListPop, [key, end, count]) => Effect::ListPop {
            key,
            end: end_of(end)?,
            count: u64_of(count)?,
        },
        (Opcode::ListSet, [key, index, element]) => Effect::ListSet {
            key,
            index: i64_of(index)?,
            element,
        },
        (Opcode::ListRemove, [key, count, element]) => Effect::ListRemove {
            key,
            count: i64_of(count)?,
            element,
        },
        (Opcode::ListTrim, [key, start, stop]) => Effect::ListTrim {
            key,
            start: i64_of(start)?,
            stop: i64_of(stop)?,
        },
        (Opcode::ListInsert, [key, position, pivot, element]) => Effect::ListInsert {
            key,
            position: match position {
                [0] => ListPosition::Before,
                [1] => ListPosition::After,
                _ => return Err(Malformed),
            },
            pivot,
            element,
        },
        (Opcode::PutList, [key, expire, elements @ ..]) => Effect::PutList {
            key,
            meta: Meta {
                flags: 0,
                expire_at_ms: u64_of(expire)?,
            },
            elements,
        },
        _ => return Err(Malformed),
    })
}
