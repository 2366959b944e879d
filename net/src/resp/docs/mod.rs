//! # Command docs
//!
//! What `COMMAND DOCS` reports about a command: a one-line summary, the Redis version that
//! introduced it, its group, its complexity, whether it is deprecated and by what it was
//! replaced, its history, and the tree of its arguments. redis-cli 7 reads the argument trees
//! at start-up to show hints as the user types (`SET key value [NX|XX] [GET] ...`), and client
//! generators read them to build typed APIs, so the trees are interface.
//!
//! Each command [row](super::table::Row) points at its [`Docs`] (the `docs:` field of the
//! `command!` macro), so a command cannot exist without them. The data lives in one file per
//! command family here, beside but apart from the family's handlers, because it is long and
//! read by nothing but `COMMAND DOCS`.
//!
//! ## Where the facts come from
//!
//! The interface facts (argument names, types, tokens, flags, key spec indexes, `since`,
//! group, deprecation and the versions of the history entries) are Redis 7.0.15's:
//! `tests/commands.rs` compares them with a real redis-server for every command we serve.
//! The prose (summaries, complexities, history texts) is ours, written for this server;
//! the test only checks that it is there. `scripts/command-docs-skeleton.py` prints the
//! skeleton of a new command's docs from a running redis-server, with the prose left to
//! write.
//!
//! Redis 7.0 has no `display_text` on arguments (7.2 added it), so neither do we.

pub(super) mod connection;
pub(super) mod functions;
pub(super) mod introspection;
pub(super) mod keys;
pub(super) mod lists;
pub(super) mod server;
pub(super) mod strings;

/// The group a command is listed under (Redis's `group` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Commands on keys of any type.
    Generic,
    /// Strings.
    String,
    /// Lists.
    List,
    /// The server's own state.
    Server,
    /// The client's connection.
    Connection,
    /// Scripts and functions.
    Scripting,
}

impl Group {
    /// The name `COMMAND DOCS` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Group::Generic => "generic",
            Group::String => "string",
            Group::List => "list",
            Group::Server => "server",
            Group::Connection => "connection",
            Group::Scripting => "scripting",
        }
    }
}

/// `doc_flags` bits.
pub mod doc_flag {
    /// The command is deprecated (see `deprecated_since` and `replaced_by`).
    pub const DEPRECATED: u8 = 1 << 0;
    /// A system command, not meant for users.
    pub const SYSCMD: u8 = 1 << 1;

    /// Every flag with its name, in Redis's order.
    pub const NAMES: [(u8, &str); 2] = [(DEPRECATED, "deprecated"), (SYSCMD, "syscmd")];
}

/// One command's documentation.
#[derive(Debug, Clone, Copy)]
pub struct Docs {
    /// What it does, in one sentence (ours).
    pub summary: &'static str,
    /// The Redis version that introduced it.
    pub since: &'static str,
    /// Its group.
    pub group: Group,
    /// Its time complexity, in words (ours).
    pub complexity: &'static str,
    /// [`doc_flag`] bits.
    pub doc_flags: u8,
    /// The version that deprecated it (empty: not deprecated).
    pub deprecated_since: &'static str,
    /// What to use instead, when deprecated (empty: nothing).
    pub replaced_by: &'static str,
    /// How it changed: (Redis version, what changed in our words), oldest first.
    pub history: &'static [(&'static str, &'static str)],
    /// Its arguments after the name (and after the subcommand name for a subcommand).
    pub arguments: &'static [Arg],
}

impl Docs {
    /// A command with no history, no deprecation and no arguments (yet).
    pub const fn new(
        group: Group,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> Docs {
        Docs {
            summary,
            since,
            group,
            complexity,
            doc_flags: 0,
            deprecated_since: "",
            replaced_by: "",
            history: &[],
            arguments: &[],
        }
    }

    /// The same with its history.
    pub const fn history(mut self, history: &'static [(&'static str, &'static str)]) -> Docs {
        self.history = history;
        self
    }

    /// The same with its arguments.
    pub const fn arguments(mut self, arguments: &'static [Arg]) -> Docs {
        self.arguments = arguments;
        self
    }

    /// The same, deprecated since `since` in favour of `replaced_by`.
    pub const fn deprecated(mut self, since: &'static str, replaced_by: &'static str) -> Docs {
        self.doc_flags |= doc_flag::DEPRECATED;
        self.deprecated_since = since;
        self.replaced_by = replaced_by;
        self
    }
}

/// What an argument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    /// Any bytes.
    String,
    /// A whole number.
    Integer,
    /// A floating-point number.
    Double,
    /// A key: the index of the command's key spec that finds it.
    Key(u8),
    /// A glob pattern.
    Pattern,
    /// A Unix time.
    UnixTime,
    /// Just its token (`NX`).
    PureToken,
    /// Exactly one of these.
    OneOf(&'static [Arg]),
    /// All of these, in order.
    Block(&'static [Arg]),
}

impl ArgType {
    /// The name `COMMAND DOCS` gives it.
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key(_) => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf(_) => "oneof",
            ArgType::Block(_) => "block",
        }
    }
}

/// Argument flags.
pub mod arg_flag {
    /// May be left out.
    pub const OPTIONAL: u8 = 1 << 0;
    /// May be repeated.
    pub const MULTIPLE: u8 = 1 << 1;
    /// Repeated with its token before each repetition (`GET a GET b`).
    pub const MULTIPLE_TOKEN: u8 = 1 << 2;

    /// Every flag with its name, in Redis's order.
    pub const NAMES: [(u8, &str); 3] = [
        (OPTIONAL, "optional"),
        (MULTIPLE, "multiple"),
        (MULTIPLE_TOKEN, "multiple_token"),
    ];
}

/// One argument of a command, or of a `oneof`/`block` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// Its name (a placeholder in hints: `key`, `value`).
    pub name: &'static str,
    /// What it is.
    pub kind: ArgType,
    /// The literal word that introduces it (`EX`), if any.
    pub token: Option<&'static str>,
    /// The Redis version that added it, if later than the command.
    pub since: Option<&'static str>,
    /// The Redis version that deprecated it, if any.
    pub deprecated_since: Option<&'static str>,
    /// [`arg_flag`] bits.
    pub flags: u8,
}

impl Arg {
    const fn of(name: &'static str, kind: ArgType) -> Arg {
        Arg {
            name,
            kind,
            token: None,
            since: None,
            deprecated_since: None,
            flags: 0,
        }
    }

    /// The same, introduced by `token`.
    pub const fn token(mut self, token: &'static str) -> Arg {
        self.token = Some(token);
        self
    }

    /// The same, added in Redis `version`.
    pub const fn since(mut self, version: &'static str) -> Arg {
        self.since = Some(version);
        self
    }

    /// The same, deprecated since Redis `version`.
    pub const fn deprecated_since(mut self, version: &'static str) -> Arg {
        self.deprecated_since = Some(version);
        self
    }

    /// The same, optional.
    pub const fn optional(mut self) -> Arg {
        self.flags |= arg_flag::OPTIONAL;
        self
    }

    /// The same, repeatable.
    pub const fn multiple(mut self) -> Arg {
        self.flags |= arg_flag::MULTIPLE;
        self
    }

    /// The same, repeatable with its token before each repetition.
    pub const fn multiple_token(mut self) -> Arg {
        self.flags |= arg_flag::MULTIPLE_TOKEN;
        self
    }
}

/// A string argument.
pub const fn string(name: &'static str) -> Arg {
    Arg::of(name, ArgType::String)
}

/// An integer argument.
pub const fn integer(name: &'static str) -> Arg {
    Arg::of(name, ArgType::Integer)
}

/// A floating-point argument.
pub const fn double(name: &'static str) -> Arg {
    Arg::of(name, ArgType::Double)
}

/// A key found by the command's key spec number `spec_index`.
pub const fn key(name: &'static str, spec_index: u8) -> Arg {
    Arg::of(name, ArgType::Key(spec_index))
}

/// A glob pattern argument.
pub const fn pattern(name: &'static str) -> Arg {
    Arg::of(name, ArgType::Pattern)
}

/// A Unix time argument.
pub const fn unix_time(name: &'static str) -> Arg {
    Arg::of(name, ArgType::UnixTime)
}

/// A bare token (`NX`).
pub const fn pure_token(name: &'static str, token: &'static str) -> Arg {
    Arg::of(name, ArgType::PureToken).token(token)
}

/// Exactly one of `choices`.
pub const fn one_of(name: &'static str, choices: &'static [Arg]) -> Arg {
    Arg::of(name, ArgType::OneOf(choices))
}

/// All of `parts`, in order.
pub const fn block(name: &'static str, parts: &'static [Arg]) -> Arg {
    Arg::of(name, ArgType::Block(parts))
}
