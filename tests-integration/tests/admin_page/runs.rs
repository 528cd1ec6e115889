//! The page's buttons, clicked in Chromium through the DevTools protocol: "Compact now" asks
//! for the token once, starts a run through the API, follows it to its end and the table
//! shrinks; without a configured token the API's refusal is shown in the page; with
//! protected reads the token form leads to the page.

use serde_json::{Value, json};

use super::{Admin, Site, TOKEN, python, table_path};

/// The steps that wait for `#run-status` to show a finished run.
const FINISHED: &str = "['succeeded', 'failed', 'skipped', 'cancelled']\
    .includes(document.getElementById('run-status').dataset.state)";

/// What the page shows of the run and the refusals, once the steps are done.
const SHOWN: &str = "({\
    state: document.getElementById('run-status').dataset.state,\
    status: document.getElementById('run-status').textContent,\
    run: document.getElementById('run-id').textContent,\
    summary: document.getElementById('run-summary').textContent,\
    error: document.getElementById('api-error').textContent,\
    token_kept: sessionStorage.getItem('signaldb_compactor_token')})";

/// The browser's report, checked for script errors; its first eval result.
#[track_caller]
fn shown(report: &Value) -> &Value {
    assert_eq!(report["exceptions"], json!([]), "uncaught exceptions: {report}");
    assert_eq!(report["console_errors"], json!([]), "console errors: {report}");
    &report["results"][0]
}

#[tokio::test]
async fn compact_now_asks_for_the_token_runs_compaction_and_the_table_shrinks() {
    let Some(python) = python() else { return };
    let Some(site) = Site::start(Admin::Token).await else { return };
    let id = site.logs().clone();
    let api = table_path("/api/v1/tables", &id);
    let before = site.api(&api)["status"]["state"]["data_files"].as_u64().unwrap();
    assert_eq!(before, 12, "3 hours of 4 files");

    let steps = json!([
        {"click": "#compact-now"},
        {"wait": "!document.getElementById('token-form').hidden", "timeout": 10},
        {"click": "#token-input"},
        {"type": TOKEN},
        {"click": "#token-submit"},
        {"wait": FINISHED, "timeout": 120},
        {"eval": SHOWN},
    ]);
    let report = site.chromium.drive(&python, &site.url(&table_path("/tables", &id)), &steps);
    let page = shown(&report);
    assert_eq!(page["state"], "succeeded", "{report}");
    assert_eq!(page["status"], "succeeded", "{report}");
    assert_eq!(page["error"], "", "{report}");
    assert_eq!(page["token_kept"], TOKEN, "the token is kept for the tab's session");
    assert!(!page["summary"].as_str().unwrap().is_empty(), "{report}");

    let run = site.api(&format!("/api/v1/runs/{}", page["run"].as_str().unwrap()));
    assert_eq!(
        (&run["state"], &run["job"], &run["dry_run"]),
        (&json!("succeeded"), &json!("compaction"), &json!(false)),
        "{run}"
    );
    let after = site.api(&api)["status"]["state"]["data_files"].as_u64().unwrap();
    assert_eq!(after, 3, "one file per hour after compaction (was {before})");
    let history = site.api("/api/v1/runs?job=compaction&tenant=acme&table=logs");
    assert_eq!(history["runs"][0]["outcome"], "success", "{history}");
}

#[tokio::test]
async fn without_a_configured_token_the_page_shows_the_apis_refusal() {
    let Some(python) = python() else { return };
    let Some(site) = Site::start(Admin::NoToken).await else { return };
    let id = site.logs().clone();
    let steps = json!([
        {"click": "#dry-run"},
        {"wait": "!document.getElementById('api-error').hidden", "timeout": 10},
        {"eval": SHOWN},
    ]);
    let report = site.chromium.drive(&python, &site.url(&table_path("/tables", &id)), &steps);
    // The refused request is logged by the browser as a failed resource load.
    assert_eq!(report["exceptions"], json!([]), "{report}");
    let page = &report["results"][0];
    let error = page["error"].as_str().unwrap();
    assert!(error.starts_with("403 admin_disabled: "), "{report}");
    assert!(error.contains("SIGNALDB_COMPACTOR_ADMIN_TOKEN"), "{report}");
    assert_eq!(page["state"], "", "no run started: {report}");
}

#[tokio::test]
async fn with_protected_reads_the_token_form_leads_to_the_fleet() {
    let Some(python) = python() else { return };
    let Some(site) = Site::start(Admin::ProtectedReads).await else { return };
    let steps = json!([
        {"click": "#login-token"},
        {"type": TOKEN},
        {"click": "#login-form button"},
        {"wait": "document.getElementById('fleet') !== null", "timeout": 20},
        {"eval": "document.querySelectorAll('tr.table-row').length"},
        {"eval": "document.cookie"},
    ]);
    let report = site.chromium.drive(&python, &site.url("/"), &steps);
    assert_eq!(report["exceptions"], json!([]), "{report}");
    assert_eq!(report["results"][0], site.tables.len(), "{report}");
    let cookie = report["results"][1].as_str().unwrap();
    assert!(cookie.contains(&format!("signaldb_compactor_token={TOKEN}")), "{report}");
}
