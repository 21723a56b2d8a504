//! What each env cost (CPU seconds and peak RSS from `wait4`'s rusage) in every report, and
//! `max_memory` scheduling, with the real binary and real children.

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

use crate::support::{Project, python_tools, toml_str};

const MIB: u64 = 1024 * 1024;

fn python() -> String {
    python_tools().join("python").display().to_string()
}

fn events(p: &Project, file: &str) -> Vec<Value> {
    fs::read_to_string(p.path().join(file))
        .expect("events file")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

fn finished(events: &[Value]) -> BTreeMap<String, Value> {
    events
        .iter()
        .filter(|e| e["type"] == "env_finished")
        .map(|e| (e["env"].as_str().expect("env").to_owned(), e.clone()))
        .collect()
}

/// A 200 MiB allocation shows at least 200 MiB peak; a CPU-bound second shows about a
/// second of CPU; both in `--json`, `--junit`, the summary table, the history and `runall
/// list`.
#[test]
fn rusage_shows_peak_rss_and_cpu_seconds_everywhere() {
    let py = python();
    // Every byte written, so the pages are resident (a `bytearray(n)` would stay untouched).
    let big = format!("{py} -c \"x = b'\\x01' * (200 << 20); print(len(x))\"");
    let burn = format!(
        "{py} -c \"import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\""
    );
    let config = format!(
        "[env.big]\ncommands = [{}]\n\n[env.burn]\ncommands = [{}]\n",
        toml_str(&big),
        toml_str(&burn)
    );
    let p = Project::new(&config);
    let run = p.run(&[
        "--ci",
        "--color",
        "never",
        "--json",
        "events.jsonl",
        "--junit",
        "report.xml",
    ]);
    run.assert_code(0);

    let done = finished(&events(&p, "events.jsonl"));
    let peak = done["big"]["peak_rss_bytes"].as_u64().expect("peak of big");
    assert!(peak >= 200 * MIB, "peak {peak} < 200 MiB");
    assert!(peak < 2048 * MIB, "peak {peak}: not one 200 MiB child");
    let cpu = done["burn"]["cpu_seconds"].as_f64().expect("cpu of burn");
    // Loose bounds: a loaded machine, and the interpreter's own start.
    assert!((0.95..10.0).contains(&cpu), "cpu {cpu}s is not about 1 s");
    let idle_cpu = done["big"]["cpu_seconds"].as_f64().expect("cpu of big");
    assert!(idle_cpu < cpu, "big {idle_cpu}s, burn {cpu}s");

    let xml = fs::read_to_string(p.path().join("report.xml")).expect("junit");
    assert!(xml.contains("name=\"peak_rss_bytes\""), "{xml}");
    assert!(xml.contains("name=\"cpu_seconds\""), "{xml}");
    assert!(xml.contains(&format!("value=\"{peak}\"")), "{xml}");

    let out = run.stdout();
    let header = out
        .lines()
        .find(|l| l.starts_with("env "))
        .expect("table header");
    assert!(
        header.contains("cpu") && header.contains("peak rss"),
        "{out}"
    );
    let row = crate::support::summary_row(&out, "big");
    assert!(row.contains("MiB"), "{row}");

    let history: Value =
        serde_json::from_str(&fs::read_to_string(p.path().join(".runall/history.json")).unwrap())
            .expect("history");
    assert_eq!(
        history["envs"]["big"]["peak_rss_bytes"].as_u64(),
        Some(peak)
    );
    assert!(history["envs"]["burn"]["cpu_ms"].as_u64().expect("cpu_ms") >= 950);

    let list = p.run(&["list"]);
    list.assert_code(0);
    let listing = list.stdout();
    assert!(
        listing.contains(" MiB peak)"),
        "runall list shows the last figures: {listing}"
    );
}

/// `--max-memory` holds an env back while another one that is expected to need most of it
/// runs ("waiting for memory" in the CI log and in `--json`), so the two never overlap; an
/// env alone always starts, even when its peak is over the limit.
#[test]
fn max_memory_waits_for_memory_and_never_deadlocks() {
    let py = python();
    // Each env holds 200 MiB for a while and fails if the other holds its share meanwhile.
    let env = |me: &str, other: &str| {
        format!(
            "{py} -c \"import os, sys, time\nx = b'\\x01' * (200 << 20)\n\
             open('{me}.running', 'w').close()\n\
             time.sleep(0.5)\n\
             bad = os.path.exists('{other}.running')\n\
             os.remove('{me}.running')\n\
             sys.exit('overlap' if bad else 0)\""
        )
    };
    let config = format!(
        "[env.a]\ncommands = [{}]\n\n[env.b]\ncommands = [{}]\n",
        toml_str(&env("a", "b")),
        toml_str(&env("b", "a"))
    );
    let p = Project::new(&config);
    // First, one at a time: the history learns both peaks.
    p.run(&["--ci", "-j", "1"]).assert_code(0);

    let run = p.run(&[
        "--ci",
        "--color",
        "never",
        "-j",
        "2",
        "--max-memory",
        "300MiB",
        "--json",
        "events.jsonl",
    ]);
    run.assert_code(0);
    let out = run.stdout();
    assert!(out.contains("waiting for memory"), "{out}");
    let all = events(&p, "events.jsonl");
    let waiting: Vec<&Value> = all.iter().filter(|e| e["type"] == "env_waiting").collect();
    assert_eq!(waiting.len(), 1, "{all:?}");
    assert_eq!(waiting[0]["reason"], "memory");
    assert!(waiting[0]["expected_bytes"].as_u64().expect("expected") >= 200 * MIB);
    // The one that waited started only after the other finished.
    let name = waiting[0]["env"].as_str().expect("env");
    let position = |kind: &str, env: &str| {
        all.iter()
            .position(|e| e["type"] == kind && e["env"] == env)
            .unwrap_or_else(|| panic!("no {kind} of {env}"))
    };
    let other = if name == "a" { "b" } else { "a" };
    assert!(position("env_finished", other) < position("env_started", name));

    // Over the limit alone: still runs, one at a time.
    let tight = p.run(&["--ci", "-j", "2", "--max-memory", "1MiB"]);
    tight.assert_code(0);
}

/// A process the command left behind in its group is killed at the command's end, and what it
/// cost counts for the env: here a stray that burnt 0.6 s of CPU before the command ended.
#[test]
fn a_stray_killed_at_the_end_counts_for_its_env() {
    let py = python();
    let stray = format!(
        "{py} -c \"import pathlib, time\nwhile time.process_time() < 0.6: pass\npathlib.Path('burnt').touch()\nwhile True: pass\""
    );
    // The leader waits until the stray has burnt its 0.6 s, then ends, leaving it running.
    let command = format!(
        "{stray} > /dev/null 2>&1 & i=0; while [ ! -e burnt ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done"
    );
    let p = Project::new(&format!(
        "[env.leaky]\ncommands = [{}]\n",
        toml_str(&command)
    ));
    let run = p.run(&["--ci", "--color", "never", "--json", "events.jsonl"]);
    assert!(p.path().join("burnt").exists(), "{}", run.stdout());
    let done = finished(&events(&p, "events.jsonl"));
    let cpu = done["leaky"]["cpu_seconds"].as_f64().expect("cpu of leaky");
    // The shell and `sleep` alone cost a few hundredths of a second.
    assert!(cpu >= 0.6, "cpu {cpu}s: the stray's 0.6 s were not counted");
    p.assert_no_survivors();
}
