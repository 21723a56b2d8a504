//! The OS layer: spawning into a new session, process-group signals, exit watching with pidfds,
//! reaping, /proc inspection and the emergency kill table.
//!
//! This is the only module (with its child `spawn`, the `clone`/`execve` of children and of
//! the guardian) allowed `unsafe`: each block has a `// SAFETY:` comment. Everything
//! Linux-specific lives here, every syscall of the runner included (the pipe reads too:
//! [`read_chunk`]), so that macOS (kqueue process filters, `proc_listpids`) and Windows (job
//! objects) can be added beside it.
#![expect(
    unsafe_code,
    reason = "clone/exec of children, signal masks and dispositions, poller registration, _exit"
)]

use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use polling::{Event, Poller};
use rustix::process::{Pid, PidfdFlags, Signal};

mod spawn;

pub use spawn::{SpawnSpec, check_dir, guardian_pipe, spawn, spawn_guardian};

/// First thing in the guardian process: a name that says what it is (`ps`, and a zombie's
/// comm), and no fd but 0, 1 and 2 (anything runall inherited without `O_CLOEXEC`, a
/// terminal or a harness's pipe, must not be kept open by a process that outlives it).
pub fn guardian_setup() {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes, given here.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"runall-guardian".as_ptr());
    }
    // SAFETY: close_range only closes fds of this process; nothing in the guardian uses an fd
    // above 2 (it has just started).
    let closed = unsafe { libc::syscall(libc::SYS_close_range, 3_u32, u32::MAX, 0_u32) };
    if closed != 0 {
        // Before Linux 5.9: close them one by one, as far as /proc lists them.
        if let Ok(fds) = fs::read_dir("/proc/self/fd") {
            let open: Vec<RawFd> = fds
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd > 2)
                .collect();
            for fd in open {
                // SAFETY: as above; the read_dir fd is already closed (collected first).
                unsafe {
                    libc::close(fd);
                }
            }
        }
    }
}

/// SIGKILL `pid` only if it is still the process that started at `start` (clock ticks after
/// boot, `/proc/PID/stat` field 22): checked after opening a pidfd, and signalled through
/// it, so a recycled pid is never hit. Without pidfds (Linux < 5.3), checked, then killed by
/// pid.
pub fn kill_if_started_at(pid: i32, start: u64) {
    let Some(p) = Pid::from_raw(pid) else {
        return;
    };
    match rustix::process::pidfd_open(p, PidfdFlags::empty()) {
        Ok(fd) => {
            if proc_stat(pid).is_some_and(|s| s.start == start) {
                let _ = rustix::process::pidfd_send_signal(&fd, Signal::KILL);
            }
        }
        Err(rustix::io::Errno::NOSYS) => {
            if proc_stat(pid).is_some_and(|s| s.start == start) {
                signal_pid(pid, libc::SIGKILL);
            }
        }
        Err(_) => {}
    }
}

/// What a reaped child cost, from `wait4`'s rusage: its own and that of every descendant it
/// waited for (the kernel folds a reaped child's usage into its parent's children's usage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChildUsage {
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Largest resident set size of the child or of one of its waited-for descendants, in
    /// bytes.
    pub peak_rss: u64,
}

/// `wait4(pid, flags)`, EINTR retried: `Ok(None)` when `WNOHANG` found it still running,
/// `Err` when it is not (or no longer) our child.
fn wait4(pid: i32, flags: i32) -> io::Result<Option<(ExitStatus, ChildUsage)>> {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in (zeroed first, so any field it does
        // not set reads 0); both pointers are valid for the call.
        let (got, usage) = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            let got = libc::wait4(pid, &raw mut status, flags, &raw mut usage);
            (got, usage)
        };
        if got == pid {
            return Ok(Some((ExitStatus::from_raw(status), child_usage(&usage))));
        }
        if got == 0 {
            return Ok(None);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

fn child_usage(usage: &libc::rusage) -> ChildUsage {
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    ChildUsage {
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        // Linux gives kilobytes.
        peak_rss: u64::try_from(usage.ru_maxrss)
            .unwrap_or(0)
            .saturating_mul(1024),
    }
}

/// Reap `pid` (our exited child), waiting if it has not quite finished exiting, with what it
/// cost; EINTR is retried. `None` if it is not (or no longer) our child.
pub fn reap(pid: i32) -> Option<(ExitStatus, ChildUsage)> {
    if pid <= 0 {
        return None;
    }
    wait4(pid, 0).ok().flatten()
}

/// Keep output buffers on the heap and their memory in the process (glibc's malloc).
///
/// Every `Output` event is an exactly sized buffer of up to 256 KiB, allocated on the runner
/// thread and freed on another. Above glibc's default 128 KiB threshold each one is a fresh
/// `mmap` (page faults, zeroed pages) and its `munmap` on the consumer (TLB shootdowns), and
/// the heap is trimmed back to the kernel as soon as it shrinks; under a flood that cost
/// 10-15% of runall's CPU (W1, 4 interleaved pairs of runs). Fixed thresholds keep chunks of up
/// to 1 MiB in the heap and up to 32 MiB of free heap cached. The bytes in flight are bounded
/// by the runner's credits anyway, so peak RSS did not change (W1: 14-17 MiB before and
/// after); what changes is that memory freed after a flood may stay with runall (at most the
/// peak, and at most 32 MiB at the top of each heap) instead of going back to the kernel at
/// once. Other libcs: nothing to do.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is thread-safe and takes no pointers.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 * 1024 * 1024);
    }
}

/// Ask for a larger pipe buffer (Linux `F_SETPIPE_SZ`). Best effort: the default size still
/// works, with more wakeups.
pub fn set_pipe_size(fd: impl AsFd, size: usize) {
    let _ = rustix::pipe::fcntl_setpipe_size(fd, size);
}

/// What one read of a pipe gave.
pub enum PipeRead {
    /// Bytes, in a buffer of their own, exactly sized.
    Data(Vec<u8>),
    /// Nothing there (EAGAIN or a spurious wakeup).
    Empty,
    /// End of file, or an error that ends the pipe.
    Eof,
}

/// Reads what a nonblocking pipe holds, up to `max` bytes. The pipe says how much it holds
/// (`FIONREAD`), so one `read` puts the bytes straight into the spare capacity of an exactly
/// sized `Vec` that becomes the event: no copy out of a scratch buffer, no zeroing, and no slack
/// capacity held while the event is queued. Only runall reads the pipe, so what it holds stays
/// there until read. An empty pipe is read into `scratch`, to tell EOF from EAGAIN (or from
/// bytes that came just now).
pub fn read_chunk(reader: &os_pipe::PipeReader, scratch: &mut [u8], max: usize) -> PipeRead {
    let held = rustix::io::ioctl_fionread(reader).map_or(0, |n| n as usize);
    if held > 0 {
        let mut bytes = Vec::with_capacity(held.min(max));
        loop {
            return match rustix::io::read(reader, rustix::buffer::spare_capacity(&mut bytes)) {
                Ok(0) => PipeRead::Eof,
                Ok(_) => PipeRead::Data(bytes),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => PipeRead::Empty,
                Err(_) => PipeRead::Eof,
            };
        }
    }
    loop {
        return match (&*reader).read(scratch) {
            Ok(0) => PipeRead::Eof,
            Ok(n) => PipeRead::Data(scratch[..n].to_vec()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => PipeRead::Empty,
            Err(_) => PipeRead::Eof,
        };
    }
}

/// What [`read_append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendRead {
    /// Bytes were appended.
    Data,
    /// Nothing there (EAGAIN or a spurious wakeup).
    Empty,
    /// End of file (a terminal's master reads EIO once the last slave holder closed), or an
    /// error that ends it.
    Eof,
}

/// One `read` of a nonblocking fd onto the end of `buf`, into its spare capacity (the caller
/// reserves room: as much as there is is read), retried on EINTR.
pub fn read_append(reader: impl AsFd, buf: &mut Vec<u8>) -> AppendRead {
    loop {
        return match rustix::io::read(&reader, rustix::buffer::spare_capacity(&mut *buf)) {
            Ok(0) => AppendRead::Eof,
            Ok(_) => AppendRead::Data,
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => AppendRead::Empty,
            Err(_) => AppendRead::Eof,
        };
    }
}

/// One `write` of `bytes` to a nonblocking fd, retried on EINTR: how many bytes it took, or
/// `None` when the fd is full (EAGAIN).
pub fn write_nonblocking(fd: impl AsFd, bytes: &[u8]) -> io::Result<Option<usize>> {
    loop {
        return match rustix::io::write(&fd, bytes) {
            Ok(n) => Ok(Some(n)),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
}

/// One `read` of stdin into `buf`, retried on EINTR: how many bytes came (0 at EOF).
pub fn read_stdin(buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match rustix::io::read(rustix::stdio::stdin(), &mut *buf) {
            Err(rustix::io::Errno::INTR) => {}
            other => return other.map_err(io::Error::from),
        }
    }
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
    // SAFETY: every registered fd (a pipe read end or a pidfd) is owned by the runner's
    // `Active` command, which deletes it from the poller (`deregister`) before the fd is
    // dropped; no fd is registered twice.
    unsafe { poller.add(&fd.as_fd(), Event::readable(key)) }
}

/// Register a nonblocking fd in the poller, level-triggered (readable for as long as it
/// holds data: no re-arming after each event).
pub fn register_level(poller: &Poller, fd: &impl AsFd, key: usize) -> io::Result<()> {
    // SAFETY: as for `register`: the fd's owner deletes it from the poller before closing it.
    unsafe { poller.add_with_mode(&fd.as_fd(), Event::readable(key), polling::PollMode::Level) }
}

/// Some exited, not yet reaped child of runall (any thread's), without reaping it: one
/// `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`. `None` when no child is a zombie.
pub fn some_exited_child() -> Option<i32> {
    // SAFETY: siginfo_t is plain data that waitid fills in; WNOWAIT leaves the child as it
    // is; si_pid reads the field waitid set (zero when nothing had exited, as zeroed).
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_ALL, 0, &raw mut info, flags) != 0 {
            return None;
        }
        let pid = info.si_pid();
        (pid > 0).then_some(pid)
    }
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

/// What a non-blocking reap found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// Still running.
    NotYet,
    /// Reaped now, with what it cost.
    Now(ChildUsage),
    /// Not (or no longer) our child.
    Gone,
}

/// Reap `pid` if it has exited, without blocking. `true` once reaped (or not our child).
pub fn try_reap(pid: i32) -> bool {
    try_reap_usage(pid) != Reaped::NotYet
}

/// Reap `pid` if it has exited, without blocking, with its usage.
pub fn try_reap_usage(pid: i32) -> Reaped {
    if pid <= 0 {
        return Reaped::Gone;
    }
    match wait4(pid, libc::WNOHANG) {
        Ok(None) => Reaped::NotYet,
        Ok(Some((_, usage))) => Reaped::Now(usage),
        Err(_) => Reaped::Gone,
    }
}

/// Make runall a child subreaper: orphans of its children become its children, so escaped
/// processes can be found, killed and reaped by pid. `false` if the kernel refused (an old
/// kernel): that only weakens leak detection.
pub fn become_subreaper() -> bool {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok()
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

/// Children of runall's main thread (`/proc/self/task/<pid>/children`): where the kernel
/// puts the orphans runall adopts as a subreaper (to the subreaper's first live thread, its
/// main thread, which lives for the whole run). The spawner thread's own children are not
/// listed, so this stays short however many envs run. One open and read.
pub fn adopted_children() -> Vec<i32> {
    let path = format!("/proc/self/task/{}/children", std::process::id());
    fs::read_to_string(path)
        .map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
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

/// The fields of /proc/<pid>/stat that identify a process and place it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// The process.
    pub pid: i32,
    /// State letter (R, S, Z, T, …).
    pub state: char,
    /// Process group id.
    pub pgid: i32,
    /// Session id.
    pub sid: i32,
    /// Start time in clock ticks after boot: with the pid, it names one process for good.
    pub start: u64,
}

impl ProcStat {
    /// Exited (a zombie, or being torn down): nothing left to signal.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Read /proc/<pid>/stat (one small read, no command line).
pub fn proc_stat(pid: i32) -> Option<ProcStat> {
    let stat = fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// Parse a /proc/<pid>/stat line: the comm field is in parentheses and may contain anything,
/// so the fields are counted after the last `)`.
fn parse_stat(pid: i32, stat: &[u8]) -> Option<ProcStat> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    // Fields from 3 on: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt,
    // majflt, cmajflt, utime, stime, cutime, cstime, priority, nice, num_threads,
    // itrealvalue, starttime.
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    Some(ProcStat {
        pid,
        state: fields.first()?.chars().next()?,
        pgid: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
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

/// What the live processes of one process group use now (sampled from /proc).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupUsage {
    /// Resident set size of its members, summed, in bytes.
    pub rss: u64,
    /// CPU time of its members and of the children they reaped (user + system).
    pub cpu: Duration,
}

/// The current usage of each group in `pgids` (same order): one pass over `/proc`, one read
/// of `stat` per process. Meant for a sample a second, not for every event.
pub fn group_usage(pgids: &[i32]) -> Vec<GroupUsage> {
    let mut usage = vec![GroupUsage::default(); pgids.len()];
    if pgids.is_empty() {
        return usage;
    }
    let page = rustix::param::page_size() as u64;
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let slot: std::collections::HashMap<i32, usize> =
        pgids.iter().enumerate().map(|(k, &g)| (g, k)).collect();
    for pid in pids() {
        let Ok(stat) = fs::read(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((pgid, cpu_ticks, rss_pages)) = parse_usage(&stat) else {
            continue;
        };
        if let Some(&k) = slot.get(&pgid) {
            usage[k].rss += rss_pages.saturating_mul(page);
            usage[k].cpu += Duration::from_nanos(cpu_ticks.saturating_mul(1_000_000_000) / ticks);
        }
    }
    usage
}

/// From a /proc/<pid>/stat line: process group, CPU ticks (utime + stime + cutime + cstime)
/// and resident pages.
fn parse_usage(stat: &[u8]) -> Option<(i32, u64, u64)> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    let number = |k: usize| fields.get(k).and_then(|f| f.parse::<u64>().ok());
    let ticks = (11..=14).map(number).sum::<Option<u64>>()?;
    Some((fields.get(2)?.parse().ok()?, ticks, number(21)?))
}

/// Pids (other than runall) holding a pipe with this inode open, by scanning /proc/*/fd.
/// Only used on the leak path, never per exit.
pub fn pipe_holders(inode: u64) -> Vec<i32> {
    fd_holders(&format!("pipe:[{inode}]"))
}

/// Pids (other than runall) with an fd whose `/proc/PID/fd` link reads `target` (a pipe's
/// `pipe:[INODE]`, a terminal's `/dev/pts/N`). Only used on the leak path.
pub fn fd_holders(target: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    pids()
        .into_iter()
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target))
            })
        })
        .collect()
}

/// A new pseudo-terminal: the master (runall's end, `O_CLOEXEC`, not yet nonblocking), the
/// slave (the child's stdin, stdout and stderr; `O_NOCTTY`, so opening it gives runall no
/// controlling terminal) and the slave's path (`/dev/pts/N`, what `/proc/PID/fd` shows for
/// a process holding it), with its window size set to `rows` x `cols`. The slave keeps the
/// kernel's default line discipline (echo, canonical input, `\n` written as `\r\n`, ^C as
/// SIGINT to the foreground group), as a terminal emulator's would.
pub struct Pty {
    /// runall's side: read for output, written for keys, `TIOCSWINSZ` for the size.
    pub master: OwnedFd,
    /// The child's side; runall drops its copy right after spawning.
    pub slave: OwnedFd,
    /// `/dev/pts/N`.
    pub path: String,
}

/// Open a pseudo-terminal pair (`posix_openpt`, `grantpt`, `unlockpt`, `ptsname`, then the
/// slave) of `rows` x `cols`.
pub fn open_pty(rows: u16, cols: u16) -> io::Result<Pty> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let path = name.to_string_lossy().into_owned();
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    set_window_size(&master, rows, cols)?;
    Ok(Pty {
        master,
        slave,
        path,
    })
}

/// Set a terminal's window size (`TIOCSWINSZ` on the master): the kernel sends SIGWINCH to
/// the terminal's foreground process group when the size changed.
pub fn set_window_size(fd: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let size = rustix::termios::Winsize {
        ws_row: rows.max(1),
        ws_col: cols.max(1),
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(fd, size).map_err(io::Error::from)
}

/// runall's terminal settings (stdin's), saved for `--attach`.
#[derive(Clone, Debug)]
pub struct TerminalState(rustix::termios::Termios);

/// Save stdin's terminal settings; `None` when stdin is not a terminal.
pub fn save_terminal() -> Option<TerminalState> {
    rustix::termios::tcgetattr(rustix::stdio::stdin())
        .ok()
        .map(TerminalState)
}

/// Put stdin's terminal back as `state` says, with runall's process group in the
/// foreground again (an attached env had it): whatever the child left behind.
pub fn restore_terminal(state: &TerminalState) {
    take_terminal_back();
    let _ = rustix::termios::tcsetattr(
        rustix::stdio::stdin(),
        rustix::termios::OptionalActions::Now,
        &state.0,
    );
}

/// Make runall's process group the foreground group of stdin's terminal again (after an
/// attached env, which had it). A background group asking gets SIGTTOU unless it blocks it:
/// blocked around the call, in this thread only. Nothing to do when stdin is no terminal.
pub fn take_terminal_back() {
    if !rustix::termios::isatty(rustix::stdio::stdin()) {
        return;
    }
    set_foreground(rustix::process::getpgrp());
}

/// Make `group` the foreground group of stdin's terminal, with SIGTTOU blocked around the
/// call in this thread only (a background group asking would get it).
fn set_foreground(group: Pid) {
    let stdin = rustix::stdio::stdin();
    // SAFETY: sigset_t is plain data; pthread_sigmask changes this thread's mask only and
    // restores it right after.
    unsafe {
        let mut ttou: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut ttou);
        libc::sigaddset(&raw mut ttou, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const ttou, &raw mut old);
        let _ = rustix::termios::tcsetpgrp(stdin, group);
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut());
    }
}

/// Was `pid` (our child) stopped since the last look? Takes the stop report
/// (`waitid(WSTOPPED | WNOHANG)`: never an exit, so nothing is reaped).
pub fn take_stop(pid: i32) -> bool {
    let Some(pid) = Pid::from_raw(pid) else {
        return false;
    };
    let opts = rustix::process::WaitIdOptions::STOPPED | rustix::process::WaitIdOptions::NOHANG;
    matches!(
        rustix::process::waitid(rustix::process::WaitId::Pid(pid), opts),
        Ok(Some(status)) if status.stopped()
    )
}

/// An attached command's group `pgid` stopped (Ctrl-Z typed into runall's terminal stops
/// the terminal's foreground group, which is the command's): do what a shell's job does.
/// When the command had the terminal, its settings are kept, runall's group takes the
/// terminal back and runall stops itself (SIGSTOP), so the calling shell sees a stopped job
/// and gets its terminal; when continued (`fg`), the command's settings and the terminal's
/// foreground go back to it and its group is continued (SIGCONT). When runall is continued
/// in the background (`bg`), the command is continued without the terminal, as a
/// background job is: reading it stops the command again, and runall with it. Returns at
/// once when stdin is no terminal (nothing was handed over).
pub fn suspend_with_attached(pgid: i32) {
    let stdin = rustix::stdio::stdin();
    if !rustix::termios::isatty(stdin) {
        return;
    }
    let me = rustix::process::getpgrp();
    let holder = rustix::termios::tcgetpgrp(stdin).ok();
    let mut settings = None;
    if holder.is_some_and(|h| h.as_raw_nonzero().get() == pgid) {
        settings = rustix::termios::tcgetattr(stdin).ok();
        take_terminal_back();
    }
    if holder != Some(me) {
        // Stop as a job (the whole process: every thread); this returns once continued.
        signal_pid(std::process::id() as i32, libc::SIGSTOP);
    }
    if rustix::termios::tcgetpgrp(stdin).ok() == Some(me) {
        if let Some(settings) = &settings {
            let _ =
                rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, settings);
        }
        give_terminal(pgid);
    }
    signal_group(pgid, libc::SIGCONT);
}

/// Make `pgid` the foreground group of stdin's terminal (runall's group has it): with
/// SIGTTOU blocked around the call, in this thread only, as for [`take_terminal_back`].
fn give_terminal(pgid: i32) {
    if let Some(group) = Pid::from_raw(pgid) {
        set_foreground(group);
    }
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
/// switching off core dumps for signals that would dump one (SIGQUIT, SIGXCPU, …). Falls back
/// to exiting 128+signal.
pub fn die_by_signal(signal: i32) -> ! {
    if super::fatal::dumps_core(signal) {
        let mut limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        limit.current = Some(0);
        let _ = rustix::process::setrlimit(rustix::process::Resource::Core, limit);
    }
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    // signal-hook has no table entry for the real-time signals, whose default action is to
    // terminate: reset and raise it here.
    // SAFETY: setting a disposition to SIG_DFL has no memory-safety preconditions; runall is
    // exiting, so no handler of its own is needed any more.
    unsafe { libc::signal(signal, libc::SIG_DFL) };
    let _ = signal_hook::low_level::raise(signal);
    exit_now(128 + signal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = b"42 (a) (b) x) S 1 40 41 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 1 0 98765 1000 10";
        assert_eq!(
            parse_stat(42, line),
            Some(ProcStat {
                pid: 42,
                state: 'S',
                pgid: 40,
                sid: 41,
                start: 98765,
            })
        );
        assert_eq!(parse_stat(1, b"1 (init) S 0"), None);
        assert_eq!(parse_usage(line), Some((40, 3 + 4, 10)));
        assert_eq!(parse_usage(b"1 (init) S 0"), None);
    }

    #[test]
    fn a_live_group_is_sampled_and_a_reaped_child_reports_its_rusage() {
        use std::os::unix::process::CommandExt;
        // A group of its own, burning CPU until killed.
        let child = std::process::Command::new("/bin/sh")
            .args(["-c", "while :; do :; done"])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let sample = loop {
            let sample = group_usage(&[pid, -7])[0];
            if sample.cpu >= Duration::from_millis(50) || std::time::Instant::now() > deadline {
                break sample;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(sample.rss > 0, "{sample:?}");
        assert!(sample.cpu >= Duration::from_millis(50), "{sample:?}");
        assert_eq!(group_usage(&[-7]), [GroupUsage::default()], "no such group");
        signal_pid(pid, libc::SIGKILL);
        let (status, usage) = reap(pid).expect("our child");
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(
            usage.cpu >= sample.cpu.saturating_sub(Duration::from_millis(20)),
            "{usage:?}"
        );
        assert!(usage.peak_rss > 0, "{usage:?}");
        // Reaped above (dropping `child` never waits), so it is no longer ours.
        assert_eq!(try_reap_usage(pid), Reaped::Gone);
        drop(child);
        let me = proc_stat(std::process::id() as i32).expect("our own stat");
        assert_eq!(me.pgid, rustix::process::getpgrp().as_raw_nonzero().get());
    }
}
