//! What runall leaves behind when it cannot clean up itself (SIGKILL, in `--ci` and in the
//! TUI: its guardian kills the rest of the run), what piles up while it runs (adopted
//! orphans are reaped as they exit), and how a spawn that cannot start is explained (a
//! missing `#!` interpreter).

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::{PATIENCE, Project, reap_orphans, tagged_processes};

/// Three envs whose processes `PR_SET_PDEATHSIG` alone does not reach: a shell's child
/// (`sleep`, in the env's group), a `setsid` escapee, and a double-forked escapee in a
/// session of its own. Each says `ready` once everything is started. The tools run under
/// `orphan-ok-*` names, so that their zombies (re-parented to the test process, a subreaper,
/// once runall is gone) are not taken for zombies runall forgot by concurrent tests.
fn escapees_config() -> String {
    let envs = [
        ("grand", "./orphan-ok-sleep 30; echo never"),
        (
            "escapee",
            "setsid ./orphan-ok-sleep 60 & sleep 0.2; ./orphan-ok-sleep 30",
        ),
        (
            "double",
            "(setsid ./orphan-ok-sh -c './orphan-ok-sleep 61' &); sleep 0.2; ./orphan-ok-sleep 30",
        ),
    ];
    let mut config = String::from("[settings]\njobs = 3\n\n");
    for (name, script) in envs {
        let script = format!("echo started; {script}");
        config.push_str(&format!(
            "[env.{name}]\ncommands = [[\"./orphan-ok-sh\", \"-c\", {}]]\n\n",
            crate::support::toml_str(&script)
        ));
    }
    config
}

/// Tagged processes (runall's run) by their command name.
fn tagged_comms(tag: &str) -> Vec<(i32, String)> {
    tagged_processes(tag)
        .into_iter()
        .filter_map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim().to_owned()))
        })
        .collect()
}

/// Wait until every process of the run is alive (3 shells, 2 escaped sleeps, the
/// double-fork's shell, 3 sleeps in the envs' groups); returns whether runall's guardian was
/// among them.
fn wait_for_the_whole_run(p: &Project) -> bool {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let comms = tagged_comms(&p.tag);
        let count = |name: &str| comms.iter().filter(|(_, c)| c == name).count();
        if count("orphan-ok-sleep") >= 5 {
            return count("runall-guardian") == 1;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not start everything: {comms:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// The guardian is out of reach of everything aimed at runall or its envs: a session of its
/// own, terminal and job-control signals ignored, and no fd but a pipe (stdin) and
/// `/dev/null` (stdout, stderr), so it keeps no terminal or harness pipe open.
fn assert_guardian_is_detached(p: &Project) {
    let (pid, _) = tagged_comms(&p.tag)
        .into_iter()
        .find(|(_, comm)| comm == "runall-guardian")
        .expect("a guardian runs");
    let stat = runall::runner::sys::proc_stat(pid).expect("guardian's stat");
    assert_eq!((stat.pgid, stat.sid), (pid, pid), "own session and group");
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("guardian's status");
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .expect("SigIgn");
    for signal in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGTSTP,
    ] {
        assert!(
            ignored & (1 << (signal - 1)) != 0,
            "signal {signal} not ignored"
        );
    }
    let mut fds: Vec<(String, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("guardian's fds")
        .flatten()
        .map(|fd| {
            let target = fs::read_link(fd.path()).unwrap_or_default();
            (
                fd.file_name().to_string_lossy().into_owned(),
                target.display().to_string(),
            )
        })
        .collect();
    fds.sort();
    assert_eq!(fds.len(), 3, "{fds:?}");
    assert!(fds[0].0 == "0" && fds[0].1.starts_with("pipe:"), "{fds:?}");
    assert_eq!(fds[1], ("1".to_owned(), "/dev/null".to_owned()));
    assert_eq!(fds[2], ("2".to_owned(), "/dev/null".to_owned()));
}

/// After runall's SIGKILL: wait (generously) until no process of the run is left, the
/// guardian included, reaping the orphans that come to the test process.
fn assert_run_dies_with_runall(p: &Project) {
    let deadline = Instant::now() + PATIENCE;
    let mut left = tagged_comms(&p.tag);
    while !left.is_empty() && Instant::now() < deadline {
        reap_orphans();
        thread::sleep(Duration::from_millis(20));
        left = tagged_comms(&p.tag);
    }
    reap_orphans();
    for (pid, _) in &left {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(*pid).expect("pid > 0"),
            rustix::process::Signal::KILL,
        );
    }
    assert!(
        left.is_empty(),
        "processes survived runall's SIGKILL: {left:?}"
    );
}

/// Item 1 (`--ci`): SIGKILL of runall takes the envs' children and escapees with it.
#[test]
fn sigkill_of_runall_in_ci_leaves_no_process_of_the_run() {
    let _orphans = crate::support::orphans_expected();
    let p = Project::new(&escapees_config());
    p.add_orphan_ok_tools();
    let running = p.spawn(&["--ci", "--color", "never"]);
    let guarded = wait_for_the_whole_run(&p);
    if guarded {
        assert_guardian_is_detached(&p);
    }
    running.signal(libc::SIGKILL);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGKILL));
    assert_run_dies_with_runall(&p);
    // So the check above covered the guardian's own end too.
    assert!(guarded, "no guardian was running");
    assert!(!p.log("grand").ends_with(b"never\n"));
}

/// Item 1, nested: runall run by an env of another runall. SIGKILL of the outer one ends
/// the inner runall (an env's process), and the inner guardian, which must not be taken for a
/// process of the outer run, cleans up the inner run's escapees.
#[test]
fn sigkill_of_an_outer_runall_leaves_no_process_of_the_inner_run() {
    let _orphans = crate::support::orphans_expected();
    let inner = [
        ("grand", "../orphan-ok-sleep 31; echo never"),
        (
            "escapee",
            "setsid ../orphan-ok-sleep 62 & sleep 0.2; ../orphan-ok-sleep 31",
        ),
    ];
    let mut inner_config = String::from("[settings]\njobs = 2\n\n");
    for (name, script) in inner {
        inner_config.push_str(&format!(
            "[env.{name}]\ncommands = [[\"../orphan-ok-sh\", \"-c\", {}]]\n\n",
            crate::support::toml_str(&format!("echo started; {script}"))
        ));
    }
    let outer = format!(
        "[env.outer]\ncommands = [[{}, \"--ci\", \"-c\", \"inner/runall.toml\"]]\n",
        crate::support::toml_str(env!("CARGO_BIN_EXE_runall"))
    );
    let p = Project::new(&outer);
    p.add_orphan_ok_tools();
    fs::create_dir(p.path().join("inner")).expect("inner folder");
    fs::write(p.path().join("inner/runall.toml"), inner_config).expect("inner config");
    let running = p.spawn(&["--ci", "--color", "never"]);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let comms = tagged_comms(&p.tag);
        let count = |name: &str| comms.iter().filter(|(_, c)| c == name).count();
        if count("orphan-ok-sleep") >= 3 && count("runall-guardian") == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the nested run did not start everything: {comms:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    running.signal(libc::SIGKILL);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGKILL));
    assert_run_dies_with_runall(&p);
}

/// Item 1 (TUI): the same in a real terminal (tmux), runall SIGKILLed from outside.
#[test]
fn sigkill_of_runall_in_the_tui_leaves_no_process_of_the_run() {
    let _orphans = crate::support::orphans_expected();
    let p = Project::new(&escapees_config());
    p.add_orphan_ok_tools();
    let _tmux = crate::tui_e2e::Tmux::start(&p, "");
    let guarded = wait_for_the_whole_run(&p);
    let runall = tagged_comms(&p.tag)
        .into_iter()
        .find(|(_, comm)| comm == "runall")
        .map(|(pid, _)| pid)
        .expect("runall runs in tmux");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(runall).expect("pid > 0"),
        rustix::process::Signal::KILL,
    )
    .expect("kill runall");
    assert_run_dies_with_runall(&p);
    assert!(guarded, "no guardian was running");
}

/// Zombie children of `pid` (from /proc/PID/task/*/children).
fn zombie_children(pid: i32) -> usize {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|&child| runall::runner::sys::proc_stat(child).is_some_and(|s| s.state == 'Z'))
        .count()
}

/// Item 4: an env that double-forks 3,000 short helpers while it stays alive: runall (a
/// subreaper) reaps them as they exit, so zombies do not pile up until the env ends; and
/// reaping them early does not turn into leaks.
#[test]
fn adopted_orphans_are_reaped_while_their_env_runs() {
    let script = "i=0; while [ $i -lt 3000 ]; do (echo >> ran &); i=$((i+1)); done; \
                  echo forked; while [ ! -e release ]; do sleep 0.05; done";
    let p = Project::new(&crate::support::config_of(&[("forker", script)]));
    let running = p.spawn(&["--ci", "--color", "never"]);
    running.wait_for("forker | forked");
    // Every helper has run (each wrote its line).
    let ran = p.path().join("ran");
    let deadline = Instant::now() + PATIENCE;
    while fs::metadata(&ran).map_or(0, |m| m.len()) < 3000 {
        assert!(Instant::now() < deadline, "the helpers did not all run");
        thread::sleep(Duration::from_millis(10));
    }
    // Their zombies go (they would stay until the env ends)...
    let deadline = Instant::now() + PATIENCE;
    let mut zombies = zombie_children(running.pid());
    while zombies >= 50 {
        assert!(
            Instant::now() < deadline,
            "{zombies} zombies wait under runall while their env runs"
        );
        thread::sleep(Duration::from_millis(20));
        zombies = zombie_children(running.pid());
    }
    // ...and stay few.
    for _ in 0..20 {
        let zombies = zombie_children(running.pid());
        assert!(zombies < 50, "{zombies} zombies under runall");
        thread::sleep(Duration::from_millis(10));
    }
    fs::write(p.path().join("release"), "").expect("release the env");
    let run = running.finish();
    run.assert_code(0);
    let row = crate::support::summary_row(&run.stdout(), "forker");
    assert!(row.contains("passed") && !row.contains("leak"), "{row}");
    p.assert_no_survivors();
}

/// Item 21: a script whose `#!` interpreter is missing is reported as such, by name, with
/// that name sanitised like any text runall prints (escape sequences removed, other control
/// characters made visible).
#[test]
fn a_missing_shebang_interpreter_is_named() {
    let p = Project::new(
        "[env.bad]\ncommands = [[\"./bad\"]]\n\n[env.hostile]\ncommands = [[\"./hostile\"]]\n",
    );
    for (name, text) in [
        ("bad", &b"#!/nonexistent/interp -x\necho hi\n"[..]),
        ("hostile", b"#!/nonexistent/\x1b[2J\x1b]0;pwned\x07\x01x\n"),
    ] {
        let path = p.path().join(name);
        fs::write(&path, text).expect("write script");
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    let out = run.stdout();
    assert!(
        out.contains("./bad: /nonexistent/interp: bad interpreter: No such file or directory"),
        "{out}"
    );
    assert!(
        out.contains("./hostile: /nonexistent/\\x01x: bad interpreter"),
        "{out}"
    );
    assert!(
        !out.contains('\x1b'),
        "raw escape sequences reached the output: {out:?}"
    );
}
