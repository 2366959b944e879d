//! The server commands' docs (see the [module docs](super)).

use super::{block, integer, one_of, pure_token, string, Docs, Group};

/// `INFO`.
pub const INFO: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Returns the server's information and statistics as text, all of it or the named sections.",
    "O(1)",
)
.history(&[("7.0.0", "Several sections may be named at once.")])
.arguments(&[string("section").optional().multiple()]);

/// `DBSIZE`.
pub const DBSIZE: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Returns the number of keys in the selected database.",
    "O(1)",
);

/// `SWAPDB`.
pub const SWAPDB: Docs = Docs::new(
    Group::Server,
    "4.0.0",
    "Exchanges two databases, so that the clients of each see the other's keys.",
    "O(N), N being the clients watching or blocked on keys of either database (O(1) here).",
)
.arguments(&[integer("index1"), integer("index2")]);

/// `FLUSHDB`.
pub const FLUSHDB: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Removes every key of the selected database.",
    "O(N), N being the number of keys in the database.",
)
.history(&[
    ("4.0.0", "The ASYNC mode appeared."),
    ("6.2.0", "The SYNC mode appeared."),
])
.arguments(&[one_of(
    "async",
    &[
        pure_token("async", "ASYNC").since("4.0.0"),
        pure_token("sync", "SYNC").since("6.2.0"),
    ],
)
.optional()]);

/// `FLUSHALL`.
pub const FLUSHALL: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Removes every key of every database.",
    "O(N), N being the number of keys in all databases.",
)
.history(&[
    ("4.0.0", "The ASYNC mode appeared."),
    ("6.2.0", "The SYNC mode appeared."),
])
.arguments(&[one_of(
    "async",
    &[
        pure_token("async", "ASYNC").since("4.0.0"),
        pure_token("sync", "SYNC").since("6.2.0"),
    ],
)
.optional()]);

/// `CONFIG`.
pub const CONFIG: Docs = Docs::new(
    Group::Server,
    "2.0.0",
    "The server configuration commands.",
    "Depends on the subcommand.",
);

/// `CONFIG GET`.
pub const CONFIG_GET: Docs = Docs::new(
    Group::Server,
    "2.0.0",
    "Returns the configuration options whose names match the patterns, with their values.",
    "O(N), N being the number of patterns given.",
)
.history(&[("7.0.0", "Several patterns may be given at once.")])
.arguments(&[block("parameter", &[string("parameter")]).multiple()]);

/// `CONFIG SET`.
pub const CONFIG_SET: Docs = Docs::new(
    Group::Server,
    "2.0.0",
    "Changes configuration options at runtime: all of them or, when one is refused, none.",
    "O(N), N being the number of options given.",
)
.history(&[("7.0.0", "Several options may be set at once.")])
.arguments(&[block("parameter_value", &[string("parameter"), string("value")]).multiple()]);

/// `CONFIG RESETSTAT`.
pub const CONFIG_RESETSTAT: Docs = Docs::new(
    Group::Server,
    "2.0.0",
    "Zeroes the statistics INFO reports.",
    "O(1)",
);

/// `CONFIG REWRITE`.
pub const CONFIG_REWRITE: Docs = Docs::new(
    Group::Server,
    "2.8.0",
    "Writes the running configuration back to the configuration file.",
    "O(1)",
);

/// `CONFIG HELP`.
pub const CONFIG_HELP: Docs = Docs::new(
    Group::Server,
    "5.0.0",
    "Lists the CONFIG subcommands.",
    "O(1)",
);

/// `TIME`.
pub const TIME: Docs = Docs::new(
    Group::Server,
    "2.6.0",
    "Returns the server's clock: Unix seconds and the microseconds within the second.",
    "O(1)",
);

/// `BGREWRITEAOF`.
pub const BGREWRITEAOF: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Starts rewriting the append-only file in the background.",
    "O(1)",
);

/// `LASTSAVE`.
pub const LASTSAVE: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Returns the Unix time of the last successful save to disk.",
    "O(1)",
);

/// `SHUTDOWN`.
pub const SHUTDOWN: Docs = Docs::new(
    Group::Server,
    "1.0.0",
    "Stops the server, saving first when persistence asks for it.",
    "O(1) without a save; O(N) for N keys in all databases when saving.",
)
.history(&[("7.0.0", "The NOW, FORCE and ABORT modifiers appeared.")])
.arguments(&[
    one_of(
        "nosave_save",
        &[pure_token("nosave", "NOSAVE"), pure_token("save", "SAVE")],
    )
    .optional(),
    pure_token("now", "NOW").since("7.0.0").optional(),
    pure_token("force", "FORCE").since("7.0.0").optional(),
    pure_token("abort", "ABORT").since("7.0.0").optional(),
]);
