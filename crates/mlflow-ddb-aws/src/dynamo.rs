//! [`Store`] on a DynamoDB table.

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue as DdbValue, BatchStatementRequest, DeleteRequest, KeysAndAttributes,
    PutRequest, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};
use tracing::{debug, warn};

use crate::convert::{from_sdk_item, key_of_sdk, key_to_sdk, to_sdk_item, to_sdk_value};
use crate::error::Failure;
use crate::retry::Gate;
use crate::store::{
    check_map_update, key_to_put, prepare_writes, ExpireOutcome, ExpireReport, ScanPage, Store,
    UpdateOutcome, Write, WriteStats,
};
use crate::{AwsError, Clients};

/// Largest BatchWriteItem, BatchGetItem and BatchExecuteStatement requests (DynamoDB's limits,
/// in the ports: the memory fakes size their requests by them too).
pub use mlflow_ddb_ports::{BATCH_GET_MAX, BATCH_STATEMENT_MAX, BATCH_WRITE_MAX};
/// Map entries per UpdateItem request (keeps expressions well under 4 KB).
pub const UPDATE_MAP_MAX_ACTIONS: usize = 100;

/// The message DynamoDB gives when a nested path's parent map is missing.
const MISSING_MAP: &str = "document path provided in the update expression is invalid for update";

/// How [`Store::expire`] talks to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireVia {
    /// `PartiQl` on AWS; `UpdateItem` when the clients have an endpoint
    /// override (an emulator: moto 5.2.5 ignores non-key WHERE conditions).
    #[default]
    Auto,
    /// Up to 25 conditional PartiQL UPDATE statements per
    /// BatchExecuteStatement request.
    PartiQl,
    /// One conditional UpdateItem per key, a few in flight at once.
    UpdateItem,
}

/// Tuning of a [`DynamoStore`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub expire_via: ExpireVia,
    /// UpdateItem requests in flight at once in [`ExpireVia::UpdateItem`].
    pub expire_concurrency: usize,
    /// `Limit` of each Query page (`None`: DynamoDB's 1 MB pages). Tests use
    /// a small one to exercise paging.
    pub query_page_limit: Option<u32>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            expire_via: ExpireVia::Auto,
            expire_concurrency: 8,
            query_page_limit: None,
        }
    }
}

/// The DynamoDB implementation of [`Store`] on one table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    /// Every request goes out through it (the one retry policy).
    gate: Gate,
    table: String,
    opts: StoreOptions,
    partiql: bool,
}

#[async_trait]
impl crate::store::FormatProbe for DynamoStore {
    fn table_name(&self) -> &str {
        &self.table
    }

    async fn format_evidence(&self) -> Result<mlflow_ddb_core::format::FormatEvidence, AwsError> {
        crate::table::format_evidence(&self.client, &self.table).await
    }
}

impl DynamoStore {
    pub fn new(clients: &Clients, table: impl Into<String>) -> Self {
        Self::with_options(clients, table, StoreOptions::default())
    }

    pub fn with_options(clients: &Clients, table: impl Into<String>, opts: StoreOptions) -> Self {
        let partiql = match opts.expire_via {
            ExpireVia::PartiQl => true,
            ExpireVia::UpdateItem => false,
            ExpireVia::Auto => clients.endpoint_url().is_none(),
        };
        Self {
            client: clients.ddb.clone(),
            gate: clients.ddb_gate.clone(),
            table: table.into(),
            opts,
            partiql,
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The gate this store's requests go through (retry budget, in-flight
    /// limit, counters).
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Whether [`Store::expire`] uses BatchExecuteStatement.
    pub fn expires_via_partiql(&self) -> bool {
        self.partiql
    }

    fn item(&self, op: &'static str, map: HashMap<String, DdbValue>) -> Result<Item, AwsError> {
        let key = key_of_sdk(&map);
        from_sdk_item(map).map_err(|u| AwsError::UnknownType {
            op,
            key,
            path: u.path,
        })
    }

    async fn update_chunk(
        &self,
        key: &ItemKey,
        attr: &str,
        sets: &[(&String, &AttributeValue)],
        removes: &[&String],
    ) -> Result<UpdateOutcome, AwsError> {
        match self.send_map_update(key, attr, sets, removes).await {
            Ok(()) => Ok(UpdateOutcome::Applied),
            Err(e) if is_condition_failed(&e) => Ok(UpdateOutcome::TargetMissing),
            Err(e) if is_missing_map(&e) => {
                if sets.is_empty() {
                    // Removals only: an absent map has nothing to remove; do
                    // not create an empty one. Tell "item gone" from "no map".
                    return match self.get_projected(key, attr).await? {
                        None => Ok(UpdateOutcome::TargetMissing),
                        Some(item) if !item.contains_key(attr) => Ok(UpdateOutcome::MapAbsent),
                        Some(_) => Err(e),
                    };
                }
                debug!(pk = %key.pk, sk = %key.sk, attr, "map absent: creating it");
                match self.create_map(key, attr).await {
                    Ok(()) => {}
                    Err(c) if is_condition_failed(&c) => return Ok(UpdateOutcome::TargetMissing),
                    Err(c) => return Err(c),
                }
                match self.send_map_update(key, attr, sets, removes).await {
                    Ok(()) => Ok(UpdateOutcome::AppliedAfterCreatingMap),
                    Err(e) if is_condition_failed(&e) => Ok(UpdateOutcome::TargetMissing),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn send_map_update(
        &self,
        key: &ItemKey,
        attr: &str,
        sets: &[(&String, &AttributeValue)],
        removes: &[&String],
    ) -> Result<(), AwsError> {
        let mut names = HashMap::from([
            ("#pk".to_owned(), PK.to_owned()),
            ("#m".to_owned(), attr.to_owned()),
        ]);
        let mut values = HashMap::new();
        let mut set_parts = Vec::with_capacity(sets.len());
        let mut remove_parts = Vec::with_capacity(removes.len());
        let mut i = 0usize;
        for (k, v) in sets {
            names.insert(format!("#k{i}"), (*k).clone());
            values.insert(format!(":v{i}"), to_sdk_value((*v).clone()));
            set_parts.push(format!("#m.#k{i} = :v{i}"));
            i += 1;
        }
        for k in removes {
            names.insert(format!("#k{i}"), (*k).clone());
            remove_parts.push(format!("#m.#k{i}"));
            i += 1;
        }
        let mut expr = String::new();
        if !set_parts.is_empty() {
            expr.push_str("SET ");
            expr.push_str(&set_parts.join(", "));
        }
        if !remove_parts.is_empty() {
            if !expr.is_empty() {
                expr.push(' ');
            }
            expr.push_str("REMOVE ");
            expr.push_str(&remove_parts.join(", "));
        }
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_to_sdk(key)))
            .update_expression(expr)
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(if values.is_empty() {
                None
            } else {
                Some(values)
            });
        self.gate
            .send("UpdateItem", Some(key), || req.clone().send())
            .await
            .map(|_| ())
    }

    async fn create_map(&self, key: &ItemKey, attr: &str) -> Result<(), AwsError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_to_sdk(key)))
            .update_expression("SET #m = if_not_exists(#m, :empty)")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#m", attr)
            .expression_attribute_values(":empty", DdbValue::M(HashMap::new()));
        self.gate
            .send("UpdateItem", Some(key), || req.clone().send())
            .await
            .map(|_| ())
    }

    async fn get_projected(&self, key: &ItemKey, attr: &str) -> Result<Option<Item>, AwsError> {
        let req = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_to_sdk(key)))
            .consistent_read(true)
            .projection_expression("#pk, #m")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#m", attr);
        let out = self
            .gate
            .send("GetItem", Some(key), || req.clone().send())
            .await?;
        out.item.map(|m| self.item("GetItem", m)).transpose()
    }

    async fn expire_partiql(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        let stmt = format!(
            r#"UPDATE "{}" SET "ttl" = ? WHERE "PK" = ? AND "SK" = ? AND ("ttl" IS MISSING OR "ttl" > ?)"#,
            self.table
        );
        let now_v = DdbValue::N(now.to_string());
        let mut report = ExpireReport::default();
        for chunk in keys.chunks(BATCH_STATEMENT_MAX) {
            let mut outcomes: Vec<Option<ExpireOutcome>> = (0..chunk.len()).map(|_| None).collect();
            let mut pending: Vec<usize> = (0..chunk.len()).collect();
            let mut budget = self.gate.budget();
            loop {
                let mut statements = Vec::with_capacity(pending.len());
                for &i in &pending {
                    let k = &chunk[i];
                    statements.push(
                        BatchStatementRequest::builder()
                            .statement(stmt.clone())
                            .parameters(now_v.clone())
                            .parameters(DdbValue::S(k.pk.clone()))
                            .parameters(DdbValue::S(k.sk.clone()))
                            .parameters(now_v.clone())
                            .build()
                            .map_err(|e| invalid("BatchExecuteStatement", Some(k.clone()), e))?,
                    );
                }
                let req = self
                    .client
                    .batch_execute_statement()
                    .set_statements(Some(statements));
                let before = budget.attempts();
                let sent = self
                    .gate
                    .send_within(
                        &mut budget,
                        "BatchExecuteStatement",
                        chunk.get(pending[0]),
                        || req.clone().send(),
                    )
                    .await;
                report.requests += budget.attempts() - before;
                let out = sent?;
                let responses = out.responses.unwrap_or_default();
                let mut retry = Vec::new();
                for (pos, &i) in pending.iter().enumerate() {
                    let key = &chunk[i];
                    let error = responses.get(pos).and_then(|r| r.error.as_ref());
                    let outcome = match error {
                        None if pos < responses.len() => ExpireOutcome::Expired,
                        None => ExpireOutcome::Failed(AwsError::Invalid {
                            op: "BatchExecuteStatement",
                            key: Some(key.clone()),
                            reason: "no response for this statement".into(),
                        }),
                        Some(err) => {
                            let code = err.code.as_ref().map(|c| c.as_str()).unwrap_or("Unknown");
                            if code == "ConditionalCheckFailed" {
                                ExpireOutcome::Skipped
                            } else {
                                let e = AwsError::Request {
                                    op: "BatchExecuteStatement",
                                    key: Some(key.clone()),
                                    failure: Box::new(Failure::Service {
                                        code: code.to_owned(),
                                        message: err.message.clone().unwrap_or_default(),
                                        status: None,
                                    }),
                                    source: None,
                                };
                                if e.is_transient() {
                                    retry.push(i);
                                }
                                ExpireOutcome::Failed(e)
                            }
                        }
                    };
                    outcomes[i] = Some(outcome);
                }
                if retry.is_empty() {
                    break;
                }
                if self.gate.partial(&budget).await.is_none() {
                    warn!(table = %self.table, remaining = retry.len(), "expire: statements still failing after retry budget");
                    break;
                }
                pending = retry;
            }
            push_outcomes(
                &mut report,
                chunk,
                outcomes,
                "BatchExecuteStatement",
                "statement not sent",
            );
        }
        Ok(report)
    }

    async fn expire_update_item(
        &self,
        keys: &[ItemKey],
        now: i64,
    ) -> Result<ExpireReport, AwsError> {
        let mut report = ExpireReport::default();
        for window in keys.chunks(self.opts.expire_concurrency.max(1)) {
            let mut set = tokio::task::JoinSet::new();
            let deadline = crate::retry::current_deadline();
            for (i, key) in window.iter().enumerate() {
                let client = self.client.clone();
                let gate = self.gate.clone();
                let table = self.table.clone();
                let key = key.clone();
                set.spawn(crate::retry::keep_deadline(deadline, async move {
                    let req = client
                        .update_item()
                        .table_name(table)
                        .set_key(Some(key_to_sdk(&key)))
                        .update_expression("SET #ttl = :now")
                        .condition_expression(
                            "attribute_exists(#pk) AND (attribute_not_exists(#ttl) OR #ttl > :now)",
                        )
                        .expression_attribute_names("#pk", PK)
                        .expression_attribute_names("#ttl", "ttl")
                        .expression_attribute_values(":now", DdbValue::N(now.to_string()));
                    let mut budget = gate.budget();
                    let res = gate
                        .send_within(&mut budget, "UpdateItem", Some(&key), || req.clone().send())
                        .await;
                    let outcome = match res {
                        Ok(_) => ExpireOutcome::Expired,
                        Err(e) => {
                            if is_condition_failed(&e) {
                                ExpireOutcome::Skipped
                            } else {
                                ExpireOutcome::Failed(e)
                            }
                        }
                    };
                    (i, outcome, budget.attempts())
                }));
            }
            let mut outs: Vec<Option<ExpireOutcome>> = (0..window.len()).map(|_| None).collect();
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok((i, o, attempts)) => {
                        outs[i] = Some(o);
                        report.requests += attempts;
                    }
                    Err(e) => std::panic::resume_unwind(e.into_panic()),
                }
            }
            push_outcomes(&mut report, window, outs, "UpdateItem", "task lost");
        }
        Ok(report)
    }
}

fn invalid(op: &'static str, key: Option<ItemKey>, e: impl std::fmt::Display) -> AwsError {
    AwsError::Invalid {
        op,
        key,
        reason: e.to_string(),
    }
}

fn is_condition_failed(e: &AwsError) -> bool {
    e.has_code("ConditionalCheckFailedException")
}

fn is_missing_map(e: &AwsError) -> bool {
    e.has_code("ValidationException") && e.message().is_some_and(|m| m.contains(MISSING_MAP))
}

/// `ProjectionExpression` and its names for top-level attributes.
fn projection(names: &[&str], with_key: bool) -> (String, HashMap<String, String>) {
    let mut seen = HashSet::new();
    let mut all: Vec<&str> = Vec::new();
    let key: &[&str] = if with_key { &[PK, SK] } else { &[] };
    for n in key.iter().chain(names) {
        if seen.insert(*n) {
            all.push(n);
        }
    }
    let mut map = HashMap::new();
    let mut parts = Vec::with_capacity(all.len());
    for (i, n) in all.iter().enumerate() {
        map.insert(format!("#p{i}"), (*n).to_owned());
        parts.push(format!("#p{i}"));
    }
    (parts.join(", "), map)
}

fn distinct_keys(keys: &[ItemKey]) -> Vec<ItemKey> {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.iter().filter(|k| seen.insert(*k)).cloned().collect()
}

fn write_request(key: &ItemKey, w: Write) -> Result<WriteRequest, AwsError> {
    Ok(match w {
        Write::Put(item) => WriteRequest::builder()
            .put_request(
                PutRequest::builder()
                    .set_item(Some(to_sdk_item(item)))
                    .build()
                    .map_err(|e| invalid("BatchWriteItem", Some(key.clone()), e))?,
            )
            .build(),
        Write::Delete => WriteRequest::builder()
            .delete_request(
                DeleteRequest::builder()
                    .set_key(Some(key_to_sdk(key)))
                    .build()
                    .map_err(|e| invalid("BatchWriteItem", Some(key.clone()), e))?,
            )
            .build(),
    })
}

fn write_request_key(w: &WriteRequest) -> Option<ItemKey> {
    if let Some(p) = &w.put_request {
        return key_of_sdk(&p.item);
    }
    w.delete_request.as_ref().and_then(|d| key_of_sdk(&d.key))
}

#[async_trait]
impl Store for DynamoStore {
    fn gate_stats(&self) -> Option<crate::retry::GateStats> {
        Some(self.gate.stats())
    }

    async fn get(&self, key: &ItemKey, consistent: bool) -> Result<Option<Item>, AwsError> {
        let req = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_to_sdk(key)))
            .consistent_read(consistent);
        let out = self
            .gate
            .send("GetItem", Some(key), || req.clone().send())
            .await?;
        out.item.map(|m| self.item("GetItem", m)).transpose()
    }

    async fn batch_get(
        &self,
        keys: &[ItemKey],
        consistent: bool,
        projection_names: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        let keys = distinct_keys(keys);
        let proj = projection_names.map(|p| projection(p, true));
        let mut items = Vec::with_capacity(keys.len());
        for (n, chunk) in keys.chunks(BATCH_GET_MAX).enumerate() {
            let mut pending: Vec<HashMap<String, DdbValue>> =
                chunk.iter().map(key_to_sdk).collect();
            let mut budget = self.gate.budget();
            loop {
                let mut ka = KeysAndAttributes::builder()
                    .set_keys(Some(pending.clone()))
                    .consistent_read(consistent);
                if let Some((expr, names)) = &proj {
                    ka = ka
                        .projection_expression(expr.clone())
                        .set_expression_attribute_names(Some(names.clone()));
                }
                let ka = ka
                    .build()
                    .map_err(|e| invalid("BatchGetItem", chunk.first().cloned(), e))?;
                let req = self.client.batch_get_item().request_items(&self.table, ka);
                let first = pending.first().and_then(key_of_sdk);
                let out = self
                    .gate
                    .send_within(&mut budget, "BatchGetItem", first.as_ref(), || {
                        req.clone().send()
                    })
                    .await?;
                for m in out
                    .responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default()
                {
                    items.push(self.item("BatchGetItem", m)?);
                }
                let left = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|ka| ka.keys)
                    .unwrap_or_default();
                if left.is_empty() {
                    break;
                }
                debug!(table = %self.table, left = left.len(), attempt = budget.attempts(), "BatchGetItem: unprocessed keys");
                if self.gate.partial(&budget).await.is_none() {
                    let later = keys.len().saturating_sub((n + 1) * BATCH_GET_MAX);
                    return Err(AwsError::RetriesExhausted {
                        op: "BatchGetItem",
                        remaining: left.len() + later,
                        total: keys.len(),
                        attempts: budget.attempts(),
                        first_key: left.first().and_then(key_of_sdk),
                    });
                }
                pending = left;
            }
        }
        Ok(items)
    }

    async fn batch_write(
        &self,
        puts: Vec<Item>,
        deletes: Vec<ItemKey>,
    ) -> Result<WriteStats, AwsError> {
        let writes = prepare_writes(puts, deletes)?;
        let total = writes.len();
        let mut requests = Vec::with_capacity(total);
        for (key, w) in writes {
            requests.push(write_request(&key, w)?);
        }
        let mut stats = WriteStats {
            items: total,
            ..WriteStats::default()
        };
        for (n, chunk) in requests.chunks(BATCH_WRITE_MAX).enumerate() {
            let mut pending = chunk.to_vec();
            let mut budget = self.gate.budget();
            loop {
                let req = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending.clone());
                let first = pending.first().and_then(write_request_key);
                let before = budget.attempts();
                let sent = self
                    .gate
                    .send_within(&mut budget, "BatchWriteItem", first.as_ref(), || {
                        req.clone().send()
                    })
                    .await;
                stats.requests += budget.attempts() - before;
                let out = sent?;
                let left = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if left.is_empty() {
                    break;
                }
                debug!(table = %self.table, left = left.len(), attempt = budget.attempts(), "BatchWriteItem: unprocessed items");
                if self.gate.partial(&budget).await.is_none() {
                    let later = total.saturating_sub((n + 1) * BATCH_WRITE_MAX);
                    return Err(AwsError::RetriesExhausted {
                        op: "BatchWriteItem",
                        remaining: left.len() + later,
                        total,
                        attempts: budget.attempts(),
                        first_key: left.first().and_then(write_request_key),
                    });
                }
                stats.retried += left.len();
                pending = left;
            }
        }
        Ok(stats)
    }

    async fn update_map(
        &self,
        key: &ItemKey,
        attr: &str,
        set: &BTreeMap<String, AttributeValue>,
        remove: &[String],
    ) -> Result<UpdateOutcome, AwsError> {
        if !check_map_update(key, attr, set, remove)? {
            return Ok(UpdateOutcome::Nothing);
        }
        let mut removes: Vec<&String> = remove.iter().collect();
        removes.sort();
        removes.dedup();
        if set.is_empty() && removes.is_empty() {
            return Ok(UpdateOutcome::Nothing);
        }
        // Sets first, then removals, at most UPDATE_MAP_MAX_ACTIONS per request.
        let sets: Vec<(&String, &AttributeValue)> = set.iter().collect();
        let mut created = false;
        let mut s = 0;
        let mut r = 0;
        while s < sets.len() || r < removes.len() {
            let take_s = (sets.len() - s).min(UPDATE_MAP_MAX_ACTIONS);
            let take_r = (removes.len() - r).min(UPDATE_MAP_MAX_ACTIONS - take_s);
            let outcome = self
                .update_chunk(key, attr, &sets[s..s + take_s], &removes[r..r + take_r])
                .await?;
            s += take_s;
            r += take_r;
            match outcome {
                UpdateOutcome::Applied => {}
                UpdateOutcome::AppliedAfterCreatingMap => created = true,
                // A removals-only chunk found no map: nor will the next ones.
                UpdateOutcome::MapAbsent => return Ok(UpdateOutcome::MapAbsent),
                UpdateOutcome::TargetMissing => return Ok(UpdateOutcome::TargetMissing),
                UpdateOutcome::Nothing => {}
            }
        }
        Ok(if created {
            UpdateOutcome::AppliedAfterCreatingMap
        } else {
            UpdateOutcome::Applied
        })
    }

    async fn update_attrs(
        &self,
        key: &ItemKey,
        set: &BTreeMap<String, AttributeValue>,
    ) -> Result<UpdateOutcome, AwsError> {
        if !crate::store::check_attr_update(key, set)? {
            return Ok(UpdateOutcome::Nothing);
        }
        let mut names = HashMap::from([("#pk".to_owned(), PK.to_owned())]);
        let mut values = HashMap::new();
        let mut parts = Vec::with_capacity(set.len());
        for (i, (k, v)) in set.iter().enumerate() {
            names.insert(format!("#a{i}"), k.clone());
            values.insert(format!(":v{i}"), to_sdk_value(v.clone()));
            parts.push(format!("#a{i} = :v{i}"));
        }
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_to_sdk(key)))
            .update_expression(format!("SET {}", parts.join(", ")))
            .condition_expression("attribute_exists(#pk)")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let sent = self
            .gate
            .send("UpdateItem", Some(key), || req.clone().send())
            .await;
        match sent {
            Ok(_) => Ok(UpdateOutcome::Applied),
            Err(e) if is_condition_failed(&e) => Ok(UpdateOutcome::TargetMissing),
            Err(e) => Err(e),
        }
    }

    async fn put_if_absent(
        &self,
        item: &Item,
        or_if: Option<(&str, &AttributeValue)>,
    ) -> Result<bool, AwsError> {
        let key = key_to_put("PutItem", item)?;
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_sdk_item(item.clone())))
            .expression_attribute_names("#pk", PK);
        req = match or_if {
            None => req.condition_expression("attribute_not_exists(#pk)"),
            Some((attr, value)) => req
                .condition_expression("attribute_not_exists(#pk) OR #a = :v")
                .expression_attribute_names("#a", attr)
                .expression_attribute_values(":v", to_sdk_value(value.clone())),
        };
        match self
            .gate
            .send("PutItem", Some(&key), || req.clone().send())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn raise_number(
        &self,
        key: &ItemKey,
        attr: &str,
        at_least: u64,
    ) -> Result<UpdateOutcome, AwsError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_to_sdk(key)))
            .update_expression("SET #a = :v")
            .condition_expression("attribute_exists(#pk) AND (attribute_not_exists(#a) OR #a < :v)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#a", attr)
            .expression_attribute_values(":v", DdbValue::N(at_least.to_string()));
        let sent = self
            .gate
            .send("UpdateItem", Some(key), || req.clone().send())
            .await;
        match sent {
            Ok(_) => Ok(UpdateOutcome::Applied),
            Err(e) if is_condition_failed(&e) => Ok(UpdateOutcome::Nothing),
            Err(e) => Err(e),
        }
    }

    async fn expire(&self, keys: &[ItemKey], now: i64) -> Result<ExpireReport, AwsError> {
        let keys = distinct_keys(keys);
        if self.partiql {
            self.expire_partiql(&keys, now).await
        } else {
            self.expire_update_item(&keys, now).await
        }
    }

    async fn query_prefix(
        &self,
        pk: &str,
        sk_prefix: &str,
        consistent: bool,
        projection_names: Option<&[&str]>,
    ) -> Result<Vec<Item>, AwsError> {
        let mut names = HashMap::from([("#pk".to_owned(), PK.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), DdbValue::S(pk.to_owned()))]);
        let mut cond = "#pk = :pk".to_owned();
        if !sk_prefix.is_empty() {
            names.insert("#sk".into(), SK.into());
            values.insert(":prefix".into(), DdbValue::S(sk_prefix.to_owned()));
            cond.push_str(" AND begins_with(#sk, :prefix)");
        }
        let mut proj_expr = None;
        if let Some(p) = projection_names {
            let (expr, pnames) = projection(p, false);
            names.extend(pnames);
            proj_expr = Some(expr);
        }
        let key = ItemKey::new(pk, sk_prefix);
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, DdbValue>> = None;
        loop {
            let req = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(cond.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_projection_expression(proj_expr.clone())
                .consistent_read(consistent)
                .set_limit(
                    self.opts
                        .query_page_limit
                        .map(|l| l.min(i32::MAX as u32) as i32),
                )
                .set_exclusive_start_key(start.take());
            let out = self
                .gate
                .send("Query", Some(&key), || req.clone().send())
                .await?;
            for m in out.items.unwrap_or_default() {
                items.push(self.item("Query", m)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    async fn scan_segment(
        &self,
        segment: u32,
        total_segments: u32,
        exclusive_start_key: Option<ItemKey>,
        projection_names: Option<&[&str]>,
        limit: Option<u32>,
    ) -> Result<ScanPage, AwsError> {
        let to_i32 = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let mut req = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(to_i32(segment))
            .total_segments(to_i32(total_segments))
            .set_limit(limit.map(to_i32))
            .set_exclusive_start_key(exclusive_start_key.as_ref().map(key_to_sdk));
        if let Some(p) = projection_names {
            let (expr, names) = projection(p, false);
            req = req
                .projection_expression(expr)
                .set_expression_attribute_names(Some(names));
        }
        let out = self
            .gate
            .send("Scan", exclusive_start_key.as_ref(), || req.clone().send())
            .await?;
        let mut items = Vec::new();
        for m in out.items.unwrap_or_default() {
            items.push(self.item("Scan", m)?);
        }
        let last_key = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(key_of_sdk(&k).ok_or_else(|| AwsError::Invalid {
                op: "Scan",
                key: None,
                reason: "LastEvaluatedKey without string PK and SK".into(),
            })?),
            _ => None,
        };
        Ok(ScanPage { items, last_key })
    }
}

/// Record one outcome per key of an expiry chunk, in key order; a key left
/// without an outcome (never sent, or its task lost) is reported as failed.
fn push_outcomes(
    report: &mut ExpireReport,
    keys: &[ItemKey],
    outcomes: Vec<Option<ExpireOutcome>>,
    op: &'static str,
    missing: &str,
) {
    for (key, outcome) in keys.iter().zip(outcomes) {
        let outcome = outcome.unwrap_or_else(|| {
            ExpireOutcome::Failed(AwsError::Invalid {
                op,
                key: Some(key.clone()),
                reason: missing.into(),
            })
        });
        report.outcomes.push((key.clone(), outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pk: &str, sk: &str, v: &str) -> Item {
        let mut i = Item::default();
        i.insert(PK.into(), AttributeValue::S(pk.into()));
        i.insert(SK.into(), AttributeValue::S(sk.into()));
        i.insert("v".into(), AttributeValue::S(v.into()));
        i
    }

    #[test]
    fn identical_duplicates_are_sent_once_in_order() {
        let w = prepare_writes(
            vec![
                item("A", "1", "x"),
                item("A", "2", "y"),
                item("A", "1", "x"),
            ],
            vec![ItemKey::new("A", "3"), ItemKey::new("A", "3")],
        )
        .unwrap();
        let keys: Vec<String> = w.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["A/1", "A/2", "A/3"]);
    }

    #[test]
    fn conflicting_writes_of_one_key_are_refused() {
        let e = prepare_writes(vec![item("A", "1", "x"), item("A", "1", "y")], vec![]).unwrap_err();
        assert_eq!(e.key(), Some(&ItemKey::new("A", "1")));
        let e =
            prepare_writes(vec![item("A", "1", "x")], vec![ItemKey::new("A", "1")]).unwrap_err();
        assert!(matches!(e, AwsError::Invalid { .. }), "{e}");
        let mut no_sk = Item::default();
        no_sk.insert(PK.into(), AttributeValue::S("A".into()));
        assert!(prepare_writes(vec![no_sk], vec![]).is_err());
    }

    #[test]
    fn projection_uses_placeholders_and_adds_the_key() {
        let (expr, names) = projection(&["a.b", "PK", "ttl"], true);
        assert_eq!(expr, "#p0, #p1, #p2, #p3");
        assert_eq!(names["#p0"], "PK");
        assert_eq!(names["#p1"], "SK");
        assert_eq!(names["#p2"], "a.b");
        assert_eq!(names["#p3"], "ttl");
        let (expr, _) = projection(&["x"], false);
        assert_eq!(expr, "#p0");
    }
}
