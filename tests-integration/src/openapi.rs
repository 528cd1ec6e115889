//! The admin API's OpenAPI document checked by a validator that is not ours:
//! `tests-integration/src/openapi_check.py` validates it with openapi-spec-validator and each
//! answer of the API against the schema the document gives for it.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::workspace::workspace_root;

/// One answer of the API: `method` (lower case) on the document's `path` template.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// `get`, `post`, `delete`.
    pub method: String,
    /// The document's template, `/api/v1/runs/{id}`.
    pub path: String,
    /// The status code.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

/// What the checker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenApiCheck {
    /// The document's `openapi` version.
    pub openapi: String,
    /// Answers checked against their schemas.
    pub checked: usize,
    /// Every problem: the document's own, then each answer's that its schema refuses.
    pub problems: Vec<String>,
}

/// Checks `doc` and `answers` with `python` (the test venv's, which has openapi-spec-validator).
#[track_caller]
pub fn check_openapi(python: &Path, doc: &Value, answers: &[Answer]) -> OpenApiCheck {
    let dir = tempfile::tempdir().expect("a temp dir for the OpenAPI check");
    let (doc_file, answers_file) =
        (dir.path().join("openapi.json"), dir.path().join("answers.json"));
    std::fs::write(&doc_file, doc.to_string()).unwrap();
    let answers: Vec<Value> = answers
        .iter()
        .map(|a| json!({"method": a.method, "path": a.path, "status": a.status, "body": a.body}))
        .collect();
    std::fs::write(&answers_file, Value::Array(answers).to_string()).unwrap();
    let script = workspace_root().join("tests-integration/src/openapi_check.py");
    let out = Command::new(python)
        .arg(&script)
        .args([&doc_file, &answers_file])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed: {}\n{stdout}\n{stderr}",
        script.display(),
        out.status
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("{} printed no JSON ({e}): {stdout}\n{stderr}", script.display())
    });
    OpenApiCheck {
        openapi: report["openapi"].as_str().unwrap_or_default().to_string(),
        checked: report["checked"].as_u64().unwrap_or_default() as usize,
        problems: report["problems"]
            .as_array()
            .map(|p| p.iter().map(|p| p.as_str().unwrap_or_default().to_string()).collect())
            .unwrap_or_default(),
    }
}
