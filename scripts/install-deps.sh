#!/usr/bin/env bash
# The Debian packages the tests and benchmarks need, installed when missing:
#   redis-server, redis-tools        the reference for the differential test; redis-benchmark
#   memcached, libmemcached-tools     the memcached reference; memccapable and memcaslap
#   fio                               the physical limit the nvme benchmark compares with
# and, from crates.io, cargo-fuzz (pinned, `cargo install --locked`) for the fuzz targets in
# fuzz/ (scripts/fuzz.sh); it needs a nightly toolchain, which scripts/test.sh provides.
# The services are not started: tests start their own servers on free ports. Run as root (CI
# and our VMs are); otherwise it uses sudo when there is one.
set -euo pipefail

# cargo-fuzz first: it needs no root and does not depend on the Debian packages below.
cargo_fuzz_version=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
    echo "installing: cargo-fuzz $cargo_fuzz_version"
    cargo install --locked --quiet --version "=$cargo_fuzz_version" cargo-fuzz
fi

needed=()
command -v redis-server >/dev/null || needed+=(redis-server)
command -v redis-benchmark >/dev/null || needed+=(redis-tools)
command -v memcached >/dev/null || needed+=(memcached)
command -v memccapable >/dev/null || needed+=(libmemcached-tools)
command -v fio >/dev/null || needed+=(fio)
if [[ ${#needed[@]} -eq 0 ]]; then
    exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
fi
echo "installing: ${needed[*]}"
# policy-rc.d exit 101: do not start the packages' services (no init system on CI anyway).
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
    remove_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
if [[ ${remove_policy:-0} == 1 ]]; then
    "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
fi
# Stop anything the packages started despite the policy (they would hold ports 6379/11211).
pkill -x redis-server 2>/dev/null || true
pkill -x memcached 2>/dev/null || true
