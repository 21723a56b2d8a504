//! Signals to runall beyond INT/TERM/HUP/QUIT (`--ci`): every signal whose default action
//! kills is caught, the children get SIGTERM (they may give SIGUSR1 another meaning), are
//! stopped and reaped, and runall dies by the signal it got, without a core dump.

use std::os::unix::process::ExitStatusExt;

use crate::support::Project;

/// An env that says when it is ready and what it got.
const ENV: &str = "[env.worker]\ncommands = [\"trap 'echo got-term; exit 0' TERM; \
                   trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done\"]\n";

#[test]
fn fatal_signals_stop_the_children_and_runall_dies_by_them() {
    let signals = [
        libc::SIGALRM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGXCPU,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGRTMIN() + 1,
    ];
    for signal in signals {
        let p = Project::new(ENV);
        let running = p.spawn(&["--ci", "--color", "never"]);
        running.wait_for("worker | ready");
        // kill(1): the test's signal helper knows only the named signals.
        let sent = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(running.pid().to_string())
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal}");
        let run = running.finish();
        let (out, err) = (run.stdout(), run.stderr());
        assert_eq!(run.signal(), Some(signal), "signal {signal}:\n{out}\n{err}");
        assert!(!run.status.core_dumped(), "signal {signal}: core dumped");
        assert!(
            out.contains("worker | got-term") && !out.contains("worker | got-usr1"),
            "signal {signal}: the child gets SIGTERM, not the signal itself:\n{out}"
        );
        assert!(out.contains("→ sent SIGTERM to process group"), "{out}");
        p.assert_no_survivors();
    }
}
