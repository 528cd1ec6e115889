//! Malformed and hostile requests: each is refused with the right `4xx` and a short JSON error
//! naming what was wrong, none is ever a `500`, a flood beyond `max_concurrent_requests` is
//! `503 busy` at once, and afterwards the table is exactly as it was, no run was started and
//! the daemon is healthy.

use std::sync::{Arc, Barrier};

use common::TableKind;
use common::tables::TableId;
use serde_json::json;
use tests_integration::http::HttpRequest;
use tests_integration::{Backend, TestEnv};

use super::{
    Api, Data, TOKEN, configure, error_of, message_of, table_path, table_version, with_token,
};

const DATA: Data = Data {
    tenants: &["acme"],
    signals: &[TableKind::Traces],
    hours: 2,
    files_per_hour: 2,
    rows_per_file: 10,
};

/// The limits the daemon runs with: a small body limit and few requests at once.
const LIMITS: &str = "max_body_bytes = 1024\nmax_concurrent_requests = 2";

/// The longest error message a refusal may carry: it names what was wrong, it never echoes
/// a whole hostile input.
const MAX_MESSAGE: usize = 512;

/// A request and the refusal it must get.
struct Case {
    request: HttpRequest,
    status: u16,
    code: &'static str,
}

fn get(path: &str, status: u16, code: &'static str) -> Case {
    Case { request: HttpRequest::new("GET", path), status, code }
}

fn authed(method: &str, path: &str, status: u16, code: &'static str) -> Case {
    Case { request: Api::authed(HttpRequest::new(method, path)), status, code }
}

fn post_body(
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
    status: u16,
    code: &'static str,
) -> Case {
    let mut request = Api::authed(HttpRequest::new("POST", path)).body(body.to_vec());
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    Case { request, status, code }
}

#[tokio::test]
async fn hostile_requests_are_refused_and_change_nothing_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    hostile_requests_are_refused_and_change_nothing(&env).await;
}

#[tokio::test]
async fn hostile_requests_are_refused_and_change_nothing_postgres_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    hostile_requests_are_refused_and_change_nothing(&env).await;
}

async fn hostile_requests_are_refused_and_change_nothing(env: &TestEnv) {
    DATA.write(env);
    let id = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    configure(env, "", &with_token(LIMITS));
    let before = table_version(env, &id).await;
    let mut api = Api::start(env, &[]);

    let cases = cases(&id);
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for Case { request, status, code } in cases {
        let shown: String =
            format!("{} {}", request.method(), request.path()).chars().take(160).collect();
        let response = api.send(request);
        assert_eq!(response.status, status, "{shown}: {}", response.body);
        assert_eq!(error_of(&response), (status, code.to_string()), "{shown}: {}", response.body);
        let message = message_of(&response);
        assert!(message.len() <= MAX_MESSAGE, "{shown}: a {} byte message", message.len());
        if status == 405 {
            assert!(response.header("allow").is_some(), "{shown}: a 405 says what is allowed");
        }
    }

    // Oversized heads: whatever the answer, a 4xx (or the connection closed), and the daemon
    // serves on.
    let big = "x".repeat(1 << 20);
    let oversized = [
        HttpRequest::new("GET", "/api/v1/tables").header("X-Padding", &big),
        HttpRequest::new("GET", &format!("/api/v1/tables?tenant={big}")),
        (0..300).fold(HttpRequest::new("GET", "/api/v1/tables"), |r, i| {
            r.header(&format!("X-Header-{i}"), "x")
        }),
        Api::authed(HttpRequest::new("POST", &format!("{}/compact", table_path(&id))))
            .header("Content-Type", "application/json")
            .body(format!("{{\"dry_run\": true, \"pad\": \"{big}\"}}")),
    ];
    for request in oversized {
        let shown =
            format!("{} {}…", request.method(), &request.path()[..20.min(request.path().len())]);
        match request.send(api.port()) {
            Ok(response) => {
                assert!((400..500).contains(&response.status), "{shown}: {}", response.status)
            }
            Err(e) => eprintln!("{shown}: the connection was closed without an answer ({e})"),
        }
        assert_eq!(api.get("/healthz").status, 200, "after {shown}");
    }

    busy_beyond_the_limit(&api, &id);

    assert!(api.is_running(), "the daemon survived");
    assert_eq!(api.get("/healthz").status, 200);
    assert_eq!(table_version(env, &id).await, before, "the table is as it was");
    assert_eq!(api.get_json("/api/v1/runs")["runs"], json!([]), "no run was recorded");
    let detail = api.get_json(&table_path(&id));
    assert_eq!(detail["requested_runs"], json!([]), "no run was started");
    api.stop();
}

/// Every refusal, with its status and code.
fn cases(id: &TableId) -> Vec<Case> {
    let table = table_path(id);
    let compact = format!("{table}/compact");
    let long = |n: usize| "a".repeat(n);
    let json = Some("application/json");
    let unknown_run = "run-0123456789abcdef0123456789abcdef";
    vec![
        // Path traversal and malformed ids, in every encoding.
        get("/api/v1/tables/../prod/traces", 400, "bad_request"),
        get("/api/v1/tables/%2e%2e/prod/traces", 400, "bad_request"),
        get("/api/v1/tables/acme/%2E%2E/traces", 400, "bad_request"),
        get("/api/v1/tables/acme%2F..%2Fglobex/prod/traces", 400, "bad_request"),
        get("/api/v1/tables/..%2F..%2Fetc/prod/traces/plan", 400, "bad_request"),
        get("/api/v1/tables/../../../etc/passwd", 404, "not_found"),
        get("/api/v1/tables/ACME/prod/traces", 400, "bad_request"),
        get(&format!("/api/v1/tables/{}/prod/traces", long(65)), 400, "bad_request"),
        get(&format!("/api/v1/tables/acme/{}/traces/plan", long(4000)), 400, "bad_request"),
        get("/api/v1/tables/ac%00me/prod/traces", 400, "bad_request"),
        get("/api/v1/tables/acm%C3%A9/prod/traces", 400, "bad_request"),
        get("/api/v1/tables/acme/prod/traces%ff", 400, "bad_request"),
        get("/api/v1/tables/-acme/prod/traces", 400, "bad_request"),
        // Unknown tables.
        get("/api/v1/tables/acme/prod/passwd", 404, "not_found"),
        get("/api/v1/tables/acme/prod/TRACES", 404, "not_found"),
        get("/api/v1/tables/nobody/prod/traces", 404, "not_found"),
        get("/api/v1/tables/nobody/prod/traces/plan", 404, "not_found"),
        // Query strings.
        get("/api/v1/tables?foo=1", 400, "bad_request"),
        get(&format!("/api/v1/tables?{}=1", long(16_000)), 400, "bad_request"),
        get("/api/v1/tables?signal=foo", 400, "bad_request"),
        get("/api/v1/tables?health=maybe", 400, "bad_request"),
        get("/api/v1/tables?tenant=acme&tenant=globex", 400, "bad_request"),
        get("/api/v1/tables?tenant=%ZZ", 400, "bad_request"),
        get("/api/v1/tables?tenant=", 400, "bad_request"),
        get(&format!("/api/v1/tables?tenant={}", long(16_000)), 400, "bad_request"),
        get("/api/v1/tables?dataset=..%2F..", 400, "bad_request"),
        get(&format!("{table}/plan?job=x"), 400, "bad_request"),
        get(&format!("{table}/plan?job=compaction&job=retention"), 400, "bad_request"),
        get(&format!("{table}?verbose=1"), 400, "bad_request"),
        get("/api/v1/runs?limit=0", 400, "bad_request"),
        get("/api/v1/runs?limit=100000", 400, "bad_request"),
        get("/api/v1/runs?limit=-1", 400, "bad_request"),
        get("/api/v1/runs?limit=1e3", 400, "bad_request"),
        get("/api/v1/runs?cursor=garbage", 400, "bad_request"),
        get("/api/v1/runs?cursor=", 400, "bad_request"),
        get("/api/v1/runs?cursor=1~acme.prod%27--~traces~compaction", 400, "bad_request"),
        get("/api/v1/runs?cursor=1~acme.prod~traces~compaction~x", 400, "bad_request"),
        get("/api/v1/runs?cursor=x~acme.prod~traces~compaction", 400, "bad_request"),
        get("/api/v1/runs?job=x", 400, "bad_request"),
        get("/api/v1/runs?outcome=maybe", 400, "bad_request"),
        get("/api/v1/runs?table=passwd", 400, "bad_request"),
        get("/api/v1/runs?tenant=..%2F", 400, "bad_request"),
        get(&format!("/api/v1/runs?dataset={}", long(16_000)), 400, "bad_request"),
        // Run ids.
        get("/api/v1/runs/run-XYZ", 400, "bad_request"),
        get(&format!("/api/v1/runs/run-{}", long(1000)), 400, "bad_request"),
        get("/api/v1/runs/RUN-0123456789abcdef0123456789abcdef", 400, "bad_request"),
        get("/api/v1/runs/run-0123456789ABCDEF0123456789ABCDEF", 400, "bad_request"),
        get("/api/v1/runs/..%2F..%2Fetc%2Fpasswd", 400, "bad_request"),
        get(&format!("/api/v1/runs/{unknown_run}"), 404, "not_found"),
        authed("DELETE", &format!("/api/v1/runs/{unknown_run}"), 404, "not_found"),
        authed("DELETE", "/api/v1/runs/run-XYZ", 400, "bad_request"),
        // Paths and methods nothing serves.
        get("/api/v1/nope", 404, "not_found"),
        get("/api/v2/tables", 404, "not_found"),
        authed("PUT", "/api/v1/tables", 405, "method_not_allowed"),
        authed("POST", "/api/v1/tables", 405, "method_not_allowed"),
        authed("PATCH", &format!("/api/v1/runs/{unknown_run}"), 405, "method_not_allowed"),
        authed("DELETE", &table, 405, "method_not_allowed"),
        get(&compact, 405, "method_not_allowed"),
        // Bodies.
        post_body(
            &compact,
            json,
            format!("{{\"pad\": \"{}\"}}", long(2048)).as_bytes(),
            413,
            "payload_too_large",
        ),
        Case {
            request: Api::authed(HttpRequest::new("POST", &compact))
                .header("Content-Type", "application/json")
                .header("Transfer-Encoding", "chunked")
                .body(chunked(&format!("{{\"pad\": \"{}\"}}", long(4096)))),
            status: 413,
            code: "payload_too_large",
        },
        post_body(&compact, Some("text/plain"), b"dry_run=true", 415, "unsupported_media_type"),
        post_body(&compact, None, br#"{"dry_run": true}"#, 415, "unsupported_media_type"),
        post_body(
            &compact,
            Some("application/jsonx"),
            br#"{"dry_run": true}"#,
            415,
            "unsupported_media_type",
        ),
        post_body(&compact, json, b"{not json", 400, "bad_request"),
        post_body(&compact, json, br#"{"dry_run": true, "force": true}"#, 400, "bad_request"),
        post_body(&compact, json, br#"{"dry_run": "yes"}"#, 400, "bad_request"),
        post_body(&compact, json, br#"{"dry_run": 1}"#, 400, "bad_request"),
        post_body(&compact, json, b"[]", 400, "bad_request"),
        post_body(&compact, json, b"[true]", 400, "bad_request"),
        post_body(&compact, json, b"null", 400, "bad_request"),
        post_body(&compact, json, b"\xff\xfe\x00", 400, "bad_request"),
        post_body(&compact, json, br#"{"dry_run": false}{"dry_run": false}"#, 400, "bad_request"),
        // Changes of tables that are not there, or through a traversal.
        post_body(
            "/api/v1/tables/nobody/prod/traces/compact",
            json,
            br#"{"dry_run": true}"#,
            404,
            "not_found",
        ),
        authed("POST", "/api/v1/tables/acme/prod/passwd/compact", 404, "not_found"),
        authed("POST", "/api/v1/tables/%2e%2e/prod/traces/retention", 400, "bad_request"),
        authed("POST", "/api/v1/tables/acme/../traces/orphans", 400, "bad_request"),
        // Credentials far too long.
        Case {
            request: HttpRequest::new("POST", &compact)
                .header("Authorization", &format!("Bearer {TOKEN}{}", long(10_000))),
            status: 403,
            code: "forbidden",
        },
    ]
}

/// `body` as one chunk of a `Transfer-Encoding: chunked` body.
fn chunked(body: &str) -> String {
    format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len())
}

/// Many plans at once against a limit of two requests: some are `503 busy` at once (with
/// `Retry-After`), the others answer, none fails otherwise.
fn busy_beyond_the_limit(api: &Api, id: &TableId) {
    const REQUESTS: usize = 48;
    let path = format!("{}/plan", table_path(id));
    let start = Arc::new(Barrier::new(REQUESTS));
    let port = api.port();
    let threads: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (start, path) = (Arc::clone(&start), path.clone());
            std::thread::spawn(move || {
                start.wait();
                HttpRequest::new("GET", &path)
                    .timeout(std::time::Duration::from_secs(60))
                    .send(port)
                    .expect("an answer")
            })
        })
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for thread in threads {
        let response = thread.join().unwrap();
        match response.status {
            200 => ok += 1,
            503 => {
                assert_eq!(error_of(&response), (503, "busy".into()), "{}", response.body);
                assert_eq!(response.header("retry-after"), Some("1"), "{response:?}");
                busy += 1;
            }
            other => panic!("GET {path} answered {other}: {}", response.body),
        }
    }
    eprintln!("{REQUESTS} plans at once: {ok} answered, {busy} busy");
    assert!(ok >= 1 && busy >= 1, "{ok} answered, {busy} busy");
}
