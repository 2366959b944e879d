//! # resp: Redis's protocol
//!
//! [`parse`] turns bytes into requests, [`process`] runs every complete request in the input
//! and encodes the replies, and [`execute`] dispatches one request through the command
//! [`table`]: one lookup, the arity check, the checks the row's flags call for, and the row's
//! handler. One file per command family (`strings`, `lists`, `keys`, `server` for the server's
//! own state, `connection` for the client's, `introspection` for `COMMAND`) declares its rows
//! next to its handlers; each handler is a function `fn(&mut Session, Args)` that parses its
//! arguments, calls the keyspace and writes its reply.
//!
//! Replies are RESP2 until the client says `HELLO 3`, then RESP3, per connection. Handlers
//! never write a type marker of their own for a reply whose shape differs between the two:
//! they call [`Session`]'s `null`, `null_array`, `map`, `set` and `verbatim_text`, which write
//! Redis's RESP2 or RESP3 form of it (a map is a flat array of pairs in RESP2, a set an
//! array, the nulls `$-1` and `*-1`, `INFO`'s text a bulk string).

mod connection;
mod docs;
mod functions;
mod introspection;
mod keys;
mod lists;
pub mod parse;
mod server;
mod strings;
pub mod table;

use crate::protocol::Processed;
use crate::session::Session;
use engine::Engine;
use keyspace::{self, Str, Value};
use parse::{Args, Parsed, Request};

/// Why a command failed, as the reply's error text (without the leading `-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError(pub std::borrow::Cow<'static, str>);

impl From<&'static str> for CommandError {
    fn from(text: &'static str) -> Self {
        Self(text.into())
    }
}

impl From<String> for CommandError {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

/// The result of a command handler: `Err` is sent as an error reply.
pub type CommandResult = Result<(), CommandError>;

/// Redis's error texts, shared by the command families.
pub mod errors {
    /// `WRONGTYPE`.
    pub const WRONG_TYPE: &str =
        "WRONGTYPE Operation against a key holding the wrong kind of value";
    /// A bad integer argument or value.
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    /// A bad float argument or value.
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    /// A syntax error in options.
    pub const SYNTAX: &str = "ERR syntax error";
    /// INCR past the 64-bit range.
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    /// INCRBYFLOAT producing NaN or infinity.
    pub const FLOAT_OVERFLOW: &str = "ERR increment would produce NaN or Infinity";
    /// A missing key where one is required.
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    /// LSET past the end.
    pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
    /// A string grown past proto-max-bulk-len.
    pub const TOO_LARGE: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    /// A count that must be positive.
    pub const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
}

/// Maps a keyspace error to Redis's text. `Overflow` depends on the command (integer or
/// float), so callers that can overflow a float say so.
pub fn keyspace_error(error: keyspace::Error) -> CommandError {
    CommandError::from(match error {
        keyspace::Error::WrongType => errors::WRONG_TYPE,
        keyspace::Error::NotInteger => errors::NOT_INTEGER,
        keyspace::Error::NotFloat => errors::NOT_FLOAT,
        keyspace::Error::Overflow => errors::OVERFLOW,
        keyspace::Error::NoSuchKey => errors::NO_SUCH_KEY,
        keyspace::Error::IndexOutOfRange => errors::INDEX_OUT_OF_RANGE,
        keyspace::Error::TooLarge => errors::TOO_LARGE,
    })
}

impl From<keyspace::Error> for CommandError {
    fn from(error: keyspace::Error) -> Self {
        keyspace_error(error)
    }
}

/// Parses an integer argument as Redis's `getLongLongFromObjectOrReply`.
pub fn int_arg(bytes: &[u8]) -> Result<i64, CommandError> {
    keyspace::parse_i64(bytes).ok_or_else(|| errors::NOT_INTEGER.into())
}

/// Runs every complete request at the start of `input`, appending replies, until the input
/// runs out, the connection must close, or the output passes `output_soft_bytes` (the
/// connection then stops reading until its output drains).
pub fn process<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    request: &mut Request,
    input: &[u8],
) -> Processed {
    let mut processed = Processed::default();
    let limits = session.parse_limits();
    // The start of the batch: what its first command is charged from (see `CommandStats`).
    session.client.command_clock = crate::stats::ticks();
    while processed.consumed < input.len() {
        if session.output_full() {
            processed.output_full = true;
            return processed;
        }
        let rest = &input[processed.consumed..];
        match request.parse(rest, limits) {
            Parsed::Incomplete { want } => {
                // Relative to the first unconsumed byte: the connection consumes what we
                // report before it compares its buffered input with `want`.
                processed.want = want;
                return processed;
            }
            Parsed::Error(message) => {
                let mut text = b"ERR Protocol error: ".to_vec();
                text.extend_from_slice(message.as_bytes());
                session.error_bytes(&text);
                processed.consumed = input.len();
                processed.close = true;
                return processed;
            }
            Parsed::ExpectedDollar(byte) => {
                let mut text = b"ERR Protocol error: expected '$', got '".to_vec();
                text.extend_from_slice(&[byte, b'\'']);
                session.error_bytes(&text);
                processed.consumed = input.len();
                processed.close = true;
                return processed;
            }
            Parsed::Complete { consumed } => {
                processed.consumed += consumed;
                let args = request.args(rest);
                if args.is_empty() {
                    continue;
                }
                if execute(session, args) == Flow::Close {
                    processed.close = true;
                    return processed;
                }
            }
        }
    }
    processed
}

/// Whether the connection goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Close after flushing (QUIT, SHUTDOWN, CLIENT KILL of itself).
    Close,
}

/// Looks the command up in the table (and its subcommand, for a container command such as
/// `CONFIG`), checks the arity, refuses writes while the append-only file cannot be written,
/// and runs the row's handler. The handler's error becomes the error reply. The call, its
/// time and whether it was refused or failed are counted in the loop's
/// [`CommandStats`](crate::stats::CommandStats).
pub fn execute<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> Flow {
    let shared = session.shared;
    let Some(mut row) = shared.commands.lookup(args.get(0)) else {
        session.error_bytes(&unknown_command_message(args));
        return Flow::Continue;
    };
    if !row.subcommands.is_empty() && args.len() >= 2 {
        match row.subcommand(args.get(1)) {
            Some(sub) => row = sub,
            None => {
                session.error(&format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    truncate_lossy(args.get(1), 128).replace(['\r', '\n'], " "),
                    row.spec.name.to_ascii_uppercase()
                ));
                return Flow::Continue;
            }
        }
    }
    let command_stats = shared.command_stats.of_loop(session.client.info.loop_index);
    let id = usize::from(row.id.0);
    if !row.spec.arity_fits(args.len()) {
        command_stats.rejected(id);
        session.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            row.spec.name
        ));
        return Flow::Continue;
    }
    let Some(handler) = row.handler else {
        // A container without its subcommand never fits its arity (at least 2).
        unreachable!("{} has no handler", row.spec.name);
    };
    // Relaxed: a report for CLIENT LIST (see `ClientInfo`).
    session
        .client
        .info
        .command
        .store(row.id.0, std::sync::atomic::Ordering::Relaxed);
    if row.spec.has(table::flag::WRITE) {
        if let Some(refusal) = shared.write_refusal() {
            command_stats.rejected(id);
            session.error(&refusal);
            return Flow::Continue;
        }
    }
    let errors_before = session.client.error_replies;
    let mode = row.lock.mode(&row.spec, args);
    let result = match row.lock.stripes(&row.spec, args) {
        None => session.locked(row.lock, mode, |session| handler(session, args)),
        Some(access) => session.locked(row.lock, mode, |session| {
            session.with_stripes(&row.spec, args, access, |session| handler(session, args))
        }),
    };
    if let Err(error) = result {
        session.error(&error.0);
    }
    let now = crate::stats::ticks();
    let failed = session.client.error_replies != errors_before;
    command_stats.ran(id, now.wrapping_sub(session.client.command_clock), failed);
    session.client.command_clock = now;
    if session.client.has(crate::client::flags::CLOSE_AFTER_REPLY) {
        Flow::Close
    } else {
        Flow::Continue
    }
}

/// The table of every RESP command we serve, in `COMMAND` order: each family's rows.
pub fn table<E: Engine<Value = Value>>() -> table::Table<E> {
    let mut rows = strings::rows();
    rows.extend(lists::rows());
    rows.extend(keys::rows());
    rows.extend(server::rows());
    rows.extend(connection::rows());
    rows.extend(introspection::rows());
    rows.extend(functions::rows());
    table::Table::new(rows)
}

/// Redis's text for an unknown command: the name and the first arguments, quoted byte for
/// byte up to about 128 bytes. As in Redis, which formats C strings, a NUL ends the name or an
/// argument, and newlines become spaces so the error stays one line.
pub fn unknown_command_message(args: Args<'_>) -> Vec<u8> {
    let c_string = |bytes: &[u8], max: usize| -> Vec<u8> {
        let until_nul = bytes.split(|&b| b == 0).next().unwrap_or(&[]);
        until_nul[..until_nul.len().min(max)].to_vec()
    };
    let mut text = b"ERR unknown command '".to_vec();
    text.extend(c_string(args.get(0), 128));
    text.extend_from_slice(b"', with args beginning with: ");
    let mut listed: Vec<u8> = Vec::new();
    for arg in args.iter_from(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        listed.push(b'\'');
        listed.extend(c_string(arg, room));
        listed.extend_from_slice(b"' ");
    }
    text.extend(listed);
    for byte in &mut text {
        if *byte == b'\r' || *byte == b'\n' {
            *byte = b' ';
        }
    }
    text
}

/// At most `max` bytes of `bytes`, as text.
pub fn truncate_lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

/// Writes a stored value as a bulk string (by reference when large).
pub fn bulk_value<E: Engine<Value = Value>>(session: &mut Session<'_, E>, value: &Str) {
    session.bulk_header(value.len());
    session.raw_value(value);
    session.raw(b"\r\n");
}
