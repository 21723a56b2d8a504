//! The OS layer: spawning into a new session, process-group signals, exit watching with pidfds,
//! reaping, /proc inspection and the emergency kill table.
//!
//! This is the only module (with the poller registration below) allowed `unsafe`: each block
//! has a `// SAFETY:` comment. Everything Linux-specific lives here so that macOS (kqueue
//! process filters, `proc_listpids`) and Windows (job objects) can be added beside it.
#![expect(
    unsafe_code,
    reason = "pre_exec, signal dispositions, poller registration, _exit"
)]

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};

use polling::{Event, Poller};
use rustix::process::{Pid, PidfdFlags, Signal};

/// Signals whose disposition a child must start with at default, whatever runall inherited
/// (a shell's background job starts with SIGINT/SIGQUIT ignored, `nohup` ignores SIGHUP).
const RESET_SIGNALS: [i32; 11] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGCHLD,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGWINCH,
];

/// Make `command` start in its own session (so its pid is its process group id and it has no
/// controlling terminal), with default signal dispositions, and killed if runall dies.
pub fn prepare(command: &mut Command) {
    let parent = std::process::id() as i32;
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (setsid, signal, prctl, getppid, kill): no allocation, no locks.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            for sig in RESET_SIGNALS {
                libc::signal(sig, libc::SIG_DFL);
            }
            // Linux: die with runall even if it is SIGKILLed. This fires when the spawning
            // *thread* exits, which is why the runner thread lives for the whole run.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != parent {
                // runall died between fork and prctl: PDEATHSIG will never fire.
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            Ok(())
        });
    }
}

/// Stdio for a child: stdin from /dev/null, stdout/stderr to the given pipe write ends.
pub fn stdio(command: &mut Command, stdout: Stdio, stderr: Stdio) {
    command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
}

/// Spawn `program` with `command`'s settings, mapping errors to text that names the program.
pub fn spawn(command: &mut Command, program: &OsStr) -> Result<Child, String> {
    command
        .spawn()
        .map_err(|e| format!("{}: {}", program.to_string_lossy(), strip_os_error(&e)))
}

/// "No such file or directory (os error 2)" → "No such file or directory".
fn strip_os_error(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Check a working directory before spawning, so a missing one is reported as such and not
/// as a missing program (both are ENOENT from exec).
pub fn check_dir(dir: &Path) -> Result<(), String> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "working directory {}: not a directory",
            dir.display()
        )),
        Err(e) => Err(format!(
            "working directory {}: {}",
            dir.display(),
            strip_os_error(&e)
        )),
    }
}

/// Ask for a larger pipe buffer (Linux `F_SETPIPE_SZ`). Best effort: the default size still
/// works, with more wakeups.
pub fn set_pipe_size(fd: impl AsFd, size: usize) {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, size);
}

/// Set a pipe read end nonblocking.
pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true).map_err(io::Error::from)
}

/// A pidfd that becomes readable when `pid` exits; `None` on kernels without `pidfd_open`
/// (before 5.3), where the runner falls back to a slow `waitid(WNOWAIT)` tick.
pub fn pidfd(pid: i32) -> Option<OwnedFd> {
    let pid = Pid::from_raw(pid)?;
    rustix::process::pidfd_open(pid, PidfdFlags::NONBLOCK).ok()
}

/// Has `pid` (our unreaped child) exited? Does not reap it.
pub fn has_exited(pid: i32) -> bool {
    let Some(pid) = Pid::from_raw(pid) else {
        return true;
    };
    let opts = rustix::process::WaitIdOptions::EXITED
        | rustix::process::WaitIdOptions::NOHANG
        | rustix::process::WaitIdOptions::NOWAIT;
    matches!(
        rustix::process::waitid(rustix::process::WaitId::Pid(pid), opts),
        Ok(Some(_)) | Err(_)
    )
}

/// Register a nonblocking fd in the poller in oneshot mode.
pub fn register(poller: &Poller, fd: &impl AsFd, key: usize) -> io::Result<()> {
    // SAFETY: every registered fd is owned by a runner `Child` slot, which deletes it from the
    // poller (`deregister`) before the fd is dropped; no fd is registered twice.
    unsafe { poller.add(&fd.as_fd(), Event::readable(key)) }
}

/// Remove a fd from the poller before it is closed.
pub fn deregister(poller: &Poller, fd: &impl AsFd) {
    // Failure means it was never added or the poller is gone: nothing left to undo.
    let _ = poller.delete(fd.as_fd());
}

/// Send `signal` to the process group `pgid` (our unreaped child's pid, so it cannot have
/// been recycled). ESRCH (nobody left) is not an error.
pub fn signal_group(pgid: i32, signal: i32) {
    if let (Some(pid), Some(sig)) = (Pid::from_raw(pgid), Signal::from_named_raw(signal)) {
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

/// Send `signal` to one process. ESRCH is not an error.
pub fn signal_pid(pid: i32, signal: i32) {
    if let (Some(p), Some(sig)) = (Pid::from_raw(pid), Signal::from_named_raw(signal)) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// Reap `pid` if it has exited, without blocking. `true` once reaped (or not our child).
pub fn try_reap(pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else {
        return true;
    };
    !matches!(
        rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG),
        Ok(None)
    )
}

/// Make runall a child subreaper: orphans of its children become its children, so escaped
/// processes can be found, killed and reaped by pid.
pub fn become_subreaper() {
    // Failure (old kernel) only weakens leak detection; nothing to do about it.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
}

/// Pids of runall's own children (from /proc/self/task/*/children), including adopted orphans.
pub fn children() -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    pids
}

/// What /proc says about a process.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    /// Process group id.
    pub pgid: i32,
    /// State letter (R, S, Z, T, …).
    pub state: char,
    /// Command line, spaces between arguments (or the comm name).
    pub command: String,
}

/// Read /proc/<pid>/stat and cmdline.
pub fn proc_info(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm field is in parentheses and may contain spaces: parse after the last ')'.
    let close = stat.rfind(')')?;
    let comm = stat.get(stat.find('(')? + 1..close)?.to_owned();
    let mut rest = stat.get(close + 2..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let _ppid = rest.next()?;
    let group = rest.next()?.parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let command = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    Some(ProcInfo {
        pgid: group,
        state,
        command: if command.is_empty() { comm } else { command },
    })
}

/// The value of `key` in /proc/<pid>/environ.
pub fn proc_env(pid: i32, key: &str) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|entry| {
        let rest = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(rest).into_owned())
    })
}

/// The inode of a pipe fd, to find who else holds it.
pub fn pipe_inode(fd: impl AsFd) -> Option<u64> {
    rustix::fs::fstat(fd).ok().map(|st| st.st_ino)
}

/// Every pid listed in /proc (a snapshot: processes come and go while it is read).
pub fn pids() -> Vec<i32> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Pids (other than runall) holding a pipe with this inode open, by scanning /proc/*/fd.
/// Only used on the leak path, never per exit.
pub fn pipe_holders(inode: u64) -> Vec<i32> {
    let me = std::process::id() as i32;
    let target = format!("pipe:[{inode}]");
    pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str())
                })
            })
        })
        .collect()
}

/// Live process groups, readable from a signal handler thread or a panic hook without locks.
static GROUPS: [AtomicI32; 256] = [const { AtomicI32::new(0) }; 256];

/// Remember a live process group for emergency kills. Returns false when the table is full
/// (the group is still handled normally; only the emergency path misses it).
pub fn track_group(pgid: i32) -> bool {
    GROUPS.iter().any(|slot| {
        slot.compare_exchange(0, pgid, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })
}

/// Forget a process group right before its leader is reaped.
pub fn untrack_group(pgid: i32) {
    for slot in &GROUPS {
        let _ = slot.compare_exchange(pgid, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// SIGKILL every tracked group. Lock-free and allocation-free: safe from a panic hook or the
/// signal thread while the runner is stuck.
pub fn kill_all_groups() {
    signal_all_groups(libc::SIGKILL);
}

/// Send `signal` to every tracked group (SIGSTOP/SIGCONT when the TUI suspends).
pub fn signal_all_groups(signal: i32) {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::Acquire);
        if pgid > 0 {
            signal_group(pgid, signal);
        }
    }
}

/// Stop runall itself (job control: the shell takes the terminal back until `fg`).
pub fn stop_self() {
    signal_pid(std::process::id() as i32, libc::SIGSTOP);
}

/// Write bytes straight to a file descriptor, with no lock (emergency terminal restore).
pub fn write_fd_raw(fd: std::os::fd::BorrowedFd<'_>, bytes: &[u8]) {
    let _ = rustix::io::write(fd, bytes);
}

/// Exit now, skipping destructors and atexit handlers (the emergency path).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; skipping destructors is the point (other threads
    // may hold locks that a normal exit would wait on).
    unsafe { libc::_exit(code) }
}

/// Die by `signal` with its default action (so a parent shell sees death by signal), after
/// switching off core dumps for SIGQUIT. Falls back to exiting 128+signal.
pub fn die_by_signal(signal: i32) -> ! {
    if signal == libc::SIGQUIT {
        let mut limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        limit.current = Some(0);
        let _ = rustix::process::setrlimit(rustix::process::Resource::Core, limit);
    }
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    exit_now(128 + signal)
}
