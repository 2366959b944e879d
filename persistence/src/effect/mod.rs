//! # effect: keyspace effects as records, and back, one file per data type
//!
//! [`encode`] writes an [`Effect`] as a record; [`decode`] reads one back. Each direction
//! checks what it can: `encode` inherits the record's read-back check, and `decode` refuses a
//! record whose arguments do not fit its opcode ([`Malformed`]), which replay treats as
//! corruption of a checked record (a writer bug, since the checksum matched).
//!
//! ## One file per data type
//!
//! The opcodes ([`Opcode`], the on-disk numbers, in `record`) are owned by the file of the
//! data type whose effects they carry, and only that file builds or reads their arguments:
//!
//! * [`keys`]: what applies to a key of any type or to a whole database: `Delete`, `SetMeta`
//!   (flags and expiry), `Flush`;
//! * [`string`]: `PutString`, `PutPlainString`;
//! * [`list`]: the list effects and `PutList`, and the splitting of a list too long for one
//!   record.
//!
//! This file only dispatches: an effect to the encoder of its type, an opcode to the decoder
//! of its type. A new data type (hash, set, sorted set, stream) adds its file, its opcodes at
//! the next free numbers in [`Opcode`] (numbers are never reused: old logs must load), its
//! `OPCODES` list, and one arm in each dispatch below; the test at the end checks that every
//! opcode has exactly one owner.

pub mod keys;
pub mod list;
pub mod string;

use crate::record::{self, Opcode, Record, TooLarge};
use keyspace::Effect;

pub use list::LIST_ELEMENTS_PER_RECORD_MAX;

/// [`encode_in`] for database 0.
pub fn encode(
    out: &mut Vec<u8>,
    version: u64,
    timestamp_ms: u64,
    effect: &Effect<'_>,
) -> Result<usize, TooLarge> {
    encode_in(out, 0, version, timestamp_ms, effect)
}

/// Where a type's encoder writes: the record's database, version and time, and the buffer.
pub struct Out<'o> {
    out: &'o mut Vec<u8>,
    db: u8,
    version: u64,
    timestamp_ms: u64,
}

impl Out<'_> {
    /// Appends one record of `opcode` with `arguments`; returns its size.
    pub fn write(
        &mut self,
        opcode: Opcode,
        arguments: &[record::Argument<'_>],
    ) -> Result<usize, TooLarge> {
        record::encode_in(
            self.out,
            self.db,
            self.version,
            self.timestamp_ms,
            opcode,
            arguments,
        )
    }
}

/// Appends the record of `effect` in database `db` to `out` (several records for a list too
/// long for one: see [`list`]); returns the bytes appended.
pub fn encode_in(
    out: &mut Vec<u8>,
    db: u8,
    version: u64,
    timestamp_ms: u64,
    effect: &Effect<'_>,
) -> Result<usize, TooLarge> {
    let mut out = Out {
        out,
        db,
        version,
        timestamp_ms,
    };
    match effect {
        Effect::PutString { .. } => string::encode(&mut out, effect),
        Effect::SetMeta { .. }
        | Effect::Delete { .. }
        | Effect::Flush
        | Effect::DatabaseMap { .. } => keys::encode(&mut out, effect),
        Effect::ListPush { .. }
        | Effect::ListPop { .. }
        | Effect::ListSet { .. }
        | Effect::ListRemove { .. }
        | Effect::ListTrim { .. }
        | Effect::ListInsert { .. }
        | Effect::PutList { .. } => list::encode(&mut out, effect),
    }
}

/// A record whose checksum matched but whose arguments do not fit its opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], Malformed> {
    bytes.try_into().map_err(|_| Malformed)
}

/// An 8-byte little-endian `u64` argument.
pub(crate) fn u64_of(bytes: &[u8]) -> Result<u64, Malformed> {
    fixed(bytes).map(u64::from_le_bytes)
}

/// An 8-byte little-endian `i64` argument.
pub(crate) fn i64_of(bytes: &[u8]) -> Result<i64, Malformed> {
    fixed(bytes).map(i64::from_le_bytes)
}

/// A 4-byte little-endian `u32` argument.
pub(crate) fn u32_of(bytes: &[u8]) -> Result<u32, Malformed> {
    fixed(bytes).map(u32::from_le_bytes)
}

/// The effect a decoded record describes, borrowing from it.
pub fn decode<'r>(record: &'r Record<'_>) -> Result<Effect<'r>, Malformed> {
    let arguments = record.arguments.as_slice();
    match record.opcode {
        Opcode::PutString | Opcode::PutPlainString => string::decode(record.opcode, arguments),
        Opcode::Delete | Opcode::SetMeta | Opcode::Flush | Opcode::DatabaseMap => {
            keys::decode(record.opcode, arguments)
        }
        Opcode::ListPush
        | Opcode::ListPop
        | Opcode::ListSet
        | Opcode::ListRemove
        | Opcode::ListTrim
        | Opcode::ListInsert
        | Opcode::PutList => list::decode(record.opcode, arguments),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Argument;
    use engine::Meta;
    use keyspace::{End, ListPosition};

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
        round_trip(Effect::DatabaseMap { map: &[2, 0, 1] });
    }

    #[test]
    fn every_opcode_has_exactly_one_owner() {
        let owners = [keys::OPCODES, string::OPCODES, list::OPCODES];
        for byte in 0..=u8::MAX {
            let Some(opcode) = Opcode::from_byte(byte) else {
                continue;
            };
            let count = owners
                .iter()
                .filter(|owned| owned.contains(&opcode))
                .count();
            assert_eq!(count, 1, "{opcode:?} must belong to one data type's file");
        }
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
