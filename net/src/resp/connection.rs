//! Connection commands: `PING`, `ECHO`, `SELECT`, `QUIT`, `HELLO` and `CLIENT`, which read and
//! change the connection's own [`Client`](crate::client::Client) state, and (`CLIENT LIST`,
//! `CLIENT KILL`) the shared view of every client.

use super::docs::connection as docs;
use super::parse::Args;
use super::table::{command, container, Row};
use super::{errors, int_arg, truncate_lossy, CommandError, CommandResult};
use crate::client::{flags, ClientInfo, Message};
use crate::session::Session;
use engine::Engine;
use keyspace::Value;
use std::sync::atomic::Ordering;

/// The Redis version we report: the one whose commands and replies we follow. Clients check it
/// to decide which commands they may use.
pub const REDIS_VERSION: &str = "7.0.15";

/// The connection commands' rows.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![
        command!("ping", -1, [FAST], [FAST, CONNECTION], [], ping, tips: ["request_policy:all_shards", "response_policy:all_succeeded"], docs: docs::PING),
        command!(
            "echo",
            2,
            [LOADING, STALE, FAST],
            [FAST, CONNECTION],
            [],
            echo,
            docs: docs::ECHO
        ),
        command!(
            "select",
            2,
            [LOADING, STALE, FAST],
            [FAST, CONNECTION],
            [],
            select,
            docs: docs::SELECT
        ),
        command!(
            "quit",
            -1,
            [NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY],
            [FAST, CONNECTION],
            [],
            quit,
            docs: docs::QUIT
        ),
        command!(
            "hello",
            -1,
            [NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY],
            [FAST, CONNECTION],
            [],
            hello,
            docs: docs::HELLO
        ),
        container!(
            "client",
            -2,
            [],
            [SLOW],
            vec![
                command!(
                    "client|id",
                    2,
                    [NOSCRIPT, LOADING, STALE],
                    [SLOW, CONNECTION],
                    [],
                    client_id,
                    docs: docs::CLIENT_ID
                ),
                command!(
                    "client|setname",
                    3,
                    [NOSCRIPT, LOADING, STALE],
                    [SLOW, CONNECTION],
                    [],
                    client_setname,
                    docs: docs::CLIENT_SETNAME
                ),
                command!(
                    "client|getname",
                    2,
                    [NOSCRIPT, LOADING, STALE],
                    [SLOW, CONNECTION],
                    [],
                    client_getname,
                    docs: docs::CLIENT_GETNAME
                ),
                // CLIENT SETINFO is Redis 7.2's; client libraries send it on connect.
                command!("client|setinfo", 4, [NOSCRIPT, LOADING, STALE], [SLOW, CONNECTION], [], client_setinfo, tips: ["request_policy:all_nodes", "response_policy:all_succeeded"], docs: docs::CLIENT_SETINFO),
                command!("client|list", -2, [ADMIN, NOSCRIPT, LOADING, STALE], [ADMIN, SLOW, DANGEROUS, CONNECTION], [], client_list, tips: ["nondeterministic_output"], docs: docs::CLIENT_LIST),
                command!("client|info", 2, [NOSCRIPT, LOADING, STALE], [SLOW, CONNECTION], [], client_info, tips: ["nondeterministic_output"], docs: docs::CLIENT_INFO),
                command!(
                    "client|kill",
                    -3,
                    [ADMIN, NOSCRIPT, LOADING, STALE],
                    [ADMIN, SLOW, DANGEROUS, CONNECTION],
                    [],
                    client_kill,
                    docs: docs::CLIENT_KILL
                ),
                command!(
                    "client|help",
                    2,
                    [LOADING, STALE],
                    [SLOW, CONNECTION],
                    [],
                    client_help,
                    docs: docs::CLIENT_HELP
                ),
            ],
            docs: docs::CLIENT
        ),
    ]
}

fn ping<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    // As Redis: PING is refused while the log cannot be written (as writes are), so a health
    // check notices a server that cannot persist.
    if let Some(refusal) = session.shared.write_refusal() {
        return Err(refusal.into());
    }
    match args.len() {
        1 => session.simple("PONG"),
        2 => session.bulk(args.get(1)),
        _ => return Err("ERR wrong number of arguments for 'ping' command".into()),
    }
    Ok(())
}

fn echo<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    session.bulk(args.get(1));
    Ok(())
}

fn select<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let index = super::keys::db_index(session, args.get(1))?;
    session.client.select(index);
    session.ok();
    Ok(())
}

fn quit<E: Engine<Value = Value>>(session: &mut Session<'_, E>, _args: Args<'_>) -> CommandResult {
    session.ok();
    session.client.set_flags(flags::CLOSE_AFTER_REPLY, true);
    Ok(())
}

fn hello<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    let mut version = None;
    if args.len() >= 2 {
        let asked = int_arg(args.get(1))
            .map_err(|_| "ERR Protocol version is not an integer or out of range")?;
        if asked != 2 && asked != 3 {
            return Err("NOPROTO unsupported protocol version".into());
        }
        version = Some(asked as u8);
        let mut index = 2;
        while index < args.len() {
            match args.get(index).to_ascii_uppercase().as_slice() {
                // No users or passwords: the default user needs none, as in a Redis without
                // `requirepass`, where AUTH default <anything> succeeds.
                b"AUTH" if index + 2 < args.len() => index += 3,
                b"SETNAME" if index + 1 < args.len() => {
                    set_client_name(session, args.get(index + 1))?;
                    index += 2;
                }
                _ => {
                    return Err(format!(
                        "ERR Syntax error in HELLO option '{}'",
                        truncate_lossy(args.get(index), 128)
                    )
                    .into())
                }
            }
        }
    }
    // As Redis: the options are applied first, and the reply is already in the new version.
    if let Some(version) = version {
        session.client.set_resp(version);
    }
    session.map(7);
    session.bulk(b"server");
    session.bulk(b"redis");
    session.bulk(b"version");
    session.bulk(REDIS_VERSION.as_bytes());
    session.bulk(b"proto");
    session.integer(i64::from(session.client.resp()));
    session.bulk(b"id");
    session.integer(session.client.id() as i64);
    session.bulk(b"mode");
    session.bulk(b"standalone");
    session.bulk(b"role");
    session.bulk(b"master");
    session.bulk(b"modules");
    session.array(0);
    Ok(())
}

/// Redis's rule for names given with SETNAME and SETINFO: printable ASCII without spaces.
fn check_name(name: &[u8], what: &str) -> CommandResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(
            format!("ERR {what} cannot contain spaces, newlines or special characters.").into(),
        );
    }
    Ok(())
}

fn set_client_name<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    name: &[u8],
) -> CommandResult {
    check_name(name, "Client names")?;
    session
        .client
        .info
        .set_names(|names| names.name = name.to_vec());
    Ok(())
}

fn client_id<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    _args: Args<'_>,
) -> CommandResult {
    session.integer(session.client.id() as i64);
    Ok(())
}

fn client_setname<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    set_client_name(session, args.get(2))?;
    session.ok();
    Ok(())
}

fn client_getname<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    _args: Args<'_>,
) -> CommandResult {
    let name = session.client.info.names().name;
    if name.is_empty() {
        session.null();
    } else {
        session.bulk(&name);
    }
    Ok(())
}

/// `CLIENT SETINFO LIB-NAME|LIB-VER value`, as Redis 7.2 checks it.
fn client_setinfo<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let value = args.get(3).to_vec();
    match args.get(2).to_ascii_uppercase().as_slice() {
        b"LIB-NAME" => {
            check_name(&value, "lib-name")?;
            session
                .client
                .info
                .set_names(|names| names.lib_name = value);
        }
        b"LIB-VER" => {
            check_name(&value, "lib-ver")?;
            session.client.info.set_names(|names| names.lib_ver = value);
        }
        _ => {
            return Err(format!(
                "ERR Unrecognized option '{}'",
                truncate_lossy(args.get(2), 128)
            )
            .into())
        }
    }
    session.ok();
    Ok(())
}

/// `CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id ...]`.
fn client_list<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let mut wanted_type: Option<ClientType> = None;
    let mut ids: Option<Vec<u64>> = None;
    match args.len() {
        2 => {}
        4 if args.get(2).eq_ignore_ascii_case(b"TYPE") => {
            wanted_type = Some(ClientType::parse(args.get(3)).ok_or_else(|| {
                CommandError::from(format!(
                    "ERR Unknown client type '{}'",
                    truncate_lossy(args.get(3), 128)
                ))
            })?);
        }
        count if count >= 4 && args.get(2).eq_ignore_ascii_case(b"ID") => {
            let mut list = Vec::new();
            for id in args.iter_from(3) {
                match int_arg(id) {
                    Ok(id) if id > 0 => list.push(id as u64),
                    _ => return Err("ERR Invalid client ID".into()),
                }
            }
            ids = Some(list);
        }
        _ => return Err(errors::SYNTAX.into()),
    }
    let mut text = String::new();
    for client in session.shared.client_list() {
        if wanted_type.is_some_and(|wanted| wanted != ClientType::of(&client)) {
            continue;
        }
        if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id)) {
            continue;
        }
        client_line(session, &client, &mut text);
    }
    session.verbatim_text(text.as_bytes());
    Ok(())
}

fn client_info<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    _args: Args<'_>,
) -> CommandResult {
    let info = std::sync::Arc::clone(&session.client.info);
    let mut text = String::new();
    client_line(session, &info, &mut text);
    session.verbatim_text(text.as_bytes());
    Ok(())
}

/// The kinds of client `CLIENT LIST TYPE` and `CLIENT KILL TYPE` select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Master,
    Replica,
    PubSub,
}

impl ClientType {
    fn parse(name: &[u8]) -> Option<ClientType> {
        Some(match name.to_ascii_lowercase().as_slice() {
            b"normal" => ClientType::Normal,
            b"master" => ClientType::Master,
            b"replica" | b"slave" => ClientType::Replica,
            b"pubsub" => ClientType::PubSub,
            _ => return None,
        })
    }

    fn of(client: &ClientInfo) -> ClientType {
        // Relaxed: see `ClientInfo`.
        if client.flags.load(Ordering::Relaxed) & flags::PUBSUB != 0 {
            ClientType::PubSub
        } else {
            ClientType::Normal
        }
    }
}

/// One line of `CLIENT LIST` / `CLIENT INFO`, with Redis 7's fields in Redis's order, then
/// Redis 7.2's `lib-name` and `lib-ver`. We do not account buffer memory per client: the
/// memory fields read 0, and `qbuf`, `rbs` and `obl` likewise.
fn client_line<E: Engine<Value = Value>>(
    session: &Session<'_, E>,
    client: &ClientInfo,
    text: &mut String,
) {
    use std::fmt::Write as _;
    let names = client.names();
    let address = |a: Option<std::net::SocketAddr>| a.map_or_else(String::new, |a| a.to_string());
    // Relaxed loads throughout: see `ClientInfo`.
    let command = session
        .shared
        .commands
        .name_of(client.command.load(Ordering::Relaxed))
        .unwrap_or("NULL");
    let multi = if client.flags.load(Ordering::Relaxed) & flags::MULTI != 0 {
        0
    } else {
        -1
    };
    let _ = writeln!(
        text,
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 \
         multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
         tot-mem=0 events=r cmd={command} user=default redir=-1 resp={} lib-name={} lib-ver={}",
        client.id,
        address(client.peer),
        address(client.local),
        client.fd,
        String::from_utf8_lossy(&names.name),
        client.age_secs(),
        client.idle_secs(),
        client.flag_letters(),
        client.db.load(Ordering::Relaxed),
        client.resp.load(Ordering::Relaxed),
        String::from_utf8_lossy(&names.lib_name),
        String::from_utf8_lossy(&names.lib_ver),
    );
}

/// `CLIENT KILL addr:port` (the old form: `OK` or an error) or `CLIENT KILL <filter> <value>
/// ...` (the count of clients killed), with Redis 7.0's filters: `ID`, `TYPE`, `USER`, `ADDR`,
/// `LADDR`, `SKIPME`. Clients on other loops are closed by their own loop, through its inbox;
/// the caller itself is closed after this reply.
fn client_kill<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let mut filter = KillFilter {
        skip_me: true,
        ..KillFilter::default()
    };
    let old_form = args.len() == 3;
    if old_form {
        filter.addr = Some(args.get(2).to_vec());
        filter.skip_me = false;
    } else {
        if !args.len().is_multiple_of(2) {
            return Err(errors::SYNTAX.into());
        }
        for index in (2..args.len()).step_by(2) {
            let value = args.get(index + 1);
            match args.get(index).to_ascii_uppercase().as_slice() {
                b"ID" => match int_arg(value) {
                    Ok(id) if id > 0 => filter.id = Some(id as u64),
                    _ => return Err("ERR client-id should be greater than 0".into()),
                },
                b"TYPE" => {
                    filter.client_type = Some(ClientType::parse(value).ok_or_else(|| {
                        CommandError::from(format!(
                            "ERR Unknown client type '{}'",
                            truncate_lossy(value, 128)
                        ))
                    })?);
                }
                b"USER" => {
                    if value != b"default" {
                        return Err(
                            format!("ERR No such user '{}'", truncate_lossy(value, 128)).into()
                        );
                    }
                }
                b"ADDR" => filter.addr = Some(value.to_vec()),
                b"LADDR" => filter.laddr = Some(value.to_vec()),
                b"SKIPME" => {
                    filter.skip_me = match value.to_ascii_lowercase().as_slice() {
                        b"yes" => true,
                        b"no" => false,
                        _ => return Err(errors::SYNTAX.into()),
                    }
                }
                _ => return Err(errors::SYNTAX.into()),
            }
        }
    }
    let me = session.client.id();
    let mut killed = 0;
    for client in session.shared.client_list() {
        if !filter.matches(&client, me) {
            continue;
        }
        killed += 1;
        if client.id == me {
            session.client.set_flags(flags::CLOSE_AFTER_REPLY, true);
        } else {
            session.shared.post(
                client.loop_index,
                Message::Kill {
                    client_id: client.id,
                },
            );
        }
    }
    if old_form {
        if killed == 0 {
            return Err("ERR No such client".into());
        }
        session.ok();
    } else {
        session.integer(killed);
    }
    Ok(())
}

/// Which clients `CLIENT KILL` closes: all of the given filters must match.
#[derive(Debug, Default)]
struct KillFilter {
    id: Option<u64>,
    client_type: Option<ClientType>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    skip_me: bool,
}

impl KillFilter {
    fn matches(&self, client: &ClientInfo, me: u64) -> bool {
        let address_is = |address: Option<std::net::SocketAddr>, wanted: &[u8]| {
            address.is_some_and(|address| address.to_string().as_bytes() == wanted)
        };
        !(self.skip_me && client.id == me)
            && self.id.is_none_or(|id| id == client.id)
            && self
                .client_type
                .is_none_or(|wanted| wanted == ClientType::of(client))
            && self
                .addr
                .as_deref()
                .is_none_or(|wanted| address_is(client.peer, wanted))
            && self
                .laddr
                .as_deref()
                .is_none_or(|wanted| address_is(client.local, wanted))
    }
}

/// Replies with a `HELP` text: the lines, each a status reply, as Redis sends them.
pub(super) fn help<E: Engine<Value = Value>>(session: &mut Session<'_, E>, lines: &[&str]) {
    session.array(lines.len());
    for line in lines {
        session.simple(line);
    }
}

fn client_help<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    _args: Args<'_>,
) -> CommandResult {
    help(
        session,
        &[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ID",
            "    This connection's id.",
            "SETNAME <name>",
            "    Names this connection (no spaces or special characters).",
            "GETNAME",
            "    This connection's name, or null.",
            "SETINFO <LIB-NAME|LIB-VER> <value>",
            "    Records the client library's name or version.",
            "LIST [TYPE <normal|master|replica|pubsub>] [ID <id> ...]",
            "    One line per connection: its id, addresses, age, database, last command...",
            "INFO",
            "    The CLIENT LIST line of this connection.",
            "KILL <ip:port>",
            "    Closes the connection from this address.",
            "KILL <option> <value> [<option> <value> ...]",
            "    Closes every connection that matches all the filters: ID, TYPE, USER, ADDR,",
            "    LADDR, SKIPME yes|no (default yes: never this connection). Replies the count.",
            "HELP",
            "    This text.",
        ],
    );
    Ok(())
}
