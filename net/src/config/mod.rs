//! The server's configuration, under Redis's option names where Redis has the option.
//!
//! One table ([`OPTIONS`]) names every option, and one function ([`Config::set`]) parses and
//! checks a value for it, whether the value comes from a command-line flag, a `--config` file
//! (redis.conf style: `name value` lines, `#` comments) or `CONFIG SET`. `CONFIG GET` reads the
//! same table, so what the three entry points accept can never drift apart.

pub mod bind;
pub mod redis;

use persistence::log::Fsync;
use redis::{redis_option, RedisKind, REDIS_OPTIONS};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One of Redis's encoding thresholds: its name, its older alias, default and range.
#[derive(Debug, Clone, Copy)]
pub struct EncodingOption {
    /// The name.
    pub name: &'static str,
    /// The Redis 6 name, still accepted (empty: none).
    pub alias: &'static str,
    /// Redis 7.0's default.
    pub default: i64,
    /// The smallest value accepted.
    pub min: i64,
    /// The largest value accepted.
    pub max: i64,
}

/// Redis's encoding thresholds. Client code and Redis's own tests set them; our data types
/// have one encoding each, so they change nothing, but they are accepted and reported with
/// Redis 7.0's defaults and ranges so that such code runs.
pub const ENCODING_OPTIONS: [EncodingOption; 7] = [
    EncodingOption {
        name: "hash-max-listpack-entries",
        alias: "hash-max-ziplist-entries",
        default: 512,
        min: 0,
        max: i64::MAX,
    },
    EncodingOption {
        name: "hash-max-listpack-value",
        alias: "hash-max-ziplist-value",
        default: 64,
        min: 0,
        max: i64::MAX,
    },
    EncodingOption {
        name: "list-max-listpack-size",
        alias: "list-max-ziplist-size",
        default: -2,
        min: i32::MIN as i64,
        max: i32::MAX as i64,
    },
    EncodingOption {
        name: "list-compress-depth",
        alias: "",
        default: 0,
        min: 0,
        max: i32::MAX as i64,
    },
    EncodingOption {
        name: "set-max-intset-entries",
        alias: "",
        default: 512,
        min: 0,
        max: i64::MAX,
    },
    EncodingOption {
        name: "zset-max-listpack-entries",
        alias: "zset-max-ziplist-entries",
        default: 128,
        min: 0,
        max: i64::MAX,
    },
    EncodingOption {
        name: "zset-max-listpack-value",
        alias: "zset-max-ziplist-value",
        default: 64,
        min: 0,
        max: i64::MAX,
    },
];

/// The encoding option named `name` (or its alias), with its index.
fn encoding_option(name: &str) -> Option<(usize, &'static EncodingOption)> {
    ENCODING_OPTIONS.iter().enumerate().find(|(_, option)| {
        option.name == name || (!option.alias.is_empty() && option.alias == name)
    })
}

/// The most numbered databases: the log records a record's database in one byte.
pub use keyspace::databases::DATABASES_MAX;

/// The most addresses `bind` takes (Redis's `CONFIG_BINDADDR_MAX`).
pub const BIND_ADDRESSES_MAX: usize = 16;

/// A listening port as configured.
///
/// `0` turns a port off, as in Redis and memcached. `-1` asks for any free port, chosen by the
/// kernel when the server binds it (memcached's test suite uses `-p -1` the same way): a test
/// harness that picked a free port itself and passed it on would release it before the server
/// bound it, and any outgoing connection on a busy machine can take it in between. The ports
/// bound are written to the `ready-file` and shown by `INFO server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// Not listened on.
    Off,
    /// Any free port the kernel picks.
    Any,
    /// This port.
    Fixed(u16),
}

impl Port {
    /// Parses `-1`, `0` or a port number. The errors are Redis's, whose range has no `-1`.
    pub fn parse(value: &str) -> Result<Port, String> {
        match value.trim().parse::<i64>() {
            Ok(-1) => Ok(Port::Any),
            Ok(0) => Ok(Port::Off),
            Ok(port) if (1..=65535).contains(&port) => Ok(Port::Fixed(port as u16)),
            Ok(_) => Err("argument must be between 0 and 65535 inclusive".into()),
            Err(_) => Err("argument couldn't be parsed into an integer".into()),
        }
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Port::Off => formatter.write_str("0"),
            Port::Any => formatter.write_str("-1"),
            Port::Fixed(port) => write!(formatter, "{port}"),
        }
    }
}

/// The defaults and the current values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `bind`: addresses to listen on.
    pub bind: Vec<String>,
    /// `port`: the RESP port (every protocol is accepted on it). The server refuses to start
    /// when both ports are off.
    pub port: Port,
    /// `memcache-port`: the memcached port (every protocol is accepted on it).
    pub memcache_port: Port,
    /// `ready-file` (ours): once every port listens, the server writes the ports it bound to
    /// this file (empty: none), so whoever started it with `-1` ports learns them.
    pub ready_file: String,
    /// `threads`: event loops; 0 means one per core.
    pub threads: usize,
    /// `engine`: the map back-end.
    pub engine: String,
    /// `maxclients`: connections beyond this are refused with Redis's error.
    pub maxclients: usize,
    /// `timeout`: close clients idle this many seconds; 0 never.
    pub timeout_secs: u64,
    /// `proto-max-bulk-len`: the largest bulk string a request may carry.
    pub proto_max_bulk_len: usize,
    /// `client-query-buffer-limit`: the most unparsed input a client may have.
    pub client_query_buffer_limit: usize,
    /// `client-output-buffer-limit` (normal class, hard limit): a client whose queued replies
    /// pass this is closed; 0 means no limit (Redis's default for normal clients).
    pub client_output_hard_bytes: usize,
    /// Stop reading a client whose queued replies pass this many bytes, until they drain.
    pub client_output_soft_bytes: usize,
    /// `max-item-size` (memcached's `-I`): the largest memcached item.
    pub max_item_size: usize,
    /// `tcp-backlog`.
    pub tcp_backlog: u32,
    /// `loglevel`.
    pub loglevel: String,
    /// `dir`: where the append-only file's directory lives.
    pub dir: String,
    /// `appendonly`: whether to keep an append-only file.
    pub appendonly: bool,
    /// `appendfsync`: always, everysec or no.
    pub appendfsync: Fsync,
    /// `appendfilename`: the stem of the log's file names.
    pub appendfilename: String,
    /// `appenddirname`: the log's directory, inside `dir`.
    pub appenddirname: String,
    /// `auto-aof-rewrite-percentage`: rewrite when the log grew this much since the last
    /// rewrite (0: never automatically).
    pub auto_aof_rewrite_percentage: u64,
    /// `auto-aof-rewrite-min-size`: no automatic rewrite below this size.
    pub auto_aof_rewrite_min_size: u64,
    /// `aof-load-truncated`: start after cutting a torn tail off the log.
    pub aof_load_truncated: bool,
    /// `aof-load-truncate-corrupt` (ours): start after cutting the log at a corrupt record in
    /// the middle of the active segment, losing what follows.
    pub aof_load_truncate_corrupt: bool,
    /// `aof-io` (ours): `auto` (io_uring when the kernel allows it), `uring` or `sync`.
    pub aof_io: String,
    /// `aof-pipeline-depth` (ours): under `always` over io_uring, batches in flight at once.
    pub aof_pipeline_depth: usize,
    /// `aof-device` (ours): a block device or file the incremental segments are written to
    /// with O_DIRECT; empty for none.
    pub aof_device: String,
    /// `aof-device-size` (ours): the size of the file `aof-device` creates when it does not
    /// exist.
    pub aof_device_size: u64,
    /// Redis's encoding thresholds (`hash-max-listpack-entries`, ...), in
    /// [`ENCODING_OPTIONS`] order: accepted, checked and reported as Redis does, with no
    /// effect here, where each data type has one encoding.
    pub encoding: [i64; ENCODING_OPTIONS.len()],
    /// `databases`: how many numbered databases (`SELECT 0` to `databases - 1`). At most
    /// [`DATABASES_MAX`], because the log records a database in one byte.
    pub databases: usize,
    /// `aof-device-sync` (ours): how a batch on the device is made durable, `dsync`
    /// (RWF_DSYNC writes) or `fdatasync`.
    pub aof_device_sync: String,
    /// The Redis options we do not implement ([`redis::REDIS_OPTIONS`]) that were set, by
    /// name, as `CONFIG GET` prints them: kept, reported and rewritten, with no effect.
    pub redis_options: BTreeMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: vec!["127.0.0.1".into()],
            port: Port::Fixed(6379),
            memcache_port: Port::Fixed(11211),
            ready_file: String::new(),
            threads: 0,
            engine: "lockfree".into(),
            maxclients: 10_000,
            timeout_secs: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            client_output_hard_bytes: 0,
            client_output_soft_bytes: 256 * 1024,
            max_item_size: 1024 * 1024,
            tcp_backlog: 511,
            loglevel: "notice".into(),
            dir: "./data".into(),
            appendonly: true,
            appendfsync: Fsync::EverySec,
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            aof_load_truncated: true,
            aof_load_truncate_corrupt: false,
            aof_io: "auto".into(),
            aof_pipeline_depth: 1,
            aof_device: String::new(),
            aof_device_size: 1024 * 1024 * 1024,
            aof_device_sync: "dsync".into(),
            databases: 16,
            encoding: ENCODING_OPTIONS.map(|option| option.default),
            redis_options: BTreeMap::new(),
        }
    }
}

/// Whether `CONFIG SET` may change an option, in Redis's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Changed at run time, taking effect at once.
    Runtime,
    /// Only at start-up (flags, config file): `can't set immutable config`.
    Immutable,
    /// Redis's `PROTECTED_CONFIG` (`dir`), which `enable-protected-configs no` (its default,
    /// and ours: we have no such switch) keeps from `CONFIG SET`: `can't set protected config`.
    Protected,
}

/// How an option's value is written back by `CONFIG REWRITE`, as Redis writes that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A number, as it is.
    Number,
    /// A size in bytes, in the largest unit that divides it (`64mb`, `1gb`, `1000`).
    Memory,
    /// `yes` or `no`.
    Bool,
    /// One word from a fixed set.
    Enum,
    /// Free text, quoted (`dir "/var/lib/workingdb"`).
    Text,
    /// Words, unquoted (`bind 127.0.0.1 ::1`).
    List,
    /// `save ""`, always written (no snapshots are ever taken).
    Save,
    /// `client-output-buffer-limit normal <hard> <soft> <seconds>`.
    OutputLimit,
}

/// One option: its name, whether `CONFIG SET` may change it while running, how `CONFIG
/// REWRITE` writes it, and its help.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The name (Redis's where it exists).
    pub name: &'static str,
    /// Whether `CONFIG SET` may change it.
    pub runtime: Mutability,
    /// How its value is written to a config file.
    pub kind: ValueKind,
    /// One line of help.
    pub help: &'static str,
}

impl OptionSpec {
    /// Whether this row is another name for an option listed under its own name (Redis 6's
    /// `*-ziplist-*` names): `CONFIG REWRITE` writes only the primary name.
    pub fn is_alias(&self) -> bool {
        ENCODING_OPTIONS
            .iter()
            .any(|option| option.alias == self.name)
    }
}

/// The row of option `name` (any case, aliases included).
pub fn option_spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS
        .iter()
        .find(|option| option.name.eq_ignore_ascii_case(name))
}

/// The primary name of option `name` (its own but for aliases), ours or Redis's.
pub fn primary_name(name: &str) -> Option<&'static str> {
    if let Some(spec) = option_spec(name) {
        return Some(match encoding_option(spec.name) {
            Some((_, option)) => option.name,
            None => spec.name,
        });
    }
    redis_option(name).map(|option| option.name)
}

/// Whether `CONFIG SET` may change option `name` (ours or Redis's); `None` for a name
/// neither has.
pub fn mutability(name: &str) -> Option<Mutability> {
    match option_spec(name) {
        Some(spec) => Some(spec.runtime),
        None => redis_option(name).map(|option| option.runtime),
    }
}

/// Every option name `CONFIG GET` matches patterns against, in its order: ours, then Redis's
/// that we do not implement (their aliases too; hidden ones only when named exactly).
pub fn option_names() -> impl Iterator<Item = &'static str> {
    let ours = OPTIONS.iter().map(|spec| spec.name);
    let redis = REDIS_OPTIONS
        .iter()
        .filter(|option| !option.hidden && option_spec(option.name).is_none())
        .flat_map(|option| {
            let alias = (!option.alias.is_empty() && option_spec(option.alias).is_none())
                .then_some(option.alias);
            std::iter::once(option.name).chain(alias)
        });
    ours.chain(redis)
}

/// Every option, in `CONFIG GET *` order. `save` reads as Redis without snapshots answers,
/// and accepts only `""`.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec { name: "bind", runtime: Mutability::Runtime, kind: ValueKind::List, help: "addresses to listen on, space-separated" },
    OptionSpec { name: "port", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "RESP port (0: off, -1: any free port)" },
    OptionSpec { name: "memcache-port", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "memcached port (0: off, -1: any free port)" },
    OptionSpec { name: "ready-file", runtime: Mutability::Immutable, kind: ValueKind::Text, help: "once listening, write the bound ports here (empty: none)" },
    OptionSpec { name: "threads", runtime: Mutability::Immutable, kind: ValueKind::Number, help: "event loops (0: one per core)" },
    OptionSpec { name: "engine", runtime: Mutability::Immutable, kind: ValueKind::Enum, help: "sharded, dashmap, flurry or lockfree" },
    OptionSpec { name: "maxclients", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "most connections at once" },
    OptionSpec { name: "timeout", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "close clients idle this many seconds (0: never)" },
    OptionSpec { name: "proto-max-bulk-len", runtime: Mutability::Runtime, kind: ValueKind::Memory, help: "largest bulk string in a request" },
    OptionSpec { name: "client-query-buffer-limit", runtime: Mutability::Runtime, kind: ValueKind::Memory, help: "most unparsed input per client" },
    OptionSpec { name: "client-output-buffer-limit", runtime: Mutability::Runtime, kind: ValueKind::OutputLimit, help: "normal <hard> <soft> <seconds>: close a client whose replies pass <hard> bytes (0: no limit)" },
    OptionSpec { name: "max-item-size", runtime: Mutability::Runtime, kind: ValueKind::Memory, help: "largest memcached item (memcached -I)" },
    OptionSpec { name: "tcp-backlog", runtime: Mutability::Immutable, kind: ValueKind::Number, help: "listen backlog" },
    OptionSpec { name: "loglevel", runtime: Mutability::Runtime, kind: ValueKind::Enum, help: "debug, verbose, notice or warning" },
    OptionSpec { name: "save", runtime: Mutability::Runtime, kind: ValueKind::Save, help: "snapshot schedule: only \"\" (no snapshots) is accepted" },
    OptionSpec { name: "hash-max-listpack-entries", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: one encoding per type)" },
    OptionSpec { name: "hash-max-ziplist-entries", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(alias of hash-max-listpack-entries)" },
    OptionSpec { name: "hash-max-listpack-value", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: one encoding per type)" },
    OptionSpec { name: "hash-max-ziplist-value", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(alias of hash-max-listpack-value)" },
    OptionSpec { name: "list-max-listpack-size", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: one encoding per type)" },
    OptionSpec { name: "list-max-ziplist-size", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(alias of list-max-listpack-size)" },
    OptionSpec { name: "list-compress-depth", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: lists are not compressed)" },
    OptionSpec { name: "set-max-intset-entries", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: one encoding per type)" },
    OptionSpec { name: "zset-max-listpack-entries", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: one encoding per type)" },
    OptionSpec { name: "zset-max-ziplist-entries", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(alias of zset-max-listpack-entries)" },
    OptionSpec { name: "zset-max-listpack-value", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(accepted, no effect: one encoding per type)" },
    OptionSpec { name: "zset-max-ziplist-value", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "(alias of zset-max-listpack-value)" },
    OptionSpec { name: "dir", runtime: Mutability::Protected, kind: ValueKind::Text, help: "directory of the append-only file's directory" },
    OptionSpec { name: "appendonly", runtime: Mutability::Runtime, kind: ValueKind::Bool, help: "keep an append-only file: yes or no" },
    OptionSpec { name: "appendfsync", runtime: Mutability::Runtime, kind: ValueKind::Enum, help: "always, everysec or no" },
    OptionSpec { name: "appendfilename", runtime: Mutability::Immutable, kind: ValueKind::Text, help: "stem of the append-only file's part names" },
    OptionSpec { name: "appenddirname", runtime: Mutability::Immutable, kind: ValueKind::Text, help: "the append-only file's directory, inside dir" },
    OptionSpec { name: "auto-aof-rewrite-percentage", runtime: Mutability::Runtime, kind: ValueKind::Number, help: "rewrite when the log grew this many percent since the last rewrite (0: off)" },
    OptionSpec { name: "auto-aof-rewrite-min-size", runtime: Mutability::Runtime, kind: ValueKind::Memory, help: "no automatic rewrite below this size" },
    OptionSpec { name: "aof-load-truncated", runtime: Mutability::Runtime, kind: ValueKind::Bool, help: "start after cutting a torn tail off the log: yes or no" },
    OptionSpec { name: "aof-load-truncate-corrupt", runtime: Mutability::Runtime, kind: ValueKind::Bool, help: "start after cutting the log at a corrupt record, losing what follows: yes or no" },
    OptionSpec { name: "aof-io", runtime: Mutability::Immutable, kind: ValueKind::Enum, help: "auto (io_uring when the kernel allows it), uring or sync" },
    OptionSpec { name: "aof-pipeline-depth", runtime: Mutability::Immutable, kind: ValueKind::Number, help: "under appendfsync always over io_uring: batches in flight at once (1-8)" },
    OptionSpec { name: "aof-device", runtime: Mutability::Immutable, kind: ValueKind::Text, help: "a block device or file for the AOF's incremental segments, written with O_DIRECT (empty: none)" },
    OptionSpec { name: "aof-device-size", runtime: Mutability::Immutable, kind: ValueKind::Memory, help: "the size of the file aof-device creates when it does not exist" },
    OptionSpec { name: "aof-device-sync", runtime: Mutability::Immutable, kind: ValueKind::Enum, help: "how a batch on aof-device is made durable: dsync (RWF_DSYNC writes) or fdatasync" },
    OptionSpec { name: "databases", runtime: Mutability::Immutable, kind: ValueKind::Number, help: "numbered databases, SELECT 0 to databases-1 (1-256)" },
];

/// The comment `CONFIG REWRITE` writes before the first line it appends (Redis's).
pub const REWRITE_SIGNATURE: &str = "# Generated by CONFIG REWRITE";

/// A size as Redis writes it in a config file: in `gb`, `mb` or `kb` when one divides it.
pub fn format_memory(bytes: u64) -> String {
    const KB: u64 = 1024;
    for (unit, name) in [(KB * KB * KB, "gb"), (KB * KB, "mb"), (KB, "kb")] {
        if bytes != 0 && bytes.is_multiple_of(unit) {
            return format!("{}{name}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// `text` in double quotes with Redis's escapes (`sdscatrepr`): `\\`, `\"`, `\n`, `\r`,
/// `\t`, `\a`, `\b`, and `\xNN` for other bytes that are not printable ASCII.
pub fn quote(text: &str) -> String {
    let mut quoted = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'\\' => quoted.push_str("\\\\"),
            b'"' => quoted.push_str("\\\""),
            b'\n' => quoted.push_str("\\n"),
            b'\r' => quoted.push_str("\\r"),
            b'\t' => quoted.push_str("\\t"),
            7 => quoted.push_str("\\a"),
            8 => quoted.push_str("\\b"),
            0x20..=0x7e => quoted.push(char::from(byte)),
            _ => {
                let _ = write!(quoted, "\\x{byte:02x}");
            }
        }
    }
    quoted.push('"');
    quoted
}

/// Whether `byte` separates arguments: C's `isspace`, which Redis's `sdssplitargs` uses, so
/// the ASCII whitespace and the vertical tab (0x0B), which `u8::is_ascii_whitespace` leaves
/// out (found by the config_file fuzz target: a `bind` address `\x0b` was a word to us,
/// a blank to the line trim).
fn is_blank(byte: u8) -> bool {
    byte.is_ascii_whitespace() || byte == 0x0b
}

/// Splits a config line into arguments as Redis's `sdssplitargs`: words separated by
/// blanks; `"..."` with the escapes [`quote`] writes; `'...'` with only `\'`. A closing
/// quote must be followed by a blank or the end. `None` for unbalanced quotes.
pub fn split_args(line: &str) -> Option<Vec<String>> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut at = 0;
    loop {
        while at < bytes.len() && is_blank(bytes[at]) {
            at += 1;
        }
        if at == bytes.len() {
            return Some(words);
        }
        let mut word: Vec<u8> = Vec::new();
        let quote_char = match bytes[at] {
            b'"' | b'\'' => {
                at += 1;
                Some(bytes[at - 1])
            }
            _ => None,
        };
        loop {
            match (quote_char, bytes.get(at)) {
                (None, None) => break,
                (None, Some(&byte)) if is_blank(byte) => break,
                (None, Some(&byte)) => {
                    word.push(byte);
                    at += 1;
                }
                (Some(_), None) => return None,
                (Some(b'"'), Some(b'\\')) if at + 3 < bytes.len() && bytes[at + 1] == b'x' => {
                    let hex = std::str::from_utf8(&bytes[at + 2..at + 4]).ok();
                    match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                        Some(value) => {
                            word.push(value);
                            at += 4;
                        }
                        None => {
                            word.push(b'x');
                            at += 2;
                        }
                    }
                }
                (Some(b'"'), Some(b'\\')) if at + 1 < bytes.len() => {
                    word.push(match bytes[at + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    at += 2;
                }
                (Some(b'\''), Some(b'\\')) if bytes.get(at + 1) == Some(&b'\'') => {
                    word.push(b'\'');
                    at += 2;
                }
                (Some(close), Some(&byte)) if byte == close => {
                    at += 1;
                    if bytes.get(at).is_some_and(|&next| !is_blank(next)) {
                        return None;
                    }
                    break;
                }
                (Some(_), Some(&byte)) => {
                    word.push(byte);
                    at += 1;
                }
            }
        }
        words.push(String::from_utf8_lossy(&word).into_owned());
    }
}

/// Parses a size as Redis's `memtoull`: a number with an optional unit (`k`=1000, `kb`=1024,
/// `m`, `mb`, `g`, `gb`), case-insensitive.
pub fn parse_memory(text: &str) -> Option<usize> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let number: usize = digits.parse().ok()?;
    let multiplier: usize = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    number.checked_mul(multiplier)
}

/// Parses an integer option bounded as Redis bounds it, with Redis's texts.
fn parse_in_range(value: &str, min: i64, max: i64) -> Result<i64, String> {
    let number: i64 = parse_number(value)?;
    if !(min..=max).contains(&number) {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(number)
}

/// Parses an integer option, with Redis's text for one that is not (callers name the option).
fn parse_number<T: std::str::FromStr>(value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

/// Parses Redis's booleans.
fn parse_yes_no(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.into()
}

impl Config {
    /// Sets option `name` (case-insensitive) from text. `Err` has the reason, in Redis's
    /// words where Redis has them.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "bind" => {
                // Split on the blanks `split_args` splits a file's line on (Redis's
                // sdssplitargs): Unicode whitespace such as U+2003 is part of a word there, so
                // splitting on it here made `CONFIG REWRITE` write words the file had not
                // (found by the config_file fuzz target).
                let addresses: Vec<String> = value
                    .split(|c: char| u8::try_from(c).is_ok_and(is_blank))
                    .filter(|address| !address.is_empty())
                    .map(String::from)
                    .collect();
                if addresses.is_empty() {
                    return Err("bind needs at least one address".into());
                }
                if addresses.len() > BIND_ADDRESSES_MAX {
                    return Err("Too many bind addresses specified.".into());
                }
                self.bind = addresses;
            }
            "port" => self.port = Port::parse(value)?,
            "memcache-port" => self.memcache_port = Port::parse(value)?,
            "ready-file" => self.ready_file = value.to_string(),
            "threads" => {
                let threads: usize = parse_number(value)?;
                if threads > 1024 {
                    return Err("argument must be between 0 and 1024 inclusive".into());
                }
                self.threads = threads;
            }
            "engine" => {
                if !engine::BACKEND_NAMES.contains(&value) {
                    return Err(format!(
                        "unknown engine '{value}' (known: {})",
                        engine::BACKEND_NAMES.join(", ")
                    ));
                }
                self.engine = value.to_string();
            }
            "maxclients" => {
                let clients: usize = parse_number(value)?;
                if clients == 0 {
                    return Err("argument must be between 1 and 4294967295 inclusive".into());
                }
                self.maxclients = clients;
            }
            "timeout" => self.timeout_secs = parse_in_range(value, 0, i64::from(i32::MAX))? as u64,
            "proto-max-bulk-len" => {
                let bytes = parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                if bytes < 1024 * 1024 {
                    return Err(
                        "argument must be between 1048576 and 9223372036854775807 inclusive".into(),
                    );
                }
                self.proto_max_bulk_len = bytes;
            }
            "client-query-buffer-limit" => {
                let bytes = parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                if bytes < 1024 * 1024 {
                    return Err(
                        "argument must be between 1048576 and 9223372036854775807 inclusive".into(),
                    );
                }
                self.client_query_buffer_limit = bytes;
            }
            "client-output-buffer-limit" => {
                // Classes come in groups of four words; only "normal" applies to us, the
                // others (replica, pubsub) are accepted and ignored.
                let words: Vec<&str> = value.split_whitespace().collect();
                if words.is_empty() || !words.len().is_multiple_of(4) {
                    return Err("Wrong number of arguments in buffer limit configuration.".into());
                }
                for group in words.chunks(4) {
                    let class = group[0].to_ascii_lowercase();
                    if !["normal", "replica", "slave", "pubsub"].contains(&class.as_str()) {
                        return Err(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        );
                    }
                    let hard = parse_memory(group[1]);
                    let soft = parse_memory(group[2]);
                    let seconds = group[3].parse::<u64>().ok();
                    let (Some(hard), Some(_soft), Some(_seconds)) = (hard, soft, seconds) else {
                        return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".into());
                    };
                    if class == "normal" {
                        self.client_output_hard_bytes = hard;
                    }
                }
            }
            "max-item-size" => {
                let bytes = parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?;
                if !(1024..=1024 * 1024 * 1024).contains(&bytes) {
                    return Err("argument must be between 1024 and 1073741824 inclusive".into());
                }
                self.max_item_size = bytes;
            }
            "tcp-backlog" => {
                self.tcp_backlog = parse_in_range(value, 0, i64::from(i32::MAX))? as u32
            }
            "loglevel" => {
                let level = value.to_ascii_lowercase();
                if !["debug", "verbose", "notice", "warning"].contains(&level.as_str()) {
                    return Err(
                        "argument(s) must be one of the following: debug, verbose, notice, warning"
                            .into(),
                    );
                }
                self.loglevel = level;
            }
            "dir" => {
                if value.is_empty() {
                    return Err("dir needs a path".into());
                }
                self.dir = value.to_string();
            }
            "appendonly" => self.appendonly = parse_yes_no(value)?,
            "appendfsync" => {
                self.appendfsync = Fsync::parse(value).ok_or_else(|| {
                    "argument(s) must be one of the following: everysec, always, no".to_string()
                })?
            }
            "appendfilename" | "appenddirname" => {
                if value.is_empty() || value.contains('/') || value.starts_with('.') {
                    return Err(format!("{name} can't be a path, just a filename"));
                }
                if name == "appendfilename" {
                    self.appendfilename = value.to_string();
                } else {
                    self.appenddirname = value.to_string();
                }
            }
            "auto-aof-rewrite-percentage" => {
                self.auto_aof_rewrite_percentage =
                    parse_in_range(value, 0, i64::from(i32::MAX))? as u64
            }
            "auto-aof-rewrite-min-size" => {
                self.auto_aof_rewrite_min_size = parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?
                    as u64
            }
            "aof-load-truncated" => self.aof_load_truncated = parse_yes_no(value)?,
            "aof-load-truncate-corrupt" => self.aof_load_truncate_corrupt = parse_yes_no(value)?,
            "aof-io" => {
                let io = value.to_ascii_lowercase();
                if !["auto", "uring", "sync"].contains(&io.as_str()) {
                    return Err(
                        "argument(s) must be one of the following: auto, uring, sync".into(),
                    );
                }
                self.aof_io = io;
            }
            "aof-pipeline-depth" => {
                let depth: usize = parse_number(value)?;
                let max = persistence::uring::PIPELINE_DEPTH_MAX;
                if !(1..=max).contains(&depth) {
                    return Err(format!("argument must be between 1 and {max} inclusive"));
                }
                self.aof_pipeline_depth = depth;
            }
            "aof-device" => self.aof_device = value.to_string(),
            "aof-device-size" => {
                let size = parse_memory(value)
                    .ok_or_else(|| "argument must be a memory value".to_string())?
                    as u64;
                if size == 0 || !size.is_multiple_of(4096) {
                    return Err("argument must be a positive multiple of 4096 bytes".into());
                }
                self.aof_device_size = size;
            }
            "aof-device-sync" => {
                let sync = value.to_ascii_lowercase();
                if !["dsync", "fdatasync"].contains(&sync.as_str()) {
                    return Err("argument(s) must be one of the following: dsync, fdatasync".into());
                }
                self.aof_device_sync = sync;
            }
            "databases" => {
                let databases: usize = parse_number(value)?;
                if !(1..=DATABASES_MAX).contains(&databases) {
                    return Err(format!(
                        "argument must be between 1 and {DATABASES_MAX} inclusive"
                    ));
                }
                self.databases = databases;
            }
            // No snapshots are ever taken, which is what `save ""` asks for.
            "save" if value.trim().is_empty() => {}
            "save" => {
                return Err("snapshots (RDB) are not supported: only save \"\" is accepted".into())
            }
            _ if encoding_option(&name).is_some() => {
                let (index, option) = encoding_option(&name).expect("checked");
                let number: i64 = parse_number(value)?;
                if !(option.min..=option.max).contains(&number) {
                    return Err(format!(
                        "argument must be between {} and {} inclusive",
                        option.min, option.max
                    ));
                }
                self.encoding[index] = number;
            }
            _ => match redis_option(&name) {
                Some(option) => {
                    let value = option.check(value)?;
                    // A value set back to the default is no longer "set": two configurations
                    // that read the same are equal (the config_file fuzz target found
                    // `notify-keyspace-events` with no value reading back unequal).
                    if value == option.default {
                        self.redis_options.remove(option.name);
                    } else {
                        self.redis_options.insert(option.name, value);
                    }
                }
                None => {
                    return Err(format!(
                        "Unknown option or number of arguments for CONFIG SET - '{name}'"
                    ))
                }
            },
        }
        Ok(())
    }

    /// The current value of option `name`, as `CONFIG GET` prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "bind" => self.bind.join(" "),
            "port" => self.port.to_string(),
            "memcache-port" => self.memcache_port.to_string(),
            "ready-file" => self.ready_file.clone(),
            "threads" => self.threads.to_string(),
            "engine" => self.engine.clone(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout_secs.to_string(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "client-output-buffer-limit" => {
                let mut text = String::new();
                let _ = write!(
                    text,
                    "normal {} 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
                    self.client_output_hard_bytes
                );
                text
            }
            "max-item-size" => self.max_item_size.to_string(),
            "tcp-backlog" => self.tcp_backlog.to_string(),
            "loglevel" => self.loglevel.clone(),
            "save" => String::new(),
            "dir" => self.dir.clone(),
            "appendonly" => yes_no(self.appendonly),
            "appendfsync" => self.appendfsync.name().into(),
            "appendfilename" => self.appendfilename.clone(),
            "appenddirname" => self.appenddirname.clone(),
            "auto-aof-rewrite-percentage" => self.auto_aof_rewrite_percentage.to_string(),
            "auto-aof-rewrite-min-size" => self.auto_aof_rewrite_min_size.to_string(),
            "aof-load-truncated" => yes_no(self.aof_load_truncated),
            "aof-load-truncate-corrupt" => yes_no(self.aof_load_truncate_corrupt),
            "aof-io" => self.aof_io.clone(),
            "aof-pipeline-depth" => self.aof_pipeline_depth.to_string(),
            "aof-device" => self.aof_device.clone(),
            "aof-device-size" => self.aof_device_size.to_string(),
            "aof-device-sync" => self.aof_device_sync.clone(),
            "databases" => self.databases.to_string(),
            _ => match (encoding_option(name), redis_option(name)) {
                (Some((index, _)), _) => self.encoding[index].to_string(),
                (None, Some(option)) => self
                    .redis_options
                    .get(option.name)
                    .map_or_else(|| option.default.to_string(), Clone::clone),
                (None, None) => return None,
            },
        })
    }

    /// Applies a redis.conf-style text: `name value...` per line, `#` comments, arguments may
    /// be quoted as Redis quotes them ([`split_args`]); several arguments make one value,
    /// joined by spaces. `Err` names the line.
    pub fn apply_file(&mut self, text: &str) -> Result<(), String> {
        for (number, line) in text.lines().enumerate() {
            // What Redis trims (`sdstrim(line, " \t\r\n")`), not Unicode whitespace: a
            // last word ending in U+2003 keeps it, as `split_args` keeps it.
            let line = line.trim_matches([' ', '\t', '\r', '\n']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words = split_args(line)
                .ok_or_else(|| format!("line {}: '{line}': unbalanced quotes", number + 1))?;
            // A line of blanks the trim leaves (a vertical tab) has no words: Redis skips it.
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            self.set(name, &values.join(" "))
                .map_err(|error| format!("line {}: '{line}': {error}", number + 1))?;
        }
        Ok(())
    }

    /// The line `CONFIG REWRITE` writes for option `spec`, and whether it must be written
    /// even where the file does not mention the option (its value is not the default).
    fn rewrite_line(&self, spec: &OptionSpec, defaults: &Config) -> (String, bool) {
        let value = self.get(spec.name).unwrap_or_default();
        let forced = defaults.get(spec.name).unwrap_or_default() != value;
        let name = spec.name;
        match spec.kind {
            ValueKind::Number | ValueKind::Enum | ValueKind::Bool => {
                (format!("{name} {value}"), forced)
            }
            // Bare words, as Redis writes `bind`, except a word that begins with a quote,
            // which would read back as the start of a quoted argument (its words hold no
            // ASCII blank: `set` splits on them).
            ValueKind::List => {
                let words: Vec<String> = value
                    .split(' ')
                    .map(|word| {
                        if word.starts_with(['"', '\'']) {
                            quote(word)
                        } else {
                            word.to_string()
                        }
                    })
                    .collect();
                (format!("{name} {}", words.join(" ")), forced)
            }
            ValueKind::Memory => {
                let bytes: u64 = value.parse().unwrap_or(0);
                (format!("{name} {}", format_memory(bytes)), forced)
            }
            ValueKind::Text => (format!("{name} {}", quote(&value)), forced),
            ValueKind::Save => (format!("{name} \"\""), true),
            ValueKind::OutputLimit => (
                format!(
                    "{name} normal {} 0 0",
                    format_memory(self.client_output_hard_bytes as u64)
                ),
                self.client_output_hard_bytes != defaults.client_output_hard_bytes,
            ),
        }
    }

    /// `CONFIG REWRITE`: the config file `old` with this configuration written into it, as
    /// Redis 7.0 rewrites one. Comments and blank lines stay; a line of an option we know
    /// is replaced in place by the option's current value (the first line of that option;
    /// its other lines become blank); an option that differs from its default and that the
    /// file does not mention is appended after a `# Generated by CONFIG REWRITE` line; a line
    /// we cannot read (an unknown option, unbalanced quotes) stays as a `# ??? ` comment.
    /// Runs of blank lines become one.
    pub fn rewrite_file(&self, old: &str) -> String {
        let mut lines: Vec<String> = Vec::new();
        // Option (primary name) -> the lines that set it, in file order.
        let mut option_lines: Vec<(&'static str, Vec<usize>)> = Vec::new();
        let mut needs_signature = true;
        for raw in old.split('\n') {
            let line = raw.trim_matches(|c| matches!(c, '\r' | '\n' | '\t' | ' '));
            if line.is_empty() || line.starts_with('#') {
                if line == REWRITE_SIGNATURE {
                    needs_signature = false;
                }
                lines.push(line.to_string());
                continue;
            }
            let primary = split_args(line)
                .and_then(|words| words.first().and_then(|name| primary_name(name)));
            let Some(primary) = primary else {
                lines.push(format!("# ??? {line}"));
                continue;
            };
            lines.push(line.to_string());
            let at = lines.len() - 1;
            match option_lines.iter_mut().find(|(name, _)| *name == primary) {
                Some((_, numbers)) => numbers.push(at),
                None => option_lines.push((primary, vec![at])),
            }
        }
        // Redis splits on '\n', so a file that ends with one ends with an empty line, which
        // the join below turns back into the final newline.
        if lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        let defaults = Config::default();
        for spec in OPTIONS.iter().filter(|spec| !spec.is_alias()) {
            let (line, forced) = self.rewrite_line(spec, &defaults);
            let reusable = option_lines
                .iter_mut()
                .find(|(name, _)| *name == spec.name)
                .and_then(|(_, numbers)| (!numbers.is_empty()).then(|| numbers.remove(0)));
            match reusable {
                Some(at) => lines[at] = line,
                None if forced => {
                    if needs_signature {
                        lines.push(REWRITE_SIGNATURE.to_string());
                        needs_signature = false;
                    }
                    lines.push(line);
                }
                None => {}
            }
        }
        for option in REDIS_OPTIONS {
            if option_spec(option.name).is_some() {
                continue;
            }
            let value = self.get(option.name).unwrap_or_default();
            let forced = value != option.default;
            let written = match option.kind {
                RedisKind::Text => quote(&value),
                RedisKind::Number { memory: true, .. } => match value.parse::<u64>() {
                    Ok(bytes) => format_memory(bytes),
                    Err(_) => value.clone(),
                },
                // Bare, as Redis writes these (`oom-score-adj-values 0 200 800`), when the
                // words read back as the value; else quoted as one argument. We check their
                // values less than Redis does, so one can hold what bare words cannot carry:
                // a newline, a leading quote, a run of blanks (found by the config_file fuzz
                // target: a `notify-keyspace-events` holding newlines wrote a broken file).
                _ if split_args(&value).map(|words| words.join(" ")) == Some(value.clone()) => {
                    value.clone()
                }
                _ => quote(&value),
            };
            let line = format!("{} {written}", option.name);
            let reusable = option_lines
                .iter_mut()
                .find(|(name, _)| *name == option.name)
                .and_then(|(_, numbers)| (!numbers.is_empty()).then(|| numbers.remove(0)));
            match reusable {
                Some(at) => lines[at] = line,
                None if forced => {
                    if needs_signature {
                        lines.push(REWRITE_SIGNATURE.to_string());
                        needs_signature = false;
                    }
                    lines.push(line);
                }
                None => {}
            }
        }
        // Lines of an option beyond the first that were not reused (a repeated option).
        for (_, numbers) in &option_lines {
            for &at in numbers {
                lines[at].clear();
            }
        }
        let mut text = String::new();
        let mut was_empty = false;
        for line in &lines {
            if line.is_empty() {
                if was_empty {
                    continue;
                }
                was_empty = true;
            } else {
                was_empty = false;
            }
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// The number of event loops to run.
    pub fn loop_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_redis() {
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("512MB"), Some(512 << 20));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("1tb"), None);
        assert_eq!(parse_memory("x"), None);
    }

    #[test]
    fn ports_are_off_any_or_a_number() {
        let mut config = Config::default();
        for (text, port) in [
            ("0", Port::Off),
            ("-1", Port::Any),
            ("1", Port::Fixed(1)),
            ("65535", Port::Fixed(65535)),
        ] {
            config.set("port", text).unwrap();
            assert_eq!(config.port, port);
            assert_eq!(config.get("port").unwrap(), text);
        }
        for bad in ["-2", "65536"] {
            let error = config.set("memcache-port", bad).unwrap_err();
            assert_eq!(error, "argument must be between 0 and 65535 inclusive");
        }
        for bad in ["x", ""] {
            let error = config.set("memcache-port", bad).unwrap_err();
            assert_eq!(error, "argument couldn't be parsed into an integer");
        }
        assert_eq!(config.memcache_port, Port::Fixed(11211));
    }

    #[test]
    fn set_get_and_files() {
        let mut config = Config::default();
        config.set("MaxClients", "5").unwrap();
        assert_eq!(config.get("maxclients").unwrap(), "5");
        assert!(config.set("maxclients", "0").is_err());
        assert!(config.set("maxclients", "many").is_err());
        assert!(config.set("engine", "btree").is_err());
        assert!(config.set("nosuch", "1").is_err());
        config
            .set(
                "client-output-buffer-limit",
                "normal 1mb 0 0 pubsub 32mb 8mb 60",
            )
            .unwrap();
        assert_eq!(config.client_output_hard_bytes, 1 << 20);
        assert!(config
            .set("client-output-buffer-limit", "normal 1mb 0")
            .is_err());
        config
            .apply_file("# comment\nport 7000\n\nbind \"0.0.0.0 ::1\"\nengine dashmap\n")
            .unwrap();
        assert_eq!(config.port, Port::Fixed(7000));
        assert_eq!(config.bind, vec!["0.0.0.0", "::1"]);
        assert_eq!(config.engine, "dashmap");
        let error = config.apply_file("port 1\nport x\n").unwrap_err();
        assert!(error.starts_with("line 2"), "{error}");
        for option in OPTIONS {
            assert!(
                config.get(option.name).is_some(),
                "{} has no value",
                option.name
            );
        }
    }
}

#[cfg(test)]
mod rewrite_tests {
    use super::*;

    #[test]
    fn arguments_split_and_quote_as_redis_does() {
        assert_eq!(
            split_args(r#"save "" bind "a b" 'it\'s' "\x41\n""#).unwrap(),
            vec!["save", "", "bind", "a b", "it's", "A\n"]
        );
        assert_eq!(
            split_args(r#"dir "/tmp"x"#),
            None,
            "text after a closing quote"
        );
        assert_eq!(split_args(r#"dir "/tmp"#), None, "unbalanced");
        for text in ["plain", "with space", "quote\" and \\ and \n\t\x01"] {
            let line = format!("name {}", quote(text));
            assert_eq!(split_args(&line).unwrap(), vec!["name", text]);
        }
    }

    #[test]
    fn sizes_are_written_in_the_largest_unit_that_divides_them() {
        assert_eq!(format_memory(0), "0");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_memory(2048), "2kb");
        assert_eq!(format_memory(64 << 20), "64mb");
        assert_eq!(format_memory(1 << 30), "1gb");
    }

    #[test]
    fn a_rewritten_file_loads_back_as_the_configuration_that_wrote_it() {
        let mut config = Config::default();
        config.set("dir", "/var/lib/with \"quotes\"").unwrap();
        config.set("maxmemory", "1gb").unwrap();
        config.set("maxmemory-policy", "allkeys-lru").unwrap();
        config.set("appendfsync", "no").unwrap();
        config.set("zset-max-ziplist-entries", "7").unwrap();
        let text = config.rewrite_file("# mine\nappendfsync always\n");
        assert!(text.starts_with("# mine\nappendfsync no\n"), "{text}");
        assert!(text.contains("\nmaxmemory 1gb\n"), "{text}");
        let mut loaded = Config::default();
        loaded.apply_file(&text).unwrap();
        assert_eq!(loaded, config);
        // Rewriting what a rewrite wrote changes nothing.
        assert_eq!(config.rewrite_file(&text), text);
    }

    /// Found by the config_file fuzz target (its input is kept as
    /// `fuzz/corpus/config_file/crash-bind-unicode-space`): `bind` split its value on
    /// Unicode whitespace, so the file's one word `\x16\u{2003}"` became two addresses, the
    /// second a lone `"`, which the rewrite wrote bare and the file then refused as an
    /// unbalanced quote.
    #[test]
    fn bind_addresses_are_the_file_words_and_rewrite_as_they_read() {
        let mut unicode = Config::default();
        unicode.apply_file("bind \x16\u{2003}\"\n").unwrap();
        assert_eq!(unicode.bind, vec!["\x16\u{2003}\""]);
        let mut quoted = Config::default();
        quoted.apply_file("bind '\"x' 'y' \"'z\"\n").unwrap();
        assert_eq!(quoted.bind, vec!["\"x", "y", "'z"]);
        for config in [unicode, quoted] {
            let written = config.rewrite_file("");
            let mut reread = Config::default();
            reread.apply_file(&written).unwrap();
            assert_eq!(reread, config, "{written}");
        }
        // Ordinary addresses are written bare, as Redis writes them.
        let mut plain = Config::default();
        plain.set("bind", "127.0.0.1 -::1").unwrap();
        assert!(plain.rewrite_file("").contains("\nbind 127.0.0.1 -::1\n"));
    }

    /// Found by the config_file fuzz target (its input is kept as
    /// `fuzz/corpus/config_file/crash-notify-keyspace-events-newline`): a Redis option we
    /// store unchecked held newlines from a quoted argument, and the rewrite wrote it bare,
    /// so the file it wrote had lines that were not options.
    #[test]
    fn a_redis_option_bare_words_cannot_carry_is_rewritten_quoted() {
        let mut config = Config::default();
        config
            .apply_file(
                "notify-keyspace-events \"a\\nb\"\nlatency-tracking-info-percentiles '\"x'\n\
                 oom-score-adj-values \"1  2\"\n",
            )
            .unwrap();
        assert_eq!(config.get("notify-keyspace-events").unwrap(), "a\nb");
        let written = config.rewrite_file("");
        let mut reread = Config::default();
        reread.apply_file(&written).unwrap();
        assert_eq!(reread, config, "{written}");
        // Values bare words carry are still written bare, as Redis writes them.
        let mut plain = Config::default();
        plain.set("oom-score-adj-values", "0 100 900").unwrap();
        assert!(plain
            .rewrite_file("")
            .contains("\noom-score-adj-values 0 100 900\n"));
    }

    /// Found by the config_file fuzz target (its input is kept as
    /// `fuzz/corpus/config_file/crash-bind-vertical-tab`): the address `\x0b` was a word to
    /// `split_args` but trimmed off the end of the line it was written on.
    #[test]
    fn blanks_are_what_redis_splits_and_trims() {
        assert_eq!(split_args("a\x0bb\x0c c").unwrap(), vec!["a", "b", "c"]);
        let mut config = Config::default();
        config.apply_file("bind p \x0b q \x0b\n\x0b\n").unwrap();
        assert_eq!(config.bind, vec!["p", "q"]);
        config.apply_file("bind p\u{2003}\n").unwrap();
        assert_eq!(
            config.bind,
            vec!["p\u{2003}"],
            "Unicode whitespace is not trimmed"
        );
        config.set("oom-score-adj-values", "1\u{2003}").unwrap();
        let written = config.rewrite_file("");
        let mut reread = Config::default();
        reread.apply_file(&written).unwrap();
        assert_eq!(reread, config, "{written}");
    }

    #[test]
    fn redis_options_we_do_not_implement_are_checked_as_redis_checks_them() {
        let mut config = Config::default();
        assert_eq!(config.get("hz").unwrap(), "10");
        config.set("hz", "100").unwrap();
        assert_eq!(config.get("hz").unwrap(), "100");
        assert_eq!(
            config.set("hz", "-1").unwrap_err(),
            "argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            config.set("hz", "often").unwrap_err(),
            "argument couldn't be parsed into an integer"
        );
        assert_eq!(
            config.set("activerehashing", "maybe").unwrap_err(),
            "argument must be 'yes' or 'no'"
        );
        // Back to the default, or set to it from a file line with no value: the same
        // configuration as never set (what a CONFIG REWRITE reads back as).
        config.set("hz", "10").unwrap();
        assert_eq!(config, Config::default());
        let mut from_file = Config::default();
        from_file
            .apply_file("\n\nnotify-keyspace-events\n")
            .unwrap();
        assert_eq!(from_file, Config::default());
        assert_eq!(mutability("daemonize"), Some(Mutability::Immutable));
        assert_eq!(mutability("dir"), Some(Mutability::Protected));
        assert_eq!(mutability("appendonly"), Some(Mutability::Runtime));
        assert_eq!(mutability("no-such-option"), None);
        assert_eq!(primary_name("slave-read-only"), Some("replica-read-only"));
    }
}
