//! Log files: names that never collide (retries, reruns, env names that look like attempt
//! numbers), and a log filesystem that fills up mid-run (a real small tmpfs): reported at
//! once, the output still shown whole, the run failed.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Project, summary_row};

/// Env `a` fails once and passes on its retry; env `a.2` runs alongside and only ends once
/// `a`'s retry has started. Every attempt keeps its own complete log.
#[test]
fn an_env_named_like_a_retry_log_keeps_its_own_log() {
    let config = r#"
[settings]
jobs = 2
[env.a]
retries = 1
commands = ["if [ -e first.done ]; then touch second.started; echo a second try; else touch first.done; echo a first try; exit 1; fi"]
[env."a.2"]
commands = ["echo a.2 begins; i=0; while [ ! -e second.started ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo a.2 ends"]
"#;
    let p = Project::new(config);
    let run = p.run(&["--ci", "--color", "never"]);
    let out = run.stdout();
    run.assert_code(0);
    assert!(
        summary_row(&out, "a").contains("passed on attempt 2 (flaky)"),
        "{out}"
    );
    let logs = p.path().join(".runall/logs");
    let read = |name: &str| {
        std::fs::read_to_string(logs.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert_eq!(read("a.log"), "a first try\n");
    assert_eq!(read("a@2.log"), "a second try\n");
    assert_eq!(read("a.2.log"), "a.2 begins\na.2 ends\n");
}

/// A tmpfs of `size` mounted for the test's lifetime; unmounted on drop, even when the test
/// fails.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts it, or says why not (not root, no mount permission in this container).
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        if !rustix::process::geteuid().is_root() {
            return Err("not running as root".to_owned());
        }
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process of a failed test): detach it so the temp folder can go.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Says loudly, on the real stderr (not the captured one), that a test did not run.
fn skip_loudly(test: &str, why: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED {test}: {why} (it needs root to mount a tmpfs) ***\n"
    );
}

/// Lines env `name` prints: about 66 KB, more than the whole 64 KiB tmpfs holds.
fn lines_of(name: &str) -> Vec<String> {
    (1..=1500)
        .map(|i| format!("{name} line {i} padded to be a fairly long line"))
        .collect()
}

fn full_disk_config() -> String {
    let mut config = String::from("[settings]\njobs = 3\n");
    for name in ["alpha", "beta", "gamma"] {
        config.push_str(&format!(
            "[env.{name}]\ncommands = [\"i=1; while [ $i -le 1500 ]; do echo \\\"{name} line $i padded to be a fairly long line\\\"; i=$((i+1)); done\"]\n"
        ));
    }
    config
}

/// `--log-dir` on a 64 KiB tmpfs, three envs printing about 66 KB each: every env's log
/// fills up. Each failure is said at once on stderr (env, file, error), every line still
/// reaches the output (prefixed: live; grouped: served from memory where the log lacks it),
/// the summary, JSON and JUnit say the log is incomplete, and runall exits 1 though every
/// env passed.
#[test]
fn a_full_log_filesystem_is_reported_and_loses_no_output() {
    let p = Project::new(&full_disk_config());
    for mode in ["prefixed", "grouped"] {
        let mount = p.path().join(format!("disk-{mode}"));
        let _tmpfs = match Tmpfs::mount(&mount, "64k") {
            Ok(tmpfs) => tmpfs,
            Err(why) => {
                skip_loudly(
                    "a_full_log_filesystem_is_reported_and_loses_no_output",
                    &why,
                );
                return;
            }
        };
        let log_dir = mount.join("logs");
        let json = p.path().join(format!("{mode}.json"));
        let junit = p.path().join(format!("{mode}.xml"));
        let args = [
            "--ci",
            "--color",
            "never",
            "--output",
            mode,
            "--log-dir",
            log_dir.to_str().expect("utf-8 path"),
            "--json",
            json.to_str().expect("utf-8 path"),
            "--junit",
            junit.to_str().expect("utf-8 path"),
        ];
        let run = p.run(&args);
        let (out, err) = (run.stdout(), run.stderr());
        run.assert_code(1);
        for name in ["alpha", "beta", "gamma"] {
            let file = log_dir.join(format!("{name}.log"));
            let said = format!("runall: {name}: cannot write its log {}: ", file.display());
            let line = err
                .lines()
                .find(|l| l.starts_with(&said))
                .unwrap_or_else(|| panic!("{mode}: no report for {name} on stderr:\n{err}"));
            assert!(line.contains("No space left on device"), "{line}");
            for expected in lines_of(name) {
                let shown = match mode {
                    "prefixed" => format!("| {expected}\n"),
                    _ => format!("{expected}\n"),
                };
                assert!(
                    out.contains(&shown),
                    "{mode}: lost {expected:?} of {name}:\n{out}"
                );
            }
            // The summary row: env, outcome, time, log.
            let row = format!("{name} ");
            assert!(
                out.lines().any(|l| l.starts_with(&row)
                    && l.contains("passed (log incomplete: No space left on device")
                    && l.ends_with(&file.display().to_string())),
                "{mode}: {out}"
            );
        }
        assert!(out.contains("3 failed"), "{mode}: {out}");
        let json = std::fs::read_to_string(&json).expect("json report");
        let finished: Vec<&str> = json
            .lines()
            .filter(|l| l.contains("\"type\":\"env_finished\""))
            .collect();
        assert_eq!(finished.len(), 3, "{json}");
        for line in finished {
            assert!(
                line.contains("\"verdict\":\"failed\"") && line.contains("log incomplete"),
                "{line}"
            );
        }
        assert_eq!(json.matches("\"type\":\"log_failed\"").count(), 3, "{json}");
        let junit = std::fs::read_to_string(&junit).expect("junit report");
        assert!(junit.matches("log incomplete").count() >= 3, "{junit}");
        for name in ["alpha", "beta", "gamma"] {
            // The end of the output never reached the full disk: <system-out> gets it from the
            // memory the log writer kept, as the tails do.
            let last = format!("{name} line 1500 padded to be a fairly long line\n");
            assert!(
                junit.contains(&last),
                "{mode}: {name}'s end lost in JUnit:\n{junit}"
            );
        }
    }
}
