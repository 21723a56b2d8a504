//! What runall prints cannot fail silently: a failing stdout is said on stderr (a closed pipe,
//! the `| head` case, stays quiet).

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Capture, PATIENCE, Project, config_of, spawn_tracked};

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
