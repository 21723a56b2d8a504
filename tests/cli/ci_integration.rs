//! CI integration on the real binary: JUnit read back by an independent reader, the JSON-lines
//! stream checked against its schema, GitHub Actions workflow commands and step summary, shards,
//! duration-ordered scheduling, `--rerun-failed`, `retries` and flaky envs, and the CLI
//! conveniences (completions, man page, init, help, version).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::process::Output;

use junit_parser::{RerunOrFlakyKind, TestCase};
use serde_json::Value;

use crate::support::{Project, config_of, summary_row, toml_str};

/// An env that fails on its first run and passes on the next (a marker file in the project).
const FLAKY: &str = "if [ -e flaky.marker ]; then echo second try; \
                     else touch flaky.marker; echo first try; exit 1; fi";

fn read_junit(path: &Path) -> BTreeMap<String, TestCase> {
    let file = fs::File::open(path).expect("junit file");
    let suites = junit_parser::from_reader(BufReader::new(file)).expect("valid JUnit XML");
    assert_eq!(suites.suites.len(), 1, "one testsuite");
    let suite = &suites.suites[0];
    assert_eq!(suite.name, "runall");
    suite
        .cases
        .iter()
        .map(|case| {
            // The reader names a case `classname::name`; `original_name` is the attribute.
            assert_eq!(case.classname.as_deref(), Some("runall"), "{}", case.name);
            assert_eq!(case.name, format!("runall::{}", case.original_name));
            (case.original_name.clone(), case.clone())
        })
        .collect()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

fn property<'a>(case: &'a TestCase, name: &str) -> Option<&'a str> {
    case.properties.hashmap.get(name).map(String::as_str)
}

/// Every outcome reaches the JUnit report precisely, and an independent reader loads it.
#[test]
fn junit_report_reads_back_with_every_outcome() {
    let big: String = "i=0; while [ $i -lt 1000 ]; do i=$((i+1)); echo \"line $i\"; done".into();
    let config = format!(
        r#"
[env.ok]
commands = ["echo hello"]
[env.code]
commands = ["echo oops; exit 3"]
[env.sig]
commands = ["kill -9 $$"]
[env.dep]
depends = ["code"]
commands = ["echo never"]
[env.flaky]
retries = 1
commands = [{flaky}]
[env.spawn]
commands = [["/nonexistent/program"]]
[env.dirty]
commands = [{dirty}]
[env.big]
commands = [{big}]
"#,
        flaky = toml_str(FLAKY),
        dirty = toml_str(r"printf 'a\033[31mred\033[0m\000b\001c \377 \033]0;title\007end\n'"),
        big = toml_str(&big),
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--junit", "report.xml"]);
    run.assert_code(1);
    let cases = read_junit(&p.path().join("report.xml"));
    let names: BTreeSet<&str> = cases.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["big", "code", "dep", "dirty", "flaky", "ok", "sig", "spawn"])
    );

    let ok = &cases["ok"];
    assert!(ok.status.is_success());
    assert!(ok.time >= 0.0);
    assert_eq!(ok.system_out.as_deref(), Some("hello\n"));
    assert_eq!(
        property(ok, "log"),
        Some(p.log_path("ok").to_str().unwrap())
    );

    let code = cases["code"].status.failure_as_ref();
    assert_eq!(
        (code.failure_type.as_str(), code.message.as_str()),
        ("exit", "exit 3")
    );
    assert_eq!(cases["code"].system_out.as_deref(), Some("oops\n"));

    let sig = cases["sig"].status.failure_as_ref();
    assert_eq!(sig.failure_type, "signal");
    assert_eq!(sig.message, "killed by SIGKILL");

    let dep = cases["dep"].status.skipped_as_ref();
    assert_eq!(dep.message, "skipped: code did not pass");
    assert_eq!(dep.skipped_type, "dependency");

    let spawn = cases["spawn"].status.error_as_ref();
    assert_eq!(spawn.error_type, "spawn");
    assert!(
        spawn.message.contains("/nonexistent/program"),
        "{}",
        spawn.message
    );

    let flaky = &cases["flaky"];
    assert!(flaky.status.is_success(), "a flaky env passed");
    assert_eq!(flaky.reruns.len(), 1);
    assert!(matches!(
        flaky.reruns[0].kind,
        RerunOrFlakyKind::FlakyFailure
    ));
    assert_eq!(flaky.reruns[0].message, "exit 1");
    assert_eq!(flaky.reruns[0].system_out.as_deref(), Some("first try\n"));
    assert_eq!(property(flaky, "flaky"), Some("true"));
    assert_eq!(property(flaky, "attempts"), Some("2"));
    let out = flaky.system_out.as_deref().unwrap();
    assert!(
        out.contains("(flaky)") && out.ends_with("second try\n"),
        "{out}"
    );

    assert_eq!(
        cases["dirty"].system_out.as_deref(),
        Some("ared\\x00b\\x01c \\xff end\n"),
        "escapes removed; NUL, controls and invalid UTF-8 shown as text"
    );

    let big = cases["big"].system_out.as_deref().unwrap();
    let lines: Vec<&str> = big.lines().collect();
    assert_eq!(lines.len(), 100 + 1 + 400);
    assert_eq!((lines[0], lines[99]), ("line 1", "line 100"));
    assert_eq!(
        lines[100],
        format!(
            "… 500 lines omitted, full log: {} …",
            p.log_path("big").display()
        )
    );
    assert_eq!((lines[101], lines[500]), ("line 601", "line 1000"));
}

/// After Ctrl-C the report is still written: the running env interrupted, the rest not run.
#[test]
fn junit_and_json_are_written_after_an_interrupt() {
    let config = format!(
        "[settings]\njobs = 1\n\n{}",
        config_of(&[("slow", "echo started; sleep 30"), ("later", "true")])
    );
    let p = Project::new(&config);
    let running = p.spawn(&[
        "--ci",
        "--color",
        "never",
        "--junit",
        "report.xml",
        "--json",
        "events.jsonl",
    ]);
    running.wait_for("| started");
    running.signal(libc::SIGINT);
    let run = running.finish();
    assert_eq!(run.signal(), Some(libc::SIGINT), "{}", run.stdout());
    p.assert_no_survivors();

    let cases = read_junit(&p.path().join("report.xml"));
    let slow = cases["slow"].status.failure_as_ref();
    assert_eq!(slow.failure_type, "interrupted");
    assert!(slow.message.starts_with("interrupted"), "{}", slow.message);
    let later = cases["later"].status.skipped_as_ref();
    assert_eq!(later.skipped_type, "not-run");

    let events = json_lines(&fs::read_to_string(p.path().join("events.jsonl")).unwrap());
    let last = events.last().unwrap();
    assert_eq!(last["type"], "run_finished");
    assert_eq!(last["exit_code"], 130);
    assert_eq!(last["cause"]["kind"], "signal");
    assert_eq!(last["cause"]["signal"], "SIGINT");
    assert_eq!(
        last["counts"]["interrupted"], 1,
        "slow, stopped while it ran"
    );
    assert_eq!(last["counts"]["not_run"], 1, "later, never started");
}

/// Checks one line against the documented schema; returns its type.
fn check_schema(line: &Value) -> &str {
    assert_eq!(line["schema"], 2, "{line}");
    let kind = line["type"]
        .as_str()
        .unwrap_or_else(|| panic!("no type: {line}"));
    let fields: &[&str] = match kind {
        "run_started" => &["run_id", "envs", "jobs"],
        "env_started" => &["env", "attempt"],
        "command_started" => &["env", "attempt", "index", "command", "pid"],
        "env_finished" | "env_retrying" => &[
            "env",
            "attempt",
            "verdict",
            "outcome",
            "flaky",
            "duration_ms",
            "exit_code",
            "signal",
            "stopped_by",
            "leaked",
            "log",
            "tests",
            "failing_tests",
            "test_warnings",
        ],
        "shutdown_started" => &["cause", "count"],
        "run_finished" => &["counts", "exit_code", "cause", "duration_ms"],
        other => panic!("unknown type {other}"),
    };
    let object = line.as_object().expect("each line is an object");
    for field in fields {
        assert!(object.contains_key(*field), "{kind} lacks {field}: {line}");
    }
    // What the env cost: both figures, exactly when a command ran.
    let ran = line["duration_ms"].is_u64();
    let usage = ["cpu_seconds", "peak_rss_bytes"].map(|f| object.contains_key(f));
    if kind == "env_finished" || kind == "env_retrying" {
        assert_eq!(
            usage,
            [ran, ran],
            "cpu_seconds and peak_rss_bytes when it ran: {line}"
        );
        if ran {
            assert!(line["cpu_seconds"].is_f64(), "{line}");
            assert!(line["peak_rss_bytes"].as_u64() > Some(0), "{line}");
        }
    }
    let allowed = fields.len()
        + 2
        + usize::from(kind == "env_retrying")
        + usage.iter().filter(|&&present| present).count();
    assert_eq!(object.len(), allowed, "unexpected fields: {line}");
    if kind == "env_retrying" {
        assert!(line["next_attempt"].is_u64(), "{line}");
    }
    if kind == "env_finished" {
        let verdict = line["verdict"].as_str().expect("verdict is a string");
        assert!(
            ["passed", "failed", "skipped", "interrupted"].contains(&verdict),
            "{line}"
        );
        let ran = verdict != "skipped";
        assert_eq!(line["log"].is_string(), ran, "{line}");
        assert_eq!(line["duration_ms"].is_u64(), ran, "{line}");
    }
    kind
}

const JSON_CONFIG: &str = r#"
[env.ok]
commands = ["printf 'output-%s\\n' not-in-json"]
[env.bad]
commands = ["exit 4"]
[env.dep]
depends = ["bad"]
commands = ["true"]
[env.killed]
commands = ["kill -TERM $$"]
"#;

/// Every line is one object of the documented schema, and the final counts add up.
#[test]
fn json_lines_follow_the_schema() {
    let config = format!(
        "{JSON_CONFIG}[env.flaky]\nretries = 2\ncommands = [{}]\n",
        toml_str(FLAKY)
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--json", "events.jsonl"]);
    run.assert_code(1);
    let text = fs::read_to_string(p.path().join("events.jsonl")).unwrap();
    assert!(!text.contains("output-not-in-json"), "{text}");
    let events = json_lines(&text);
    let kinds: Vec<&str> = events.iter().map(check_schema).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert_eq!(
        events[0]["envs"],
        serde_json::json!(["ok", "bad", "dep", "killed", "flaky"])
    );

    let finished: BTreeMap<&str, &Value> = events
        .iter()
        .filter(|e| e["type"] == "env_finished")
        .map(|e| (e["env"].as_str().unwrap(), e))
        .collect();
    assert_eq!(finished.len(), 5, "one env_finished per env");
    assert_eq!(finished["ok"]["verdict"], "passed");
    assert_eq!(finished["ok"]["log"], p.log_path("ok").to_str().unwrap());
    assert_eq!(finished["bad"]["exit_code"], 4);
    assert_eq!(finished["bad"]["outcome"], "exit 4");
    assert_eq!(finished["killed"]["signal"], "SIGTERM");
    assert_eq!(finished["killed"]["exit_code"], Value::Null);
    assert_eq!(finished["dep"]["verdict"], "skipped");
    assert_eq!(finished["flaky"]["flaky"], true);
    assert_eq!(finished["flaky"]["attempt"], 2);
    assert_eq!(finished["flaky"]["outcome"], "passed on attempt 2 (flaky)");

    let retrying: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "env_retrying")
        .collect();
    assert_eq!(retrying.len(), 1);
    assert_eq!(retrying[0]["env"], "flaky");
    assert_eq!(retrying[0]["next_attempt"], 2);
    let starts = events
        .iter()
        .filter(|e| e["type"] == "env_started" && e["env"] == "flaky")
        .count();
    assert_eq!(starts, 2);

    let end = events.last().unwrap();
    let tally = |verdict: &str| {
        finished
            .values()
            .filter(|e| e["verdict"] == verdict)
            .count()
    };
    let counts = &end["counts"];
    assert_eq!(counts["passed"], tally("passed"));
    assert_eq!(counts["failed"], tally("failed"));
    assert_eq!(counts["skipped"], tally("skipped"));
    assert_eq!(counts["interrupted"], tally("interrupted"));
    assert_eq!(counts["not_finished"], 0);
    assert_eq!(counts["flaky"], 1);
    assert_eq!(counts["total"], 5);
    assert_eq!(end["exit_code"], 1);
    assert_eq!(end["cause"], Value::Null);
}

/// `--json -` puts the JSON lines alone on stdout and the human output on stderr.
#[test]
fn json_on_stdout_moves_the_log_to_stderr() {
    let p = Project::new(JSON_CONFIG);
    let run = p.run(&["--ci", "--color", "never", "--json", "-"]);
    run.assert_code(1);
    let events = json_lines(&run.stdout());
    assert!(events.iter().all(|e| !check_schema(e).is_empty()));
    assert_eq!(events.last().unwrap()["counts"]["total"], 4);
    let err = run.stderr();
    assert!(err.contains("ok     | output-not-in-json"), "{err}");
    assert!(!run.stdout().contains("output-not-in-json"));
    assert!(summary_row(&err, "bad").contains("exit 4"), "{err}");
}

/// Runs runall with extra environment variables; checks for survivors like `Project::run`.
fn run_with_env(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = p.command(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = crate::support::output_of(&mut command);
    p.assert_no_survivors();
    output
}

/// Under GitHub Actions: grouped by default, `::group::`/`::endgroup::` folds, an `::error`
/// per env that did not pass, and a Markdown table appended to the step summary.
#[test]
fn github_actions_groups_annotates_and_summarises() {
    let p = Project::new(&config_of(&[
        ("ok", "echo fine"),
        ("bad", "echo first; echo 'the last line'; exit 2"),
        ("quiet", "exit 5"),
    ]));
    let summary = p.path().join("step-summary.md");
    fs::write(&summary, "earlier step\n").unwrap();
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let output = run_with_env(&p, &["--ci", "--color", "never"], &env);
    assert_eq!(output.status.code(), Some(1));
    let out = String::from_utf8_lossy(&output.stdout);
    // Child output is printed with workflow commands paused by a random token; the layout
    // around it is checked with the pause and resume lines left out.
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("::stop-commands::"))
        .unwrap_or_else(|| panic!("no pause in\n{out}"));
    assert!(token.len() >= 32, "{token}");
    let pause = format!("::stop-commands::{token}");
    let resume = format!("::{token}::");
    assert_eq!(
        out.matches(pause.as_str()).count(),
        out.matches(resume.as_str()).count(),
        "{out}"
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| *l != pause && *l != resume)
        .collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("no line starting {needle:?} in\n{out}"))
    };
    let ok = at("::group::ok: passed (");
    assert_eq!(lines[ok + 1], "fine");
    assert_eq!(lines[ok + 2], "::endgroup::");
    let bad = at("::group::bad: exit 2 (");
    assert_eq!(
        &lines[bad + 1..bad + 4],
        ["first", "the last line", "::endgroup::"]
    );
    assert_eq!(
        lines[bad + 4],
        "::error title=bad%3A exit 2::first%0Athe last line"
    );
    let quiet = at("::group::quiet: exit 5 (");
    assert_eq!(lines[quiet + 2], "::error title=quiet%3A exit 5::exit 5");
    assert_eq!(out.matches("::error").count(), 2, "{out}");

    let text = fs::read_to_string(&summary).unwrap();
    assert!(
        text.starts_with("earlier step\n### runall: 1 passed, 2 failed\n"),
        "{text}"
    );
    assert!(text.contains("| env | result | time |"), "{text}");
    assert!(text.contains("| ok | ✅ passed | "), "{text}");
    assert!(text.contains("| bad | ❌ exit 2 | "), "{text}");

    // An explicit --output wins; failures are still annotated.
    let output = run_with_env(
        &p,
        &["--ci", "--color", "never", "--output", "prefixed"],
        &env,
    );
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!out.contains("::group::"), "{out}");
    assert!(out.contains("bad   | the last line\n"), "{out}");
    assert!(
        out.contains("::error title=bad%3A exit 2::first%0Athe last line\n"),
        "{out}"
    );

    // Other CIs: plain output, no workflow commands, no summary file written.
    let output = run_with_env(&p, &["--ci", "--color", "never"], &[("CI", "true")]);
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(!out.contains("::"), "{out}");
    assert!(out.contains("ok    | fine"), "{out}");
}

/// A 50-env config with dependency chains: every shard is stable, the shards are disjoint,
/// cover every env and keep each chain together; bad specs are usage errors.
#[test]
fn shards_are_disjoint_cover_all_and_keep_chains_together() {
    let mut config = String::new();
    for i in 0..50 {
        config.push_str(&format!("[env.e{i:02}]\ncommands = [\"true\"]\n"));
        // Chains e00←e01←e02, e10←e11←e12, …: every env ending in 1 or 2 needs the previous.
        if i % 10 == 1 || i % 10 == 2 {
            config.push_str(&format!("depends = [\"e{:02}\"]\n", i - 1));
        }
    }
    let shard_envs = |p: &Project, spec: &str| -> Vec<String> {
        let run = p.run(&["--ci", "--shard", spec, "--json", "-"]);
        run.assert_code(0);
        let events = json_lines(&run.stdout());
        let envs = events[0]["envs"].as_array().unwrap();
        envs.iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let p = Project::new(&config);
    let elsewhere = Project::new(&config);
    let mut seen = BTreeMap::new();
    for k in 1..=4 {
        let spec = format!("{k}/4");
        let envs = shard_envs(&p, &spec);
        assert!(!envs.is_empty(), "shard {spec} is empty");
        assert_eq!(
            envs,
            shard_envs(&elsewhere, &spec),
            "same split in another folder"
        );
        for env in envs {
            assert!(seen.insert(env.clone(), k).is_none(), "{env} in two shards");
        }
    }
    assert_eq!(seen.len(), 50, "every env in some shard");
    for chain in 0..5 {
        let first = seen[&format!("e{chain}0")];
        for link in 1..=2 {
            assert_eq!(
                seen[&format!("e{chain}{link}")],
                first,
                "chain {chain} split"
            );
        }
    }
    // A selection is sharded after its dependency closure: e12 brings e10 and e11 along.
    let run = p.run(&["--ci", "--shard", "1/1", "--json", "-", "e12"]);
    let events = json_lines(&run.stdout());
    assert_eq!(events[0]["envs"], serde_json::json!(["e10", "e11", "e12"]));
    // More shards than components: the extra shards are empty runs that pass.
    let run = p.run(&["--ci", "--shard", "3/3", "e12"]);
    run.assert_code(0);
    assert!(
        run.stderr().contains("runall: shard 3/3 has no envs"),
        "{}",
        run.stderr()
    );

    for bad in ["0/4", "5/4", "1/0", "x/4", "2"] {
        let run = p.run(&["--ci", "--shard", bad]);
        run.assert_code(2);
        assert!(run.stderr().contains("--shard"), "{bad}: {}", run.stderr());
    }
    let run = p.run(&["--ci", "--shard", "5/4"]);
    assert!(
        run.stderr().contains("K must be from 1 to 4"),
        "{}",
        run.stderr()
    );
}

/// The order of the `$ command` start lines in a `--ci` run.
fn start_order(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("| $ "))
        .map(|l| l.split_whitespace().next().expect("env name").to_owned())
        .collect()
}

/// A second run starts the envs that took longest last time first; `list` shows the history.
#[test]
fn durations_of_the_last_run_order_the_next() {
    let config = format!(
        "[settings]\njobs = 1\n\n{}",
        config_of(&[
            // Half a second apart: the order must survive a loaded CI machine.
            ("short", "sleep 0.1"),
            ("longest", "sleep 1.6"),
            ("middle", "sleep 0.6"),
            ("long", "sleep 1.1"),
        ])
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(
        start_order(&run.stdout()),
        ["short", "longest", "middle", "long"]
    );
    assert!(p.path().join(".runall/history.json").is_file());

    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(0);
    assert_eq!(
        start_order(&run.stdout()),
        ["longest", "long", "middle", "short"]
    );

    // A new env has no history: it starts first, the rest keep their order.
    fs::write(
        p.path().join("runall.toml"),
        format!("{config}{}", config_of(&[("fresh", "true")])),
    )
    .unwrap();
    let run = p.run(&["--ci", "--color", "never"]);
    assert_eq!(
        start_order(&run.stdout()),
        ["fresh", "longest", "long", "middle", "short"]
    );

    let list = p.run(&["list"]);
    list.assert_code(0);
    let text = list.stdout();
    assert!(
        text.contains("longest\n  $ sleep 1.6\n  last run: passed in "),
        "{text}"
    );
    let list = p.run(&["list", "--json"]);
    let value: Value = serde_json::from_str(&list.stdout()).unwrap();
    assert_eq!(value["schema"], 1);
    let longest = &value["envs"][1];
    assert_eq!(longest["name"], "longest");
    assert_eq!(longest["commands"], serde_json::json!(["sleep 1.6"]));
    assert_eq!(longest["last"]["verdict"], "passed");
    assert!(longest["last"]["duration_ms"].as_u64().unwrap() >= 1550);
}

/// `--rerun-failed` runs exactly what did not pass last time (a skipped dependent included),
/// and says so when there is nothing to rerun.
#[test]
fn rerun_failed_runs_exactly_the_envs_that_did_not_pass() {
    let p = Project::new(
        r#"
[env.pass]
commands = ["true"]
[env.fail]
commands = ["test -e fixed"]
[env.after]
depends = ["fail"]
commands = ["true"]
[env.also]
commands = ["true"]
"#,
    );
    let run = p.run(&["--ci", "--rerun-failed"]);
    run.assert_code(0);
    assert!(
        run.stderr()
            .contains("runall: nothing to rerun: no previous run recorded"),
        "{}",
        run.stderr()
    );

    p.run(&["--ci"]).assert_code(1);
    let run = p.run(&["--ci", "--rerun-failed", "--json", "-"]);
    run.assert_code(1);
    let events = json_lines(&run.stdout());
    assert_eq!(events[0]["envs"], serde_json::json!(["fail", "after"]));

    fs::write(p.path().join("fixed"), "").unwrap();
    let run = p.run(&["--ci", "--rerun-failed", "--json", "-"]);
    run.assert_code(0);
    let events = json_lines(&run.stdout());
    assert_eq!(events[0]["envs"], serde_json::json!(["fail", "after"]));
    assert_eq!(events.last().unwrap()["counts"]["passed"], 2);

    let run = p.run(&["--ci", "--rerun-failed", "--json", "-"]);
    run.assert_code(0);
    assert!(
        run.stderr()
            .contains("runall: nothing to rerun: every env passed in the previous run"),
        "{}",
        run.stderr()
    );
    let events = json_lines(&run.stdout());
    assert_eq!(events[0]["envs"], serde_json::json!([]));

    let run = p.run(&["--ci", "--rerun-failed", "pass"]);
    run.assert_code(2);
}

/// `retries` from the env, `[env_run_base]` or `[settings]`; passing on a retry is flaky in the
/// summary, and an env that keeps failing is retried exactly N times, each with its own log.
#[test]
fn retries_rerun_failed_envs_and_flag_flaky_ones() {
    let config = format!(
        r#"
[settings]
retries = 2
[env.flaky]
retries = 1
commands = [{}]
[env.broken]
commands = ["echo attempt; exit 1"]
[env.steady]
retries = 0
commands = ["exit 1"]
"#,
        toml_str(FLAKY)
    );
    let p = Project::new(&config);
    let run = p.run(&["--ci", "--color", "never"]);
    run.assert_code(1);
    let out = run.stdout();
    assert!(
        summary_row(&out, "flaky").contains("passed on attempt 2 (flaky)"),
        "{out}"
    );
    assert!(summary_row(&out, "broken").contains("exit 1"), "{out}");
    assert_eq!(out.matches("broken | ↻ retrying").count(), 2, "{out}");
    assert_eq!(out.matches("steady | ↻ retrying").count(), 0, "{out}");
    let logs = p.path().join(".runall/logs");
    for log in [
        "broken.log",
        "broken@2.log",
        "broken@3.log",
        "flaky.log",
        "flaky@2.log",
    ] {
        assert!(logs.join(log).is_file(), "{log}");
    }
    assert!(!logs.join("broken@4.log").exists());
    assert!(out.contains("1 passed, 2 failed"), "{out}");

    let base = "[env_run_base]\nretries = 1\n[env.b]\ncommands = [\"exit 1\"]\n";
    let p = Project::new(base);
    let out = p.run(&["--ci", "--color", "never"]).stdout();
    assert_eq!(out.matches("b | ↻ retrying").count(), 1, "{out}");
}

/// Shell completions, the man page, `init`, `--help` and `--version`.
#[test]
fn completions_man_init_help_and_version() {
    let p = Project::new("");
    for shell in ["bash", "zsh", "fish"] {
        let run = p.run(&["completions", shell]);
        run.assert_code(0);
        let text = run.stdout();
        for word in [
            "shard",
            "rerun-failed",
            "junit",
            "list",
            "init",
            "completions",
        ] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    let run = p.run(&["completions", "tcsh"]);
    run.assert_code(2);

    let run = p.run(&["man"]);
    run.assert_code(0);
    let man = run.stdout();
    assert!(man.contains(".TH runall"), "{man}");
    for word in ["shard", "junit", "completions", "init"] {
        assert!(man.contains(word), "man page lacks {word}");
    }

    let help = p.run(&["--help"]);
    help.assert_code(0);
    let text = help.stdout();
    assert!(
        text.contains("Examples:") && text.contains("--shard 2/4"),
        "{text}"
    );
    let version = p.run(&["--version"]);
    version.assert_code(0);
    assert_eq!(
        version.stdout(),
        format!("runall {}\n", env!("CARGO_PKG_VERSION"))
    );

    fs::remove_file(p.path().join("runall.toml")).unwrap();
    let run = p.run(&["init"]);
    run.assert_code(0);
    assert!(run.stdout().contains("wrote"), "{}", run.stdout());
    let written = fs::read_to_string(p.path().join("runall.toml")).unwrap();
    assert!(
        written.starts_with('#') && written.contains("[env."),
        "{written}"
    );
    let list = p.run(&["list"]);
    list.assert_code(0);
    assert!(list.stdout().contains("lint"), "{}", list.stdout());
    let run = p.run(&["--ci"]);
    run.assert_code(0);

    fs::write(p.path().join("runall.toml"), "# mine\n").unwrap();
    let run = p.run(&["init"]);
    run.assert_code(2);
    assert!(
        run.stderr()
            .contains("runall.toml already exists; not overwriting it"),
        "{}",
        run.stderr()
    );
    assert_eq!(
        fs::read_to_string(p.path().join("runall.toml")).unwrap(),
        "# mine\n"
    );
}

/// A report path that cannot be created stops runall before anything runs.
#[test]
fn unwritable_report_paths_are_usage_errors() {
    let p = Project::new(&config_of(&[("touch", "touch ran")]));
    let run = p.run(&["--ci", "--junit", "no/such/dir/report.xml"]);
    run.assert_code(2);
    assert!(
        run.stderr()
            .contains("cannot create --junit no/such/dir/report.xml"),
        "{}",
        run.stderr()
    );
    let run = p.run(&["--ci", "--json", "no/such/dir/events.jsonl"]);
    run.assert_code(2);
    assert!(!p.path().join("ran").exists(), "nothing ran");
}

/// An env that never started is `not run` in every report: the summary's counts, JSON's
/// verdict and counts (never `interrupted`), JUnit's skipped type and the step summary.
#[test]
fn envs_that_never_started_are_not_run_everywhere() {
    let p = Project::new(&config_of(&[("first", "exit 1"), ("later", "true")]));
    let summary = p.path().join("step-summary.md");
    let junit = p.path().join("junit.xml");
    let json = p.path().join("events.json");
    let env = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
    ];
    let args = [
        "--ci",
        "--color",
        "never",
        "--output",
        "prefixed",
        "-j",
        "1",
        "--fail-fast",
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ];
    let output = run_with_env(&p, &args, &env);
    assert_eq!(output.status.code(), Some(1));
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(summary_row(&out, "later").contains("not run"), "{out}");
    assert!(out.contains("0 passed, 1 failed, 1 not run\n"), "{out}");

    let lines = json_lines(&fs::read_to_string(&json).unwrap());
    let later = lines
        .iter()
        .find(|l| l["type"] == "env_finished" && l["env"] == "later")
        .expect("later's env_finished");
    assert_eq!(later["verdict"], "not_run");
    assert_eq!(later["outcome"], "not run");
    let counts = &lines.last().unwrap()["counts"];
    assert_eq!(counts["not_run"], 1, "{counts}");
    assert_eq!(counts["interrupted"], 0, "{counts}");
    assert_eq!(counts["not_finished"], 0, "{counts}");

    let cases = read_junit(&junit);
    let skipped = cases["later"].status.skipped_as_ref();
    assert_eq!(skipped.skipped_type, "not-run");
    assert!(
        skipped.message.starts_with("not run"),
        "{}",
        skipped.message
    );

    let text = fs::read_to_string(&summary).unwrap();
    assert!(text.contains("1 failed, 1 not run"), "{text}");
    assert!(text.contains("| later | ⏹️ not run | - |"), "{text}");
}
