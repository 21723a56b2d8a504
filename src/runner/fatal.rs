//! Which signals are fatal to runall and what each means for the run: the one list runall
//! catches ([`fatal_signals`]), the signal its envs' groups get for each
//! ([`forwarded_signal`]), and which would dump core ([`dumps_core`]). Pure policy, shared by
//! the signal listener (`face::signals`), the ladder and the OS layer's `die_by_signal`; it
//! lives in the runner so that the runner needs nothing from the faces.

/// Every signal runall catches: all whose default action kills the process and that can be
/// caught safely (why some are not: `face::signals`), in one place.
pub fn fatal_signals() -> Vec<i32> {
    let mut signals = vec![
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGALRM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGXCPU,
        libc::SIGXFSZ,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGSYS,
        libc::SIGIO,
        libc::SIGABRT,
    ];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    signals.extend([libc::SIGPWR, libc::SIGSTKFLT]);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    signals.extend(libc::SIGRTMIN()..=libc::SIGRTMAX());
    signals
}

/// The signal the children's groups get when runall got `signal`: the same one for SIGINT,
/// SIGTERM, SIGHUP and SIGQUIT, SIGTERM for any other.
pub fn forwarded_signal(signal: i32) -> i32 {
    match signal {
        libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT => signal,
        _ => libc::SIGTERM,
    }
}

/// Signals whose default action dumps core: runall dying by one switches core dumps off
/// first (it is not a crash of runall's).
pub fn dumps_core(signal: i32) -> bool {
    matches!(
        signal,
        libc::SIGQUIT
            | libc::SIGABRT
            | libc::SIGSYS
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGTRAP
            | libc::SIGBUS
            | libc::SIGILL
            | libc::SIGFPE
            | libc::SIGSEGV
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catchable_signal_that_kills_by_default_is_caught() {
        let caught = fatal_signals();
        for signal in [
            libc::SIGALRM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGXCPU,
            libc::SIGVTALRM,
            libc::SIGPROF,
            libc::SIGPWR,
            libc::SIGRTMIN(),
            libc::SIGRTMAX(),
        ] {
            assert!(caught.contains(&signal), "signal {signal} is not caught");
        }
        for signal in &caught {
            assert!(
                !signal_hook::consts::FORBIDDEN.contains(signal),
                "signal-hook refuses {signal}"
            );
        }
        // Default action ignore or stop: never caught as fatal.
        for signal in [
            libc::SIGCHLD,
            libc::SIGWINCH,
            libc::SIGCONT,
            libc::SIGTSTP,
            libc::SIGPIPE,
        ] {
            assert!(!caught.contains(&signal), "{signal}");
        }
    }

    #[test]
    fn children_get_the_signal_they_understand() {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
            assert_eq!(forwarded_signal(signal), signal);
        }
        for signal in [libc::SIGUSR1, libc::SIGALRM, libc::SIGRTMIN()] {
            assert_eq!(forwarded_signal(signal), libc::SIGTERM);
        }
        assert!(dumps_core(libc::SIGXCPU) && dumps_core(libc::SIGQUIT));
        assert!(!dumps_core(libc::SIGALRM) && !dumps_core(libc::SIGUSR1));
    }
}
