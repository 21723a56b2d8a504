//! Which tox configuration file a folder holds, in tox's own order.
//!
//! tox 4 (`tox/config/source/discover.py`) tries, in each folder from the current one up to
//! the root, these sources in turn and takes the first that loads: `tox.ini` (any, even an
//! empty one), `setup.cfg` with a `[tox:tox]` section, `pyproject.toml` with a `[tool.tox]`
//! table holding more than `legacy_tox_ini`, `pyproject.toml` with `tool.tox.legacy_tox_ini`,
//! then `tox.toml`. A file that exists but cannot be parsed stops tox's search with an
//! error; here it is chosen, so that tox's own message reaches the user when runall asks tox
//! for its envs. Only existence and the marker sections are checked: resolving the
//! configuration is tox's job.

use std::path::{Path, PathBuf};

use crate::config::{MAX_FILE_SIZE, read_regular_file};

/// The names of tox's configuration files, in tox's order (`pyproject.toml` counts once).
pub const FILE_NAMES: [&str; 4] = ["tox.ini", "setup.cfg", "pyproject.toml", "tox.toml"];

/// The tox configuration file tox itself would read in `dir`, if `dir` has one.
pub fn in_folder(dir: &Path) -> Option<PathBuf> {
    FILE_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|candidate| holds_tox_config(candidate))
}

/// The nearest tox configuration: in `start_dir`, else in its closest parent that has one.
pub fn find(start_dir: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start_dir).unwrap_or_else(|_| start_dir.to_path_buf());
    start.ancestors().find_map(in_folder)
}

/// Whether `path` names a tox configuration file by its name (for `-c FILE`).
pub fn is_tox_file_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| FILE_NAMES.contains(&name))
}

/// Whether tox would take `path` as its configuration (see the module doc).
fn holds_tox_config(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    if !path.metadata().is_ok_and(|meta| !meta.is_dir()) {
        return false;
    }
    match name {
        "tox.ini" | "tox.toml" => true,
        // An unreadable file is chosen: tox will say what is wrong with it.
        "setup.cfg" => read_text(path).is_none_or(|text| setup_cfg_has_tox(&text)),
        "pyproject.toml" => read_text(path).is_none_or(|text| pyproject_has_tox(&text)),
        _ => false,
    }
}

fn read_text(path: &Path) -> Option<String> {
    let bytes = read_regular_file(path, MAX_FILE_SIZE).ok()?;
    String::from_utf8(bytes).ok()
}

/// A `[tox:tox]` section header (configparser: leading blanks allowed, the name exact).
pub fn setup_cfg_has_tox(text: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim();
        line.strip_prefix('[')
            .and_then(|rest| rest.split_once(']'))
            .is_some_and(|(name, _)| name.trim() == "tox:tox")
    })
}

/// `[tool.tox]` with any key (tox.toml style or `legacy_tox_ini`), or a file that is not
/// TOML (tox fails loading it, with its message).
pub fn pyproject_has_tox(text: &str) -> bool {
    let Ok(value) = text.parse::<toml::Table>() else {
        return true;
    };
    value
        .get("tool")
        .and_then(|tool| tool.get("tox"))
        .and_then(toml::Value::as_table)
        .is_some_and(|tox| !tox.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn tox_order_within_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(in_folder(d), None);
        write(d, "tox.toml", "env_list = [\"a\"]\n");
        assert_eq!(in_folder(d), Some(d.join("tox.toml")));
        // A pyproject.toml without [tool.tox] is not tox's; with it, it beats tox.toml.
        write(d, "pyproject.toml", "[project]\nname = \"x\"\n");
        assert_eq!(in_folder(d), Some(d.join("tox.toml")));
        write(
            d,
            "pyproject.toml",
            "[tool.tox]\nlegacy_tox_ini = \"[tox]\"\n",
        );
        assert_eq!(in_folder(d), Some(d.join("pyproject.toml")));
        write(d, "pyproject.toml", "[tool.tox]\nenv_list = [\"a\"]\n");
        assert_eq!(in_folder(d), Some(d.join("pyproject.toml")));
        // setup.cfg counts only with [tox:tox], and then beats pyproject.toml.
        write(d, "setup.cfg", "[metadata]\nname = x\n[tox]\n");
        assert_eq!(in_folder(d), Some(d.join("pyproject.toml")));
        write(
            d,
            "setup.cfg",
            "[metadata]\nname = x\n  [tox:tox]\nenv_list = a\n",
        );
        assert_eq!(in_folder(d), Some(d.join("setup.cfg")));
        // tox.ini always comes first, even empty.
        write(d, "tox.ini", "");
        assert_eq!(in_folder(d), Some(d.join("tox.ini")));
    }

    #[test]
    fn a_broken_pyproject_is_chosen_for_tox_to_report() {
        assert!(pyproject_has_tox("[tool.tox\n"));
        assert!(!pyproject_has_tox("[tool]\ntox = 3\n"));
        assert!(!pyproject_has_tox("[tool.tox]\n"));
    }

    #[test]
    fn nearest_folder_wins_and_search_goes_up() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path();
        let inner = top.join("a/b");
        std::fs::create_dir_all(&inner).unwrap();
        write(top, "tox.ini", "[tox]\n");
        assert_eq!(find(&inner), Some(top.join("tox.ini")));
        write(&top.join("a"), "tox.toml", "");
        assert_eq!(find(&inner), Some(top.join("a/tox.toml")));
        // A folder named tox.ini is not a config.
        std::fs::create_dir(inner.join("tox.ini")).unwrap();
        assert_eq!(find(&inner), Some(top.join("a/tox.toml")));
    }

    #[test]
    fn file_names_for_dash_c() {
        for name in ["tox.ini", "x/setup.cfg", "/p/pyproject.toml", "tox.toml"] {
            assert!(is_tox_file_name(Path::new(name)), "{name}");
        }
        for name in ["runall.toml", "my-tox.ini", "tox"] {
            assert!(!is_tox_file_name(Path::new(name)), "{name}");
        }
    }
}
