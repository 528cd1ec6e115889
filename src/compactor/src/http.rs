//! The compactor's HTTP endpoints, on `[compactor] metrics_port`:
//!
//! - `GET /metrics`: every metric family in the Prometheus text format 0.0.4;
//! - `GET /healthz`: `200 ok` while the process is alive and serving;
//! - `GET /readyz`: the [`Readiness`](crate::health::Readiness) JSON, `200` when the catalog
//!   and the object store answered recently, `503` otherwise.
//!
//! [`bind`] is separate from [`serve`] so that a busy port fails start-up before any job runs.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::{Component, Health};
use crate::log_target;
use crate::metrics::Metrics;

/// `Content-Type` of `/metrics`: the Prometheus text exposition format.
pub(crate) const METRICS_CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Why the HTTP endpoints could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Another process already listens on the metrics port.
    #[error(
        "metrics port {port} is already in use \
         (set [compactor] metrics_port or SIGNALDB_COMPACTOR_METRICS_PORT)"
    )]
    PortInUse {
        /// The busy port.
        port: u16,
    },
    /// Listening on the address failed for another reason.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("metrics server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Listens on `addr`; a busy port is [`HttpError::PortInUse`].
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr).await.map_err(|source| match source.kind() {
        std::io::ErrorKind::AddrInUse => HttpError::PortInUse { port: addr.port() },
        _ => HttpError::Bind { addr, source },
    })
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

/// Path of the liveness probe.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Path of the readiness probe.
pub const READYZ_PATH: &str = "/readyz";
/// Path of the Prometheus exposition.
pub(crate) const METRICS_PATH: &str = "/metrics";

/// The routes `/metrics`, `/healthz` and `/readyz`.
pub(crate) fn router(metrics: Arc<Metrics>, health: Arc<Health>) -> Router {
    Router::new()
        .route(METRICS_PATH, get(metrics_handler))
        .route(HEALTHZ_PATH, get(healthz))
        .route(READYZ_PATH, get(readyz))
        .with_state(AppState { metrics, health })
}

/// `router` answering a path it does not serve with a JSON `404`, and a method a path does
/// not serve with a JSON `405`.
pub(crate) fn with_fallbacks(router: Router) -> Router {
    router
        .fallback(crate::admin::not_found)
        .method_not_allowed_fallback(crate::admin::method_not_allowed)
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting and
/// lets requests in flight finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    with_admin: bool,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(target: log_target::SERVICE, %addr, admin_api = with_admin, "{}", serving(with_admin));
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(HttpError::Serve)
}

/// The start-up line: what the endpoint serves.
fn serving(with_admin: bool) -> &'static str {
    if with_admin {
        "serving /metrics, /healthz, /readyz, the admin API under /api/v1 and the page at /"
    } else {
        "serving /metrics, /healthz and /readyz"
    }
}

/// `GET /metrics`.
async fn metrics_handler(State(state): State<AppState>) -> Response {
    // Readiness is exported as of the scrape, as /readyz would answer it.
    let components = state.health.readiness().components;
    let scheduler = &state.metrics.scheduler;
    scheduler.set_ready(Component::Catalog.as_str(), components.catalog.ready);
    scheduler.set_ready(Component::ObjectStore.as_str(), components.object_store.ready);
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], state.metrics.encode()).into_response()
}

/// `GET /healthz`: answering at all is the proof of life.
async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok").into_response()
}

/// `GET /readyz`.
async fn readyz(State(state): State<AppState>) -> Response {
    let readiness = state.health.readiness();
    let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(header::CONTENT_TYPE, "application/json")], readiness.to_json()).into_response()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use common::TableKind;
    use common::tables::TableId;

    use super::*;
    use crate::health::Component;
    use crate::job::JobKind;
    use crate::metrics::SPEC_FAMILIES;

    /// A running server on a loopback port, stopped when `shutdown` is cancelled.
    struct TestServer {
        base: String,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<Result<(), HttpError>>,
    }

    async fn start(metrics: Arc<Metrics>, health: Arc<Health>) -> TestServer {
        let listener = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router(metrics, health), false, shutdown.clone()));
        TestServer { base, shutdown, task }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
    }

    async fn get(server: &TestServer, path: &str) -> (StatusCode, String, String) {
        let resp = client().get(format!("{}{path}", server.base)).send().await.unwrap();
        let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map_or_else(String::new, |v| v.to_str().unwrap().to_owned());
        (status, content_type, resp.text().await.unwrap())
    }

    fn known_metrics() -> Arc<Metrics> {
        let metrics = Metrics::new();
        metrics.touch_table(&TableId::new("acme", "prod", TableKind::Logs).unwrap());
        for job in JobKind::ALL {
            metrics.touch_job(job);
        }
        Arc::new(metrics)
    }

    #[tokio::test]
    async fn metrics_endpoint_serves_parsable_exposition_with_every_spec_family() {
        let server = start(known_metrics(), Arc::new(Health::new(Duration::from_secs(60)))).await;
        let (status, content_type, body) = get(&server, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "text/plain; version=0.0.4");
        let lines = body.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        for family in SPEC_FAMILIES {
            assert!(scrape.samples.iter().any(|s| s.metric == *family), "{family} missing");
            assert!(body.contains(&format!("# TYPE {family} ")), "{family} TYPE missing");
        }
        // Nothing has answered the probe yet: both components are exported as not ready.
        assert!(body.contains("compactor_ready{component=\"catalog\"} 0"), "{body}");
        assert!(body.contains("compactor_ready{component=\"object_store\"} 0"), "{body}");
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn healthz_is_ok_even_when_not_ready() {
        let server = start(known_metrics(), Arc::new(Health::new(Duration::from_secs(60)))).await;
        let (status, content_type, body) = get(&server, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        assert_eq!(body, "ok");
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn readyz_is_503_until_both_components_answer_then_200() {
        let health = Arc::new(Health::new(Duration::from_secs(60)));
        let server = start(known_metrics(), health.clone()).await;

        let (status, content_type, body) = get(&server, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type, "application/json");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["ready"], false);
        assert_eq!(json["components"]["catalog"]["state"], "unknown");

        health.record_ok(Component::Catalog);
        health.record_failure(Component::ObjectStore, "access denied");
        let (status, _, body) = get(&server, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["components"]["catalog"]["ready"], true);
        assert_eq!(json["components"]["object_store"]["last_error"], "access denied");

        health.record_ok(Component::ObjectStore);
        let (status, _, body) = get(&server, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["ready"], true);
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn unknown_path_is_404() {
        let server = start(known_metrics(), Arc::new(Health::new(Duration::from_secs(60)))).await;
        let (status, ..) = get(&server, "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        server.shutdown.cancel();
    }

    #[tokio::test]
    async fn shutdown_stops_the_server_and_frees_the_port() {
        let server = start(known_metrics(), Arc::new(Health::new(Duration::from_secs(60)))).await;
        get(&server, "/healthz").await;
        server.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(10), server.task).await;
        result.expect("server stopped in time").unwrap().unwrap();
        let addr: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
        let err = client().get(format!("{}/healthz", server.base)).send().await;
        assert!(err.is_err(), "nothing listens on {addr} any more");
    }

    #[tokio::test]
    async fn busy_port_is_a_clear_error_naming_the_port() {
        let first = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
        let addr = first.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err();
        assert!(matches!(err, HttpError::PortInUse { port } if port == addr.port()), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "metrics port {} is already in use \
                 (set [compactor] metrics_port or SIGNALDB_COMPACTOR_METRICS_PORT)",
                addr.port()
            )
        );
    }

    #[test]
    fn other_bind_errors_name_the_address() {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 80));
        let err = HttpError::Bind { addr, source: std::io::ErrorKind::PermissionDenied.into() };
        assert!(
            err.to_string().starts_with("cannot listen for metrics on 127.0.0.1:80: "),
            "{err}"
        );
    }
}
