//! What runall prints from children and `/proc` cannot lie or act: escape sequences and
//! control characters from a child never reach the terminal or the CI log raw (prefixed,
//! grouped, tails), a leaked process's command line cannot forge a line, a child's GitHub
//! workflow commands stay inert, and a failing stdout is said on stderr.

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Capture, PATIENCE, Project, config_of, spawn_tracked, toml_str};

const FAST: &str = "[settings]\ninterrupt_timeout = \"1s\"\nterminate_timeout = \"1s\"\nleak_timeout = \"300ms\"\n\n";

/// A child that tries everything a terminal acts on, then fails.
const HOSTILE: &str = "printf '\\033]0;owned title\\007\\033]52;c;ZXZpbA==\\007'; \
     printf '\\033[?1049h\\033[?25l\\033[?1000h\\033[2J\\033[H\\033[1Gforged\\n'; \
     printf 'bell\\007 back\\010\\010space \\302\\233c1 \\033[31mred\\033[0m\\n'; \
     printf 'no newline \\033]8;;http://x\\033\\\\link'; exit 1";

/// Every ESC in `out` starts an SGR sequence (`ESC [ digits;: m`).
fn only_sgr(out: &[u8]) -> bool {
    out.iter()
        .enumerate()
        .filter(|&(_, &b)| b == 0x1b)
        .all(|(i, _)| {
            let rest = &out[i + 1..];
            rest.first() == Some(&b'[')
                && rest[1..]
                    .iter()
                    .position(|&b| !(b.is_ascii_digit() || b == b';' || b == b':'))
                    .is_some_and(|end| rest[1 + end] == b'm')
        })
}

/// No byte a terminal acts on but newline (and ESC, checked by `only_sgr`).
fn controls(out: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(out);
    let mut found: Vec<u8> = out
        .iter()
        .copied()
        .filter(|&b| (b < 0x20 && b != b'\n' && b != 0x1b) || b == 0x7f)
        .collect();
    found.extend(
        text.chars()
            .filter(|c| ('\u{80}'..='\u{9f}').contains(c))
            .map(|_| 0x80),
    );
    found
}

/// Prefixed, grouped and the failure tail alike: with colour off no escape or control byte
/// from the child reaches stdout; with colour on only SGR does; the text stays readable and
/// the log keeps every byte.
#[test]
fn child_escape_sequences_never_reach_the_output_raw() {
    let p = Project::new(&config_of(&[("bad", HOSTILE)]));
    for output in ["prefixed", "grouped"] {
        let run = p.run(&["--ci", "--color", "never", "--output", output]);
        run.assert_code(1);
        assert!(!run.stdout.contains(&0x1b), "{output}: {:?}", run.stdout());
        assert_eq!(controls(&run.stdout), b"", "{output}: {:?}", run.stdout());
        let out = run.stdout();
        // Twice: live (or grouped) and in the tail after the summary.
        assert_eq!(
            out.matches(r"bell\x07 back\x08\x08space \u{9b}c1 red")
                .count(),
            2,
            "{output}: {out}"
        );
        let forged = out.lines().filter(|l| l.ends_with("forged")).count();
        assert_eq!(forged, 2, "{output}: {out}");
        assert!(
            out.contains("no newline link  [no newline at end]"),
            "{output}: {out}"
        );
        // Removed, not shown (the `$ command` line quotes the script itself).
        let shown: Vec<&str> = out.lines().filter(|l| !l.contains("| $ ")).collect();
        assert!(
            !shown
                .iter()
                .any(|l| l.contains("owned title") || l.contains("ZXZpbA")),
            "{output}: {out}"
        );
        if output == "prefixed" {
            assert!(
                out.contains("bad | forged\n"),
                "the prefix stays in front: {out}"
            );
        }

        let run = p.run(&["--ci", "--color", "always", "--output", output]);
        assert!(only_sgr(&run.stdout), "{output}: {:?}", run.stdout());
        assert_eq!(controls(&run.stdout), b"", "{output}: {:?}", run.stdout());
        assert!(
            run.stdout().contains("\x1b[31mred\x1b[0m"),
            "{output}: {:?}",
            run.stdout()
        );
    }
    let log = p.log("bad");
    assert!(
        log.windows(7).any(|w| w == b"\x1b]52;c;"),
        "the log is byte-exact"
    );
    assert!(
        log.windows(2).any(|w| w == b"\xc2\x9b"),
        "the log is byte-exact"
    );
}

/// A leaked process whose name holds a newline (as /proc shows it: its command line, or its
/// comm name once it is gone) is shown on its own line, the newline made visible: it cannot
/// print a line under another env.
#[test]
fn a_leaked_command_line_cannot_forge_a_line() {
    let script = "\"./$(printf 'x\\nvictim | FAKE')\" 30 & echo started";
    let config = format!(
        "{FAST}{}",
        config_of(&[("leaky", script), ("victim", "true")])
    );
    let p = Project::new(&config);
    let sleep = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("a sleep binary");
    std::os::unix::fs::symlink(sleep, p.path().join("x\nvictim | FAKE")).expect("symlink");
    let run = p.run(&["--ci", "--color", "never", "leaky", "victim"]);
    let out = run.stdout();
    let leak = out
        .lines()
        .find(|l| l.contains("⚠ leaked pid"))
        .unwrap_or_else(|| panic!("no leak line in\n{out}"));
    assert!(leak.starts_with("leaky  | ⚠ leaked pid "), "{leak}");
    assert!(leak.contains(r"x\x0avictim | FAKE"), "{leak}\n{out}");
    assert!(
        !out.lines().any(|l| l.starts_with("victim | FAKE")),
        "{out}"
    );
}

/// What the GitHub runner would treat as live workflow commands in `out`: lines starting with
/// `::name…::` (after leading spaces) and `##[name]` anywhere, except while paused by
/// `::stop-commands::TOKEN` (until `::TOKEN::`). Also returns whether it ends paused.
fn live_commands(out: &str) -> (Vec<String>, bool) {
    let mut paused: Option<String> = None;
    let mut live = Vec::new();
    for line in out.lines() {
        let trimmed = line.trim_start();
        let command = trimmed
            .strip_prefix("::")
            .and_then(|rest| rest.find("::").map(|end| (&rest[..end], &rest[end + 2..])));
        if let Some(token) = &paused {
            if command.is_some_and(|(name, _)| name == token) {
                paused = None;
            }
            continue;
        }
        match command {
            Some(("stop-commands", token)) => paused = Some(token.to_owned()),
            Some(_) => live.push(trimmed.to_owned()),
            None => {
                if let Some(at) = line.find("##[") {
                    live.push(line[at..].to_owned());
                }
            }
        }
    }
    (live, paused.is_some())
}

/// Under GitHub Actions a child's `::endgroup::`, `::error`, `::stop-commands::` and `##[…]`
/// stay text, in grouped and prefixed output, live and in the tails; runall's own group,
/// endgroup and error lines stay live.
#[test]
fn child_workflow_commands_stay_inert_under_github_actions() {
    let child = "echo '::endgroup::'; echo '::error title=ok%3A passed::fake'; \
                 echo '  ::warning::fake'; echo 'x ##[error]fake legacy'; \
                 echo '::stop-commands::abc'; echo '::abc::'; exit 3";
    // A leaked process whose command line (read from /proc) is a legacy workflow command:
    // runall prints it in its `⚠ leaked pid` line, which must be paused like child output.
    // (A link of that name to `sleep`: its command line and its name in /proc/PID/comm, which
    // the line falls back to once the process is gone, both carry it.)
    let leaky = "ln -sf \"$(command -v sleep)\" './##[error]leak' && { './##[error]leak' 100 & }; \
                 echo started";
    let p = Project::new(&config_of(&[
        ("ok", "echo fine"),
        ("bad", child),
        ("leaky", leaky),
    ]));
    for output in ["grouped", "prefixed"] {
        let mut command = p.command(&["--ci", "--color", "never", "--output", output]);
        command.env("GITHUB_ACTIONS", "true");
        let run = crate::support::output_of(&mut command);
        p.assert_no_survivors();
        assert_eq!(run.status.code(), Some(1));
        let out = String::from_utf8_lossy(&run.stdout).into_owned();
        let (live, paused) = live_commands(&out);
        assert!(
            !paused,
            "{output}: commands stay paused after runall:\n{out}"
        );
        // Only runall's own commands are live (the error's message quotes the child's last
        // lines as escaped data, which is inert).
        let runalls = |l: &&String| {
            l.starts_with("::group::")
                || l.as_str() == "::endgroup::"
                || l.starts_with("::error title=bad%3A exit 3::")
        };
        assert!(
            live.iter().all(|l| runalls(&l)),
            "{output}: {live:?}\n{out}"
        );
        let errors: Vec<&String> = live.iter().filter(|l| l.starts_with("::error")).collect();
        assert_eq!(errors.len(), 1, "{output}: {live:?}\n{out}");
        assert!(
            errors[0].starts_with("::error title=bad%3A exit 3::"),
            "{errors:?}"
        );
        if output == "grouped" {
            let names: Vec<&str> = live
                .iter()
                .filter_map(|l| l.strip_prefix("::")?.split([':', ' ']).next())
                .collect();
            assert_eq!(
                names.iter().filter(|n| **n == "group").count(),
                3,
                "{live:?}"
            );
            assert_eq!(
                names.iter().filter(|n| **n == "endgroup").count(),
                3,
                "{live:?}"
            );
            let bad = live
                .iter()
                .position(|l| l.starts_with("::group::bad: exit 3"))
                .unwrap();
            assert_eq!(
                live[bad + 1],
                "::endgroup::",
                "the fold is runall's: {live:?}"
            );
        } else {
            assert!(live.iter().all(|l| l.starts_with("::error")), "{live:?}");
        }
        // The child's lines are all printed, as text, and so is the leaked process's name.
        assert!(out.contains("::stop-commands::abc") && out.contains("##[error]fake legacy"));
        assert!(
            out.contains("leaked pid") && out.contains("##[error]leak"),
            "{out}"
        );
    }
}

/// One colour rule for both faces: with colour on, `--ci` children are told to colour too;
/// with colour off they are not, and their SGR codes are stripped.
#[test]
fn colour_decision_reaches_ci_children_and_never_strips() {
    let script =
        "echo \"vars=$FORCE_COLOR,$CLICOLOR_FORCE,$PY_COLORS\"; printf '\\033[32mgreen\\033[0m\\n'";
    let p = Project::new(&config_of(&[("c", script)]));
    let run = p.run(&["--ci", "--color", "always"]);
    run.assert_code(0);
    assert!(run.stdout().contains("vars=1,1,1"), "{}", run.stdout());
    assert!(
        run.stdout().contains("\x1b[32mgreen\x1b[0m"),
        "{:?}",
        run.stdout()
    );
    for args in [&["--ci", "--color", "never"][..], &["--ci"]] {
        let run = p.run(args);
        run.assert_code(0);
        assert!(
            run.stdout().contains("vars=,,\n"),
            "{args:?}: {}",
            run.stdout()
        );
        assert!(
            run.stdout().contains("c | green\n"),
            "{args:?}: {:?}",
            run.stdout()
        );
        assert!(!run.stdout.contains(&0x1b), "{args:?}: {:?}", run.stdout());
    }
}

/// `runall --ci >/dev/full`: the run stops and stderr says why.
#[test]
fn a_failing_stdout_is_said_on_stderr() {
    let p = Project::new(&config_of(&[(
        "chatty",
        "while :; do echo line; sleep 0.01; done",
    )]));
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let mut child = spawn_tracked(
        p.command(&["--ci", "--color", "never"])
            .stdout(Stdio::from(full))
            .stderr(Stdio::piped()),
    );
    let err = Capture::start(child.stderr.take().expect("stderr"));
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "runall did not stop");
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = String::from_utf8_lossy(&err.finish()).into_owned();
    assert!(!status.success());
    assert!(
        stderr.contains("runall: cannot write to stdout: No space left on device"),
        "{stderr}"
    );
    p.assert_no_survivors();

    // One-shot commands too.
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let mut list = p.command(&["list"]);
    list.stdout(Stdio::from(full)).stderr(Stdio::piped());
    let out = spawn_tracked(&mut list).wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write to stdout"));
}

/// A closed pipe (`| head`) stays quiet: no word on stderr.
#[test]
fn a_closed_stdout_stays_quiet() {
    use std::io::{BufRead, BufReader};
    let p = Project::new(&config_of(&[(
        "chatty",
        "while :; do echo line; sleep 0.01; done",
    )]));
    let mut child = spawn_tracked(
        p.command(&["--ci", "--color", "never"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let err = Capture::start(child.stderr.take().expect("stderr"));
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("a line");
    drop(reader);
    let deadline = std::time::Instant::now() + PATIENCE;
    while child.try_wait().expect("wait").is_none() {
        assert!(std::time::Instant::now() < deadline, "runall did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stderr = String::from_utf8_lossy(&err.finish()).into_owned();
    assert!(!stderr.contains("cannot write"), "{stderr}");
    p.assert_no_survivors();
}

/// `--tail N` and `tail = N` set the failure tail; 0 turns it off; out-of-range values are
/// usage errors naming the place; grouped `--only-failed` prints a failed env once.
#[test]
fn tail_length_is_configurable_and_not_repeated() {
    let script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do echo l$i; done; exit 1";
    let p = Project::new(&config_of(&[("f", script)]));
    let run = p.run(&["--ci", "--color", "never"]);
    assert!(
        run.stdout().contains("──── last 20 lines of f"),
        "{}",
        run.stdout()
    );
    let run = p.run(&["--ci", "--color", "never", "--tail", "3"]);
    let out = run.stdout();
    let tail = out
        .split("──── last 3 lines of f")
        .nth(1)
        .expect("a 3-line tail");
    assert!(tail.ends_with("────\nl23\nl24\nl25\n"), "{out}");
    let run = p.run(&["--ci", "--color", "never", "--tail", "0"]);
    assert!(!run.stdout().contains("lines of f"), "{}", run.stdout());
    let run = p.run(&["--ci", "--tail", "10001"]);
    run.assert_code(2);
    assert!(run.stderr().contains("at most 10000"), "{}", run.stderr());

    let run = p.run(&[
        "--ci",
        "--color",
        "never",
        "--output",
        "grouped",
        "--only-failed",
    ]);
    run.assert_code(1);
    assert_eq!(run.stdout().matches("l25\n").count(), 1, "{}", run.stdout());

    let config = format!("[settings]\ntail = 2\n\n{}", config_of(&[("f", script)]));
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    assert!(
        run.stdout().contains("──── last 2 lines of f"),
        "{}",
        run.stdout()
    );
    let run = p.run(&["--ci", "--color", "never", "--tail", "1"]);
    assert!(
        run.stdout().contains("──── last line of f"),
        "the flag wins: {}",
        run.stdout()
    );
    let p = Project::new(&format!(
        "[settings]\ntail = 99999\n\n{}",
        config_of(&[("f", "true")])
    ));
    let run = p.run(&["--ci"]);
    run.assert_code(2);
    assert!(
        run.stderr().contains(
            "runall.toml:2:8: settings.tail: 99999 is out of range: must be from 0 to 10000"
        ),
        "{}",
        run.stderr()
    );
}

/// `$ command` lines quote argv words like `runall list`, and every line of a multi-line
/// shell command carries the env's prefix.
#[test]
fn command_lines_are_quoted_and_prefixed() {
    let config = format!(
        "[env.e]\ncommands = [[\"echo\", \"two words\"], {}]\n",
        toml_str("echo one\necho two")
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    let out = run.stdout();
    assert!(
        out.contains("e | $ echo 'two words'\ne | two words\n"),
        "{out}"
    );
    assert!(
        out.contains("e | $ echo one\ne |   echo two\ne | one\n"),
        "{out}"
    );
    let run = p.run(&["--ci", "--json", "events.json"]);
    run.assert_code(0);
    let events = fs::read_to_string(p.path().join("events.json")).expect("events");
    let commands: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .filter(|v| v["type"] == "command_started")
        .map(|v| v["command"].clone())
        .collect();
    assert_eq!(commands, ["echo 'two words'", "echo one\necho two"]);
    let list = p.run(&["list"]);
    assert!(
        list.stdout().contains("$ echo 'two words'"),
        "{}",
        list.stdout()
    );
}
