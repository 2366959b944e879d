//! # effect: keyspace effects as records, and back
//!
//! [`encode`] writes an [`Effect`] as a record (the opcode and argument lists are documented
//! on [`Opcode`]); [`decode`] reads one back. Each direction checks what it can: `encode`
//! inherits the record's read-back check, and `decode` refuses a record whose arguments do not
//! fit its opcode ([`Malformed`]), which replay treats as corruption of a checked record (a
//! writer bug, since the checksum matched).

use crate::record::{self, Argument, Opcode, Record, TooLarge};
use engine::Meta;
use keyspace::{Effect, End, ListPosition};

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

/// [`encode_in`] for database 0.
pub fn encode(
    out: &mut Vec<u8>,
    version: u64,
    timestamp_ms: u64,
    effect: &Effect<'_>,
) -> Result<usize, TooLarge> {
    encode_in(out, 0, version, timestamp_ms, effect)
}

/// Appends the record of `effect` in database `db` to `out` (several records for a list too
/// long for one: a `PutList` or `ListPush` continues as `ListPush` records of the same
/// version, which replay applies in file order); returns the bytes appended.
pub fn encode_in(
    out: &mut Vec<u8>,
    db: u8,
    version: u64,
    timestamp_ms: u64,
    effect: &Effect<'_>,
) -> Result<usize, TooLarge> {
    let (key, first_end, elements, put_meta) = match *effect {
        Effect::ListPush { key, end, elements } => (key, end, elements, None),
        Effect::PutList {
            key,
            meta,
            elements,
        } => (key, End::Right, elements, Some(meta)),
        _ => return encode_one(out, db, version, timestamp_ms, effect),
    };
    if chunk_len(elements) == elements.len() {
        return encode_one(out, db, version, timestamp_ms, effect);
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
        size += encode_one(out, db, version, timestamp_ms, &part)?;
        rest = &rest[count..];
        first = false;
    }
    Ok(size)
}

/// Appends exactly one record of `effect` to `out`; returns its size.
fn encode_one(
    out: &mut Vec<u8>,
    db: u8,
    version: u64,
    timestamp_ms: u64,
    effect: &Effect<'_>,
) -> Result<usize, TooLarge> {
    use Argument::{Bytes, I64, U32, U64, U8};
    let end_byte = |end: End| match end {
        End::Left => 0,
        End::Right => 1,
    };
    let mut write = |opcode, arguments: &[Argument<'_>]| {
        record::encode_in(out, db, version, timestamp_ms, opcode, arguments)
    };
    match *effect {
        Effect::PutString { key, value, meta } if meta == Meta::default() => {
            write(Opcode::PutPlainString, &[Bytes(key), Bytes(value)])
        }
        Effect::PutString { key, value, meta } => write(
            Opcode::PutString,
            &[
                Bytes(key),
                Bytes(value),
                U32(meta.flags),
                U64(meta.expire_at_ms),
            ],
        ),
        Effect::SetMeta { key, meta } => write(
            Opcode::SetMeta,
            &[Bytes(key), U32(meta.flags), U64(meta.expire_at_ms)],
        ),
        Effect::Delete { key } => write(Opcode::Delete, &[Bytes(key)]),
        Effect::ListPush { key, end, elements } => {
            let mut arguments = Vec::with_capacity(2 + elements.len());
            arguments.extend([Bytes(key), U8(end_byte(end))]);
            arguments.extend(elements.iter().map(|element| Bytes(element)));
            write(Opcode::ListPush, &arguments)
        }
        Effect::ListPop { key, end, count } => write(
            Opcode::ListPop,
            &[Bytes(key), U8(end_byte(end)), U64(count)],
        ),
        Effect::ListSet {
            key,
            index,
            element,
        } => write(Opcode::ListSet, &[Bytes(key), I64(index), Bytes(element)]),
        Effect::ListRemove {
            key,
            count,
            element,
        } => write(
            Opcode::ListRemove,
            &[Bytes(key), I64(count), Bytes(element)],
        ),
        Effect::ListTrim { key, start, stop } => {
            write(Opcode::ListTrim, &[Bytes(key), I64(start), I64(stop)])
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
            write(
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
            write(Opcode::PutList, &arguments)
        }
        Effect::Flush => write(Opcode::Flush, &[]),
    }
}

/// A record whose checksum matched but whose arguments do not fit its opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], Malformed> {
    bytes.try_into().map_err(|_| Malformed)
}

fn u64_of(bytes: &[u8]) -> Result<u64, Malformed> {
    fixed(bytes).map(u64::from_le_bytes)
}

fn i64_of(bytes: &[u8]) -> Result<i64, Malformed> {
    fixed(bytes).map(i64::from_le_bytes)
}

fn u32_of(bytes: &[u8]) -> Result<u32, Malformed> {
    fixed(bytes).map(u32::from_le_bytes)
}

fn end_of(bytes: &[u8]) -> Result<End, Malformed> {
    match bytes {
        [0] => Ok(End::Left),
        [1] => Ok(End::Right),
        _ => Err(Malformed),
    }
}

/// The effect a decoded record describes, borrowing from it.
pub fn decode<'r>(record: &'r Record<'_>) -> Result<Effect<'r>, Malformed> {
    let arguments = record.arguments.as_slice();
    let effect = match (record.opcode, arguments) {
        (Opcode::PutString, [key, value, flags, expire]) => Effect::PutString {
            key,
            value,
            meta: Meta {
                flags: u32_of(flags)?,
                expire_at_ms: u64_of(expire)?,
            },
        },
        (Opcode::PutPlainString, [key, value]) => Effect::PutString {
            key,
            value,
            meta: Meta::default(),
        },
        (Opcode::SetMeta, [key, flags, expire]) => Effect::SetMeta {
            key,
            meta: Meta {
                flags: u32_of(flags)?,
                expire_at_ms: u64_of(expire)?,
            },
        },
        (Opcode::Delete, [key]) => Effect::Delete { key },
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
        (Opcode::Flush, []) => Effect::Flush,
        _ => return Err(Malformed),
    };
    Ok(effect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(effect: Effect<'_>) {
        let mut out = Vec::new();
        let size = encode(&mut out, 42, 7, &effect).unwrap();
        assert_eq!(size, out.len());
        let (record, read) = record::decode(&out).unwrap();
        assert_eq!(read, size);
        assert_eq!(record.version, 42);
        assert_eq!(decode(&record).unwrap(), effect);
    }

    #[test]
    fn every_effect_reads_back_as_itself() {
        let meta = Meta {
            expire_at_ms: 1_700_000_000_123,
            flags: 0xDEAD_BEEF,
        };
        let list_meta = Meta {
            expire_at_ms: 99,
            flags: 0,
        };
        let elements: [&[u8]; 3] = [b"a", b"", b"ccc"];
        round_trip(Effect::PutString {
            key: b"k",
            value: b"value\r\n\0",
            meta,
        });
        round_trip(Effect::PutString {
            key: b"",
            value: b"",
            meta: Meta::default(),
        });
        round_trip(Effect::SetMeta { key: b"k", meta });
        round_trip(Effect::Delete { key: b"k" });
        round_trip(Effect::ListPush {
            key: b"l",
            end: End::Right,
            elements: &elements,
        });
        round_trip(Effect::ListPop {
            key: b"l",
            end: End::Left,
            count: u64::MAX,
        });
        round_trip(Effect::ListSet {
            key: b"l",
            index: -3,
            element: b"x",
        });
        round_trip(Effect::ListRemove {
            key: b"l",
            count: i64::MIN,
            element: b"x",
        });
        round_trip(Effect::ListTrim {
            key: b"l",
            start: 1,
            stop: -1,
        });
        round_trip(Effect::ListInsert {
            key: b"l",
            position: ListPosition::After,
            pivot: b"p",
            element: b"e",
        });
        round_trip(Effect::PutList {
            key: b"l",
            meta: list_meta,
            elements: &elements,
        });
        round_trip(Effect::PutList {
            key: b"l",
            meta: list_meta,
            elements: &[],
        });
        round_trip(Effect::Flush);
    }

    #[test]
    fn a_list_too_long_for_one_record_continues_in_pushes_of_the_same_version() {
        let owned: Vec<Vec<u8>> = (0..LIST_ELEMENTS_PER_RECORD_MAX + 10)
            .map(|index| index.to_string().into_bytes())
            .collect();
        let elements: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        for (effect, first_opcode) in [
            (
                Effect::PutList {
                    key: b"l",
                    meta: Meta::default(),
                    elements: &elements,
                },
                Opcode::PutList,
            ),
            (
                Effect::ListPush {
                    key: b"l",
                    end: End::Left,
                    elements: &elements,
                },
                Opcode::ListPush,
            ),
        ] {
            let mut out = Vec::new();
            let size = encode(&mut out, 9, 1, &effect).unwrap();
            assert_eq!(size, out.len());
            let (first, read) = record::decode(&out).unwrap();
            let (second, rest) = record::decode(&out[read..]).unwrap();
            assert_eq!(read + rest, out.len(), "two records");
            assert_eq!((first.opcode, first.version), (first_opcode, 9));
            assert_eq!((second.opcode, second.version), (Opcode::ListPush, 9));
            let mut all: Vec<&[u8]> = Vec::new();
            for found in [&first, &second] {
                match decode(found).unwrap() {
                    Effect::PutList { elements, .. } => all.extend(elements),
                    Effect::ListPush { end, elements, .. } => {
                        assert_eq!(
                            end,
                            if first_opcode == Opcode::PutList {
                                End::Right
                            } else {
                                End::Left
                            }
                        );
                        all.extend(elements)
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(all, elements);
        }
    }

    #[test]
    fn a_string_without_flags_or_expiry_takes_the_short_opcode() {
        let opcode_and_size = |meta| {
            let mut out = Vec::new();
            let effect = Effect::PutString {
                key: b"key:000000000001",
                value: &[b'x'; 32],
                meta,
            };
            let size = encode(&mut out, 1, 1, &effect).unwrap();
            let (record, _) = record::decode(&out).unwrap();
            assert_eq!(decode(&record).unwrap(), effect);
            (record.opcode, size)
        };
        let (plain, plain_size) = opcode_and_size(Meta::default());
        assert_eq!(plain, Opcode::PutPlainString);
        assert_eq!(plain_size, 32 + 4 + 16 + 4 + 32);
        for meta in [
            Meta {
                flags: 1,
                expire_at_ms: 0,
            },
            Meta {
                flags: 0,
                expire_at_ms: 1,
            },
        ] {
            let (full, full_size) = opcode_and_size(meta);
            assert_eq!(full, Opcode::PutString);
            assert_eq!(full_size, plain_size + 20);
        }
    }

    #[test]
    fn arguments_that_do_not_fit_the_opcode_are_malformed() {
        let mut out = Vec::new();
        // A short put with flags, a delete with two arguments, a push with no element, a bad end byte, a short u64.
        let cases: [(Opcode, Vec<Argument<'_>>); 5] = [
            (
                Opcode::PutPlainString,
                vec![
                    Argument::Bytes(b"k"),
                    Argument::Bytes(b"v"),
                    Argument::U32(0),
                ],
            ),
            (
                Opcode::Delete,
                vec![Argument::Bytes(b"k"), Argument::Bytes(b"extra")],
            ),
            (
                Opcode::ListPush,
                vec![Argument::Bytes(b"k"), Argument::U8(0)],
            ),
            (
                Opcode::ListPop,
                vec![Argument::Bytes(b"k"), Argument::U8(2), Argument::U64(1)],
            ),
            (
                Opcode::SetMeta,
                vec![Argument::Bytes(b"k"), Argument::U32(0), Argument::U32(0)],
            ),
        ];
        for (opcode, arguments) in cases {
            out.clear();
            record::encode(&mut out, 1, 1, opcode, &arguments).unwrap();
            let (record, _) = record::decode(&out).unwrap();
            assert_eq!(decode(&record), Err(Malformed), "{opcode:?}");
        }
    }
}
