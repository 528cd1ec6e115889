//! The page's routes served for real on loopback, over an empty SQLite catalog: what a browser
//! gets for the fleet, for a table that is not there, for a malformed id, and without the
//! token when reads are protected. Pages over real tables are tested end to end in
//! `tests-integration` (`admin_page`), with Chromium.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::config::{AdminConfig, Config, Secret, StorageConfig};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::assembly::Assembly;
use crate::health::Health;

const TOKEN: &str = "0123456789abcdef0123";

/// A compactor's HTTP routes on a loopback port over an empty catalog in a temporary
/// directory, until `shutdown` is cancelled.
struct Server {
    base: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

async fn serve(admin: AdminConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let storage =
        StorageConfig { dsn: format!("file://{}/wh", dir.path().display()), ..Default::default() };
    let mut config = Config { storage, ..Default::default() };
    config.schema.catalog_uri = format!("sqlite://{}/catalog.db", dir.path().display());
    config.compactor.admin = admin.clone();
    let assembly = Arc::new(Assembly::new(&config).unwrap());
    let health = Arc::new(Health::new(Duration::from_secs(60)));
    let shutdown = CancellationToken::new();
    let cx = Arc::new(AdminContext::new(assembly, health, &admin, shutdown.child_token()));
    let router = crate::http::with_fallbacks(crate::admin::router(cx, &admin));
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Server { base, shutdown, _dir: dir }
}

/// A response's status, `Content-Type` and body.
struct Got {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn get(server: &Server, path: &str, cookie: Option<&str>) -> Got {
    let client =
        reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(20)).build().unwrap();
    let mut request = client.get(format!("{}{path}", server.base));
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type =
        headers.get("content-type").map_or_else(String::new, |v| v.to_str().unwrap().to_string());
    Got { status, content_type, headers, body: response.text().await.unwrap() }
}

#[tokio::test]
async fn the_fleet_page_is_html_that_runs_only_its_own_script() {
    let server = serve(AdminConfig::default()).await;
    let got = get(&server, "/", None).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.content_type, "text/html; charset=utf-8");
    let csp = got.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(got.body.contains("<section id=\"fleet\">"), "{}", got.body);
    assert!(got.body.contains("id=\"no-tables\""), "{}", got.body);
    assert!(got.body.contains("data-component=\"catalog\""), "{}", got.body);
    assert!(!got.body.contains("<script>"), "no inline script: {}", got.body);

    let script = get(&server, "/assets/admin.js", None).await;
    assert_eq!(
        (script.status, script.content_type.as_str()),
        (200, "text/javascript; charset=utf-8")
    );
    assert!(script.body.contains("run-status"));
    let style = get(&server, "/assets/admin.css", None).await;
    assert_eq!((style.status, style.content_type.as_str()), (200, "text/css; charset=utf-8"));
    server.shutdown.cancel();
}

#[tokio::test]
async fn bad_requests_and_missing_tables_are_html_pages_naming_them() {
    let server = serve(AdminConfig::default()).await;
    for (path, status, says) in [
        ("/?tenant=Acme", 400, "tenant &#34;Acme&#34;"),
        ("/?colour=red", 400, "colour"),
        ("/tables/acme/prod/logs", 404, "acme.prod.logs"),
        ("/tables/Acme/prod/logs", 400, "tenant &#34;Acme&#34;"),
        ("/tables/acme/prod/passwd", 404, "&#34;passwd&#34;"),
    ] {
        let got = get(&server, path, None).await;
        assert_eq!(got.status, status, "{path}: {}", got.body);
        assert_eq!(got.content_type, "text/html; charset=utf-8", "{path}");
        assert!(got.body.contains("id=\"error-message\""), "{path}: {}", got.body);
        assert!(got.body.contains(says), "{path} does not say {says}: {}", got.body);
    }
    // A tenant that has no table is an empty fleet, not an error.
    let got = get(&server, "/?tenant=acme", None).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(got.body.contains("value=\"acme\""), "{}", got.body);
    // The API keeps its JSON.
    let got = get(&server, "/api/v1/tables/acme/prod/logs", None).await;
    assert_eq!((got.status, got.content_type.as_str()), (404, "application/json"));
    server.shutdown.cancel();
}

#[tokio::test]
async fn protected_pages_answer_with_the_token_form_and_the_api_with_json() {
    let mut admin = AdminConfig::default();
    admin.token = Some(Secret::new(TOKEN));
    admin.protect_reads = true;
    let server = serve(admin).await;

    let got = get(&server, "/", None).await;
    assert_eq!(got.status, 401, "{}", got.body);
    assert_eq!(got.content_type, "text/html; charset=utf-8");
    assert!(got.headers.contains_key("www-authenticate"));
    assert!(got.body.contains("id=\"login-form\""), "{}", got.body);
    assert!(got.body.contains("data-cookie=\"signaldb_compactor_token\""), "{}", got.body);
    let got = get(&server, "/tables/acme/prod/logs", None).await;
    assert_eq!(got.status, 401, "{}", got.body);
    assert!(got.body.contains("id=\"login-form\""), "{}", got.body);

    let got = get(&server, "/api/v1/tables", None).await;
    assert_eq!((got.status, got.content_type.as_str()), (401, "application/json"));
    assert!(got.body.contains("\"unauthorized\""), "{}", got.body);

    let wrong = format!("{}=not-the-token-at-all", crate::admin::auth::TOKEN_COOKIE);
    let got = get(&server, "/", Some(&wrong)).await;
    assert_eq!(got.status, 403, "{}", got.body);
    assert!(got.body.contains("id=\"login-form\""), "{}", got.body);

    let right = format!("{}={TOKEN}", crate::admin::auth::TOKEN_COOKIE);
    let got = get(&server, "/", Some(&right)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert!(got.body.contains("<section id=\"fleet\">"), "{}", got.body);

    // The form needs its script and style before it has the token.
    assert_eq!(get(&server, "/assets/admin.js", None).await.status, 200);
    assert_eq!(get(&server, "/assets/admin.css", None).await.status, 200);
    server.shutdown.cancel();
}
