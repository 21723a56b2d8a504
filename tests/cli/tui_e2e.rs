//! End-to-end TUI tests: the real binary in a real terminal (tmux), driven by key presses and
//! read back from the screen, as a person would. Each test also checks that the terminal
//! settings (`stty -g`) are the same after runall as before, and that no child survives.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{PATIENCE, Project};

/// A tmux server of our own (its own socket), with one 120x40 window running a script; the
/// server is killed when it is dropped (a failing test included).
pub(crate) struct Tmux {
    socket: String,
}

impl Tmux {
    /// Start `runall <args>` in `project` inside tmux, wrapped so that the terminal settings
    /// before and after are saved and the exit status is printed.
    pub(crate) fn start(project: &Project, args: &str) -> Self {
        Self::start_with(project, "", args)
    }

    /// [`Tmux::start`] with `vars` (`NAME=value …`, shell words) in runall's environment.
    pub(crate) fn start_with(project: &Project, vars: &str, args: &str) -> Self {
        let socket = format!("runall-test-{}", project.tag);
        let runall = env!("CARGO_BIN_EXE_runall");
        let dir = project.path().display().to_string();
        // The session's shell runs under a name starting with `tmux` and ends waiting in a
        // builtin, not a child, so that when the tmux server goes away nothing of the session
        // looks like a process runall left behind (the zombie check skips `tmux*`).
        let shell = project.path().join("tmux-sh");
        std::os::unix::fs::symlink("/bin/sh", &shell).expect("symlink the session shell");
        let script = format!(
            "cd '{dir}' && stty -g > stty.before; RUNALL_TEST_TAG={tag} {vars} '{runall}' {args}; \
             echo \"EXIT=$?\" > exit.status; stty -g > stty.after; echo DONE; \
             while :; do read -r _ || exit 0; done",
            tag = project.tag
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
                "-y",
                "40",
            ])
            .args(["-s", "t"])
            .arg(&shell)
            .args(["-c", &script])
            .env_remove("TMUX")
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux must be installed to run the TUI tests (see .ci/run)");
        assert!(status.success(), "tmux new-session failed");
        Self { socket }
    }

    /// An interactive bash (job control on) in tmux, in the project folder, for commands typed
    /// with `type_line`. Runs under the name `tmux-bash` for the same reason as `tmux-sh`.
    pub(crate) fn interactive(project: &Project) -> Self {
        let socket = format!("runall-test-{}", project.tag);
        let bash = project.path().join("tmux-bash");
        std::os::unix::fs::symlink("/bin/bash", &bash).expect("symlink bash");
        let status = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-x", "120", "-y", "40", "-s", "t", "-c"])
            .arg(project.path())
            .arg(&bash)
            .args(["--norc", "--noprofile", "-i"])
            .env_remove("TMUX")
            .env("PS1", "PROMPT$ ")
            .status()
            .expect("tmux must be installed to run the TUI tests (see .ci/run)");
        assert!(status.success(), "tmux new-session failed");
        Self { socket }
    }

    /// Type a command line and press Enter.
    pub(crate) fn type_line(&self, line: &str) {
        self.type_text(line);
        self.keys(&["Enter"]);
    }

    pub(crate) fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Press keys (tmux key names: `j`, `Enter`, `C-c`, `/`, …).
    pub(crate) fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "t"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    /// What a tmux command on this server prints (`show-buffer`, `display -p …`).
    pub(crate) fn output(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Any other tmux command on this server (`resize-window`, …).
    pub(crate) fn command(&self, args: &[&str]) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .status()
            .expect("tmux");
        assert!(status.success(), "tmux {args:?}");
    }

    /// Type literal text.
    pub(crate) fn type_text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-l", "-t", "t", text])
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    /// Wait until the screen satisfies `check`; fail with the screen after PATIENCE.
    pub(crate) fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn wait_for(&self, text: &str) -> String {
        self.wait_until(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

/// After runall exited inside tmux: the terminal settings are unchanged, no child is left,
/// and the exit status is the expected one.
pub(crate) fn assert_clean_exit(project: &Project, tmux: &Tmux, expected: &str) {
    tmux.wait_for("DONE");
    let read = |name: &str| std::fs::read_to_string(project.path().join(name)).unwrap_or_default();
    let before = read("stty.before");
    assert!(!before.trim().is_empty());
    assert_eq!(before, read("stty.after"), "terminal settings changed");
    assert_eq!(read("exit.status").trim(), format!("EXIT={expected}"));
    project.assert_no_survivors();
}

/// The bundled example, in a project folder of its own.
fn example_project() -> Project {
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/runall.toml"))
            .expect("bundled example");
    Project::new(&example)
}

/// A person's session: see every env and its status, move to the failed env and read its
/// pane, search it, rerun it, look at the tiles and the help, quit with `q`.
#[test]
fn browse_search_rerun_and_quit() {
    let p = example_project();
    let tmux = Tmux::start(&p, "");
    // Every env listed with its final status once the run is done.
    let statuses = [
        "done ✔ 4 ✘ 1 ⊘ 1",
        "✔ lint",
        "✔ colors",
        "✔ unit",
        "✘ integration",
        "⊘ docs",
        "✔ slow",
        "exit 3",
    ];
    tmux.wait_until("the run to finish with every status", |s| {
        statuses.iter().all(|needle| s.contains(needle))
    });
    // Move down to `integration` and read its pane.
    tmux.keys(&["j", "j", "j"]);
    tmux.wait_until("the failed env's pane", |s| {
        s.contains("test_login ... FAILED") && s.contains("starting the database")
    });
    // Search its history.
    tmux.keys(&["/"]);
    tmux.type_text("failed");
    tmux.keys(&["Enter"]);
    tmux.wait_for("1/1");
    tmux.keys(&["Escape"]);
    tmux.wait_until("search to close", |s| !s.contains("1/1"));
    // Rerun it: a new attempt with its own log, the first attempt's log kept.
    tmux.keys(&["r"]);
    // The rerun sleeps a second: long enough to be seen running.
    tmux.wait_until("the rerun to run", |s| s.contains("▶ 1"));
    tmux.wait_until("the rerun to finish", |s| s.contains("done ✔ 4 ✘ 1 ⊘ 1"));
    assert!(p.path().join(".runall/logs/integration.log").exists());
    let second = std::fs::read_to_string(p.path().join(".runall/logs/integration@2.log"));
    assert!(second.unwrap_or_default().contains("test_login ... FAILED"));
    // The tiled view shows several panes at once (`t`: running envs, again: all envs); help
    // lists the keys.
    tmux.keys(&["t", "t"]);
    // (Conditions are waited for, never asserted on one capture: tmux may show a frame that
    // is still being drawn.)
    tmux.wait_until("tiles", |s| {
        s.contains("checking 42 files")
            && s.contains("PASS test_add")
            && s.contains("unit tests passed")
    });
    tmux.keys(&["t", "?"]);
    tmux.wait_until("the help", |s| {
        s.contains("rerun this env") && s.contains("search")
    });
    // (A key right after Escape would read as Alt-key: close the help with `?` instead.)
    tmux.keys(&["?"]);
    tmux.wait_until("help to close", |s| !s.contains("next env"));
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "1");
    // The summary stays on the normal screen.
    let screen = tmux.screen();
    assert!(screen.contains("4 passed, 1 failed, 1 skipped"), "{screen}");
}

/// Ctrl-C twice with envs that ignore SIGINT and SIGTERM: the first interrupts, the second
/// kills everything; runall exits by SIGINT with the terminal restored and nothing left.
#[test]
fn ctrl_c_twice_kills_and_restores_terminal() {
    let mut config = String::from(
        "[settings]\njobs = 3\ninterrupt_timeout = \"30s\"\nterminate_timeout = \"30s\"\n\n",
    );
    for i in 0..3 {
        config.push_str(&format!(
            "[env.stubborn{i}]\ncommands = [\"trap '' INT TERM; echo ready{i}; sleep 100\"]\n"
        ));
    }
    let p = Project::new(&config);
    let tmux = Tmux::start(&p, "");
    tmux.wait_until("three running envs", |s| s.contains("▶ 3"));
    tmux.keys(&["C-c"]);
    // The focused pane's title says the group got SIGINT (which it ignores).
    tmux.wait_for("SIGINT sent");
    tmux.keys(&["C-c"]);
    assert_clean_exit(&p, &tmux, "130");
    let screen = tmux.screen();
    assert!(screen.contains("killed by SIGKILL"), "{screen}");
}

/// `q` while envs run asks first; `y` interrupts them and quits once all are reaped. That
/// is a deliberate quit, not a Ctrl-C: runall exits 1 (envs were interrupted) instead of
/// dying by SIGINT, so an interactive shell goes on with the rest of the command line.
#[test]
fn quit_asks_then_interrupts() {
    let p = Project::new("[env.sleeper]\ncommands = [\"echo zzz; sleep 100\"]\n");
    let tmux = Tmux::interactive(&p);
    tmux.wait_for("PROMPT$");
    tmux.type_line("stty -g > stty.before");
    let runall = env!("CARGO_BIN_EXE_runall");
    tmux.type_line(&format!(
        "RUNALL_TEST_TAG={} '{runall}'; echo done-$?; stty -g > stty.after",
        p.tag
    ));
    tmux.wait_for("zzz");
    tmux.keys(&["q"]);
    tmux.wait_for("y yes");
    tmux.keys(&["y"]);
    let screen = tmux.wait_until("the shell to go on", |s| {
        s.lines().any(|l| l.starts_with("done-"))
    });
    assert!(screen.lines().any(|l| l == "done-1"), "{screen}");
    assert!(screen.contains("interrupted"), "{screen}");
    let read = |name: &str| std::fs::read_to_string(p.path().join(name)).unwrap_or_default();
    tmux.wait_until("stty to write", |_| !read("stty.after").is_empty());
    assert_eq!(
        read("stty.before"),
        read("stty.after"),
        "terminal settings changed"
    );
    p.assert_no_survivors();
}

/// tmux's view of the terminal modes: alternate screen, cursor shown, mouse reporting.
fn terminal_modes(tmux: &Tmux) -> String {
    let out = Command::new("tmux")
        .args(["-L", &tmux.socket, "display-message", "-p", "-t", "t"])
        .arg("alt=#{alternate_on} cursor=#{cursor_flag} mouse=#{mouse_any_flag}")
        .output()
        .expect("tmux display-message");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The runall process of `project` (the one whose command is `runall`).
fn runall_pid(project: &Project) -> i32 {
    let deadline = Instant::now() + crate::support::PATIENCE;
    loop {
        let found = crate::support::tagged_processes(&project.tag)
            .into_iter()
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "runall")
            });
        if let Some(pid) = found {
            return pid;
        }
        assert!(Instant::now() < deadline, "runall is not running");
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGALRM or SIGUSR1 to the TUI (`timeout -s ALRM runall`): the terminal is restored (modes
/// and `stty -g`), the children are stopped and reaped, runall dies by that signal.
#[test]
fn fatal_signals_restore_the_terminal_and_stop_the_children() {
    for (signal, name) in [(libc::SIGALRM, "ALRM"), (libc::SIGUSR1, "USR1")] {
        let p = Project::new("[env.sleeper]\ncommands = [\"echo zzz; sleep 100\"]\n");
        let tmux = Tmux::start(&p, "");
        tmux.wait_for("zzz");
        assert_eq!(
            terminal_modes(&tmux),
            "alt=1 cursor=0 mouse=1",
            "the TUI is up"
        );
        let pid = runall_pid(&p);
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(sent.success());
        assert_clean_exit(&p, &tmux, &(128 + signal).to_string());
        assert_eq!(terminal_modes(&tmux), "alt=0 cursor=1 mouse=0", "SIG{name}");
        let screen = tmux.screen();
        assert!(screen.contains("interrupted"), "SIG{name}: {screen}");
    }
}

/// `r` on an env that failed, after fixing what made it fail: the rerun is a new request,
/// not a retry, so it reads `passed` (never `flaky`) in the pane, the summary and
/// `runall list`.
#[test]
fn a_rerun_after_a_fix_passes_not_flaky() {
    let p = Project::new(
        "[env.fixme]\ncommands = [\"if [ -e fixed ]; then echo works now; else echo broken; exit 1; fi\"]\n",
    );
    let tmux = Tmux::start(&p, "");
    tmux.wait_until("the failure", |s| {
        s.contains("✘ fixme") && s.contains("exit 1")
    });
    std::fs::write(p.path().join("fixed"), "").expect("fix it");
    tmux.keys(&["r"]);
    let screen = tmux.wait_until("the rerun to pass", |s| {
        s.contains("works now") && s.contains("✔ fixme")
    });
    assert!(
        !screen.contains("flaky") && !screen.contains("attempt 2"),
        "{screen}"
    );
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "0");
    let screen = tmux.screen();
    let row = screen
        .lines()
        .rev()
        .find(|l| l.starts_with("fixme "))
        .unwrap_or_else(|| panic!("no summary row: {screen}"));
    assert!(row.contains("passed") && !row.contains("flaky"), "{row}");
    assert!(
        p.path().join(".runall/logs/fixme@2.log").exists(),
        "the rerun's own log"
    );
    let list = p.run(&["list"]).stdout();
    assert!(list.contains("passed") && !list.contains("flaky"), "{list}");
}

/// Ctrl-Z stops runall and its children and gives the terminal back to the shell; `fg`
/// continues both and redraws.
#[test]
fn ctrl_z_suspends_and_fg_resumes() {
    let p = Project::new(
        "[env.ticker]\ncommands = [\"i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.1; done\"]\n",
    );
    let tmux = Tmux::interactive(&p);
    tmux.wait_for("PROMPT$");
    tmux.type_line("stty -g > stty.before");
    let runall = env!("CARGO_BIN_EXE_runall");
    tmux.type_line(&format!("RUNALL_TEST_TAG={} '{runall}'", p.tag));
    tmux.wait_for("tick 3");
    tmux.keys(&["C-z"]);
    tmux.wait_until("the shell's prompt after the stop", |s| {
        s.contains("Stopped") && s.trim_end().ends_with("PROMPT$")
    });
    // The terminal is the shell's again, cooked as before.
    tmux.type_line("stty -g > stty.during");
    tmux.wait_until("stty to run", |_| p.path().join("stty.during").exists());
    let read = |name: &str| std::fs::read_to_string(p.path().join(name)).unwrap_or_default();
    tmux.wait_until("stty to write", |_| !read("stty.during").is_empty());
    assert_eq!(
        read("stty.before"),
        read("stty.during"),
        "terminal restored on Ctrl-Z"
    );
    // The child is stopped: its log does not grow.
    let log = p.log_path("ticker");
    let size = || std::fs::metadata(&log).map_or(0, |m| m.len());
    let before = size();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        size(),
        before,
        "the child kept running while runall was stopped"
    );
    tmux.type_line("fg");
    tmux.wait_until("the TUI to be drawn again", |s| {
        s.contains("ticker") && s.contains("running")
    });
    tmux.wait_until("the child to run again", |_| size() > before);
    tmux.keys(&["q"]);
    tmux.wait_for("y yes");
    tmux.keys(&["y"]);
    // A fresh prompt as the screen's last line: earlier prompts are on the normal screen as
    // soon as the TUI leaves the alternate screen, while runall (still reading keys) exits.
    tmux.wait_until("the shell's prompt after runall", |s| {
        s.trim_end().ends_with("PROMPT$")
    });
    // `DO""NE`: the typed line is echoed too, and must not look like the marker.
    tmux.type_line("echo \"EXIT=$?\" > exit.status; stty -g > stty.after; echo DO\"\"NE");
    // A deliberate quit that interrupted envs: exit 1, not death by SIGINT.
    assert_clean_exit(&p, &tmux, "1");
}

/// A flood far beyond the runner's per-env output credit (1 MiB) drains through the screen:
/// the TUI gives every chunk's credit back as it takes it, so no env stalls, and each pane
/// ends on its env's last line.
#[test]
fn a_flood_drains_through_the_screen_to_the_last_line() {
    let p = Project::new(
        "[settings]\njobs = 2\n\n\
         [env.flood_a]\ncommands = [\"seq 1 700000\"]\n\n\
         [env.flood_b]\ncommands = [\"seq 1 700001\"]\n",
    );
    let tmux = Tmux::start(&p, "");
    // 4.8 MB each; both done means every byte went through the queue.
    let screen = tmux.wait_until("both floods done", |s| s.contains("done ✔ 2"));
    assert!(screen.contains("700000"), "{screen}");
    // The other env's pane shows its own last line.
    tmux.keys(&["j"]);
    tmux.wait_for("700001");
    let logs = ["flood_a", "flood_b"].map(|env| p.log(env).split(|&b| b == b'\n').count() - 1);
    assert_eq!(logs, [700_000, 700_001], "every line in the logs");
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "0");
}

/// A launched env whose job waits for its cluster shows as queued (its own symbol and word)
/// until the job starts; a stand-in launcher holds the job until the test releases it.
#[test]
fn a_queued_launched_env_shows_queued_until_its_job_starts() {
    let p = Project::new(
        r#"
[env.job]
commands = ["echo the job ran"]
[env.job.launcher]
command = ["sh", "-c", "echo 'job 1 queued and waiting for resources' >&2; while [ ! -e release ]; do sleep 0.05; done; echo 'job 1 has been allocated resources' >&2; exec \"$@\"", "launcher"]
queued = "queued and waiting for resources"
started = "has been allocated resources"
"#,
    );
    let tmux = Tmux::start(&p, "");
    let screen = tmux.wait_until("the env to be queued", |s| {
        s.contains("⧖ job") && s.contains("queued")
    });
    assert!(!screen.contains("▶ job"), "{screen}");
    std::fs::write(p.path().join("release"), "").expect("release the job");
    let screen = tmux.wait_until("the job to run and pass", |s| {
        s.contains("the job ran") && s.contains("✔ job")
    });
    assert!(!screen.contains("⧖ job"), "{screen}");
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "0");
}

/// Test results in the TUI, with the pinned pytest: an env's counts appear in the env list
/// while it still runs (its report written early), a finished env's in its pane title; `T`
/// lists the failing tests and Enter searches the pane for the selected one.
#[test]
fn test_counts_live_and_the_failing_tests_list() {
    let pytest = crate::support::python_tools().join("pytest");
    let config = format!(
        r#"
[env.py]
commands = ["'{pytest}' -q -p no:cacheprovider --junitxml={{report_dir}}/junit.xml tests"]
[env.live]
commands = ["printf '<testsuite><testcase name=\"a\"/><testcase name=\"b\"><failure message=\"x\"/></testcase></testsuite>' > {{report_dir}}/j.xml; while [ ! -e go ]; do sleep 0.05; done"]
"#,
        pytest = pytest.display()
    );
    let p = Project::new(&config);
    std::fs::create_dir_all(p.path().join("tests")).expect("tests dir");
    std::fs::write(
        p.path().join("tests/test_demo.py"),
        "def test_ok():\n    pass\n\n\ndef test_bad():\n    assert 1 == 2\n\n\n\
         def test_worse():\n    assert 'a' == 'b'\n",
    )
    .expect("tests");
    let tmux = Tmux::start(&p, "");
    // `live` still runs, its report already read: 1 failing of 2.
    tmux.wait_until("live counts of the running env", |s| {
        s.contains("▶ live") && s.contains("✘1/2") && s.contains("✘ py")
    });
    std::fs::write(p.path().join("go"), "").expect("go");
    // `live` exits 0: it passes, its report's failure shown beside it.
    tmux.wait_until("both envs to finish", |s| {
        s.contains("done ✔ 1 ✘ 1") && s.contains("✔ live     ✘1/2")
    });
    tmux.wait_until("py's counts in its title", |s| {
        s.contains("exit 1 in") && s.contains("1 passed, 2 failed")
    });
    tmux.keys(&["T"]);
    tmux.wait_until("the failing tests list", |s| {
        s.contains("failing tests of py: 2")
            && s.contains("tests.test_demo::test_bad (tests/test_demo.py:6): assert 1 == 2")
    });
    tmux.keys(&["j", "Enter"]);
    tmux.wait_until("a search for the selected test", |s| {
        s.contains("“test_worse”") && !s.contains("failing tests of py")
    });
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "1");
}

/// The env list's filter (`f`, then part of a name): among 300 envs the list shows just the
/// matches as they are typed, `j` moves through them only, Enter keeps the filter, and Esc
/// in the filter input drops it.
#[test]
fn typing_part_of_a_name_filters_the_env_list() {
    use std::fmt::Write as _;
    let mut config = String::from("[settings]\njobs = 8\n\n");
    for i in 0..300 {
        let _ = write!(
            config,
            "[env.job-{i}]\ncommands = [\"echo out-of-{i}\"]\n\n"
        );
    }
    let p = Project::new(&config);
    let tmux = Tmux::start(&p, "");
    tmux.wait_for("done ✔ 300");
    tmux.keys(&["f"]);
    tmux.wait_for("filter envs (300)");
    tmux.type_text("job-17");
    // job-17 and job-170 … job-179: eleven of the 300.
    let screen = tmux.wait_for("“job-17” 11/300");
    assert!(screen.contains("job-179"), "{screen}");
    assert!(!screen.contains("job-18 "), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_until("the filter bar to close", |s| !s.contains("filter envs ("));
    // The focus went to the first match; `j` moves to the next match, job-170.
    tmux.keys(&["j"]);
    tmux.wait_for("out-of-170");
    // Dropping the filter brings every env back.
    tmux.keys(&["f"]);
    tmux.wait_for("filter envs (11)");
    tmux.keys(&["Escape"]);
    tmux.wait_for("envs 300/300");
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "0");
}

/// `RUNALL_TRACE_FRAMES`: a key shows in the trace as read, handled and drawn, in that order,
/// each line the wall clock in microseconds, the step and its duration.
#[test]
fn the_frame_trace_follows_a_key_to_its_frame() {
    let p = Project::new("[env.hello]\ncommands = [\"echo hello-trace\"]\n");
    let tmux = Tmux::start_with(&p, "RUNALL_TRACE_FRAMES=frames.trace", "");
    tmux.wait_for("done ✔ 1");
    tmux.keys(&["?"]);
    tmux.wait_for("scroll up a line");
    tmux.keys(&["Escape"]);
    tmux.wait_until("the help to close", |s| !s.contains("scroll up a line"));
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "0");
    let trace = std::fs::read_to_string(p.path().join("frames.trace")).expect("the trace file");
    let steps: Vec<(u128, &str, u128)> = trace
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 3, "{line:?}");
            let number = |s: &str| s.parse::<u128>().unwrap_or_else(|_| panic!("{line:?}"));
            (number(f[0]), f[1], number(f[2]))
        })
        .collect();
    let at = |what: &str, after: u128| {
        steps
            .iter()
            .find(|(t, w, _)| *w == what && *t >= after)
            .unwrap_or_else(|| panic!("no {what} after {after} in\n{trace}"))
            .0
    };
    // `?`, then Escape: each read, handled and drawn at once.
    let read = at("key-read", 0);
    let drawn = at("draw-key", at("key", read));
    let read = at("key-read", drawn);
    at("draw-key", at("key", read));
    assert!(steps.iter().any(|(_, w, _)| *w == "render"), "{trace}");
}
