//! `{posargs}` in shell commands: whatever the posargs hold and wherever the placeholder sits
//! (outside quotes, in `'…'`, in `"…"`, in `$(…)`), they reach the command literally and never
//! run as shell code.

use crate::support::{Project, toml_str};

#[test]
fn posargs_never_run_as_shell_code_in_any_quote_context() {
    let contexts = [
        "printf '[%s]\\n' {posargs}",
        "printf '[%s]\\n' '{posargs}'",
        "printf '[%s]\\n' \"{posargs}\"",
        "printf '[%s]\\n' \"$(printf '%s' {posargs})\"",
        "x=`printf '%s' \"{posargs}\"`; printf '[%s]\\n' \"$x\"",
        "cat <<EOF\n[{posargs}]\nEOF",
    ];
    let mut config = String::new();
    for (i, context) in contexts.iter().enumerate() {
        config.push_str(&format!("[env.c{i}]\ncommands = [{}]\n", toml_str(context)));
    }
    let hostile = [
        "$(touch pwned)",
        "`touch pwned`",
        "'; touch pwned; '",
        "\"; touch pwned; \"",
        "x\ntouch pwned",
    ];
    for arg in hostile {
        let p = Project::new(&config);
        let run = p.run(&["--ci", "--", arg]);
        run.assert_code(0);
        assert!(
            !p.path().join("pwned").exists(),
            "{arg:?} ran as code:\n{}",
            run.stdout()
        );
        for (i, context) in contexts.iter().enumerate() {
            let log = String::from_utf8_lossy(&p.log(&format!("c{i}"))).into_owned();
            assert_eq!(log, format!("[{arg}]\n"), "{context:?} with {arg:?}");
        }
    }
}

#[test]
fn an_unquotable_place_is_refused_before_anything_runs() {
    let p = Project::new("[env.a]\ncommands = [\"echo ${X:-{posargs}}\"]\n");
    let run = p.run(&["--ci", "--", "x"]);
    run.assert_code(2);
    assert!(
        run.stderr()
            .contains("env `a`: command 1: {posargs} inside ${…} cannot be quoted safely"),
        "{}",
        run.stderr()
    );
    assert!(!p.path().join(".runall").exists(), "nothing started");
}
