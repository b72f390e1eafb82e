//! A loopback HTTP proxy in front of the emulator that injects faults in the
//! real AWS wire format, so the SDK parses them exactly as it would parse
//! AWS's own (error shapes, status codes, `UnprocessedItems`).
//!
//! Requests are matched by their `X-Amz-Target` header (all three services
//! use AWS JSON protocols: `DynamoDB_20120810.BatchWriteItem`,
//! `DynamoDBStreams_20120810.GetRecords`, `AmazonSQS.SendMessage`).

use std::collections::HashMap;
use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn StdError + Send + Sync>;

/// Namespace of DynamoDB (and DynamoDB Streams) error shapes on the wire.
pub const DYNAMODB_NS: &str = "com.amazonaws.dynamodb.v20120810";

/// What to do with a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with `status` and the AWS JSON error body
    /// `{"__type": type_, "message": message}`; nothing is forwarded.
    Error {
        status: u16,
        type_: String,
        message: String,
    },
    /// Forward only the first `keep` write requests (BatchWriteItem) or keys
    /// (BatchGetItem) and report the others as `UnprocessedItems` /
    /// `UnprocessedKeys`, as DynamoDB does under load. With `keep = 0`
    /// nothing is forwarded.
    Unprocessed { keep: usize },
    /// Close the connection without answering (the SDK sees an I/O error).
    Hangup,
    /// Answer with this status and this body verbatim (JSON content type);
    /// nothing is forwarded. For malformed or truncated responses.
    Raw { status: u16, body: String },
}

impl Fault {
    /// A DynamoDB error shape, e.g. `dynamodb(400, "ValidationException", "...")`.
    pub fn dynamodb(status: u16, shape: &str, message: &str) -> Self {
        Fault::Error {
            status,
            type_: format!("{DYNAMODB_NS}#{shape}"),
            message: message.to_owned(),
        }
    }

    /// DynamoDB throttling: 400 `ProvisionedThroughputExceededException`.
    pub fn throttling() -> Self {
        Self::dynamodb(
            400,
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
        )
    }

    /// 500 `InternalServerError`, or 503 `ServiceUnavailable`.
    pub fn server_error(status: u16) -> Self {
        if status == 503 {
            Self::dynamodb(503, "ServiceUnavailable", "Service unavailable")
        } else {
            Self::dynamodb(status, "InternalServerError", "Internal server error")
        }
    }
}

#[derive(Debug)]
struct Rule {
    target: String,
    /// Only requests whose body contains this text (e.g. an item key).
    body_contains: Option<String>,
    remaining: usize,
    fault: Fault,
}

/// A fault applied at random to a share of the requests, until cleared.
#[derive(Debug)]
struct RateRule {
    target: String,
    rate: f64,
    faults: Vec<Fault>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    rates: Mutex<(Vec<RateRule>, fastrand::Rng)>,
    seen: Mutex<HashMap<String, usize>>,
}

impl State {
    fn take_fault(&self, target: &str, body: &[u8]) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let rule = rules.iter_mut().find(|r| {
            r.remaining > 0
                && (r.target == target || r.target == "*")
                && r.body_contains.as_ref().is_none_or(|needle| {
                    body.windows(needle.len().max(1))
                        .any(|w| w == needle.as_bytes())
                })
        });
        if let Some(rule) = rule {
            rule.remaining -= 1;
            return Some(rule.fault.clone());
        }
        drop(rules);
        let mut guard = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let (rates, rng) = &mut *guard;
        let rule = rates
            .iter()
            .find(|r| r.target == target || r.target == "*")?;
        if rule.faults.is_empty() || rng.f64() >= rule.rate {
            return None;
        }
        Some(rule.faults[rng.usize(..rule.faults.len())].clone())
    }
}

/// The proxy. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct FaultProxy {
    url: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listen on a free loopback port, forwarding to `upstream`
    /// (`http://host:port`, the emulator).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let authority = upstream
            .strip_prefix("http://")
            .ok_or_else(|| std::io::Error::other(format!("only http:// upstreams: {upstream}")))?
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: authority,
            rules: Mutex::new(Vec::new()),
            rates: Mutex::new((Vec::new(), fastrand::Rng::with_seed(0))),
            seen: Mutex::new(HashMap::new()),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(st.clone(), req));
                    // A Hangup fault ends the connection with an error: expected.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            url: format!("http://{addr}"),
            state,
            task,
        })
    }

    /// The proxy's endpoint URL, for [`ClientOptions::endpoint_url`](crate::ClientOptions).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Apply `fault` to the next `times` requests whose `X-Amz-Target` is
    /// `target` (`"*"`: any). Rules are tried in the order they were added.
    pub fn inject(&self, target: &str, times: usize, fault: Fault) {
        self.add_rule(target, None, times, fault);
    }

    /// Like [`FaultProxy::inject`], for requests whose body also contains
    /// `needle` (an item key, say): the fault follows one item.
    pub fn inject_where(&self, target: &str, needle: &str, times: usize, fault: Fault) {
        self.add_rule(target, Some(needle.to_owned()), times, fault);
    }

    /// Answer a share `rate` (0..=1) of the requests whose `X-Amz-Target`
    /// is `target` (`"*"`: any) with one of `faults`, picked at random, until
    /// [`FaultProxy::clear_rates`]. Counted rules ([`FaultProxy::inject`])
    /// are tried first. Seeded (`seed`): a run can be repeated.
    pub fn inject_rate(&self, target: &str, rate: f64, faults: Vec<Fault>, seed: u64) {
        let mut guard = self.state.rates.lock().unwrap_or_else(|p| p.into_inner());
        guard.1 = fastrand::Rng::with_seed(seed);
        guard.0.push(RateRule {
            target: target.to_owned(),
            rate: rate.clamp(0.0, 1.0),
            faults,
        });
    }

    /// Stop every [`FaultProxy::inject_rate`] rule.
    pub fn clear_rates(&self) {
        self.state
            .rates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clear();
    }

    fn add_rule(&self, target: &str, body_contains: Option<String>, times: usize, fault: Fault) {
        self.state
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Rule {
                target: target.to_owned(),
                body_contains,
                remaining: times,
                fault,
            });
    }

    /// Faults not yet used up, summed over all rules.
    pub fn pending_faults(&self) -> usize {
        self.state
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|r| r.remaining)
            .sum()
    }

    /// Requests seen so far with this `X-Amz-Target` (faulted or not).
    pub fn seen(&self, target: &str) -> usize {
        self.state
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(target)
            .copied()
            .unwrap_or(0)
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    *state
        .seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(target.clone())
        .or_default() += 1;
    match state.take_fault(&target, &body) {
        None => forward(&state, parts, body).await,
        Some(Fault::Error {
            status,
            type_,
            message,
        }) => Ok(json_response(
            status,
            &serde_json::json!({ "__type": type_, "message": message }),
        )),
        Some(Fault::Hangup) => Err("fault proxy: hangup".into()),
        Some(Fault::Raw { status, body }) => {
            let mut resp = json_response(status, &Value::Null);
            *resp.body_mut() = Full::new(Bytes::from(body));
            Ok(resp)
        }
        Some(Fault::Unprocessed { keep }) => unprocessed(&state, parts, body, &target, keep).await,
    }
}

fn json_response(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let bytes = Bytes::from(body.to_string());
    let mut resp = Response::new(Full::new(bytes));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    h.insert(
        "x-amzn-requestid",
        HeaderValue::from_str(&format!("FAULTPROXY{:016X}", fastrand::u64(..)))
            .unwrap_or(HeaderValue::from_static("FAULTPROXY")),
    );
    resp
}

async fn send_upstream(
    state: &State,
    mut parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<(hyper::http::response::Parts, Bytes), BoxError> {
    let stream = TcpStream::connect(&state.upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(TRANSFER_ENCODING);
    let req = Request::from_parts(parts, Full::new(body));
    let resp = sender.send_request(req).await?;
    let (mut rparts, rbody) = resp.into_parts();
    let rbody = rbody.collect().await?.to_bytes();
    rparts.headers.remove(CONTENT_LENGTH);
    rparts.headers.remove(TRANSFER_ENCODING);
    Ok((rparts, rbody))
}

async fn forward(
    state: &State,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (rparts, rbody) = send_upstream(state, parts, body).await?;
    Ok(Response::from_parts(rparts, Full::new(rbody)))
}

/// Split `RequestItems`, forward what is kept, report the rest unprocessed.
async fn unprocessed(
    state: &State,
    parts: hyper::http::request::Parts,
    body: Bytes,
    target: &str,
    keep: usize,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let is_write = target.ends_with(".BatchWriteItem");
    let is_get = target.ends_with(".BatchGetItem");
    if !is_write && !is_get {
        return forward(state, parts, body).await;
    }
    let mut req: Value = serde_json::from_slice(&body)?;
    let Some(items) = req.get_mut("RequestItems").and_then(Value::as_object_mut) else {
        return forward(state, parts, body).await;
    };
    let mut left = keep;
    let mut withheld = Map::new();
    for (table, spec) in items.iter_mut() {
        let list = if is_write {
            spec.as_array_mut()
        } else {
            spec.get_mut("Keys").and_then(Value::as_array_mut)
        };
        let Some(list) = list else { continue };
        let n = left.min(list.len());
        left -= n;
        let rest: Vec<Value> = list.drain(n..).collect();
        if rest.is_empty() {
            continue;
        }
        if is_write {
            withheld.insert(table.clone(), Value::Array(rest));
        } else {
            let mut ka = spec.clone();
            ka["Keys"] = Value::Array(rest);
            withheld.insert(table.clone(), ka);
        }
    }
    items.retain(|_, spec| {
        let list = if is_write {
            Some(&*spec)
        } else {
            spec.get("Keys")
        };
        list.and_then(Value::as_array)
            .is_some_and(|l| !l.is_empty())
    });
    let field = if is_write {
        "UnprocessedItems"
    } else {
        "UnprocessedKeys"
    };
    if items.is_empty() {
        let mut resp = serde_json::json!({ field: withheld });
        if is_get {
            resp["Responses"] = Value::Object(Map::new());
        }
        return Ok(json_response(200, &resp));
    }
    let (mut rparts, rbody) = send_upstream(state, parts, Bytes::from(req.to_string())).await?;
    if !rparts.status.is_success() {
        return Ok(Response::from_parts(rparts, Full::new(rbody)));
    }
    let mut resp: Value = serde_json::from_slice(&rbody)?;
    resp[field] = Value::Object(withheld);
    // The body changed: its checksum header no longer holds.
    rparts.headers.remove("x-amz-crc32");
    Ok(Response::from_parts(
        rparts,
        Full::new(Bytes::from(resp.to_string())),
    ))
}
