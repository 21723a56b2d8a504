//! The process-lifecycle guarantees, case by case (numbers from section C of
//! shared/design/PROCESS-LIFECYCLE.md). Each test also checks the global invariant that no
//! process of the run survives runall (`Project::run` / `assert_no_survivors`), and bounds
//! the wall time generously (CI is a loaded 2-core machine) but far below any hang.

use std::time::Duration;

use crate::support::{Project, config_of, output_of, summary_row, toml_str};

/// Knobs that keep the ladder short in tests.
const FAST: &str = "[settings]\ninterrupt_timeout = \"1s\"\nterminate_timeout = \"1s\"\nleak_timeout = \"300ms\"\n\n";

fn fast_config(envs: &[(&str, &str)]) -> String {
    format!("{FAST}{}", config_of(envs))
}

// ---- Output integrity -------------------------------------------------------------------

/// Case 1: both pipes full at once (PEP 3145).
#[test]
fn c01_both_pipes_full_at_once() {
    let script = "seq 1 5000000 & seq 1 5000000 >&2; wait";
    let config = format!(
        "[env.both]\nstderr = \"separate\"\ncommands = [{}]\n",
        toml_str(script)
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--output", "grouped", "--only-failed"]);
    run.assert_code(0);
    assert_eq!(p.log("both").len(), 2 * 38_888_896);
}

/// Case 3: a burst then an instant exit, many times in parallel: never truncated.
#[test]
fn c03_burst_then_exit_never_truncated() {
    let mut config = String::from("[settings]\njobs = 16\n\n");
    for i in 0..100 {
        config.push_str(&format!(
            "[env.burst{i}]\ncommands = [\"seq 1 200000; exit 7\"]\n"
        ));
    }
    let p = Project::new(&config);
    let run = p.run(&[
        "--ci",
        "--output",
        "grouped",
        "--only-failed",
        "--color",
        "never",
    ]);
    run.assert_code(1);
    for i in 0..100 {
        assert_eq!(
            p.log(&format!("burst{i}")).len(),
            1_288_895,
            "burst{i} truncated"
        );
    }
    assert!(run.stdout().matches("exit 7").count() >= 100);
}

/// Case 4: a final line without newline keeps its exact bytes.
#[test]
fn c04_final_line_without_newline() {
    let p = Project::new(&config_of(&[("frag", "printf 'no-newline-at-end'")]));
    p.run(&["--ci"]).assert_code(0);
    assert_eq!(p.log("frag").len(), 17);
}

/// Case 5: a 10 MiB single line: logged whole, printed in capped pieces marked as cut.
#[test]
fn c05_ten_mib_single_line() {
    let p = Project::new(&config_of(&[(
        "long",
        "head -c 10485760 /dev/zero | tr '\\0' a",
    )]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(p.log("long").len(), 10_485_760);
    assert!(run.stdout().contains("[line continues]"));
    let printed: usize = run
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("long | "))
        .map(|l| {
            l.trim_end_matches("  [line continues]")
                .trim_end_matches("  [no newline at end]")
        })
        .filter(|l| l.bytes().all(|b| b == b'a'))
        .map(str::len)
        .sum();
    assert_eq!(printed, 10_485_760, "every byte printed once");
}

/// Case 6: invalid UTF-8 kept byte for byte.
#[test]
fn c06_invalid_utf8() {
    let p = Project::new(&config_of(&[(
        "bin",
        "printf 'ok \\377\\376 \\303\\050 end\\n'",
    )]));
    p.run(&["--ci"]).assert_code(0);
    assert_eq!(p.log("bin"), b"ok \xff\xfe \xc3\x28 end\n");
}

/// Case 8: NUL, CR and CRLF pass through untouched.
#[test]
fn c08_nul_cr_crlf() {
    let script = "printf 'a\\0b\\rc\\r\\n'; i=0; while [ $i -lt 50 ]; do printf '\\r%d%%' $i; i=$((i+1)); done; echo";
    let p = Project::new(&config_of(&[("ctl", script)]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(p.log("ctl"), crate::support::reference_output(script));
    assert!(run.stdout().contains("ctl | 49%\n"), "{}", run.stdout());
}

/// Case 10 (scaled): a flood completes with an exact log.
#[test]
fn c10_flood() {
    let p = Project::new(&config_of(&[("spam", "yes 'spam line' | head -n 2000000")]));
    let run = p.run(&["--ci", "--output", "grouped", "--only-failed"]);
    run.assert_code(0);
    assert_eq!(p.log("spam").len(), 20_000_000);
}

/// Case 11: many tiny writes.
#[test]
fn c11_many_tiny_writes() {
    let p = Project::new(&config_of(&[(
        "tiny",
        "i=0; while [ $i -lt 100000 ]; do echo $i; i=$((i+1)); done",
    )]));
    p.run(&["--ci", "--output", "grouped", "--only-failed"])
        .assert_code(0);
    assert_eq!(p.log("tiny").len(), 588_890);
}

/// Case 12: with separate pipes each stream stays in order and stderr is tagged.
#[test]
fn c12_stream_ordering() {
    let script = "for i in $(seq 1 2000); do echo out$i; echo err$i >&2; done";
    let config = format!(
        "[env.ord]\nstderr = \"separate\"\ncommands = [{}]\n",
        toml_str(script)
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let out = run.stdout();
    let outs: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ord | out"))
        .collect();
    let errs: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("ord ! err"))
        .collect();
    let expected: Vec<String> = (1..=2000).map(|i| i.to_string()).collect();
    assert_eq!(outs, expected);
    assert_eq!(errs, expected);
}

// ---- EOF vs exit, grandchildren, leaks --------------------------------------------------

/// Case 13: stdout closed early does not end the env; later stderr output is captured.
#[test]
fn c13_early_stdout_close() {
    let p = Project::new(&fast_config(&[(
        "early",
        "exec 1>&-; sleep 1; echo still-here >&2; exit 3",
    )]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert_eq!(p.log("early"), b"still-here\n");
    assert!(summary_row(&run.stdout(), "early").contains("exit 3"));
}

/// Case 14: both streams closed: exit is detected without EOF.
#[test]
fn c14_both_streams_closed() {
    let p = Project::new(&fast_config(&[(
        "closed",
        "exec >&- 2>&-; sleep 1; exit 4",
    )]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert!(summary_row(&run.stdout(), "closed").contains("exit 4"));
    assert!(run.elapsed < Duration::from_secs(20));
}

/// Case 15: a grandchild holding the pipe is detected, killed and reported.
#[test]
fn c15_grandchild_holds_pipe() {
    let p = Project::new(&fast_config(&[("leak", "sleep 100 & echo hi")]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(p.log("leak"), b"hi\n");
    let row = summary_row(&run.stdout(), "leak");
    assert!(row.contains("passed (leaked 1 process)"), "{row}");
    assert!(run.stdout().contains("holding its output") || run.stdout().contains("pid"));
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
}

/// Case 15 with `on_leak = "fail"`.
#[test]
fn c15b_leak_fails_when_configured() {
    let config =
        format!("{FAST}[env.leak]\non_leak = \"fail\"\ncommands = [\"sleep 100 & echo hi\"]\n");
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert!(summary_row(&run.stdout(), "leak").contains("leaked 1 process"));
}

/// Case 18: a process that escaped into its own session and holds the pipe is found (runall
/// is a subreaper), named, killed and reaped.
#[test]
fn c18_escaped_session_holds_pipe() {
    let p = Project::new(&fast_config(&[("escape", "setsid sleep 100 & echo hi")]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(p.log("escape"), b"hi\n");
    let row = summary_row(&run.stdout(), "escape");
    assert!(row.contains("leaked 1 process"), "{row}\n{}", run.stdout());
    assert!(run.stdout().contains("sleep"), "{}", run.stdout());
    assert!(run.elapsed < Duration::from_secs(20));
}

/// A process that escaped without holding the pipe is still found and killed at env end.
#[test]
fn c18b_escaped_quiet_process_is_killed() {
    let p = Project::new(&fast_config(&[(
        "daemon",
        "setsid sleep 100 >/dev/null 2>&1 </dev/null & echo started",
    )]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert!(summary_row(&run.stdout(), "daemon").contains("leaked 1 process"));
}

// ---- Signals to children ----------------------------------------------------------------

/// Case 21: cooperative cleanup output is captured after SIGINT; runall dies by SIGINT.
#[test]
fn c21_cooperative_cleanup() {
    let p = Project::new(&fast_config(&[(
        "coop",
        "trap 'echo cleaning; sleep 0.5; echo cleaned; exit 130' INT TERM; echo ready; while :; do sleep 0.1; done",
    )]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("coop | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT), "{}", run.stderr());
    let log = String::from_utf8(p.log("coop")).unwrap();
    assert!(log.contains("cleaning\ncleaned\n"), "{log}");
    let row = summary_row(&run.stdout(), "coop");
    assert!(row.contains("interrupted (exit 130)"), "{row}");
    assert!(run.stdout().contains("sent SIGINT"), "{}", run.stdout());
    p.assert_no_survivors();
}

/// Case 22: a SIGINT ignorer gets SIGTERM after interrupt_timeout.
#[test]
fn c22_sigint_ignorer_gets_sigterm() {
    let p = Project::new(&fast_config(&[(
        "ign",
        "trap '' INT; echo ready; sleep 100",
    )]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("ign | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT));
    let row = summary_row(&run.stdout(), "ign");
    assert!(row.contains("interrupted (killed by SIGTERM)"), "{row}");
    assert!(run.stdout().contains("sent SIGTERM"), "{}", run.stdout());
    p.assert_no_survivors();
}

/// Case 23: an INT+TERM ignorer is SIGKILLed after both timeouts.
#[test]
fn c23_int_term_ignorer_gets_sigkill() {
    let p = Project::new(&fast_config(&[(
        "stubborn",
        "trap '' INT TERM; echo ready; sleep 100",
    )]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("stubborn | ready");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT));
    let row = summary_row(&run.stdout(), "stubborn");
    assert!(row.contains("interrupted (killed by SIGKILL)"), "{row}");
    assert!(run.elapsed < Duration::from_secs(30));
    p.assert_no_survivors();
}

/// Case 25: the whole group is signalled, so the shell's trap runs at once (its `sleep` child
/// gets the signal too) instead of waiting for the sleep.
#[test]
fn c25_group_not_leader_is_signalled() {
    let config = format!(
        "{FAST}[env.grp]\ntimeout = \"1s\"\ncommands = [\"trap 'echo bye; exit 1' TERM; sleep 100\"]\n"
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    // The shell's `sleep` child got SIGTERM too (sh reports it as "Terminated"), so the trap
    // ran at once instead of after the sleep.
    assert!(String::from_utf8_lossy(&p.log("grp")).ends_with("bye\n"));
    let row = summary_row(&run.stdout(), "grp");
    assert!(row.contains("timed out after 1.0s (exit 1)"), "{row}");
}

/// Case 27: a child cannot reach runall's terminal (it has no controlling terminal).
#[test]
fn c27_no_controlling_terminal() {
    let p = Project::new(&config_of(&[("tty", "echo x > /dev/tty")]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    let log = String::from_utf8_lossy(&p.log("tty")).into_owned();
    assert!(log.contains("No such device or address"), "{log}");
}

/// Case 28: an interactive shell runs without stopping runall.
#[test]
fn c28_interactive_shell() {
    let p = Project::new(&config_of(&[("bash", "bash -ic 'echo hi'")]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert!(String::from_utf8_lossy(&p.log("bash")).contains("hi\n"));
}

/// Case 29: stdin is at EOF at once.
#[test]
fn c29_stdin_reader_gets_eof() {
    let p = Project::new(&config_of(&[
        ("rd", "read line; echo \"got[$line]\""),
        ("cat", "cat"),
    ]));
    p.run(&["--ci"]).assert_code(0);
    assert_eq!(p.log("rd"), b"got[]\n");
    assert_eq!(p.log("cat"), b"");
}

/// Case 31: children start with no ignored and no blocked signals, even when runall itself
/// was started with SIGINT and SIGQUIT ignored (as a shell's background job is).
#[test]
fn c31_signal_state_is_clean() {
    let p = Project::new(&config_of(&[(
        "sig",
        "grep -E 'SigIgn|SigBlk' /proc/self/status",
    )]));
    let runall = env!("CARGO_BIN_EXE_runall");
    let status = output_of(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "trap '' INT QUIT HUP TSTP TTOU ALRM; exec '{runall}' --ci"
            ))
            .current_dir(p.path())
            .env("RUNALL_TEST_TAG", &p.tag),
    )
    .status;
    assert!(status.success());
    p.assert_no_survivors();
    let log = String::from_utf8(p.log("sig")).unwrap();
    // The baseline: the same command started directly by this test, whatever the test
    // harness itself inherited (runall must not add INT, QUIT or HUP to it).
    let baseline = output_of(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("grep -E 'SigIgn|SigBlk' /proc/self/status"),
    );
    let mask = |text: &str, key: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(key))
            .expect("status line");
        u64::from_str_radix(line.split_whitespace().nth(1).expect("mask"), 16).expect("hex")
    };
    let baseline = String::from_utf8(baseline.stdout).unwrap();
    let ignored = mask(&log, "SigIgn:");
    // runall was started with these ignored; the child must have them at default.
    let reset = [1, 2, 3, 14, 20, 22]
        .iter()
        .fold(0u64, |m, s| m | 1 << (s - 1));
    assert_eq!(ignored & reset, 0, "{log}");
    // Nothing ignored that the baseline does not ignore (glibc-internal real-time signals
    // inherited from the test harness may show in both), and nothing blocked.
    assert_eq!(
        ignored & !mask(&baseline, "SigIgn:"),
        0,
        "{log} vs {baseline}"
    );
    assert_eq!(mask(&log, "SigBlk:"), 0, "{log}");
}

/// Case 32: 64 envs in parallel see only their own stdio: no sibling pipes, no poller,
/// pidfd or log fds.
#[test]
fn c32_no_inherited_fds() {
    let mut config = String::from("[settings]\njobs = 64\n\n");
    for i in 0..64 {
        config.push_str(&format!(
            "[env.fd{i}]\ncommands = [[\"ls\", \"/proc/self/fd\"]]\n"
        ));
    }
    let p = Project::new(&config);
    p.run(&["--ci", "--output", "grouped", "--only-failed"])
        .assert_code(0);
    // The baseline: what `ls` sees when this test starts it (0, 1, 2, its own directory fd,
    // plus whatever non-CLOEXEC fds the test harness inherited, such as a jobserver). runall
    // must add nothing to that.
    let baseline = output_of(std::process::Command::new("ls").arg("/proc/self/fd"));
    let baseline = String::from_utf8(baseline.stdout).unwrap();
    assert!(
        baseline
            .lines()
            .filter(|l| ["0", "1", "2"].contains(l))
            .count()
            == 3
    );
    for i in 0..64 {
        let log = String::from_utf8(p.log(&format!("fd{i}"))).unwrap();
        assert_eq!(log, baseline, "fd{i}");
    }
}

/// Case 34: death by signal is shown as such, with output before it kept.
#[test]
fn c34_death_by_signal() {
    let p = Project::new(&config_of(&[
        ("k9", "echo before; kill -9 $$"),
        ("segv", "kill -SEGV $$"),
    ]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert_eq!(p.log("k9"), b"before\n");
    assert!(summary_row(&run.stdout(), "k9").contains("killed by SIGKILL"));
    assert!(summary_row(&run.stdout(), "segv").contains("killed by SIGSEGV"));
}

/// Case 35: exit codes are exact; runall exits 1 iff any env failed.
#[test]
fn c35_exit_code_fidelity() {
    let p = Project::new(&config_of(&[
        ("e0", "exit 0"),
        ("e1", "exit 1"),
        ("e255", "exit 255"),
    ]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert!(summary_row(&run.stdout(), "e0").contains("passed"));
    assert!(summary_row(&run.stdout(), "e1").contains("exit 1"));
    assert!(summary_row(&run.stdout(), "e255").contains("exit 255"));
    p.run(&["--ci", "e0"]).assert_code(0);
}

/// Case 36: spawn failures name the OS error; other envs still run.
#[test]
fn c36_spawn_failure() {
    let config = "[env.missing]\ncommands = [[\"/nonexistent/cmd\"]]\n[env.fine]\ncommands = [\"echo fine\"]\n";
    let p = Project::new(config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert!(summary_row(&run.stdout(), "missing").contains("No such file or directory"));
    assert_eq!(p.log("fine"), b"fine\n");
}

/// Case 39: fd exhaustion is reported per env; no panic, no hang, everything reaped.
#[test]
fn c39_fd_exhaustion() {
    let mut config = String::from("[settings]\njobs = 100\n\n");
    for i in 0..100 {
        config.push_str(&format!("[env.s{i}]\ncommands = [[\"sleep\", \"1\"]]\n"));
    }
    let p = Project::new(&config);
    let runall = env!("CARGO_BIN_EXE_runall");
    let out = output_of(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n 64; exec '{runall}' --ci --color never"))
            .current_dir(p.path())
            .env("RUNALL_TEST_TAG", &p.tag),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Too many open files"), "{stdout}");
    assert!(stdout.contains(" passed,"), "some envs ran: {stdout}");
    p.assert_no_survivors();
}

// ---- Signals to runall ------------------------------------------------------------------

fn stubborn_envs(n: usize) -> String {
    let mut config = format!(
        "[settings]\njobs = {n}\ninterrupt_timeout = \"20s\"\nterminate_timeout = \"20s\"\n\n"
    );
    for i in 0..n {
        config.push_str(&format!(
            "[env.st{i}]\ncommands = [\"trap '' INT TERM; echo ready; sleep 100\"]\n"
        ));
    }
    config
}

/// Case 40: a second Ctrl-C kills every group at once; runall dies by SIGINT soon after.
#[test]
fn c40_double_interrupt_kills_now() {
    let p = Project::new(&stubborn_envs(8));
    let running = p.spawn(&["--ci", "--color", "never"]);
    for i in 0..8 {
        running.wait_for(&format!("st{i} | ready"));
    }
    running.signal(libc::SIGINT);
    running.wait_for("received SIGINT");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT), "{}", run.stderr());
    assert!(
        run.stdout().contains("killing every env now"),
        "{}",
        run.stdout()
    );
    assert!(run.elapsed < Duration::from_secs(15), "{:?}", run.elapsed);
    for i in 0..8 {
        assert!(summary_row(&run.stdout(), &format!("st{i}")).contains("killed by SIGKILL"));
    }
    p.assert_no_survivors();
}

/// Case 41: a third Ctrl-C exits at once, even with drains pending.
#[test]
fn c41_triple_interrupt_exits_at_once() {
    let mut config = String::from(
        "[settings]\njobs = 2\ninterrupt_timeout = \"20s\"\nterminate_timeout = \"20s\"\n\n",
    );
    for i in 0..2 {
        config.push_str(&format!(
            "[env.st{i}]\ncommands = [[\"./orphan-ok-sh\", \"-c\", \
             \"trap '' INT TERM; echo ready; exec ./orphan-ok-sleep 100\"]]\n"
        ));
    }
    let p = Project::new(&config);
    p.add_orphan_ok_tools();
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("st0 | ready");
    running.wait_for("st1 | ready");
    running.signal(libc::SIGINT);
    running.wait_for("received SIGINT");
    running.signal(libc::SIGINT);
    running.wait_for("second interrupt");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert!(
        run.code() == Some(130) || run.signal() == Some(libc::SIGINT),
        "{:?}",
        run.status
    );
    // Exiting at once means runall reaps nothing: its killed children are re-parented to
    // this (subreaper) test process, as they would be to init, which reaps them.
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    while !crate::support::tagged_processes(&p.tag).is_empty() {
        crate::support::reap_orphans();
        assert!(std::time::Instant::now() < deadline, "children survived");
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::support::reap_orphans();
    p.assert_no_survivors();
}

/// Case 43: SIGTERM is forwarded as SIGTERM; runall dies by SIGTERM.
#[test]
fn c43_sigterm_forwarded() {
    let p = Project::new(&fast_config(&[(
        "term",
        "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
    )]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("term | ready");
    running.signal(libc::SIGTERM);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGTERM));
    let log = String::from_utf8_lossy(&p.log("term")).into_owned();
    assert!(
        log.starts_with("ready\n") && log.ends_with("got-term\n"),
        "{log}"
    );
    assert!(run.stdout().contains("sent SIGTERM"), "{}", run.stdout());
    p.assert_no_survivors();
}

/// Case 44: SIGHUP is forwarded; runall dies by SIGHUP.
#[test]
fn c44_sighup_forwarded() {
    let p = Project::new(&fast_config(&[
        ("h1", "echo ready; sleep 100"),
        ("h2", "sleep 100"),
    ]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("h1 | ready");
    running.signal(libc::SIGHUP);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGHUP));
    assert!(summary_row(&run.stdout(), "h1").contains("interrupted (killed by SIGHUP)"));
    p.assert_no_survivors();
}

/// Case 45: SIGQUIT is forwarded; runall dies by SIGQUIT without a core dump.
#[test]
fn c45_sigquit_forwarded() {
    let p = Project::new(&fast_config(&[("q", "echo ready; sleep 100")]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("q | ready");
    running.signal(libc::SIGQUIT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGQUIT));
    assert!(!std::os::unix::process::ExitStatusExt::core_dumped(
        &run.status
    ));
    p.assert_no_survivors();
}

/// `runall --ci | head -1`: a closed stdout ends the run like SIGHUP, quietly, by SIGPIPE.
#[test]
fn closed_stdout_ends_run_quietly() {
    use std::io::{BufRead, BufReader};
    let p = Project::new(&fast_config(&[(
        "chatty",
        "while :; do echo line; sleep 0.01; done",
    )]));
    let mut child = crate::support::spawn_tracked(
        p.command(&["--ci", "--color", "never"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped()),
    );
    let err = crate::support::Capture::start(child.stderr.take().unwrap());
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("chatty"), "{first}");
    drop(reader);
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "runall did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = String::from_utf8_lossy(&err.finish()).into_owned();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGPIPE),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    p.assert_no_survivors();
}

/// Per-env timeout: SIGTERM, then the outcome says it timed out.
#[test]
fn c51_timeout() {
    let config = format!("{FAST}[env.slow]\ntimeout = \"1s\"\ncommands = [\"sleep 100\"]\n");
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    let row = summary_row(&run.stdout(), "slow");
    assert!(
        row.contains("timed out after 1.0s (killed by SIGTERM)"),
        "{row}"
    );
    assert!(run.elapsed < Duration::from_secs(20));
}

/// `--fail-fast`: the first failure interrupts the rest; the summary names the trigger.
#[test]
fn fail_fast() {
    let p = Project::new(&fast_config(&[
        ("bad", "sleep 0.2; exit 2"),
        ("long", "sleep 100"),
    ]));
    let run = p.run(&["--ci", "--color", "never", "--fail-fast"]);
    run.assert_code(1);
    let out = run.stdout();
    assert!(out.contains("--fail-fast: bad failed"), "{out}");
    assert!(summary_row(&out, "long").contains("interrupted"), "{out}");
    assert!(run.elapsed < Duration::from_secs(20));
}

/// Case 48: runall SIGKILLed: its direct children die with it (PDEATHSIG).
#[test]
fn c48_runall_sigkill_takes_children() {
    let config = "[env.a]\ncommands = [[\"./orphan-ok-sh\", \"-c\", \"echo ready; exec ./orphan-ok-sleep 100\"]]\n";
    let p = Project::new(config);
    p.add_orphan_ok_tools();
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("a | ready");
    running.signal(libc::SIGKILL);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGKILL));
    // runall cannot reap anything once SIGKILLed: its children die by PDEATHSIG and become
    // this (subreaper) test process's zombies; reap them, then check nothing is alive.
    let deadline = std::time::Instant::now() + crate::support::PATIENCE;
    while !crate::support::tagged_processes(&p.tag).is_empty() {
        crate::support::reap_orphans();
        assert!(
            std::time::Instant::now() < deadline,
            "children survived runall's SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    crate::support::reap_orphans();
}
