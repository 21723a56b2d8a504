//! A real one-node Slurm cluster for the tests: `munged`, `slurmctld` and `slurmd` started in
//! the foreground as children of the test process (under `setpriv --pdeathsig TERM`, so they
//! die with the test thread even if it is killed; slurmd in a PID namespace of its own, see
//! [`Cluster::spawn_daemons`]), everything (config, munge key and socket,
//! state, spool, logs, pid files) in one temporary folder, the node being this host
//! (`hostname -s`) with 2 CPUs, `proctrack/linuxproc` and `task/none` (no cgroups needed).
//! [`Cluster::start`] waits for `sinfo` to say the node is idle; dropping the cluster (also
//! while a test panics) stops the daemons by pid and waits for them.
//!
//! When the daemons are missing or do not come up, `start` returns why (with the daemons'
//! logs), and the test fails with that: a machine without Slurm must not pass these tests.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long the cluster may take to come up (a loaded 2-core machine).
const START_PATIENCE: Duration = Duration::from_secs(90);

/// The daemons, their folder and the config clients need (`SLURM_CONF`).
pub struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<(&'static str, Child)>,
    conf: PathBuf,
    /// How long the cluster took from the first daemon's start to an idle node.
    pub startup: Duration,
}

impl Cluster {
    /// Starts the cluster, or says why it cannot run here.
    pub fn start() -> Result<Self, String> {
        for tool in [
            "munged",
            "munge",
            "slurmctld",
            "slurmd",
            "sinfo",
            "srun",
            "squeue",
            "scancel",
        ] {
            if which(tool).is_none() {
                return Err(format!(
                    "`{tool}` is not installed: the Slurm tests need the Debian packages \
                     slurm-wlm and munge (`apt-get install -y slurm-wlm munge`, as .ci/run does)"
                ));
            }
        }
        if rustix::process::geteuid().as_raw() != 0 {
            return Err(
                "the Slurm tests start slurmd, which must run as root (CI runs as root)".into(),
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("runall-slurm-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let mut cluster = Self {
            conf: dir.path().join("slurm.conf"),
            dir,
            daemons: Vec::new(),
            startup: Duration::ZERO,
        };
        let started = Instant::now();
        cluster.write_files()?;
        cluster.spawn_daemons()?;
        cluster.wait_idle()?;
        cluster.startup = started.elapsed();
        Ok(cluster)
    }

    /// The config file, for `SLURM_CONF` in every client's environment.
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write_files(&self) -> Result<(), String> {
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        // munged insists on a socket folder everyone may enter, and a private key.
        fs::set_permissions(self.dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| io("chmod temp dir", e))?;
        for sub in ["munge", "sock", "state", "spool", "log"] {
            fs::create_dir(self.path(sub)).map_err(|e| io(sub, e))?;
        }
        fs::set_permissions(self.path("munge"), fs::Permissions::from_mode(0o700))
            .map_err(|e| io("chmod munge", e))?;
        let key: Vec<u8> = (0..1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ std::process::id() as u8)
            .collect();
        let key_path = self.path("munge/munge.key");
        fs::write(&key_path, key).map_err(|e| io("munge key", e))?;
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o400))
            .map_err(|e| io("chmod munge key", e))?;
        let host = hostname()?;
        let (ctld_port, d_port) = (free_port()?, free_port()?);
        let d = self.dir.path().display();
        let conf = format!(
            "\
ClusterName=runalltest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/sock/munge.socket
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
ReturnToService=2
MpiDefault=none
SlurmdParameters=config_overrides
MailProg=/bin/true
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"
        );
        fs::write(&self.conf, conf).map_err(|e| io("slurm.conf", e))
    }

    fn spawn_daemons(&mut self) -> Result<(), String> {
        let d = self.dir.path().to_path_buf();
        let host = hostname()?;
        let arg = |p: &str| d.join(p).display().to_string();
        let munged = vec![
            "munged".to_owned(),
            "-F".to_owned(),
            format!("--socket={}", arg("sock/munge.socket")),
            format!("--key-file={}", arg("munge/munge.key")),
            format!("--log-file={}", arg("log/munged.log")),
            format!("--pid-file={}", arg("munge/munged.pid")),
            format!("--seed-file={}", arg("munge/munged.seed")),
        ];
        self.spawn("munged", &munged)?;
        self.wait_for(
            "munged to create its socket",
            Duration::from_secs(20),
            || d.join("sock/munge.socket").exists(),
        )?;
        let conf = self.conf.display().to_string();
        self.spawn(
            "slurmctld",
            &["slurmctld".into(), "-D".into(), "-f".into(), conf.clone()],
        )?;
        // slurmd in a PID namespace of its own (with its own /proc, which proctrack/linuxproc
        // reads): the jobs' orphans are re-parented to it, not to this test process (a
        // subreaper, whose zombie checks would blame them on runall).
        self.spawn(
            "slurmd",
            &[
                "unshare".into(),
                "--pid".into(),
                "--mount-proc".into(),
                "--kill-child=TERM".into(),
                "slurmd".into(),
                "-D".into(),
                "-f".into(),
                conf,
                "-N".into(),
                host,
            ],
        )?;
        Ok(())
    }

    /// Starts one daemon in the foreground, dying with the test thread where `setpriv` can
    /// arrange it; its stdout and stderr go to `log/<name>.out`.
    fn spawn(&mut self, name: &'static str, argv: &[String]) -> Result<(), String> {
        let out = fs::File::create(self.path(&format!("log/{name}.out")))
            .map_err(|e| format!("{name} output file: {e}"))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{name} output file: {e}"))?;
        let program = which(&argv[0]).ok_or_else(|| format!("{} is not installed", argv[0]))?;
        let mut command = if let Some(setpriv) = which("setpriv") {
            let mut c = Command::new(setpriv);
            c.arg("--pdeathsig")
                .arg("TERM")
                .arg(program)
                .args(&argv[1..]);
            c
        } else {
            let mut c = Command::new(program);
            c.args(&argv[1..]);
            c
        };
        let child = command
            .env("SLURM_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        self.daemons.push((name, child));
        Ok(())
    }

    fn wait_for(
        &mut self,
        what: &str,
        patience: Duration,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + patience;
        loop {
            if ready() {
                return Ok(());
            }
            for (name, child) in &mut self.daemons {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!(
                        "{name} exited ({status}) while waiting for {what}\n{}",
                        self_logs(self.dir.path())
                    ));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out after {patience:?} waiting for {what}\n{}",
                    self_logs(self.dir.path())
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_idle(&mut self) -> Result<(), String> {
        let conf = self.conf.clone();
        self.wait_for("sinfo to say the node is idle", START_PATIENCE, || {
            client(&conf, "sinfo", &["-h", "-o", "%T"]).is_some_and(|s| s.trim() == "idle")
        })
    }

    /// Job names in the queue (pending, running or completing), one per job.
    pub fn queue(&self) -> Vec<String> {
        client(&self.conf, "squeue", &["-h", "-o", "%j"]).map_or_else(
            || vec!["<squeue failed>".to_owned()],
            |text| text.lines().map(str::to_owned).collect(),
        )
    }

    /// Waits until the queue is empty (a killed job stays `CG`, completing, for a few
    /// seconds); returns how long that took, or panics with what is left.
    pub fn wait_queue_empty(&self, what: &str) -> Duration {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(60);
        loop {
            let queue = self.queue();
            if queue.is_empty() {
                return started.elapsed();
            }
            assert!(
                Instant::now() < deadline,
                "{what}: jobs still in the queue after 60 s: {queue:?}\n{}\n{}",
                client(&self.conf, "squeue", &[]).unwrap_or_default(),
                self.logs()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The daemons' logs, for a failure message.
    pub fn logs(&self) -> String {
        self_logs(self.dir.path())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // slurmd first (it stops the steps it runs), then the controller, then munge.
        for (_, child) in self.daemons.iter_mut().rev() {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(child.id() as i32).expect("a child's pid is > 0"),
                rustix::process::Signal::TERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        // setpriv execs the daemon in place, so the child is the daemon itself; anything the
        // daemons forked (slurmstepd) ends with them.
    }
}

/// Runs a Slurm client with this cluster's config; its stdout if it succeeded.
fn client(conf: &Path, tool: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(which(tool)?)
        .args(args)
        .env("SLURM_CONF", conf)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn self_logs(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = fs::read_dir(dir.join("log")) else {
        return text;
    };
    for entry in entries.flatten() {
        let content = fs::read_to_string(entry.path()).unwrap_or_default();
        let tail: Vec<&str> = content.lines().rev().take(15).collect();
        text.push_str(&format!("--- {}\n", entry.path().display()));
        for line in tail.into_iter().rev() {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn hostname() -> Result<String, String> {
    let out = Command::new("hostname")
        .arg("-s")
        .output()
        .map_err(|e| format!("hostname -s: {e}"))?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if name.is_empty() {
        return Err("hostname -s printed nothing".into());
    }
    Ok(name)
}

/// A TCP port free right now on 127.0.0.1 (the daemons bind it a moment later).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}
