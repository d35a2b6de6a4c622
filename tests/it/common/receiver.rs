//! A local HTTP receiver standing in for what the rotator sends to (alert webhooks, an OTLP
//! collector): plain HTTP on 127.0.0.1 and a free port, every request recorded (method, path,
//! headers, body, the status it got), and the answer scripted per path.
//!
//! ```ignore
//! let hook = Receiver::start(Reply::status(202)).await;
//! hook.reply_on("/v1/traces", Script::first(1, Reply::status(429), Reply::status(200)));
//! let url = hook.url("/hooks/abc?sig=x");
//! ```

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One answer.
#[derive(Clone, Debug)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    /// `None`: no body and no content type.
    body: Option<String>,
    echo_uri: bool,
    delay: Duration,
}

impl Reply {
    /// This status, no body.
    pub fn status(code: u16) -> Reply {
        Reply {
            status: code,
            headers: Vec::new(),
            body: None,
            echo_uri: false,
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A `text/plain` body.
    pub fn body(mut self, text: &str) -> Reply {
        self.body = Some(text.into());
        self
    }

    /// A body naming the request's path and query (`no route for /p?q`), as some receivers
    /// echo them: shows whether a URL that is a credential leaks through error messages.
    pub fn echoing_uri(mut self) -> Reply {
        self.echo_uri = true;
        self
    }

    /// Answer only after `delay` (a receiver that hangs).
    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// The answers of one path (or of every path without its own): `first` in turn, one per
/// request, then `then` for good.
#[derive(Clone, Debug)]
pub struct Script {
    first: VecDeque<Reply>,
    then: Reply,
}

impl Script {
    /// `reply` to the next `times` requests, then `then`.
    pub fn first(times: usize, reply: Reply, then: Reply) -> Script {
        Script {
            first: std::iter::repeat_n(reply, times).collect(),
            then,
        }
    }

    fn next(&mut self) -> Reply {
        self.first.pop_front().unwrap_or_else(|| self.then.clone())
    }
}

impl From<Reply> for Script {
    fn from(then: Reply) -> Script {
        Script::first(0, then.clone(), then)
    }
}

/// A request as received, with the status it was answered.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

struct Shared {
    default: Mutex<Script>,
    by_path: Mutex<HashMap<String, Script>>,
    hits: AtomicUsize,
    answered: Mutex<Vec<Recorded>>,
}

pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Listens on 127.0.0.1 (a free port) and answers every path by `script` (until
    /// [`Receiver::reply`] or [`Receiver::reply_on`] changes it).
    pub async fn start(script: impl Into<Script>) -> Receiver {
        let shared = Arc::new(Shared {
            default: Mutex::new(script.into()),
            by_path: Mutex::default(),
            hits: AtomicUsize::new(0),
            answered: Mutex::default(),
        });
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, shared }
    }

    /// `http://127.0.0.1:<port>` followed by `path_and_query` (`""` for the bare origin).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Answers every path without its own script by `script` from now on.
    pub fn reply(&self, script: impl Into<Script>) {
        *self.shared.default.lock().unwrap() = script.into();
    }

    /// Answers requests to `path` (without the query) by `script` from now on.
    pub fn reply_on(&self, path: &str, script: impl Into<Script>) {
        self.shared
            .by_path
            .lock()
            .unwrap()
            .insert(path.into(), script.into());
    }

    /// Requests that arrived, answered or not yet.
    pub fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    /// Requests answered so far, in the order they were answered.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.answered.lock().unwrap().clone()
    }

    /// Requests answered with a 2xx status.
    pub fn accepted(&self) -> Vec<Recorded> {
        successful(self.requests())
    }

    /// [`Receiver::accepted`], then forgets every request answered so far.
    pub fn take_accepted(&self) -> Vec<Recorded> {
        successful(std::mem::take(&mut *self.shared.answered.lock().unwrap()))
    }

    /// Bodies of the `method` requests to `path` answered with a 2xx status.
    pub fn bodies(&self, method: Method, path: &str) -> Vec<Bytes> {
        self.accepted()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .map(|r| r.body)
            .collect()
    }
}

fn successful(requests: Vec<Recorded>) -> Vec<Recorded> {
    requests
        .into_iter()
        .filter(|r| (200..300).contains(&r.status))
        .collect()
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let reply = {
        let mut by_path = shared.by_path.lock().unwrap();
        match by_path.get_mut(uri.path()) {
            Some(script) => script.next(),
            None => shared.default.lock().unwrap().next(),
        }
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    shared.answered.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_string(),
        headers,
        body,
        status: reply.status,
    });
    let status = StatusCode::from_u16(reply.status).unwrap();
    let body = if reply.echo_uri {
        Some(format!("no route for {uri}"))
    } else {
        reply.body
    };
    let mut response = match body {
        Some(text) => (status, text).into_response(),
        None => status.into_response(),
    };
    for (name, value) in reply.headers {
        response.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}
