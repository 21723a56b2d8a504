//! tty envs (`tty = true`) in `--ci`, against the real binary: the child sees a terminal
//! (stdin, stdout, stderr, controlling terminal, `TERM`, a size), the log keeps the raw bytes
//! while the printed lines are framed like any other, and the lifecycle guarantees hold as
//! for pipes: the ladder, a process keeping the slave open (named, killed, in bounded time),
//! a timeout, runall interrupted during a flood (every byte logged, nothing left).

use std::time::Duration;

use crate::support::{Project, summary_row, toml_str};

/// Knobs that keep the ladder short in tests.
const FAST: &str = "[settings]\ninterrupt_timeout = \"1s\"\nterminate_timeout = \"1s\"\nleak_timeout = \"300ms\"\n\n";

/// One tty env named `name` running `script`, with the fast ladder.
fn tty_config(name: &str, script: &str, extra: &str) -> String {
    format!(
        "{FAST}[env.{name}]\ntty = true\n{extra}commands = [{}]\n",
        toml_str(script)
    )
}

#[test]
fn a_tty_env_sees_a_terminal_and_its_log_keeps_the_raw_bytes() {
    let script = "python3 -c 'import os; print(os.isatty(0), os.isatty(1), os.isatty(2), \
                  os.get_terminal_size(0), os.environ[\"TERM\"])'; \
                  printf 'one\\rtwo\\rthree\\n'; ps -o tty= -p $$; tty";
    let p = Project::new(&tty_config("term", script, ""));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let out = run.stdout();
    assert!(
        out.contains(
            "term | True True True os.terminal_size(columns=80, lines=24) xterm-256color\n"
        ),
        "{out}"
    );
    // `\r` frames collapse to the last one, as for a pipe; the log has every byte, with the
    // terminal's CR LF line ends.
    assert!(out.contains("term | three\n"), "{out}");
    assert!(!out.contains("term | one"), "{out}");
    let log = String::from_utf8(p.log("term")).expect("utf-8 log");
    assert!(log.contains("one\rtwo\rthree\r\n"), "{log:?}");
    // The terminal is the child's controlling terminal (`ps` shows it) and its stdin.
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let pts = lines.last().expect("tty printed its name");
    assert!(pts.starts_with("/dev/pts/"), "{log:?}");
    assert_eq!(
        lines[lines.len() - 2],
        pts.trim_start_matches("/dev/"),
        "{log:?}"
    );
}

#[test]
fn a_tty_env_with_a_separate_stderr_is_refused_before_anything_runs() {
    let p =
        Project::new("[env.x]\ncommands = [\"touch ran\"]\nstderr = \"separate\"\ntty = true\n");
    let run = p.run(&["--ci"]);
    run.assert_code(2);
    assert!(
        run.stderr().contains(
            "runall.toml:4:7: env.x.tty: a terminal has one stream: `tty = true` cannot be \
             combined with `stderr = \"separate\"`"
        ),
        "{}",
        run.stderr()
    );
    assert!(!p.path().join("ran").exists());
}

#[test]
fn a_tty_env_that_ignores_int_and_term_gets_the_whole_ladder() {
    let p = Project::new(&tty_config(
        "stubborn",
        "trap '' INT TERM; echo ready; sleep 100",
        "",
    ));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("stubborn | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT));
    let row = summary_row(&run.stdout(), "stubborn");
    assert!(row.contains("interrupted (killed by SIGKILL)"), "{row}");
    assert!(run.stdout().contains("sent SIGTERM"), "{}", run.stdout());
    assert!(run.elapsed < Duration::from_secs(30), "{:?}", run.elapsed);
    p.assert_no_survivors();
}

/// A background process that outlives the shell with the slave open (it ignores the SIGHUP
/// the terminal sends its foreground group when the session leader exits; the shell waits
/// until it does, or the SIGHUP would end it first, as in a real terminal) keeps the master from EIO: it is named
/// as a holder, killed, and the env ends in bounded time.
#[test]
fn a_process_keeping_the_slave_open_is_named_and_killed() {
    let p = Project::new(&tty_config(
        "leak",
        "(trap '' HUP; touch ready; exec sleep 100) & until [ -e ready ]; do sleep 0.01; done; \
         echo hi",
        "",
    ));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(p.log("leak"), b"hi\r\n");
    let row = summary_row(&run.stdout(), "leak");
    assert!(row.contains("passed (leaked 1 process)"), "{row}");
    assert!(run.stdout().contains("sleep 100"), "{}", run.stdout());
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
}

/// The same with a process in a session of its own (no SIGHUP reaches it).
#[test]
fn an_escaped_session_holding_the_slave_is_named_and_killed() {
    let p = Project::new(&tty_config(
        "escape",
        "setsid sh -c 'touch ready; exec sleep 100' & until [ -e ready ]; do sleep 0.01; done; \
         echo hi",
        "",
    ));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let row = summary_row(&run.stdout(), "escape");
    assert!(row.contains("leaked 1 process"), "{row}\n{}", run.stdout());
    assert!(run.stdout().contains("sleep"), "{}", run.stdout());
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
}

#[test]
fn a_tty_env_times_out() {
    let p = Project::new(&tty_config(
        "slow",
        "echo started; sleep 100",
        "timeout = \"1s\"\n",
    ));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    let row = summary_row(&run.stdout(), "slow");
    assert!(row.contains("timed out"), "{row}");
    assert_eq!(p.log("slow"), b"started\r\n");
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
}

/// runall interrupted while a tty env floods: the child counts the lines it wrote whole and
/// says how many on SIGINT (to a file, not the terminal); every one of them is in the log, in
/// order, and nothing of the run is left.
#[test]
fn ctrl_c_during_a_tty_flood_keeps_every_byte_and_leaves_nothing() {
    let script = "python3 -c '\nimport os, signal, sys\nn = 0\ntry:\n    \
                  os.write(1, b\"ready\\n\")\n    while True:\n        \
                  os.write(1, b\"%09d\\n\" % n)\n        n += 1\n\
                  except KeyboardInterrupt:\n    \
                  open(\"count\", \"w\").write(str(n))\n    sys.exit(130)\n'";
    let p = Project::new(&tty_config("flood", script, ""));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("flood | 000100000");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT), "{}", run.stderr());
    let count: usize = std::fs::read_to_string(p.path().join("count"))
        .expect("the child counted")
        .parse()
        .expect("a number");
    let log = p.log("flood");
    let body = log.strip_prefix(b"ready\r\n").expect("ready first");
    assert!(count > 100_000, "{count}");
    // Each line is 9 digits and CR LF; at most one more (written as SIGINT came) than counted.
    let whole = body.len() / 11;
    assert!(
        whole == count || whole == count + 1,
        "{whole} lines, {count} counted"
    );
    for (i, line) in body.chunks(11).take(count).enumerate() {
        assert_eq!(line, format!("{i:09}\r\n").as_bytes(), "line {i}");
    }
    p.assert_no_survivors();
}

/// `--attach` without a terminal: the env's output is runall's own (not captured, not in
/// its log), it has no timeout, and an unknown name is a usage error before anything runs.
#[test]
fn attach_gives_the_env_runalls_own_output_and_no_timeout() {
    let p = Project::new(
        "[env.dep]\ncommands = [\"echo dep-output\"]\n\
         [env.solo]\ndepends = [\"dep\"]\ntimeout = \"1s\"\n\
         commands = [\"sleep 1.5; echo straight-out\"]\n",
    );
    let run = p.run(&["--attach", "solo", "--color", "never"]);
    run.assert_code(0);
    let out = run.stdout();
    assert!(out.contains("straight-out\n"), "{out}");
    assert!(!out.contains("dep-output"), "{out}");
    assert!(summary_row(&out, "solo").contains("passed"), "{out}");
    assert!(p.log("solo").is_empty());
    assert_eq!(p.log("dep"), b"dep-output\n");
    let run = p.run(&["--attach", "nope"]);
    run.assert_code(2);
    assert!(
        run.stderr().contains("no env matches `nope`"),
        "{}",
        run.stderr()
    );
}

/// A tty env behind a launcher: its queued and started marks come through the terminal and
/// are seen as a pipe env's are (queued shown, the timeout waiting for the start).
#[test]
fn a_tty_env_behind_a_launcher_shows_queued_and_its_timeout_waits_for_the_start() {
    let p = Project::new(
        r#"
[env.job]
tty = true
commands = ["sleep 0.2; echo job ran"]
timeout = "1s"
[env.job.launcher]
command = ["sh", "-c", "echo 'fake: job 7 queued and waiting for resources'; sleep 1.5; echo 'fake: job 7 has been allocated resources'; exec \"$@\"", "launcher"]
queued = "queued and waiting for resources"
started = "has been allocated resources"
"#,
    );
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let out = run.stdout();
    let queued = out
        .find("job | ⧖ queued: the cluster has not started its job yet")
        .unwrap_or_else(|| panic!("queued line: {out}"));
    let started = out
        .find("job | ▶ its job started")
        .unwrap_or_else(|| panic!("started line: {out}"));
    let ran = out
        .find("job | job ran")
        .unwrap_or_else(|| panic!("ran: {out}"));
    assert!(queued < started && started < ran, "{out}");
    assert!(summary_row(&out, "job").contains("passed"), "{out}");
}
