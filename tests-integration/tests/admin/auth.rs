//! Who may use the API: without a configured token every changing endpoint is `403
//! admin_disabled` (saying how to enable it) and reads are open; with one (from `token`,
//! `SIGNALDB_COMPACTOR_ADMIN_TOKEN` or `token_file`), a change without credentials or with
//! malformed ones is `401` (with a `WWW-Authenticate` challenge), with the wrong token `403
//! forbidden`; `protect_reads` makes the reads (the document and the page too, which answers
//! with its token form instead of JSON) need it, never the probes or `/metrics`. No answer and
//! no log line ever contains the token.

use common::TableKind;
use common::tables::TableId;
use serde_json::json;
use tests_integration::http::HttpRequest;
use tests_integration::{Backend, TestEnv};

use super::{Api, Data, TOKEN, configure, error_of, message_of, table_path, with_token};

const DATA: Data = Data {
    tenants: &["acme"],
    signals: &[TableKind::Logs],
    hours: 1,
    files_per_hour: 2,
    rows_per_file: 10,
};

/// A run id no run has.
const UNKNOWN_RUN: &str = "run-0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn tokens_guard_the_changes_and_protected_reads_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    tokens_guard_the_changes_and_protected_reads(&env).await;
}

#[tokio::test]
async fn tokens_guard_the_changes_and_protected_reads_postgres_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    tokens_guard_the_changes_and_protected_reads(&env).await;
}

async fn tokens_guard_the_changes_and_protected_reads(env: &TestEnv) {
    DATA.write(env);
    let id = TableId::new("acme", "prod", TableKind::Logs).unwrap();
    let compact = format!("{}/compact", table_path(&id));
    let dry_run = json!({"dry_run": true});

    // No token configured: reads open, every change refused, whatever credentials come.
    configure(env, "", "");
    let api = Api::start(env, &[]);
    api.get_json("/api/v1/tables");
    api.get_json(&table_path(&id));
    let changes = [
        HttpRequest::new("POST", &compact),
        HttpRequest::new("POST", &compact).json(&dry_run),
        Api::authed(HttpRequest::new("POST", &format!("{}/orphans", table_path(&id)))),
        HttpRequest::new("POST", &format!("{}/retention", table_path(&id))),
        Api::authed(HttpRequest::new("DELETE", &format!("/api/v1/runs/{UNKNOWN_RUN}"))),
    ];
    for request in changes {
        let shown = format!("{} {}", request.method(), request.path());
        let response = api.send(request);
        assert_eq!(error_of(&response), (403, "admin_disabled".into()), "{shown}");
        let message = message_of(&response);
        for hint in ["[compactor.admin] token", "SIGNALDB_COMPACTOR_ADMIN_TOKEN", "Bearer"] {
            assert!(
                message.contains(hint),
                "{shown}: the message says how to enable it: {message}"
            );
        }
    }
    assert_eq!(api.get_json("/api/v1/runs")["runs"], json!([]), "nothing ran");
    api.stop();

    // A token in signaldb.toml: changes need it, reads stay open.
    configure(env, "", &with_token(""));
    let api = Api::start(env, &[]);
    let refused = [
        (HttpRequest::new("POST", &compact), 401, "unauthorized"),
        (HttpRequest::new("POST", &compact).header("Authorization", TOKEN), 401, "unauthorized"),
        (HttpRequest::new("POST", &compact).header("Authorization", "Bearer"), 401, "unauthorized"),
        (
            HttpRequest::new("POST", &compact).header("Authorization", "Bearer "),
            401,
            "unauthorized",
        ),
        (
            HttpRequest::new("POST", &compact).header("Authorization", &format!("Basic {TOKEN}")),
            401,
            "unauthorized",
        ),
        (
            HttpRequest::new("POST", &compact).header("Authorization", "Bearer \u{e9}t\u{e9}"),
            401,
            "unauthorized",
        ),
        // A browser's cookie never counts for a change.
        (
            HttpRequest::new("POST", &compact)
                .header("Cookie", &format!("signaldb_compactor_token={TOKEN}")),
            401,
            "unauthorized",
        ),
        (
            HttpRequest::new("POST", &compact)
                .header("Authorization", "Bearer wrong-token-0123456789"),
            403,
            "forbidden",
        ),
        (
            HttpRequest::new("POST", &compact).header("Authorization", &format!("Bearer {TOKEN}x")),
            403,
            "forbidden",
        ),
        (
            HttpRequest::new("POST", &compact)
                .header("Authorization", &format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
            403,
            "forbidden",
        ),
        (
            HttpRequest::new("DELETE", &format!("/api/v1/runs/{UNKNOWN_RUN}"))
                .header("Authorization", "Bearer wrong-token-0123456789"),
            403,
            "forbidden",
        ),
    ];
    for (request, status, code) in refused {
        let shown = format!("{} {} {:?}", request.method(), request.path(), request);
        let response = api.send(request);
        assert_eq!(error_of(&response), (status, code.into()), "{shown}");
        if status == 401 {
            let challenge = response.header("www-authenticate").unwrap_or_default();
            assert!(challenge.starts_with("Bearer"), "{shown}: {challenge:?}");
        }
        assert!(!response.body.contains(TOKEN), "{shown}: the token is echoed: {}", response.body);
    }
    assert_eq!(api.get_json("/api/v1/runs")["runs"], json!([]), "nothing ran");
    // The right token, in either case of the scheme.
    for scheme in ["Bearer", "bearer"] {
        let request = HttpRequest::new("POST", &compact)
            .header("Authorization", &format!("{scheme} {TOKEN}"))
            .json(&dry_run);
        let response = api.send(request);
        assert_eq!(response.status, 202, "{scheme}: {}", response.body);
        api.wait_run(response.json()["id"].as_str().unwrap(), std::time::Duration::from_secs(60));
    }
    let unknown = api.delete(&format!("/api/v1/runs/{UNKNOWN_RUN}"));
    assert_eq!(error_of(&unknown), (404, "not_found".into()), "past the token: {}", unknown.body);
    api.get_json("/api/v1/tables");
    api.get_json("/api/v1/openapi.json");
    assert_never_printed(api.stop());

    // The token from the environment: the same rules.
    configure(env, "", "");
    let api = Api::start(env, &[("SIGNALDB_COMPACTOR_ADMIN_TOKEN", TOKEN)]);
    let wrong = api.send(
        HttpRequest::new("POST", &compact).header("Authorization", "Bearer wrong-token-0123456789"),
    );
    assert_eq!(error_of(&wrong), (403, "forbidden".into()), "{}", wrong.body);
    let started = api.post(&compact, Some(dry_run.clone()));
    assert_eq!(started.status, 202, "{}", started.body);
    api.wait_run(started.json()["id"].as_str().unwrap(), std::time::Duration::from_secs(60));
    assert_never_printed(api.stop());

    // protect_reads, the token read from a file (a mounted secret, its newline trimmed): reads
    // need the token too; the probes and /metrics never do.
    let token_file = env.dir().join("admin-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let admin = format!("token_file = \"{}\"", token_file.display());
    configure(env, "", &admin);
    let api = Api::start(env, &[("SIGNALDB_COMPACTOR_ADMIN_PROTECT_READS", "true")]);
    let reads = [
        "/api/v1/tables",
        &table_path(&id),
        "/api/v1/runs",
        "/api/v1/leases",
        "/api/v1/openapi.json",
        &format!("/api/v1/runs/{UNKNOWN_RUN}"),
        "/",
    ];
    for path in reads {
        let bare = api.get(path);
        let wrong = api.send(
            HttpRequest::new("GET", path).header("Authorization", "Bearer wrong-token-0123456789"),
        );
        if path == "/" {
            // The page answers with its token form, not the API's JSON.
            for (response, status) in [(&bare, 401), (&wrong, 403)] {
                assert_eq!(response.status, status, "GET /: {}", response.body);
                assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"));
                assert!(response.body.contains("id=\"login-form\""), "{}", response.body);
            }
        } else {
            assert_eq!(error_of(&bare), (401, "unauthorized".into()), "GET {path}");
            assert_eq!(error_of(&wrong), (403, "forbidden".into()), "GET {path}");
        }
        let authed = api.send(Api::authed(HttpRequest::new("GET", path)));
        let expected = if path.contains(UNKNOWN_RUN) { 404 } else { 200 };
        assert_eq!(authed.status, expected, "GET {path} with the token: {}", authed.body);
        // The page keeps the token in a cookie, which counts for reads.
        let cookie = api.send(
            HttpRequest::new("GET", path)
                .header("Cookie", &format!("theme=dark; signaldb_compactor_token={TOKEN}")),
        );
        assert_eq!(cookie.status, expected, "GET {path} with the cookie: {}", cookie.body);
    }
    for probe in ["/healthz", "/readyz", "/metrics"] {
        let response = api.get(probe);
        assert!(
            matches!(response.status, 200 | 503),
            "{probe} needs no token: {}",
            response.status
        );
    }
    assert_eq!(api.get("/healthz").status, 200);
    let post = api.send(HttpRequest::new("POST", &compact).json(&dry_run));
    assert_eq!(error_of(&post), (401, "unauthorized".into()));
    assert_never_printed(api.stop());
}

/// Checks that the daemon printed the token nowhere.
#[track_caller]
fn assert_never_printed(out: tests_integration::BinOutput) {
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN), "{}", out.streams());
}
