#!/usr/bin/env python3
"""Prints the skeleton of a command's `Docs` constant (net/src/resp/docs/) from a running
redis-server 7.0: the interface facts as Redis reports them (group, since, deprecation,
history versions, the argument tree), with the prose fields left as TODO, to be written in
our own words. tests/commands.rs then checks the facts against redis-server.

Usage: scripts/command-docs-skeleton.py [--port 6379] NAME [NAME ...]   (e.g. hset config|get)
"""
import argparse
import json
import socket


def call(port, *args):
    connection = socket.create_connection(("127.0.0.1", port))
    stream = connection.makefile("rb")
    encoded = [str(a).encode() for a in args]
    connection.sendall(b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in encoded))

    def read():
        line = stream.readline()
        kind, rest = line[:1], line[1:-2]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            return None if length < 0 else stream.read(length + 2)[:-2].decode()
        if kind == b"*":
            length = int(rest)
            return None if length < 0 else [read() for _ in range(length)]
        raise ValueError(line)

    return read()


def as_map(pairs):
    return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}


BUILDERS = {"string": "string", "integer": "integer", "double": "double",
            "pattern": "pattern", "unix-time": "unix_time"}


def argument(arg, indent):
    arg = as_map(arg)
    kind, name = arg["type"], json.dumps(arg["name"])
    if kind == "key":
        text = f"key({name}, {arg['key_spec_index']})"
    elif kind == "pure-token":
        text = f"pure_token({name}, {json.dumps(arg['token'])})"
    elif kind in ("oneof", "block"):
        inner = "".join(" " * (indent + 8) + argument(a, indent + 8) + ",\n" for a in arg["arguments"])
        pad = " " * (indent + 4)
        text = f"{'one_of' if kind == 'oneof' else 'block'}(\n{pad}{name},\n{pad}&[\n{inner}{pad}],\n{' ' * indent})"
    else:
        text = f"{BUILDERS[kind]}({name})"
    if "token" in arg and kind != "pure-token":
        text += f".token({json.dumps(arg['token'])})"
    if "since" in arg:
        text += f".since({json.dumps(arg['since'])})"
    if "deprecated_since" in arg:
        text += f".deprecated_since({json.dumps(arg['deprecated_since'])})"
    for flag in arg.get("flags", []):
        text += f".{flag}()"
    return text


def skeleton(name, docs):
    docs = as_map(docs)
    constant = name.upper().replace("|", "_").replace("-", "_")
    text = (f"/// `{name.upper().replace('|', ' ')}`.\npub const {constant}: Docs = Docs::new(\n"
            f"    Group::{docs['group'].capitalize()},\n    {json.dumps(docs['since'])},\n"
            f"    \"TODO: what it does, in our words.\",\n    \"TODO: its complexity, in our words.\",\n)")
    if "deprecated_since" in docs:
        text += f"\n.deprecated({json.dumps(docs['deprecated_since'])}, {json.dumps(docs.get('replaced_by', ''))})"
    if docs.get("history"):
        text += "\n.history(&[\n" + "".join(
            f"    ({json.dumps(version)}, \"TODO: what changed, in our words.\"),\n"
            for version, _ in docs["history"]) + "])"
    if docs.get("arguments"):
        text += "\n.arguments(&[\n" + "".join("    " + argument(a, 4) + ",\n" for a in docs["arguments"]) + "])"
    print(text + ";\n")
    for sub_name, sub_docs in as_map(docs.get("subcommands") or []).items():
        skeleton(sub_name, sub_docs)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("names", nargs="+")
    options = parser.parse_args()
    found = as_map(call(options.port, "COMMAND", "DOCS", *options.names))
    for name, docs in found.items():
        skeleton(name, docs)
    for name in options.names:
        if name.lower() not in found:
            print(f"// redis-server has no '{name}'")


if __name__ == "__main__":
    main()
