//! Launchers through the real binary, with stand-in launchers made of `sh` (the real Slurm
//! cluster is in `slurm.rs`): the prefix and its placeholders for shell and argv commands and
//! retries, a ladder hook run instead of the local signal, and the queued state (shown, in
//! JSON, and pausing the env's timeout).

use std::fs;

use crate::support::{Project, summary_row};

/// A launcher that says where it runs the command, then runs it.
const SAY_AND_RUN: &str =
    r#"["sh", "-c", "echo \"via {env} attempt {attempt} run {run_id}\"; exec \"$@\"", "launcher"]"#;

#[test]
fn a_launcher_prefixes_every_command_with_placeholders_filled() {
    let p = Project::new(&format!(
        r#"
[settings]
launcher = {SAY_AND_RUN}
[env.shell]
commands = ["echo \"shell $RUNALL_RUN_ID\" && test -e tried || {{ touch tried; exit 1; }}"]
retries = 1
[env.argv]
commands = [["printf", "%s|", "a b", "{{env}}"]]
[env.local]
commands = ["echo plain"]
launcher = []
"#
    ));
    let run = p.run(&["--ci", "-j", "1"]);
    run.assert_code(0);
    let out = run.stdout();
    // The run id the launcher got is the one the command sees.
    let run_id = out
        .lines()
        .find_map(|l| l.strip_prefix("shell | shell "))
        .map(str::trim)
        .expect("the command printed its run id")
        .to_owned();
    assert!(
        out.contains(&format!("via shell attempt 1 run {run_id}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("via shell attempt 2 run {run_id}")),
        "{out}"
    );
    // An argv reaches the command word for word, its own braces untouched.
    assert!(out.contains("argv  | a b|{env}|"), "{out}");
    assert!(out.contains("via argv attempt 1"), "{out}");
    assert!(out.contains("local | plain"), "{out}");
    assert!(
        !out.contains("via local"),
        "`launcher = []` opts out: {out}"
    );
    assert!(summary_row(&out, "shell").contains("flaky"), "{out}");
}

#[test]
fn an_interrupt_hook_replaces_the_local_sigint_and_the_ladder_goes_on() {
    let p = Project::new(
        r#"
[settings]
interrupt_timeout = "300ms"
[env.job]
commands = ["trap 'echo local SIGINT' INT; echo ready; while :; do sleep 0.05; done"]
[env.job.launcher]
command = ["sh", "-c", "exec \"$@\"", "launcher"]
interrupt = ["sh", "-c", "echo hook {env} >> hooks.txt; echo said-by-hook"]
local_signals = "kill"
"#,
    );
    let running = p.spawn(&["--ci"]);
    running.wait_for("job | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    let out = run.stdout();
    assert_eq!(run.signal(), Some(libc::SIGINT), "{out}\n{}", run.stderr());
    assert_eq!(
        fs::read_to_string(p.path().join("hooks.txt")).expect("the hook ran"),
        "hook job\n"
    );
    assert!(
        out.contains("→ interrupt hook: sh -c 'echo hook job >> hooks.txt; echo said-by-hook'"),
        "{out}"
    );
    assert!(
        out.contains("(no local signal: the hook carries this step)"),
        "{out}"
    );
    // What the hook printed is shown with it.
    assert!(out.contains("⚠ interrupt hook passed: sh -c"), "{out}");
    assert!(out.contains("job |   said-by-hook"), "{out}");
    // No SIGINT reached the local process; the ladder's SIGTERM (no hook) did.
    assert!(!out.contains("job | local SIGINT"), "{out}");
    assert!(out.contains("→ sent SIGTERM to process group"), "{out}");
    assert!(summary_row(&out, "job").contains("interrupted"), "{out}");
    p.assert_no_survivors();
}

#[test]
fn a_queued_job_is_shown_as_queued_and_its_timeout_waits_for_the_start() {
    // The stand-in cluster keeps the job queued for 1.5 s; the env's 1 s timeout must count
    // only from the start, so the 0.2 s job passes.
    let p = Project::new(
        r#"
[env.job]
commands = ["sleep 0.2; echo job ran"]
timeout = "1s"
[env.job.launcher]
command = ["sh", "-c", "echo 'fake: job 7 queued and waiting for resources' >&2; sleep 1.5; echo 'fake: job 7 has been allocated resources' >&2; exec \"$@\"", "launcher"]
queued = "queued and waiting for resources"
started = "has been allocated resources"
[env.quick]
commands = ["echo quick"]
timeout = "1s"
[env.quick.launcher]
command = ["sh", "-c", "echo 'queued and waiting for resources has been allocated resources'; exec \"$@\"", "launcher"]
queued = "queued and waiting for resources"
started = "has been allocated resources"
"#,
    );
    let json = p.path().join("events.jsonl");
    let run = p.run(&["--ci", "--json", json.to_str().expect("utf-8 path")]);
    run.assert_code(0);
    let out = run.stdout();
    let queued = out
        .find("job   | ⧖ queued: the cluster has not started its job yet")
        .unwrap_or_else(|| panic!("queued line: {out}"));
    let started = out
        .find("job   | ▶ its job started")
        .unwrap_or_else(|| panic!("started line: {out}"));
    assert!(
        queued < started && started < out.find("job   | job ran").expect("ran"),
        "{out}"
    );
    assert!(summary_row(&out, "job").contains("passed"), "{out}");
    // Both marks in one read: queued, then started at once.
    assert!(out.contains("quick | ⧖ queued"), "{out}");
    assert!(out.contains("quick | ▶ its job started"), "{out}");
    let events = fs::read_to_string(&json).expect("json");
    let types: Vec<String> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["env"] == "job")
        .map(|v| v["type"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "env_started",
            "command_started",
            "job_queued",
            "job_started",
            "env_finished"
        ]
    );
}
