//! # record: the append-only file's unit, and how it is checked
//!
//! A record is one mutation's *effect* on the keyspace (never the command that caused it:
//! relative TTLs are already absolute times, a `SET` that lost its `NX` race is not logged).
//! It carries the version the engine drew for that effect, so replay can apply records in
//! version order and reproduce exactly what clients saw, however many threads wrote.
//!
//! ## Layout (all integers little-endian)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | `length`: bytes after this field (checksum + body), at most [`RECORD_BYTES_MAX`] |
//! | 4 | 8 | `crc`: CRC-64/NVME of the length field and the body |
//! | 12 | 8 | `version` |
//! | 20 | 8 | `timestamp_ms`: wall-clock time of the write, milliseconds since the Unix epoch |
//! | 28 | 1 | `opcode` ([`Opcode`]) |
//! | 29 | 1 | `db`: the numbered database the effect belongs to (0 in logs written before there
//! |    |   | were several; a server with `databases N` refuses a record of a database past N) |
//! | 30 | 2 | `argument_count`, at most [`ARGUMENTS_MAX`] |
//! | 32 | … | each argument: 4-byte length, then its bytes |
//!
//! ## Checking
//!
//! The checksum covers the length too, so a corrupted length cannot make a reader accept a
//! wrong span. CRC-64/NVME (polynomial 0xAD93D23594C93659, reflected, the NVMe
//! specification's and the Linux kernel's `crc64_rocksoft`) was chosen over Redis's
//! CRC-64/Jones because `crc-fast` computes it with carry-less multiplication at memory speed;
//! either detects every burst error up to 64 bits. [`encode`] checks the record it wrote by
//! decoding it again before handing it out (the pairing STYLE.md asks for around storage),
//! and [`decode`] checks every record it reads.
//!
//! [`decode`] tells a *torn* record (the file ends inside it: the expected state after a
//! crash mid-write, cut off at replay) from a *corrupt* one (its bytes are all there but do
//! not check out), because replay treats them differently: a torn tail is truncated with a
//! warning, corruption in the middle of the file stops the start-up.

use crc_fast::CrcAlgorithm;

/// Bytes of the length field.
pub const LENGTH_BYTES: usize = 4;
/// Bytes of the fixed part after the length: checksum, version, timestamp, opcode, reserved,
/// argument count.
pub const FIXED_BYTES: usize = 8 + 8 + 8 + 1 + 1 + 2;
/// The smallest record.
pub const RECORD_BYTES_MIN: usize = LENGTH_BYTES + FIXED_BYTES;
/// The largest record body (what `length` may say): a 512 MiB value (Redis's
/// `proto-max-bulk-len`) plus a maximal key and room for the other arguments.
pub const RECORD_BYTES_MAX: usize = 512 * 1024 * 1024 + 64 * 1024;
/// The most arguments a record carries (a multi-element `LPUSH` is split into several
/// records beyond this).
pub const ARGUMENTS_MAX: usize = u16::MAX as usize;

/// The highest version a record may carry: 2^63 - 1. Replay moves the engine's version clock
/// past the highest version in the log, and every later write adds one; a log claiming
/// `u64::MAX` would make the next write overflow the clock (a panic with debug assertions, a
/// wrap to version 0 without, breaking the order CAS, WATCH and replay rely on). Counting from
/// 0 at a billion writes a second takes 292 years to get here, so a record past it is
/// corrupt (replay checks [`version_fits`]; the format itself carries any `u64`). The
/// aof_replay fuzz target found the overflow.
pub const VERSION_MAX: u64 = i64::MAX as u64;

/// Whether a record's version leaves the version clock room to count on (see
/// [`VERSION_MAX`]).
pub fn version_fits(version: u64) -> bool {
    version <= VERSION_MAX
}

const _: () = assert!(RECORD_BYTES_MAX < u32::MAX as usize);
const _: () = assert!(RECORD_BYTES_MIN == 32);

/// What a record does. The arguments of each are listed; numbers are little-endian.
///
/// The numbers are the on-disk format: never renumbered nor reused. Each opcode belongs to
/// one data type's file in [`crate::effect`] (`keys`, `string`, `list`), which alone builds and
/// reads its arguments; a new type takes the next free numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// `key, value, flags: u32, expire_at_ms: u64`: the key now holds this string.
    PutString = 1,
    /// `key`: the key is gone (DEL, expiry, eviction, a list popped empty).
    Delete = 2,
    /// `key, flags: u32, expire_at_ms: u64`: the key's metadata changed, its value did not.
    SetMeta = 3,
    /// `key, end: u8 (0 left, 1 right), element...`: elements pushed one by one.
    ListPush = 4,
    /// `key, end: u8, count: u64`: up to `count` elements popped.
    ListPop = 5,
    /// `key, index: i64, element`: one element replaced.
    ListSet = 6,
    /// `key, count: i64, element`: `LREM` semantics.
    ListRemove = 7,
    /// `key, start: i64, stop: i64`: `LTRIM` semantics.
    ListTrim = 8,
    /// `key, position: u8 (0 before, 1 after), pivot, element`: `LINSERT` semantics.
    ListInsert = 9,
    /// `key, expire_at_ms: u64, element...`: the key now holds this whole list (rewrite).
    PutList = 10,
    /// no arguments: every key is gone.
    Flush = 11,
    /// `key, value`: the key now holds this string, with flags 0 and no expiry. The common
    /// case of [`Opcode::PutString`] (a plain `SET`), 20 bytes shorter.
    PutPlainString = 12,
    /// `map` (one byte per logical database: the physical database it names): `SWAPDB`'s
    /// map from the numbers clients select to the databases records are tagged with. The
    /// record's `version` is the map's epoch and its `db` is 0; replay keeps the map of the
    /// highest epoch (see `keyspace::databases`).
    DatabaseMap = 13,
}

impl Opcode {
    /// The opcode with this byte.
    pub fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::PutString,
            2 => Self::Delete,
            3 => Self::SetMeta,
            4 => Self::ListPush,
            5 => Self::ListPop,
            6 => Self::ListSet,
            7 => Self::ListRemove,
            8 => Self::ListTrim,
            9 => Self::ListInsert,
            10 => Self::PutList,
            11 => Self::Flush,
            12 => Self::PutPlainString,
            13 => Self::DatabaseMap,
            _ => return None,
        })
    }
}

/// A decoded record, borrowing its arguments from the buffer it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// The version the engine drew for this effect.
    pub version: u64,
    /// The database it belongs to.
    pub db: u8,
    /// When it was written.
    pub timestamp_ms: u64,
    /// What it does.
    pub opcode: Opcode,
    /// Its arguments.
    pub arguments: Vec<&'a [u8]>,
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The buffer ends inside the record: `needed` bytes in all would complete it.
    Torn {
        /// The record's full size, when its length field was readable.
        needed: Option<usize>,
    },
    /// The record's bytes are present but wrong.
    Corrupt(Corruption),
}

/// The ways a complete record can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// The length field is below the minimum or above [`RECORD_BYTES_MAX`].
    Length,
    /// The checksum does not match.
    Checksum,
    /// The checksum matches but the body does not parse (unknown opcode, a reserved byte set,
    /// arguments that do not add up): a bug in a writer, not a disk error.
    Body,
}

/// An argument to [`encode`].
#[derive(Debug, Clone, Copy)]
pub enum Argument<'a> {
    /// Bytes as they are.
    Bytes(&'a [u8]),
    /// A `u64`, as 8 little-endian bytes.
    U64(u64),
    /// An `i64`, as 8 little-endian bytes.
    I64(i64),
    /// A `u32`, as 4 little-endian bytes.
    U32(u32),
    /// A `u8`.
    U8(u8),
}

impl Argument<'_> {
    fn len(&self) -> usize {
        match self {
            Argument::Bytes(bytes) => bytes.len(),
            Argument::U64(_) | Argument::I64(_) => 8,
            Argument::U32(_) => 4,
            Argument::U8(_) => 1,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Argument::Bytes(bytes) => out.extend_from_slice(bytes),
            Argument::U64(value) => out.extend_from_slice(&value.to_le_bytes()),
            Argument::I64(value) => out.extend_from_slice(&value.to_le_bytes()),
            Argument::U32(value) => out.extend_from_slice(&value.to_le_bytes()),
            Argument::U8(value) => out.push(*value),
        }
    }
}

/// Why [`encode`] refused a record (operating errors: the caller splits or refuses the
/// write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TooLarge {
    /// More than [`ARGUMENTS_MAX`] arguments.
    Arguments,
    /// A body over [`RECORD_BYTES_MAX`].
    Bytes,
}

fn checksum(length_field: &[u8], body: &[u8]) -> u64 {
    let mut digest = crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme);
    digest.update(length_field);
    digest.update(body);
    digest.finalize()
}

/// Appends one record of database 0 to `out` and returns its size.
pub fn encode(
    out: &mut Vec<u8>,
    version: u64,
    timestamp_ms: u64,
    opcode: Opcode,
    arguments: &[Argument<'_>],
) -> Result<usize, TooLarge> {
    encode_in(out, 0, version, timestamp_ms, opcode, arguments)
}

/// Appends one record of database `db` to `out` and returns its size.
pub fn encode_in(
    out: &mut Vec<u8>,
    db: u8,
    version: u64,
    timestamp_ms: u64,
    opcode: Opcode,
    arguments: &[Argument<'_>],
) -> Result<usize, TooLarge> {
    if arguments.len() > ARGUMENTS_MAX {
        return Err(TooLarge::Arguments);
    }
    let body_bytes = FIXED_BYTES + arguments.iter().map(|a| 4 + a.len()).sum::<usize>();
    if body_bytes > RECORD_BYTES_MAX {
        return Err(TooLarge::Bytes);
    }
    let start = out.len();
    out.reserve(LENGTH_BYTES + body_bytes);
    out.extend_from_slice(&(body_bytes as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]); // the checksum, filled in below
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    out.push(opcode as u8);
    out.push(db);
    out.extend_from_slice(&(arguments.len() as u16).to_le_bytes());
    for argument in arguments {
        out.extend_from_slice(&(argument.len() as u32).to_le_bytes());
        argument.write(out);
    }
    let crc = checksum(&out[start..start + 4], &out[start + 12..]);
    out[start + 4..start + 12].copy_from_slice(&crc.to_le_bytes());
    let size = out.len() - start;
    assert_eq!(
        size,
        LENGTH_BYTES + body_bytes,
        "record size computed wrongly"
    );
    // Check the record right before it is written: it must read back as what we meant. The
    // walk allocates nothing, so the check costs a second CRC pass and no more.
    let mut counted = 0;
    let read_back =
        walk(&out[start..], Checksum::Check, |_| counted += 1).expect("a record we just encoded");
    assert!(
        read_back.size == size
            && read_back.version == version
            && read_back.db == db
            && read_back.timestamp_ms == timestamp_ms
            && read_back.opcode == opcode
            && read_back.argument_count == arguments.len()
            && counted == arguments.len(),
        "an encoded record does not read back"
    );
    Ok(size)
}

fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

fn read_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// What [`walk`] read of a record besides its arguments.
struct Header {
    version: u64,
    db: u8,
    timestamp_ms: u64,
    opcode: Opcode,
    argument_count: usize,
    size: usize,
}

/// Checks the record at the start of `input` and hands each argument to `visit`, without
/// allocating: [`decode`] collects them, [`encode`]'s read-back check only counts them.
fn walk<'a>(
    input: &'a [u8],
    checksum_check: Checksum,
    mut visit: impl FnMut(&'a [u8]),
) -> Result<Header, Defect> {
    if input.len() < LENGTH_BYTES {
        return Err(Defect::Torn { needed: None });
    }
    let length = read_u32(input) as usize;
    if !(FIXED_BYTES..=RECORD_BYTES_MAX).contains(&length) {
        return Err(Defect::Corrupt(Corruption::Length));
    }
    let size = LENGTH_BYTES + length;
    if input.len() < size {
        return Err(Defect::Torn { needed: Some(size) });
    }
    let stored = read_u64(&input[4..]);
    if checksum_check == Checksum::Check && checksum(&input[..4], &input[12..size]) != stored {
        return Err(Defect::Corrupt(Corruption::Checksum));
    }
    let body = &input[12..size];
    let corrupt = Err(Defect::Corrupt(Corruption::Body));
    let version = read_u64(body);
    let timestamp_ms = read_u64(&body[8..]);
    let Some(opcode) = Opcode::from_byte(body[16]) else {
        return corrupt;
    };
    let db = body[17];
    let argument_count = usize::from(u16::from_le_bytes([body[18], body[19]]));
    let mut position = 20;
    for _ in 0..argument_count {
        let Some(header) = body.get(position..position + 4) else {
            return corrupt;
        };
        let argument_length = read_u32(header) as usize;
        let start = position + 4;
        let Some(argument) = body.get(start..start + argument_length) else {
            return corrupt;
        };
        visit(argument);
        position = start + argument_length;
    }
    if position != body.len() {
        return corrupt;
    }
    Ok(Header {
        version,
        db,
        timestamp_ms,
        opcode,
        argument_count,
        size,
    })
}

/// Whether a read verifies the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// Verify it: every first read of bytes from storage.
    Check,
    /// Trust it: only for bytes this process read with [`Checksum::Check`] before and that
    /// cannot have changed since (replay's second pass over its read-only map). Everything
    /// else (length, opcode, argument bounds) is still checked, so a wrong trust can yield a
    /// wrong record but never a read out of bounds.
    Trust,
}

/// Reads the record at the start of `input`: the record and its size, or what is wrong.
pub fn decode(input: &[u8]) -> Result<(Record<'_>, usize), Defect> {
    decode_into(input, Checksum::Check, Vec::new())
}

/// [`decode`], collecting the arguments into `arguments` (cleared first) so that a loop over
/// many records reuses one allocation: take it back from the returned record's `arguments`.
pub fn decode_into<'a>(
    input: &'a [u8],
    checksum_check: Checksum,
    mut arguments: Vec<&'a [u8]>,
) -> Result<(Record<'a>, usize), Defect> {
    arguments.clear();
    let header = walk(input, checksum_check, |argument| arguments.push(argument))?;
    let record = Record {
        version: header.version,
        db: header.db,
        timestamp_ms: header.timestamp_ms,
        opcode: header.opcode,
        arguments,
    };
    Ok((record, header.size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_database_travels_in_the_reserved_byte() {
        let mut zero = Vec::new();
        sample(&mut zero);
        assert_eq!(
            zero[29], 0,
            "database 0 records are as before databases existed"
        );
        assert_eq!(decode(&zero).unwrap().0.db, 0);
        for db in [1u8, 9, 255] {
            let mut out = Vec::new();
            let size = encode_in(
                &mut out,
                db,
                42,
                5,
                Opcode::Delete,
                &[Argument::Bytes(b"k")],
            )
            .unwrap();
            assert_eq!(out[29], db);
            let (record, read) = decode(&out).unwrap();
            assert_eq!((record.db, record.version, read), (db, 42, size));
            // The checksum covers it.
            let mut changed = out.clone();
            changed[29] ^= 1;
            assert_eq!(
                decode(&changed).map(|(_, read)| read),
                Err(Defect::Corrupt(Corruption::Checksum))
            );
        }
    }

    #[test]
    fn versions_past_the_clock_do_not_fit() {
        assert!(version_fits(0) && version_fits(VERSION_MAX));
        assert!(!version_fits(VERSION_MAX + 1) && !version_fits(u64::MAX));
    }

    fn sample(out: &mut Vec<u8>) -> usize {
        encode(
            out,
            42,
            1_700_000_000_000,
            Opcode::PutString,
            &[
                Argument::Bytes(b"key"),
                Argument::Bytes(b"value"),
                Argument::U32(7),
                Argument::U64(1_700_000_060_000),
            ],
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let mut out = Vec::new();
        let size = sample(&mut out);
        assert_eq!(size, out.len());
        let (record, read) = decode(&out).unwrap();
        assert_eq!(read, size);
        assert_eq!(record.version, 42);
        assert_eq!(record.opcode, Opcode::PutString);
        assert_eq!(record.arguments[0], b"key");
        assert_eq!(record.arguments[1], b"value");
        assert_eq!(record.arguments[2], 7u32.to_le_bytes());
    }

    #[test]
    fn a_trusted_read_skips_only_the_checksum() {
        let mut out = Vec::new();
        let size = sample(&mut out);
        // A reused vector is cleared first.
        let stale: &[u8] = b"stale";
        let (record, _) = decode_into(&out, Checksum::Check, vec![stale]).unwrap();
        assert_eq!(record.arguments.len(), 4);
        assert_eq!(record.arguments[0], b"key");
        for (byte, checked, trusted) in [
            // A checksum byte: only the check notices.
            (4, Err(Defect::Corrupt(Corruption::Checksum)), true),
            // The opcode, an argument length: both notice. (The db byte, 29, is any value.)
            (28, Err(Defect::Corrupt(Corruption::Checksum)), false),
            (32, Err(Defect::Corrupt(Corruption::Checksum)), false),
        ] {
            let mut changed = out.clone();
            changed[byte] ^= 0x40;
            assert_eq!(
                decode(&changed).map(|(_, read)| read),
                checked,
                "byte {byte}"
            );
            match decode_into(&changed, Checksum::Trust, Vec::new()) {
                Ok((record, read)) => {
                    assert!(trusted, "byte {byte}: read as {record:?}");
                    assert_eq!(read, size);
                    assert_eq!(record.arguments[1], b"value");
                }
                Err(defect) => {
                    assert!(!trusted, "byte {byte}: {defect:?}");
                    assert_eq!(defect, Defect::Corrupt(Corruption::Body));
                }
            }
        }
    }

    #[test]
    fn the_checksum_is_crc64_nvme() {
        // The catalogue's check value for CRC-64/NVME over "123456789".
        let crc = crc_fast::checksum(CrcAlgorithm::Crc64Nvme, b"123456789");
        assert_eq!(crc, 0xae8b_1486_0a79_9888);
    }

    #[test]
    fn every_truncation_is_torn() {
        let mut out = Vec::new();
        let size = sample(&mut out);
        for cut in 0..size {
            match decode(&out[..cut]) {
                Err(Defect::Torn { needed }) => {
                    assert!(needed.is_none() || needed == Some(size), "cut {cut}")
                }
                other => panic!("cut at {cut} of {size}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut out = Vec::new();
        let size = sample(&mut out);
        for bit in 0..size * 8 {
            let mut flipped = out.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            match decode(&flipped) {
                // A flip in the length may make the record look longer than the buffer.
                Err(Defect::Torn { .. }) | Err(Defect::Corrupt(_)) => {}
                Ok(_) => panic!("bit {bit} flipped and the record still checked out"),
            }
        }
    }

    #[test]
    fn limits_are_refused() {
        let mut out = Vec::new();
        let many = vec![Argument::U8(0); ARGUMENTS_MAX + 1];
        assert_eq!(
            encode(&mut out, 1, 1, Opcode::ListPush, &many),
            Err(TooLarge::Arguments)
        );
        assert!(out.is_empty());
        let mut bad_length = vec![0u8; 64];
        bad_length[..4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            decode(&bad_length),
            Err(Defect::Corrupt(Corruption::Length))
        );
    }

    proptest! {
        /// Any sequence of records decodes back in order, byte for byte.
        #[test]
        fn sequences_round_trip(
            records in proptest::collection::vec(
                (any::<u64>(), 1u8..=11, proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..5)),
                1..10,
            )
        ) {
            let mut out = Vec::new();
            for (version, opcode, arguments) in &records {
                let arguments: Vec<Argument<'_>> = arguments.iter().map(|a| Argument::Bytes(a)).collect();
                encode(&mut out, *version, 0, Opcode::from_byte(*opcode).unwrap(), &arguments).unwrap();
            }
            let mut position = 0;
            for (version, opcode, arguments) in &records {
                let (record, size) = decode(&out[position..]).unwrap();
                prop_assert_eq!(record.version, *version);
                prop_assert_eq!(record.opcode as u8, *opcode);
                let read: Vec<Vec<u8>> = record.arguments.iter().map(|a| a.to_vec()).collect();
                prop_assert_eq!(&read, arguments);
                position += size;
            }
            prop_assert_eq!(position, out.len());
        }

        /// Arbitrary bytes never panic the reader.
        #[test]
        fn arbitrary_bytes_are_refused_or_read(input in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&input);
        }
    }
}
