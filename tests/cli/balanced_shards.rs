//! `--shard K/N --durations FILE`: shards balanced by an earlier run's recorded durations,
//! through the real binary (what it runs and what `runall list --shard` shows agree), and a
//! durations file that cannot be used is a usage error before anything starts.

use std::collections::BTreeMap;
use std::fs;

use crate::support::Project;

/// Eight envs, `slow` depending on `setup`, with skewed recorded durations.
fn project() -> (Project, String) {
    let names = ["setup", "slow", "a", "b", "c", "d", "e", "new"];
    let mut config = String::new();
    for name in names {
        config.push_str(&format!("[env.{name}]\ncommands = [\"true\"]\n"));
        if name == "slow" {
            config.push_str("depends = [\"setup\"]\n");
        }
    }
    let p = Project::new(&config);
    // `new` is not in the file: it weighs the median of the others.
    let durations = [
        ("setup", 1000),
        ("slow", 9000),
        ("a", 4000),
        ("b", 3000),
        ("c", 2000),
        ("d", 500),
        ("e", 500),
    ];
    let mut envs = serde_json::Map::new();
    for (name, ms) in durations {
        envs.insert(
            name.to_owned(),
            serde_json::json!({"duration_ms": ms, "verdict": "passed", "outcome": "passed",
                "finished_at": 0, "attempt": 1, "flaky": false}),
        );
    }
    let history = serde_json::json!({"schema": 1, "envs": envs});
    let file = p.path().join("previous-history.json");
    fs::write(&file, history.to_string()).expect("write history");
    (p, file.display().to_string())
}

fn envs_run(p: &Project, args: &[&str]) -> Vec<String> {
    let mut full = vec!["--ci", "--json", "-"];
    full.extend_from_slice(args);
    let run = p.run(&full);
    run.assert_code(0);
    let first = run.stdout().lines().next().unwrap_or_default().to_owned();
    let event: serde_json::Value = serde_json::from_str(&first).expect("json line");
    event["envs"]
        .as_array()
        .expect("envs")
        .iter()
        .map(|e| e.as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn durations_balance_the_shards_and_list_shows_them() {
    let (p, file) = project();
    // Total 22 s (new: the median, 2 s): slow + setup, then a, b, c, new to the other shard,
    // then d and e back to the first: 11 s each.
    let list = p.run(&["list", "--shard", "2/2", "--durations", &file]);
    list.assert_code(0);
    let text = list.stdout();
    assert!(text.contains("shard 1/2: 11.0s expected, 4 envs"), "{text}");
    assert!(
        text.contains("shard 2/2 (this job): 11.0s expected, 4 envs"),
        "{text}"
    );
    assert!(
        text.contains("  new    2.0s (not in the file: the median)"),
        "{text}"
    );
    assert!(text.contains("  slow   9.0s\n"), "{text}");

    let mut seen = BTreeMap::new();
    for k in 1..=2 {
        let spec = format!("{k}/2");
        let envs = envs_run(&p, &["--shard", &spec, "--durations", &file]);
        // Deterministic: the same file gives the same shard again.
        assert_eq!(
            envs,
            envs_run(&p, &["--shard", &spec, "--durations", &file])
        );
        for env in envs {
            assert!(seen.insert(env, k).is_none(), "an env in two shards");
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(seen["slow"], seen["setup"], "depends keeps them together");
    assert_eq!(seen["slow"], 1);
    // What list says shard 1 holds is what shard 1 runs.
    for (env, k) in &seen {
        let listed_in_one = text
            .split("shard 2/2")
            .next()
            .is_some_and(|one| one.contains(&format!("  {env} ")));
        assert_eq!(listed_in_one, *k == 1, "{env}: listed vs run\n{text}");
    }
}

#[test]
fn an_unusable_durations_file_is_a_usage_error() {
    let (p, _) = project();
    let missing = p.path().join("nope.json");
    let garbage = p.path().join("garbage.json");
    fs::write(&garbage, "{ not json").expect("write");
    for (file, why) in [
        (&missing, "No such file or directory"),
        (&garbage, "key must be a string"),
    ] {
        let file = file.display().to_string();
        for args in [
            vec!["--ci", "--shard", "1/2", "--durations", &file],
            vec!["list", "--shard", "1/2", "--durations", &file],
        ] {
            let run = p.run(&args);
            run.assert_code(2);
            let err = run.stderr();
            assert!(
                err.contains("runall: --durations: cannot") && err.contains(&file),
                "{err}"
            );
            assert!(err.contains(why), "{err}");
            assert!(run.stdout().is_empty(), "{}", run.stdout());
            assert!(!p.path().join(".runall/logs").exists(), "nothing started");
        }
    }
    // The same as JSON.
    let file = p.path().join("previous-history.json").display().to_string();
    let json = p.run(&["list", "--json", "--shard", "2/2", "--durations", &file]);
    json.assert_code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout()).expect("json");
    assert_eq!(value["split"], "by_time");
    assert_eq!(value["shards"][1]["shard"], "2/2");
    assert_eq!(value["shards"][1]["this_job"], true);
    assert_eq!(value["shards"][1]["expected_ms"], 11_000);
    let new = &value["shards"][1]["envs"][3];
    assert_eq!(new["name"], "new");
    assert_eq!(new["weight_ms"], 2000);
    assert_eq!(new["estimated"], true);
    // Without --durations, list shows the split by count.
    let list = p.run(&["list", "--shard", "1/2"]);
    list.assert_code(0);
    assert!(
        list.stdout().contains(
            "shard 1/2 (this job): 4 envs (split by count; --durations FILE balances by time)"
        ),
        "{}",
        list.stdout()
    );
    // --durations without --shard is refused by the parser.
    let run = p.run(&["--ci", "--durations", "x.json"]);
    run.assert_code(2);
}
