//! `costmodel`: checks the cost model (`docs/cost-model.md`,
//! `scripts/costmodel.py`) against the tools' own code paths.
//!
//! It builds a memory store of at least `--items` items in the shape of the
//! benchmark table (`scripts/bench/load_table.py`: one experiment partition
//! of about 28 items, some orphaned), puts a round trip in front of every
//! request (`LatencyStore`, at the DynamoDB adapter's request granularity)
//! and counts them (the engine's `MeteredStore`), then runs each tool's
//! library entry point — the scan driver and reconciler the binaries use:
//! `indexer::drive` (verify, backfill, and the migration's copy walk) and
//! `ttl_sweeper::sweep` — with each `--segments` count. For every run it asks
//! the model (`scripts/costmodel.py --json`, a subprocess) for the same
//! parameters and prints both, with measured / predicted per figure, as JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use indexer::{drive, Deps, DriveOptions, Settings, WalkMode};
use mlflow_ddb_core::format::TableFormat;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};
use mlflow_ddb_engine::{FormatResolver, MeteredStore, RequestCounts};
use mlflow_ddb_ports::{item_size, Latency, LatencyStore, MemoryStore, Store};
use serde_json::{json, Value};
use ttl_sweeper::{Budget, NoProgress, SweepOptions};

/// Checks the cost model's predictions against measured runs.
#[derive(Debug, Parser)]
struct Args {
    /// Items in the table (at least; whole partitions).
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Round trip added to every request, in milliseconds.
    #[arg(long, default_value_t = 2.0)]
    latency_ms: f64,
    /// Added per item a request returns or writes, in microseconds.
    #[arg(long, default_value_t = 0.0)]
    item_latency_us: f64,
    /// Segment counts to run each tool with.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    segments: Vec<u32>,
    /// The indexer's targets in flight per segment (its `CONCURRENCY`); the
    /// sweeper's requests in flight (capped at its 64).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Tools to run: verify, backfill, sweeper, copy.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "verify,backfill,sweeper,copy"
    )]
    tools: Vec<String>,
    /// Every N-th partition drifted before each backfill (its experiment's
    /// FTS items deleted).
    #[arg(long, default_value_t = 10)]
    drift_every: u64,
    /// Every N-th partition orphaned (no `E#META`, as after TTL deleted it).
    #[arg(long, default_value_t = 100)]
    orphan_every: u64,
    /// The model script.
    #[arg(long, default_value = "scripts/costmodel.py")]
    model: PathBuf,
    #[arg(long, default_value = "python3")]
    python: String,
    /// Skip the zero-latency run per tool that measures its CPU time per item.
    #[arg(long)]
    no_cpu_calibration: bool,
}

// ----------------------------------------------------------------- the table

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn item(pk: &str, sk: &str, attrs: Vec<(&str, AttributeValue)>) -> Item {
    let mut i = Item::default();
    i.insert("PK".into(), s(pk));
    i.insert("SK".into(), s(sk));
    for (k, v) in attrs {
        i.insert(k.into(), v);
    }
    i
}

/// The experiment name's FTS tokens as `load_table.py` writes them.
fn tokens(name: &str) -> Vec<(&'static str, String)> {
    let chars: Vec<char> = name.chars().collect();
    let mut t: Vec<(&'static str, String)> = vec![("W", name.to_owned())];
    for w in chars.windows(3) {
        t.push(("3", w.iter().collect()));
    }
    t.sort();
    t.dedup();
    t
}

/// The experiment FTS items' keys of partition `i` (forward and reverse).
fn experiment_fts_keys(i: u64) -> Vec<ItemKey> {
    let exp = format!("01bench{i:07}");
    let pk = format!("EXP#{exp}");
    tokens(&format!("exp{i}"))
        .into_iter()
        .flat_map(|(level, tok)| {
            [
                ItemKey::new(pk.clone(), format!("FTS#{level}#{tok}#E#{exp}")),
                ItemKey::new(pk.clone(), format!("FTS_REV#E#{exp}#{level}#{tok}")),
            ]
        })
        .collect()
}

/// Partition `i` as `scripts/bench/load_table.py`'s `partition()` writes it.
fn partition(i: u64, orphaned: bool, now_s: i64) -> Vec<Item> {
    let exp = format!("01bench{i:07}");
    let pk = format!("EXP#{exp}");
    let name = format!("exp{i}");
    let mut items = Vec::new();
    if !orphaned {
        items.push(item(
            &pk,
            "E#META",
            vec![
                ("name", s(&name)),
                ("lifecycle_stage", s("active")),
                ("artifact_location", s(format!("s3://bucket/{exp}"))),
                ("creation_time", n(now_s * 1000)),
                ("lsi1sk", s(format!("active#{exp}"))),
                ("gsi2pk", s("EXPERIMENTS#default#active")),
                ("gsi2sk", s(&name)),
            ],
        ));
    }
    let rev: String = name.chars().rev().collect();
    items.push(item(&pk, "E#NAME_REV", vec![("name_rev", s(rev))]));
    for (level, tok) in tokens(&name) {
        items.push(item(
            &pk,
            &format!("FTS#{level}#{tok}#E#{exp}"),
            vec![
                ("gsi2pk", s("FTS_NAMES#default")),
                ("gsi2sk", s(format!("{level}#{tok}#E#{exp}"))),
            ],
        ));
        items.push(item(&pk, &format!("FTS_REV#E#{exp}#{level}#{tok}"), vec![]));
    }
    for r in 0..2 {
        let run = format!("{exp}r{r}");
        let tags = AttributeValue::M([("mlflow.user".to_owned(), s("ann"))].into());
        items.push(item(
            &pk,
            &format!("R#{run}"),
            vec![
                ("run_name", s(format!("run {r}"))),
                ("status", s("FINISHED")),
                ("lifecycle_stage", s("active")),
                ("start_time", n(now_s * 1000)),
                ("tags", tags),
            ],
        ));
        for (p, v) in [("lr", "0.01"), ("optimizer", "adam")] {
            items.push(item(
                &pk,
                &format!("R#{run}#PARAM#{p}"),
                vec![("key", s(p)), ("value", s(v))],
            ));
        }
        items.push(item(
            &pk,
            &format!("R#{run}#METRIC#loss"),
            vec![("key", s("loss")), ("value", s("0.25")), ("step", n(10))],
        ));
        items.push(item(
            &pk,
            &format!("R#{run}#TAG#mlflow.user"),
            vec![("key", s("mlflow.user")), ("value", s("ann"))],
        ));
    }
    let trace = format!("tr-{exp}");
    let ttl = now_s + 30 * 86400;
    items.push(item(
        &pk,
        &format!("T#{trace}"),
        vec![("state", s("OK")), ("ttl", n(ttl))],
    ));
    items.push(item(
        &pk,
        &format!("T#{trace}#TAG#mlflow.traceName"),
        vec![
            ("key", s("mlflow.traceName")),
            ("value", s("chat")),
            ("ttl", n(ttl)),
        ],
    ));
    items
}

fn epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The table and what it is made of.
struct Table {
    store: Arc<MemoryStore>,
    partitions: u64,
    orphan_every: u64,
    drift_every: u64,
}

impl Table {
    fn build(items: u64, orphan_every: u64, drift_every: u64) -> Self {
        let now = epoch_seconds();
        let mut all = Vec::new();
        let mut i = 0;
        while (all.len() as u64) < items {
            all.extend(partition(i, i % orphan_every == 0, now));
            i += 1;
        }
        Table {
            store: Arc::new(MemoryStore::with_items(all)),
            partitions: i,
            orphan_every,
            drift_every,
        }
    }

    fn orphaned(&self) -> Vec<u64> {
        (0..self.partitions)
            .filter(|i| i % self.orphan_every == 0)
            .collect()
    }

    fn drifted(&self) -> Vec<u64> {
        (0..self.partitions)
            .filter(|i| i % self.drift_every == 1 && i % self.orphan_every != 0)
            .collect()
    }

    /// Delete the drifted partitions' experiment FTS items: (targets, items).
    fn inject_drift(&self) -> (u64, u64) {
        let mut deleted = 0;
        let drifted = self.drifted();
        for &i in &drifted {
            for k in experiment_fts_keys(i) {
                deleted += u64::from(self.store.delete(&k).is_some());
            }
        }
        (drifted.len() as u64, deleted)
    }

    /// Every item of the orphaned partitions (to put back after a sweep).
    async fn orphan_items(&self) -> Result<Vec<Item>> {
        let mut out = Vec::new();
        for i in self.orphaned() {
            let pk = format!("EXP#01bench{i:07}");
            out.extend(self.store.query_prefix(&pk, "", true, None).await?);
        }
        Ok(out)
    }

    /// What the table holds now, as the model is told it.
    fn composition(&self) -> Composition {
        let snap = self.store.snapshot();
        let orphans: Vec<String> = self
            .orphaned()
            .into_iter()
            .map(|i| format!("EXP#01bench{i:07}"))
            .collect();
        let mut c = Composition {
            items: snap.len() as u64,
            ..Composition::default()
        };
        for (k, i) in &snap {
            c.bytes += item_size(i) as u64;
            c.fts_items += u64::from(k.sk.starts_with("FTS#") || k.sk.starts_with("FTS_REV#"));
            c.orphan_items += u64::from(orphans.binary_search(&k.pk).is_ok());
        }
        c
    }
}

/// Items, bytes (DynamoDB's size rules), derived FTS items, orphaned items.
#[derive(Debug, Default, Clone, Copy)]
struct Composition {
    items: u64,
    bytes: u64,
    fts_items: u64,
    orphan_items: u64,
}

// ------------------------------------------------------------------ the runs

/// What one run measured.
struct Measured {
    /// The table when the run began (after a backfill's drift was injected).
    table: Composition,
    wall_s: f64,
    items: u64,
    counts: RequestCounts,
    detail: Value,
}

fn counts_json(c: &RequestCounts) -> Value {
    json!({
        "scan": c.scan, "batch_get": c.batch_get, "query": c.query, "get": c.get,
        "batch_write": c.batch_write, "update": c.update, "expire": c.expire,
        "total": c.total(),
    })
}

fn add(a: RequestCounts, b: RequestCounts) -> RequestCounts {
    RequestCounts {
        get: a.get + b.get,
        batch_get: a.batch_get + b.batch_get,
        query: a.query + b.query,
        scan: a.scan + b.scan,
        batch_write: a.batch_write + b.batch_write,
        update: a.update + b.update,
        expire: a.expire + b.expire,
        scanned_items: a.scanned_items + b.scanned_items,
    }
}

fn remote(store: Arc<dyn Store>, latency: Latency) -> MeteredStore {
    MeteredStore::new(Arc::new(LatencyStore::new(store, latency)))
}

async fn run(
    tool: &str,
    table: &Table,
    segments: u32,
    concurrency: usize,
    latency: Latency,
) -> Result<Measured> {
    let settings = Settings {
        concurrency,
        ..Settings::default()
    };
    let inner: Arc<dyn Store> = table.store.clone();
    match tool {
        "verify" | "backfill" => {
            let mode = if tool == "verify" {
                WalkMode::Verify
            } else {
                WalkMode::Backfill
            };
            let drift = (mode == WalkMode::Backfill).then(|| table.inject_drift());
            let at_start = table.composition();
            let store = remote(inner, latency);
            let deps = Deps::new(
                Arc::new(store.clone()),
                FormatResolver::fixed(TableFormat::V0_1),
                settings,
            );
            let t0 = Instant::now();
            let summary = drive(Arc::new(deps), &DriveOptions::new(mode, segments)).await?;
            let wall_s = t0.elapsed().as_secs_f64();
            if !summary.done || summary.counts.errors > 0 {
                bail!("{tool}: not done or errors: {:?}", summary.counts);
            }
            Ok(Measured {
                table: at_start,
                wall_s,
                items: summary.counts.items_scanned,
                counts: store.counts(),
                detail: json!({
                    "targets": summary.counts.targets,
                    "drifted_targets": summary.counts.drifted_targets,
                    "fts_puts": summary.counts.fts_puts,
                    "map_updates": summary.counts.map_updates,
                    "drift_injected": drift.map(|(t, i)| json!({"targets": t, "fts_items": i})),
                }),
            })
        }
        "sweeper" => {
            let at_start = table.composition();
            let saved = table.orphan_items().await?;
            let store = remote(inner, latency);
            let deps = ttl_sweeper::Deps {
                store: Arc::new(store.clone()),
                table: "memory".into(),
                format: Arc::new(FormatResolver::fixed(TableFormat::V0_1)),
                defaults: SweepOptions::default(),
            };
            let opts = SweepOptions {
                segments,
                concurrency: concurrency.min(64),
                ..SweepOptions::default()
            };
            let t0 = Instant::now();
            let out = ttl_sweeper::sweep(
                &deps,
                &opts,
                epoch_seconds(),
                &Budget::default(),
                Arc::new(NoProgress),
            )
            .await?;
            let wall_s = t0.elapsed().as_secs_f64();
            // Put the orphans back as they were, for the next run.
            for i in saved {
                table.store.put(i);
            }
            let sm = &out.summary;
            if !sm.complete || sm.aborted || sm.items_failed > 0 {
                bail!("sweeper: incomplete, aborted or failed: {sm:?}");
            }
            Ok(Measured {
                table: at_start,
                wall_s,
                items: sm.items_scanned,
                counts: store.counts(),
                detail: json!({
                    "orphaned_partitions": sm.orphaned_partitions,
                    "items_expired": sm.items_expired,
                    "pages": sm.pages_scanned,
                }),
            })
        }
        "copy" => {
            let at_start = table.composition();
            let target: Arc<dyn Store> = Arc::new(MemoryStore::new());
            let src = remote(inner, latency);
            let dst = remote(target, latency);
            let deps = Deps::copy(
                Arc::new(src.clone()),
                FormatResolver::fixed(TableFormat::V0_1),
                Arc::new(dst.clone()),
                settings,
            );
            let t0 = Instant::now();
            let summary =
                drive(Arc::new(deps), &DriveOptions::new(WalkMode::Copy, segments)).await?;
            let wall_s = t0.elapsed().as_secs_f64();
            if !summary.done || summary.counts.errors > 0 {
                bail!("copy: not done or errors: {:?}", summary.counts);
            }
            Ok(Measured {
                table: at_start,
                wall_s,
                items: summary.counts.items_scanned,
                counts: add(src.counts(), dst.counts()),
                detail: json!({ "transform": summary.counts.copy }),
            })
        }
        other => bail!("unknown tool {other}"),
    }
}

/// The mean of `n` sleeps of `d` on this runtime: the round trip the runs
/// actually wait (the timer rounds up to its millisecond tick).
async fn effective(d: Duration, n: u32) -> Duration {
    if d.is_zero() {
        return d;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        tokio::time::sleep(d).await;
    }
    t0.elapsed() / n
}

// ----------------------------------------------------------------- the model

fn predict(args: &Args, params: &[(&str, String)]) -> Result<Value> {
    let mut cmd = Command::new(&args.python);
    cmd.arg(&args.model).arg("--json");
    for (k, v) in params {
        cmd.arg(format!("--{k}")).arg(v);
    }
    let out = cmd
        .output()
        .with_context(|| format!("running {}", args.model.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            args.model.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("the model's JSON")
}

fn ratio(measured: f64, predicted: f64) -> Value {
    if predicted == 0.0 {
        return if measured == 0.0 {
            json!(1.0)
        } else {
            Value::Null
        };
    }
    json!((measured / predicted * 1000.0).round() / 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let log = |m: String| eprintln!("[costmodel] {m}");
    let t0 = Instant::now();
    let table = Table::build(args.items, args.orphan_every, args.drift_every);
    log(format!(
        "table: {} items, {} partitions, in {:.1} s",
        table.store.len(),
        table.partitions,
        t0.elapsed().as_secs_f64()
    ));

    // Make the derived state right first (no latency, not measured), so that
    // each backfill repairs exactly the drift injected before it.
    let t0 = Instant::now();
    let prep = run("backfill", &table, 8, args.concurrency, Latency::default()).await?;
    log(format!(
        "preparation backfill: {} in {:.1} s",
        prep.detail,
        t0.elapsed().as_secs_f64()
    ));
    let comp = table.composition();
    let latency = Latency {
        per_request: Duration::from_secs_f64(args.latency_ms / 1000.0),
        per_item: Duration::from_secs_f64(args.item_latency_us / 1e6),
    };
    let eff = effective(latency.per_request, 200).await;
    let eff_ms = eff.as_secs_f64() * 1000.0;
    log(format!(
        "table after preparation: {comp:?}; round trip {} ms asked, {eff_ms:.3} ms waited",
        args.latency_ms
    ));

    let widest = args.segments.iter().copied().max().unwrap_or(1);
    let mut runs = Vec::new();
    let mut calibration = BTreeMap::new();
    for tool in &args.tools {
        // The machine, measured: CPU per item on one segment without
        // latency, and the parallelism the widest run gets (the cores are
        // shared with whatever else runs here).
        let (cpu_us, cores) = if args.no_cpu_calibration {
            (0.0, 2.0)
        } else {
            let one = run(tool, &table, 1, args.concurrency, Latency::default()).await?;
            let wide = run(tool, &table, widest, args.concurrency, Latency::default()).await?;
            let us = one.wall_s * 1e6 / one.items.max(1) as f64;
            let cores = (one.wall_s / wide.wall_s).clamp(0.25, f64::from(widest));
            log(format!(
                "{tool}: without latency {:.2} s on 1 segment ({us:.3} us per item), {:.2} s on {widest} ({cores:.2} cores' worth)",
                one.wall_s, wide.wall_s
            ));
            calibration.insert(
                tool.clone(),
                json!({"cpu_us_per_item": us, "cores": cores, "wall_s_1": one.wall_s, "wall_s_widest": wide.wall_s}),
            );
            (us, cores)
        };
        for &segments in &args.segments {
            let m = run(tool, &table, segments, args.concurrency, latency).await?;
            log(format!(
                "{tool} S={segments}: {:.2} s, {} items, {} requests",
                m.wall_s,
                m.items,
                m.counts.total()
            ));
            let t = m.table;
            let mut params = vec![
                ("tool", tool.clone()),
                ("items", t.items.to_string()),
                ("bytes", t.bytes.to_string()),
                ("partitions", table.partitions.to_string()),
                ("orphaned", table.orphaned().len().to_string()),
                ("orphan-items", t.orphan_items.to_string()),
                ("fts-items", t.fts_items.to_string()),
                ("segments", segments.to_string()),
                ("concurrency", args.concurrency.to_string()),
                ("latency-ms", format!("{eff_ms:.4}")),
                ("item-latency-us", args.item_latency_us.to_string()),
                ("cpu-us-per-item", format!("{cpu_us:.4}")),
                ("cores", format!("{cores:.3}")),
            ];
            if tool == "backfill" {
                if let Some(d) = m.detail.get("drift_injected") {
                    params.push(("drift-targets", d["targets"].to_string()));
                    params.push(("drift-fts-items", d["fts_items"].to_string()));
                }
            }
            let p = predict(&args, &params)?;
            let measured = json!({
                "wall_s": (m.wall_s * 1000.0).round() / 1000.0,
                "items": m.items,
                "requests": counts_json(&m.counts),
                "detail": m.detail,
            });
            let mut ratios = BTreeMap::new();
            ratios.insert(
                "wall_s".to_owned(),
                ratio(m.wall_s, p["wall_s"].as_f64().unwrap_or(0.0)),
            );
            ratios.insert(
                "wall_s_latency_only".to_owned(),
                ratio(m.wall_s, p["wall_s_latency_only"].as_f64().unwrap_or(0.0)),
            );
            ratios.insert(
                "items".to_owned(),
                ratio(m.items as f64, p["items"].as_f64().unwrap_or(0.0)),
            );
            for (op, v) in measured["requests"].as_object().into_iter().flatten() {
                let pv = p["requests"][op].as_f64().unwrap_or(0.0);
                ratios.insert(
                    format!("requests.{op}"),
                    ratio(v.as_f64().unwrap_or(0.0), pv),
                );
            }
            let model_args: Vec<String> = params
                .iter()
                .flat_map(|(k, v)| [format!("--{k}"), v.clone()])
                .collect();
            runs.push(json!({
                "tool": tool,
                "model_args": model_args,
                "segments": segments,
                "concurrency": args.concurrency,
                "measured": measured,
                "predicted": p,
                "ratio": ratios,
            }));
        }
    }
    let out = json!({
        "table": {
            "items": comp.items, "bytes": comp.bytes, "fts_items": comp.fts_items,
            "orphan_items": comp.orphan_items, "partitions": table.partitions,
            "orphaned_partitions": table.orphaned().len(),
            "drifted_partitions": table.drifted().len(),
        },
        "latency_ms": {"asked": args.latency_ms, "waited": eff_ms},
        "item_latency_us": args.item_latency_us,
        "preparation": prep.detail,
        "calibration": calibration,
        "runs": runs,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
