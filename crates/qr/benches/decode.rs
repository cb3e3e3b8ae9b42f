//! Criterion: decode throughput of `qr::decode_bytes` — the function the CLI
//! calls, validated result with profile fields, JSON excluded.
// Benchmark and tool code: indexing and printing are its job.
#![allow(clippy::indexing_slicing, clippy::print_stdout, clippy::print_stderr)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "corpus.rs"]
mod corpus;

// The allocator the `unigate` binary uses, so the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let corpus = corpus::load();
    let options = corpus::options();
    let mut group = c.benchmark_group("decode");
    for (name, set) in [
        ("mixed", &corpus.mixed),
        ("mpm", &corpus.mpm),
        ("pix", &corpus.pix),
    ] {
        group.throughput(Throughput::Elements(set.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for p in set {
                    std::hint::black_box(
                        qr::decode_bytes(std::hint::black_box(p.as_bytes()), &options).is_ok(),
                    );
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
