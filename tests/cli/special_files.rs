//! Files runall reads or creates that are not what they seem: a FIFO or a device given as the
//! config or sitting where the run history goes must be refused with the reason, never waited
//! on or read forever; and the `.runall` folder carries a `.gitignore`.
//!
//! Each run has the support module's deadline, so a hang fails the test instead of hanging CI.

use std::path::Path;
use std::process::Command;

use crate::support::Project;

const CONFIG: &str = "[env.a]\ncommands = [\"echo hi\"]\n";

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// `runall --ci ARGS` exits 2 and says `expected` on stderr.
fn refused(p: &Project, args: &[&str], expected: &str) {
    let mut full = vec!["--ci"];
    full.extend_from_slice(args);
    let run = p.run(&full);
    run.assert_code(2);
    assert!(
        run.stderr().contains(expected),
        "expected {expected:?} in stderr:\n{}",
        run.stderr()
    );
    assert!(!p.path().join(".runall").exists(), "nothing started");
}

#[test]
fn a_fifo_config_is_refused_not_waited_on() {
    let p = Project::new(CONFIG);
    let fifo = p.path().join("pipe.toml");
    mkfifo(&fifo);
    refused(
        &p,
        &["-c", "pipe.toml"],
        "pipe.toml: cannot read: not a regular file (a FIFO)",
    );
    // Found by name, too: a FIFO called runall.toml is named, not skipped or opened.
    std::fs::remove_file(p.path().join("runall.toml")).expect("remove config");
    mkfifo(&p.path().join("runall.toml"));
    refused(
        &p,
        &[],
        "runall.toml: cannot read: not a regular file (a FIFO)",
    );
}

#[test]
fn a_device_config_is_refused_not_read_forever() {
    let p = Project::new(CONFIG);
    refused(
        &p,
        &["-c", "/dev/zero"],
        "/dev/zero: cannot read: not a regular file (a character device)",
    );
}

#[test]
fn a_huge_config_is_refused() {
    let p = Project::new(CONFIG);
    let big = std::fs::File::create(p.path().join("big.toml")).expect("create");
    big.set_len(16 * 1024 * 1024 + 1).expect("grow");
    refused(
        &p,
        &["-c", "big.toml"],
        "big.toml: cannot read: larger than 16 MiB, the most runall reads",
    );
}

#[test]
fn a_fifo_history_is_a_warning_and_the_run_goes_on() {
    let p = Project::new(CONFIG);
    std::fs::create_dir(p.path().join(".runall")).expect("mkdir");
    let history = p.path().join(".runall/history.json");
    mkfifo(&history);
    let run = p.run(&["--ci"]);
    run.assert_code(0);
    assert!(
        run.stderr().contains(&format!(
            "runall: ignoring the run history: cannot read {}: not a regular file (a FIFO)",
            history.display()
        )),
        "{}",
        run.stderr()
    );
    assert!(run.stdout().contains("a | hi"), "{}", run.stdout());
    // The end of the run replaced it with a real history, which the next run reads quietly.
    assert!(
        std::fs::symlink_metadata(&history)
            .expect("history")
            .is_file()
    );
    let again = p.run(&["--ci"]);
    again.assert_code(0);
    assert!(!again.stderr().contains("ignoring"), "{}", again.stderr());
}

#[test]
fn the_runall_folder_is_ignored_by_git() {
    let p = Project::new(CONFIG);
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(p.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git")
    };
    assert!(git(&["init", "-q"]).status.success(), "git init");
    p.run(&["--ci"]).assert_code(0);
    let ignore = p.path().join(".runall/.gitignore");
    let text = std::fs::read_to_string(&ignore).expect(".runall/.gitignore");
    assert!(text.lines().any(|line| line == "*"), "{text}");
    let status = git(&["status", "--porcelain", "--untracked-files=all"]);
    let status = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.trim(), "?? runall.toml", "git status:\n{status}");
    // An existing .gitignore is never overwritten.
    std::fs::write(&ignore, "logs/\n").expect("write");
    p.run(&["--ci"]).assert_code(0);
    assert_eq!(std::fs::read_to_string(&ignore).expect("read"), "logs/\n");
}
