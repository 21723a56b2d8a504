//! Criterion bench of the test-report reader (`runall::testreport`): one pytest-style `JUnit`
//! report of 10,000 testcases (9,700 passed, 200 failed with a 12-line traceback, 50 errored,
//! 50 skipped; about 1 MB), read from a file as the log writer reads it after an attempt: open,
//! stream through quick-xml, build every testcase, find failure locations. Target: < 50 ms.

#![allow(
    clippy::unwrap_used,
    reason = "a bench has nobody to report an error to: it panics"
)]

use std::fmt::Write as _;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runall::testreport::{self, ReportRequest};

const CASES: usize = 10_000;

/// The report: pytest's xunit2 shape.
fn report() -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><testsuites name=\"pytest tests\">\
         <testsuite name=\"pytest\" errors=\"50\" failures=\"200\" skipped=\"50\" \
         tests=\"10000\" time=\"81.2\">",
    );
    for i in 0..CASES {
        let class = format!("tests.test_module_{}", i / 100);
        let _ = write!(
            xml,
            "<testcase classname=\"{class}\" name=\"test_case_{i}[param-{i}]\" time=\"0.00{}\"",
            i % 10
        );
        match i % 200 {
            0..=3 => {
                xml.push_str("><failure message=\"assert 1 == 2\">");
                for line in 0..10 {
                    let _ = writeln!(xml, "    frame {line}: x = compute(&quot;{i}&quot;)");
                }
                let _ = write!(
                    xml,
                    "E       assert 1 == 2\n\ntests/test_module_{}.py:{}: AssertionError\
                     </failure></testcase>",
                    i / 100,
                    i % 500 + 1
                );
            }
            4 => xml.push_str(
                "><error message=\"failed on setup\">conftest.py:3: RuntimeError</error></testcase>",
            ),
            5 => xml.push_str("><skipped type=\"pytest.skip\" message=\"slow\">x</skipped></testcase>"),
            _ => xml.push_str(" />"),
        }
    }
    xml.push_str("</testsuite></testsuites>\n");
    xml
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junit.xml");
    let xml = report();
    std::fs::write(&path, &xml).unwrap();
    let request = ReportRequest {
        patterns: vec![path.to_string_lossy().into_owned()],
        since: None,
        setup_warning: None,
        fresh_dir: None,
    };
    let check = testreport::read(&request);
    assert_eq!(check.counts.total(), CASES as u64);
    assert_eq!(check.counts.failed, 200);
    assert!(check.warnings.is_empty(), "{:?}", check.warnings);

    let mut group = c.benchmark_group("junit");
    group.throughput(Throughput::Bytes(xml.len() as u64));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("read_10000_testcases", |b| {
        b.iter(|| testreport::read(&request));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
