//! Process creation at the OS level: the `clone(CLONE_VM | CLONE_VFORK)` spawn of an env's
//! command into its own session (the child's steps between `clone` and `execve`, its own
//! stack, the `PATH` search and the environment) and of the guardian, with the errors named
//! as a shell would. Like the rest of [`super`], the only place (with it) allowed `unsafe`:
//! each block has a `// SAFETY:` comment.

use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use super::{reap, set_nonblocking};

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

/// The signals the guardian ignores from its first instruction on, as a mask (bit `n - 1` for
/// signal `n`, made in the parent: the child may not allocate): every signal that would kill
/// runall ([`crate::runner::fatal::fatal_signals`], the one list) and the terminal's
/// job-control and window signals. It must only ever end at EOF, or by SIGKILL.
fn guardian_ignores() -> u64 {
    crate::runner::fatal::fatal_signals()
        .into_iter()
        .chain([
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGPIPE,
            libc::SIGWINCH,
        ])
        .filter(|&sig| (1..=64).contains(&sig))
        .fold(0, |mask, sig| mask | 1 << (sig - 1))
}

/// What to start: the program (a path, or a name looked up in `PATH`), its argument vector
/// (`argv[0]` first), the variables to set on top of runall's environment, the working
/// directory and the write ends for stdout and stderr (the same pipe when merged).
pub struct SpawnSpec<'a> {
    /// As configured: `/bin/sh`, `./run-tests` or `pytest` (searched in `PATH`).
    pub program: &'a OsStr,
    /// The whole argument vector, `argv[0]` included.
    pub argv: Vec<&'a OsStr>,
    /// Set (or replace) these in the inherited environment.
    pub env: Vec<(&'a OsStr, &'a OsStr)>,
    /// The child's working directory.
    pub cwd: &'a Path,
    /// Becomes fd 1.
    pub stdout: OwnedFd,
    /// Becomes fd 2.
    pub stderr: OwnedFd,
    /// Becomes fd 0; `None`: `/dev/null`.
    pub stdin: Option<OwnedFd>,
    /// fd 0 is a terminal's slave side that becomes the child's controlling terminal
    /// (`TIOCSCTTY` right after `setsid`, so the new session owns it).
    pub controlling_terminal: bool,
    /// `--attach`: stay in runall's session (its terminal is runall's), in a process group
    /// of its own that becomes the terminal's foreground group, if runall's group was.
    pub foreground: bool,
}

/// Where a spawn failed in the child, for the message.
const STEP_SETSID: i32 = 1;
const STEP_DUP: i32 = 2;
const STEP_CHDIR: i32 = 3;
const STEP_EXEC: i32 = 4;
const STEP_CTTY: i32 = 5;

/// Everything the child needs, prepared by the parent: the child may not allocate, lock or
/// unwind (it shares runall's memory until it execs), so it only reads this.
struct ChildContext {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    /// `sh path args…`, for a file execve refuses with ENOEXEC (no `#!`).
    sh_argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    cwd: *const libc::c_char,
    /// Source fds for 0, 1, 2, all above 2 (so no `dup2` overwrites another's source).
    stdio: [RawFd; 3],
    /// runall's pid, to notice a parent that died before `PR_SET_PDEATHSIG` took effect.
    parent: libc::pid_t,
    /// The guardian: no `PR_SET_PDEATHSIG` (it must outlive runall).
    guardian: bool,
    /// Make fd 0 (a terminal) the controlling terminal after the stdio `dup2`s.
    ctty: bool,
    /// A group of its own in runall's session instead of a new session, given the
    /// terminal's foreground (`--attach`).
    foreground: bool,
    /// Signals set to ignored instead of default (bit `n - 1` for signal `n`; an ignored
    /// disposition survives exec): [`guardian_ignores`] for the guardian, none for an env.
    ignore: u64,
    /// Written by the child on failure: which step, and its errno.
    step: AtomicI32,
    errno: AtomicI32,
}

/// Size of the child's stack: it runs a dozen libc calls and nothing else.
const CHILD_STACK: usize = 64 * 1024;

/// Start a process in its own session (its pid is its process group id; no controlling
/// terminal), with default signal dispositions, stdin from /dev/null, and killed if runall
/// dies (`PR_SET_PDEATHSIG`). Returns its pid.
///
/// This is a `posix_spawn`-style `clone(CLONE_VM | CLONE_VFORK)`: the child borrows runall's
/// memory until it execs instead of copying its page tables (`fork`), which made spawning
/// the runner's main cost with many short envs; unlike `posix_spawn` it can still ask for
/// `PR_SET_PDEATHSIG`. Errors name the program and the OS error, as a shell would.
pub fn spawn(spec: SpawnSpec<'_>) -> Result<i32, String> {
    // As the user wrote it (`sh` for shell commands, which run /bin/sh by path).
    let program_name = spec.argv.first().unwrap_or(&spec.program).to_string_lossy();
    let nul = |what: &str| format!("{program_name}: {what} contains a NUL byte");
    let env = child_env(&spec.env);
    let path = resolve_program(spec.program, spec.cwd, &env)?;
    let path = CString::new(path.into_vec()).map_err(|_| nul("the program"))?;
    let argv = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| nul("an argument"))?;
    let envp = env
        .iter()
        .map(|(k, v)| {
            let mut kv = Vec::with_capacity(k.len() + v.len() + 1);
            kv.extend_from_slice(k.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| nul("the environment"))?;
    let cwd = CString::new(spec.cwd.as_os_str().as_bytes()).map_err(|_| nul("the directory"))?;
    let argv_ptrs = null_terminated(&argv);
    let envp_ptrs = null_terminated(&envp);
    // A file without `#!` is run by /bin/sh, as execvp(3) does (execve says ENOEXEC): `sh`,
    // the resolved path, then the arguments after argv[0].
    let sh_argv: Vec<*const libc::c_char> = [c"sh".as_ptr(), path.as_ptr()]
        .into_iter()
        .chain(argv.iter().skip(1).map(|a| a.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let io_error = |what: &str, e: rustix::io::Errno| {
        format!("{program_name}: {what}: {}", strip_os_error(&e.into()))
    };
    let devnull = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io_error("/dev/null", e))?;
    // Sources above 2, so that dup2-ing one onto 0, 1 or 2 never overwrites another source
    // (runall itself may have been started with a standard fd closed).
    let high = |fd: OwnedFd| -> Result<OwnedFd, String> {
        if fd.as_raw_fd() > 2 {
            Ok(fd)
        } else {
            rustix::io::fcntl_dupfd_cloexec(&fd, 3).map_err(|e| io_error("dup", e))
        }
    };
    let stdin = high(spec.stdin.unwrap_or(devnull))?;
    let stdout = high(spec.stdout)?;
    let stderr = high(spec.stderr)?;
    let context = ChildContext {
        path: path.as_ptr(),
        argv: argv_ptrs.as_ptr(),
        sh_argv: sh_argv.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: cwd.as_ptr(),
        stdio: [stdin.as_raw_fd(), stdout.as_raw_fd(), stderr.as_raw_fd()],
        parent: std::process::id() as libc::pid_t,
        guardian: false,
        ctty: spec.controlling_terminal,
        foreground: spec.foreground,
        ignore: 0,
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    let stack = ChildStack::new().map_err(|e| {
        format!(
            "{program_name}: cannot start a process: {}",
            strip_os_error(&e)
        )
    })?;
    let pid = clone_child(&context, &stack);
    drop(stack);
    let pid = pid.map_err(|e| {
        format!(
            "{program_name}: cannot start a process: {}",
            strip_os_error(&e)
        )
    })?;
    let step = context.step.load(Ordering::Acquire);
    if step == 0 {
        return Ok(pid);
    }
    // The child has already _exited: reap it so no zombie is left.
    let _ = reap(pid);
    let errno = context.errno.load(Ordering::Acquire);
    let error = strip_os_error(&io::Error::from_raw_os_error(errno));
    Err(match step {
        STEP_SETSID => format!("{program_name}: setsid: {error}"),
        STEP_DUP => format!("{program_name}: redirecting stdio: {error}"),
        STEP_CTTY => format!("{program_name}: taking the terminal (TIOCSCTTY): {error}"),
        STEP_CHDIR => format!("working directory {}: {error}", spec.cwd.display()),
        // ENOENT for a file that is there: what is missing is the interpreter of its `#!`
        // line (execve reports that as the script's own ENOENT).
        _ if errno == libc::ENOENT
            && let Some(interpreter) =
                shebang_interpreter(&spec.cwd.join(OsStr::from_bytes(path.as_bytes()))) =>
        {
            format!("{program_name}: {interpreter}: bad interpreter: {error}")
        }
        _ => format!("{program_name}: {error}"),
    })
}

/// The pipe to the guardian: (read end for the guardian, write end for runall), both
/// `O_CLOEXEC` (so no env inherits either), the write end nonblocking (runall must never wait
/// for the guardian).
pub fn guardian_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    set_nonblocking(&write)?;
    Ok((read, write))
}

/// Start the guardian: runall's own binary (`/proc/self/exe`, so even a binary replaced on
/// disk meanwhile is the same program) with `argv[1]` =
/// [`crate::runner::guardian::MARKER`], spawned like an env (own session, no controlling
/// terminal, the parent's memory borrowed until exec) but without `PR_SET_PDEATHSIG`, with the
/// terminal and job-control signals ignored, stdin = a copy of `stdin` (the pipe's read end),
/// stdout and stderr `/dev/null`, in `/`.
pub fn spawn_guardian(stdin: &OwnedFd) -> io::Result<i32> {
    let marker = CString::new(crate::runner::guardian::MARKER).map_err(io::Error::other)?;
    let argv = [
        c"runall-guardian".as_ptr(),
        marker.as_ptr(),
        std::ptr::null(),
    ];
    // Not the run's tags: when runall runs inside an env of another runall, an outer guardian
    // finds its run's processes by `RUNALL_RUN_ID`, and must not take this guardian (which
    // still has this run to clean up) for one of them.
    let envp = child_env(&[])
        .into_iter()
        .filter(|(k, _)| k != "RUNALL_RUN_ID" && k != "RUNALL_ENV")
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect::<Vec<_>>();
    let envp_ptrs = null_terminated(&envp);
    let devnull = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    let high = |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 3);
    let (stdin, out, err) = (high(stdin)?, high(&devnull)?, high(&devnull)?);
    let context = ChildContext {
        path: c"/proc/self/exe".as_ptr(),
        argv: argv.as_ptr(),
        sh_argv: argv.as_ptr(),
        envp: envp_ptrs.as_ptr(),
        cwd: c"/".as_ptr(),
        stdio: [stdin.as_raw_fd(), out.as_raw_fd(), err.as_raw_fd()],
        parent: std::process::id() as libc::pid_t,
        guardian: true,
        ctty: false,
        foreground: false,
        ignore: guardian_ignores(),
        step: AtomicI32::new(0),
        errno: AtomicI32::new(0),
    };
    let stack = ChildStack::new()?;
    let pid = clone_child(&context, &stack)?;
    drop(stack);
    if context.step.load(Ordering::Acquire) == 0 {
        return Ok(pid);
    }
    let _ = reap(pid);
    Err(io::Error::from_raw_os_error(
        context.errno.load(Ordering::Acquire),
    ))
}

/// The interpreter named by the `#!` line of the file at `path`, through the sanitiser (it is
/// printed; a `#!` line can hold anything), or `None` if the file cannot be read or has no
/// `#!` line. Reads what the kernel reads: the first 256 bytes.
fn shebang_interpreter(path: &Path) -> Option<String> {
    let mut head = [0u8; 256];
    let mut file = fs::File::open(path).ok()?;
    let n = io::Read::read(&mut file, &mut head).ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    let word = &line[start..];
    let word = &word[..word
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(word.len())];
    Some(crate::sanitize::text(word))
}

/// Start `child_main` in a `CLONE_VM | CLONE_VFORK` child on `stack`, with every signal
/// blocked around it; returns once the child has exec'd or exited.
fn clone_child(context: &ChildContext, stack: &ChildStack) -> io::Result<i32> {
    // SAFETY: sigset_t is plain data; sigfillset/pthread_sigmask only write the sets given.
    let old_mask = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&raw mut all);
        // Block every signal while the child shares our memory: a handler of runall's must
        // never run in the child (it would write to runall's signal pipe).
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const all, &raw mut old);
        old
    };
    // SAFETY: CLONE_VFORK suspends this thread until the child has exec'd or exited, so
    // `context`, the strings it points to and `stack` outlive every use by the child;
    // `child_main` only makes async-signal-safe calls (raw syscalls), never allocates, locks
    // or unwinds, and ends in execve or _exit. CLONE_VM without CLONE_FILES gives the child its
    // own fd table; CLONE_SIGHAND is not set, so its signal dispositions are its own too.
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(context).cast_mut().cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old_mask, std::ptr::null_mut());
    }
    if pid < 0 { Err(clone_error) } else { Ok(pid) }
}

/// The child's stack: its own mapping with a guard page below it, so that an overflow in the
/// child (which shares runall's memory) faults instead of overwriting runall's heap.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    fn new() -> io::Result<Self> {
        let guard = rustix::param::page_size();
        let len = CHILD_STACK + guard;
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Self { base, len };
        // SAFETY: the lowest page of the mapping just made is ours; PROT_NONE makes it a guard.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The highest address, 16-byte aligned: the stack grows down on every Linux target
    /// runall supports.
    fn top(&self) -> *mut libc::c_void {
        self.base.wrapping_byte_add(self.len & !15)
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`, which nothing uses any more (the
        // child has exec'd or exited before `clone` returned).
        unsafe {
            libc::munmap(self.base, self.len);
        }
    }
}

/// The child, between `clone` and `execve`, on its own stack inside runall's memory.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `ChildContext`, alive until this child execs or exits
    // (CLONE_VFORK). Every call below is a thin wrapper of one system call (none allocates or
    // locks: safe between clone and exec). The child writes no shared memory but the two
    // atomics and `errno`, which is the parent thread's (a raw clone shares its TLS); the
    // parent reads `errno` only when clone itself failed, when no child ran.
    unsafe {
        let context = &*arg.cast::<ChildContext>();
        let fail = |step: i32| -> ! {
            let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            context.errno.store(errno, Ordering::Release);
            context.step.store(step, Ordering::Release);
            libc::_exit(127)
        };
        if context.foreground {
            // runall's terminal, handed over: a group of its own (pgid = pid, so the ladder
            // and the sweeps work as for a session) that takes the foreground if runall's
            // group had it. Every signal is still blocked here, so SIGTTOU cannot stop it.
            let runall_group = libc::getpgrp();
            if libc::setpgid(0, 0) < 0 {
                fail(STEP_SETSID);
            }
            if libc::isatty(0) == 1 && libc::tcgetpgrp(0) == runall_group {
                libc::tcsetpgrp(0, libc::getpid());
            }
        } else if libc::setsid() < 0 {
            fail(STEP_SETSID);
        }
        // Default dispositions: for the signals a child must start with at default whatever
        // runall inherited, and for every signal runall handles (its handlers are runall's
        // code; exec would reset them too, but signals are unblocked before exec). Asked of
        // every signal here, not from a list made once: a handler installed later (the TUI's,
        // a library's) must not run in a child that shares runall's memory. ~64 cheap calls.
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &raw mut old) != 0 {
                continue;
            }
            let handled = old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN;
            if context.ignore & (1 << (sig - 1)) != 0 {
                let mut ignore: libc::sigaction = std::mem::zeroed();
                ignore.sa_sigaction = libc::SIG_IGN;
                libc::sigaction(sig, &raw const ignore, std::ptr::null_mut());
            } else if handled || RESET_SIGNALS.contains(&sig) {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &raw const default, std::ptr::null_mut());
            }
        }
        if !context.guardian {
            // Linux: die with runall even if it is SIGKILLed. This fires when the spawning
            // *thread* exits, which is why the runner thread lives for the whole run.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            if libc::getppid() != context.parent {
                // runall died before prctl: PDEATHSIG will never fire.
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
        for (target, source) in context.stdio.iter().enumerate() {
            if libc::dup2(*source, target as libc::c_int) < 0 {
                fail(STEP_DUP);
            }
        }
        // A tty env: the slave, now fd 0, becomes the controlling terminal of the session
        // made above (its foreground group is this process's, so ^C there is SIGINT here).
        if context.ctty && libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
            fail(STEP_CTTY);
        }
        if libc::chdir(context.cwd) < 0 {
            fail(STEP_CHDIR);
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &raw const none, std::ptr::null_mut());
        libc::execve(context.path, context.argv, context.envp);
        if io::Error::last_os_error().raw_os_error() == Some(libc::ENOEXEC) {
            libc::execve(c"/bin/sh".as_ptr(), context.sh_argv, context.envp);
            // Report the program's own error, not the shell's.
            *libc::__errno_location() = libc::ENOEXEC;
        }
        fail(STEP_EXEC)
    }
}

/// Pointers to `strings`, then a null pointer (`argv` / `envp` for execve).
fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// runall's environment with `overrides` set on top (a later override wins).
fn child_env<'a>(overrides: &[(&'a OsStr, &'a OsStr)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    for &(key, value) in overrides {
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => env.push((key.to_owned(), value.to_owned())),
        }
    }
    env
}

/// The file to exec: `program` itself if it names a path (relative to `cwd`), else the first
/// executable `program` in the child's `PATH`, as execvp(3) would search it.
fn resolve_program(
    program: &OsStr,
    cwd: &Path,
    env: &[(OsString, OsString)],
) -> Result<OsString, String> {
    let not_found = || {
        format!(
            "{}: {}",
            program.to_string_lossy(),
            strip_os_error(&io::Error::from_raw_os_error(libc::ENOENT))
        )
    };
    if program.is_empty() {
        return Err(not_found());
    }
    if program.as_bytes().contains(&b'/') {
        return Ok(program.to_owned());
    }
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or_else(|| OsString::from("/bin:/usr/bin"), |(_, v)| v.clone());
    let mut fallback = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir = Path::new(OsStr::from_bytes(if dir.is_empty() { b"." } else { dir }));
        // Absolute, so it means the same after the child's chdir as here.
        let Ok(candidate) = std::path::absolute(cwd.join(dir).join(program)) else {
            continue;
        };
        let Ok(meta) = fs::metadata(&candidate) else {
            continue;
        };
        let executable = || {
            rustix::fs::accessat(
                rustix::fs::CWD,
                &candidate,
                rustix::fs::Access::EXEC_OK,
                rustix::fs::AtFlags::EACCESS,
            )
            .is_ok()
        };
        if meta.is_file() && executable() {
            return Ok(candidate.into_os_string());
        }
        // Not executable (or a directory): exec reports EACCES, as execvp does, unless a later
        // entry is executable.
        fallback.get_or_insert(candidate);
    }
    fallback.map(PathBuf::into_os_string).ok_or_else(not_found)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_guardian_ignores_every_fatal_signal_and_job_control_but_not_chld() {
        let mask = guardian_ignores();
        let ignored = |sig: i32| mask & (1 << (sig - 1)) != 0;
        for sig in crate::runner::fatal::fatal_signals() {
            assert!(ignored(sig), "signal {sig}");
        }
        for sig in [
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGPIPE,
            libc::SIGWINCH,
        ] {
            assert!(ignored(sig), "signal {sig}");
        }
        for sig in [libc::SIGCHLD, libc::SIGCONT, libc::SIGSEGV, libc::SIGKILL] {
            assert!(!ignored(sig), "signal {sig}");
        }
    }

    fn write_file(path: &Path, mode: u32) {
        fs::write(path, "#!/bin/sh\n").expect("write test file");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod test file");
    }

    fn path_env(dirs: &[&Path]) -> Vec<(OsString, OsString)> {
        let joined = dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        vec![("PATH".into(), joined.into())]
    }

    #[test]
    fn a_bare_name_is_searched_in_the_child_path_skipping_non_executables() {
        let root = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (
            root.path().join("a"),
            root.path().join("b"),
            root.path().join("c"),
        );
        for dir in [&a, &b, &c] {
            fs::create_dir(dir).expect("mkdir");
        }
        write_file(&a.join("tool"), 0o644);
        fs::create_dir(b.join("tool")).expect("a directory named like the tool");
        write_file(&c.join("tool"), 0o755);
        let env = path_env(&[&a, &b, &c]);
        let found = resolve_program(OsStr::new("tool"), root.path(), &env);
        assert_eq!(found, Ok(c.join("tool").into_os_string()));
        // Only a non-executable match: it is returned, so exec reports EACCES as execvp does.
        let env = path_env(&[&a, &b]);
        let found = resolve_program(OsStr::new("tool"), root.path(), &env);
        assert_eq!(found, Ok(a.join("tool").into_os_string()));
        let missing = resolve_program(OsStr::new("nope"), root.path(), &env);
        assert_eq!(missing, Err("nope: No such file or directory".to_owned()));
        // Only a directory of that name: returned too, so exec says EACCES as execvp does.
        let env = path_env(&[&b]);
        let found = resolve_program(OsStr::new("tool"), root.path(), &env);
        assert_eq!(found, Ok(b.join("tool").into_os_string()));
    }

    #[test]
    fn paths_are_not_searched_and_relative_path_entries_follow_the_cwd() {
        let root = tempfile::tempdir().expect("tempdir");
        let env = path_env(&[Path::new("/nonexistent")]);
        let given = resolve_program(OsStr::new("./run"), root.path(), &env);
        assert_eq!(given, Ok(OsString::from("./run")));
        fs::create_dir(root.path().join("bin")).expect("mkdir");
        write_file(&root.path().join("bin/tool"), 0o755);
        let env = vec![("PATH".into(), "bin".into())];
        let found = resolve_program(OsStr::new("tool"), root.path(), &env);
        assert_eq!(
            found,
            Ok(root.path().join("bin").join("tool").into_os_string())
        );
        assert!(resolve_program(OsStr::new(""), root.path(), &env).is_err());
    }

    #[test]
    fn overrides_replace_inherited_variables_and_add_new_ones() {
        let inherited: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let (key, _) = inherited
            .first()
            .expect("the test runs with an environment")
            .clone();
        let env = child_env(&[
            (key.as_os_str(), OsStr::new("replaced")),
            (OsStr::new("RUNALL_TEST_NEW"), OsStr::new("1")),
            (OsStr::new("RUNALL_TEST_NEW"), OsStr::new("2")),
        ]);
        assert_eq!(env.len(), inherited.len() + 1);
        let value = |k: &OsStr| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value(&key), Some("replaced".into()));
        assert_eq!(value(OsStr::new("RUNALL_TEST_NEW")), Some("2".into()));
    }

    #[test]
    fn spawn_runs_the_program_in_a_new_session_with_its_output_on_the_pipe() {
        let (mut reader, writer) = os_pipe::pipe().expect("pipe");
        let dir = tempfile::tempdir().expect("tempdir");
        let writer: OwnedFd = writer.into();
        let stderr = writer.try_clone().expect("dup");
        let pid = spawn(SpawnSpec {
            program: OsStr::new("/bin/sh"),
            argv: vec![
                OsStr::new("sh"),
                OsStr::new("-c"),
                OsStr::new("echo \"$X $(basename \"$PWD\")\"; cut -d' ' -f6 /proc/$$/stat; echo $$; exit 3"),
            ],
            env: vec![(OsStr::new("X"), OsStr::new("hello"))],
            cwd: dir.path(),
            stdout: writer,
            stderr,
            stdin: None,
            controlling_terminal: false,
            foreground: false,
        })
        .expect("spawn /bin/sh");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut reader, &mut out).expect("read child output");
        let (status, _) = reap(pid).expect("our child");
        assert_eq!(status.code(), Some(3));
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        let base = dir.path().file_name().expect("named").to_string_lossy();
        assert_eq!(lines[0], format!("hello {base}"));
        assert_eq!(
            lines[1],
            pid.to_string(),
            "session id is the child's pid: {out}"
        );
        assert_eq!(lines[2], pid.to_string());
    }

    /// A script without `#!` runs under /bin/sh, as execvp(3) runs it, with its arguments.
    #[test]
    fn a_file_without_a_shebang_runs_under_sh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("plain");
        fs::write(&script, "echo \"plain $1 $2\"\n").expect("write script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        let (mut reader, writer) = os_pipe::pipe().expect("pipe");
        let writer: OwnedFd = writer.into();
        let stderr = writer.try_clone().expect("dup");
        let pid = spawn(SpawnSpec {
            program: OsStr::new("./plain"),
            argv: vec![OsStr::new("./plain"), OsStr::new("a"), OsStr::new("b")],
            env: Vec::new(),
            cwd: dir.path(),
            stdout: writer,
            stderr,
            stdin: None,
            controlling_terminal: false,
            foreground: false,
        })
        .expect("a shebang-less script starts");
        let mut out = String::new();
        std::io::Read::read_to_string(&mut reader, &mut out).expect("read child output");
        assert_eq!(reap(pid).expect("our child").0.code(), Some(0));
        assert_eq!(out, "plain a b\n");
    }

    #[test]
    fn a_shebang_names_its_interpreter_made_visible() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("s");
        for (text, expected) in [
            (
                &b"#!/nonexistent/interp -x\necho\n"[..],
                Some("/nonexistent/interp"),
            ),
            (b"#!  \t/usr/bin/env python3\n", Some("/usr/bin/env")),
            (b"#!/x\x1b]0;title\x07y\x01", Some("/xy\\x01")),
            (b"#!\n", None),
            (b"echo no shebang\n", None),
        ] {
            fs::write(&script, text).expect("write script");
            assert_eq!(
                shebang_interpreter(&script).as_deref(),
                expected,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(shebang_interpreter(&dir.path().join("missing")), None);
    }

    #[test]
    fn spawn_failures_name_the_step_and_the_os_error() {
        fn spec<'a>(program: &'a str, cwd: &'a Path, writer: &OwnedFd) -> SpawnSpec<'a> {
            SpawnSpec {
                program: OsStr::new(program),
                argv: vec![OsStr::new(program)],
                env: Vec::new(),
                cwd,
                stdout: writer.try_clone().expect("dup"),
                stderr: writer.try_clone().expect("dup"),
                stdin: None,
                controlling_terminal: false,
                foreground: false,
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (_reader, writer) = os_pipe::pipe().expect("pipe");
        let writer: OwnedFd = writer.into();
        let missing = spawn(spec("/nonexistent/cmd", dir.path(), &writer));
        assert_eq!(
            missing,
            Err("/nonexistent/cmd: No such file or directory".to_owned())
        );
        let gone = dir.path().join("gone");
        let error = spawn(spec("/bin/true", &gone, &writer)).expect_err("no such directory");
        assert!(error.starts_with("working directory "), "{error}");
        assert!(error.ends_with("No such file or directory"), "{error}");
        // That the failed child is reaped is checked end to end: the CLI tests fail on any
        // zombie left behind (their process is a subreaper).
    }

    /// A tty spawn: the slave is stdin, stdout and stderr and the controlling terminal of the
    /// child's own session, its size is the one asked for, and once the child (the last slave
    /// holder) is gone the master reads EIO, which `read_chunk` calls the end.
    #[test]
    fn a_pty_child_has_the_terminal_as_its_controlling_tty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pty = super::super::open_pty(7, 33).expect("a pty");
        let slave = pty.slave;
        let pid = spawn(SpawnSpec {
            program: OsStr::new("/bin/sh"),
            argv: vec![
                OsStr::new("sh"),
                OsStr::new("-c"),
                OsStr::new(
                    "test -t 0 && test -t 1 && test -t 2 && echo tty; stty size; \
                             ps -o tty= -p $$ >/dev/null && tty",
                ),
            ],
            env: Vec::new(),
            cwd: dir.path(),
            stdout: slave.try_clone().expect("dup"),
            stderr: slave.try_clone().expect("dup"),
            stdin: Some(slave),
            controlling_terminal: true,
            foreground: false,
        })
        .expect("spawn on a pty");
        let reader = os_pipe::PipeReader::from(pty.master);
        let mut out = Vec::new();
        let mut scratch = [0u8; 4096];
        loop {
            match super::super::read_chunk(&reader, &mut scratch, 4096) {
                super::super::PipeRead::Data(bytes) => out.extend(bytes),
                super::super::PipeRead::Empty => {}
                super::super::PipeRead::Eof => break,
            }
        }
        assert_eq!(reap(pid).expect("our child").0.code(), Some(0));
        let out = String::from_utf8_lossy(&out);
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(lines[0], "tty", "{out}");
        assert_eq!(lines[1], "7 33", "{out}");
        assert_eq!(lines.get(2).copied(), Some(pty.path.as_str()), "{out}");
        assert!(
            out.contains("\r\n"),
            "the line discipline writes CR LF: {out:?}"
        );
    }
}
