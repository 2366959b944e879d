//! memcached's meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`) executed against a real
//! keyspace. They share the text codec (`net::memcache::text::process`), so this target
//! differs from `memcache_text` in what it feeds: every line of the input is made a meta
//! command: a line whose first byte is 0 to 5 becomes `mg`, `ms`, `md`, `ma`, `mn` or `me`
//! followed by the rest of the line, so the fuzzer spends its time on the meta flags (`q`,
//! `k`, `O`, `N`, `I`, `M`, `E`, ...) rather than on spelling the verbs. Other lines (the
//! data blocks of `ms`, or text commands) pass as they are.
//!
//! Asserts what `memcache_text` asserts: the codec's contract on every call, and the same
//! replies whether the bytes arrive at once or in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::protocol::Protocol;
use workingdb_fuzz::chunk_size_for;

const VERBS: [&[u8]; 6] = [b"mg ", b"ms ", b"md ", b"ma ", b"mn", b"me "];

fuzz_target!(|input: &[u8]| {
    let mut commands = Vec::with_capacity(input.len() + input.len() / 4);
    for line in input.split_inclusive(|&b| b == b'\n') {
        match line.split_first() {
            Some((&first, rest)) if usize::from(first) < VERBS.len() => {
                commands.extend_from_slice(VERBS[usize::from(first)]);
                commands.extend_from_slice(rest);
            }
            _ => commands.extend_from_slice(line),
        }
    }
    workingdb_fuzz::check_memcache_split(Protocol::MemcacheText, &commands, chunk_size_for(input));
});
