//! `COMMAND` and its subcommands, answered from the command [table](super::table) in Redis
//! 7.0's reply shapes: what client libraries, cluster-aware clients and proxies read to learn
//! the commands' arities, flags and key positions.
//!
//! `COMMAND DOCS` answers from the [docs](super::docs) each row points at.

use super::connection::help;
use super::docs::introspection as docs;
use super::docs::{arg_flag, doc_flag, Arg, ArgType, Docs};
use super::parse::Args;
use super::table::{acl, command, flag, key, names, BeginSearch, CommandSpec, FindKeys, Row};
use super::{errors, CommandResult};
use crate::session::Session;
use engine::Engine;
use keyspace::{glob_match, Value};

/// The `COMMAND` row and its subcommands.
pub(super) fn rows<E: Engine<Value = Value>>() -> Vec<Row<E>> {
    vec![command!("command", -1, [LOADING, STALE], [SLOW, CONNECTION], [], command_all, tips: ["nondeterministic_output_order"], docs: docs::COMMAND)
        .with_subcommands(vec![
            command!("command|count", 2, [LOADING, STALE], [SLOW, CONNECTION], [], count, docs: docs::COMMAND_COUNT),
            command!("command|list", -2, [LOADING, STALE], [SLOW, CONNECTION], [], list, tips: ["nondeterministic_output_order"], docs: docs::COMMAND_LIST),
            command!("command|info", -2, [LOADING, STALE], [SLOW, CONNECTION], [], info, tips: ["nondeterministic_output_order"], docs: docs::COMMAND_INFO),
            command!("command|docs", -2, [LOADING, STALE], [SLOW, CONNECTION], [], command_docs, tips: ["nondeterministic_output_order"], docs: docs::COMMAND_DOCS),
            command!("command|getkeys", -4, [LOADING, STALE], [SLOW, CONNECTION], [], getkeys, docs: docs::COMMAND_GETKEYS),
            command!("command|getkeysandflags", -4, [LOADING, STALE], [SLOW, CONNECTION], [], getkeysandflags, docs: docs::COMMAND_GETKEYSANDFLAGS),
            command!("command|help", 2, [LOADING, STALE], [SLOW, CONNECTION], [], command_help, docs: docs::COMMAND_HELP),
        ])]
}

/// One `COMMAND INFO` entry: name, arity, flags, first/last/step, ACL categories, tips, key
/// specs and subcommands (ten fields, as Redis 7).
fn entry<E: Engine<Value = Value>>(session: &mut Session<'_, E>, row: &Row<E>) {
    let spec = &row.spec;
    session.array(10);
    session.bulk(spec.name.as_bytes());
    session.integer(i64::from(spec.arity));
    status_list(session, spec.flags(), &flag::NAMES);
    let ((first, last, step), _) = spec.legacy_range();
    session.integer(i64::from(first));
    session.integer(i64::from(last));
    session.integer(i64::from(step));
    status_list(session, spec.acl, &acl::NAMES);
    session.set(spec.tips.len());
    for tip in spec.tips {
        session.bulk(tip.as_bytes());
    }
    key_specs(session, spec);
    // As Redis: a command without subcommands has an empty set here (RESP3 shows it).
    if row.subcommands.is_empty() {
        session.set(0);
    } else {
        session.array(row.subcommands.len());
    }
    for sub in &row.subcommands {
        entry(session, sub);
    }
}

/// The names of the bits set in `bits` as a set (RESP2: an array) of status replies.
fn status_list<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    bits: u32,
    table: &[(u32, &'static str)],
) {
    session.set(names(bits, table).count());
    for name in names(bits, table) {
        session.simple(name);
    }
}

/// The key specs, each a map (a flat array in RESP2) in Redis's field order.
fn key_specs<E: Engine<Value = Value>>(session: &mut Session<'_, E>, spec: &CommandSpec) {
    session.set(spec.key_specs.len());
    for key_spec in spec.key_specs {
        let has_notes = !key_spec.notes.is_empty();
        session.map(if has_notes { 4 } else { 3 });
        if has_notes {
            session.bulk(b"notes");
            session.bulk(key_spec.notes.as_bytes());
        }
        session.bulk(b"flags");
        status_list(session, key_spec.flags, &key::NAMES);
        session.bulk(b"begin_search");
        session.map(2);
        session.bulk(b"type");
        match key_spec.begin {
            BeginSearch::Index(index) => {
                session.bulk(b"index");
                session.bulk(b"spec");
                session.map(1);
                session.bulk(b"index");
                session.integer(i64::from(index));
            }
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => {
                session.bulk(b"keyword");
                session.bulk(b"spec");
                session.map(2);
                session.bulk(b"keyword");
                session.bulk(keyword.as_bytes());
                session.bulk(b"startfrom");
                session.integer(i64::from(start_from));
            }
        }
        session.bulk(b"find_keys");
        session.map(2);
        session.bulk(b"type");
        match key_spec.find {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                session.bulk(b"range");
                session.bulk(b"spec");
                session.map(3);
                session.bulk(b"lastkey");
                session.integer(i64::from(last_key));
                session.bulk(b"keystep");
                session.integer(i64::from(step));
                session.bulk(b"limit");
                session.integer(i64::from(limit));
            }
            FindKeys::KeyNum {
                key_num_index,
                first_key,
                step,
            } => {
                session.bulk(b"keynum");
                session.bulk(b"spec");
                session.map(3);
                session.bulk(b"keynumidx");
                session.integer(i64::from(key_num_index));
                session.bulk(b"firstkey");
                session.integer(i64::from(first_key));
                session.bulk(b"keystep");
                session.integer(i64::from(step));
            }
        }
    }
}

/// `COMMAND`: every command's entry.
fn command_all<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    _args: Args<'_>,
) -> CommandResult {
    let shared = session.shared;
    let rows = shared.commands.rows();
    session.array(rows.len());
    for row in rows {
        entry(session, row);
    }
    Ok(())
}

fn count<E: Engine<Value = Value>>(session: &mut Session<'_, E>, _args: Args<'_>) -> CommandResult {
    session.integer(session.shared.commands.rows().len() as i64);
    Ok(())
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: names of commands
/// and subcommands.
fn list<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    enum Filter<'a> {
        All,
        Module,
        Category(u32),
        Pattern(&'a [u8]),
    }
    let filter = match args.len() {
        2 => Filter::All,
        5 if args.get(2).eq_ignore_ascii_case(b"FILTERBY") => {
            let value = args.get(4);
            match args.get(3).to_ascii_uppercase().as_slice() {
                // No modules: nothing belongs to any.
                b"MODULE" => Filter::Module,
                b"ACLCAT" => {
                    let wanted = acl::NAMES
                        .iter()
                        .find(|(_, name)| name.as_bytes()[1..].eq_ignore_ascii_case(value));
                    match wanted {
                        Some((bit, _)) => Filter::Category(*bit),
                        None => Filter::Category(0),
                    }
                }
                b"PATTERN" => Filter::Pattern(value),
                _ => return Err(errors::SYNTAX.into()),
            }
        }
        _ => return Err(errors::SYNTAX.into()),
    };
    let shared = session.shared;
    let mut listed: Vec<&'static str> = Vec::new();
    for row in shared.commands.rows() {
        for candidate in std::iter::once(row).chain(&row.subcommands) {
            let spec = &candidate.spec;
            let keep = match filter {
                Filter::All => true,
                Filter::Module => false,
                Filter::Category(bit) => bit != 0 && spec.acl & bit != 0,
                Filter::Pattern(pattern) => glob_match(pattern, spec.name.as_bytes(), true),
            };
            if keep {
                listed.push(spec.name);
            }
        }
    }
    session.array(listed.len());
    for name in listed {
        session.bulk(name.as_bytes());
    }
    Ok(())
}

/// `COMMAND INFO [name ...]`: the named commands' entries (null for unknown names), or every
/// command's.
fn info<E: Engine<Value = Value>>(session: &mut Session<'_, E>, args: Args<'_>) -> CommandResult {
    if args.len() == 2 {
        return command_all(session, args);
    }
    let shared = session.shared;
    session.array(args.len() - 2);
    for name in args.iter_from(2) {
        match shared.commands.lookup_full(name) {
            Some(row) => entry(session, row),
            // A null bulk string, as Redis answers an unknown name.
            None => session.null(),
        }
    }
    Ok(())
}

/// `COMMAND DOCS [name ...]`: a map from each command's full name to its docs, for the named
/// commands and subcommands (unknown names are left out, as Redis leaves them) or for every
/// command. A container's docs hold its subcommands' docs.
fn command_docs<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    let shared = session.shared;
    let rows: Vec<&Row<E>> = if args.len() == 2 {
        shared.commands.rows().iter().collect()
    } else {
        args.iter_from(2)
            .filter_map(|name| shared.commands.lookup_full(name))
            .collect()
    };
    session.map(rows.len());
    for row in rows {
        session.bulk(row.spec.name.as_bytes());
        docs_entry(session, row);
    }
    Ok(())
}

/// One command's docs: a map (a flat array in RESP2) in Redis 7.0's field order, each
/// optional field present only when the command has it.
fn docs_entry<E: Engine<Value = Value>>(session: &mut Session<'_, E>, row: &Row<E>) {
    let docs: &Docs = row.spec.docs;
    let fields = 4
        + usize::from(docs.doc_flags != 0)
        + usize::from(!docs.deprecated_since.is_empty())
        + usize::from(!docs.replaced_by.is_empty())
        + usize::from(!docs.history.is_empty())
        + usize::from(!docs.arguments.is_empty())
        + usize::from(!row.subcommands.is_empty());
    session.map(fields);
    session.bulk(b"summary");
    session.bulk(docs.summary.as_bytes());
    session.bulk(b"since");
    session.bulk(docs.since.as_bytes());
    session.bulk(b"group");
    session.bulk(docs.group.name().as_bytes());
    session.bulk(b"complexity");
    session.bulk(docs.complexity.as_bytes());
    if docs.doc_flags != 0 {
        session.bulk(b"doc_flags");
        let names = doc_flag::NAMES
            .iter()
            .filter(|(bit, _)| docs.doc_flags & bit != 0);
        session.set(names.clone().count());
        for (_, name) in names {
            session.simple(name);
        }
    }
    if !docs.deprecated_since.is_empty() {
        session.bulk(b"deprecated_since");
        session.bulk(docs.deprecated_since.as_bytes());
    }
    if !docs.replaced_by.is_empty() {
        session.bulk(b"replaced_by");
        session.bulk(docs.replaced_by.as_bytes());
    }
    if !docs.history.is_empty() {
        session.bulk(b"history");
        session.set(docs.history.len());
        for (version, change) in docs.history {
            session.array(2);
            session.bulk(version.as_bytes());
            session.bulk(change.as_bytes());
        }
    }
    if !docs.arguments.is_empty() {
        session.bulk(b"arguments");
        arguments(session, docs.arguments);
    }
    if !row.subcommands.is_empty() {
        session.bulk(b"subcommands");
        session.map(row.subcommands.len());
        for sub in &row.subcommands {
            session.bulk(sub.spec.name.as_bytes());
            docs_entry(session, sub);
        }
    }
}

/// An argument list: each argument a map with `name` and `type`, then the optional fields
/// in Redis 7.0's order, and the sub-arguments of a `oneof` or `block`.
fn arguments<E: Engine<Value = Value>>(session: &mut Session<'_, E>, list: &[Arg]) {
    session.array(list.len());
    for arg in list {
        let children = match arg.kind {
            ArgType::OneOf(children) | ArgType::Block(children) => Some(children),
            _ => None,
        };
        let key_spec_index = match arg.kind {
            ArgType::Key(index) => Some(index),
            _ => None,
        };
        let fields = 2
            + usize::from(key_spec_index.is_some())
            + usize::from(arg.token.is_some())
            + usize::from(arg.since.is_some())
            + usize::from(arg.deprecated_since.is_some())
            + usize::from(arg.flags != 0)
            + usize::from(children.is_some());
        session.map(fields);
        session.bulk(b"name");
        session.bulk(arg.name.as_bytes());
        session.bulk(b"type");
        session.bulk(arg.kind.name().as_bytes());
        if let Some(index) = key_spec_index {
            session.bulk(b"key_spec_index");
            session.integer(i64::from(index));
        }
        if let Some(token) = arg.token {
            session.bulk(b"token");
            session.bulk(token.as_bytes());
        }
        if let Some(since) = arg.since {
            session.bulk(b"since");
            session.bulk(since.as_bytes());
        }
        if let Some(since) = arg.deprecated_since {
            session.bulk(b"deprecated_since");
            session.bulk(since.as_bytes());
        }
        if arg.flags != 0 {
            session.bulk(b"flags");
            let names = arg_flag::NAMES
                .iter()
                .filter(|(bit, _)| arg.flags & bit != 0);
            session.set(names.clone().count());
            for (_, name) in names {
                session.simple(name);
            }
        }
        if let Some(children) = children {
            session.bulk(b"arguments");
            arguments(session, children);
        }
    }
}

fn getkeys<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    reply_keys(session, args, false)
}

fn getkeysandflags<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
) -> CommandResult {
    reply_keys(session, args, true)
}

/// `COMMAND GETKEYS|GETKEYSANDFLAGS command arg ...`: the keys the key specs find, with
/// their flags when asked, and Redis's errors.
fn reply_keys<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    args: Args<'_>,
    with_flags: bool,
) -> CommandResult {
    let shared = session.shared;
    let command_args = args.skip(2);
    let mut row = shared
        .commands
        .lookup(command_args.get(0))
        .ok_or("ERR Invalid command specified")?;
    if !row.subcommands.is_empty() && command_args.len() >= 2 {
        row = row
            .subcommand(command_args.get(1))
            .ok_or("ERR Invalid command specified")?;
    }
    let spec = &row.spec;
    if spec.key_specs.is_empty() {
        return Err("ERR The command has no key arguments".into());
    }
    if !spec.arity_fits(command_args.len()) {
        return Err("ERR Invalid number of arguments specified for command".into());
    }
    let keys = spec.key_positions(command_args);
    if keys.is_empty() {
        if spec.has(flag::NO_MANDATORY_KEYS) {
            session.array(0);
            return Ok(());
        }
        return Err("ERR Invalid arguments specified for command".into());
    }
    session.array(keys.len());
    for (index, key_flags) in keys {
        if with_flags {
            session.array(2);
            session.bulk(command_args.get(index));
            status_list(session, key_flags, &key::NAMES);
        } else {
            session.bulk(command_args.get(index));
        }
    }
    Ok(())
}

fn command_help<E: Engine<Value = Value>>(
    session: &mut Session<'_, E>,
    _args: Args<'_>,
) -> CommandResult {
    help(
        session,
        &[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Every command's details.",
            "COUNT",
            "    The number of commands.",
            "LIST [FILTERBY (MODULE <module>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Command names, all or those that match the filter.",
            "INFO [<command-name> ...]",
            "    Details of the named commands, or of all of them.",
            "DOCS [<command-name> ...]",
            "    Documentation of the named commands, or of all of them.",
            "GETKEYS <full-command>",
            "    The keys of a full command line.",
            "GETKEYSANDFLAGS <full-command>",
            "    The keys of a full command line, each with its key spec flags.",
            "HELP",
            "    This text.",
        ],
    );
    Ok(())
}
