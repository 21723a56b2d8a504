#!/usr/bin/env bash
# benches/workloads.sh: the W1-W4 relay workloads of issue 5, runall --ci against the relay floor.
#
# Owns the end-to-end performance measurement (not a test, not run by CI). For each workload it
# writes a runall.toml in target/runall-workloads/, runs runall --ci and the relay floor (every
# child writing into one pipe read by `cat`) RUNS times each, interleaved, and prints the
# medians: wall time,
# runall's own CPU (its threads only), CPU counted by GNU time (runall plus the children it
# reaped), peak RSS (GNU time's max RSS) and the ratio to the floor, plus the integrity checks
# (every line whole, in order, under the right label and stream; no deadlock).
#
# Needs bash, coreutils, GNU time (/usr/bin/time), a C compiler (cc) for benches/gen.c, and
# cargo. Usage:
#   bash benches/workloads.sh                  # build --release, W1-W4 (5 runs each), TUI, TUI320,
#                                              # RELAY (the least any relay can do, for scale),
#                                              # BINARY, STORMS, FLOOD1000, MANY5000 (the TUI at scale:
#                                              # key latency under floods, memory budget, 5,000 envs)
#                                              # TTY (one tty env's flood vs a bare PTY reader)
#   RUNS=3 bash benches/workloads.sh W1 W3     # some workloads, 3 runs each
#   RUNALL=/path/to/runall bash benches/workloads.sh   # measure that binary, no build
#   VERBOSE=1 bash benches/workloads.sh        # also print every sample
# On a shared machine, other work skews the numbers: before each run the script waits (up to
# QUIET_WAIT seconds, default 30) for the CPUs to be mostly idle, and says so when they were not.
# On a VM that reclaims idle memory, runs that write fresh page cache (runall's logs) vary
# more than the floor: the table shows the best run next to each median.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
QUIET_WAIT=${QUIET_WAIT:-30}
TIME=/usr/bin/time
WORKLOADS=("$@")
[ ${#WORKLOADS[@]} -eq 0 ] && WORKLOADS=(W1 W2 W3 W4 TUI TUI320 RELAY BINARY STORMS FLOOD1000 MANY5000 TTY)

if ! "$TIME" -f %e true 2>/dev/null; then
    echo "workloads.sh: GNU time is needed at $TIME (apt-get install time)" >&2
    exit 2
fi
if [ -z "${RUNALL:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet)
    RUNALL=$ROOT/target/release/runall
fi
# Configs, logs and outputs live in one work folder that is kept between runs of this script
# (emptied, not deleted): ext4 spreads new directories over block groups, and the first big
# writes into a cold group cost seconds of kernel time that have nothing to do with runall.
TMP=${WORK:-$ROOT/target/runall-workloads}
rm -rf "$TMP"/* "$TMP"/.runall
mkdir -p "$TMP"
# HOGS: the process group of STORMS' control storms while they run (killed on any exit).
HOGS=""
trap '[ -z "$HOGS" ] || kill -- "-$HOGS" 2> /dev/null; rm -rf "${TMP:?}"/* "${TMP:?}"/.runall' EXIT
GEN=$TMP/gen
cc -O2 -o "$GEN" "$ROOT/benches/gen.c"

# --- helpers ---------------------------------------------------------------------------------

# Busy fraction of all CPUs over 0.5 s, in percent (from /proc/stat).
busy_percent() {
    local a b a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7 b8
    read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ < /proc/stat
    sleep 0.5
    read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ < /proc/stat
    a=$((a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8))
    b=$((b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8))
    local idle=$(((b4 + b5) - (a4 + a5))) total=$((b - a))
    [ "$total" -gt 0 ] || { echo 0; return; }
    echo $(((total - idle) * 100 / total))
}

# Wait until the machine is mostly idle (other users' builds skew every number).
wait_quiet() {
    local waited=0 busy
    while busy=$(busy_percent) && [ "$busy" -gt 15 ]; do
        if [ "$waited" -ge "$QUIET_WAIT" ]; then
            echo "  (machine ${busy}% busy with other work; measuring anyway)" >&2
            return
        fi
        sleep 1
        waited=$((waited + 2))
    done
}

# Median of the numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# timed KIND OUT CMD...: one run of CMD under GNU time (and `gen own` for runall); appends
# "wall cpu rss_kib own" to $TMP/KIND.samples. Output goes to OUT.
timed() {
    local kind=$1 out=$2
    shift 2
    # Fresh logs (a flood's old logs would be truncated inside the timed run), except for W2:
    # a rerun overwrites its 500 small logs, and deleting them every run makes ext4's inode
    # allocator (recently_deleted) the bottleneck, which no user sees.
    [ "${KEEP_LOGS:-}" ] || rm -rf "$TMP/logs"
    sync
    wait_quiet
    local own=$TMP/own
    echo nan > "$own"
    if [ "$kind" = runall ]; then
        set -- "$GEN" own "$own" "$@"
    fi
    if ! timeout 300 "$TIME" -f '%e %U %S %M' -o "$TMP/time" "$@" > "$out"; then
        echo "  $kind run failed or timed out (deadlock?)" >&2
        FAILED=1
    fi
    local wall user sys rss
    read -r wall user sys rss < <(tail -1 "$TMP/time")
    local sample
    sample="$wall $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') $rss $(cat "$own")"
    echo "$sample" >> "$TMP/$kind.samples"
    [ -z "${VERBOSE:-}" ] || echo "  $kind: wall $wall, cpu $user+$sys, rss $rss KiB, own cpu $(cat "$own")" >&2
}

# warmup CMD...: one untimed run (the first run after a pause pays for page cache and memory
# reclaim that later runs do not).
warmup() {
    rm -rf "$TMP/logs"
    timeout 300 "$@" > /dev/null 2>&1 || true
}

# column KIND N: median of column N of KIND's samples.
column() {
    awk -v n="$2" '{ print $n }' "$TMP/$1.samples" | median
}

# best KIND N: smallest value of column N of KIND's samples.
best() {
    awk -v n="$2" '{ print $n }' "$TMP/$1.samples" | sort -g | head -1
}

ROWS=()
FAILED=0

# report NAME TARGET_RATIO CHECK_TEXT [RSS_LIMIT_MIB]: one table row from the samples.
report() {
    local name=$1 target=$2 check=$3 rss_limit=${4:-}
    local fw fc rw rc ro rss fb rb
    fb=$(best floor 1)
    rb=$(best runall 1)
    fw=$(column floor 1)
    fc=$(column floor 2)
    rw=$(column runall 1)
    rc=$(column runall 2)
    ro=$(column runall 4)
    rss=$(awk '{ print $3 }' "$TMP/runall.samples" | sort -g | tail -1)
    local ratio verdict
    ratio=$(awk -v r="$rw" -v f="$fw" 'BEGIN { printf "%.2f", (f > 0 ? r / f : 0) }')
    verdict=$(awk -v x="$ratio" -v t="$target" 'BEGIN { print (x <= t ? "met" : "MISSED") }')
    if [ -n "$rss_limit" ] && [ "$((rss / 1024))" -ge "$rss_limit" ]; then
        verdict="MISSED (RSS)"
    fi
    case $check in intact* | "no deadlock"* | "-") ;; *) verdict="MISSED (integrity)" ;; esac
    ROWS+=("$(printf '| %s | %ss (best %ss) | %ss (best %ss) | %s× (≤ %s×) | %ss | %ss | %ss | %s MiB | %s | %s |' \
        "$name" "$fw" "$fb" "$rw" "$rb" "$ratio" "$target" "$ro" "$rc" "$fc" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$check" "$verdict")")
    rm -f "$TMP/floor.samples" "$TMP/runall.samples"
}

# config FILE SETTINGS: starts a runall.toml with a [settings] table.
config() {
    printf '[settings]\n%s\n' "$2" > "$1"
}

# lines_config FILE TAG N LEN: a runall.toml of 8 envs TAG-0 .. TAG-7 (jobs = 8), each one
# `gen lines TAG-i N LEN`.
lines_config() {
    local i
    config "$1" "jobs = 8"
    for i in 0 1 2 3 4 5 6 7; do env_argv "$1" "$2-$i" "$GEN" lines "$2-$i" "$3" "$4"; done
}

# env_argv FILE NAME ARGS...: appends an env running ARGS as an argv.
env_argv() {
    local file=$1 name=$2 argv="" a
    shift 2
    for a in "$@"; do argv+="\"$a\","; done
    printf '[env.%s]\ncommands = [[%s]]\n' "$name" "${argv%,}" >> "$file"
}

runall_ci() {
    "$RUNALL" --ci -c "$1" --log-dir "$TMP/logs" "${@:2}"
}

# --- workloads -------------------------------------------------------------------------------

# W1 flood: 8 children x 256 MiB of 100-byte lines (2,684,354 lines each), output to /dev/null.
w1() {
    local n=2684354 cfg=$TMP/w1.toml i
    echo "W1 flood: 8 x 256 MiB of 100-byte lines → /dev/null ..." >&2
    lines_config "$cfg" w1 "$n" 100
    floor_w1() { for i in 0 1 2 3 4 5 6 7; do "$GEN" lines "w1-$i" "$n" 100 & done; wait; }
    export -f floor_w1 && export GEN n
    warmup "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    for _ in $(seq "$RUNS"); do
        timed floor /dev/null bash -c 'floor_w1 | cat > /dev/null'
        timed runall /dev/null "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    done
    # Integrity with runall's stdout a pipe: the checker reads every line.
    local check
    rm -rf "$TMP/logs"
    check=$(runall_ci "$cfg" | "$GEN" check 8 "$n" 100) || true
    report "W1 flood 8×256 MiB" 1.5 "$check (stdout a pipe)" 32
}

# W2 many: 500 envs of `true`, 2 at a time, against xargs -P2 sh -c true.
w2() {
    local cfg=$TMP/w2.toml i
    echo "W2 many: 500 envs of true, -j 2 ..." >&2
    config "$cfg" "jobs = 2"
    for i in $(seq 500); do printf '[env.w2-%d]\ncommands = ["true"]\n' "$i" >> "$cfg"; done
    warmup "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs" -j 2
    for _ in $(seq "$RUNS"); do
        timed floor /dev/null bash -c 'seq 500 | xargs -P2 -n1 sh -c true'
        KEEP_LOGS=1 timed runall /dev/null "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs" -j 2
    done
    local passed
    passed=$(runall_ci "$cfg" -j 2 | grep -c '✔ passed' || true)
    local check="$passed/500 passed"
    [ "$passed" = 500 ] && check="intact: $check"
    report "W2 many 500×true -j2 (floor: xargs -P2)" 2 "$check"
}

# W3 lines: 8 x 1,000,000 numbered 22-byte lines, output to a file, then every line checked.
w3() {
    local n=1000000 cfg=$TMP/w3.toml i
    echo "W3 lines: 8 x 1,000,000 numbered lines → file ..." >&2
    lines_config "$cfg" w3 "$n" 22
    floor_w3() { for i in 0 1 2 3 4 5 6 7; do "$GEN" lines "w3-$i" "$n" 22 & done; wait; }
    export -f floor_w3 && export GEN n
    warmup "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    for _ in $(seq "$RUNS"); do
        timed floor "$TMP/w3.floor" bash -c 'floor_w3 | cat'
        timed runall "$TMP/w3.out" "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    done
    local check
    check=$("$GEN" check 8 "$n" 22 < "$TMP/w3.out") || true
    rm -f "$TMP/w3.out" "$TMP/w3.floor"
    report "W3 lines 8×1M → file" 2 "$check"
}

# W4 both streams: 4 children x 64 MiB on stdout and 64 MiB on stderr at once, stderr separate.
w4() {
    local n=671088 cfg=$TMP/w4.toml i
    echo "W4 both streams: 4 x (64 MiB stdout + 64 MiB stderr), stderr = separate ..." >&2
    config "$cfg" $'jobs = 4\nstderr = "separate"'
    for i in 0 1 2 3; do env_argv "$cfg" "w4-$i" "$GEN" lines "w4-$i" "$n" 100 both; done
    floor_w4() { for i in 0 1 2 3; do "$GEN" lines "w4-$i" "$n" 100 both & done; wait; }
    export -f floor_w4 && export GEN n
    warmup "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    for _ in $(seq "$RUNS"); do
        timed floor /dev/null bash -c 'floor_w4 2>&1 | cat > /dev/null'
        timed runall /dev/null "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    done
    local check
    rm -rf "$TMP/logs"
    if check=$(timeout 120 bash -c '"$0" --ci -c "$1" --log-dir "$2" | "$3" check 8 "$4" 100' \
        "$RUNALL" "$cfg" "$TMP/logs" "$GEN" "$n"); then
        check="$check, no deadlock"
    else
        check="${check:-no output}; DEADLOCK or broken lines"
    fi
    report "W4 both streams 4×(64+64 MiB)" 3 "$check"
}

# TUI: W1 in the TUI (runall without --ci) inside a detached tmux session of 200x50. Measures
# the time until the screen says every env is done (2 GiB drained), runall's CPU and peak RSS
# at that moment, how long a key takes to show on screen during the flood (`?` opens the help),
# and runall's CPU over 5 s once everything is idle, plus each of runall's threads' CPU. Needs
# tmux. With RATE (MiB/s per child), the children pace themselves (gen's GEN_RATE), to measure
# runall's CPU at a given drain rate instead of at the fastest it can drain.
tui() {
    local rate_per_child=${1:-} n=2684354 cfg=$TMP/tui/runall.toml i pid start end
    local gen_env="" name="TUI W1 in tmux 200x50"
    if [ -n "$rate_per_child" ]; then
        gen_env="GEN_RATE=$((rate_per_child * 1048576))"
        name="TUI W1 paced to 8×$rate_per_child MiB/s"
    fi
    echo "$name ..." >&2
    if ! command -v tmux > /dev/null; then
        echo "  tmux not found: TUI not measured" >&2
        return
    fi
    mkdir -p "$TMP/tui"
    lines_config "$cfg" w1 "$n" 100
    # Like every workload, one untimed run first: on a VM that hands idle memory back to the
    # host, the first 2 GiB of fresh page cache after a pause costs several times more (a plain
    # `dd` of 2 GiB measured 2.98 s of system time cold, 0.42 s warm).
    warmup "$RUNALL" --ci -c "$cfg" --log-dir "$TMP/logs"
    rm -rf "$TMP/logs"
    sync
    wait_quiet
    local session=runall-workloads-$$
    start=$(date +%s%N)
    tmux new-session -d -s "$session" -x 200 -y 50 \
        "exec env $gen_env '$RUNALL' -c '$cfg' --log-dir '$TMP/logs'"
    local screen=""
    for _ in $(seq 100); do
        pid=$(tmux list-panes -t "$session" -F '#{pane_pid}' 2> /dev/null) && [ -n "$pid" ] && break
        sleep 0.01
    done
    # A key during the flood: wait until output shows, press `?`, time until the help is drawn.
    local key_ms="n/a"
    for _ in $(seq 500); do
        tmux capture-pane -t "$session" -p | grep -q 'w1-0 out' && break
        sleep 0.01
    done
    local k0 k1
    k0=$(date +%s%N)
    tmux send-keys -t "$session" '?'
    for _ in $(seq 1000); do
        if tmux capture-pane -t "$session" -p | grep -qi 'help'; then
            k1=$(date +%s%N)
            key_ms=$(((k1 - k0) / 1000000))
            break
        fi
        sleep 0.005
    done
    tmux send-keys -t "$session" Escape
    local timed_out=1
    for _ in $(seq 12000); do
        screen=$(tmux capture-pane -t "$session" -p | tail -1)
        if [[ $screen == *"done ✔ 8"* ]]; then
            timed_out=0
            break
        fi
        sleep 0.05
    done
    end=$(date +%s%N)
    local tck st st2 rss
    tck=$(getconf CLK_TCK)
    read -r -a st < "/proc/$pid/stat"
    rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
    local threads="" task tst
    for task in /proc/"$pid"/task/*; do
        read -r -a tst < "$task/stat"
        threads+="$(cat "$task/comm") $(awk -v t=$((tst[13] + tst[14])) -v h="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / h }')s, "
    done
    sleep 5
    read -r -a st2 < "/proc/$pid/stat"
    tmux send-keys -t "$session" q
    sleep 0.5
    tmux kill-session -t "$session" 2> /dev/null || true
    local wall cpu idle rate
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
    cpu=$(awk -v t=$((st[13] + st[14])) -v h="$tck" 'BEGIN { printf "%.2f", t / h }')
    idle=$(awk -v t=$((st2[13] + st2[14] - st[13] - st[14])) -v h="$tck" 'BEGIN { printf "%.1f", 100 * t / h / 5 }')
    rate=$(awk -v w="$wall" -v n="$n" 'BEGIN { printf "%.0f", 8 * n * 100 / 1048576 / w }')
    local check="intact: all 8 envs done, key answered in ${key_ms} ms, idle CPU ${idle}% of a core"
    [ "$timed_out" = 0 ] || check="TIMED OUT after 600 s"
    TUI_ROWS+=("| $name | ${rate} MiB/s (target ≥ 310) | ${wall}s | $(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.2f cores (target < 1)", c / w }') | ${cpu}s | $(awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }') | ${threads%, } | $check |")
}

# TTY: one tty env (`tty = true`) flooding 256 MiB of 100-byte lines through its PTY with its
# pane on screen (the TUI in tmux 200x50, the pane drawn by the terminal emulator), against
# the floor in the same run: `gen ptyread`, a bare reader of a PTY master (poll + read until
# EIO; the kernel hands out about 4 KiB per read). Reports both drain rates, their ratio
# (target ≥ 0.8), runall's peak RSS and how long a key (`?`, the help) takes to show.
# runall's rate is timed twice: from `tmux new-session` until the screen says done (tmux's
# and runall's start included; while the flood runs, the script only stats the log every
# 50 ms, then polls the screen every 20 ms for done), and over the env's own
# duration from its run history (spawn to the end of its output, as the floor times fork to
# EIO).
tty_flood() {
    local n=2684354 cfg=$TMP/tty/runall.toml pid start end samples=$TMP/ptyread.samples
    echo "TTY: one tty env, 256 MiB through its PTY, pane on screen ..." >&2
    if ! command -v tmux > /dev/null; then
        echo "  tmux not found: TTY not measured" >&2
        return
    fi
    mkdir -p "$TMP/tty"
    config "$cfg" "jobs = 1"
    env_argv "$cfg" tty-0 "$GEN" lines tty-0 "$n" 100
    printf 'tty = true\n' >> "$cfg"
    : > "$samples"
    local run
    for run in $(seq "$RUNS"); do
        # The floor, then runall, interleaved.
        wait_quiet
        "$GEN" ptyread "$n" 100 | awk '{ print $10 }' >> "$samples"
        rm -rf "$TMP/logs"
        sync
        wait_quiet
        local session=runall-tty-$$
        start=$(date +%s%N)
        tmux new-session -d -s "$session" -x 200 -y 50 \
            "exec '$RUNALL' -c '$cfg' --log-dir '$TMP/logs'"
        for _ in $(seq 100); do
            pid=$(tmux list-panes -t "$session" -F '#{pane_pid}' 2> /dev/null) && [ -n "$pid" ] && break
            sleep 0.01
        done
        for _ in $(seq 500); do
            tmux capture-pane -t "$session" -p | grep -q 'tty-0 out' && break
            sleep 0.01
        done
        local k0 k1 key_ms="n/a"
        k0=$(date +%s%N)
        tmux send-keys -t "$session" '?'
        for _ in $(seq 1000); do
            if tmux capture-pane -t "$session" -p | grep -qi 'keys'; then
                k1=$(date +%s%N)
                key_ms=$(((k1 - k0) / 1000000))
                break
            fi
            sleep 0.005
        done
        tmux send-keys -t "$session" Escape
        # Until the log holds every byte: a stat every 50 ms (a capture-pane every 20 ms
        # costs tmux a screen render each time, CPU the floor's run does not spend); then
        # the screen, until it says done.
        for _ in $(seq 4800); do
            [ "$(stat -c %s "$TMP/logs/tty-0.log" 2> /dev/null || echo 0)" -ge 271119754 ] && break
            sleep 0.05
        done
        local timed_out=1
        for _ in $(seq 12000); do
            if [[ $(tmux capture-pane -t "$session" -p | tail -1) == *"done ✔ 1"* ]]; then
                timed_out=0
                break
            fi
            sleep 0.02
        done
        end=$(date +%s%N)
        local rss
        rss=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
        tmux send-keys -t "$session" q
        # runall writes its run history (the env's duration) as it exits.
        for _ in $(seq 100); do
            [ -s "$TMP/tty/.runall/history.json" ] && break
            sleep 0.02
        done
        tmux kill-session -t "$session" 2> /dev/null || true
        local bytes
        bytes=$(stat -c %s "$TMP/logs/tty-0.log" 2> /dev/null || echo 0)
        # The env's own duration (its spawn to the end of its output), as the floor times
        # its child (fork to EIO): without tmux's and runall's start and the screen polling.
        local env_ms
        env_ms=$(grep -o '"duration_ms": [0-9]*' "$TMP/tty/.runall/history.json" 2> /dev/null | grep -o '[0-9]*$' || echo 0)
        rm -f "$TMP/tty/.runall/history.json"
        echo "$(awk -v a="$start" -v b="$end" -v n="$bytes" 'BEGIN { printf "%.1f", n / 1048576 / ((b - a) / 1e9) }') $rss $key_ms $timed_out $bytes $(awk -v ms="${env_ms:-0}" -v n="$bytes" 'BEGIN { printf "%.1f", (ms > 0 ? n / 1048576 / (ms / 1e3) : 0) }')" >> "$TMP/tty.samples"
        [ -z "${VERBOSE:-}" ] || echo "  run $run: floor $(tail -1 "$samples") MiB/s, runall $(tail -1 "$TMP/tty.samples")" >&2
    done
    local floor rate env_rate rss key ratio env_ratio check="intact: log has every byte"
    floor=$(median < "$samples")
    rate=$(awk '{ print $1 }' "$TMP/tty.samples" | median)
    env_rate=$(awk '{ print $6 }' "$TMP/tty.samples" | median)
    env_ratio=$(awk -v r="$env_rate" -v f="$floor" 'BEGIN { printf "%.2f", (f > 0 ? r / f : 0) }')
    rss=$(awk '{ print $2 }' "$TMP/tty.samples" | sort -g | tail -1)
    key=$(awk '{ print $3 }' "$TMP/tty.samples" | sort -g | tail -1)
    ratio=$(awk -v r="$rate" -v f="$floor" 'BEGIN { printf "%.2f", (f > 0 ? r / f : 0) }')
    if awk '$4 != 0 || $5 != 271119754 { bad = 1 } END { exit !bad }' "$TMP/tty.samples"; then
        check="MISSED (timed out or bytes lost)"
    fi
    TTY_ROWS+=("| one tty env, 256 MiB through its PTY, pane on screen (tmux 200x50) | ${floor} MiB/s | ${rate} MiB/s | ${ratio} (target ≥ 0.8) | ${env_rate} MiB/s, ${env_ratio} | $(awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }') | ${key} ms (target ≤ 100) | $check |")
    rm -f "$samples" "$TMP/tty.samples"
}

# RELAY: the yardstick for the TUI's CPU target, `gen relay`: the least a relay can do under
# W1 (one thread: poll, read, write the chunk to the env's log; no framing, no screen), with
# the logs runall writes and without them. It tells what "< 1 core" asks of any relay here.
relay_bound() {
    local n=2684354 logs kind samples wall cpu
    echo "RELAY: W1 through gen relay (one thread), with and without logs ..." >&2
    for kind in logs none; do
        samples=$TMP/relay-$kind.samples
        : > "$samples"
        logs=-
        if [ "$kind" = logs ]; then
            logs=$TMP/logs
        fi
        rm -rf "$TMP/logs" && mkdir -p "$TMP/logs"
        "$GEN" relay "$logs" 8 "$n" 100 > /dev/null
        for _ in $(seq "$RUNS"); do
            rm -rf "$TMP/logs" && mkdir -p "$TMP/logs"
            sync
            wait_quiet
            # "relay: BYTES bytes, wall S s, own CPU S s, C cores"
            "$GEN" relay "$logs" 8 "$n" 100 | awk '{ print $5, $9 }' >> "$samples"
        done
        wall=$(awk '{ print $1 }' "$samples" | median)
        cpu=$(awk '{ print $2 }' "$samples" | median)
        RELAY_ROWS+=("| W1 through \`gen relay\`, $([ "$kind" = logs ] && echo "8 logs written" || echo "no logs") | $(awk -v w="$wall" -v n="$n" 'BEGIN { printf "%.0f MiB/s", 8 * n * 100 / 1048576 / w }') | ${wall}s | ${cpu}s | $(awk -v c="$cpu" -v w="$wall" 'BEGIN { printf "%.2f", c / w }') cores |")
    done
    rm -rf "$TMP/logs"
}

# --- the TUI at scale (issue 16) ---------------------------------------------------------------

# scale_start NAME CFG: runall's TUI on CFG in a detached tmux session of 200x50; sets SESSION
# and PID (runall's pid).
scale_start() {
    SESSION=runall-scale-$$-$1
    tmux new-session -d -s "$SESSION" -x 200 -y 50 \
        "exec env ${SCALE_ENV:-} '$RUNALL' -c '$2' --log-dir '$TMP/logs'"
    PID=""
    for _ in $(seq 200); do
        PID=$(tmux list-panes -t "$SESSION" -F '#{pane_pid}' 2> /dev/null) && [ -n "$PID" ] && break
        sleep 0.01
    done
}

# scale_wait NEEDLE [SECONDS]: wait until NEEDLE is on screen; 1 when it never came.
scale_wait() {
    local tries=$((${2:-600} * 20))
    for _ in $(seq "$tries"); do
        tmux capture-pane -t "$SESSION" -p | grep -qF -- "$1" && return 0
        sleep 0.05
    done
    echo "  never saw: $1" >&2
    return 1
}

# key_ms KEYS NEEDLE [gone|re]: send KEYS (tmux key names; `-l TEXT` for literal text), then
# the milliseconds until NEEDLE shows (with `gone`: no longer shows; with `re`: NEEDLE is an
# extended regex that matches) on screen, polled every
# 5 ms (tmux capture-pane itself takes a few ms: the figures are upper bounds); "timeout"
# after 20 s.
# With KEY_LOG set, each answered key's send and seen times (ns) are appended to that file.
key_ms() {
    local keys=$1 needle=$2 gone=${3:-} k0 k1 screen
    k0=$(date +%s%N)
    # shellcheck disable=SC2086
    tmux send-keys -t "$SESSION" $keys
    for _ in $(seq 4000); do
        screen=$(tmux capture-pane -t "$SESSION" -p)
        if { [ -z "$gone" ] && grep -qF -- "$needle" <<< "$screen"; } ||
            { [ "$gone" = re ] && grep -qE -- "$needle" <<< "$screen"; } ||
            { [ "$gone" = gone ] && ! grep -qF -- "$needle" <<< "$screen"; }; then
            k1=$(date +%s%N)
            [ -n "${KEY_LOG:-}" ] && echo "$k0 $k1" >> "$KEY_LOG"
            echo $(((k1 - k0) / 1000000))
            return
        fi
        sleep 0.005
    done
    echo timeout
}

# scale_rss: runall's peak RSS so far, in MiB.
scale_rss() {
    awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"
}

# scale_cpu: runall's CPU seconds so far.
scale_cpu() {
    local st
    read -r -a st < "/proc/$PID/stat"
    awk -v t=$((st[13] + st[14])) -v h="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / h }'
}

# scale_quit: quit runall (confirming if envs still run) and end the session.
scale_quit() {
    tmux send-keys -t "$SESSION" q
    sleep 0.3
    tmux send-keys -t "$SESSION" y
    for _ in $(seq 200); do
        kill -0 "$PID" 2> /dev/null || break
        sleep 0.05
    done
    tmux kill-session -t "$SESSION" 2> /dev/null || true
}

# stats: "median M ms, max X ms (n keys)" of the numbers on stdin ("timeout" counts as a miss).
stats() {
    sort -g | awk '$1 == "timeout" { t++; next } { v[++n] = $1 } END {
        if (n == 0) { print "no answer"; exit }
        m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        printf "median %d ms, max %d ms (%d keys%s)", m, v[n], n + t, t ? ", " t " timed out" : "" }'
}

# BINARY: 8 envs each `cat`ting 4 MiB of random bytes in a loop, in the TUI; key latency of
# `?` (help on and off) and `j` (next env) while they flood, runall's CPU and peak RSS.
scale_binary() {
    local cfg=$TMP/binary.toml i
    echo "BINARY: 8 envs catting random bytes in a loop, keys answered ..." >&2
    head -c 4194304 /dev/urandom > "$TMP/random.bin"
    config "$cfg" "jobs = 8"
    for i in $(seq 0 7); do
        printf '[env.bin-%d]\ncommands = ["while :; do cat %s; done"]\n' "$i" "$TMP/random.bin" >> "$cfg"
    done
    rm -rf "$TMP/logs"
    wait_quiet
    scale_start binary "$cfg"
    scale_wait "▶ 8" 60 || true
    sleep 3
    local help=() next=() k
    for k in 1 2 3 4 5; do
        help+=("$(key_ms '?' 'scroll up a line')")
        help+=("$(key_ms Escape 'scroll up a line' gone)")
        next+=("$(key_ms j "›▶ bin-$k ")")
    done
    local rss cpu logged
    rss=$(scale_rss)
    cpu=$(scale_cpu)
    logged=$(du -sm "$TMP/logs" | awk '{ print $1 }')
    scale_quit
    SCALE_ROWS+=("| binary flood: 8 × \`cat\` of random bytes in a loop | \`?\`/Esc: $(printf '%s\n' "${help[@]}" | stats); \`j\`: $(printf '%s\n' "${next[@]}" | stats) | $rss MiB | ${cpu}s CPU while ${logged} MiB were logged |")
}

# STORMS: the other floods the screen must not fall behind: a 200 MB line, millions of `\r`
# frames, an escape-sequence storm (each in a loop), and key latency of `?` and `j` under them.
scale_storms() {
    local cfg=$TMP/storms.toml
    echo "STORMS: a 200 MB line, \\r frames, escape storms; keys answered ..." >&2
    config "$cfg" "jobs = 8"
    cat >> "$cfg" << 'EOF2'
[env.storm-line]
commands = ["while :; do head -c 200000000 /dev/zero | tr '\\0' x; done"]

[env.storm-frames]
commands = ["while :; do awk 'BEGIN { for (i = 0; i < 3000000; i++) printf \"\\r%d%%\", i }'; done"]

[env.storm-escapes]
commands = ["while :; do yes \"$(printf '\\033[31m\\033[2K\\033]0;title\\007\\033[1;1H\\033[?1049h')\" | head -c 100000000; done"]
EOF2
    rm -rf "$TMP/logs" "$TMP/storms.keys"
    wait_quiet
    # runall's frame trace (RUNALL_TRACE_FRAMES) splits each key's time in three: tmux
    # handing it to runall, runall reading it to its frame flushed, the frame to tmux's screen.
    SCALE_ENV="RUNALL_TRACE_FRAMES=$TMP/storms.trace" scale_start storms "$cfg"
    scale_wait "▶ 3" 60 || true
    sleep 3
    local help=() next=() k name
    for k in 1 2 3 4 5 6; do
        help+=("$(KEY_LOG=$TMP/storms.keys key_ms '?' 'scroll up a line')")
        help+=("$(KEY_LOG=$TMP/storms.keys key_ms Escape 'scroll up a line' gone)")
        case $((k % 3)) in 0) name=storm-line ;; 1) name=storm-frames ;; *) name=storm-escapes ;; esac
        next+=("$(KEY_LOG=$TMP/storms.keys key_ms j "›▶ $name ")")
    done
    local rss cpu logged split
    rss=$(scale_rss)
    cpu=$(scale_cpu)
    logged=$(du -sm "$TMP/logs" | awk '{ print $1 }')
    scale_quit
    split=$(key_split "$TMP/storms.keys" "$TMP/storms.trace")
    SCALE_ROWS+=("| storms: a 200 MB line, 3M \`\\r\` frames, an escape-sequence storm (each in a loop) | \`?\`/Esc: $(printf '%s\n' "${help[@]}" | stats); \`j\`: $(printf '%s\n' "${next[@]}" | stats); $split | $rss MiB | ${cpu}s CPU while ${logged} MiB were logged |")
    [ "${STORMS_CONTROL:-1}" = 0 ] || storms_control
}

# The control for STORMS: the same three storms outside runall, each piped into
# `cat > /dev/null` (a reader like runall's pump, no parsing, no log), while a quiet TUI (three
# envs of `sleep`, named like the storms) answers the same keys: what the storms' CPU load
# alone costs a key on this machine. STORMS_CONTROL=0 skips it.
storms_control() {
    local cfg=$TMP/storms-control.toml hogs=$TMP/storms-control.sh pgid
    echo "STORMS control: the storms outside runall, a quiet TUI ..." >&2
    config "$cfg" "jobs = 8"
    for name in storm-line storm-frames storm-escapes; do
        printf '[env.%s]\ncommands = ["sleep 600"]\n' "$name" >> "$cfg"
    done
    cat > "$hogs" << 'EOF2'
while :; do head -c 200000000 /dev/zero | tr '\0' x; done | cat > /dev/null &
while :; do awk 'BEGIN { for (i = 0; i < 3000000; i++) printf "\r%d%%", i }'; done | cat > /dev/null &
while :; do yes "$(printf '\033[31m\033[2K\033]0;title\007\033[1;1H\033[?1049h')" | head -c 100000000; done | cat > /dev/null &
wait
EOF2
    rm -rf "$TMP/logs"
    wait_quiet
    setsid bash "$hogs" < /dev/null > /dev/null 2>&1 &
    pgid=$!
    HOGS=$pgid
    scale_start storms-control "$cfg"
    scale_wait "▶ 3" 60 || true
    sleep 3
    local help=() next=() k name
    for k in 1 2 3 4 5 6; do
        help+=("$(key_ms '?' 'scroll up a line')")
        help+=("$(key_ms Escape 'scroll up a line' gone)")
        case $((k % 3)) in 0) name=storm-line ;; 1) name=storm-frames ;; *) name=storm-escapes ;; esac
        next+=("$(key_ms j "›▶ $name ")")
    done
    kill -- "-$pgid" 2> /dev/null || true
    wait "$pgid" 2> /dev/null || true
    HOGS=
    scale_quit
    SCALE_ROWS+=("| control: the same storms outside runall, each into \`cat > /dev/null\`, and a quiet TUI | \`?\`/Esc: $(printf '%s\n' "${help[@]}" | stats); \`j\`: $(printf '%s\n' "${next[@]}" | stats) | | |")
}

# key_split KEYS TRACE: from key_ms's KEY_LOG (send and seen, ns) and runall's frame trace
# (µs since the epoch), the medians and maxima of the three parts of each key's time: sent to
# read by runall (tmux delivering it), read to its frame flushed (runall), flushed to seen
# (tmux drawing it, and the 5 ms poll).
key_split() {
    [ -s "$2" ] || { echo "no frame trace (a runall without RUNALL_TRACE_FRAMES)"; return; }
    awk 'FNR == NR { sent[++n] = $1 / 1000; seen[n] = $2 / 1000; next }
        { t[++m] = $1; w[m] = $2 }
        END {
            j = 1
            for (i = 1; i <= n; i++) {
                while (j <= m && t[j] < sent[i]) j++
                r = 0; d = 0
                for (k = j; k <= m; k++) {
                    if (!r && w[k] == "key-read") r = t[k]
                    if (r && w[k] == "draw-key") { d = t[k]; break }
                }
                if (!d) continue
                a[++c] = (r - sent[i]) / 1000; b[c] = (d - r) / 1000; e[c] = (seen[i] - d) / 1000
            }
            if (!c) { print "no key in the frame trace"; exit }
            printf "split of %d keys: to runall median %.0f ms, max %.0f; runall key to frame median %.0f ms, max %.0f; frame to screen median %.0f ms, max %.0f", c, med(a, c), max(a, c), med(b, c), max(b, c), med(e, c), max(e, c)
        }
        function max(v, k,   i, x) { x = v[1]; for (i = 2; i <= k; i++) if (v[i] > x) x = v[i]; return x }
        function med(v, k,   i, j, x, s) {
            for (i = 1; i <= k; i++) s[i] = v[i]
            for (i = 2; i <= k; i++) { x = s[i]; for (j = i - 1; j >= 1 && s[j] > x; j--) s[j + 1] = s[j]; s[j + 1] = x }
            return (k % 2) ? s[(k + 1) / 2] : (s[k / 2] + s[k / 2 + 1]) / 2
        }' "$1" "$2"
}

# FLOOD1000: 1,000 envs x 30,000 lines of 100 bytes (-j 8) in the TUI: peak RSS (target
# < 64 MiB with the 32 MiB scrollback budget), key latency during the flood, then paging to
# the top of an evicted env, and a search across all envs (it reads the evicted envs' logs).
scale_flood() {
    local cfg=$TMP/flood.toml i n=30000
    local budget=${SCROLLBACK_MEMORY:-32MiB}
    echo "FLOOD1000: 1,000 envs x 30,000 lines in the TUI (scrollback_memory $budget) ..." >&2
    config "$cfg" "jobs = 8
scrollback_memory = \"$budget\""
    for i in $(seq 0 999); do env_argv "$cfg" "f-$i" "$GEN" lines "f-$i" "$n" 100; done
    rm -rf "$TMP/logs"
    wait_quiet
    local start end
    start=$(date +%s%N)
    scale_start flood "$cfg"
    scale_wait "f-0 out" 60 || true
    local during=() k
    for k in 1 2 3 4 5 6; do
        during+=("$(key_ms j "›. f-$k " re)")
    done
    scale_wait "done ✔ 1000" 900 || true
    end=$(date +%s%N)
    local rss cpu
    rss=$(scale_rss)
    cpu=$(scale_cpu)
    # The focused env (f-6, long finished and evicted): to its top and a page down, paged
    # from its log; then back up to f-2, whose last lines page back at once.
    local top page other
    top=$(key_ms g "f-6 out 0000000001")
    page=$(key_ms PageDown "f-6 out 00000000[4-9][0-9]" re)
    other=$(key_ms "k k k k" "f-2 out 0000030000")
    local search
    tmux send-keys -t "$SESSION" F
    sleep 0.2
    tmux send-keys -t "$SESSION" -l "out 0000029999"
    search=$(key_ms Enter "matches for")
    local rss_after
    rss_after=$(scale_rss)
    scale_quit
    local wall
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    SCALE_ROWS+=("| 1,000 envs × 30,000 lines (-j 8), scrollback_memory $budget | keys during the flood: $(printf '%s\n' "${during[@]}" | stats); top of an evicted env: ${top} ms, a page down: ${page} ms, another evicted env's last lines: ${other} ms; search all envs: ${search} ms | $rss MiB at the end, $rss_after MiB after the search | ${wall}s, ${cpu}s CPU |")
}

# MANY5000: 5,000 envs (-j 8, each a 60 s sleep) in the TUI: selection, filter and tiles.
scale_many() {
    local cfg=$TMP/many.toml i
    echo "MANY5000: 5,000 envs in the list ..." >&2
    config "$cfg" "jobs = 8"
    for i in $(seq 0 4999); do printf '[env.m-%d]\ncommands = ["sleep 60"]\n' "$i" >> "$cfg"; done
    rm -rf "$TMP/logs"
    wait_quiet
    scale_start many "$cfg"
    scale_wait "▶ 8" 60 || true
    local moves=() k
    for k in 1 2 3 4 5 6; do
        moves+=("$(key_ms j "›▶ m-$k ")")
    done
    local filter tiles untile clear
    tmux send-keys -t "$SESSION" f
    sleep 0.2
    filter=$(key_ms "-l m-4999" "“m-4999” 1/5000")
    clear=$(key_ms Escape "envs 0/5000")
    tiles=$(key_ms t "envs 0/5000" gone)
    untile=$(key_ms "t t" "envs 0/5000")
    local rss cpu
    rss=$(scale_rss)
    cpu=$(scale_cpu)
    scale_quit
    SCALE_ROWS+=("| 5,000 envs in the list (8 running) | \`j\`: $(printf '%s\n' "${moves[@]}" | stats); filter typed (6 keys) to 1 match: ${filter} ms; filter cleared: ${clear} ms; tiles of the running ones: ${tiles} ms, back: ${untile} ms | $rss MiB | ${cpu}s CPU |")
}

TUI_ROWS=()
RELAY_ROWS=()
SCALE_ROWS=()
TTY_ROWS=()
for w in "${WORKLOADS[@]}"; do
    case $w in
        W1 | w1) w1 ;;
        W2 | w2) w2 ;;
        W3 | w3) w3 ;;
        W4 | w4) w4 ;;
        TUI | tui) tui ;;
        # The TUI at the target drain rate: 8 children paced to 40 MiB/s each (320 MiB/s).
        TUI320 | tui320) tui 40 ;;
        RELAY | relay) relay_bound ;;
        BINARY | binary) scale_binary ;;
        STORMS | storms) scale_storms ;;
        FLOOD1000 | flood1000) scale_flood ;;
        MANY5000 | many5000) scale_many ;;
        TTY | tty) tty_flood ;;
        *) echo "workloads.sh: unknown workload $w (W1 W2 W3 W4 TUI TUI320 RELAY BINARY STORMS FLOOD1000 MANY5000 TTY)" >&2; exit 2 ;;
    esac
done

echo
echo "runall: $RUNALL ($("$RUNALL" --version 2>/dev/null || echo '?')); $(nproc) CPUs; median of $RUNS runs"
echo
echo "| workload | floor wall | runall wall | ratio (target) | runall own CPU | CPU incl. children | floor CPU | peak RSS | integrity | target |"
echo "|---|---|---|---|---|---|---|---|---|---|"
[ ${#ROWS[@]} -eq 0 ] || printf '%s\n' "${ROWS[@]}"
if [ ${#TUI_ROWS[@]} -gt 0 ]; then
    echo
    echo "| TUI | drain rate | wall | CPU (runall) | CPU time | peak RSS | CPU per thread | checks |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${TUI_ROWS[@]}"
fi
if [ ${#SCALE_ROWS[@]} -gt 0 ]; then
    echo
    echo "| TUI at scale | keys (tmux-polled, upper bounds) | peak RSS | wall, CPU |"
    echo "|---|---|---|---|"
    printf '%s\n' "${SCALE_ROWS[@]}"
fi
if [ ${#TTY_ROWS[@]} -gt 0 ]; then
    echo
    echo "| tty (medians of $RUNS; RSS and key: the worst run) | floor: bare PTY reader | runall (tmux start to done on screen) | ratio | runall, env's own duration (as the floor's), ratio | peak RSS | key to screen | checks |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${TTY_ROWS[@]}"
fi
if [ ${#RELAY_ROWS[@]} -gt 0 ]; then
    echo
    echo "| yardstick (medians of $RUNS) | drain rate | wall | own CPU | CPU ÷ wall |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${RELAY_ROWS[@]}"
fi
exit "$FAILED"
