//! Planning throughput on the pure path: a 10,000-record mixed batch
//! (Lambda JSON already parsed, as the runtime hands it over) decoded and
//! sorted out into distinct targets. One thread; no I/O.

use std::hint::black_box;

use aws_lambda_events::dynamodb::EventRecord;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use materializer::handler::plan_records;
use mlflow_ddb_core::config::Config;
use mlflow_ddb_core::format::{Profile, TableFormat};
use mlflow_ddb_core::item::Item;
use serde::Deserialize;
use serde_json::{json, Value};

fn img(pk: &str, sk: &str, extra: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("PK".into(), json!({"S": pk}));
    m.insert("SK".into(), json!({"S": sk}));
    for (k, v) in extra {
        m.insert((*k).into(), json!({"S": v}));
    }
    Value::Object(m)
}

fn rec(i: usize, event: &str, new: Option<Value>, old: Option<Value>) -> Value {
    let key = new
        .as_ref()
        .or(old.as_ref())
        .cloned()
        .unwrap_or(Value::Null);
    let mut d = json!({"Keys": {"PK": key["PK"], "SK": key["SK"]}, "SequenceNumber": format!("{:021}", i),
                       "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1_700_000_000, "SizeBytes": 200});
    if let Some(n) = new {
        d["NewImage"] = n;
    }
    if let Some(o) = old {
        d["OldImage"] = o;
    }
    json!({"eventID": i.to_string(), "eventName": event, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": d})
}

/// The mix a busy tracking server produces: tags and params, metrics,
/// our own FTS writes and map updates coming back, META inserts and renames.
pub fn mixed_batch(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let e = format!("EXP#01h{:023}", i % 50);
            let run = format!("R#01r{:023}", i % 400);
            match i % 20 {
                0..=4 => {
                    let sk = format!("{run}#TAG#mlflow.k{}", i % 7);
                    rec(
                        i,
                        "INSERT",
                        Some(img(
                            &e,
                            &sk,
                            &[("key", "mlflow.k"), ("value", "some value")],
                        )),
                        None,
                    )
                }
                5 => {
                    let sk = format!("{run}#TAG#custom.{}", i % 5);
                    let old = img(&e, &sk, &[("value", "a")]);
                    rec(
                        i,
                        "MODIFY",
                        Some(img(&e, &sk, &[("value", "b")])),
                        Some(old),
                    )
                }
                6 | 7 => {
                    let sk = format!("{run}#PARAM#lr{}", i % 3);
                    rec(i, "INSERT", Some(img(&e, &sk, &[("value", "0.01")])), None)
                }
                8..=11 => {
                    let sk = format!("{run}#METRIC#loss{}", i % 4);
                    rec(
                        i,
                        "MODIFY",
                        Some(img(&e, &sk, &[("value", "1")])),
                        Some(img(&e, &sk, &[("value", "2")])),
                    )
                }
                12..=15 => {
                    let sk = format!("FTS#W#token{}#R#{}", i % 9, &run[2..]);
                    rec(i, "INSERT", Some(img(&e, &sk, &[])), None)
                }
                16 => {
                    let old = img(&e, &run, &[("run_name", "a")]);
                    rec(
                        i,
                        "MODIFY",
                        Some(img(&e, &run, &[("run_name", "a"), ("status", "FINISHED")])),
                        Some(old),
                    )
                }
                17 => rec(
                    i,
                    "INSERT",
                    Some(img(&e, &run, &[("run_name", "brave-owl")])),
                    None,
                ),
                18 => {
                    let sk = format!("T#tr-{}#TAG#mlflow.traceName", i % 100);
                    rec(
                        i,
                        "INSERT",
                        Some(img(&e, &sk, &[("value", "predict")])),
                        None,
                    )
                }
                _ => {
                    let old = img(&e, "E#META", &[("name", "old name")]);
                    rec(
                        i,
                        "MODIFY",
                        Some(img(&e, "E#META", &[("name", "new name")])),
                        Some(old),
                    )
                }
            }
        })
        .collect()
}

/// The batch as the runtime hands it over: `lambda_runtime` parses the
/// invocation body (`{"Records": [...]}`) with `serde_json::from_slice`, so
/// each record's maps and strings are allocated together, in order.
fn as_delivered(records: Vec<Value>) -> Vec<Value> {
    let body = serde_json::to_vec(&json!({ "Records": records })).expect("serializable");
    let mut event: Value = serde_json::from_slice(&body).expect("parses back");
    match event["Records"].take() {
        Value::Array(records) => records,
        _ => unreachable!("built as an array"),
    }
}

fn planning(c: &mut Criterion) {
    let profile = Profile::of(TableFormat::V0_1);
    let mut config = Config::default();
    config.trigram_fields =
        mlflow_ddb_core::config::FtsTrigramFields::from_names(["run_tag_value", "run_param_value"]);
    let batch = as_delivered(mixed_batch(10_000));
    let plan = plan_records(profile, &config, &batch);
    assert!(
        plan.targets.len() > 100 && plan.skipped > 1000,
        "{} {}",
        plan.targets.len(),
        plan.skipped
    );
    let mut g = c.benchmark_group("materializer");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("plan_10k_mixed_records", |b| {
        b.iter(|| black_box(plan_records(profile, &config, black_box(&batch))))
    });
    // Where the time goes: deserializing the images (serde_dynamo through
    // serde_json::Value, as the core's decoder does), here for every record
    // of the batch; planning decodes only the records that need it.
    let images: Vec<&Value> = batch
        .iter()
        .flat_map(|r| ["Keys", "NewImage", "OldImage"].map(|i| &r["dynamodb"][i]))
        .filter(|v| v.is_object())
        .collect();
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("images_10k_records_from_value_clone", |b| {
        b.iter(|| {
            for v in &images {
                black_box(serde_json::from_value::<Item>((*v).clone()).ok());
            }
        })
    });
    // The road not taken at the Lambda edge: typing every record of the batch
    // as `aws_lambda_events`' `EventRecord` (one by one, as a typed event with
    // raw records would) builds both images of every record, own writes and
    // metrics included, before the key-first decoder could skip them. This is
    // that typing alone, without any planning.
    assert!(
        batch.iter().all(|r| EventRecord::deserialize(r).is_ok()),
        "every bench record is a valid EventRecord"
    );
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("typed_10k_records_from_value", |b| {
        b.iter(|| {
            let typed = batch
                .iter()
                .filter(|r| EventRecord::deserialize(*r).is_ok())
                .count();
            black_box(typed)
        })
    });
    g.finish();
}

criterion_group!(benches, planning);
criterion_main!(benches);
