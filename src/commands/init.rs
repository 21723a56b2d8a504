//! `runall init`: writes a commented starter `runall.toml` into a folder.
//!
//! It never overwrites: an existing file is an error (the caller exits 2). The starter is
//! a valid config that runs as is (its commands only `echo`), and names every key with a
//! comment so that editing it is the documentation.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::{Config, EnvOrigin, FILE_NAME};
use crate::error::InitError;

/// The starter config.
pub const STARTER: &str = r#"# runall.toml: the environments (envs) `runall` runs in parallel.
# `runall` runs them all (a live view on a terminal; `runall --ci` for CI logs);
# `runall lint`, `runall 'py*'`, `runall label:fast` run a selection; `runall list` shows them.

[settings]
# Most envs running at once, 1 to 1024 (default: the number of CPUs; `-j N` beats it).
# jobs = 4
# Default per-env timeout: "500ms", "30s", "10m", or a number of seconds (at most "8760h").
# timeout = "10m"
# Run a failed env again up to N times (at most 100); passing on a retry is reported as flaky.
# retries = 0
# "merged" (one stream, exact interleaving) or "separate" (stderr lines tagged with `!`).
# stderr = "merged"
# A process left holding an env's output after it exited: "warn", or "fail" the env.
# on_leak = "warn"

# Keys applied to every env that does not set them itself.
[env_run_base]
# set_env = { CI = "1" }
# labels = ["all"]

[env.lint]
description = "static checks"
# A string runs through `sh -c`.
commands = ["echo 'replace me with your linter, e.g. ruff check .'"]
labels = ["fast"]

[env.test]
description = "unit tests; `runall test -- -k name` passes `-k name` to {posargs}"
# An array runs directly, without a shell; {posargs} becomes the words after `--`.
commands = [["echo", "replace me with your tests, e.g. pytest", "{posargs}"]]
# Start only once lint passed; if lint fails, test is skipped.
depends = ["lint"]
# change_dir = "tests"
# timeout = "10m"
# retries = 1
"#;

/// Writes [`STARTER`] to `dir/runall.toml`, which must not exist yet; returns its path.
pub fn write(dir: &Path) -> Result<PathBuf, InitError> {
    write_text(dir, STARTER)
}

/// Writes [`from_tox`]'s text for `config` (read from tox) to `dir/runall.toml`, which must
/// not exist yet; returns its path.
pub fn write_from_tox(dir: &Path, config: &Config, tox: &[String]) -> Result<PathBuf, InitError> {
    write_text(dir, &from_tox(config, tox))
}

/// A runall.toml equivalent to tox's envs in `config`: one env per tox env running
/// `tox run -e NAME` (with `-- POSARGS` when given), with its description, labels, ordering
/// (`after`) and whether plain `tox` runs it (`default`). runall's package build step is left
/// out: each `tox run` builds the package itself, as tox does alone. `tox` is how tox is run
/// (`RUNALL_TOX`, else `tox`); the interrupt ladder is the one runall uses for tox envs
/// ([`crate::tox::TOX_TIMEOUTS`]), long enough for tox's own teardown.
pub fn from_tox(config: &Config, tox: &[String]) -> String {
    let quote = |text: &str| toml::Value::String(text.to_owned()).to_string();
    let list = |items: &[String]| {
        let items: Vec<String> = items.iter().map(|item| quote(item)).collect();
        format!("[{}]", items.join(", "))
    };
    let mut out = format!(
        "# runall.toml written by `runall init --from-tox` from {}.\n\
         # Each env runs `tox run -e NAME`; tox still reads its own configuration for everything\n\
         # else (deps, commands, set_env). `runall` without this file reads tox's configuration\n\
         # directly and also builds the package once for all envs (and reports skipped\n\
         # interpreters as skips); delete this file to get that back.\n",
        config.path.display()
    );
    // Writing to a `String` cannot fail, so the `fmt::Result`s below are ignored.
    let seconds = |d: std::time::Duration| quote(&format!("{}ms", d.as_millis()));
    let _ = write!(
        out,
        "\n[settings]\n# tox forwards an interrupt to its command and then tears down: give it time.\n\
         interrupt_timeout = {}\nterminate_timeout = {}\n",
        seconds(crate::tox::TOX_TIMEOUTS.interrupt),
        seconds(crate::tox::TOX_TIMEOUTS.terminate),
    );
    for env in &config.envs {
        if !matches!(env.origin, EnvOrigin::Tox { .. }) {
            continue;
        }
        let bare = env
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let key = if bare {
            env.name.clone()
        } else {
            quote(&env.name)
        };
        let _ = writeln!(out, "\n[env.{key}]");
        if let Some(description) = &env.description {
            let _ = writeln!(out, "description = {}", quote(description));
        }
        let mut argv = tox.to_vec();
        argv.extend(["run".to_owned(), "-e".to_owned(), env.name.clone()]);
        argv.push(crate::plan::DASHED_POSARGS.to_owned());
        let _ = writeln!(out, "commands = [{}]", list(&argv));
        if !env.labels.is_empty() {
            let _ = writeln!(out, "labels = {}", list(&env.labels));
        }
        if !env.after.is_empty() {
            let _ = writeln!(out, "after = {}", list(&env.after));
        }
        if !env.default {
            out.push_str("default = false\n");
        }
    }
    out
}

fn write_text(dir: &Path, text: &str) -> Result<PathBuf, InitError> {
    let path = dir.join(FILE_NAME);
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(InitError::Exists { path });
        }
        Err(source) => return Err(InitError::Io { path, source }),
    };
    file.write_all(text.as_bytes())
        .map_err(|source| InitError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;

    #[test]
    fn starter_is_a_valid_config() {
        let config = config::parse(Path::new("runall.toml"), STARTER).unwrap();
        let names: Vec<&str> = config.envs.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["lint", "test"]);
        assert_eq!(config.envs[1].depends, ["lint"]);
    }

    #[test]
    fn writes_once_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), STARTER);
        std::fs::write(&path, "mine").unwrap();
        let err = write(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} already exists; not overwriting it", path.display())
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    }
}
