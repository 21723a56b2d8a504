//! Bad input: exit code 2, an error naming the file, line, column and key, nothing started.

use crate::support::Project;

/// Run with a bad config; assert exit 2, the message, and that nothing was started.
fn rejects(config: &str, args: &[&str], expected: &str) {
    let p = Project::new(config);
    let mut full = vec!["--ci"];
    full.extend_from_slice(args);
    let run = p.run(&full);
    run.assert_code(2);
    let err = run.stderr();
    assert!(
        err.contains(expected),
        "expected {expected:?} in stderr:\n{err}"
    );
    assert!(run.stdout.is_empty(), "nothing printed: {}", run.stdout());
    assert!(
        !p.path().join(".runall").exists(),
        "nothing started, no log folder"
    );
}

#[test]
fn unknown_key() {
    rejects(
        "[env.a]\ncommands = [\"true\"]\ncolour = \"red\"\n",
        &[],
        "runall.toml:3:1: env.a.colour: unknown key `colour`",
    );
}

#[test]
fn wrong_type() {
    rejects(
        "[settings]\njobs = \"four\"\n[env.a]\ncommands = [\"true\"]\n",
        &[],
        "runall.toml:2:8: settings.jobs:",
    );
}

#[test]
fn command_of_wrong_shape() {
    rejects(
        "[env.a]\ncommands = [3]\n",
        &[],
        "runall.toml:2:13: env.a.commands[0]: invalid type: integer `3`, expected a command string or an argv array of strings",
    );
}

#[test]
fn empty_commands() {
    rejects(
        "[env.a]\ncommands = []\n",
        &[],
        "runall.toml:2:12: env.a.commands: must not be empty",
    );
}

#[test]
fn unknown_dependency() {
    rejects(
        "[env.a]\ncommands = [\"true\"]\ndepends = [\"nope\"]\n",
        &[],
        "runall.toml:3:12: env.a.depends[0]: unknown env `nope`",
    );
}

#[test]
fn dependency_cycle() {
    rejects(
        "[env.a]\ncommands = [\"true\"]\ndepends = [\"b\"]\n[env.b]\ncommands = [\"true\"]\ndepends = [\"a\"]\n",
        &[],
        "dependency cycle: a -> b -> a",
    );
}

#[test]
fn invalid_env_name() {
    rejects(
        "[env.\"bad name\"]\ncommands = [\"true\"]\n",
        &[],
        "runall.toml:1:",
    );
}

#[test]
fn syntax_error() {
    rejects("[env.a\ncommands = 1\n", &[], "runall.toml:1:");
}

#[test]
fn unknown_env_on_command_line() {
    rejects(
        "[env.lint]\ncommands = [\"true\"]\n",
        &["nope"],
        "no env matches `nope`",
    );
}

#[test]
fn glob_matching_nothing() {
    rejects(
        "[env.lint]\ncommands = [\"true\"]\n",
        &["py*"],
        "no env matches `py*`",
    );
}

#[test]
fn missing_config() {
    let p = Project::new("");
    std::fs::remove_file(p.path().join("runall.toml")).unwrap();
    let run = p.run(&["--ci"]);
    run.assert_code(2);
    assert!(
        run.stderr().contains("no runall.toml in"),
        "{}",
        run.stderr()
    );
}

#[test]
fn bad_flag_value() {
    let p = Project::new("[env.a]\ncommands = [\"true\"]\n");
    let run = p.run(&["--ci", "--output", "sideways"]);
    run.assert_code(2);
    assert!(run.stderr().contains("sideways"), "{}", run.stderr());
}
