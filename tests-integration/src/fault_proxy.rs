//! A loopback HTTP proxy in front of the S3 test server that injects faults: error statuses for
//! a share of requests, added latency, connections cut before or after the request reached the
//! server, or in the middle of the response body, requests held back until the test releases
//! them; each rule can match only one method and requests whose path contains some text (every
//! PUT of a manifest list, the metadata write).
//!
//! It runs on its own thread and runtime, so a test may block on a child process while the
//! proxy serves it. Point a [`crate::TestEnv`] at it with
//! [`crate::TestEnv::set_s3_endpoint`]; [`FaultProxy::seen`] tells what it did to each request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a matching rule does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers with this status (and an S3-style error body) without asking the server.
    Status(u16),
    /// Closes the connection without forwarding the request: nothing happened upstream.
    CutBeforeForward,
    /// Forwards the request, then closes the connection instead of answering: it happened
    /// upstream, but the client cannot know.
    CutAfterForward,
    /// Forwards the request and sends the answer's headers and half its body, then closes.
    CutMidBody,
    /// Holds the request back until [`FaultProxy::release`], then forwards it: the client
    /// waits as long as the test wants (a rewrite stopped at its first write, say).
    Hold,
}

/// One fault rule: which requests it matches and what it does to them.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Only requests with this method (`PUT`, `GET`, …); any when `None`.
    pub method: Option<&'static str>,
    /// Only requests whose path (with query) contains this; any when `None`.
    pub path_contains: Option<String>,
    /// The share of matching requests it applies to (1.0: all of them).
    pub share: f64,
    /// It applies at most this many times; without limit when `None`.
    pub times: Option<u32>,
    /// What it does.
    pub fault: Fault,
}

impl Rule {
    /// A rule applying `fault` to every request.
    pub fn always(fault: Fault) -> Self {
        Self { method: None, path_contains: None, share: 1.0, times: None, fault }
    }

    /// Only requests with `method`.
    pub fn method(mut self, method: &'static str) -> Self {
        self.method = Some(method);
        self
    }

    /// Only requests whose path contains `text`.
    pub fn path(mut self, text: &str) -> Self {
        self.path_contains = Some(text.to_string());
        self
    }

    /// Applies to a share of the matching requests (deterministic for a seed).
    pub fn share(mut self, share: f64) -> Self {
        self.share = share;
        self
    }

    /// Applies at most `times` times.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.is_none_or(|m| m == method)
            && self.path_contains.as_deref().is_none_or(|p| path.contains(p))
            && self.times != Some(0)
    }
}

/// A request the proxy saw, and the fault it injected, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The request method.
    pub method: String,
    /// The request path with its query.
    pub path: String,
    /// The fault applied to it.
    pub fault: Option<Fault>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    client: reqwest::Client,
    latency: Mutex<Duration>,
    rules: Mutex<Vec<Rule>>,
    rng: Mutex<ChaCha8Rng>,
    seen: Mutex<Vec<Seen>>,
    /// Whether held requests may go on.
    released: tokio::sync::watch::Sender<bool>,
}

impl State {
    fn new(upstream: &str, seed: u64, rules: Vec<Rule>) -> Self {
        Self {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
            latency: Mutex::new(Duration::ZERO),
            rules: Mutex::new(rules),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            seen: Mutex::new(Vec::new()),
            released: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Picks the fault for a request (the first matching rule that fires) and records it.
    fn decide(&self, method: &str, path: &str) -> Option<Fault> {
        let mut rules = self.rules.lock().unwrap();
        let mut rng = self.rng.lock().unwrap();
        let fault = rules.iter_mut().find(|r| r.matches(method, path)).and_then(|rule| {
            let fires = rule.share >= 1.0 || rng.random_bool(rule.share.clamp(0.0, 1.0));
            if !fires {
                return None;
            }
            if let Some(times) = &mut rule.times {
                *times -= 1;
            }
            Some(rule.fault)
        });
        let seen = Seen { method: method.to_string(), path: path.to_string(), fault };
        self.seen.lock().unwrap().push(seen);
        fault
    }
}

/// The running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Why the proxy closed a connection on purpose (hyper ends the connection on a service error).
#[derive(Debug, thiserror::Error)]
#[error("connection cut by the fault proxy")]
struct Cut;

impl FaultProxy {
    /// Starts a proxy on a free loopback port forwarding to `upstream` (`http://127.0.0.1:p`),
    /// injecting nothing until rules are set; `seed` makes shared faults repeatable.
    pub fn start(upstream: &str, seed: u64) -> FaultProxy {
        let state = Arc::new(State::new(upstream, seed, Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the fault proxy");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the proxy's address");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the fault proxy's runtime");
            runtime.block_on(serve(listener, served, stopped));
        });
        FaultProxy { addr, state, stop: Some(stop), thread: Some(thread) }
    }

    /// The endpoint to give S3 clients: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds `latency` before every answer (0 for none).
    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock().unwrap() = latency;
    }

    /// Replaces the rules (the first matching rule decides a request's fault).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.state.rules.lock().unwrap() = rules;
    }

    /// Every request seen so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests got a fault.
    pub fn faults_injected(&self) -> usize {
        self.seen().iter().filter(|s| s.fault.is_some()).count()
    }

    /// How many requests a [`Fault::Hold`] rule matched so far (held now, or released).
    pub fn held(&self) -> usize {
        self.seen().iter().filter(|s| s.fault == Some(Fault::Hold)).count()
    }

    /// Lets every held request go on, and every later one a hold rule matches pass at once.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { handle(&state, req).await }
            });
            // A cut ends the connection with an error: that is the point.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Cut>;

async fn handle(state: &State, req: Request<Incoming>) -> Result<Response<Body>, Cut> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    let fault = state.decide(&method, &path);
    if fault == Some(Fault::Hold) {
        let mut released = state.released.subscribe();
        // The sender lives as long as the state this request holds.
        let _ = released.wait_for(|go| *go).await;
    }
    let latency = *state.latency.lock().unwrap();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(Fault::Status(status)) = fault {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{}</Code>\
             <Message>injected by the fault proxy</Message></Error>",
            if status == 503 { "SlowDown" } else { "InternalError" }
        );
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/xml")
            .body(full(Bytes::from(body)))
            .expect("a valid response");
        return Ok(response);
    }
    if fault == Some(Fault::CutBeforeForward) {
        return Err(Cut);
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Cut)?.to_bytes();
    let url = format!("{}{path}", state.upstream);
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).map_err(|_| Cut)?;
    let mut forward = state.client.request(method, &url).body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            forward = forward.header(name.as_str(), value.as_bytes());
        }
    }
    let upstream = forward.send().await.map_err(|_| Cut)?;
    let status = upstream.status().as_u16();
    let headers = upstream.headers().clone();
    let bytes = upstream.bytes().await.map_err(|_| Cut)?;
    if fault == Some(Fault::CutAfterForward) {
        return Err(Cut);
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != "transfer-encoding" && name != "connection" {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    let body = if fault == Some(Fault::CutMidBody) {
        // The headers and the first half go out (the pause lets hyper flush them), then the
        // connection drops.
        let half = bytes.slice(..bytes.len() / 2);
        let frames = futures::stream::iter([Some(half), None]).then(|frame| async move {
            match frame {
                Some(half) => Ok(Frame::data(half)),
                None => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Err(Cut)
                }
            }
        });
        BodyExt::boxed(StreamBody::new(frames))
    } else {
        full(bytes)
    };
    Ok(response.body(body).expect("a valid response"))
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never: Infallible| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_method_path_and_count() {
        let rule = Rule::always(Fault::Status(500)).method("PUT").path("snap-").times(1);
        assert!(rule.matches("PUT", "/b/t/metadata/snap-1.avro"));
        assert!(!rule.matches("GET", "/b/t/metadata/snap-1.avro"));
        assert!(!rule.matches("PUT", "/b/t/metadata/00001.metadata.json"));
        let state = State::new("", 1, vec![rule]);
        assert_eq!(state.decide("PUT", "/snap-1"), Some(Fault::Status(500)));
        assert_eq!(state.decide("PUT", "/snap-2"), None, "it applies once");
        assert_eq!(state.seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_held_request_waits_for_the_release() {
        // An upstream that answers every request `ok`.
        let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in upstream.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut conn, &mut buf);
                let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                let _ = std::io::Write::write_all(&mut conn, answer);
            }
        });
        let proxy = FaultProxy::start(&format!("http://{upstream_addr}"), 1);
        proxy.set_rules(vec![Rule::always(Fault::Hold).method("PUT").path("/data/")]);
        let port = proxy.addr.port();
        let get = crate::http::http_get(port, "/b/t/data/x.parquet").unwrap();
        assert_eq!((get.status, get.body.as_str()), (200, "ok"), "a GET is not held");
        let put = std::thread::spawn(move || {
            crate::http::HttpRequest::new("PUT", "/b/t/data/x.parquet")
                .body("abc")
                .timeout(Duration::from_secs(20))
                .send(port)
        });
        let waited = std::time::Instant::now();
        while proxy.held() == 0 {
            assert!(waited.elapsed() < Duration::from_secs(10), "the PUT never reached the proxy");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(!put.is_finished(), "the held PUT was answered before the release");
        proxy.release();
        let put = put.join().unwrap().unwrap();
        assert_eq!((put.status, put.body.as_str()), (200, "ok"));
        assert_eq!(proxy.held(), 1);
    }

    #[test]
    fn a_share_applies_to_about_that_share() {
        let state = State::new("", 7, vec![Rule::always(Fault::Status(503)).share(0.2)]);
        let hits = (0..1000).filter(|_| state.decide("GET", "/x").is_some()).count();
        assert!((150..250).contains(&hits), "{hits} of 1000");
    }
}
