//! The guardian: a small process that outlives runall and kills what is left of the run when
//! runall is gone, however it died (SIGKILL, the OOM killer, a crash), or when it finished.
//!
//! Nothing runs inside runall after SIGKILL, and `PR_SET_PDEATHSIG` reaches only each env's
//! direct child, so a party outside runall must clean up. [`Guardian::start`] spawns runall's
//! own binary (`/proc/self/exe @runall-guardian`) before the first env, the way envs are
//! spawned but without `PR_SET_PDEATHSIG`: in its own session (nothing runall sends to its envs
//! or to its own process group reaches it, and it has no controlling terminal), with INT, TERM,
//! HUP, QUIT and the other signals a terminal or runall might send ignored, stdin the read end
//! of a pipe, stdout and stderr `/dev/null`, every other fd closed, its directory `/`. runall
//! alone holds the pipe's write end (`O_CLOEXEC`, so no child inherits it) and writes to it,
//! in batches of one `write` per runner loop turn: the run id, every process group (= session)
//! it creates, the groups whose leader it is about to reap, and every adopted or leaked pid
//! it learns of (with its start time). When the pipe reports EOF (runall has exited, every
//! writer is gone), the guardian SIGKILLs every known group, then scans `/proc` for live
//! processes in a known group or session, known pids whose start time still matches, and
//! processes whose environment carries this run's `RUNALL_RUN_ID` (which catches `setsid`
//! escapees); it repeats until a scan finds nothing (bounded), then exits, printing nothing.
//! After a normal end every group is forgotten, so the sweep reads only each process's
//! environment (one open and read each, no `stat`) unless one carries the run id.
//!
//! Pid reuse: the guardian must never kill outside the run.
//! - A group or session id stays allocated while any process uses it, and only a process whose
//!   pid it is can create it; so while group N has a member, no other process can get pid N or
//!   create group N. runall tells the guardian to forget group N before it reaps N's leader
//!   (messages are read in order, so a forget written before runall's death is always seen).
//!   A group still known at EOF is thus one whose leader runall had not reaped: alive, or a
//!   zombie pinning N until init reaps it after runall's death. For another process to be
//!   group or session N by then, N must have been reaped, every member gone, and the pid
//!   allocator must have wrapped around to N, all in the milliseconds between runall's death
//!   and the kill. The forgets of the last loop turn are written at its end (batching), which
//!   widens that window by one turn for the groups reaped in it; the same wraparound is
//!   needed.
//! - A single pid is only killed if `/proc/PID/stat` still shows the start time recorded
//!   when runall learned of it, checked after opening a pidfd and signalled through that
//!   pidfd, so a recycled pid is never hit.
//! - The `RUNALL_RUN_ID` match is exact and the id is unique per run.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::sys;

/// `argv[1]` that makes the runall binary run as the guardian (checked first thing in `main`).
/// It holds `@`, which no env name can (names are `[A-Za-z0-9._-]+`), so `runall <env>`
/// can never be taken for it.
pub const MARKER: &str = "@runall-guardian";

/// Whether this executable runs [`main`] when started with [`MARKER`] (the runall binary
/// says so with [`enable`]; another program using the library, a benchmark, does not, and
/// its runs go without a guardian).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Declare that this executable is the guardian too: `main` checks for [`MARKER`] first.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// How long the guardian keeps killing after EOF before it gives up (the run promises that
/// nothing of it is left 2 s after runall's death).
const SWEEP_LIMIT: Duration = Duration::from_millis(1500);
/// Pause between sweeps, while killed processes finish dying.
const SWEEP_PAUSE: Duration = Duration::from_millis(5);

/// One record on the pipe: a tag byte, an `i32` and a `u64`, little-endian.
const RECORD: usize = 13;
const TAG_RUN_ID: u8 = b'R';
const TAG_GROUP: u8 = b'G';
const TAG_FORGET: u8 = b'g';
const TAG_PID: u8 = b'P';
const TAG_CANCEL: u8 = b'C';
const TAG_CANCELLED: u8 = b'c';
/// Longest run id accepted (runall's are about 25 bytes).
const MAX_RUN_ID: usize = 256;
/// Longest cancel command accepted (argv and environment, encoded).
const MAX_CANCEL: usize = 64 * 1024;
/// How long the guardian waits for the cancel commands it runs, all together.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// What runall tells the guardian.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// This run's `RUNALL_RUN_ID`.
    RunId(Vec<u8>),
    /// A process group (and session) runall created: its leader's pid.
    Group(i32),
    /// runall is about to reap this group's leader: forget the group.
    Forget(i32),
    /// An adopted or leaked process, with its start time (`/proc/PID/stat` field 22).
    Pid {
        /// The process.
        pid: i32,
        /// Its start time, in clock ticks after boot.
        start: u64,
    },
    /// A launched env's job may be in its cluster: run `argv` (with `vars` added to the
    /// environment) if runall dies before it says `Cancelled`. A later one replaces it.
    Cancel {
        /// The env's id.
        env: i32,
        /// The launcher's cancel command.
        argv: Vec<String>,
        /// The env's `set_env`.
        vars: Vec<(String, String)>,
    },
    /// The env's job is gone from the cluster (or its own cancel ran): forget its command.
    Cancelled(i32),
}

/// The payload of a `Cancel` record: every argv word, an empty word, then `KEY=VALUE` words,
/// each ended by a NUL (no word holds a NUL: the config refuses them).
fn encode_cancel(argv: &[String], vars: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in argv {
        out.extend_from_slice(word.as_bytes());
        out.push(0);
    }
    out.push(0);
    for (key, value) in vars {
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
        out.push(0);
    }
    out
}

/// A cancel command: its argv and what it adds to the environment.
type CancelCommand = (Vec<String>, Vec<(String, String)>);

fn decode_cancel(payload: &[u8]) -> Option<CancelCommand> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut words = text.split_terminator('\0');
    let argv: Vec<String> = words
        .by_ref()
        .take_while(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let vars = words
        .map(|w| w.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect::<Option<Vec<_>>>()?;
    Some((argv, vars))
}

/// Append `message`'s encoding to `out`.
pub fn encode(message: &Message, out: &mut Vec<u8>) {
    let payload = match message {
        Message::RunId(id) => id.clone(),
        Message::Cancel { argv, vars, .. } => encode_cancel(argv, vars),
        _ => Vec::new(),
    };
    let (tag, id, extra) = match message {
        Message::RunId(id) => (TAG_RUN_ID, id.len() as i32, 0),
        Message::Group(pgid) => (TAG_GROUP, *pgid, 0),
        Message::Forget(pgid) => (TAG_FORGET, *pgid, 0),
        Message::Pid { pid, start } => (TAG_PID, *pid, *start),
        Message::Cancel { env, .. } => (TAG_CANCEL, *env, payload.len() as u64),
        Message::Cancelled(env) => (TAG_CANCELLED, *env, 0),
    };
    if matches!(message, Message::Cancel { .. }) && payload.len() > MAX_CANCEL {
        // Too long for the guardian to take: it will not cancel this one.
        return;
    }
    out.push(tag);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&extra.to_le_bytes());
    out.extend_from_slice(&payload);
}

/// Decode the complete messages at the start of `buf`; returns them and how many bytes they
/// took (a partial record at the end waits for more bytes). Garbage ends the decoding: `None`.
pub fn decode(buf: &[u8]) -> Option<(Vec<Message>, usize)> {
    let mut messages = Vec::new();
    let mut at = 0;
    while let Some(record) = buf.get(at..at + RECORD) {
        let id = i32::from_le_bytes([record[1], record[2], record[3], record[4]]);
        let mut extra = [0; 8];
        extra.copy_from_slice(&record[5..RECORD]);
        let extra = u64::from_le_bytes(extra);
        let message = match record[0] {
            TAG_RUN_ID => {
                let len = usize::try_from(id).ok().filter(|&n| n <= MAX_RUN_ID)?;
                let Some(text) = buf.get(at + RECORD..at + RECORD + len) else {
                    break;
                };
                at += len;
                Message::RunId(text.to_vec())
            }
            TAG_CANCEL => {
                let len = usize::try_from(extra).ok().filter(|&n| n <= MAX_CANCEL)?;
                let Some(payload) = buf.get(at + RECORD..at + RECORD + len) else {
                    break;
                };
                let (argv, vars) = decode_cancel(payload)?;
                at += len;
                Message::Cancel {
                    env: id,
                    argv,
                    vars,
                }
            }
            TAG_CANCELLED => Message::Cancelled(id),
            TAG_GROUP => Message::Group(id),
            TAG_FORGET => Message::Forget(id),
            TAG_PID => Message::Pid {
                pid: id,
                start: extra,
            },
            _ => return None,
        };
        at += RECORD;
        messages.push(message);
    }
    Some((messages, at))
}

/// What the guardian knows about the run.
#[derive(Debug, Default)]
pub struct Known {
    /// `RUNALL_RUN_ID=<id>`, the environment entry that marks the run's processes.
    env_entry: Option<Vec<u8>>,
    groups: HashSet<i32>,
    pids: HashMap<i32, u64>,
    /// The cancel commands of launched envs whose jobs may still be in their cluster.
    cancels: std::collections::BTreeMap<i32, CancelCommand>,
}

impl Known {
    /// Take one message into account.
    pub fn apply(&mut self, message: Message) {
        match message {
            Message::RunId(id) => {
                let mut entry = b"RUNALL_RUN_ID=".to_vec();
                entry.extend_from_slice(&id);
                self.env_entry = Some(entry);
            }
            Message::Group(pgid) if pgid > 1 => {
                self.groups.insert(pgid);
            }
            Message::Forget(pgid) => {
                self.groups.remove(&pgid);
            }
            Message::Pid { pid, start } if pid > 1 => {
                self.pids.insert(pid, start);
            }
            Message::Cancel { env, argv, vars } if !argv.is_empty() => {
                self.cancels.insert(env, (argv, vars));
            }
            Message::Cancelled(env) => {
                self.cancels.remove(&env);
            }
            Message::Group(_) | Message::Pid { .. } | Message::Cancel { .. } => {}
        }
    }

    /// Is this process (as /proc shows it) part of the run? `environ` is read only when the
    /// cheaper checks did not decide.
    pub fn owns(&self, process: &sys::ProcStat, environ: impl FnOnce() -> Option<Vec<u8>>) -> bool {
        if process.is_dead() {
            // Dead already: nothing to kill (its parent reaps it).
            return false;
        }
        if self.groups.contains(&process.pgid) || self.groups.contains(&process.sid) {
            return true;
        }
        if self.pids.get(&process.pid) == Some(&process.start) {
            return true;
        }
        self.carries_run_id(environ())
    }

    /// Does this environment (`/proc/PID/environ`: NUL-separated) hold the run's id?
    fn carries_run_id(&self, environ: Option<Vec<u8>>) -> bool {
        let Some(entry) = &self.env_entry else {
            return false;
        };
        environ.is_some_and(|env| env.split(|&b| b == 0).any(|e| e == entry.as_slice()))
    }
}

/// runall's end of the pipe to the guardian.
pub struct Guardian {
    pid: i32,
    /// `None` once the guardian is gone (a write failed with anything but EAGAIN).
    pipe: Option<OwnedFd>,
    pending: Vec<u8>,
}

impl Guardian {
    /// Spawn the guardian and tell it the run id. `None` if this executable is not runall's
    /// (see [`enable`]) or it cannot be started (no `/proc`, no processes left): the run goes
    /// on without it.
    pub fn start(run_id: &str) -> Option<Self> {
        if !ENABLED.load(Ordering::Relaxed) {
            return None;
        }
        let (read, write) = sys::guardian_pipe().ok()?;
        let pid = sys::spawn_guardian(&read).ok()?;
        drop(read);
        let mut guardian = Self {
            pid,
            pipe: Some(write),
            pending: Vec::new(),
        };
        let id = run_id.as_bytes();
        guardian.send(&Message::RunId(id[..id.len().min(MAX_RUN_ID)].to_vec()));
        guardian.flush();
        Some(guardian)
    }

    /// The guardian's pid (a child of runall that no sweep may kill or reap).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Queue a message; [`flush`](Self::flush) writes the queue.
    pub fn send(&mut self, message: &Message) {
        if self.pipe.is_some() {
            encode(message, &mut self.pending);
        }
    }

    /// Write what is queued, without blocking (what the pipe cannot take now waits for the
    /// next call). One `write` per call, none when nothing is queued.
    pub fn flush(&mut self) {
        let Some(pipe) = &self.pipe else {
            return;
        };
        while !self.pending.is_empty() {
            match sys::write_nonblocking(pipe, &self.pending) {
                Ok(Some(n)) => {
                    self.pending.drain(..n);
                }
                Ok(None) => return,
                Err(_) => {
                    // The guardian is gone: nobody to tell any more.
                    self.pipe = None;
                    self.pending = Vec::new();
                    return;
                }
            }
        }
    }
}

impl Guardian {
    /// Writes what is still queued, waiting up to `limit` for a pipe the guardian has not
    /// emptied yet, then closes runall's end (the guardian's EOF). A `Forget` left unsent would
    /// make the guardian kill a group whose leader runall already reaped, so the last records
    /// are worth a short wait; the wait is bounded, as the guardian may be stopped.
    pub fn finish(mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        self.flush();
        while self.pipe.is_some() && !self.pending.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            self.flush();
        }
    }
}

/// The guardian process's main: read messages until EOF, then kill what is left of the run.
/// Returns the exit code (0).
pub fn main() -> u8 {
    sys::guardian_setup();
    let mut known = Known::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match sys::read_stdin(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                let Some((messages, used)) = decode(&buf) else {
                    // Not runall on the other end: kill nothing of what we were told since.
                    buf.clear();
                    continue;
                };
                buf.drain(..used);
                for message in messages {
                    known.apply(message);
                }
            }
        }
    }
    sweep(&known);
    cancel(&known);
    0
}

/// Runs the cancel commands of launched envs runall left behind (their local clients were
/// just killed by the sweep, which ends most jobs; these remove what the cluster still holds),
/// all at once, waiting at most [`CANCEL_WAIT`] for them.
fn cancel(known: &Known) {
    let mut children = Vec::new();
    for (argv, vars) in known.cancels.values() {
        let Some((program, args)) = argv.split_first() else {
            continue;
        };
        let spawned = std::process::Command::new(program)
            .args(args)
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Ok(child) = spawned {
            children.push(child);
        }
    }
    let deadline = Instant::now() + CANCEL_WAIT;
    while !children.is_empty() && Instant::now() < deadline {
        children.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
        std::thread::sleep(SWEEP_PAUSE);
    }
}

/// Kill every process of the run, again and again until a scan of /proc finds none alive
/// (or `SWEEP_LIMIT` passed).
fn sweep(known: &Known) {
    for &pgid in &known.groups {
        sys::signal_group(pgid, libc::SIGKILL);
    }
    let me = std::process::id() as i32;
    let deadline = Instant::now() + SWEEP_LIMIT;
    loop {
        let mut found = 0;
        for pid in sys::pids() {
            if pid == me {
                continue;
            }
            let environ = || std::fs::read(format!("/proc/{pid}/environ")).ok();
            // Its stat is needed to place it in a known group or session, or to check a known
            // pid's identity; otherwise (after a normal end: nothing known but the run id)
            // its environment decides, and stat is read only to kill it.
            let process = if known.groups.is_empty() && !known.pids.contains_key(&pid) {
                if !known.carries_run_id(environ()) {
                    continue;
                }
                sys::proc_stat(pid)
            } else {
                sys::proc_stat(pid).filter(|process| known.owns(process, environ))
            };
            if let Some(process) = process.filter(|p| !p.is_dead()) {
                found += 1;
                sys::kill_if_started_at(pid, process.start);
            }
        }
        if found == 0 || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(SWEEP_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last records reach a guardian that empties the pipe late (here: a full pipe that
    /// a reader starts draining 50 ms after runall's end began), instead of being dropped.
    #[test]
    fn the_last_records_wait_for_a_full_pipe_within_the_limit() {
        let (read, write) = sys::guardian_pipe().expect("pipe");
        // Fill the pipe until it takes no more.
        let filler = [TAG_GROUP; RECORD];
        let mut in_pipe = 0usize;
        while rustix::io::write(&write, &filler).is_ok() {
            in_pipe += RECORD;
        }
        let mut g = Guardian {
            pid: 0,
            pipe: Some(write),
            pending: Vec::new(),
        };
        g.send(&Message::Forget(4242));
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let mut all = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match rustix::io::read(&read, &mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => all.extend_from_slice(&chunk[..n]),
                }
            }
            all
        });
        g.finish(Duration::from_secs(30));
        let all = reader.join().expect("reader");
        assert_eq!(all.len(), in_pipe + RECORD);
        let (messages, _) = decode(&all[in_pipe..]).expect("records");
        assert_eq!(messages, vec![Message::Forget(4242)]);
    }

    fn stat(pid: i32, group: i32, session: i32, state: char, start: u64) -> sys::ProcStat {
        sys::ProcStat {
            pid,
            state,
            pgid: group,
            sid: session,
            start,
        }
    }

    #[test]
    fn messages_round_trip_and_partial_records_wait() {
        let messages = [
            Message::RunId(b"abc-123".to_vec()),
            Message::Group(4242),
            Message::Pid {
                pid: 77,
                start: u64::MAX - 3,
            },
            Message::Forget(4242),
            Message::Cancel {
                env: 3,
                argv: vec!["scancel".into(), "--name=r-1-unit".into()],
                vars: vec![("SLURM_CONF".into(), "/etc/a=b.conf".into())],
            },
            Message::Cancel {
                env: 4,
                argv: vec!["true".into()],
                vars: Vec::new(),
            },
            Message::Cancelled(3),
        ];
        let mut bytes = Vec::new();
        for m in &messages {
            encode(m, &mut bytes);
        }
        assert_eq!(decode(&bytes), Some((messages.to_vec(), bytes.len())));
        // Cut anywhere: only whole messages come out, the rest waits.
        for cut in 0..bytes.len() {
            let (got, used) = decode(&bytes[..cut]).expect("valid prefix");
            assert!(used <= cut);
            assert_eq!(got, messages[..got.len()].to_vec(), "cut at {cut}");
            let (rest, _) = decode(&bytes[used..]).expect("valid rest");
            assert_eq!([got, rest].concat(), messages.to_vec());
        }
        assert_eq!(decode(b"Zxxxxxxxxxxxx"), None);
    }

    #[test]
    fn the_run_is_known_by_group_session_pid_identity_and_run_id() {
        let mut known = Known::default();
        for m in [
            Message::RunId(b"run-1".to_vec()),
            Message::Group(100),
            Message::Group(200),
            Message::Forget(200),
            Message::Pid { pid: 300, start: 5 },
            Message::Group(1),
        ] {
            known.apply(m);
        }
        let no_env = || None;
        assert!(known.owns(&stat(101, 100, 100, 'S', 0), no_env), "group");
        assert!(known.owns(&stat(102, 102, 100, 'R', 0), no_env), "session");
        assert!(
            !known.owns(&stat(201, 200, 200, 'S', 0), no_env),
            "forgotten"
        );
        assert!(known.owns(&stat(300, 300, 300, 'S', 5), no_env), "same pid");
        assert!(
            !known.owns(&stat(300, 300, 300, 'S', 6), no_env),
            "a recycled pid (other start time)"
        );
        assert!(
            !known.owns(&stat(2, 1, 1, 'S', 0), no_env),
            "init's group is never taken"
        );
        assert!(
            !known.owns(&stat(101, 100, 100, 'Z', 0), no_env),
            "a zombie is already dead"
        );
        let env = |e: &[u8]| {
            let e = e.to_vec();
            move || Some(e)
        };
        let stranger = stat(400, 400, 400, 'S', 0);
        assert!(known.owns(&stranger, env(b"A=1\0RUNALL_RUN_ID=run-1\0B=2\0")));
        assert!(!known.owns(&stranger, env(b"RUNALL_RUN_ID=run-10\0")));
        assert!(!known.owns(&stranger, env(b"X_RUNALL_RUN_ID=run-1\0")));
        assert!(!known.owns(&stranger, no_env));
    }

    #[test]
    fn cancel_commands_are_kept_until_cancelled() {
        let mut known = Known::default();
        let cancel = |env: i32, word: &str| Message::Cancel {
            env,
            argv: vec![word.to_owned()],
            vars: Vec::new(),
        };
        for m in [
            cancel(1, "a"),
            cancel(2, "b"),
            cancel(1, "c"),
            Message::Cancelled(2),
        ] {
            known.apply(m);
        }
        let left: Vec<&str> = known
            .cancels
            .values()
            .map(|(argv, _)| argv[0].as_str())
            .collect();
        assert_eq!(left, ["c"], "the latest of env 1; env 2 cancelled");
    }
}
