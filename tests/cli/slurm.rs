//! `launcher = "slurm"` against a real one-node Slurm cluster ([`super::slurm_cluster`]): live
//! output, exit codes, Ctrl-C reaching the job's trap, timeouts (TERM, then KILL), the queued
//! state with more jobs than CPUs, retries, and an empty queue after every way a run can end
//! (including runall's third Ctrl-C, its hard deadline, and runall being SIGKILLed, where the
//! guardian acts).
//!
//! One test function runs every check on one cluster (starting it costs seconds); the checks
//! run one after another, each waiting for the queue to empty before the next. A machine
//! where the cluster cannot start fails the test with the reason.

#![expect(
    clippy::print_stderr,
    reason = "the test reports what it measured (line latency, how long the queue took to empty); \
              `cargo test --test cli slurm -- --nocapture` shows it"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::slurm_cluster::Cluster;
use crate::support::{PATIENCE, Project, reap_orphans, summary_row, tagged_processes, toml_str};

/// A project whose envs run through the slurm preset on `cluster`.
fn project(cluster: &Cluster, settings: &str, envs: &str) -> Project {
    let conf = toml_str(&cluster.conf().display().to_string());
    Project::new(&format!(
        "[settings]\nlauncher = \"slurm\"\n{settings}\n[env_run_base]\nset_env = {{ SLURM_CONF = {conf} }}\n{envs}"
    ))
}

/// After runall was killed or exited at once: its srun processes, killed by runall's last
/// act or by its guardian, were re-parented to this test process (a subreaper); wait until
/// none of the run is alive, then reap them, so that the zombie check does not count them.
fn settle(p: &Project) {
    let deadline = Instant::now() + PATIENCE;
    while !tagged_processes(&p.tag).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    reap_orphans();
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[test]
fn slurm_preset_on_a_real_cluster() {
    let _orphans = crate::support::orphans_expected();
    let cluster = match Cluster::start() {
        Ok(cluster) => cluster,
        Err(why) => panic!("cannot run the Slurm tests on this machine: {why}"),
    };
    eprintln!("slurm: cluster up in {:?}", cluster.startup);
    live_output_and_exit_codes(&cluster);
    ctrl_c_runs_the_jobs_trap(&cluster);
    timeouts_end_the_job(&cluster);
    more_jobs_than_cpus_queue(&cluster);
    retries_relaunch(&cluster);
    third_ctrl_c_leaves_nothing_queued(&cluster);
    hard_deadline_leaves_nothing_queued(&cluster);
    sigkilled_runall_leaves_nothing_queued(&cluster);
}

/// A job's line reaches `--ci` while the job runs (latency measured from the job's own clock,
/// same machine), and `exit 3` is reported as such.
fn live_output_and_exit_codes(cluster: &Cluster) {
    let p = project(
        cluster,
        "",
        r#"
[env.live]
commands = ["echo \"stamp $(date +%s.%N)\"; sleep 3; echo done"]
[env.three]
commands = ["echo failing; exit 3"]
"#,
    );
    let running = p.spawn(&["--ci"]);
    running.wait_for("live  | stamp ");
    let seen = now_secs();
    let out = running.out.text();
    let stamp: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("live  | stamp "))
        .and_then(|s| s.trim().parse().ok())
        .expect("the job's timestamp");
    let latency = seen - stamp;
    eprintln!(
        "slurm: a job's line was in --ci output {:.0} ms after the job wrote it",
        latency * 1000.0
    );
    assert!(
        !out.contains("live  | done"),
        "the line arrived while the job still ran: {out}"
    );
    assert!(latency < 10.0, "latency {latency:.3}s: {out}");
    let run = running.finish();
    let out = run.stdout();
    assert_eq!(run.code(), Some(1), "{out}\n{}", run.stderr());
    assert!(summary_row(&out, "live").contains("passed"), "{out}");
    assert!(summary_row(&out, "three").contains("exit 3"), "{out}");
    assert!(out.contains("three | failing"), "{out}");
    p.assert_no_survivors();
    cluster.wait_queue_empty("after a normal run");
}

/// Ctrl-C: the job's SIGINT trap runs (its output is in the log), the env is interrupted, and
/// nothing is left in the queue.
fn ctrl_c_runs_the_jobs_trap(cluster: &Cluster) {
    let p = project(
        cluster,
        "interrupt_timeout = \"10s\"",
        r#"
[env.intjob]
commands = ["trap 'echo trapped INT; sleep 0.5; echo trap done; exit 130' INT; echo ready; while :; do sleep 0.1; done"]
"#,
    );
    let running = p.spawn(&["--ci"]);
    running.wait_for("intjob | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    let out = run.stdout();
    assert_eq!(run.signal(), Some(libc::SIGINT), "{out}\n{}", run.stderr());
    let log = String::from_utf8_lossy(&p.log("intjob")).into_owned();
    assert!(
        log.contains("trapped INT") && log.contains("trap done"),
        "log:\n{log}\nout:\n{out}"
    );
    assert!(
        summary_row(&out, "intjob").contains("interrupted (exit 130)"),
        "{out}"
    );
    assert!(
        out.contains("→ interrupt hook: scancel --signal=INT --name="),
        "{out}"
    );
    p.assert_no_survivors();
    let took = cluster.wait_queue_empty("after Ctrl-C");
    eprintln!("slurm: queue empty {took:?} after the interrupted run ended");
}

/// A per-env timeout ends the job: SIGTERM reaches its trap; one that ignores SIGTERM is killed
/// after `terminate_timeout`.
fn timeouts_end_the_job(cluster: &Cluster) {
    let p = project(
        cluster,
        "terminate_timeout = \"1s\"",
        r#"
[env.term]
commands = ["trap 'echo got TERM; exit 143' TERM; echo ready; while :; do sleep 0.1; done"]
timeout = "2s"
[env.stubborn]
commands = ["trap '' TERM; echo ready; while :; do sleep 0.1; done"]
timeout = "2s"
"#,
    );
    let run = p.run(&["--ci"]);
    let out = run.stdout();
    run.assert_code(1);
    assert!(
        summary_row(&out, "term").contains("timed out after 2.0s"),
        "{out}"
    );
    assert!(
        summary_row(&out, "stubborn").contains("timed out after 2.0s"),
        "{out}"
    );
    let log = String::from_utf8_lossy(&p.log("term")).into_owned();
    assert!(log.contains("got TERM"), "{log}");
    assert!(
        out.contains("term     | → terminate hook: scancel --signal=TERM"),
        "{out}"
    );
    assert!(
        out.contains("stubborn | → kill hook: scancel --signal=KILL"),
        "{out}"
    );
    assert!(
        !out.contains("term     | → kill hook"),
        "the job that handled TERM needed no KILL: {out}"
    );
    let took = cluster.wait_queue_empty("after timeouts");
    eprintln!("slurm: queue empty {took:?} after the timed-out run ended");
}

/// Three one-CPU jobs on a two-CPU node with `-j 3`: one is shown queued until it starts, all
/// pass, and its timeout counted only from its start.
fn more_jobs_than_cpus_queue(cluster: &Cluster) {
    let p = project(
        cluster,
        "",
        r#"
[env.one]
commands = ["sleep 3; echo one done"]
timeout = "5s"
[env.two]
commands = ["sleep 3; echo two done"]
timeout = "5s"
[env.three]
commands = ["sleep 3; echo three done"]
timeout = "5s"
"#,
    );
    let json = p.path().join("events.jsonl");
    let run = p.run(&["--ci", "-j", "3", "--json", json.to_str().expect("utf-8")]);
    let out = run.stdout();
    run.assert_code(0);
    let queued: Vec<&str> = out.lines().filter(|l| l.contains("⧖ queued")).collect();
    assert_eq!(queued.len(), 1, "exactly one env waited: {out}");
    let env = queued[0].split(" |").next().unwrap_or_default().trim();
    let started = out.lines().any(|l| {
        l.ends_with("▶ its job started") && l.split(" |").next().map(str::trim) == Some(env)
    });
    assert!(started, "{env} left the queue: {out}");
    // Queued about 3 s, then 3 s of work: a 5 s timeout from the spawn would have fired.
    assert!(summary_row(&out, env).contains("passed"), "{out}");
    let events = std::fs::read_to_string(&json).expect("json");
    assert!(
        events.contains("\"job_queued\"") && events.contains("\"job_started\""),
        "{events}"
    );
    cluster.wait_queue_empty("after the queued run");
}

/// A failed attempt is launched again as a new job.
fn retries_relaunch(cluster: &Cluster) {
    let p = project(
        cluster,
        "",
        r#"
[env.flaky]
commands = ["echo \"job $SLURM_JOB_ID\"; test -e tried || { touch tried; exit 1; }"]
retries = 1
"#,
    );
    let run = p.run(&["--ci"]);
    let out = run.stdout();
    run.assert_code(0);
    assert!(
        summary_row(&out, "flaky").contains("passed on attempt 2 (flaky)"),
        "{out}"
    );
    let jobs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("flaky | job "))
        .collect();
    assert_eq!(jobs.len(), 2, "{out}");
    assert_ne!(jobs[0], jobs[1], "each attempt is its own job: {out}");
    cluster.wait_queue_empty("after retries");
}

/// The third Ctrl-C exits at once; the job (which ignores SIGINT) is still cancelled. A local
/// env whose output an escaped process holds keeps runall draining after the second Ctrl-C
/// (at most 0.5 s), so that the third one lands while runall still runs.
fn third_ctrl_c_leaves_nothing_queued(cluster: &Cluster) {
    let p = project(
        cluster,
        "interrupt_timeout = \"20s\"",
        r#"
[env.deaf]
commands = ["trap '' INT; echo ready; while :; do sleep 0.1; done"]
[env.holder]
commands = ["setsid ./orphan-ok-sleep 30 & echo ready; while :; do sleep 0.1; done"]
launcher = []
"#,
    );
    p.add_orphan_ok_tools();
    let running = p.spawn(&["--ci"]);
    running.wait_for("deaf   | ready");
    running.wait_for("holder | ready");
    let started = Instant::now();
    for _ in 0..3 {
        running.signal(libc::SIGINT);
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = running.finish();
    assert!(run.stderr().contains("third interrupt"), "{}", run.stderr());
    settle(&p);
    let took = cluster.wait_queue_empty("after the third Ctrl-C");
    eprintln!(
        "slurm: queue empty {took:?} after runall's third Ctrl-C ({:?} after the first)",
        started.elapsed()
    );
    p.assert_no_survivors();
}

/// The hard deadline (15 s after the first Ctrl-C, here with a job that ignores SIGINT and a
/// ladder slower than that) exits at once too; the job is still cancelled.
fn hard_deadline_leaves_nothing_queued(cluster: &Cluster) {
    let p = project(
        cluster,
        "interrupt_timeout = \"60s\"",
        r#"
[env.deaf]
commands = ["trap '' INT; echo ready; while :; do sleep 0.1; done"]
"#,
    );
    let running = p.spawn(&["--ci"]);
    running.wait_for("deaf | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert!(
        run.stderr().contains("shutdown took longer than 15s"),
        "{}\n{}",
        run.stderr(),
        run.stdout()
    );
    settle(&p);
    let took = cluster.wait_queue_empty("after the hard deadline");
    eprintln!("slurm: queue empty {took:?} after runall's hard deadline");
    p.assert_no_survivors();
}

/// runall SIGKILLed: its guardian kills srun, and Slurm ends the job.
fn sigkilled_runall_leaves_nothing_queued(cluster: &Cluster) {
    let p = project(
        cluster,
        "",
        r#"
[env.orphan]
commands = ["echo ready; while :; do sleep 0.1; done"]
"#,
    );
    let running = p.spawn(&["--ci"]);
    running.wait_for("orphan | ready");
    running.signal(libc::SIGKILL);
    let _ = running.finish();
    settle(&p);
    let took = cluster.wait_queue_empty("after runall was SIGKILLed");
    eprintln!("slurm: queue empty {took:?} after runall was SIGKILLed (guardian)");
    p.assert_no_survivors();
}
