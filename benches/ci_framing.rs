//! Criterion bench of the `--ci` prefixed reporter's line framing (`CiReporter::handle` on
//! `RunEvent::Output`): MB/s of child output turned into `<env> | <line>` lines.
//!
//! Each input is 16 envs' streams of numbered lines, cut into 64 KiB chunks (the runner's read
//! size, so most chunks end mid-line) and interleaved round-robin, as a flood arrives. The sink
//! is what `headless` gives the reporter: a 256 KiB `BufWriter` (boxed as `dyn Write`, as
//! `headless` does) over `io::sink()`, so only framing and buffering are measured.

#![allow(
    clippy::unwrap_used,
    reason = "a bench has nobody to report an error to: it panics"
)]

use std::hint::black_box;
use std::io::{self, BufWriter, Write};
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runall::event::{RunEvent, Stream};
use runall::plan::{EnvSpec, Plan};
use runall::report::ci::{CiOptions, CiReporter};

const ENVS: usize = 16;
const CHUNK: usize = 64 * 1024;
const PER_ENV: usize = 1024 * 1024;

fn plan() -> Plan {
    let envs = (0..ENVS)
        .map(|i| EnvSpec::shell(&format!("env-{i}"), "true", "/tmp"))
        .collect();
    Plan::new(envs, ENVS, "/tmp")
}

/// `PER_ENV` bytes of `len`-byte numbered lines per env, as 64 KiB output events, interleaved.
fn events(len: usize, cr: bool) -> Vec<RunEvent> {
    let streams: Vec<Vec<u8>> = (0..ENVS)
        .map(|env| {
            let mut bytes = Vec::with_capacity(PER_ENV + len);
            let mut n = 0u64;
            while bytes.len() < PER_ENV {
                n += 1;
                let mut line = if cr {
                    format!("env-{env} {n:08} 50%\r")
                } else {
                    format!("env-{env} {n:08} ")
                };
                while line.len() < len - 1 {
                    line.push('~');
                }
                line.push('\n');
                bytes.extend_from_slice(line.as_bytes());
            }
            bytes
        })
        .collect();
    let mut events = Vec::new();
    for offset in (0..PER_ENV + len).step_by(CHUNK) {
        for (env, stream) in streams.iter().enumerate() {
            if offset < stream.len() {
                let end = (offset + CHUNK).min(stream.len());
                events.push(RunEvent::Output {
                    env,
                    stream: Stream::Stdout,
                    bytes: stream[offset..end].to_vec(),
                });
            }
        }
    }
    events
}

fn framing(c: &mut Criterion) {
    let plan = plan();
    let mut group = c.benchmark_group("ci_framing");
    for (name, len, cr) in [
        ("100-byte lines", 100, false),
        ("22-byte lines", 22, false),
        ("100-byte lines with \\r", 100, true),
    ] {
        let events = events(len, cr);
        let bytes: usize = events
            .iter()
            .map(|e| match e {
                RunEvent::Output { bytes, .. } => bytes.len(),
                _ => 0,
            })
            .sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        let out: Box<dyn Write> = Box::new(BufWriter::with_capacity(256 * 1024, io::sink()));
        let mut reporter = CiReporter::new(&plan, CiOptions::default(), out, Instant::now());
        group.bench_function(name, |b| {
            b.iter(|| {
                let now = Instant::now();
                for event in &events {
                    reporter.handle(black_box(event), now).unwrap();
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, framing);
criterion_main!(benches);
