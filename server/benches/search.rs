//! `cargo bench -p plugboard --bench search`: catalog search answered from memory (README, API).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use plugboard::catalog::{Catalog, Query};

fn search(c: &mut Criterion) {
    let catalog = Catalog::builtin().expect("the catalog loads");
    let mut group = c.benchmark_group(format!("catalog of {}", catalog.all().len()));
    for (label, text) in [("empty query", ""), ("prefix 'go'", "go"), ("word 'calendar'", "calendar"), ("accented 'crème'", "crème"), ("no match", "zzzzzz")] {
        group.bench_function(label, |b| b.iter(|| catalog.find(black_box(&Query { search: text, ..Default::default() })).len()));
    }
    group.bench_function("category 'CRM'", |b| b.iter(|| catalog.find(black_box(&Query { category: "CRM", ..Default::default() })).len()));
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
