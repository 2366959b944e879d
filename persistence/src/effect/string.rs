//! # string: the string type's effects
//!
//! One effect, `PutString` (the key now holds this string: SET, INCR's result, APPEND's,
//! memcached `set`), written as one of two opcodes: `PutPlainString` for the common case of no
//! flags and no expiry (a plain `SET`, 20 bytes shorter), `PutString` otherwise.

use super::{u32_of, u64_of, Malformed, Out};
use crate::record::{Argument, Opcode, TooLarge};
use engine::Meta;
use keyspace::Effect;

/// The opcodes this file owns.
pub const OPCODES: &[Opcode] = &[Opcode::PutString, Opcode::PutPlainString];

/// Appends the record of a string effect.
pub(super) fn encode(out: &mut Out<'_>, effect: &Effect<'_>) -> Result<usize, TooLarge> {
    use Argument::{Bytes, U32, U64};
    match *effect {
        Effect::PutString { key, value, meta } if meta == Meta::default() => {
            out.write(Opcode::PutPlainString, &[Bytes(key), Bytes(value)])
        }
        Effect::PutString { key, value, meta } => out.write(
            Opcode::PutString,
            &[
                Bytes(key),
                Bytes(value),
                U32(meta.flags),
                U64(meta.expire_at_ms),
            ],
        ),
        _ => unreachable!("not a string effect: {effect:?}"),
    }
}

/// The effect of a record with one of [`OPCODES`].
pub(super) fn decode<'r>(
    opcode: Opcode,
    arguments: &'r [&'r [u8]],
) -> Result<Effect<'r>, Malformed> {
    Ok(match (opcode, arguments) {
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
        _ => return Err(Malformed),
    })
}
