//! # keys: effects on a key of any type, and on a whole database
//!
//! `Delete` (DEL, expiry, a list popped empty, the source of a RENAME), `SetMeta` (a key's
//! flags and expiry changed, its value did not: EXPIRE, PERSIST, memcached `touch`) and
//! `Flush` (FLUSHDB; FLUSHALL is one per database), and `DatabaseMap` (SWAPDB's map from
//! database numbers to databases).

use super::{u32_of, u64_of, Malformed, Out};
use crate::record::{Argument, Opcode, TooLarge};
use engine::Meta;
use keyspace::Effect;

/// The opcodes this file owns.
pub const OPCODES: &[Opcode] = &[
    Opcode::Delete,
    Opcode::SetMeta,
    Opcode::Flush,
    Opcode::DatabaseMap,
];

/// Appends the record of a key-level effect.
pub(super) fn encode(out: &mut Out<'_>, effect: &Effect<'_>) -> Result<usize, TooLarge> {
    use Argument::{Bytes, U32, U64};
    match *effect {
        Effect::SetMeta { key, meta } => out.write(
            Opcode::SetMeta,
            &[Bytes(key), U32(meta.flags), U64(meta.expire_at_ms)],
        ),
        Effect::Delete { key } => out.write(Opcode::Delete, &[Bytes(key)]),
        Effect::Flush => out.write(Opcode::Flush, &[]),
        Effect::DatabaseMap { map } => out.write(Opcode::DatabaseMap, &[Bytes(map)]),
        _ => unreachable!("not a key-level effect: {effect:?}"),
    }
}

/// The effect of a record with one of [`OPCODES`].
pub(super) fn decode<'r>(
    opcode: Opcode,
    arguments: &'r [&'r [u8]],
) -> Result<Effect<'r>, Malformed> {
    Ok(match (opcode, arguments) {
        (Opcode::SetMeta, [key, flags, expire]) => Effect::SetMeta {
            key,
            meta: Meta {
                flags: u32_of(flags)?,
                expire_at_ms: u64_of(expire)?,
            },
        },
        (Opcode::Delete, [key]) => Effect::Delete { key },
        (Opcode::Flush, []) => Effect::Flush,
        (Opcode::DatabaseMap, [map]) if !map.is_empty() => Effect::DatabaseMap { map },
        _ => return Err(Malformed),
    })
}
