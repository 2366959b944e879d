//! The connection commands' docs (see the [module docs](super)).

use super::{block, integer, one_of, pure_token, string, Docs, Group};

/// `PING`.
pub const PING: Docs = Docs::new(
    Group::Connection,
    "1.0.0",
    "Answers PONG, or echoes the message given: a liveness check.",
    "O(1)",
)
.arguments(&[string("message").optional()]);

/// `ECHO`.
pub const ECHO: Docs = Docs::new(
    Group::Connection,
    "1.0.0",
    "Returns the message given.",
    "O(1)",
)
.arguments(&[string("message")]);

/// `SELECT`.
pub const SELECT: Docs = Docs::new(
    Group::Connection,
    "1.0.0",
    "Switches the connection to another numbered database.",
    "O(1)",
)
.arguments(&[integer("index")]);

/// `QUIT`.
pub const QUIT: Docs = Docs::new(
    Group::Connection,
    "1.0.0",
    "Closes the connection once the replies before it are sent.",
    "O(1)",
);

/// `HELLO`.
pub const HELLO: Docs = Docs::new(
    Group::Connection,
    "6.0.0",
    "Negotiates the protocol version, optionally authenticates and names the connection, and \
    describes the server.",
    "O(1)",
)
.history(&[(
    "6.2.0",
    "The protocol version became optional; without arguments the reply describes the \
        current connection.",
)])
.arguments(&[block(
    "arguments",
    &[
        integer("protover"),
        block(
            "username_password",
            &[string("username"), string("password")],
        )
        .token("AUTH")
        .optional(),
        string("clientname").token("SETNAME").optional(),
    ],
)
.optional()]);

/// `CLIENT`.
pub const CLIENT: Docs = Docs::new(
    Group::Connection,
    "2.4.0",
    "The commands about client connections.",
    "Depends on the subcommand.",
);

/// `CLIENT ID`.
pub const CLIENT_ID: Docs = Docs::new(
    Group::Connection,
    "5.0.0",
    "Returns the connection's unique id.",
    "O(1)",
);

/// `CLIENT SETNAME`.
pub const CLIENT_SETNAME: Docs = Docs::new(
    Group::Connection,
    "2.6.9",
    "Gives the connection a name, shown by CLIENT LIST.",
    "O(1)",
)
.arguments(&[string("connection-name")]);

/// `CLIENT GETNAME`.
pub const CLIENT_GETNAME: Docs = Docs::new(
    Group::Connection,
    "2.6.9",
    "Returns the connection's name, or nil when it has none.",
    "O(1)",
);

/// `CLIENT SETINFO`.
pub const CLIENT_SETINFO: Docs = Docs::new(
    Group::Connection,
    "7.2.0",
    "Records the client library's name or version on the connection, shown by CLIENT LIST.",
    "O(1)",
)
.arguments(&[one_of(
    "attr",
    &[
        string("libname").token("LIB-NAME"),
        string("libver").token("LIB-VER"),
    ],
)]);

/// `CLIENT LIST`.
pub const CLIENT_LIST: Docs = Docs::new(
    Group::Connection,
    "2.4.0",
    "Describes every connected client, one line each, optionally only those of a type or with \
    given ids.",
    "O(N), N being the number of connections.",
)
.history(&[
    ("2.8.12", "Each line gained the client's id."),
    ("5.0.0", "The TYPE filter appeared."),
    ("6.0.0", "Each line gained the user."),
    (
        "6.2.0",
        "Each line gained argv-mem, tot-mem, laddr and redir, and the ID filter appeared.",
    ),
    ("7.0.0", "Each line gained resp, multi-mem, rbs and rbp."),
    ("7.0.3", "Each line gained ssub."),
])
.arguments(&[
    one_of(
        "normal_master_replica_pubsub",
        &[
            pure_token("normal", "NORMAL"),
            pure_token("master", "MASTER"),
            pure_token("replica", "REPLICA"),
            pure_token("pubsub", "PUBSUB"),
        ],
    )
    .token("TYPE")
    .since("5.0.0")
    .optional(),
    block("id", &[integer("client-id").multiple()])
        .token("ID")
        .since("6.2.0")
        .optional(),
]);

/// `CLIENT INFO`.
pub const CLIENT_INFO: Docs = Docs::new(
    Group::Connection,
    "6.2.0",
    "Describes the calling connection in the format of CLIENT LIST.",
    "O(1)",
);

/// `CLIENT KILL`.
pub const CLIENT_KILL: Docs = Docs::new(
    Group::Connection,
    "2.4.0",
    "Closes one client by address, or every client that matches the filters.",
    "O(N), N being the number of connections.",
)
.history(&[
    ("2.8.12", "Filters given as name-value pairs appeared."),
    ("2.8.12", "The ID filter appeared."),
    ("3.2.0", "TYPE accepts master."),
    (
        "5.0.0",
        "TYPE says replica for slave (slave is still accepted).",
    ),
    ("6.2.0", "The LADDR filter appeared."),
])
.arguments(&[one_of(
    "filter",
    &[
        string("ip:port").deprecated_since("2.8.12"),
        one_of(
            "new-format",
            &[
                integer("client-id").token("ID").since("2.8.12").optional(),
                one_of(
                    "normal_master_slave_pubsub",
                    &[
                        pure_token("normal", "NORMAL"),
                        pure_token("master", "MASTER").since("3.2.0"),
                        pure_token("slave", "SLAVE"),
                        pure_token("replica", "REPLICA").since("5.0.0"),
                        pure_token("pubsub", "PUBSUB"),
                    ],
                )
                .token("TYPE")
                .since("2.8.12")
                .optional(),
                string("username").token("USER").optional(),
                string("ip:port").token("ADDR").optional(),
                string("ip:port").token("LADDR").since("6.2.0").optional(),
                string("yes/no").token("SKIPME").optional(),
            ],
        )
        .multiple(),
    ],
)]);

/// `CLIENT HELP`.
pub const CLIENT_HELP: Docs = Docs::new(
    Group::Connection,
    "5.0.0",
    "Lists the CLIENT subcommands.",
    "O(1)",
);
