//! `recommend` against a bare YAML parse of the same file, at 1,000, 10,000
//! and 100,000 flows. The goal (issue 2): recommend costs at most 1.5× the
//! bare parse and grows linearly with the number of flows.
//!
//! The engine evaluates each distinct shape of flow once (large systems
//! repeat a few shapes many times), so a second file gives every flow its
//! own `payload_bytes`: no two flows share a shape there, and `distinct/*`
//! measures the engine without that sharing.
//!
//! Run: `cargo bench --bench recommend`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use commsadvise::engine::{RuleSet, recommend};

/// A flows file of `n` flows cycling through the shapes of the public cases,
/// so every rule family is exercised.
fn flows_file(n: usize) -> String {
    flows_file_with(n, false)
}

/// [`flows_file`] with a `payload_bytes` per flow, so every flow is a shape
/// of its own.
fn flows_file_distinct(n: usize) -> String {
    flows_file_with(n, true)
}

fn flows_file_with(n: usize, distinct: bool) -> String {
    let shapes = [
        "client: browser\n    latency_ms: 200\n",
        "client: public\n    contract: strict\n",
        "latency_ms: 5\n    throughput: 20000\n    contract: strict\n",
        "interaction: stream\n",
        "interaction: event\n    coupling: loose\n    delivery: at-least-once\n",
        "interaction: event\n    replay: true\n",
        "delivery: exactly-once\n",
        "client: browser\n    replay: true\n",
    ];
    let mut out = String::from("version: 1\nsystem: bench\nflows:\n");
    for i in 0..n {
        let _ = write!(
            out,
            "  - name: flow-{i}\n    from: svc-{}\n    to: [svc-{}, rcv-{}]\n    {}",
            i % 97,
            (i + 1) % 89,
            (i + 2) % 83,
            shapes[i % shapes.len()]
        );
        if distinct {
            let _ = writeln!(out, "    payload_bytes: {}", 100 + i);
        }
    }
    out
}

/// Writes a flows file of the given number of flows.
type FlowsFile = fn(usize) -> String;

fn bench(c: &mut Criterion) {
    let rules = RuleSet::builtin().expect("built-in rules");
    let files: [(&str, FlowsFile); 2] =
        [("recommend", flows_file), ("distinct", flows_file_distinct)];
    for (name, file) in files {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(8))
            .warm_up_time(Duration::from_secs(1));
        for n in sizes() {
            let text = file(n);
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new("bare-parse", n), &text, |b, text| {
                b.iter(|| {
                    black_box(
                        commsadvise::yaml::parse::<serde_json::Value>("bench.yaml", text)
                            .expect("valid YAML"),
                    )
                });
            });
            group.bench_with_input(BenchmarkId::new("load", n), &text, |b, text| {
                b.iter(|| {
                    black_box(commsadvise::spec::load_str("bench.yaml", text).expect("valid flows"))
                });
            });
            group.bench_with_input(BenchmarkId::new("recommend", n), &text, |b, text| {
                b.iter(|| {
                    let flows =
                        commsadvise::spec::load_str("bench.yaml", text).expect("valid flows");
                    black_box(recommend(&flows, &rules))
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

/// `BENCH_SIZES=1000,10000` runs a subset; all three by default.
fn sizes() -> Vec<usize> {
    std::env::var("BENCH_SIZES").ok().map_or_else(
        || vec![1_000, 10_000, 100_000],
        |s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    )
}
