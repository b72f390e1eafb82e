//! Loader for `scripts/bench/indexer.sh` (not a timed benchmark itself: the
//! figures come from the `indexer` binary's summaries and the emulator's
//! request counts).
//!
//! `cargo bench -p indexer --bench indexer -- load TABLE COPIES correct|stripped`
//! creates TABLE like the reference's template and loads the reference-built
//! session table (core's plan fixture) with its experiment partition copied
//! COPIES times: `correct` with every derived item and map entry right,
//! `stripped` with none. Prints `{"items": n}`.
//!
//! `cargo bench -p indexer --bench indexer -- latency COPIES MS` measures
//! the indexer alone, without the emulator's limits: the same tables in
//! memory, every request delayed by MS milliseconds (a network round trip),
//! `verify` of the correct table and `backfill` of the stripped one with 1,
//! 2, 4 and 8 segments. Prints one line per run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use indexer::{drive, DriveOptions, Summary, WalkMode};
use mlflow_ddb_aws::{
    create_table, AwsError, ClientOptions, Clients, DynamoStore, ExpireReport, MemoryStore,
    ScanPage, Store, UpdateOutcome, WriteStats,
};
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

const USAGE: &str = "usage: indexer-bench load TABLE COPIES correct|stripped | latency COPIES MS";

/// A [`MemoryStore`] behind a fixed round trip per request.
struct Latency {
    inner: MemoryStore,
    rtt: Duration,
}

#[async_trait::async_trait]
impl Store for Latency {
    async fn get(&self, k: &ItemKey, c: bool) -> Result<Option<Item>, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.get(k, c).await
    }
    async fn batch_get(
        &self,
        k: &[ItemKey],
        c: bool,
        p: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.batch_get(k, c, p).await
    }
    async fn batch_write(&self, p: Vec<Item>, d: Vec<ItemKey>) -> Result<WriteStats, AwsError> {
        // one round trip per 25 items
        let n = (p.len() + d.len()).div_ceil(25).max(1) as u32;
        tokio::time::sleep(self.rtt * n).await;
        self.inner.batch_write(p, d).await
    }
    async fn update_map(
        &self,
        k: &ItemKey,
        a: &str,
        s: &BTreeMap<String, AttributeValue>,
        r: &[String],
    ) -> Result<UpdateOutcome, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.update_map(k, a, s, r).await
    }
    async fn update_attrs(
        &self,
        k: &ItemKey,
        s: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.update_attrs(k, s).await
    }
    async fn expire(&self, k: &[ItemKey], n: i64) -> Result<ExpireReport, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.expire(k, n).await
    }
    async fn query_prefix(
        &self,
        pk: &str,
        p: &str,
        c: bool,
        pr: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.query_prefix(pk, p, c, pr).await
    }
    async fn scan_segment(
        &self,
        s: u32,
        t: u32,
        e: Option<ItemKey>,
        p: Option<&[&str]>,
        l: Option<u32>,
    ) -> Result<ScanPage, AwsError> {
        tokio::time::sleep(self.rtt).await;
        self.inner.scan_segment(s, t, e, p, l).await
    }
}

async fn latency(copies: usize, ms: u64) -> Result<(), Box<dyn std::error::Error>> {
    let reference = common::reference_table_x(copies.max(1));
    let correct = common::reconciled(&reference);
    let bare = common::stripped(&reference);
    println!(
        "in memory, {ms} ms per request; correct table {} items, stripped {} items; concurrency 16 per segment, pages of 1000 items",
        correct.len(),
        bare.len()
    );
    for (mode, table) in [(WalkMode::Verify, &correct), (WalkMode::Backfill, &bare)] {
        let mut base = None;
        for segments in [1u32, 2, 4, 8] {
            let store = Arc::new(Latency {
                inner: MemoryStore::with_items(table.values().cloned()),
                rtt: Duration::from_millis(ms),
            });
            let deps = Arc::new(common::deps(store));
            let opts = DriveOptions {
                page_size: Some(1000),
                ..DriveOptions::new(mode, segments)
            };
            let s: Summary = drive(deps.clone(), &opts).await?;
            // Whatever the mode, the table must now be clean.
            let check = drive(deps, &DriveOptions::new(WalkMode::Verify, 2)).await?;
            if !s.done || s.counts.errors > 0 || !check.clean() {
                return Err(
                    format!("{mode:?} with {segments} segments left drift or errors").into(),
                );
            }
            let rate = s.items_per_s;
            let base = *base.get_or_insert(rate);
            println!(
                "  {:<8} {segments} segments: {:>6} items in {:>6.2} s = {:>7.0} items/s ({:.2}x), {:.4} requests/item, writes {}",
                format!("{mode:?}").to_lowercase(),
                s.counts.items_scanned,
                s.elapsed_s,
                rate,
                rate / base,
                s.requests_per_item,
                s.counts.writes
            );
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // `cargo test --all-targets` runs this binary without arguments: a
    // quick smoke run of the in-memory part.
    if args.is_empty() {
        return latency(1, 0).await;
    }
    if let [cmd, copies, ms] = args.as_slice() {
        if cmd == "latency" {
            return latency(copies.parse()?, ms.parse()?).await;
        }
    }
    let [cmd, table, copies, state] = args.as_slice() else {
        return Err(USAGE.into());
    };
    if cmd != "load" {
        return Err(USAGE.into());
    }
    let copies: usize = copies.parse()?;
    let reference = common::reference_table_x(copies.max(1));
    let data = match state.as_str() {
        "correct" => common::reconciled(&reference),
        "stripped" => common::stripped(&reference),
        _ => return Err(USAGE.into()),
    };
    let clients = Clients::from_env(&ClientOptions::default()).await?;
    create_table(&clients.ddb, table, "v0.1", false).await?;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(&clients, table.as_str()));
    let items: Vec<Item> = data.into_values().collect();
    let n = items.len();
    // Eight loaders at once, 500 items each call.
    let mut chunks: Vec<Vec<Item>> = items.chunks(500).map(<[Item]>::to_vec).collect();
    while !chunks.is_empty() {
        let batch: Vec<Vec<Item>> = chunks.drain(..chunks.len().min(8)).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in batch {
            let store = store.clone();
            tasks.spawn(async move { store.batch_write(chunk, Vec::new()).await });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
    }
    println!("{{\"items\": {n}}}");
    Ok(())
}
