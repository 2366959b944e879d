//! The command table: every RESP command we serve, with Redis 7's arity, flags and key
//! positions (what `COMMAND INFO` reports; cluster-aware clients and proxies read the key
//! positions). Lookup is case-insensitive and allocation-free.

use foldhash::HashMap;
use std::sync::LazyLock;

/// Which file implements the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `strings.rs`.
    Strings,
    /// `lists.rs`.
    Lists,
    /// `keys.rs`.
    Keys,
    /// `server.rs`.
    Server,
}

/// One command.
#[derive(Debug)]
pub struct Command {
    /// Lowercase name, as Redis names it in errors.
    pub name: &'static str,
    /// Redis's arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// `COMMAND INFO` flags.
    pub flags: &'static [&'static str],
    /// The first key's position, the last's (-1: the last argument), and the step.
    pub keys: (i32, i32, i32),
    /// The implementing family.
    pub family: Family,
}

impl Command {
    /// Whether it may change the keyspace (Redis's `write` flag): refused while the
    /// append-only file cannot be written.
    pub fn is_write(&self) -> bool {
        self.flags.contains(&"write")
    }
}

const fn command(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
    family: Family,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        family,
    }
}

const READ_FAST: &[&str] = &["readonly", "fast"];
const READ: &[&str] = &["readonly"];
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const WRITE: &[&str] = &["write", "denyoom"];
const DELETE: &[&str] = &["write"];
const ADMIN: &[&str] = &["admin", "noscript", "loading", "stale"];
const CONNECTION: &[&str] = &["noscript", "loading", "stale", "fast"];

use Family::{Keys, Lists, Server, Strings};

/// Every command, in `COMMAND` order.
pub static COMMANDS: &[Command] = &[
    // Strings.
    command("get", 2, READ_FAST, (1, 1, 1), Strings),
    command("set", -3, WRITE, (1, 1, 1), Strings),
    command("getex", -2, &["write", "fast"], (1, 1, 1), Strings),
    command("getdel", 2, &["write", "fast"], (1, 1, 1), Strings),
    command("getset", 3, WRITE_FAST, (1, 1, 1), Strings),
    command("mget", -2, READ_FAST, (1, -1, 1), Strings),
    command("mset", -3, WRITE, (1, -1, 2), Strings),
    command("msetnx", -3, WRITE, (1, -1, 2), Strings),
    command("setnx", 3, WRITE_FAST, (1, 1, 1), Strings),
    command("setex", 4, WRITE, (1, 1, 1), Strings),
    command("psetex", 4, WRITE, (1, 1, 1), Strings),
    command("incr", 2, WRITE_FAST, (1, 1, 1), Strings),
    command("incrby", 3, WRITE_FAST, (1, 1, 1), Strings),
    command("incrbyfloat", 3, WRITE_FAST, (1, 1, 1), Strings),
    command("decr", 2, WRITE_FAST, (1, 1, 1), Strings),
    command("decrby", 3, WRITE_FAST, (1, 1, 1), Strings),
    command("append", 3, WRITE_FAST, (1, 1, 1), Strings),
    command("strlen", 2, READ_FAST, (1, 1, 1), Strings),
    command("getrange", 4, READ, (1, 1, 1), Strings),
    command("substr", 4, READ, (1, 1, 1), Strings),
    command("setrange", 4, WRITE, (1, 1, 1), Strings),
    // Lists.
    command("lpush", -3, WRITE_FAST, (1, 1, 1), Lists),
    command("rpush", -3, WRITE_FAST, (1, 1, 1), Lists),
    command("lpushx", -3, WRITE_FAST, (1, 1, 1), Lists),
    command("rpushx", -3, WRITE_FAST, (1, 1, 1), Lists),
    command("lpop", -2, &["write", "fast"], (1, 1, 1), Lists),
    command("rpop", -2, &["write", "fast"], (1, 1, 1), Lists),
    command("llen", 2, READ_FAST, (1, 1, 1), Lists),
    command("lindex", 3, READ, (1, 1, 1), Lists),
    command("lrange", 4, READ, (1, 1, 1), Lists),
    command("lset", 4, WRITE, (1, 1, 1), Lists),
    command("lrem", 4, DELETE, (1, 1, 1), Lists),
    command("ltrim", 4, DELETE, (1, 1, 1), Lists),
    command("linsert", 5, WRITE, (1, 1, 1), Lists),
    command("lpos", -3, READ, (1, 1, 1), Lists),
    command("lmove", 5, WRITE, (1, 2, 1), Lists),
    // Keys.
    command("del", -2, DELETE, (1, -1, 1), Keys),
    command("unlink", -2, &["write", "fast"], (1, -1, 1), Keys),
    command("exists", -2, READ_FAST, (1, -1, 1), Keys),
    command("expire", -3, &["write", "fast"], (1, 1, 1), Keys),
    command("pexpire", -3, &["write", "fast"], (1, 1, 1), Keys),
    command("expireat", -3, &["write", "fast"], (1, 1, 1), Keys),
    command("pexpireat", -3, &["write", "fast"], (1, 1, 1), Keys),
    command("ttl", 2, READ_FAST, (1, 1, 1), Keys),
    command("pttl", 2, READ_FAST, (1, 1, 1), Keys),
    command("expiretime", 2, READ_FAST, (1, 1, 1), Keys),
    command("pexpiretime", 2, READ_FAST, (1, 1, 1), Keys),
    command("persist", 2, &["write", "fast"], (1, 1, 1), Keys),
    command("keys", 2, READ, (0, 0, 0), Keys),
    command("scan", -2, READ, (0, 0, 0), Keys),
    command("type", 2, READ_FAST, (1, 1, 1), Keys),
    command("rename", 3, DELETE, (1, 2, 1), Keys),
    command("renamenx", 3, &["write", "fast"], (1, 2, 1), Keys),
    command("randomkey", 1, READ, (0, 0, 0), Keys),
    command("touch", -2, READ_FAST, (1, -1, 1), Keys),
    command("copy", -3, WRITE, (1, 2, 1), Keys),
    // Server and connection.
    command("ping", -1, CONNECTION, (0, 0, 0), Server),
    command("echo", 2, CONNECTION, (0, 0, 0), Server),
    command("info", -1, &["loading", "stale"], (0, 0, 0), Server),
    command("dbsize", 1, READ_FAST, (0, 0, 0), Server),
    command("flushdb", -1, DELETE, (0, 0, 0), Server),
    command("flushall", -1, DELETE, (0, 0, 0), Server),
    command("command", -1, &["loading", "stale"], (0, 0, 0), Server),
    command("config", -2, ADMIN, (0, 0, 0), Server),
    command("time", 1, &["loading", "stale", "fast"], (0, 0, 0), Server),
    command(
        "bgrewriteaof",
        1,
        &["admin", "noscript", "no_async_loading"],
        (0, 0, 0),
        Server,
    ),
    command(
        "lastsave",
        1,
        &["loading", "stale", "fast"],
        (0, 0, 0),
        Server,
    ),
    command("select", 2, CONNECTION, (0, 0, 0), Server),
    command(
        "quit",
        -1,
        &["allow_busy", "noscript", "loading", "stale", "fast"],
        (0, 0, 0),
        Server,
    ),
    command("hello", -1, CONNECTION, (0, 0, 0), Server),
    command(
        "shutdown",
        -1,
        &[
            "admin",
            "noscript",
            "loading",
            "stale",
            "no_multi",
            "allow_busy",
        ],
        (0, 0, 0),
        Server,
    ),
    command(
        "client",
        -2,
        &["noscript", "loading", "stale"],
        (0, 0, 0),
        Server,
    ),
];

/// The longest command name (for the lowercase lookup buffer).
const NAME_BYTES_MAX: usize = 16;

/// Name to command; foldhash because this lookup runs once per request and std's SipHash
/// would cost more than the rest of a GET's parsing.
static BY_NAME: LazyLock<HashMap<&'static [u8], &'static Command>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .map(|command| {
            assert!(
                command.name.len() <= NAME_BYTES_MAX,
                "{} is too long",
                command.name
            );
            (command.name.as_bytes(), command)
        })
        .collect()
});

/// The command named `name`, any case.
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    let mut lower = [0u8; NAME_BYTES_MAX];
    for (to, from) in lower.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    BY_NAME.get(&lower[..name.len()]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_ignores_case_and_rejects_unknown_names() {
        assert_eq!(lookup(b"GeT").unwrap().name, "get");
        assert_eq!(lookup(b"incrbyfloat").unwrap().arity, 3);
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(b"averyveryverylongcommandname").is_none());
        assert!(lookup(b"").is_none());
        let mut names: Vec<_> = COMMANDS.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COMMANDS.len(), "a name is listed twice");
    }
}
