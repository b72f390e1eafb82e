//! FTS tokenization and item building on MLflow-like names.
//!
//! Prints throughput: names tokenized per second (the planning target is at
//! least 500k records/s) and FTS items built per second.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mlflow_ddb_core::format::{FtsEntityType, Profile, TableFormat};
use mlflow_ddb_core::fts::{fts_items, token_set, FtsTarget};
use mlflow_ddb_core::pattern::Pattern;

/// Names shaped like what MLflow users write.
fn names() -> Vec<String> {
    let stems = [
        "churn-model",
        "fraud_detection",
        "Customer Lifetime Value",
        "resnet50-finetune",
        "bert-base-uncased",
        "xgboost_baseline",
        "Forecasting Q3 2024",
        "recsys/two-tower",
        "llm-eval: summarization",
        "anomaly detection (prod)",
    ];
    let suffixes = [
        "",
        " v2",
        "-exp-17",
        " run 42",
        "_2024-11-03T12:00",
        " – Zürich",
    ];
    let mut out = Vec::new();
    for (i, s) in stems.iter().enumerate() {
        for (j, x) in suffixes.iter().enumerate() {
            out.push(format!(
                "{s}{x}{}",
                if (i + j) % 3 == 0 { " nightly" } else { "" }
            ));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let names = names();
    for format in TableFormat::ALL {
        let profile = Profile::of(format);
        let mut g = c.benchmark_group(format!("fts/{format}"));
        // Throughput in names (records) tokenized per second.
        g.throughput(Throughput::Elements(names.len() as u64));
        g.bench_function("token_set (names)", |b| {
            b.iter(|| {
                for n in &names {
                    black_box(token_set(profile, black_box(n)));
                }
            })
        });
        // Throughput in FTS items (forward + reverse) built per second.
        let target = FtsTarget::new("EXP#123", FtsEntityType::E, "123", None);
        let items: usize = names
            .iter()
            .map(|n| fts_items(profile, &target, n).len())
            .sum();
        g.throughput(Throughput::Elements(items as u64));
        g.bench_function("fts_items (items)", |b| {
            b.iter(|| {
                for n in &names {
                    black_box(fts_items(profile, &target, black_box(n)));
                }
            })
        });
        g.finish();
    }
    let patterns: Vec<Pattern> = ["mlflow.*", "team.*.owner", "gpu_[0-9]*", "env"]
        .iter()
        .map(|p| Pattern::new(p))
        .collect();
    let keys = [
        "mlflow.user",
        "team.ml.owner",
        "gpu_3_type",
        "environment",
        "notes",
    ];
    let mut g = c.benchmark_group("pattern");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("any_of_4", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(patterns.iter().any(|p| p.matches(black_box(k))));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
