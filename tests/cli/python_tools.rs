//! The pinned Python tools the tox and test-report tests run: present, and the pinned versions.

use crate::support::{output_of, path_with_python_tools, python_tools};
use std::process::Command;

#[test]
fn pinned_tox_and_pytest_are_the_ones_on_the_test_path() {
    let pins = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.ci/python-requirements.txt"
    ))
    .expect("read the pins");
    let bin = python_tools();
    for (tool, flag) in [("tox", "--version"), ("pytest", "--version")] {
        let pin = pins
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{tool}==")))
            .unwrap_or_else(|| panic!("{tool} is not pinned"));
        let out = output_of(
            Command::new(tool)
                .arg(flag)
                .env("PATH", path_with_python_tools()),
        );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{tool} {flag} failed: {text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with(pin) || l == format!("{tool} {pin}")),
            "{tool} on the test PATH is not the pinned {pin} from {}: {text}",
            bin.display()
        );
    }
}
