//! Criterion bench of the runner's pump (`runall::runner`): MB/s from children's pipes through
//! the poller, the per-env log files and the credit-bounded event channel to a consumer that
//! only counts bytes.
//!
//! Each iteration starts the runner on a plan of 4 envs, each `head -c 32 MiB /dev/zero`, and
//! drains the event stream until `RunFinished`: spawn, pump, log writes, exit and reaping are
//! all in the number, the reporter is not (see the `ci_framing` bench for that). Needs `head`.

#![allow(
    clippy::unwrap_used,
    reason = "a bench has nobody to report an error to: it panics"
)]

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runall::event::RunEvent;
use runall::plan::{CommandSpec, EnvSpec, Plan};
use runall::runner::{self, RunnerOptions};

const ENVS: usize = 4;
const PER_ENV: usize = 32 * 1024 * 1024;

fn plan(log_dir: &Path) -> Plan {
    let envs = (0..ENVS)
        .map(|i| {
            let mut env = EnvSpec::shell(&format!("flood-{i}"), "", "/");
            env.commands = vec![CommandSpec::Argv(vec![
                "head".into(),
                "-c".into(),
                PER_ENV.to_string(),
                "/dev/zero".into(),
            ])];
            env
        })
        .collect();
    Plan::new(envs, ENVS, log_dir)
}

/// One run of the plan; returns the output bytes received.
fn run(plan: &Plan) -> usize {
    let options = RunnerOptions {
        run_id: "bench".into(),
        ..RunnerOptions::default()
    };
    let (_handle, events, thread) = runner::start(plan.clone(), options).unwrap();
    let mut received = 0;
    loop {
        match events.recv_timeout(Duration::from_secs(60)).unwrap() {
            RunEvent::Output { bytes, .. } => received += bytes.len(),
            RunEvent::RunFinished { .. } => break,
            _ => {}
        }
    }
    thread.join().unwrap();
    received
}

fn pump(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan(dir.path());
    let mut group = c.benchmark_group("pump");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Bytes((ENVS * PER_ENV) as u64));
    group.bench_function("4 envs x 32 MiB, logs written", |b| {
        b.iter(|| assert_eq!(run(&plan), ENVS * PER_ENV));
    });
    group.finish();
}

criterion_group!(benches, pump);
criterion_main!(benches);
