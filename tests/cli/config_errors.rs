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

#[test]
fn huge_or_negative_numbers_are_rejected_where_written() {
    let cases = [
        (
            "[settings]\ntimeout = 1e19\n[env.a]\ncommands = [\"true\"]\n",
            "runall.toml:2:11: settings.timeout: invalid duration `1e19`: must be at most 8760h \
             (365 days)",
        ),
        (
            "[settings]\nleak_timeout = 9223372036854775807\n[env.a]\ncommands = [\"true\"]\n",
            "runall.toml:2:16: settings.leak_timeout: invalid duration `9223372036854775807`: \
             must be at most 8760h (365 days)",
        ),
        (
            "[settings]\ninterrupt_timeout = 1e19\n[env.a]\ncommands = [\"true\"]\n",
            "runall.toml:2:21: settings.interrupt_timeout: invalid duration",
        ),
        (
            "[env_run_base]\ntimeout = \"5000000000000000h\"\n[env.a]\ncommands = [\"true\"]\n",
            "runall.toml:2:11: env_run_base.timeout: invalid duration `5000000000000000h`: must \
             be at most 8760h (365 days)",
        ),
        (
            "[env.a]\ncommands = [\"true\"]\ntimeout = nan\n",
            "runall.toml:3:11: env.a.timeout: invalid duration `NaN`",
        ),
        (
            "[settings]\nretries = 4294967295\n[env.a]\ncommands = [\"true\"]\n",
            "runall.toml:2:11: settings.retries: 4294967295 is out of range: must be from 0 to 100",
        ),
        (
            "[settings]\njobs = 100000\n[env.a]\ncommands = [\"true\"]\n",
            "runall.toml:2:8: settings.jobs: 100000 is out of range: must be from 1 to 1024",
        ),
    ];
    for (config, expected) in cases {
        rejects(config, &[], expected);
    }
}

#[test]
fn jobs_on_the_command_line_has_the_same_range() {
    let config = "[env.a]\ncommands = [\"true\"]\n";
    rejects(config, &["-j", "0"], "--jobs 0: must be from 1 to 1024");
    rejects(
        config,
        &["--jobs", "5000"],
        "--jobs 5000: must be from 1 to 1024",
    );
    rejects(config, &["-j", "-1"], "-1");
    let p = Project::new(config);
    p.run(&["--ci", "-j", "1024"]).assert_code(0);
}

#[test]
fn nul_bytes_and_bad_variable_names_are_rejected_where_written() {
    let cases = [
        (
            "[env.a]\ncommands = [\"true\\u0000x\"]\n",
            "runall.toml:2:13: env.a.commands[0]: must not contain a NUL byte",
        ),
        (
            "[env.a]\ncommands = [[\"echo\", \"\\u0000\"]]\n",
            "runall.toml:2:22: env.a.commands[0][1]: must not contain a NUL byte",
        ),
        (
            "[env.a]\ncommands = [\"true\"]\nset_env = { A = \"x\\u0000\" }\n",
            "runall.toml:3:17: env.a.set_env.A: must not contain a NUL byte",
        ),
        (
            "[env.a]\ncommands = [\"true\"]\nchange_dir = \"\\u0000\"\n",
            "runall.toml:3:14: env.a.change_dir: must not contain a NUL byte",
        ),
        (
            "[env.a]\ncommands = [\"true\"]\nset_env = { \"A=B\" = \"x\" }\n",
            "runall.toml:3:13: env.a.set_env.\"A=B\": invalid variable name \"A=B\": must not be \
             empty or contain `=` or a NUL byte",
        ),
        (
            "[env.a]\ncommands = [\"true\"]\nset_env = { \"\" = \"x\" }\n",
            "runall.toml:3:13: env.a.set_env.\"\": invalid variable name \"\"",
        ),
    ];
    for (config, expected) in cases {
        rejects(config, &[], expected);
    }
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let p = Project::new("");
    std::fs::write(
        p.path().join("runall.toml"),
        b"[env.a]\ncommands = [\"caf\xe9\"]\n",
    )
    .expect("write config");
    let run = p.run(&["--ci"]);
    run.assert_code(2);
    assert!(
        run.stderr()
            .contains("runall.toml:2:17: not valid UTF-8 (byte 0xe9)"),
        "{}",
        run.stderr()
    );
    assert!(!p.path().join(".runall").exists(), "nothing started");
}

#[test]
fn an_empty_config_names_its_file() {
    rejects(
        "[settings]\njobs = 2\n",
        &[],
        "runall.toml: no envs defined (add an `[env.NAME]` table with `commands`)",
    );
}

#[test]
fn a_long_cycle_is_shortened() {
    let mut config = String::new();
    for i in 0..5000 {
        config.push_str(&format!(
            "[env.e{i}]\ncommands = [\"true\"]\ndepends = [\"e{}\"]\n",
            (i + 1) % 5000
        ));
    }
    let p = Project::new(&config);
    let run = p.run(&["--ci"]);
    run.assert_code(2);
    let err = run.stderr();
    assert!(
        err.contains(
            "runall.toml:3:12: env.e0.depends[0]: dependency cycle of 5000 envs: e0 -> e1 -> e2 \
             -> e3 -> … (4995 more) … -> e4999 -> e0"
        ),
        "{err}"
    );
    assert!(err.len() < 300, "one short line: {err}");
}

#[test]
fn a_base_dependency_is_not_inherited_by_itself() {
    let p = Project::new(
        "[env_run_base]\ndepends = [\"sdist\"]\ncommands = [\"true\"]\n\
         [env.sdist]\n[env.unit]\n",
    );
    let run = p.run(&["--ci"]);
    run.assert_code(0);
    let out = run.stdout();
    assert!(
        crate::support::summary_row(&out, "sdist").contains("passed")
            && crate::support::summary_row(&out, "unit").contains("passed"),
        "{out}"
    );
}
