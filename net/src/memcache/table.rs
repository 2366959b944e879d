//! # The memcached command tables
//!
//! One [`TextRow`] per text verb and meta command, one [`BinaryRow`] per binary opcode, each
//! saying everything the dispatcher needs: the name (and opcode), the facts that decide what
//! happens before the handler runs ([`flag`]s, and for binary requests the [`Shape`] of
//! extras, key and value the opcode takes), and the handler. The text and binary codecs
//! (`text.rs`, `binary.rs`) frame a request, look its row up once and call through it; no
//! verb or opcode is matched a second time anywhere. The handlers live with their family:
//! [`storage`](super::storage), [`retrieval`](super::retrieval),
//! [`arithmetic`](super::arithmetic), [`keys`](super::keys) (delete and touch),
//! [`server`](super::server) (stats, flush, version, ...) and [`meta`](super::meta).
//!
//! The handlers are generic over the engine, so the rows are too; they are associated
//! constants of [`Table`], built by the compiler once per engine, with no start-up work and no
//! allocation. Quiet binary opcodes (`GETQ`, `SETQ`, ...) share their loud twin's handler and
//! differ only in the [`flag::QUIET`] fact, as memcached's own protocol description pairs them.

use super::arithmetic;
use super::binary::Header;
use super::keys;
use super::meta;
use super::retrieval;
use super::server;
use super::storage;
use crate::session::Session;
use engine::Engine;
use keyspace::Value;
use std::marker::PhantomData;

/// What the dispatcher must know about a command before running it, as bits.
pub mod flag {
    /// May modify the keyspace: refused with memcached's `SERVER_ERROR` while the
    /// append-only file cannot be written.
    pub const WRITE: u8 = 1 << 0;
    /// A text command followed by a data block: the handler frames the block, and a refused
    /// write is answered only once the block is consumed (so it is not read as commands).
    pub const DATA: u8 = 1 << 1;
    /// A quiet binary opcode: the common reply is left out.
    pub const QUIET: u8 = 1 << 2;
    /// A binary retrieval whose reply carries the key (`GETK`, `GATK`, ...).
    pub const WITH_KEY: u8 = 1 << 3;
    /// An unconditional store (`SET`): when its value is refused as too large, the old value
    /// is removed as well, so no reader sees data older than a write that failed (memcached's
    /// rule; the conditional stores keep the old value).
    pub const DROP_ON_TOO_LARGE: u8 = 1 << 4;
    /// Runs under the keyspace's exclusive lock (`flush_all`); every other command is a
    /// single-key operation and runs under the shared one (see [`crate::lock`]).
    pub const EXCLUSIVE: u8 = 1 << 5;
}

/// The keyspace lock a row with these [`flag`] bits runs under.
pub fn lock_mode(flags: u8) -> keyspace::Mode {
    if flags & flag::EXCLUSIVE != 0 {
        keyspace::Mode::Exclusive
    } else {
        keyspace::Mode::Shared
    }
}

/// What one text command did with the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Consumed this many bytes.
    Done(usize),
    /// Needs this many bytes in total (from the start of the request) before it can run.
    Incomplete(usize),
    /// Consumed this many bytes, and the next `swallow` bytes that arrive are to be
    /// discarded (the data of an item that was too large).
    Swallow(usize, usize),
    /// Close the connection after flushing (`quit`).
    Close,
}

/// Whether a binary connection goes on after a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Close after flushing (`QUIT`).
    Close,
}

/// A text request as its handler sees it.
#[derive(Debug)]
pub struct TextRequest<'a> {
    /// The input from the first byte of the command line: a data block follows the line.
    pub input: &'a [u8],
    /// The line's tokens; the first is the verb.
    pub tokens: &'a [&'a [u8]],
    /// The bytes of the command line, line ending included.
    pub line_bytes: usize,
}

impl TextRequest<'_> {
    /// Whether the last token is `noreply` (memcached's `set_noreply_maybe`).
    pub fn noreply(&self) -> bool {
        self.tokens.len() > 1 && self.tokens.last() == Some(&&b"noreply"[..])
    }

    /// The whole line consumed.
    pub fn done(&self) -> Step {
        Step::Done(self.line_bytes)
    }
}

/// Runs one text command: writes its reply and says what it consumed.
pub type TextHandler<E> = fn(&mut Session<'_, E>, &TextRequest<'_>) -> Step;

/// One text verb or meta command.
pub struct TextRow<E: Engine<Value = Value>> {
    /// The verb, as clients send it (memcached's verbs are case-sensitive).
    pub name: &'static str,
    /// [`flag`] bits.
    pub flags: u8,
    /// Runs it.
    pub handler: TextHandler<E>,
}

impl<E: Engine<Value = Value>> TextRow<E> {
    /// Whether every flag in `bits` is set.
    pub fn has(&self, bits: u8) -> bool {
        self.flags & bits == bits
    }
}

/// A binary request as its handler sees it: the header and the three parts of the body,
/// already checked against the row's [`Shape`].
#[derive(Debug)]
pub struct BinaryRequest<'a> {
    /// The header.
    pub header: Header,
    /// The row's [`flag`] bits (quiet, with key).
    pub flags: u8,
    /// The extras.
    pub extras: &'a [u8],
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
}

impl BinaryRequest<'_> {
    /// A quiet opcode.
    pub fn quiet(&self) -> bool {
        self.flags & flag::QUIET != 0
    }

    /// The key when the reply carries it, else nothing.
    pub fn returned_key(&self) -> &[u8] {
        if self.flags & flag::WITH_KEY != 0 {
            self.key
        } else {
            &[]
        }
    }

    /// The CAS unique the request asks to match, if any (0 means none).
    pub fn cas(&self) -> Option<u64> {
        (self.header.cas != 0).then_some(self.header.cas)
    }
}

/// Runs one binary request: writes its responses and says whether the connection goes on.
pub type BinaryHandler<E> = fn(&mut Session<'_, E>, &BinaryRequest<'_>) -> Flow;

/// The extras an opcode takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extras {
    /// Exactly this many bytes.
    Exactly(usize),
    /// None, or this many bytes (`FLUSH`'s optional delay).
    NoneOr(usize),
    /// Anything (ignored).
    Any,
}

/// The key an opcode takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRule {
    /// A valid key (1 to 250 bytes).
    Required,
    /// No key.
    Absent,
    /// Anything (`STAT`'s group name; ignored elsewhere).
    Any,
}

/// The body an opcode accepts; anything else gets status "invalid arguments".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Its extras.
    pub extras: Extras,
    /// Its key.
    pub key: KeyRule,
    /// Whether it may carry a value.
    pub value: bool,
}

impl Shape {
    /// Whether a body of these parts fits.
    pub fn fits(&self, extras: &[u8], key: &[u8], value: &[u8]) -> bool {
        let extras_fit = match self.extras {
            Extras::Exactly(length) => extras.len() == length,
            Extras::NoneOr(length) => extras.is_empty() || extras.len() == length,
            Extras::Any => true,
        };
        let key_fits = match self.key {
            KeyRule::Required => super::valid_key(key),
            KeyRule::Absent => key.is_empty(),
            KeyRule::Any => true,
        };
        extras_fit && key_fits && (self.value || value.is_empty())
    }
}

/// A key and nothing else (`GET`, `DELETE`).
const KEY_ONLY: Shape = Shape {
    extras: Extras::Exactly(0),
    key: KeyRule::Required,
    value: false,
};
/// A key with a 4-byte exptime (`TOUCH`, `GAT`).
const KEY_EXPTIME: Shape = Shape {
    extras: Extras::Exactly(4),
    key: KeyRule::Required,
    value: false,
};
/// Flags and exptime, key and value (`SET`, `ADD`, `REPLACE`).
const STORE: Shape = Shape {
    extras: Extras::Exactly(8),
    key: KeyRule::Required,
    value: true,
};
/// Key and value (`APPEND`, `PREPEND`).
const CONCATENATE: Shape = Shape {
    extras: Extras::Exactly(0),
    key: KeyRule::Required,
    value: true,
};
/// Delta, initial value and exptime, and a key (`INCREMENT`, `DECREMENT`).
const ARITHMETIC: Shape = Shape {
    extras: Extras::Exactly(20),
    key: KeyRule::Required,
    value: false,
};
/// An optional delay and nothing else (`FLUSH`).
const FLUSH: Shape = Shape {
    extras: Extras::NoneOr(4),
    key: KeyRule::Absent,
    value: false,
};
/// Anything, ignored (`NOOP`, `VERSION`, `QUIT`, `STAT`).
const ANY: Shape = Shape {
    extras: Extras::Any,
    key: KeyRule::Any,
    value: true,
};
/// A 4-byte level (`VERBOSITY`).
const LEVEL: Shape = Shape {
    extras: Extras::Exactly(4),
    key: KeyRule::Any,
    value: true,
};

/// One binary opcode.
pub struct BinaryRow<E: Engine<Value = Value>> {
    /// The opcode.
    pub opcode: u8,
    /// Its name in memcached's protocol description.
    pub name: &'static str,
    /// [`flag`] bits.
    pub flags: u8,
    /// The body it takes.
    pub shape: Shape,
    /// Runs it.
    pub handler: BinaryHandler<E>,
}

impl<E: Engine<Value = Value>> BinaryRow<E> {
    /// Whether every flag in `bits` is set.
    pub fn has(&self, bits: u8) -> bool {
        self.flags & bits == bits
    }
}

/// The tables, per engine.
pub struct Table<E>(PhantomData<E>);

/// A text row.
const fn text<E: Engine<Value = Value>>(
    name: &'static str,
    flags: u8,
    handler: TextHandler<E>,
) -> TextRow<E> {
    TextRow {
        name,
        flags,
        handler,
    }
}

/// A binary row.
const fn binary<E: Engine<Value = Value>>(
    opcode: u8,
    name: &'static str,
    flags: u8,
    shape: Shape,
    handler: BinaryHandler<E>,
) -> BinaryRow<E> {
    BinaryRow {
        opcode,
        name,
        flags,
        shape,
        handler,
    }
}

use flag::{DATA, DROP_ON_TOO_LARGE, EXCLUSIVE, QUIET, WITH_KEY, WRITE};

impl<E: Engine<Value = Value>> Table<E> {
    /// Every text verb and meta command memcached 1.6 serves, the most frequent first (the
    /// lookup scans in order).
    pub const TEXT: &'static [TextRow<E>] = &[
        text("get", 0, retrieval::get),
        text("set", WRITE | DATA, storage::set),
        text("mg", 0, meta::get),
        text("ms", WRITE | DATA, meta::set),
        text("gets", 0, retrieval::gets),
        text("delete", WRITE, keys::delete),
        text("incr", WRITE, arithmetic::incr),
        text("decr", WRITE, arithmetic::decr),
        text("add", WRITE | DATA, storage::add),
        text("replace", WRITE | DATA, storage::replace),
        text("append", WRITE | DATA, storage::append),
        text("prepend", WRITE | DATA, storage::prepend),
        text("cas", WRITE | DATA, storage::cas),
        text("touch", WRITE, keys::touch),
        text("gat", WRITE, retrieval::gat),
        text("gats", WRITE, retrieval::gats),
        text("md", WRITE, meta::delete),
        text("ma", WRITE, meta::arithmetic),
        text("mn", 0, meta::noop),
        text("me", 0, meta::debug),
        text("flush_all", WRITE | EXCLUSIVE, server::flush_all),
        text("stats", 0, server::stats),
        text("version", 0, server::version),
        text("verbosity", 0, server::verbosity),
        text("quit", 0, server::quit),
        text("shutdown", 0, server::shutdown),
    ];

    /// Every binary opcode we serve, in opcode order; others get "unknown command".
    pub const BINARY: &'static [BinaryRow<E>] = &[
        binary(0x00, "GET", 0, KEY_ONLY, retrieval::binary_get),
        binary(
            0x01,
            "SET",
            WRITE | DROP_ON_TOO_LARGE,
            STORE,
            storage::binary_set,
        ),
        binary(0x02, "ADD", WRITE, STORE, storage::binary_add),
        binary(0x03, "REPLACE", WRITE, STORE, storage::binary_replace),
        binary(0x04, "DELETE", WRITE, KEY_ONLY, keys::binary_delete),
        binary(
            0x05,
            "INCREMENT",
            WRITE,
            ARITHMETIC,
            arithmetic::binary_incr,
        ),
        binary(
            0x06,
            "DECREMENT",
            WRITE,
            ARITHMETIC,
            arithmetic::binary_decr,
        ),
        binary(0x07, "QUIT", 0, ANY, server::binary_quit),
        binary(
            0x08,
            "FLUSH",
            WRITE | EXCLUSIVE,
            FLUSH,
            server::binary_flush,
        ),
        binary(0x09, "GETQ", QUIET, KEY_ONLY, retrieval::binary_get),
        binary(0x0a, "NOOP", 0, ANY, server::binary_noop),
        binary(0x0b, "VERSION", 0, ANY, server::binary_version),
        binary(0x0c, "GETK", WITH_KEY, KEY_ONLY, retrieval::binary_get),
        binary(
            0x0d,
            "GETKQ",
            QUIET | WITH_KEY,
            KEY_ONLY,
            retrieval::binary_get,
        ),
        binary(0x0e, "APPEND", WRITE, CONCATENATE, storage::binary_append),
        binary(0x0f, "PREPEND", WRITE, CONCATENATE, storage::binary_prepend),
        binary(0x10, "STAT", 0, ANY, server::binary_stat),
        binary(
            0x11,
            "SETQ",
            WRITE | QUIET | DROP_ON_TOO_LARGE,
            STORE,
            storage::binary_set,
        ),
        binary(0x12, "ADDQ", WRITE | QUIET, STORE, storage::binary_add),
        binary(
            0x13,
            "REPLACEQ",
            WRITE | QUIET,
            STORE,
            storage::binary_replace,
        ),
        binary(
            0x14,
            "DELETEQ",
            WRITE | QUIET,
            KEY_ONLY,
            keys::binary_delete,
        ),
        binary(
            0x15,
            "INCREMENTQ",
            WRITE | QUIET,
            ARITHMETIC,
            arithmetic::binary_incr,
        ),
        binary(
            0x16,
            "DECREMENTQ",
            WRITE | QUIET,
            ARITHMETIC,
            arithmetic::binary_decr,
        ),
        binary(0x17, "QUITQ", QUIET, ANY, server::binary_quit),
        binary(
            0x18,
            "FLUSHQ",
            WRITE | QUIET | EXCLUSIVE,
            FLUSH,
            server::binary_flush,
        ),
        binary(
            0x19,
            "APPENDQ",
            WRITE | QUIET,
            CONCATENATE,
            storage::binary_append,
        ),
        binary(
            0x1a,
            "PREPENDQ",
            WRITE | QUIET,
            CONCATENATE,
            storage::binary_prepend,
        ),
        binary(0x1b, "VERBOSITY", 0, LEVEL, server::binary_verbosity),
        binary(0x1c, "TOUCH", WRITE, KEY_EXPTIME, keys::binary_touch),
        binary(0x1d, "GAT", WRITE, KEY_EXPTIME, retrieval::binary_gat),
        binary(
            0x1e,
            "GATQ",
            WRITE | QUIET,
            KEY_EXPTIME,
            retrieval::binary_gat,
        ),
        binary(
            0x23,
            "GATK",
            WRITE | WITH_KEY,
            KEY_EXPTIME,
            retrieval::binary_gat,
        ),
        binary(
            0x24,
            "GATKQ",
            WRITE | QUIET | WITH_KEY,
            KEY_EXPTIME,
            retrieval::binary_gat,
        ),
    ];

    /// The row of a text verb.
    pub fn text(verb: &[u8]) -> Option<&'static TextRow<E>> {
        Self::TEXT.iter().find(|row| row.name.as_bytes() == verb)
    }

    /// The row of a binary opcode.
    pub fn binary(opcode: u8) -> Option<&'static BinaryRow<E>> {
        Self::BINARY.iter().find(|row| row.opcode == opcode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::LockFree;

    type Rows = Table<LockFree<Value>>;

    #[test]
    fn names_and_opcodes_are_unique() {
        let mut names: Vec<&str> = Rows::TEXT.iter().map(|row| row.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rows::TEXT.len());
        let mut opcodes: Vec<u8> = Rows::BINARY.iter().map(|row| row.opcode).collect();
        assert!(
            opcodes.windows(2).all(|pair| pair[0] < pair[1]),
            "opcode order"
        );
        opcodes.dedup();
        assert_eq!(opcodes.len(), Rows::BINARY.len());
    }

    #[test]
    fn protocol_detection_knows_every_verb() {
        use crate::protocol::{detect, Protocol};
        for row in Rows::TEXT {
            // Verbs Redis has too are memcached's on the RESP port only as full memcached
            // lines; `quit` and `shutdown` stay Redis's there.
            let line = match row.name {
                "set" | "append" => format!("{} x 0 0 1\r\n", row.name),
                "incr" | "decr" | "touch" => format!("{} x 1\r\n", row.name),
                "quit" | "shutdown" => {
                    assert_eq!(detect(b"quit\r\n", Protocol::Resp), Some(Protocol::Resp));
                    continue;
                }
                _ => format!("{} x\r\n", row.name),
            };
            assert_eq!(
                detect(line.as_bytes(), Protocol::Resp),
                Some(Protocol::MemcacheText),
                "{}",
                row.name
            );
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(Rows::text(b"get").map(|row| row.name), Some("get"));
        assert!(Rows::text(b"GET").is_none());
        assert_eq!(Rows::binary(0x24).map(|row| row.name), Some("GATKQ"));
        assert!(Rows::binary(0x1f).is_none());
        assert!(Rows::binary(0x0d).is_some_and(|row| row.has(QUIET | WITH_KEY)));
    }
}
