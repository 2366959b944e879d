//! The AOF record decoder (`persistence::record::decode`) and the effect decoder on top of it
//! (`persistence::effect::decode`).
//!
//! The first input byte is a mode: when odd, the record's checksum is repaired before
//! decoding (see `workingdb_fuzz::repair_checksums`), so the body parser is reached.
//!
//! Asserts:
//! * a record is accepted only when its checksum is right (checked with this crate's own
//!   CRC-64/NVME), and never past the input's end; a torn record asks for more bytes than
//!   there are;
//! * an accepted record encodes to itself: `record::encode_in` of its fields gives back
//!   exactly the bytes that were decoded;
//! * decoding with `Checksum::Trust` (replay's second pass) reads the same record;
//! * an accepted effect round-trips: `effect::encode_in` of it decodes to the same effect.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persistence::effect;
use persistence::record::{self, Argument, Checksum, Corruption, Defect, RECORD_BYTES_MIN};
use workingdb_fuzz::{checksum_holds, repair_checksums};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode & 1 == 1 {
        repair_checksums(&mut bytes);
    }
    match record::decode(&bytes) {
        Ok((found, size)) => {
            assert!((RECORD_BYTES_MIN..=bytes.len()).contains(&size));
            assert_eq!(
                checksum_holds(&bytes),
                Some(size),
                "accepted a record whose checksum does not hold"
            );
            let arguments: Vec<Argument<'_>> = found
                .arguments
                .iter()
                .map(|argument| Argument::Bytes(argument))
                .collect();
            let mut encoded = Vec::new();
            let written = record::encode_in(
                &mut encoded,
                found.db,
                found.version,
                found.timestamp_ms,
                found.opcode,
                &arguments,
            )
            .expect("a record that decoded fits the limits");
            assert_eq!(written, size);
            assert!(
                encoded == bytes[..size],
                "a record does not encode to itself"
            );
            let trusted = record::decode_into(&bytes, Checksum::Trust, Vec::new());
            assert_eq!(trusted, Ok((found.clone(), size)));

            if let Ok(decoded) = effect::decode(&found) {
                let mut encoded = Vec::new();
                effect::encode_in(
                    &mut encoded,
                    found.db,
                    found.version,
                    found.timestamp_ms,
                    &decoded,
                )
                .expect("an effect that decoded fits the limits");
                // One record here: an effect that decoded from one record never needs more.
                let (again, size) = record::decode(&encoded).expect("an encoded effect decodes");
                assert_eq!(size, encoded.len(), "one effect, one record");
                assert_eq!(effect::decode(&again), Ok(decoded));
                assert_eq!(
                    (again.db, again.version, again.timestamp_ms),
                    (found.db, found.version, found.timestamp_ms)
                );
            }
        }
        Err(Defect::Torn { needed }) => {
            if let Some(needed) = needed {
                assert!(needed > bytes.len());
            }
        }
        Err(Defect::Corrupt(Corruption::Checksum)) => {
            assert_eq!(checksum_holds(&bytes), None, "refused a right checksum");
        }
        Err(Defect::Corrupt(Corruption::Length | Corruption::Body)) => {}
    }
});
