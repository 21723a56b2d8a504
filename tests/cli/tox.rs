//! runall on tox projects, with the real pinned tox (`support::path_with_python_tools`): the
//! fixtures in tests/fixtures/tox-ini and tests/fixtures/tox-toml (factors, labels, depends,
//! a failing env, a skipped interpreter, posargs, envs installing the fixture package built by
//! its in-tree backend, skip_install envs), copied into a temp folder per test. tox is slow on
//! a small machine, so each test runs several scenarios in one project, its `.tox` warm after
//! the first run.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{PATIENCE, Project, Run, output_of, path_with_python_tools};

/// A project holding a copy of `tests/fixtures/<fixture>` and no runall.toml.
fn tox_project(fixture: &str) -> Project {
    let p = Project::new("");
    fs::remove_file(p.path().join("runall.toml")).expect("remove runall.toml");
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture);
    for entry in fs::read_dir(&from).expect("fixture") {
        let entry = entry.expect("fixture entry");
        fs::copy(entry.path(), p.path().join(entry.file_name())).expect("copy fixture");
    }
    p
}

fn run(p: &Project, args: &[&str]) -> Run {
    let path = path_with_python_tools();
    p.run_with(args, &[("PATH", &path)])
}

/// How many times the fixture's backend built the package.
fn builds(p: &Project) -> usize {
    fs::read_to_string(p.path().join("builds.log")).map_or(0, |text| text.lines().count())
}

/// The env names `tox config` itself reports (run envs only), in tox's order.
fn tox_envs(p: &Project) -> (Vec<String>, Vec<String>) {
    let out = output_of(
        Command::new("tox")
            .args([
                "config", "--format", "json", "-e", "ALL", "-k", "package", "env_list",
            ])
            .current_dir(p.path())
            .env("PATH", path_with_python_tools()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(&text).expect("tox config JSON");
    let all = value["env"]
        .as_object()
        .expect("env")
        .iter()
        .filter(|(_, conf)| conf.get("package").is_some())
        .map(|(name, _)| name.clone())
        .collect();
    let env_list = value["tox"]["env_list"]
        .as_array()
        .expect("env_list")
        .iter()
        .map(|v| v.as_str().expect("name").to_owned())
        .collect();
    (all, env_list)
}

fn listed(p: &Project) -> Value {
    let run = run(p, &["list", "--json"]);
    run.assert_code(0);
    serde_json::from_slice(&run.stdout).expect("list JSON")
}

fn names_where(list: &Value, keep: impl Fn(&Value) -> bool) -> Vec<String> {
    list["envs"]
        .as_array()
        .expect("envs")
        .iter()
        .filter(|env| keep(env))
        .map(|env| env["name"].as_str().expect("name").to_owned())
        .collect()
}

/// The `env_finished` events of a JSON-lines file, by env.
fn finished(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("json file")
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON line"))
        .filter(|event| event["type"] == "env_finished")
        .collect()
}

fn event<'a>(events: &'a [Value], env: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["env"] == env)
        .unwrap_or_else(|| panic!("no env_finished for {env} in {events:?}"))
}

/// Byte offset of the first line of `env`'s output (prefix padded) containing `needle`.
fn line_at(text: &str, env: &str, needle: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some((name, rest)) = line.split_once(" | ")
            && name.trim_end() == env
            && rest.contains(needle)
        {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// Whether `env` printed a line containing `needle`.
fn has(text: &str, env: &str, needle: &str) -> bool {
    line_at(text, env, needle).is_some()
}

/// `runall list --json` of `p`, after checking that it read `file` and that its env set and
/// default envs are exactly what `tox config` says.
fn listed_as_tox_says(p: &Project, file: &str) -> Value {
    let (all, env_list) = tox_envs(p);
    let list = listed(p);
    assert_eq!(list["config"], p.path().join(file).display().to_string());
    assert_eq!(names_where(&list, |e| e["origin"] == "tox"), all);
    assert_eq!(
        names_where(&list, |e| e["origin"] == "tox" && e["default"] == true),
        env_list
    );
    list
}

/// Where `env`'s first command started.
fn started_ms(text: &str, env: &str) -> usize {
    line_at(text, env, "$ ").unwrap_or_else(|| panic!("{env} never started in\n{text}"))
}

#[test]
fn tox_ini_project_runs_as_tox_would_with_one_package_build() {
    let p = tox_project("tox-ini");
    // The env set is tox's, package envs dropped; the default run is tox's env_list.
    let list = listed_as_tox_says(&p, "tox.ini");
    assert_eq!(
        names_where(&list, |e| e["origin"] == "tox-package"),
        [".package"]
    );
    let text = run(&p, &["list"]).stdout();
    assert!(text.starts_with(&format!("config: {}", p.path().join("tox.ini").display())));
    assert!(text.contains("extra  [tox, not in env_list]"), "{text}");
    assert!(text.contains("cov  [tox]\n  combines the others"), "{text}");

    // Everything tox's env_list names, at most 2 at a time.
    let junit = p.path().join("junit.xml");
    let json = p.path().join("events.jsonl");
    let first = run(
        &p,
        &[
            "--ci",
            "-p",
            "2",
            "--junit",
            junit.to_str().expect("utf-8"),
            "--json",
            json.to_str().expect("utf-8"),
        ],
    );
    first.assert_code(1);
    let out = first.stdout();
    let err = first.stderr();
    let both = format!("{out}{err}");
    // One build for the four envs that install the package (and `old`, skipped).
    assert_eq!(builds(&p), 1, "{both}");
    for env in ["py-a", "py-b", "py-c", "py-d"] {
        assert!(
            has(&both, env, &format!("{env}: install_package> ")),
            "{env} installed the built package:\n{both}"
        );
        assert!(has(&both, env, "fixpkg 42 args: ['none']"), "{both}");
    }
    assert!(has(&both, "py-b", "only in factor b"), "{both}");
    assert!(!has(&both, "py-a", "only in factor b"), "{both}");
    assert!(
        !has(&both, "extra", ""),
        "extra is not in env_list:\n{both}"
    );
    // skip_install envs did not wait for the build.
    let built = line_at(&both, ".package", "✔ passed").expect("the build passed");
    assert!(started_ms(&both, "lint") < built, "{both}");
    assert!(started_ms(&both, "py-a") > built, "{both}");
    let events = finished(&json);
    let verdict = |env: &str| event(&events, env)["verdict"].as_str().map(str::to_owned);
    assert_eq!(verdict("fail").as_deref(), Some("failed"));
    assert_eq!(event(&events, "fail")["exit_code"], 3);
    // The skipped interpreter is a skip with tox's reason, not a failure.
    assert_eq!(verdict("old").as_deref(), Some("skipped"));
    assert_eq!(
        event(&events, "old")["outcome"],
        "skipped: could not find python interpreter with spec(s): python2.5"
    );
    // cov orders after fail, and still runs though fail failed.
    assert_eq!(verdict("cov").as_deref(), Some("passed"));
    assert!(started_ms(&both, "cov") > line_at(&both, "fail", "✘ exit 3").expect("fail's end"));
    assert!(both.contains("7 passed, 1 failed, 1 skipped"), "{both}");
    let xml = fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains(r#"type="skipped""#)
            && xml.contains("could not find python interpreter with spec(s): python2.5"),
        "{xml}"
    );
    assert!(xml.contains(r#"<testcase name="cov""#), "{xml}");

    // Without the failing env the run passes: a skip does not fail it (exit 0).
    let second = run(&p, &["--ci", "--exclude", "fail"]);
    second.assert_code(0);
    assert!(
        second
            .stdout()
            .contains("skipped: could not find python interpreter")
    );
    assert_eq!(builds(&p), 2, "one more build for the second run");

    selections_work_like_tox(&p);
}

/// Labels, `-m`, `-e a,b`, globs and POSARGS on the warm tox.ini project.
fn selections_work_like_tox(p: &Project) {
    // Labels select what `tox -m` selects; globs and tox's `-e a,b` habits work too; an env
    // that installs nothing needs no build.
    let labelled = run(p, &["--ci", "label:quick"]);
    labelled.assert_code(0);
    let text = labelled.stdout();
    // py-a is the only env installing the package: it builds it itself, no build step.
    assert!(!has(&text, ".package", ""), "{text}");
    assert_eq!(builds(p), 3, "{text}");
    assert!(
        has(&text, "lint", "lint ok") && has(&text, "py-a", "fixpkg 42"),
        "{text}"
    );
    assert!(!has(&text, "py-b", ""), "{text}");
    let by_m = run(p, &["--ci", "-m", "style", "-e", "extra,fail"]);
    by_m.assert_code(1);
    let text = by_m.stdout();
    assert!(
        has(&text, "lint", "lint ok") && has(&text, "extra", "extra ran"),
        "{text}"
    );
    assert!(
        !has(&text, ".package", ""),
        "no build for skip_install envs:\n{text}"
    );
    // POSARGS go to tox after `--`.
    let glob = run(p, &["--ci", "py-[ab]", "--", "-k", "two words"]);
    glob.assert_code(0);
    let text = glob.stdout();
    for env in ["py-a", "py-b"] {
        assert!(
            has(&text, env, "fixpkg 42 args: ['-k', 'two words']"),
            "{text}"
        );
    }
    assert!(!has(&text, "py-c", ""), "{text}");
}

/// runall.toml's envs (under `tox = true`) may name tox envs in `depends` and `after`; an
/// unknown name is still an error naming the key, with the tox envs among those listed.
fn runall_toml_envs_name_tox_envs(p: &Project) {
    fs::write(
        p.path().join("runall.toml"),
        "[settings]\ntox = true\n[env.mine]\ncommands = [\"echo mine\"]\nafter = [\"report\"]\ndepends = [\"lint\"]\n",
    )
    .expect("write");
    let out = run(p, &["--ci", "-j", "4", "mine", "report"]);
    out.assert_code(0);
    let text = out.stdout();
    assert!(
        has(&text, "lint", "lint ok"),
        "depends pulls lint in\n{text}"
    );
    let report = line_at(&text, "report", "report ran").expect("report ran");
    assert!(
        report < started_ms(&text, "mine"),
        "after: report first\n{text}"
    );
    fs::write(
        p.path().join("runall.toml"),
        "[settings]\ntox = true\n[env.mine]\ncommands = [\"echo mine\"]\nafter = [\"nope\"]\n",
    )
    .expect("write");
    let bad = run(p, &["--ci"]);
    bad.assert_code(2);
    let err = bad.stderr();
    assert!(
        err.contains("runall.toml:5:10: env.mine.after[0]: unknown env `nope`"),
        "{err}"
    );
    assert!(err.contains("report"), "tox envs are listed: {err}");
}

#[test]
fn tox_toml_project_and_discovery_order() {
    let p = tox_project("tox-toml");
    let list = listed_as_tox_says(&p, "tox.toml");
    let envs = list["envs"].as_array().expect("envs");
    let by = |name: &str| {
        envs.iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    // `ref` resolved by tox, labels merged from the core table, depends as `after`.
    assert_eq!(by("py-b")["description"], "style checks");
    assert_eq!(by("py-a")["labels"], serde_json::json!(["quick"]));
    assert_eq!(
        by("report")["after"],
        serde_json::json!(["py-a", "py-b", "fail"])
    );
    assert_eq!(by("report")["depends"], serde_json::json!([]));

    let junit = p.path().join("junit.xml");
    let out = run(
        &p,
        &["--ci", "--junit", junit.to_str().expect("utf-8"), "--", "x"],
    );
    out.assert_code(1);
    let text = out.stdout();
    assert_eq!(builds(&p), 1, "{text}");
    assert!(has(&text, "py-a", "fixpkg 42 args: ['x']"), "{text}");
    assert!(has(&text, "report", "report ran"), "{text}");
    // py-a, py-b, lint, report and the package build passed.
    assert!(text.contains("5 passed, 1 failed, 1 skipped"), "{text}");

    // Discovery: a runall.toml wins over tox's files; `tox = true` adds tox's envs; `-c`
    // names one; tox.ini beats tox.toml in the same folder (tox's order).
    fs::write(
        p.path().join("runall.toml"),
        "[env.mine]\ncommands = [\"echo mine\"]\n",
    )
    .expect("write");
    let list = listed(&p);
    assert_eq!(names_where(&list, |_| true), ["mine"]);
    fs::write(
        p.path().join("runall.toml"),
        "[settings]\ntox = true\n[env.mine]\ncommands = [\"echo mine\"]\n[env.lint]\ncommands = [\"echo my lint\"]\n",
    )
    .expect("write");
    let list = listed(&p);
    let names = names_where(&list, |_| true);
    assert_eq!(names[..2], ["mine", "lint"]);
    assert!(names.contains(&"report".to_owned()), "{names:?}");
    assert_eq!(
        names_where(&list, |e| e["name"] == "lint" && e["origin"] == "runall"),
        ["lint"]
    );
    let text = run(&p, &["list"]).stdout();
    assert!(text.contains("(and tox envs from"), "{text}");
    runall_toml_envs_name_tox_envs(&p);
    let list =
        serde_json::from_slice::<Value>(&run(&p, &["list", "--json", "-c", "tox.toml"]).stdout)
            .expect("json");
    assert!(names_where(&list, |e| e["origin"] == "runall").is_empty());
    fs::remove_file(p.path().join("runall.toml")).expect("rm");
    fs::write(
        p.path().join("tox.ini"),
        "[tox]\nenv_list = ini\n[testenv:ini]\nskip_install = true\n",
    )
    .expect("write");
    let list = listed(&p);
    assert_eq!(
        list["config"],
        p.path().join("tox.ini").display().to_string()
    );
    assert_eq!(names_where(&list, |e| e["origin"] == "tox"), ["ini"]);
}

#[test]
fn tox_problems_are_clear_errors_and_start_nothing() {
    // A broken tox.ini: tox's own message, exit 2.
    let p = tox_project("tox-ini");
    fs::write(p.path().join("tox.ini"), "[tox\nenv_list = a\n").expect("write");
    let broken = run(&p, &["--ci"]);
    broken.assert_code(2);
    let err = broken.stderr();
    assert!(err.contains("tox.ini: tox cannot read it"), "{err}");
    assert!(err.contains("File contains no section headers"), "{err}");
    assert!(!p.path().join(".runall").exists(), "nothing started");

    // No tox at all.
    let missing = p.run_with(&["--ci"], &[("RUNALL_TOX", "/nonexistent/tox --x")]);
    missing.assert_code(2);
    let err = missing.stderr();
    assert!(
        err.contains("tox not found: `/nonexistent/tox` (from RUNALL_TOX)")
            && err.contains("tox 4"),
        "{err}"
    );

    // A tox without `config --format json`.
    let old = p.path().join("old-tox");
    fs::write(
        &old,
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '4.11.0 from /x'; exit 0; fi\n\
         echo 'tox: error: unrecognized arguments: --format json' >&2; exit 2\n",
    )
    .expect("write");
    fs::set_permissions(&old, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let too_old = p.run_with(&["--ci"], &[("RUNALL_TOX", old.to_str().expect("utf-8"))]);
    too_old.assert_code(2);
    let err = too_old.stderr();
    assert!(
        err.contains("is tox 4.11.0 from /x, which has no `tox config --format json`"),
        "{err}"
    );
    assert!(!p.path().join(".runall").exists(), "nothing started");

    // Neither runall.toml nor a tox configuration.
    let empty = Project::new("");
    fs::remove_file(empty.path().join("runall.toml")).expect("rm");
    let none = empty.run(&["--ci"]);
    none.assert_code(2);
    assert!(
        none.stderr().contains("no tox configuration"),
        "{}",
        none.stderr()
    );
}

#[test]
fn init_from_tox_writes_an_equivalent_runall_toml_once() {
    let p = tox_project("tox-toml");
    let first = run(&p, &["init", "--from-tox"]);
    first.assert_code(0);
    let written = fs::read_to_string(p.path().join("runall.toml")).expect("written");
    assert!(written.contains("[env.report]"), "{written}");
    assert!(
        written.contains("after = [\"py-a\", \"py-b\", \"fail\"]"),
        "{written}"
    );
    assert!(written.contains("commands = [[\"tox\", \"run\", \"-e\", \"lint\", \"{--posargs}\"]]"));
    assert!(!written.contains(".package"), "{written}");
    // It is a valid runall.toml with the same envs and default set.
    let list = listed(&p);
    assert_eq!(
        list["config"],
        p.path().join("runall.toml").display().to_string()
    );
    let (all, env_list) = tox_envs(&p);
    assert_eq!(names_where(&list, |_| true), all);
    assert_eq!(names_where(&list, |e| e["default"] == true), env_list);
    // Never overwritten.
    let again = run(&p, &["init", "--from-tox"]);
    again.assert_code(2);
    assert!(
        again
            .stderr()
            .contains("already exists; not overwriting it")
    );
    assert_eq!(
        fs::read_to_string(p.path().join("runall.toml")).expect("kept"),
        written
    );
}

/// Waits until `path` exists.
fn wait_for_file(path: &Path, what: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_during_a_tox_install_leaves_nothing_and_the_next_run_passes() {
    let p = tox_project("tox-ini");
    // A dependency whose build (inside tox's `pip install`) waits while SLOW exists.
    let dep = p.path().join("slowdep");
    fs::create_dir(&dep).expect("mkdir");
    fs::write(
        dep.join("pyproject.toml"),
        "[build-system]\nrequires = []\nbuild-backend = \"slow\"\nbackend-path = [\".\"]\n\
         [project]\nname = \"slowdep\"\nversion = \"0.1\"\n",
    )
    .expect("write");
    let backend = fs::read_to_string(p.path().join("backend.py"))
        .expect("backend")
        .replace("\"fixpkg\"", "\"slowdep\"")
        .replace(
            "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n",
            "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    \
             import time\n    open(os.path.join(HERE, '..', 'installing'), 'w').close()\n    \
             while os.path.exists(os.path.join(HERE, '..', 'SLOW')):\n        time.sleep(0.05)\n",
        );
    fs::write(dep.join("slow.py"), backend).expect("write");
    fs::write(p.path().join("SLOW"), "").expect("write");
    fs::write(
        p.path().join("tox.ini"),
        "[tox]\nenv_list = inst\n[testenv:inst]\nskip_install = true\ndeps = ./slowdep\n\
         commands = python -c \"import slowdep; print('slowdep ok')\"\n",
    )
    .expect("write");
    let path = path_with_python_tools();
    let running = p.spawn_with(&["--ci"], &[("PATH", &path)]);
    wait_for_file(
        &p.path().join("installing"),
        "pip to start building slowdep",
    );
    let sent = Instant::now();
    running.signal(libc::SIGINT);
    let stopped = running.finish();
    let ladder = crate::support::PATIENCE.min(Duration::from_secs(14));
    assert!(sent.elapsed() < ladder, "stopped within the ladder's time");
    assert_eq!(stopped.signal(), Some(libc::SIGINT), "{}", stopped.stdout());
    assert!(
        stopped.stdout().contains("interrupted"),
        "{}",
        stopped.stdout()
    );
    p.assert_no_survivors();
    // The next run of the same env installs and passes: `.tox` is usable.
    fs::remove_file(p.path().join("SLOW")).expect("rm");
    let next = run(&p, &["--ci"]);
    next.assert_code(0);
    assert!(
        next.stdout().contains("inst | slowdep ok"),
        "{}",
        next.stdout()
    );
}

#[test]
fn pytest_under_tox_is_coloured_unless_colour_is_off() {
    let p = tox_project("tox-ini");
    fs::write(
        p.path().join("test_it.py"),
        "def test_it():\n    assert True\n",
    )
    .expect("write");
    fs::write(
        p.path().join("tox.ini"),
        "[tox]\nenv_list = t\n[testenv:t]\nskip_install = true\nallowlist_externals = pytest\n\
         commands = pytest -q -p no:cacheprovider test_it.py\n",
    )
    .expect("write");
    // The log holds pytest's bytes as written.
    let sgr = || p.log("t").windows(2).any(|w| w == b"\x1b[");
    let coloured = run(&p, &["--ci", "--color", "always"]);
    coloured.assert_code(0);
    assert!(sgr(), "pytest coloured under tox:\n{}", coloured.stdout());
    let plain = run(&p, &["--ci", "--color", "never"]);
    plain.assert_code(0);
    assert!(!sgr(), "no colour with --color never:\n{}", plain.stdout());
    assert!(!plain.stdout().contains('\u{1b}'), "{}", plain.stdout());
    assert!(plain.stdout().contains("1 passed"), "{}", plain.stdout());
}

#[test]
fn after_runs_once_its_envs_finished_whatever_their_outcome() {
    let p = Project::new(
        r#"
[env.report]
commands = ["echo report ran"]
after = ["slow", "broken"]
[env.slow]
commands = ["sleep 0.3; echo slow done"]
[env.broken]
commands = ["exit 4"]
[env.strict]
commands = ["echo strict ran"]
depends = ["broken"]
[env.manual]
commands = ["echo manual ran"]
default = false
"#,
    );
    let run = p.run(&["--ci", "-j", "4"]);
    run.assert_code(1);
    let out = run.stdout();
    let report = started_ms(&out, "report");
    assert!(
        report > line_at(&out, "slow", "✔ passed").expect("slow ended"),
        "{out}"
    );
    assert!(
        report > line_at(&out, "broken", "✘ exit 4").expect("broken ended"),
        "{out}"
    );
    assert!(has(&out, "report", "report ran"), "{out}");
    assert!(has(&out, "strict", "skipped: broken did not pass"), "{out}");
    assert!(
        !has(&out, "manual", ""),
        "default = false is not run unless named:\n{out}"
    );
    // `after` selects nothing: report alone runs at once.
    let alone = p.run(&["--ci", "report", "manual"]);
    alone.assert_code(0);
    let out = alone.stdout();
    assert!(
        has(&out, "report", "report ran") && has(&out, "manual", "manual ran"),
        "{out}"
    );
    assert!(!has(&out, "slow", "") && !has(&out, "broken", ""), "{out}");
}

#[test]
fn pytest_under_tox_is_coloured_in_the_tui() {
    use crate::tui_e2e::{Tmux, assert_clean_exit};
    let bin = crate::support::python_tools();
    let p = Project::new(&format!(
        "[settings]\ntox = true\ntox_command = [{}]\n",
        crate::support::toml_str(&bin.join("tox").display().to_string())
    ));
    fs::write(
        p.path().join("test_it.py"),
        "def test_it():\n    assert True\n",
    )
    .expect("write");
    fs::write(
        p.path().join("tox.ini"),
        format!(
            "[tox]\nenv_list = t\n[testenv:t]\nskip_install = true\nallowlist_externals = {pytest}\n\
             commands = {pytest} -q -p no:cacheprovider test_it.py\n",
            pytest = bin.join("pytest").display()
        ),
    )
    .expect("write");
    let tmux = Tmux::start(&p, "");
    tmux.wait_for("done");
    tmux.keys(&["q"]);
    assert_clean_exit(&p, &tmux, "0");
    let log = p.log("t");
    assert!(
        log.windows(2).any(|w| w == b"\x1b["),
        "pytest under tox coloured its output in the TUI:\n{}",
        String::from_utf8_lossy(&log)
    );
}

#[test]
fn tox_is_asked_again_only_when_what_it_reads_changed() {
    let p = tox_project("tox-ini");
    let tox = crate::support::python_tools().join("tox");
    let wrapper = p.path().join("counting-tox");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$1\" >> {calls}\nexec {tox} \"$@\"\n",
            calls = p.path().join("calls.log").display(),
            tox = tox.display()
        ),
    )
    .expect("write");
    fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let wrapper = wrapper.to_str().expect("utf-8").to_owned();
    let asked = || {
        fs::read_to_string(p.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| *line == "config")
            .count()
    };
    let list = |extra: &[(&str, &str)]| {
        let mut env = vec![("RUNALL_TOX", wrapper.as_str())];
        env.extend_from_slice(extra);
        let out = p.run_with(&["list", "--json"], &env);
        out.assert_code(0);
        let list: Value = serde_json::from_slice(&out.stdout).expect("json");
        names_where(&list, |e| e["origin"] == "tox")
    };
    // A run that exits 2 keeps nothing: no `.runall` is left behind.
    let bad = p.run_with(&["--ci", "nope"], &[("RUNALL_TOX", wrapper.as_str())]);
    bad.assert_code(2);
    assert_eq!(asked(), 1);
    assert!(!p.path().join(".runall").exists(), "nothing kept");
    let first = list(&[]);
    assert!(first.contains(&"py-a".to_owned()), "{first:?}");
    assert_eq!(asked(), 2);
    assert!(
        p.path().join(".runall/.gitignore").is_file(),
        ".runall is made with its .gitignore"
    );
    assert_eq!(list(&[]), first, "the kept answer");
    assert_eq!(asked(), 2, "not asked again");
    let kept = p.path().join(".runall/tox/tox.ini.config.json");
    assert!(kept.is_file(), "kept in .runall/tox");
    // An edit of tox.ini: asked again, and the new env is there.
    let ini = fs::read_to_string(p.path().join("tox.ini")).expect("read");
    fs::write(
        p.path().join("tox.ini"),
        format!("{ini}\n[testenv:added]\nskip_install = true\n"),
    )
    .expect("write");
    let edited = list(&[]);
    assert_eq!(asked(), 3);
    assert!(edited.contains(&"added".to_owned()), "{edited:?}");
    // tox's inline plugin beside it.
    fs::write(p.path().join("toxfile.py"), "# no hooks\n").expect("write");
    list(&[]);
    assert_eq!(asked(), 4, "a toxfile.py counts");
    // Another environment variable, and the cache turned off.
    list(&[("SOME_SETTING", "1")]);
    assert_eq!(asked(), 5);
    list(&[("SOME_SETTING", "1")]);
    assert_eq!(asked(), 5);
    let off = [("SOME_SETTING", "1"), ("RUNALL_TOX_CACHE", "0")];
    list(&off);
    list(&off);
    assert_eq!(asked(), 7, "RUNALL_TOX_CACHE=0 asks every time");
    // A failed package build forgets what tox said.
    list(&[]);
    assert!(kept.is_file());
    let backend = fs::read_to_string(p.path().join("backend.py")).expect("read");
    fs::write(
        p.path().join("backend.py"),
        backend.replace(
            "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n",
            "def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):\n    raise SystemExit('no build')\n",
        ),
    )
    .expect("write");
    let failed = p.run_with(
        &["--ci", "py-a", "py-b"],
        &[("RUNALL_TOX", wrapper.as_str())],
    );
    failed.assert_code(1);
    assert!(
        failed.stdout().contains("skipped: .package did not pass"),
        "{}",
        failed.stdout()
    );
    assert!(!kept.exists(), "forgotten after the failed build");
}
