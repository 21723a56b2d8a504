//! The engine and the `--ci` reporters: byte-exact logs, line integrity under load, outcomes,
//! exit codes.

use crate::support::{Project, config_of, reference_output, summary_row, toml_str};

/// The log is byte-exact: the same bytes as the command run directly with `2>&1`.
#[test]
fn log_is_byte_exact() {
    let script = "seq 1 200000; printf 'ok \\377\\376 \\303\\050 end\\n'; \
                  printf 'a\\0b\\rc\\r\\n'; echo to-stderr >&2; printf 'no newline'";
    let p = Project::new(&config_of(&[("exact", script)]));
    p.run(&["--ci"]).assert_code(0);
    let log = p.log("exact");
    let reference = reference_output(script);
    assert_eq!(log.len(), reference.len());
    assert!(log == reference, "log differs from the direct run");
}

/// 8 envs each writing 1,000,000 numbered lines at once: every line intact, in order, labelled.
#[test]
fn eight_floods_keep_every_line_intact_and_in_order() {
    let envs: Vec<(String, &str)> = (0..8)
        .map(|i| (format!("flood{i}"), "seq 1 1000000"))
        .collect();
    let refs: Vec<(&str, &str)> = envs.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let mut config = config_of(&refs);
    config.insert_str(0, "[settings]\njobs = 8\n\n");
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let mut next = [1u64; 8];
    for line in run.stdout.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"flood") else {
            continue;
        };
        let env = usize::from(rest[0] - b'0');
        let rest = &rest[1..];
        let Some(number) = rest.strip_prefix(b" | ") else {
            continue;
        };
        let text = std::str::from_utf8(number).unwrap();
        if let Ok(n) = text.parse::<u64>() {
            assert_eq!(n, next[env], "flood{env}: line out of order or split");
            next[env] += 1;
        }
    }
    assert_eq!(next, [1_000_001; 8], "every line of every env printed once");
    for i in 0..8 {
        assert_eq!(p.log(&format!("flood{i}")).len(), 6_888_896);
    }
}

/// An env that fills stdout and stderr at once (64 MiB each) finishes, merged or separate.
#[test]
fn both_streams_full_at_once_do_not_deadlock() {
    let script = "head -c 67108864 /dev/zero | tr '\\0' a | fold -w 99 & \
                  head -c 67108864 /dev/zero | tr '\\0' b | fold -w 99 >&2; wait";
    let config = format!(
        "[env.merged]\ncommands = [{s}]\n[env.separate]\nstderr = \"separate\"\ncommands = [{s}]\n",
        s = toml_str(script)
    );
    let p = Project::new(&config);
    let run = p.run(&[
        "--ci",
        "--color",
        "never",
        "--output",
        "grouped",
        "--only-failed",
    ]);
    run.assert_code(0);
    // 64 MiB of letters folded at 99 columns: 677,867 newlines per stream (none after the last).
    let per_stream = 67_108_864 + 677_867;
    assert_eq!(p.log("merged").len(), 2 * per_stream);
    assert_eq!(p.log("separate").len(), 2 * per_stream);
}

/// A last line without a newline reaches the log as is and is marked in the CI output.
#[test]
fn final_line_without_newline_is_kept_and_marked() {
    let p = Project::new(&config_of(&[("frag", "printf 'no-newline-at-end'")]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(p.log("frag"), b"no-newline-at-end");
    assert!(
        run.stdout()
            .contains("frag | no-newline-at-end  [no newline at end]"),
        "{}",
        run.stdout()
    );
}

/// Invalid UTF-8 reaches the log untouched; stdout shows each invalid byte as `\xNN` (a raw
/// 0x80–0x9F byte is a C1 control on an 8-bit terminal).
#[test]
fn invalid_utf8_is_logged_as_is_and_shown_as_text() {
    let p = Project::new(&config_of(&[(
        "bin",
        "printf 'ok \\377\\376 \\303\\050 end\\n'",
    )]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let expected = b"ok \xff\xfe \xc3\x28 end\n";
    assert_eq!(p.log("bin"), expected);
    assert!(
        run.stdout().contains("bin | ok \\xff\\xfe \\xc3( end\n"),
        "stdout: {:?}",
        run.stdout()
    );
}

/// Each outcome is reported precisely, and any failure makes the exit code 1.
#[test]
fn outcomes_are_precise() {
    let config = r#"
[env.ok]
commands = ["true"]
[env.code]
commands = ["exit 3"]
[env.sigkill]
commands = ["echo before; kill -9 $$"]
[env.segv]
commands = ["kill -SEGV $$"]
[env.notfound]
commands = [["/nonexistent/cmd", "x"]]
[env.noexec]
commands = [["./plain.txt"]]
[env.nocwd]
change_dir = "missing"
commands = ["true"]
[env.shell127]
commands = ["nonexistent-command-xyz"]
[env.dependent]
depends = ["code"]
commands = ["echo never"]
[env.second]
commands = ["true", "exit 5", "echo never"]
"#;
    let p = Project::new(config);
    std::fs::write(p.path().join("plain.txt"), "not a program").unwrap();
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    let out = run.stdout();
    let row = |env: &str| summary_row(&out, env);
    assert!(row("ok").contains("passed"), "{}", row("ok"));
    assert!(row("code").contains("exit 3"), "{}", row("code"));
    assert!(
        row("sigkill").contains("killed by SIGKILL"),
        "{}",
        row("sigkill")
    );
    assert!(!row("sigkill").contains("137"), "{}", row("sigkill"));
    assert!(row("segv").contains("killed by SIGSEGV"), "{}", row("segv"));
    assert!(
        row("notfound").contains("/nonexistent/cmd: No such file or directory"),
        "{}",
        row("notfound")
    );
    assert!(
        row("noexec").contains("Permission denied"),
        "{}",
        row("noexec")
    );
    assert!(
        row("nocwd").contains("working directory") && row("nocwd").contains("missing"),
        "{}",
        row("nocwd")
    );
    assert!(row("shell127").contains("exit 127"), "{}", row("shell127"));
    assert!(
        row("dependent").contains("skipped: code did not pass"),
        "{}",
        row("dependent")
    );
    assert!(
        row("second").contains("exit 5 (command 2)"),
        "{}",
        row("second")
    );
    assert_eq!(p.log("sigkill"), b"before\n");
    assert!(!out.contains("never"), "{out}");
    assert!(out.contains("1 passed, 8 failed, 1 skipped"), "{out}");
}

/// An env that prints and exits at once is reported while a sibling still sleeps: no sibling
/// holds its pipe (no inherited pipe ends).
#[test]
fn quick_env_finishes_while_sibling_sleeps() {
    let p = Project::new(&config_of(&[("slow", "sleep 5"), ("quick", "echo hi")]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let out = run.stdout();
    let quick = out.find("quick | ✔").expect("quick finished line");
    let slow = out.find("slow  | ✔").expect("slow finished line");
    assert!(quick < slow, "quick must finish before slow:\n{out}");
    let row = out
        .lines()
        .rev()
        .find(|l| l.starts_with("quick"))
        .expect("summary row");
    assert!(row.contains("ms"), "quick took under a second: {row}");
}

/// Every child gets stdin from /dev/null, RUNALL_ENV, a RUNALL_RUN_ID shared by the run, its
/// own session, `set_env` merged over `[env_run_base]`, and `change_dir`.
#[test]
fn child_environment() {
    let config = r#"
[env_run_base]
set_env = { BASE = "b", OVER = "base" }
[env.one]
set_env = { OVER = "env" }
change_dir = "sub"
commands = ["read x; echo \"stdin[$x] env[$RUNALL_ENV] id[$RUNALL_RUN_ID] base[$BASE] over[$OVER] dir[$(basename $PWD)]\"; cut -d' ' -f6 /proc/$$/stat; echo $$"]
[env.two]
commands = ["echo \"id[$RUNALL_RUN_ID]\""]
"#;
    let p = Project::new(config);
    std::fs::create_dir(p.path().join("sub")).unwrap();
    p.run(&["--ci"]).assert_code(0);
    let one = String::from_utf8(p.log("one")).unwrap();
    let two = String::from_utf8(p.log("two")).unwrap();
    let lines: Vec<&str> = one.lines().collect();
    assert!(lines[0].starts_with("stdin[] env[one] id["), "{one}");
    assert!(lines[0].ends_with("base[b] over[env] dir[sub]"), "{one}");
    let id = lines[0]
        .split("id[")
        .nth(1)
        .unwrap()
        .split(']')
        .next()
        .unwrap();
    assert!(!id.is_empty());
    assert_eq!(two.trim(), format!("id[{id}]"));
    assert_eq!(lines[1], lines[2], "the child leads its own session");
}

/// `{posargs}` takes the arguments after `--`; `--no-deps` and selection work end to end.
#[test]
fn posargs_and_selection() {
    let config = r#"
[env.lint]
labels = ["fast"]
commands = ["echo lint"]
[env.unit]
depends = ["lint"]
commands = [["echo", "unit", "{posargs:default}"], "echo 'shell {posargs}'"]
[env.docs]
commands = ["echo docs"]
"#;
    let p = Project::new(config);
    let run = p.run(&["--ci", "--color", "never", "unit", "--", "-k", "a b"]);
    run.assert_code(0);
    assert_eq!(p.log("unit"), b"unit -k a b\nshell -k a b\n");
    let out = run.stdout();
    assert!(out.contains("lint | lint"), "dependency ran: {out}");
    assert!(!out.contains("docs"), "docs not selected: {out}");

    let run = p.run(&["--ci", "--color", "never", "--no-deps", "unit"]);
    run.assert_code(0);
    assert!(!run.stdout().contains("lint | lint"), "{}", run.stdout());
    assert_eq!(p.log("unit"), b"unit default\nshell \n");

    let run = p.run(&["--ci", "--color", "never", "label:fast"]);
    run.assert_code(0);
    assert!(run.stdout().contains("lint | lint"));
    assert!(!run.stdout().contains("unit |"));
}

/// Separate stderr is tagged; grouped output prints each env whole between header and footer.
#[test]
fn separate_stderr_and_grouped_output() {
    let config = r#"
[env.sep]
stderr = "separate"
commands = ["echo out; echo err >&2"]
[env.grp]
commands = ["echo line1; echo line2"]
"#;
    let p = Project::new(config);
    let run = p.run(&["--ci", "--color", "never", "sep"]);
    run.assert_code(0);
    assert!(run.stdout().contains("sep | out"), "{}", run.stdout());
    assert!(run.stdout().contains("sep ! err"), "{}", run.stdout());

    let run = p.run(&["--ci", "--color", "never", "--output", "grouped", "grp"]);
    run.assert_code(0);
    let out = run.stdout();
    let header = out.find("grp: passed").expect("header");
    let body = out.find("line1\nline2\n").expect("body");
    let footer = out.find("end of grp").expect("footer");
    assert!(header < body && body < footer, "{out}");
}

/// `--color always` colours env names; `NO_COLOR` does not override an explicit `always`,
/// and auto is off when stdout is a pipe.
#[test]
fn colour_modes() {
    let p = Project::new(&config_of(&[("c", "echo hi")]));
    let run = p.run(&["--ci", "--color", "always"]);
    assert!(run.stdout().contains("\x1b["), "{}", run.stdout());
    let run = p.run(&["--ci"]);
    assert!(!run.stdout().contains("\x1b["), "{}", run.stdout());
}

/// A progress bar redrawn with `\r` is printed as its final frame.
#[test]
fn carriage_return_lines_print_final_frame() {
    let p = Project::new(&config_of(&[(
        "bar",
        "i=0; while [ $i -lt 50 ]; do printf '\\r%d%%' $i; i=$((i+1)); done; echo",
    )]));
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert!(run.stdout().contains("bar | 49%\n"), "{}", run.stdout());
    assert!(!run.stdout().contains("bar | 0%"), "{}", run.stdout());
}

/// Two runs at once in one folder: the second stops with a clear message and exit 2.
#[test]
fn second_concurrent_run_is_refused() {
    let p = Project::new(&config_of(&[("hold", "echo holding; sleep 3")]));
    let first = p.spawn(&["--ci"]);
    first.wait_for("holding");
    let second = p.run(&["--ci"]);
    second.assert_code(2);
    assert!(
        second.stderr().contains("another runall (pid ")
            && second.stderr().contains("is running with log folder"),
        "{}",
        second.stderr()
    );
    let first = first.finish();
    assert_eq!(first.code(), Some(0));
}

/// `runall list` shows each env with its description, labels and dependencies.
#[test]
fn list_shows_envs() {
    let config = r#"
[env.lint]
description = "static checks"
labels = ["fast"]
commands = ["true"]
[env.unit]
depends = ["lint"]
commands = ["true"]
"#;
    let p = Project::new(config);
    let run = p.run(&["list"]);
    run.assert_code(0);
    let out = run.stdout();
    for needle in [
        "lint",
        "static checks",
        "labels: fast",
        "unit",
        "depends: lint",
    ] {
        assert!(out.contains(needle), "{needle} missing from\n{out}");
    }
    assert!(!p.path().join(".runall").exists(), "list starts nothing");
}

/// The bundled example runs on a fresh machine and shows every kind of env.
#[test]
fn bundled_example_runs() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/runall.toml");
    let p = Project::new("");
    let logs = p.path().join("logs");
    let run = p.run(&[
        "--ci",
        "--color",
        "never",
        "-c",
        example,
        "--log-dir",
        logs.to_str().unwrap(),
    ]);
    run.assert_code(1);
    let out = run.stdout();
    assert!(
        out.lines()
            .any(|l| l.starts_with("docs") && l.contains("skipped: integration did not pass")),
        "{out}"
    );
    for (env, outcome) in [
        ("lint", "passed"),
        ("colors", "passed"),
        ("unit", "passed"),
        ("integration", "exit 3"),
        ("slow", "passed"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(env) && l.contains(outcome) && l.contains(".log")),
            "{env} should be {outcome} in\n{out}"
        );
    }
    assert!(out.contains("4 passed, 1 failed, 1 skipped"), "{out}");
}

/// Backpressure: while nobody reads runall's stdout, the pump stops reading the flooding
/// child (which then waits on its full pipe) instead of buffering; memory stays bounded, and
/// once stdout is read again everything arrives.
#[test]
fn slow_consumer_pauses_the_child_not_memory() {
    use std::time::{Duration, Instant};
    let p = Project::new(&config_of(&[(
        "flood",
        "yes 'a line of text' | head -c 150000000",
    )]));
    let mut child = crate::support::spawn_tracked(
        p.command(&["--ci", "--color", "never"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null()),
    );
    let pid = child.id();
    let log = p.log_path("flood");
    // Wait until the log stops growing: the child is blocked on its pipe.
    let deadline = Instant::now() + crate::support::PATIENCE;
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let size = std::fs::metadata(&log).map_or(0, |m| m.len());
        if size > 0 && size == last {
            break;
        }
        last = size;
        assert!(Instant::now() < deadline, "log kept growing: {size}");
    }
    assert!(last < 16 << 20, "runall read {last} bytes nobody consumed");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(rss_kb < 64 * 1024, "runall RSS {rss_kb} kB while paused");
    // Now read everything.
    let out = crate::support::Capture::start(child.stdout.take().unwrap());
    let status = child.wait().unwrap();
    assert!(status.success());
    let stdout = out.finish();
    assert_eq!(p.log("flood").len(), 150_000_000);
    let lines = stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"flood | a line"))
        .count();
    assert_eq!(lines, 150_000_000 / 15);
    p.assert_no_survivors();
}

/// An argv command's program is looked up in the child's `PATH` (`set_env` included, relative
/// entries from its `change_dir`), and a path with a slash is taken relative to that directory.
#[test]
fn argv_programs_are_found_through_the_child_path() {
    let config = r#"
[env.bare]
set_env = { PATH = "tools:/usr/bin:/bin" }
change_dir = "sub"
commands = [["greet", "from PATH"]]
[env.relative]
change_dir = "sub"
commands = [["./tools/greet", "by path"]]
[env.missing]
commands = [["runall-no-such-tool"]]
"#;
    let p = Project::new(config);
    let tools = p.path().join("sub/tools");
    std::fs::create_dir_all(&tools).unwrap();
    let greet = tools.join("greet");
    std::fs::write(
        &greet,
        "#!/bin/sh\necho \"hello $1 in $(basename \"$PWD\")\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&greet, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    assert_eq!(p.log("bare"), b"hello from PATH in sub\n");
    assert_eq!(p.log("relative"), b"hello by path in sub\n");
    let row = summary_row(&run.stdout(), "missing");
    assert!(
        row.contains("runall-no-such-tool: No such file or directory"),
        "{row}"
    );
}
