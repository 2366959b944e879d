//! The `COMMAND` commands' docs (see the [module docs](super)).

use super::{one_of, pattern, string, Docs, Group};

/// `COMMAND`.
pub const COMMAND: Docs = Docs::new(
    Group::Server,
    "2.8.13",
    "Describes every command the server knows.",
    "O(N), N being the number of commands.",
);

/// `COMMAND COUNT`.
pub const COMMAND_COUNT: Docs = Docs::new(
    Group::Server,
    "2.8.13",
    "Returns the number of commands the server knows.",
    "O(1)",
);

/// `COMMAND LIST`.
pub const COMMAND_LIST: Docs = Docs::new(
    Group::Server,
    "7.0.0",
    "Returns the names of the commands, all or those matching a filter.",
    "O(N), N being the number of commands.",
)
.arguments(&[one_of(
    "filterby",
    &[
        string("module-name").token("MODULE"),
        string("category").token("ACLCAT"),
        pattern("pattern").token("PATTERN"),
    ],
)
.token("FILTERBY")
.optional()]);

/// `COMMAND INFO`.
pub const COMMAND_INFO: Docs = Docs::new(
    Group::Server,
    "2.8.13",
    "Describes the named commands, or every command.",
    "O(N), N being the number of commands described.",
)
.history(&[(
    "7.0.0",
    "May be called without names to describe every command.",
)])
.arguments(&[string("command-name").optional().multiple()]);

/// `COMMAND DOCS`.
pub const COMMAND_DOCS: Docs = Docs::new(
    Group::Server,
    "7.0.0",
    "Returns the documentation of the named commands, or of every command.",
    "O(N), N being the number of commands documented.",
)
.arguments(&[string("command-name").optional().multiple()]);

/// `COMMAND GETKEYS`.
pub const COMMAND_GETKEYS: Docs = Docs::new(
    Group::Server,
    "2.8.13",
    "Returns the keys of a full command line.",
    "O(N), N being the number of arguments of the command line.",
);

/// `COMMAND GETKEYSANDFLAGS`.
pub const COMMAND_GETKEYSANDFLAGS: Docs = Docs::new(
    Group::Server,
    "7.0.0",
    "Returns the keys of a full command line, each with how the command uses it.",
    "O(N), N being the number of arguments of the command line.",
);

/// `COMMAND HELP`.
pub const COMMAND_HELP: Docs = Docs::new(
    Group::Server,
    "5.0.0",
    "Lists the COMMAND subcommands.",
    "O(1)",
);
