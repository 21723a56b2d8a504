//! tox's answer, kept: `tox config` costs a tox start (0.4–0.7 s here) before anything can
//! run, so the answer is kept in `.runall/tox/<file>.config.json` under a key of everything
//! it depends on, and asked again only when one of those changes:
//!
//! - runall's version and the keys it asks for;
//! - the tox command's words, the program's path, size and change time, and the
//!   `site-packages` folders of the Python that runs it (a plugin installed, tox upgraded);
//! - the content of every tox configuration in the folder (`tox.ini`, `setup.cfg`,
//!   `pyproject.toml`, `tox.toml`), of tox's inline plugin `toxfile.py` and of tox's user
//!   configuration;
//! - every environment variable (substitutions, `TOX_*` overrides and `pass_env` read them)
//!   but the shell's bookkeeping and a terminal's or login's id ([`VOLATILE`]);
//! - which interpreters tox can find: the change time of every `PATH` folder (an interpreter
//!   installed or removed there), version managers' files ([`VERSION_FILES`] in the folder
//!   and its parents, their global choices) and uv's folder of installed Pythons.
//!
//! The key is a hash; the values it is made of (secrets among the environment variables)
//! are never written. A failed package build forgets the answers ([`forget_all`]): what the
//! key cannot see is asked again after it showed. `RUNALL_TOX_CACHE=0` turns the cache off.

use std::ffi::{OsStr, OsString};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// The files beside the configuration whose content is part of the key: tox's configuration
/// files and its inline plugin (`toxfile.py`, whose hooks can add envs and change them).
const CONFIG_FILES: [&str; 5] = [
    "tox.ini",
    "setup.cfg",
    "pyproject.toml",
    "tox.toml",
    "toxfile.py",
];

/// Files in the configuration's folder or any parent that choose interpreters for version
/// managers (pyenv, asdf, mise): a change there changes which interpreters tox finds.
const VERSION_FILES: [&str; 4] = [
    ".python-version",
    ".tool-versions",
    "mise.toml",
    ".mise.toml",
];

/// Environment variables that change between two commands of one user (the shell's
/// bookkeeping, a terminal's, editor's or login's id) and that no tox configuration reads.
const VOLATILE: [&str; 19] = [
    "_",
    "OLDPWD",
    "PWD",
    "SHLVL",
    "TMUX_PANE",
    "WINDOWID",
    "TERM_SESSION_ID",
    "ITERM_SESSION_ID",
    "GNOME_TERMINAL_SCREEN",
    "KITTY_WINDOW_ID",
    "WEZTERM_PANE",
    "VSCODE_GIT_IPC_HANDLE",
    "SSH_CLIENT",
    "SSH_CONNECTION",
    "SSH_TTY",
    "SSH_AUTH_SOCK",
    "XDG_SESSION_ID",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
];

/// What tox's answer depends on, gathered from the machine (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    /// The tox command's words.
    pub argv: Vec<String>,
    /// The program's path as found on `PATH`, with its size and change time (ns).
    pub program: Option<(PathBuf, u64, i64)>,
    /// The configuration file asked about.
    pub file: PathBuf,
    /// Each tox configuration beside it and tox's user configuration: path and content
    /// (`None`: not there).
    pub files: Vec<(PathBuf, Option<Vec<u8>>)>,
    /// The environment, sorted, without the [`VOLATILE`] variables.
    pub env: Vec<(OsString, OsString)>,
    /// Each `PATH` folder and its change time (ns), `None` when it is not there.
    pub path_dirs: Vec<(PathBuf, Option<i64>)>,
    /// The `site-packages` folders of the Python that runs tox, and uv's folder of the
    /// Pythons it installed, with their change times: installing or removing a tox plugin,
    /// upgrading tox, or an interpreter uv installs changes them.
    pub installs: Vec<(PathBuf, Option<i64>)>,
}

impl Inputs {
    /// The inputs for asking `argv` about `file` now, from this process's environment.
    pub fn gather(argv: &[String], file: &Path) -> Self {
        let env_vars: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        Self::gather_with(argv, file, env_vars)
    }

    /// The inputs with `env_vars` as the environment.
    pub fn gather_with(argv: &[String], file: &Path, env_vars: Vec<(OsString, OsString)>) -> Self {
        let var = |name: &str| {
            env_vars
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        let path_var = var("PATH").unwrap_or_default();
        let path_dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
        let program = argv
            .first()
            .and_then(|program| find_program(OsStr::new(program), &path_dirs))
            .and_then(|path| {
                let meta = std::fs::metadata(&path).ok()?;
                Some((path, meta.size(), change_ns(&meta)))
            });
        let folder = super::query::folder_of(file);
        let mut files: Vec<PathBuf> = CONFIG_FILES.iter().map(|name| folder.join(name)).collect();
        files.push(file.to_path_buf());
        files.extend(user_configs(&var));
        let folder = std::path::absolute(&folder).unwrap_or(folder);
        for dir in folder.ancestors() {
            files.extend(VERSION_FILES.iter().map(|name| dir.join(name)));
        }
        files.extend(manager_globals(&var));
        let mut installs: Vec<PathBuf> = program
            .as_ref()
            .map(|(path, _, _)| site_packages(path, &path_dirs))
            .unwrap_or_default();
        installs.extend(
            var("UV_PYTHON_INSTALL_DIR").map(PathBuf::from).or_else(|| {
                var("HOME").map(|home| Path::new(&home).join(".local/share/uv/python"))
            }),
        );
        let installs = with_change_times(installs);
        let files = files
            .into_iter()
            .map(|path| {
                let content = std::fs::read(&path).ok();
                (path, content)
            })
            .collect();
        let mut env: Vec<(OsString, OsString)> = env_vars
            .into_iter()
            .filter(|(key, _)| !VOLATILE.iter().any(|v| key == v))
            .collect();
        env.sort();
        let path_dirs = with_change_times(path_dirs);
        Self {
            argv: argv.to_vec(),
            program,
            file: file.to_path_buf(),
            files,
            env,
            path_dirs,
            installs,
        }
    }

    /// The key: a hash of every input with runall's version and `keys` (what is asked).
    pub fn key(&self, keys: &[&str]) -> String {
        let mut hasher = DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        keys.hash(&mut hasher);
        self.argv.hash(&mut hasher);
        self.program.hash(&mut hasher);
        self.file.hash(&mut hasher);
        self.files.hash(&mut hasher);
        for (key, value) in &self.env {
            key.as_bytes().hash(&mut hasher);
            value.as_bytes().hash(&mut hasher);
        }
        self.path_dirs.hash(&mut hasher);
        self.installs.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// Each of `dirs` with its change time (ns), `None` when it is not there.
fn with_change_times(dirs: Vec<PathBuf>) -> Vec<(PathBuf, Option<i64>)> {
    dirs.into_iter()
        .map(|dir| {
            let changed = std::fs::metadata(&dir).ok().map(|meta| change_ns(&meta));
            (dir, changed)
        })
        .collect()
}

/// The nanoseconds of `meta`'s change time (ctime: a rewrite or a rename into place moves it,
/// whatever mtime the file was given).
fn change_ns(meta: &std::fs::Metadata) -> i64 {
    meta.ctime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.ctime_nsec())
}

/// `program` as `execvp` would find it: a path with a `/` as it is, else the first
/// executable file of that name in `dirs`.
fn find_program(program: &OsStr, dirs: &[PathBuf]) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    dirs.iter().map(|dir| dir.join(program)).find(|path| {
        std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
    })
}

/// The Python that runs `program` (itself when it is a `python`, else its `#!` line's,
/// through `env`), and that Python's `lib/python*/site-packages` folders.
fn site_packages(program: &Path, dirs: &[PathBuf]) -> Vec<PathBuf> {
    let is_python = |path: &Path| {
        path.file_name()
            .is_some_and(|name| name.as_bytes().starts_with(b"python"))
    };
    let python = if is_python(program) {
        Some(program.to_path_buf())
    } else {
        shebang(program).and_then(|words| {
            let first = words.first()?;
            if Path::new(first).file_name() == Some(OsStr::new("env")) {
                let name = words.iter().skip(1).find(|word| !word.starts_with('-'))?;
                find_program(OsStr::new(name), dirs)
            } else {
                Some(PathBuf::from(first))
            }
        })
    };
    let Some(prefix) = python
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
    else {
        return Vec::new();
    };
    let lib = prefix.join("lib");
    let Ok(entries) = std::fs::read_dir(&lib) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().as_bytes().starts_with(b"python"))
        .map(|entry| entry.path().join("site-packages"))
        .collect();
    found.sort();
    found
}

/// The words of `program`'s `#!` line, if it has one.
fn shebang(program: &Path) -> Option<Vec<String>> {
    use std::io::Read as _;
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(program).ok()?;
    let read = file.read(&mut head).ok()?;
    let line = head[..read].strip_prefix(b"#!")?;
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let words: Vec<String> = String::from_utf8_lossy(&line[..end])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (!words.is_empty()).then_some(words)
}

/// The global interpreter choices of pyenv (`$PYENV_ROOT/version`), asdf (`~/.tool-versions`)
/// and mise (its global `config.toml`).
fn manager_globals(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let home = var("HOME").map(PathBuf::from);
    let mut files = Vec::new();
    if let Some(root) = var("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".pyenv")))
    {
        files.push(root.join("version"));
    }
    if let Some(home) = &home {
        files.push(home.join(".tool-versions"));
    }
    let config = var("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".config")));
    if let Some(config) = config {
        files.push(config.join("mise").join("config.toml"));
    }
    files
}

/// tox's user configuration files: `TOX_USER_CONFIG_FILE`, else `config.ini` in tox's folder
/// of the user's configuration (`$XDG_CONFIG_HOME/tox`, else `~/.config/tox`).
fn user_configs(var: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    if let Some(file) = var("TOX_USER_CONFIG_FILE") {
        return vec![PathBuf::from(file)];
    }
    let base = var("XDG_CONFIG_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join(".config")));
    base.map(|dir| vec![dir.join("tox").join("config.ini")])
        .unwrap_or_default()
}

/// Whether the cache is on: unless `RUNALL_TOX_CACHE` is `0`, `off`, `no` or `false`.
pub fn enabled(setting: Option<&OsStr>) -> bool {
    !setting.is_some_and(|value| {
        matches!(
            value.to_string_lossy().to_ascii_lowercase().as_str(),
            "0" | "off" | "no" | "false"
        )
    })
}

/// Where the answer for `file` is kept: `<state>/<file name>.config.json`.
pub fn path_for(state: &Path, file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or_else(|| "tox".into(), OsStr::to_string_lossy);
    state.join(format!("{name}.config.json"))
}

/// The kept answer at `path` if it was kept under `key`.
pub fn load(path: &Path, key: &str) -> Option<serde_json::Value> {
    let bytes = std::fs::read(path).ok()?;
    let mut kept: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if kept.get("key").and_then(serde_json::Value::as_str) != Some(key) {
        return None;
    }
    kept.get_mut("answer").map(serde_json::Value::take)
}

/// Keeps `answer` under `key` at `path` (written beside it, then renamed into place, so a
/// reader never sees half a file).
pub fn store(path: &Path, key: &str, answer: &serde_json::Value) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    let kept = serde_json::json!({ "key": key, "answer": answer });
    let bytes = serde_json::to_vec(&kept).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{}.{}", std::process::id(), "config.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .inspect_err(|_| {
            // Best effort: the write's error is the one reported.
            let _ = std::fs::remove_file(&tmp);
        })
}

/// Forgets every answer kept in `state` (a package build failed: what tox said may be out of
/// date in a way the key does not see, so the next run asks again).
pub fn forget_all(state: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(state) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|name| name.as_bytes().ends_with(b".config.json"))
        {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn the_key_moves_with_what_tox_reads_and_not_with_the_shells_bookkeeping() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("tox.ini");
        std::fs::write(&ini, "[tox]\nenv_list = a\n").unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let path = bin.display().to_string();
        let argv = vec!["tox".to_owned()];
        let env = |extra: &[(&str, &str)]| {
            let mut vars = os(&[("PATH", &path), ("HOME", "/nowhere")]);
            vars.extend(os(extra));
            vars
        };
        let key = |vars| Inputs::gather_with(&argv, &ini, vars).key(&["description"]);
        let base = key(env(&[]));
        assert_eq!(base.len(), 16);
        assert_eq!(key(env(&[])), base, "the same inputs, the same key");
        assert_eq!(
            key(env(&[
                ("_", "/usr/bin/x"),
                ("OLDPWD", "/"),
                ("TMUX_PANE", "%3")
            ])),
            base,
            "the shell's bookkeeping is left out"
        );
        assert_ne!(
            key(env(&[("DJANGO", "50")])),
            base,
            "any other variable counts"
        );
        assert_ne!(
            Inputs::gather_with(&argv, &ini, env(&[])).key(&["labels"]),
            base,
            "what is asked counts"
        );
        // A tox appearing on PATH, and the folder it appeared in.
        let tox = bin.join("tox");
        std::fs::write(&tox, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tox, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let with_tox = Inputs::gather_with(&argv, &ini, env(&[]));
        assert_eq!(
            with_tox.program.as_ref().map(|p| p.0.clone()),
            Some(tox.clone())
        );
        let with_tox = with_tox.key(&["description"]);
        assert_ne!(with_tox, base);
        // The configuration's content, a sibling configuration's, and the user's.
        std::fs::write(&ini, "[tox]\nenv_list = b\n").unwrap();
        let edited = key(env(&[]));
        assert_ne!(edited, with_tox, "an edit of tox.ini");
        std::fs::write(dir.path().join("pyproject.toml"), "[tool.tox]\n").unwrap();
        let sibling = key(env(&[]));
        assert_ne!(sibling, edited, "a pyproject.toml beside it");
        let user = dir.path().join("user.ini");
        std::fs::write(&user, "[tox]\n").unwrap();
        let user_var = user.display().to_string();
        let with_user = key(env(&[("TOX_USER_CONFIG_FILE", &user_var)]));
        std::fs::write(&user, "[tox]\nskip_missing_interpreters = false\n").unwrap();
        assert_ne!(
            key(env(&[("TOX_USER_CONFIG_FILE", &user_var)])),
            with_user,
            "tox's user configuration"
        );
    }

    #[test]
    fn a_plugin_installed_beside_tox_or_a_version_file_moves_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv");
        let site = venv.join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&site).unwrap();
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        let tox = venv.join("bin/tox");
        std::fs::write(&tox, format!("#!{}/bin/python\n", venv.display())).unwrap();
        std::fs::set_permissions(&tox, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir(&project).unwrap();
        let ini = project.join("tox.ini");
        std::fs::write(&ini, "[tox]\n").unwrap();
        let path = venv.join("bin").display().to_string();
        let argv = vec!["tox".to_owned()];
        let gather =
            || Inputs::gather_with(&argv, &ini, os(&[("PATH", &path), ("HOME", "/nowhere")]));
        let inputs = gather();
        assert_eq!(
            inputs.installs[0].0, site,
            "tox's site-packages, from its #! line"
        );
        let before = inputs.key(&[]);
        // A new dist-info in tox's site-packages (a plugin, an upgrade) changes its ctime
        // (on a file system with coarse times, once the clock moved on: tried for 2 s).
        let mut plugin = before.clone();
        for n in 0..400 {
            std::fs::create_dir(site.join(format!("plugin_{n}-1.0.dist-info"))).unwrap();
            plugin = gather().key(&[]);
            if plugin != before {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_ne!(plugin, before, "a plugin installed beside tox");
        std::fs::write(project.join(".python-version"), "3.12\n").unwrap();
        assert_ne!(gather().key(&[]), plugin, "a version manager's choice");
    }

    #[test]
    fn an_answer_is_kept_under_its_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join(".runall/tox"), Path::new("/p/tox.ini"));
        assert!(path.ends_with(".runall/tox/tox.ini.config.json"));
        assert_eq!(load(&path, "k1"), None, "nothing kept yet");
        let answer = serde_json::json!({"env": {"a": {}}});
        store(&path, "k1", &answer).unwrap();
        assert_eq!(load(&path, "k1"), Some(answer.clone()));
        assert_eq!(load(&path, "k2"), None, "another key");
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path, "k1"), None, "a damaged file is no answer");
        assert!(enabled(None) && enabled(Some(OsStr::new("1"))));
        assert!(!enabled(Some(OsStr::new("0"))) && !enabled(Some(OsStr::new("OFF"))));
    }
}
