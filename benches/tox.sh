#!/usr/bin/env bash
# benches/tox.sh: runall against `tox p` on the warm envs of a tox project (issue 13).
#
# Owns the runall-vs-tox measurement (not a test, not run by CI). It copies the tox.ini
# fixture of the tests (tests/fixtures/tox-ini: an in-tree build backend, so nothing is
# downloaded) into target/runall-tox-bench/, warms every env once with each tool, then runs
# `tox p -e ENVS` and `runall --ci -e ENVS` RUNS times each, interleaved, and prints every
# sample and the medians of the wall time, plus how many package builds each run did (the
# fixture's backend counts them).
#
# ENVS defaults to the five warm envs py-a, py-b, py-c, py-d (each installing the package)
# and lint (skip_install). Both tools use the same number of jobs (JOBS, default: the CPUs).
# Needs bash, coreutils, cargo and the pinned tox (target/pyenv, installed by .ci/run or
# the first tox test). Package builds are counted for the fixture only.
#
# PROJECT=DIR runs in a real tox project instead (a checkout of your own; its envs must be
# able to find their interpreters on PATH, and ENVS names the envs): there the envs run real
# test suites, so it measures what a user sees; the fixture measures the fixed cost per env.
# Usage:
#   bash benches/tox.sh                    # build --release, 5 runs each
#   RUNS=9 JOBS=2 bash benches/tox.sh
#   RUNALL=/path/to/runall bash benches/tox.sh
#   PROJECT=~/src/more-itertools ENVS=py310,py311,py312,py313 RUNS=3 bash benches/tox.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
JOBS=${JOBS:-$(nproc)}
ENVS=${ENVS:-py-a,py-b,py-c,py-d,lint}
export PATH="$ROOT/target/pyenv/bin:$PATH"
if ! command -v tox >/dev/null; then
    echo "tox.sh: no tox in $ROOT/target/pyenv/bin (run .ci/run or the tox tests first)" >&2
    exit 2
fi
if [ -z "${RUNALL:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    RUNALL=$ROOT/target/release/runall
fi
if [ -n "${PROJECT:-}" ]; then
    WORK=$(cd "$PROJECT" && pwd)
else
    WORK=$ROOT/target/runall-tox-bench
    rm -rf "$WORK"
    mkdir -p "$WORK"
    cp "$ROOT"/tests/fixtures/tox-ini/* "$WORK"/
fi
cd "$WORK"

now() { date +%s.%N; }
builds() { if [ -n "${PROJECT:-}" ]; then echo 0; elif [ -f builds.log ]; then wc -l <builds.log; else echo 0; fi; }

# One sample of "$@": wall seconds and package builds, the output to $WORK/last-<tool>.log.
sample() {
    local tool=$1
    shift
    local before start end
    before=$(builds)
    start=$(now)
    "$@" >"last-$tool.log" 2>&1 || {
        echo "tox.sh: $tool failed; see $WORK/last-$tool.log" >&2
        exit 1
    }
    end=$(now)
    echo "$(echo "$end - $start" | bc -l) $(($(builds) - before))"
}

TOXP=(tox p -p "$JOBS" -e "$ENVS")
RUNALL_CMD=("$RUNALL" --ci -j "$JOBS" -e "$ENVS")

echo "warming up (creating every env once with each tool)..."
sample tox "${TOXP[@]}" >/dev/null
sample runall "${RUNALL_CMD[@]}" >/dev/null

tox_times=()
runall_times=()
for i in $(seq 1 "$RUNS"); do
    read -r t tb < <(sample tox "${TOXP[@]}")
    read -r r rb < <(sample runall "${RUNALL_CMD[@]}")
    printf 'run %d: tox p %.2fs (%d build), runall %.2fs (%d build)\n' "$i" "$t" "$tb" "$r" "$rb"
    tox_times+=("$t")
    runall_times+=("$r")
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mt=$(median "${tox_times[@]}")
mr=$(median "${runall_times[@]}")
printf '\nmedian of %d (envs %s, %d jobs): tox p %.2fs, runall %.2fs, runall/tox p = %.2f\n' \
    "$RUNS" "$ENVS" "$JOBS" "$mt" "$mr" "$(echo "$mr / $mt" | bc -l)"
