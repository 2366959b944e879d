#!/usr/bin/env bash
# Compatibility with Redis, measured by Redis 7.0.15's own tcl test suite run side by side
# against redis-server and workingdb; renders bench-results/compat.md.
#
# Usage, from anywhere in the repository:
#   scripts/compat.sh
#
# The suite is run by ../shared/tools/redis-tests (external-server mode; it fetches the tests
# from Debian's source package on its first run), one unit at a time, each unit against a
# freshly started server (a unit's CONFIG SETs and crashes do not reach the next), in these
# modes:
#   redis-server   default      as the suite runs by default: every client starts with SELECT 9
#   redis-server   singledb     --singledb: no SELECT, tests tagged singledb:skip are skipped
#   workingdb      default
#   workingdb      singledb
#   workingdb      probe        a diagnostic, not the yardstick: --singledb on a copy of the
#                               suite with these changes, so that one missing command does not
#                               end a unit: in the harness's setup of every server block, its
#                               `function flush` and the CONFIG GET/SET of the block's config
#                               overrides (and their restore) are wrapped in `catch`; and
#                               ::durable defaults to 1 (the suite's --durable: a test that
#                               raises an error counts as one failed test and the unit goes on).
#                               Set COMPAT_PROBE=0 to skip it.
# Servers: redis-server --port <free> --bind 127.0.0.1 --save "" --appendonly no
# --daemonize no, and target/release/workingdb --appendonly no --port -1 (its own free-port
# helper, read back from --ready-file) --memcache-port 0 --threads 1; a server that no longer
# answers PING after its unit is listed on the page. The trap stops them on exit.
#
# Counts are taken from each unit's log: lines starting with [ok]:, [err]: and [exception]:
# (redis-tests' own counts also match the "*** [err]:" summary a finished unit repeats, and
# every line containing the word exception).
#
# The page: the generated part (header, per-unit table, first failure per unit, the probe's
# failure reasons and missing commands) is rewritten on every run; everything after the marker
# line (the hand-written "What we fail and why") is kept from the existing page.
#
# Environment (all optional):
#   COMPAT_UNITS        units, space-separated (default: redis-tests' default list, below)
#   COMPAT_PROBE        1 (default) or 0: run the probe mode
#   COMPAT_REDIS_TESTS  the runner (default ../shared/tools/redis-tests beside the repository,
#                       else /work/shared/tools/redis-tests)
#   COMPAT_OUT          where compat.md goes (default bench-results)
#   COMPAT_BIN          a prebuilt workingdb binary to test instead of building one
#   COMPAT_RENDER_ONLY  1: run nothing, render the page again from the logs of the last run
#                       (with COMPAT_BIN naming the binary that run tested)
#   COMPAT_REV          a commit (e.g. HEAD): build that committed tree only, from a
#                       `git archive` export in $CARGO_TARGET_DIR/compat-rev/src with target
#                       dir $CARGO_TARGET_DIR/compat-rev/target (the checkout may be shared and
#                       hold others' unfinished edits); default: `cargo build --release` here
#   REDIS_TESTS_CACHE   as for redis-tests (default ~/.cache/redis-7.0.15)
#   CARGO_TARGET_DIR    as for cargo; logs go to $CARGO_TARGET_DIR/compat (default target/compat)
#
# Time on our 2-core VMs: about 2.5 minutes after the build (redis-server about 60 s per mode;
# workingdb's three modes under 15 s each while commands are missing and units stop early);
# every unit is bounded by redis-tests' 300 s timeout.
set -euo pipefail

if [[ $# -gt 0 ]]; then
    case "$1" in
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "compat.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
fi

invocation=""
for var in COMPAT_UNITS COMPAT_PROBE COMPAT_OUT COMPAT_BIN COMPAT_REV; do
    if [[ -n "${!var:-}" ]]; then invocation+="$var=$(printf '%q' "${!var}") "; fi
done
invocation+="scripts/compat.sh"

cd "$(dirname "$0")/.."
repo=$PWD

# The same list redis-tests runs when given none.
default_units="unit/type/string unit/type/incr unit/type/list unit/type/hash unit/type/set unit/type/zset unit/keyspace unit/expire unit/protocol unit/multi unit/pubsub unit/scan unit/info-command unit/quit"
read -r -a units <<<"${COMPAT_UNITS:-$default_units}"
probe=${COMPAT_PROBE:-1}
out_dir=${COMPAT_OUT:-bench-results}
runner=${COMPAT_REDIS_TESTS:-}
if [[ -z $runner ]]; then
    runner="$repo/../shared/tools/redis-tests"
    [[ -x $runner ]] || runner=/work/shared/tools/redis-tests
fi
[[ -x $runner ]] || { echo "compat.sh: no redis-tests runner at $runner" >&2; exit 1; }
cache=${REDIS_TESTS_CACHE:-$HOME/.cache/redis-7.0.15}
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$repo/$target_dir"
work="$target_dir/compat"
marker='<!-- compat.sh: everything above this line is generated; everything below it is written by hand and kept when the page is regenerated -->'

# ---- dependencies -------------------------------------------------------------------------
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    scripts/install-deps.sh
fi
if ! command -v tclsh >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q tcl >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q tcl >/dev/null; }
fi

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t0=$SECONDS
commit=$(git rev-parse --short HEAD)
# Other work in this checkout ends up in the binary too: say so on the page.
dirty=$(git status --porcelain --untracked-files=no -- src engine net nvme persistence Cargo.toml Cargo.lock | wc -l)

if [[ -n ${COMPAT_BIN:-} ]]; then
    bin=$COMPAT_BIN
    built="the prebuilt binary $bin"
elif [[ -n ${COMPAT_REV:-} ]]; then
    commit=$(git rev-parse --short "$COMPAT_REV^{commit}")
    echo "compat.sh: building $commit from a git archive export (cargo build --release)"
    rm -rf "$target_dir/compat-rev/src"
    mkdir -p "$target_dir/compat-rev/src"
    git archive "$commit" | tar -x -C "$target_dir/compat-rev/src"
    (cd "$target_dir/compat-rev/src" && CARGO_TARGET_DIR="$target_dir/compat-rev/target" cargo build --release)
    bin="$target_dir/compat-rev/target/release/workingdb"
    built="\`cargo build --release\` of a \`git archive $commit\` export (the committed tree only; HEAD was $(git rev-parse --short HEAD))"
    dirty=0
else
    echo "compat.sh: building (cargo build --release)"
    cargo build --release
    bin="$target_dir/release/workingdb"
    built='`cargo build --release`'
fi
[[ -x $bin ]] || { echo "compat.sh: no binary at $bin" >&2; exit 1; }

render_only=${COMPAT_RENDER_ONLY:-0}
results="$work/results.tsv"   # server mode unit ok err exception seconds
died="$work/died.txt"
if [[ $render_only == 1 ]]; then
    [[ -s $results ]] || { echo "compat.sh: no results in $work to render" >&2; exit 1; }
else
    rm -rf "$work"
    mkdir -p "$work/logs" "$work/redis" "$work/workingdb"
    : >"$results"
    : >"$died"
fi

# ---- servers ------------------------------------------------------------------------------
redis_pid="" wdb_pid="" redis_port="" wdb_port=""
stop_servers() {
    for pid in $redis_pid $wdb_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $redis_pid $wdb_pid; do
        wait "$pid" 2>/dev/null || true
    done
}
trap stop_servers EXIT

pong() { [[ $(timeout 5 redis-cli -p "$1" ping 2>/dev/null) == PONG ]]; }
wait_pong() { # port pid name
    for _ in $(seq 300); do
        pong "$1" && return 0
        kill -0 "$2" 2>/dev/null || { echo "compat.sh: $3 exited at start" >&2; return 1; }
        sleep 0.1
    done
    echo "compat.sh: $3 did not answer PING on port $1 in 30 s" >&2
    return 1
}
# A port nothing listens on (redis-server exits when it cannot bind, and wait_pong sees that),
# picked below the kernel's ephemeral range: outgoing connections take ports from that range
# without listening on them, so "nothing answers" there does not mean "free" (a busy machine
# made every start fail so). The suite's own servers use ports near 21079-21111.
ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
    local p
    for _ in $(seq 500); do
        p=$((22000 + RANDOM % (ephemeral_low - 22000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
start_redis() {
    for _ in 1 2 3; do
        redis_port=$(free_port)
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
            --daemonize no --dir "$work/redis" >>"$work/redis/server.log" 2>&1 &
        redis_pid=$!
        wait_pong "$redis_port" "$redis_pid" redis-server && return 0
        kill "$redis_pid" 2>/dev/null || true
    done
    return 1
}
start_wdb() {
    rm -f "$work/workingdb/ready"
    "$bin" --appendonly no --port -1 --memcache-port 0 --threads 1 --dir "$work/workingdb" \
        --ready-file "$work/workingdb/ready" >>"$work/workingdb/server.log" 2>&1 &
    wdb_pid=$!
    for _ in $(seq 300); do
        [[ -s $work/workingdb/ready ]] && break
        kill -0 "$wdb_pid" 2>/dev/null || { echo "compat.sh: workingdb exited at start" >&2; return 1; }
        sleep 0.1
    done
    wdb_port=$(awk '$1 == "port" { print $2 }' "$work/workingdb/ready")
    [[ -n $wdb_port ]] || { echo "compat.sh: workingdb wrote no port" >&2; return 1; }
    wait_pong "$wdb_port" "$wdb_pid" workingdb
}
start_server() { # server
    if [[ $1 == redis ]]; then start_redis; else start_wdb; fi
}
# After a unit: note a server that no longer answers, then stop it.
stop_server() { # server unit-label
    local pid name port
    if [[ $1 == redis ]]; then pid=$redis_pid port=$redis_port name=redis-server; else pid=$wdb_pid port=$wdb_port name=workingdb; fi
    pong "$port" || echo "$name stopped answering PING during $2" >>"$died"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [[ $1 == redis ]]; then redis_pid=""; else wdb_pid=""; fi
}
start_redis
redis_version=$(redis-cli -p "$redis_port" info server | tr -d '\r' | awk -F: '$1 == "redis_version" { print $2 }')
stop_server redis "the version check"
wdb_version=$("$bin" --version)
echo "compat.sh: redis-server $redis_version, $wdb_version"

# ---- the suite ----------------------------------------------------------------------------
logfile() { echo "$work/logs/$1-$2/$(tr / _ <<<"$3").log"; }
plain() { sed 's/\x1b\[[0-9;]*m//g' "$1"; }
run_mode() { # server mode cache
    local server=$1 mode=$2 suite=$3 port flag="" line ok err exc t log
    [[ $mode == default ]] || flag=--singledb
    mkdir -p "$work/logs/$server-$mode"
    for u in "${units[@]}"; do
        start_server "$server"
        if [[ $server == redis ]]; then port=$redis_port; else port=$wdb_port; fi
        t=$SECONDS
        line=$(LOGDIR="$work/logs/$server-$mode" REDIS_TESTS_CACHE="$suite" \
            "$runner" $flag 127.0.0.1 "$port" "$u" | grep -E "^$u +ok=" || true)
        stop_server "$server" "$u ($mode)"
        log=$(logfile "$server" "$mode" "$u")
        ok=0 err=0 exc=0
        if [[ -f $log ]]; then
            ok=$(plain "$log" | grep -c '^\[ok\]:' || true)
            err=$(plain "$log" | grep -c '^\[err\]:' || true)
            exc=$(plain "$log" | grep -c '^\[exception\]:' || true)
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$mode" "$u" "$ok" "$err" "$exc" \
            "$((SECONDS - t))" "$line" >>"$results"
        printf '%-9s %-8s %-20s ok=%-4s err=%-4s exception=%-3s %4ss  (redis-tests: %s)\n' "$server" \
            "$mode" "$u" "$ok" "$err" "$exc" "$((SECONDS - t))" "$(sed 's/^[^ ]* *//' <<<"$line")"
    done
}

if [[ $render_only == 1 ]]; then
    : # the logs and results of the last run stay as they are
else
# redis-server first: its first run also fetches the suite into $cache.
run_mode redis default "$cache"
run_mode redis singledb "$cache"
[[ -x $cache/runtest ]] || { echo "compat.sh: the suite is not in $cache" >&2; exit 1; }
run_mode workingdb default "$cache"
run_mode workingdb singledb "$cache"
if [[ $probe == 1 ]]; then
    probe_cache="$work/suite-probe"
    mkdir -p "$probe_cache"
    cp -r "$cache/runtest" "$cache/tests" "$probe_cache/"
    sed -i -e 's/^\( *\)r function flush$/\1catch {r function flush}/' \
        -e 's/^\( *\)\(dict set saved_config $param \[lindex \[r config get $param\] 1\]\)$/\1catch {\2}/' \
        -e 's/^\( *\)\(r config set $param $val\)$/\1catch {\2}/' "$probe_cache/tests/support/server.tcl"
    sed -i 's/^set ::durable 0/set ::durable 1/' "$probe_cache/tests/test_helper.tcl"
    grep -q 'catch {r function flush}' "$probe_cache/tests/support/server.tcl" \
        && [[ $(grep -c '^ *catch {.*config [gs]et $param' "$probe_cache/tests/support/server.tcl") == 3 ]] \
        && grep -q '^set ::durable 1' "$probe_cache/tests/test_helper.tcl" \
        || { echo "compat.sh: could not make the probe's copy of the suite" >&2; exit 1; }
    run_mode workingdb probe "$probe_cache"
fi
fi
if [[ $render_only == 1 ]]; then
    finished=$(date -u -r "$results" +%Y-%m-%dT%H:%M:%SZ)
else
    finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
elapsed=$((SECONDS - t0))
trap - EXIT

# ---- the page -----------------------------------------------------------------------------
get() { # server mode unit field(4 ok, 5 err, 6 exc)
    awk -F'\t' -v s="$1" -v m="$2" -v u="$3" -v f="$4" '$1 == s && $2 == m && $3 == u { print $f }' "$results"
}
ratio() { # ok ref
    if [[ -z $1 || -z $2 ]]; then echo "–"; elif [[ $2 -eq 0 ]]; then echo "–"; else
        awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; fi
}
cell() { # server mode unit
    local ok err exc
    ok=$(get "$1" "$2" "$3" 4)
    [[ -n $ok ]] || { echo "–"; return; }
    err=$(get "$1" "$2" "$3" 5); exc=$(get "$1" "$2" "$3" 6)
    if [[ $exc -gt 0 ]]; then echo "$ok / $err / $exc exc"; else echo "$ok / $err"; fi
}
total() { # server mode field
    awk -F'\t' -v s="$1" -v m="$2" -v f="$3" '$1 == s && $2 == m { t += $f; n++ } END { if (n) print t }' "$results"
}
# Every failure in a log, one "kind<TAB>test<TAB>message" line each, in order: kind is err or
# exception; a failure outside any test (an error in a unit's own setup code, which ends its
# server block) is named "(outside a test)". For an [err] the message is the line after it
# (the assertion, or the error cut by the suite), or the full error from the trace after that.
failures() {
    plain "$1" | awk '
        { L[NR] = $0 }
        END {
            for (i = 1; i <= NR; i++) {
                if (L[i] ~ /^\[exception\]:/) {
                    m = L[i]; sub(/^\[exception\]: (Executing test client: )?/, "", m)
                    print "exception\t\t" m
                } else if (L[i] ~ /^\[err\]:/) {
                    t = L[i]; sub(/^\[err\]: */, "", t)
                    if (t ~ / in tests\/[^ ]*\.tcl$/) {
                        sub(/ in tests\/[^ ]*\.tcl$/, "", t)
                        m = L[i + 1]
                        if (m != "" && index(L[i + 2], m) > 0) m = L[i + 2]
                    } else {
                        m = L[i + 1]; t = "(outside a test)"
                    }
                    gsub(/\t/, " ", m)
                    print "err\t" t "\t" m
                } else if (L[i] ~ /^\[TIMEOUT\]/) {
                    print "exception\t\tthe suite gave up waiting for the test client (--timeout 30)"
                }
            }
        }'
}
first_failure() {
    local f=$1
    [[ -f $f ]] || { echo "no log"; return; }
    # awk reads all of its input and prints the first line only: `head -1` would close the
    # pipe early, and under pipefail the writer's SIGPIPE would end the script.
    failures "$f" | awk -F'\t' 'NR == 1 { if ($1 == "exception") print "exception: " $3; else print "err in \"" $2 "\": " $3 }' | cut -c1-300
}
md_escape() { sed 's/|/\\|/g; s/`/\x27/g'; }

# Every failed test of the probe, as "unit<TAB>test<TAB>reason".
probe_failures="$work/probe-failures.tsv"
: >"$probe_failures"
if [[ $probe == 1 ]]; then
    for u in "${units[@]}"; do
        f=$(logfile workingdb probe "$u")
        [[ -f $f ]] || continue
        failures "$f" | awk -F'\t' -v u="$u" '$1 == "err" { print u "\t" $2 "\t" $3 }' >>"$probe_failures"
    done
fi
# A reason, reduced to a class: the missing command, or the error without its arguments, or
# "assertion" for a reply that differed from Redis's.
classify() {
    sed -E \
        -e "s/^.*ERR unknown command '([^']*)'.*$/unknown command '\L\1'/" \
        -e "s/^.*ERR unknown subcommand '([^']*)'.*$/unknown subcommand '\L\1'/" \
        -e "s/^.*CONFIG SET failed \(possibly related to argument '([^']*)'\).*$/CONFIG SET of unknown parameter '\1'/" \
        -e 's/^(Expected|assertion:).*$/reply differs from the expected one/' \
        -e 's/^(.{0,100}).*$/\1/'
}

page="$out_dir/compat.md"
hand=""
if [[ -f $page ]] && grep -qF "$marker" "$page"; then
    hand=$(awk -v m="$marker" 'f { print } $0 == m { f = 1 }' "$page")
fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mkdir -p "$out_dir"
{
    echo "# Compatibility: Redis 7.0.15's test suite against redis-server and workingdb"
    echo
    echo "- **Date:** $started (finished $finished; $((elapsed / 60)) min $((elapsed % 60)) s including the build)"
    echo "- **Command:** \`$invocation\`: each unit through \`redis-tests [--singledb] 127.0.0.1 <port> <unit>\` (shared/tools/redis-tests: Redis 7.0.15's tcl tests from Debian's source package, external-server mode, tags \`-needs:repl -needs:debug -needs:config-maxmemory -needs:save -needs:reset -slow\`, \`--timeout 30\`, 300 s per unit), one unit at a time, each against a freshly started server"
    if [[ -n ${COMPAT_BIN:-} ]]; then
        echo "- **Commit:** the checkout was at $commit; $wdb_version, $built (what it was built from is not checked)"
    elif [[ $dirty -gt 0 ]]; then
        echo "- **Commit:** $commit, with uncommitted changes to $dirty tracked file(s) under the source directories at build time (the checkout is shared); $wdb_version, $built"
    else
        echo "- **Commit:** $commit (clean tree); $wdb_version, $built"
    fi
    echo "- **Reference:** redis-server $redis_version (\`redis-server --version\`: $(redis-server --version))"
    echo "- **Machine:** $(nproc) CPUs (\`nproc\`), $cpu; shared with other work while the suite ran"
    echo "- **Servers:** \`redis-server --port <free> --bind 127.0.0.1 --save \"\" --appendonly no --daemonize no\`; \`workingdb --appendonly no --port -1 --memcache-port 0 --threads 1\` (its own free port). A fresh server for every unit, checked with PING after it"
    echo "- **Logs:** \`${work#"$repo"/}/logs/<server>-<mode>/\`, counts in \`${work#"$repo"/}/results.tsv\` (not committed)"
    echo
    echo "## Modes"
    echo
    echo "- **default:** as the suite runs by default: every client it opens sends \`SELECT 9\` first."
    echo "- **singledb:** \`--singledb\`: no SELECT; tests tagged \`singledb:skip\` are skipped, so redis-server's counts differ between the modes."
    echo "- **probe** (workingdb only; a diagnostic, not the yardstick): singledb on a copy of the suite in which the harness's own setup of every server block may fail without ending the unit (its \`function flush\` after FLUSHALL, and the CONFIG GET/SET of the block's config overrides and their restore), and \`--durable\` is on, so an error reply fails one test instead of ending the unit. An error in a unit's own code outside a test (listed as \"(outside a test)\") still ends that server block. Compared with redis-server's singledb counts. It shows what fails behind the first missing command."
    echo
    echo "## Per unit"
    echo
    echo "Cells are ok / err (/ exceptions: an exception ends the unit). Ratios are workingdb's ok count over redis-server's in the same mode. Counts are the log's lines starting with \`[ok]:\`, \`[err]:\` and \`[exception]:\` (redis-tests' own err count also takes in the \`*** [err]:\` summary that a unit which ran to its end repeats, and its exception count every line containing the word, so it can be higher; its lines are kept in \`results.tsv\` beside the logs)."
    echo
    header="| unit | redis-server default | redis-server singledb | workingdb default | workingdb singledb | ratio default | ratio singledb |"
    rule="| --- | --- | --- | --- | --- | --- | --- |"
    if [[ $probe == 1 ]]; then header+=" workingdb probe | ratio probe |"; rule+=" --- | --- |"; fi
    echo "$header"
    echo "$rule"
    for u in "${units[@]}"; do
        row="| $u | $(cell redis default "$u") | $(cell redis singledb "$u") | $(cell workingdb default "$u") | $(cell workingdb singledb "$u")"
        row+=" | $(ratio "$(get workingdb default "$u" 4)" "$(get redis default "$u" 4)")"
        row+=" | $(ratio "$(get workingdb singledb "$u" 4)" "$(get redis singledb "$u" 4)") |"
        if [[ $probe == 1 ]]; then
            row+=" $(cell workingdb probe "$u") | $(ratio "$(get workingdb probe "$u" 4)" "$(get redis singledb "$u" 4)") |"
        fi
        echo "$row"
    done
    tcell() { local ok err exc; ok=$(total "$1" "$2" 4); err=$(total "$1" "$2" 5); exc=$(total "$1" "$2" 6)
        if [[ -z $ok ]]; then echo "–"; elif [[ $exc -gt 0 ]]; then echo "**$ok** / $err / $exc exc"; else echo "**$ok** / $err"; fi; }
    row="| **total** | $(tcell redis default) | $(tcell redis singledb) | $(tcell workingdb default) | $(tcell workingdb singledb)"
    row+=" | $(ratio "$(total workingdb default 4)" "$(total redis default 4)") | $(ratio "$(total workingdb singledb 4)" "$(total redis singledb 4)") |"
    if [[ $probe == 1 ]]; then
        row+=" $(tcell workingdb probe) | $(ratio "$(total workingdb probe 4)" "$(total redis singledb 4)") |"
    fi
    echo "$row"
    echo
    echo "Seconds per mode (all units): $(for s in redis workingdb; do for m in default singledb probe; do
        awk -F'\t' -v s="$s" -v m="$m" '$1 == s && $2 == m { t += $7; n++ } END { if (n) printf "%s %s %d s; ", (s == "redis" ? "redis-server" : s), m, t }' "$results"; done; done | sed 's/; $//')."
    if [[ -s $died ]]; then
        echo
        echo "Servers that no longer answered PING after their unit (crashed or hung):"
        echo
        sed 's/^/- /' "$died"
    else
        echo
        echo "Every server still answered PING after its unit."
    fi
    echo
    echo "## First failure per unit"
    echo
    echo "The first \`[err]\` (with the line after it) or \`[exception]\` in each log, as the suite printed it."
    for s in redis workingdb; do
        for m in default singledb probe; do
            grep -q "^$s	$m	" "$results" || continue
            name=$s; [[ $s == redis ]] && name=redis-server
            echo
            echo "**$name, $m**"
            echo
            any=0
            for u in "${units[@]}"; do
                ff=$(first_failure "$(logfile "$s" "$m" "$u")")
                [[ -n $ff ]] || continue
                any=1
                echo "- $u: \`$(md_escape <<<"$ff")\`"
            done
            [[ $any == 1 ]] || echo "- none: every unit ran through without a failure"
        done
    done
    if [[ $probe == 1 ]]; then
        echo
        echo "## The probe's failures by reason"
        echo
        echo "Every failed test of the probe run, its reason being the line after its \`[err]\`: an unknown command (by name), another error reply (its first 100 characters) or a reply that differs from Redis's (an assertion). Tests counted per unit."
        echo
        echo "| unit | failed tests | reasons (tests) |"
        echo "| --- | --- | --- |"
        for u in "${units[@]}"; do
            n=$(awk -F'\t' -v u="$u" '$1 == u' "$probe_failures" | wc -l)
            [[ $n -gt 0 ]] || continue
            reasons=$(awk -F'\t' -v u="$u" '$1 == u { print $3 }' "$probe_failures" | classify | sort | uniq -c | sort -k1,1nr -k2 \
                | awk '{ c = $1; $1 = ""; sub(/^ /, ""); printf "%s%s (%d)", (NR > 1 ? "; " : ""), $0, c }' | md_escape)
            echo "| $u | $n | $reasons |"
        done
        echo
        echo "### Missing commands"
        echo
        echo "Commands our server answered with \`unknown command\` in the probe, by the number of failed tests whose reason that was (a test stops at its first error, so a command used late in many tests is undercounted)."
        echo
        missing=$(awk -F'\t' '{ print $3 }' "$probe_failures" | classify | grep -E "^unknown (sub)?command" | sort | uniq -c | sort -k1,1nr -k2 || true)
        if [[ -n $missing ]]; then
            echo "| command | failed tests | units |"
            echo "| --- | --- | --- |"
            while read -r c what; do
                name=$(sed -E "s/^unknown (sub)?command '(.*)'$/\2/" <<<"$what")
                kind=""; [[ $what == "unknown subcommand"* ]] && kind=" (subcommand)"
                in_units=$(awk -F'\t' '{ print $1 }' "$probe_failures" | paste - <(awk -F'\t' '{ print $3 }' "$probe_failures" | classify) \
                    | awk -F'\t' -v w="$what" '$2 == w { print $1 }' | sort -u | sed 's#^unit/##' | paste -sd, - | sed 's/,/, /g')
                echo "| \`$name\`$kind | $c | $in_units |"
            done <<<"$missing"
        else
            echo "None."
        fi
    fi
    echo
    echo "$marker"
    if [[ -n $hand ]]; then
        echo "$hand"
    else
        echo
        echo "## What we fail and why"
        echo
        echo "(To be written from the logs.)"
    fi
} >"$page.tmp"
mv "$page.tmp" "$page"
echo "compat.sh: wrote $page ($((elapsed / 60)) min $((elapsed % 60)) s); logs in $work/logs"
