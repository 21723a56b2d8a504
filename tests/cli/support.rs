//! Test support: a temporary project with a `runall.toml`, the real binary run in it with a
//! deadline, and the global invariants (no process of the run left alive afterwards).

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound for anything a test waits for: CI is a loaded 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A temporary folder with a runall.toml.
pub struct Project {
    dir: tempfile::TempDir,
    /// Unique tag in the environment of runall and so of every child, to find leftovers.
    pub tag: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Pids this test process spawned itself (and so reaps itself). Any other zombie child of the
/// test process is an orphan runall left unreaped: the test process is a subreaper, so
/// whatever runall leaves behind is re-parented here, where the checks can see it.
static SPAWNED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);
static SUBREAPER: Once = Once::new();

/// Spawn a child of the test process, remembering it as ours.
pub fn spawn_tracked(cmd: &mut Command) -> Child {
    SUBREAPER.call_once(|| {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .expect("become a subreaper");
    });
    let mut spawned = SPAWNED.lock().expect("registry");
    let child = cmd.spawn().expect("spawn");
    spawned.get_or_insert_with(HashSet::new).insert(child.id());
    child
}

/// `Command::output`, tracked.
pub fn output_of(cmd: &mut Command) -> Output {
    let child = spawn_tracked(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
    child.wait_with_output().expect("wait")
}

/// Zombie children of the test process that it did not spawn itself (tmux servers, which
/// daemonize, excepted). Each is reaped so it is reported once.
fn orphan_zombies() -> Vec<(i32, String)> {
    let spawned = SPAWNED
        .lock()
        .expect("registry")
        .clone()
        .unwrap_or_default();
    let mut zombies = Vec::new();
    // The library's own /proc readers: the test process's children, and their state.
    for pid in runall::runner::sys::children() {
        let Some(info) = runall::runner::sys::proc_info(pid) else {
            continue;
        };
        // A zombie has no command line: `command` is its comm name.
        // The Slurm harness's daemons (slurmctld, slurmd, slurmstepd, munged) and what they
        // fork are re-parented here when the harness stops them (slurmd was forked by
        // `unshare --kill-child`, slurmstepd daemonizes).
        let expected = info.command.starts_with("tmux")
            || info.command.starts_with("orphan-ok")
            || info.command.starts_with("slurm")
            || info.command == "munged";
        if info.state == 'Z' && info.command == "runall-guardian" {
            // runall's guardian outlives runall by design (it exits once runall has), so it
            // is re-parented here, as it would be to init, and reaped here.
            let _ = rustix::process::waitpid(
                rustix::process::Pid::from_raw(pid),
                rustix::process::WaitOptions::NOHANG,
            );
            continue;
        }
        if info.state == 'Z' && !spawned.contains(&(pid as u32)) && !expected {
            let _ = rustix::process::waitpid(
                rustix::process::Pid::from_raw(pid),
                rustix::process::WaitOptions::NOHANG,
            );
            zombies.push((pid, info.command));
        }
    }
    zombies
}

/// Tests that leave processes to the test process on purpose (runall SIGKILLed, so its
/// children are re-parented here; the Slurm harness's daemons and what they fork) hold this
/// for writing while they run: the zombie check of every other test waits for them, so an
/// orphan of theirs is never blamed on another test's runall.
static ORPHAN_MAKERS: std::sync::RwLock<()> = std::sync::RwLock::new(());

thread_local! {
    static MAKING_ORPHANS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Held by a test that leaves orphans to the test process (see [`ORPHAN_MAKERS`]).
pub struct OrphanMaker(
    #[allow(dead_code, reason = "held for its drop")] std::sync::RwLockWriteGuard<'static, ()>,
);

impl Drop for OrphanMaker {
    fn drop(&mut self) {
        reap_orphans();
        MAKING_ORPHANS.with(|m| m.set(false));
    }
}

/// Marks this test as one that leaves orphans to the test process, until the guard drops.
pub fn orphans_expected() -> OrphanMaker {
    let guard = ORPHAN_MAKERS
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    MAKING_ORPHANS.with(|m| m.set(true));
    OrphanMaker(guard)
}

/// Reap orphans without complaint (after runall was SIGKILLed, its children are ours).
pub fn reap_orphans() {
    let _ = orphan_zombies();
}

impl Project {
    pub fn new(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("runall.toml"), config).expect("write config");
        let tag = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        Self { dir, tag }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `./orphan-ok-sh` and `./orphan-ok-sleep` in the project: for tests where runall is
    /// meant to exit without reaping (SIGKILL, third Ctrl-C), so that the orphans this test
    /// process reaps are not mistaken, by concurrent tests, for zombies runall forgot.
    pub fn add_orphan_ok_tools(&self) {
        for (name, target) in [
            ("orphan-ok-sh", "/bin/sh"),
            ("orphan-ok-sleep", "/usr/bin/sleep"),
        ] {
            std::os::unix::fs::symlink(target, self.path().join(name)).expect("symlink");
        }
    }

    /// The runall command, in the project folder, tagged.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runall"));
        cmd.args(args)
            .current_dir(self.path())
            .env("RUNALL_TEST_TAG", &self.tag)
            .env_remove("NO_COLOR")
            .env_remove("GITHUB_ACTIONS")
            .stdin(Stdio::null());
        cmd
    }

    /// Run to completion within `PATIENCE`; checks that no tagged process survives.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// [`Self::run`] with extra environment variables.
    pub fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let started = Instant::now();
        let mut command = self.command(args);
        command.envs(vars.iter().copied());
        let mut child = spawn_tracked(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
        let out = Capture::start(child.stdout.take().expect("stdout"));
        let err = Capture::start(child.stderr.take().expect("stderr"));
        let status = wait_deadline(&mut child, PATIENCE);
        let run = Run {
            status,
            stdout: out.finish(),
            stderr: err.finish(),
            elapsed: started.elapsed(),
        };
        self.assert_no_survivors();
        run
    }

    /// Start runall with piped output, to signal it while it runs.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with(args, &[])
    }

    /// [`Self::spawn`] with extra environment variables.
    pub fn spawn_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Running {
        let mut command = self.command(args);
        command.envs(vars.iter().copied());
        let mut child = spawn_tracked(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
        let out = Capture::start(child.stdout.take().expect("stdout"));
        let err = Capture::start(child.stderr.take().expect("stderr"));
        Running {
            child,
            out,
            err,
            started: Instant::now(),
        }
    }

    pub fn log(&self, env: &str) -> Vec<u8> {
        fs::read(self.log_path(env)).unwrap_or_else(|e| panic!("read log of {env}: {e}"))
    }

    pub fn log_path(&self, env: &str) -> PathBuf {
        self.path().join(".runall/logs").join(format!("{env}.log"))
    }

    /// Global invariants: no process carrying this test's tag is alive (waits up to 5 s for
    /// processes that are already dying), and runall left no unreaped child behind.
    pub fn assert_no_survivors(&self) {
        // Not while another test is leaving orphans here on purpose (see `ORPHAN_MAKERS`).
        let zombies = if MAKING_ORPHANS.with(std::cell::Cell::get) {
            orphan_zombies()
        } else {
            let _others_done = ORPHAN_MAKERS
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            orphan_zombies()
        };
        assert!(zombies.is_empty(), "runall left zombies: {zombies:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let alive = tagged_processes(&self.tag);
            if alive.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                for &pid in &alive {
                    unsafe_free_kill(pid);
                }
                panic!("processes of this run survived runall: {alive:?}");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A finished run.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn signal(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(&self.status)
    }
    /// Assert the exit code, showing the output when it is wrong.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// A runall still running.
pub struct Running {
    pub child: Child,
    pub out: Capture,
    pub err: Capture,
    pub started: Instant,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Wait until stdout contains `needle`.
    pub fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.out.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; stdout so far:\n{}\nstderr:\n{}",
                self.out.text(),
                self.err.text()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY-free: libc::kill is safe to call with any pid/signal; tests only.
        unsafe_free_signal(self.pid(), signal);
    }

    /// Wait for exit (within PATIENCE) and collect.
    pub fn finish(mut self) -> Run {
        let status = wait_deadline(&mut self.child, PATIENCE);
        Run {
            status,
            stdout: self.out.finish(),
            stderr: self.err.finish(),
            elapsed: self.started.elapsed(),
        }
    }
}

/// Collects a pipe on a thread.
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Capture {
    pub fn start(mut reader: impl Read + Send + 'static) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let thread = thread::spawn(move || {
            let mut chunk = vec![0u8; 65536];
            loop {
                match reader.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .expect("capture lock")
                        .extend_from_slice(&chunk[..n]),
                }
            }
        });
        Self {
            buf,
            thread: Some(thread),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("capture lock")).into_owned()
    }

    pub fn finish(mut self) -> Vec<u8> {
        if let Some(t) = self.thread.take() {
            t.join().expect("capture thread");
        }
        std::mem::take(&mut *self.buf.lock().expect("capture lock"))
    }
}

fn wait_deadline(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait runall") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runall did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Pids whose environment holds `RUNALL_TEST_TAG=<tag>` (runall itself and its children).
pub fn tagged_processes(tag: &str) -> Vec<i32> {
    let needle = format!("RUNALL_TEST_TAG={tag}");
    runall::runner::sys::pids()
        .into_iter()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|e| e == needle.as_bytes()))
        })
        .collect()
}

fn unsafe_free_signal(pid: i32, signal: i32) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).expect("pid > 0"),
        rustix::process::Signal::from_named_raw(signal).expect("known signal"),
    );
}

fn unsafe_free_kill(pid: i32) {
    unsafe_free_signal(pid, libc::SIGKILL);
}

/// Output of `sh -c script` run directly (the reference bytes), stdout then stderr merged
/// through one pipe like runall's default.
pub fn reference_output(script: &str) -> Vec<u8> {
    output_of(
        Command::new("sh")
            .arg("-c")
            .arg(format!("({script}) 2>&1"))
            .stdin(Stdio::null()),
    )
    .stdout
}

/// TOML basic-string escaping for embedding shell scripts in test configs.
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A config with one shell-command env per `(name, script)`.
pub fn config_of(envs: &[(&str, &str)]) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for (name, script) in envs {
        let _ = write!(text, "[env.{name}]\ncommands = [{}]\n\n", toml_str(script));
    }
    text
}

/// The summary table row of `env` (the last line starting with its name).
pub fn summary_row(out: &str, env: &str) -> String {
    out.lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(env))
        .unwrap_or_else(|| panic!("no summary row for {env} in\n{out}"))
        .to_owned()
}

/// The folder holding the pinned Python tools (tox, pytest, `.ci/python-requirements.txt`) in a
/// virtualenv at `target/pyenv`. `.ci/run` installs them before the tests; when they are
/// missing (a plain `cargo test` on a fresh machine) the first test that needs them installs
/// them the same way, and a machine where that fails makes the test fail loudly, never pass.
pub fn python_tools() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = root.join("target/pyenv");
    let bin = env.join("bin");
    let _one_at_a_time = INSTALL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !(bin.join("tox").is_file() && bin.join("pytest").is_file()) {
        let requirements = root.join(".ci/python-requirements.txt");
        for (program, args) in [
            (
                "python3",
                vec!["-m".into(), "venv".into(), env.clone().into_os_string()],
            ),
            (
                bin.join("python").to_str().expect("UTF-8 path"),
                vec![
                    "-m".into(),
                    "pip".into(),
                    "install".into(),
                    "-q".into(),
                    "--disable-pip-version-check".into(),
                    "-r".into(),
                    requirements.clone().into_os_string(),
                ],
            ),
        ] {
            let out = Command::new(program)
                .args(&args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {program} to install tox and pytest: {e}"));
            assert!(
                out.status.success(),
                "installing tox and pytest into {} failed ({program} {args:?}): {}{}",
                env.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    bin
}

/// `PATH` with the pinned Python tools first, for a runall that runs tox or pytest.
pub fn path_with_python_tools() -> String {
    let mut path = python_tools().into_os_string();
    if let Some(rest) = std::env::var_os("PATH") {
        path.push(":");
        path.push(rest);
    }
    path.into_string().expect("PATH is UTF-8")
}
