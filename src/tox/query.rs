//! Asking tox for its envs: which tox to run, and one `tox config --format json -e ALL -k …`
//! in the configuration's folder, before anything is started. The only place runall runs
//! tox itself (every `tox run` is an env's command, run by the runner).

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};

use super::ToxError;
use crate::sanitize;

/// The keys runall asks for: every env's (run envs and package envs answer different
/// subsets; a key an env lacks is left out) and the core's `env_list` and `labels`.
/// `py_dot_ver` needs the env's interpreter, so for an env whose interpreter is missing its
/// value is tox's `Skip(...)` with tox's own reason.
pub const KEYS: [&str; 11] = [
    "description",
    "depends",
    "labels",
    "skip_install",
    "package",
    "package_env",
    "wheel_build_env",
    "pkg_dir",
    "py_dot_ver",
    "env_list",
    "base_python",
];

/// How runall runs tox: the argv words before tox's own arguments, and where they came from
/// (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToxCommand {
    /// Never empty: the program first.
    pub argv: Vec<String>,
    /// `RUNALL_TOX`, `tox_command in runall.toml`, or `PATH`.
    pub from: &'static str,
}

impl ToxCommand {
    /// `RUNALL_TOX` (split into words as a shell would: `"uvx tox"`), else the config's
    /// `tox_command`, else `tox` from `PATH`.
    pub fn resolve(
        runall_tox: Option<&OsStr>,
        setting: Option<&[String]>,
    ) -> Result<Self, ToxError> {
        if let Some(text) = runall_tox {
            let text = text.to_str().ok_or_else(|| ToxError::BadRunallTox {
                message: "it is not UTF-8".to_owned(),
            })?;
            let argv = shlex::split(text).ok_or_else(|| ToxError::BadRunallTox {
                message: format!("cannot split `{text}` into words (an open quote?)"),
            })?;
            if argv.first().is_none_or(String::is_empty) {
                return Err(ToxError::BadRunallTox {
                    message: "it is empty".to_owned(),
                });
            }
            return Ok(Self {
                argv,
                from: "RUNALL_TOX",
            });
        }
        if let Some(words) = setting {
            return Ok(Self {
                argv: words.to_vec(),
                from: "tox_command in runall.toml",
            });
        }
        Ok(Self {
            argv: vec!["tox".to_owned()],
            from: "PATH",
        })
    }

    /// The command as a user would type it.
    pub fn display(&self) -> String {
        crate::config::display_argv(&self.argv)
    }

    fn command(&self, dir: &Path) -> Command {
        let mut command = Command::new(&self.argv[0]);
        command
            .args(&self.argv[1..])
            .current_dir(dir)
            .stdin(Stdio::null())
            .env("NO_COLOR", "1");
        command
    }

    /// tox's answer for `file` (run in its folder), parsed: `{"env": {...}, "tox": {...}}`.
    pub fn config_json(&self, file: &Path) -> Result<serde_json::Value, ToxError> {
        let dir = folder_of(file);
        let mut command = self.command(&dir);
        command
            .arg("config")
            .arg("-c")
            .arg(file)
            .args(["--format", "json", "-e", "ALL", "-k"])
            .args(KEYS);
        let output = command
            .output()
            .map_err(|source| self.spawn_error(source))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        // tox exits non-zero when a value could not be computed (an env whose interpreter
        // is missing has `{"error": "Skip(...)"}` for `py_dot_ver`), yet prints the whole
        // document; it logs (warnings, errors) to stdout too, so the document starts at a
        // line that is `{`.
        let start = if stdout.starts_with('{') {
            Some(0)
        } else {
            stdout.find("\n{\n").map(|at| at + 1)
        };
        let document = start
            .and_then(|at| serde_json::from_str::<serde_json::Value>(&stdout[at..]).ok())
            .filter(|value| value.get("env").is_some_and(serde_json::Value::is_object));
        if let Some(document) = document {
            return Ok(document);
        }
        let said = format!("{stdout}{stderr}");
        if !output.status.success()
            && (said.contains("--format") || said.contains("invalid choice: 'json'"))
        {
            return Err(ToxError::TooOld {
                tox: self.display(),
                found: self.version(&dir),
            });
        }
        Err(ToxError::Config {
            file: file.to_path_buf(),
            tox: self.display(),
            message: tox_message(&said),
        })
    }

    /// `tox --version`'s first line, or why there is none.
    fn version(&self, dir: &Path) -> String {
        match self.command(dir).arg("--version").output() {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout);
                let line = text.lines().next().unwrap_or("").trim();
                if line.is_empty() {
                    "a tox that prints no version".to_owned()
                } else {
                    format!("tox {}", sanitize::text(line.as_bytes()))
                }
            }
            Err(error) => format!("a tox that does not run ({error})"),
        }
    }

    fn spawn_error(&self, source: io::Error) -> ToxError {
        if source.kind() == io::ErrorKind::NotFound {
            ToxError::NotFound {
                program: self.argv[0].clone(),
                from: self.from,
            }
        } else {
            ToxError::Spawn {
                tox: self.display(),
                source,
            }
        }
    }
}

/// The folder of `file` (the current one for a bare name).
pub fn folder_of(file: &Path) -> std::path::PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

/// tox's own words, each line sanitised, indented under runall's line, at most 40 lines.
fn tox_message(said: &str) -> String {
    let lines: Vec<String> = said
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(40)
        .map(|line| sanitize::text(line.as_bytes()))
        .collect();
    if lines.is_empty() {
        "tox said nothing".to_owned()
    } else {
        lines.join("\n  ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runall_tox_beats_the_setting_and_splits_like_a_shell() {
        let setting = vec!["pipx".to_owned(), "run".to_owned(), "tox".to_owned()];
        let got = ToxCommand::resolve(Some(OsStr::new("uvx 'tox>=4'")), Some(&setting)).unwrap();
        assert_eq!(got.argv, ["uvx", "tox>=4"]);
        assert_eq!(got.from, "RUNALL_TOX");
        let got = ToxCommand::resolve(None, Some(&setting)).unwrap();
        assert_eq!(got.argv, setting);
        let got = ToxCommand::resolve(None, None).unwrap();
        assert_eq!((got.argv, got.from), (vec!["tox".to_owned()], "PATH"));
        for bad in ["", "  ", "uvx 'tox"] {
            let err = ToxCommand::resolve(Some(OsStr::new(bad)), None).unwrap_err();
            assert!(err.to_string().starts_with("RUNALL_TOX: "), "{err}");
        }
    }

    #[test]
    fn tox_messages_are_sanitised_and_indented() {
        assert_eq!(
            tox_message("ROOT: bad \x1b[31mthing\n\nline 2\n"),
            "ROOT: bad thing\n  line 2"
        );
        assert_eq!(tox_message(""), "tox said nothing");
    }
}
