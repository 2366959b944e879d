#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into corpus/<target>/seed-*.

The seeds are the requests, records, images and files a real client or server produces, so
the fuzzer starts from inputs that get past the first byte. Run from fuzz/ (scripts/fuzz.sh
--seeds does); the files are committed, this script only documents and regenerates them.
The record and block formats are those of persistence/src/record.rs and
nvme/src/blocklog.rs; the checksums are CRC-64/NVME, computed here.
"""
import os
import struct

POLY = 0x9A6C9329AC4BC9B5  # 0xAD93D23594C93659 reflected


def _table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


TABLE = _table()


def crc64_nvme(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


assert crc64_nvme(b"123456789") == 0xAE8B14860A799888  # the catalogue's check value


def write(target, name, data):
    directory = os.path.join("corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed-" + name), "wb") as out:
        out.write(data)


# RESP ------------------------------------------------------------------------------------
def multibulk(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(arg), arg)
    return out


RESP_COMMANDS = [
    [b"PING"], [b"SET", b"k", b"v"], [b"SET", b"k", b"v", b"EX", b"10", b"NX"],
    [b"SET", b"k", b"v", b"PX", b"100", b"GET"], [b"GET", b"k"], [b"GETDEL", b"k"],
    [b"GETEX", b"k", b"PERSIST"], [b"MSET", b"a", b"1", b"b", b"2"], [b"MGET", b"a", b"b"],
    [b"MSETNX", b"c", b"3"], [b"INCR", b"n"], [b"INCRBY", b"n", b"-5"],
    [b"INCRBYFLOAT", b"f", b"1.5e3"], [b"DECRBY", b"n", b"9223372036854775807"],
    [b"APPEND", b"k", b"tail"], [b"STRLEN", b"k"], [b"GETRANGE", b"k", b"-3", b"-1"],
    [b"SETRANGE", b"k", b"5", b"xyz"], [b"SETNX", b"k", b"v"], [b"SETEX", b"k", b"5", b"v"],
    [b"LPUSH", b"l", b"a", b"b", b"c"], [b"RPUSH", b"l", b"d"], [b"LPOP", b"l", b"2"],
    [b"RPOP", b"l"], [b"LRANGE", b"l", b"0", b"-1"], [b"LINDEX", b"l", b"-1"],
    [b"LSET", b"l", b"0", b"z"], [b"LREM", b"l", b"-2", b"a"], [b"LTRIM", b"l", b"1", b"-2"],
    [b"LINSERT", b"l", b"BEFORE", b"b", b"x"], [b"LLEN", b"l"], [b"LPOS", b"l", b"a", b"RANK", b"-1"],
    [b"LMOVE", b"l", b"m", b"LEFT", b"RIGHT"], [b"RPOPLPUSH", b"l", b"l"],
    [b"DEL", b"a", b"b"], [b"UNLINK", b"c"], [b"EXISTS", b"k", b"k"], [b"TYPE", b"l"],
    [b"EXPIRE", b"k", b"100", b"NX"], [b"PEXPIREAT", b"k", b"1767225700000"], [b"TTL", b"k"],
    [b"PTTL", b"k"], [b"PERSIST", b"k"], [b"EXPIRETIME", b"k"], [b"RENAME", b"k", b"k2"],
    [b"RENAMENX", b"k2", b"k"], [b"COPY", b"k", b"k3", b"DB", b"1", b"REPLACE"],
    [b"MOVE", b"k3", b"1"], [b"SELECT", b"1"], [b"SWAPDB", b"0", b"1"], [b"DBSIZE"],
    [b"KEYS", b"*[a-c]?"], [b"SCAN", b"0", b"MATCH", b"k*", b"COUNT", b"10", b"TYPE", b"string"],
    [b"RANDOMKEY"], [b"OBJECT", b"ENCODING", b"k"], [b"TOUCH", b"k"], [b"MULTI"], [b"EXEC"],
    [b"DISCARD"], [b"WATCH", b"k"], [b"UNWATCH"], [b"FLUSHDB"], [b"FLUSHALL", b"ASYNC"],
    [b"CONFIG", b"GET", b"*max*"], [b"CONFIG", b"SET", b"maxclients", b"100"],
    [b"CONFIG", b"RESETSTAT"], [b"INFO", b"keyspace"], [b"CLIENT", b"SETNAME", b"fuzz"],
    [b"CLIENT", b"LIST"], [b"CLIENT", b"INFO"], [b"HELLO", b"2"], [b"COMMAND", b"COUNT"],
    [b"COMMAND", b"GETKEYS", b"SET", b"k", b"v"], [b"COMMAND", b"INFO", b"get"], [b"ECHO", b"hi"],
    [b"TIME"], [b"LASTSAVE"], [b"SHUTDOWN", b"NOSAVE"], [b"QUIT"], [b"RESET"],
    [b"FUNCTION", b"FLUSH"], [b"SUBSTR", b"k", b"0", b"2"], [b"LCS", b"a", b"b"],
]


def resp_seeds():
    for index, command in enumerate(RESP_COMMANDS):
        data = multibulk(*command)
        write("resp_commands", "%02d-%s" % (index, command[0].decode().lower()), data)
    pipelines = {
        "pipeline-strings": multibulk(b"SET", b"k", b"1") + multibulk(b"INCR", b"k")
        + multibulk(b"GET", b"k") + multibulk(b"APPEND", b"k", b"x") + multibulk(b"GETRANGE", b"k", b"0", b"-1"),
        "pipeline-lists": multibulk(b"RPUSH", b"l", b"a", b"b", b"c", b"a") + multibulk(b"LREM", b"l", b"0", b"a")
        + multibulk(b"LINSERT", b"l", b"AFTER", b"b", b"q") + multibulk(b"LRANGE", b"l", b"0", b"-1"),
        "multi-exec": multibulk(b"WATCH", b"k") + multibulk(b"MULTI") + multibulk(b"SET", b"k", b"v")
        + multibulk(b"LPUSH", b"k", b"x") + multibulk(b"EXEC"),
        "select-move": multibulk(b"SET", b"k", b"v") + multibulk(b"MOVE", b"k", b"1") + multibulk(b"SELECT", b"1")
        + multibulk(b"GET", b"k") + multibulk(b"SWAPDB", b"0", b"1"),
        "inline": b"SET k \"a b\\x41\\n\" 'c\\'d'\r\nGET k\r\nping\n\r\n",
        "inline-shared-verb": b"set k v\r\nincr n\r\nquit\r\n",
        "errors": b"*1\r\n$-1\r\n*x\r\n",
        "bad-dollar": b"*2\r\n$3\r\nGET\r\n+k\r\n",
        "empty-multibulk": b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n",
        "too-long-bulk": b"*1\r\n$99999999999\r\n",
    }
    for name, data in pipelines.items():
        write("resp_commands", name, data)
    for index, command in enumerate(RESP_COMMANDS[:20]):
        write("resp_parse", "%02d" % index, multibulk(*command))
    for name in ["inline", "inline-shared-verb", "errors", "bad-dollar", "empty-multibulk", "too-long-bulk", "pipeline-strings"]:
        write("resp_parse", name, pipelines[name])
    write("resp_parse", "memcache-detect", b"set k 0 0 5 noreply\r\nhello\r\n")
    write("resp_parse", "binary-detect", b"\x80\x00\x00\x01")


# memcached text and meta -----------------------------------------------------------------
def text_seeds():
    seeds = {
        "set-get": b"set k 5 0 3\r\nabc\r\nget k\r\ngets k missing\r\n",
        "add-replace": b"add k 0 0 1\r\na\r\nadd k 0 0 1\r\nb\r\nreplace k 1 0 1\r\nc\r\nreplace x 0 0 1\r\nd\r\n",
        "append-prepend": b"set k 0 0 1\r\nm\r\nappend k 0 0 2\r\nyz\r\nprepend k 0 0 2\r\nab\r\nget k\r\n",
        "cas": b"set k 0 0 1\r\na\r\ngets k\r\ncas k 0 0 1 1\r\nb\r\ncas k 0 0 1 999\r\nc\r\ncas x 0 0 1 1\r\nd\r\n",
        "incr-decr": b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr n 18446744073709551615\r\nincr x 1\r\n",
        "touch-gat": b"set k 0 100 1\r\na\r\ntouch k 10\r\ngat 0 k\r\ngats -1 k\r\nget k\r\n",
        "delete": b"set k 0 0 1\r\na\r\ndelete k\r\ndelete k noreply\r\ndelete k 0\r\n",
        "flush": b"set k 0 0 1\r\na\r\nflush_all 10\r\nflush_all noreply\r\nget k\r\n",
        "misc": b"version\r\nverbosity 1\r\nstats\r\nstats settings\r\nbogus\r\n\r\nquit\r\n",
        "noreply": b"set k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\nincr k 1 noreply\r\nget k\r\n",
        "too-large": b"set k 0 0 2000\r\n" + b"x" * 2000 + b"\r\nget k\r\n",
        "bad-chunk": b"set k 0 0 1\r\nabc\r\nget k\r\n",
        "negative-exptime": b"set k 0 -1 1\r\na\r\nget k\r\n",
        "long-key": b"get " + b"k" * 251 + b"\r\n",
        "many-keys": b"get " + b" ".join(b"k%d" % i for i in range(40)) + b"\r\n",
    }
    for name, data in seeds.items():
        write("memcache_text", name, data)
    meta = {
        "ms-mg": b"\x01k 3 T10 F5\r\n\xffab\r\n\x00k v f t c s k\r\n",
        "mg-flags": b"\x00k v N30 s t q\r\n\x04\r\n\x00missing v q k O123\r\n\x04\r\n",
        "ms-modes": b"\x01k 1 MA\r\n\xffa\r\n\x01k 1 MP I\r\n\xffb\r\n\x01k 1 ME\r\n\xffc\r\n\x01k 1 MR C1\r\n\xffd\r\n",
        "ms-invalid": b"\x01k S1 I\r\n\xffx\r\n\x00k v\r\n",
        "md": b"\x01k 1\r\n\xffa\r\n\x02k q\r\n\x02k I T30\r\n\x00k v\r\n\x02k C0\r\n",
        "ma": b"\x03n N0 J13 D5 v\r\n\x03n MD D100 v\r\n\x03n MI q\r\n\x04\r\n",
        "me": b"\x01k 1\r\n\xffa\r\n\x05k\r\n\x05missing\r\n",
        "base64": b"\x01a2V5 1 b\r\n\xffz\r\n\x00a2V5 b v k\r\n",
        "opaque": b"\x00k Oabc q\r\n\x00k Oxyz k\r\n\x04\r\n",
        "cas-lease": b"\x01k 1 E77\r\n\xffa\r\n\x00k c v\r\n\x01k 1 C77\r\n\xffb\r\n",
        "vivify": b"\x00k N30 v c t\r\n\x00k N30 v c t\r\n\x01k 1 C1\r\n\xffz\r\n",
    }
    for name, data in meta.items():
        write("memcache_meta", name, data)


# memcached binary -------------------------------------------------------------------------
def binary(opcode, key=b"", extras=b"", value=b"", opaque=0, cas=0):
    body = len(extras) + len(key) + len(value)
    header = struct.pack(">BBHBBHIIQ", 0x80, opcode, len(key), len(extras), 0, 0, body, opaque, cas)
    return header + extras + key + value


def binary_seeds():
    set_extras = struct.pack(">II", 7, 0)
    seeds = {
        "set-get": binary(0x01, b"k", set_extras, b"abc") + binary(0x00, b"k") + binary(0x0C, b"k"),
        "add-replace": binary(0x02, b"k", set_extras, b"a") + binary(0x03, b"k", set_extras, b"b")
        + binary(0x03, b"x", set_extras, b"c"),
        "delete": binary(0x01, b"k", set_extras, b"a") + binary(0x04, b"k") + binary(0x04, b"k"),
        "incr-decr": binary(0x05, b"n", struct.pack(">QQI", 5, 10, 0)) + binary(0x06, b"n", struct.pack(">QQI", 100, 0, 0))
        + binary(0x05, b"n", struct.pack(">QQI", 1, 0, 0xFFFFFFFF)),
        "quiet": binary(0x11, b"k", set_extras, b"a") + binary(0x09, b"k") + binary(0x0D, b"k") + binary(0x0A),
        "append-prepend": binary(0x01, b"k", set_extras, b"m") + binary(0x0E, b"k", b"", b"z") + binary(0x0F, b"k", b"", b"a")
        + binary(0x00, b"k"),
        "touch-gat": binary(0x01, b"k", set_extras, b"a") + binary(0x1C, b"k", struct.pack(">I", 10))
        + binary(0x1D, b"k", struct.pack(">I", 0)) + binary(0x1E, b"k", struct.pack(">I", 5)),
        "flush-noop-version": binary(0x08, extras=struct.pack(">I", 0)) + binary(0x0A) + binary(0x0B) + binary(0x1B, extras=struct.pack(">I", 1)),
        "cas": binary(0x01, b"k", set_extras, b"a") + binary(0x01, b"k", set_extras, b"b", cas=1) + binary(0x01, b"k", set_extras, b"c", cas=999),
        "stat": binary(0x10) + binary(0x10, b"settings"),
        "too-large": binary(0x01, b"k", set_extras, b"x" * 2000) + binary(0x00, b"k"),
        "bad-shape": binary(0x00, b"k", set_extras) + binary(0x00, b"k"),
        "unknown": binary(0x7F, b"k") + binary(0x07),
    }
    for name, data in seeds.items():
        write("memcache_binary", name, data)


# AOF records -------------------------------------------------------------------------------
def record(opcode, args, version=1, timestamp=1767225600000, db=0):
    body = struct.pack("<QQBBH", version, timestamp, opcode, db, len(args))
    for arg in args:
        body += struct.pack("<I", len(arg)) + arg
    length = struct.pack("<I", 8 + len(body))
    crc = crc64_nvme(length + body)
    return length + struct.pack("<Q", crc) + body


def u64(n):
    return struct.pack("<Q", n)


def i64(n):
    return struct.pack("<q", n)


def u32(n):
    return struct.pack("<I", n)


NEVER = 0
LATER = 1767225600000 + 100000
RECORDS = [
    record(1, [b"k", b"value", u32(3), u64(LATER)]),
    record(12, [b"k", b"plain"], version=2),
    record(2, [b"k"], version=3),
    record(3, [b"k", u32(9), u64(NEVER)], version=4),
    record(4, [b"l", b"\x00", b"a", b"b", b"c"], version=5),
    record(4, [b"l", b"\x01", b"z"], version=6),
    record(5, [b"l", b"\x00", u64(2)], version=7),
    record(6, [b"l", i64(-1), b"y"], version=8),
    record(7, [b"l", i64(0), b"y"], version=9),
    record(8, [b"l", i64(0), i64(-2)], version=10),
    record(9, [b"l", b"\x01", b"z", b"after"], version=11),
    record(10, [b"m", u64(NEVER), b"1", b"2", b"3"], version=12),
    record(11, [], version=13),
    record(12, [b"k", b"other db"], version=14, db=1),
]


def aof_seeds():
    for index, data in enumerate(RECORDS):
        write("aof_record", "op%02d" % data[28], b"\x00" + data)
        write("aof_record", "op%02d-repair" % data[28], b"\x01" + data[:4] + b"\x00" * 8 + data[12:])
    log = b"".join(RECORDS)
    write("aof_replay", "one-segment", b"\x02\x00" + log)
    write("aof_replay", "one-segment-repair", b"\x03\x00" + log)
    write("aof_replay", "torn-tail", b"\x02\x00" + log + RECORDS[0][:20])
    corrupt = bytearray(log)
    corrupt[len(RECORDS[0]) + 20] ^= 1
    write("aof_replay", "corrupt-middle", b"\x06\x00" + bytes(corrupt))
    write("aof_replay", "base-and-segment", b"\x0a\x80" + log)
    write("aof_replay", "one-database", b"\x12\x00" + log)
    write("aof_replay", "zeros-tail", b"\x02\x00" + log + b"\x00" * 64)


# block log ---------------------------------------------------------------------------------
def blocklog_seeds():
    def chunk(data):
        return (data + b"\x00" * 64)[:64]

    superblock = chunk(b"WDBBLKLG" + u32(1) + u32(4096) + u64(1))
    def stream_block(payload_length, payload=b""):
        # Bytes 0..28 are fixed by mode 2/4 except the payload length at 24..28; byte 28 even.
        return chunk(b"\x00" * 24 + u32(payload_length) + b"\x00" * 4 + payload)

    full = 4096 - 32
    write("blocklog_recovery", "formatted", b"\x00")
    write("blocklog_recovery", "one-tail", b"\x07" + superblock + stream_block(5, b"hello"))
    write("blocklog_recovery", "full-then-tail", b"\x07" + superblock + stream_block(full, b"abc") + stream_block(full) + stream_block(3, b"xyz"))
    write("blocklog_recovery", "payload-too-long", b"\x07" + superblock + stream_block(full + 1))
    write("blocklog_recovery", "bad-crc", b"\x03" + superblock + stream_block(full) + stream_block(1))
    write("blocklog_recovery", "foreign", b"\x00" + chunk(b"not a block log"))
    write("blocklog_recovery", "durable-append", b"\x0f" + superblock + stream_block(full) + stream_block(full) + stream_block(100))
    old = chunk(b"WDBBLKLG" + u32(1) + u32(4096) + u64(5))
    write("blocklog_recovery", "generation-5", b"\x07" + old + stream_block(full) + stream_block(7))


# configuration and manifest ----------------------------------------------------------------
def config_seeds():
    seeds = {
        "redis-conf": b"# comment\nport 6380\nbind 127.0.0.1 ::1\nmaxclients 100\ntimeout 0\n"
        b"proto-max-bulk-len 512mb\nclient-output-buffer-limit normal 0 0 0 replica 256mb 64mb 60\n"
        b"appendonly yes\nappendfsync everysec\nappendfilename \"appendonly.aof\"\nsave \"\"\n",
        "memcached": b"memcache-port 11212\nmax-item-size 1m\nthreads 2\nengine lockfree\n",
        "aof": b"dir /tmp\nappenddirname aof\nauto-aof-rewrite-percentage 100\nauto-aof-rewrite-min-size 64mb\n"
        b"aof-load-truncated yes\naof-load-truncate-corrupt no\naof-io uring\naof-pipeline-depth 4\n"
        b"aof-device /dev/nvme0n1\naof-device-size 1gb\naof-device-sync fdatasync\n",
        "encodings": b"hash-max-ziplist-entries 128\nlist-max-listpack-size -2\nzset-max-listpack-value 64\n"
        b"list-compress-depth 0\nset-max-intset-entries 512\ndatabases 16\nloglevel notice\n",
        "errors": b"port 70000\n",
        "manifest": b"file appendonly.aof.1.base.wdb seq 1 type b\nfile appendonly.aof.2.incr.wdb seq 2 type i\n",
        "manifest-unknown-keys": b"# header\nfile a.1.incr.wdb seq 1 type i startoffset 0\n",
    }
    for name, data in seeds.items():
        write("config_file", name, data)


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    resp_seeds()
    text_seeds()
    binary_seeds()
    aof_seeds()
    blocklog_seeds()
    config_seeds()
