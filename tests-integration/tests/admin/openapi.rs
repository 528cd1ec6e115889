//! `GET /api/v1/openapi.json`: a valid OpenAPI document (openapi-spec-validator) that lists
//! exactly the routes served, each answering its example request with neither `404` nor `405`
//! and with a body its documented schema accepts (openapi-schema-validator), every query
//! parameter it documents accepted, the changing routes under the bearer scheme.

use std::collections::BTreeSet;
use std::time::Duration;

use common::TableKind;
use common::tables::TableId;
use serde_json::json;
use tests_integration::http::{HttpRequest, HttpResponse};
use tests_integration::openapi::{Answer, check_openapi};
use tests_integration::{Backend, TestEnv, require_python};

use super::{Api, Data, ROUTES, configure, table_path, with_token};

const DATA: Data = Data {
    tenants: &["acme"],
    signals: &[TableKind::Traces],
    hours: 1,
    files_per_hour: 2,
    rows_per_file: 10,
};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

#[tokio::test]
async fn the_openapi_document_is_valid_and_matches_the_routes_sqlite_local() {
    let Some(env) = TestEnv::new(Backend::SqliteLocal).await else { return };
    the_openapi_document_is_valid_and_matches_the_routes(&env).await;
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_matches_the_routes_postgres_s3() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    the_openapi_document_is_valid_and_matches_the_routes(&env).await;
}

async fn the_openapi_document_is_valid_and_matches_the_routes(env: &TestEnv) {
    let Some(python) = require_python() else { return };
    DATA.write(env);
    let id = TableId::new("acme", "prod", TableKind::Traces).unwrap();
    configure(env, "", &with_token(""));
    let api = Api::start(env, &[]);
    let doc = api.get_json("/api/v1/openapi.json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{doc}");

    // The document's routes are the routes these tests use, and the changing ones need the
    // bearer token.
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_string(), path.clone()))
        })
        .collect();
    let used: BTreeSet<(String, String)> =
        ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, used, "the document lists exactly the routes served");
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&json!("http"), &json!("bearer")), "{doc}");
    for (method, path) in &documented {
        let security = &doc["paths"][path][method]["security"];
        let guarded =
            security.as_array().is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
        assert_eq!(guarded, method != "get", "{method} {path}: security {security}");
    }
    let query = |path: &str| -> BTreeSet<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    let names = |list: &[&str]| list.iter().map(ToString::to_string).collect::<BTreeSet<_>>();
    assert_eq!(query("/api/v1/tables"), names(&["tenant", "dataset", "signal", "health"]));
    assert_eq!(
        query("/api/v1/runs"),
        names(&["tenant", "dataset", "table", "job", "outcome", "limit", "cursor"])
    );
    assert_eq!(query("/api/v1/tables/{tenant}/{dataset}/{table}/plan"), names(&["job"]));

    // Every route with example parameters: never 404 or 405, every body as documented.
    let mut answers = Vec::new();
    let mut record = |method: &str, template: &str, response: HttpResponse| {
        assert!(
            !matches!(response.status, 404 | 405),
            "{method} {template} answered {}: {}",
            response.status,
            response.body
        );
        answers.push(Answer {
            method: method.to_string(),
            path: template.to_string(),
            status: response.status,
            body: response.json(),
        });
        answers.last().unwrap().body.clone()
    };
    let table = table_path(&id);
    let template = "/api/v1/tables/{tenant}/{dataset}/{table}";
    let mut run_id = String::new();
    for job in ["compact", "retention", "orphans"] {
        let response = api.post(&format!("{table}/{job}"), Some(json!({"dry_run": true})));
        assert_eq!(response.status, 202, "{job}: {}", response.body);
        let run = record("post", &format!("{template}/{job}"), response);
        run_id = run["id"].as_str().unwrap().to_string();
        api.wait_run(&run_id, Duration::from_secs(60));
    }
    let run_path = format!("/api/v1/runs/{run_id}");
    let plan = "/api/v1/tables/{tenant}/{dataset}/{table}/plan";
    let every_filter = "tenant=acme&dataset=prod&table=traces&job=compaction&outcome=dry_run";
    let gets = [
        ("/api/v1/tables".to_string(), "/api/v1/tables"),
        (
            "/api/v1/tables?tenant=acme&dataset=prod&signal=traces&health=healthy".into(),
            "/api/v1/tables",
        ),
        (table.clone(), template),
        (format!("{table}/plan"), plan),
        (format!("{table}/plan?job=orphan_cleanup"), plan),
        ("/api/v1/runs".into(), "/api/v1/runs"),
        (format!("/api/v1/runs?{every_filter}&limit=1"), "/api/v1/runs"),
        (run_path.clone(), "/api/v1/runs/{id}"),
        ("/api/v1/leases".into(), "/api/v1/leases"),
        ("/api/v1/openapi.json".into(), "/api/v1/openapi.json"),
    ];
    for (path, template) in gets {
        let response = api.get(&path);
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        record("get", template, response);
    }
    let paged = api.get_json("/api/v1/runs?limit=1");
    let next = paged["next"].as_str().unwrap_or_else(|| panic!("three runs, a next page: {paged}"));
    record("get", "/api/v1/runs", api.get(&format!("/api/v1/runs?limit=1&cursor={next}")));
    // The run has ended: the cancel is refused, as documented.
    let cancel = api.delete(&run_path);
    assert_eq!(cancel.status, 409, "{}", cancel.body);
    record("delete", "/api/v1/runs/{id}", cancel);
    // Refusals are documented too, with the error body.
    let refusals = [
        (HttpRequest::new("GET", "/api/v1/tables?signal=foo"), "get", "/api/v1/tables"),
        (HttpRequest::new("GET", "/api/v1/tables/nobody/prod/traces"), "get", template),
        (HttpRequest::new("GET", "/api/v1/runs/run-XYZ"), "get", "/api/v1/runs/{id}"),
        (HttpRequest::new("GET", "/api/v1/runs?limit=0"), "get", "/api/v1/runs"),
        (
            HttpRequest::new("POST", &format!("{table}/compact")),
            "post",
            "/api/v1/tables/{tenant}/{dataset}/{table}/compact",
        ),
        (
            Api::authed(HttpRequest::new("POST", &format!("{table}/retention")))
                .header("Content-Type", "text/plain")
                .body("x"),
            "post",
            "/api/v1/tables/{tenant}/{dataset}/{table}/retention",
        ),
        (
            Api::authed(HttpRequest::new("POST", "/api/v1/tables/nobody/prod/traces/orphans")),
            "post",
            "/api/v1/tables/{tenant}/{dataset}/{table}/orphans",
        ),
    ];
    for (request, method, template) in refusals {
        let response = api.send(request);
        assert!((400..500).contains(&response.status), "{method} {template}: {}", response.status);
        answers.push(Answer {
            method: method.to_string(),
            path: template.to_string(),
            status: response.status,
            body: response.json(),
        });
    }

    let check = check_openapi(&python, &doc, &answers);
    assert!(check.openapi.starts_with("3."), "{check:?}");
    assert_eq!(check.checked, answers.len(), "{check:?}");
    assert!(
        check.problems.is_empty(),
        "the document and the answers disagree:\n{}",
        check.problems.join("\n")
    );
    let answered: BTreeSet<(String, String)> =
        answers.iter().map(|a| (a.method.clone(), a.path.clone())).collect();
    assert_eq!(answered, used, "every route was called");
    api.stop();
}
