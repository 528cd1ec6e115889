//! Credentials never printed: a PostgreSQL password in the catalog DSN, an S3 secret key and
//! session token in `[storage.s3]`, and another password and secret key in `SIGNALDB_*`
//! variables. The binaries run at `RUST_LOG=trace` through a successful load and compaction,
//! `status`, `check-config`, `run --once`, a daemon (its `/metrics`, `/readyz`, `/healthz`),
//! and faulty situations: S3 on a closed loopback port, the catalog on a closed port, a bucket
//! that does not exist. Everything they printed (stdout, stderr, reports, the HTTP bodies) and
//! every row the catalog database holds (run history, leases, checkpoints, tables) is searched
//! for each secret: none may appear. The successful runs read back exactly with pyiceberg.

use std::time::{Duration, Instant};

use common::TableKind;
use sqlx::{Connection, Row};
use tests_integration::http::{free_port, http_get};
use tests_integration::orphans::{reachable, stored};
use tests_integration::pyiceberg_hours::read_by_hour;
use tests_integration::{Backend, BinCommand, BinOutput, TestEnv, require_python};

use crate::compactor::{Load, table_entry};
use crate::service::Daemon;

/// The catalog password of the config file's DSN (PostgreSQL's trust auth ignores it).
const PG_PASSWORD: &str = "Sup3rS3cretPg";
/// The catalog password of `SIGNALDB_SCHEMA_CATALOG_URI`.
const ENV_PG_PASSWORD: &str = "EnvPgPassw0rdX";
/// `[storage.s3] secret_access_key` (moto accepts any).
const S3_SECRET: &str = "S3cr3tAcc3ssK3yFromToml";
/// `[storage.s3] session_token`.
const S3_TOKEN: &str = "S3ss10nT0kenFromToml";
/// `SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY`.
const ENV_S3_SECRET: &str = "EnvS3cr3tK3yFromVars";
/// Every secret, as searched for.
const SECRETS: [&str; 5] = [PG_PASSWORD, ENV_PG_PASSWORD, S3_SECRET, S3_TOKEN, ENV_S3_SECRET];

/// Two quiet hours of 4 small files in `logs`.
const LOGS: Load =
    Load { signals: &[TableKind::Logs], hours: 2, files_per_hour: 4, rows_per_file: 50 };

/// Everything the runs printed, by where it came from.
#[derive(Default)]
struct Printed {
    texts: Vec<(String, String)>,
}

impl Printed {
    /// Records both streams of `out`, labelled `what`, and returns it.
    fn run(&mut self, what: &str, out: BinOutput) -> BinOutput {
        self.add(&format!("{what}: stdout"), &out.stdout);
        self.add(&format!("{what}: stderr"), &out.stderr);
        out
    }

    /// Records `text`, labelled `what`.
    fn add(&mut self, what: &str, text: &str) {
        self.texts.push((what.to_string(), text.to_string()));
    }

    /// Fails the test naming every place a secret appears, with the line it appears in.
    #[track_caller]
    fn assert_no_secret(&self) {
        let mut leaks = Vec::new();
        for (what, text) in &self.texts {
            for secret in SECRETS {
                if let Some(line) = text.lines().find(|l| l.contains(secret)) {
                    let line: String = line.chars().take(400).collect();
                    leaks.push(format!("{secret} in {what}: {line}"));
                }
            }
        }
        assert!(leaks.is_empty(), "secrets printed:\n{}", leaks.join("\n"));
    }
}

/// A binary against `env` at `RUST_LOG=trace`.
fn traced(bin: &str, env: &TestEnv) -> BinCommand {
    BinCommand::new(bin).test_env(env).env("RUST_LOG", "trace")
}

/// The env's PostgreSQL URL with `password` set and, when given, another port.
fn pg_url(env: &TestEnv, password: &str, port: Option<u16>) -> String {
    let mut url = url::Url::parse(env.catalog_uri()).unwrap();
    url.set_password(Some(password)).unwrap();
    if let Some(port) = port {
        url.set_port(Some(port)).unwrap();
    }
    url.to_string()
}

/// Replaces `env`'s `signaldb.toml` with one holding the password and the S3 keys, short
/// object-store retries and every job enabled.
fn write_config(env: &TestEnv) {
    let s3 = env.s3().expect("an S3 backend");
    let config = format!(
        "[schema]\ncatalog_uri = \"{uri}\"\ncatalog_name = \"{name}\"\n\n\
         [storage]\ndsn = \"{dsn}\"\nmax_retries = 1\nretry_timeout_secs = 2\n\
         connect_timeout_secs = 1\n\n\
         [storage.s3]\nendpoint = \"{endpoint}\"\nregion = \"{region}\"\nallow_http = true\n\
         access_key_id = \"AKIDSIGNALDBTEST\"\nsecret_access_key = \"{S3_SECRET}\"\n\
         session_token = \"{S3_TOKEN}\"\n\n\
         [compactor]\nmin_input_files = 3\ncompaction_interval_secs = 3600\n\n\
         [compactor.retention]\nenabled = true\ntraces_retention_days = 3650\n\
         logs_retention_days = 3650\nmetrics_retention_days = 3650\n\n\
         [compactor.orphan_cleanup]\nenabled = true\ngrace_period_hours = 1\n",
        uri = pg_url(env, PG_PASSWORD, None),
        name = env.catalog_name(),
        dsn = env.warehouse_uri(),
        endpoint = s3.endpoint,
        region = s3.region,
    );
    std::fs::write(env.config_path(), config).unwrap();
}

/// Every row of every table in the env's PostgreSQL database, as JSON text, one per table.
async fn catalog_rows(env: &TestEnv) -> Vec<(String, String)> {
    let mut conn = sqlx::PgConnection::connect(env.catalog_uri()).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let sql = format!("SELECT row_to_json(t)::text AS row FROM \"{table}\" t");
        let rows = sqlx::query(&sql).fetch_all(&mut conn).await.unwrap();
        let rows: Vec<String> = rows.iter().map(|r| r.get::<String, _>("row")).collect();
        out.push((format!("catalog table {table}"), rows.join("\n")));
    }
    let _ = conn.close().await;
    out
}

/// Polls the daemon until its `/metrics` page shows a finished compaction cycle.
fn wait_for_a_cycle(daemon: &Daemon) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = daemon.get("/metrics").body;
        let compaction_cycles = |l: &str| {
            l.starts_with("compactor_scheduler_cycles_total{") && l.contains("task=\"compaction\"")
        };
        if body.lines().any(compaction_cycles) {
            return body;
        }
        assert!(Instant::now() < deadline, "no compaction cycle within 30 s\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The secrets of the DSN, `[storage.s3]` and `SIGNALDB_*` variables appear nowhere in what the
/// binaries print at trace level, in the HTTP bodies of a daemon, or in the catalog database,
/// whether the runs succeed or fail for a closed port or a missing bucket.
#[tokio::test]
async fn no_secret_is_ever_printed() {
    let Some(env) = TestEnv::new(Backend::PostgresS3).await else { return };
    let Some(_python) = require_python() else { return };
    write_config(&env);
    let mut printed = Printed::default();

    // Successful runs, with the file's credentials.
    let load = traced("signaldb-loadgen", &env)
        .config_flag(&env)
        .args(["--tenants", "acme", "--datasets", "prod", "--signals", "logs", "--hours", "2"])
        .args(["--files-per-hour", "4", "--rows-per-file", "50", "--seed", "5"])
        .args(["--end-time", crate::compactor::END_TIME, "--json"])
        .run();
    printed.run("loadgen", load).assert_success();
    let ids = LOGS.tables();
    let before = read_by_hour(&env, &ids);
    for args in [&["check-config"][..], &["plan", "--json"], &["status"], &["status", "--json"]] {
        printed.run(&args.join(" "), traced("compactor", &env).args(args).run());
    }
    let out = printed.run("compact", traced("compactor", &env).args(["compact", "--json"]).run());
    out.assert_success();
    let doc = out.json();
    assert_eq!(table_entry(&doc, &ids[0])["error"], serde_json::Value::Null, "{doc}");
    let once = traced("compactor", &env).args(["run", "--once", "--json"]).run();
    printed.run("run --once", once).assert_success();
    let daemon = Daemon::start(|| traced("compactor", &env).args(["run"]));
    printed.add("daemon /metrics", &wait_for_a_cycle(&daemon));
    for path in ["/readyz", "/healthz", "/metrics"] {
        printed.add(&format!("daemon {path}"), &daemon.get(path).body);
    }
    printed.run("daemon", daemon.stop());

    // The same with the credentials in variables instead.
    let env_url = pg_url(&env, ENV_PG_PASSWORD, None);
    let with_vars = |cmd: BinCommand| {
        cmd.env("SIGNALDB_SCHEMA_CATALOG_URI", &env_url)
            .env("SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY", ENV_S3_SECRET)
    };
    for args in [&["check-config"][..], &["status", "--json"], &["compact", "--json"]] {
        let out = with_vars(traced("compactor", &env).args(args)).run();
        printed.run(&format!("vars: {}", args.join(" ")), out).assert_success();
    }

    // Faulty: S3 on a closed port, the catalog on a closed port, a bucket that does not exist.
    let closed = free_port();
    // Every table is loaded (none skipped as idle by the passes above), so each reaches S3.
    let s3_down = |cmd: BinCommand| {
        with_vars(cmd)
            .env("SIGNALDB_STORAGE_S3_ENDPOINT", &format!("http://127.0.0.1:{closed}"))
            .env("SIGNALDB_COMPACTOR_FULL_CHECK_INTERVAL_SECS", "0")
    };
    for args in [&["compact", "--json"][..], &["orphans", "--json"], &["status"]] {
        let out = s3_down(traced("compactor", &env).args(args)).run();
        printed.run(&format!("S3 down: {}", args.join(" ")), out).assert_failure();
    }
    let daemon = Daemon::start(|| s3_down(traced("compactor", &env).args(["run"])));
    printed.add("S3 down: daemon /metrics", &wait_for_a_cycle(&daemon));
    for path in ["/readyz", "/healthz"] {
        let response = http_get(daemon.port, path).unwrap();
        printed.add(&format!("S3 down: daemon {path}"), &response.body);
    }
    printed.run("S3 down: daemon", daemon.stop());

    let pg_down = pg_url(&env, ENV_PG_PASSWORD, Some(closed));
    for args in [&["compact", "--json"][..], &["status"], &["check-config"]] {
        let out = traced("compactor", &env)
            .args(args)
            .env("SIGNALDB_SCHEMA_CATALOG_URI", &pg_down)
            .env("SIGNALDB_STORAGE_S3_SECRET_ACCESS_KEY", ENV_S3_SECRET)
            .run();
        let out = printed.run(&format!("catalog down: {}", args.join(" ")), out);
        if args != ["check-config"] {
            out.assert_failure();
        }
    }
    // A bucket that does not exist: the tables are refused as outside the warehouse, and a
    // writer creating a new table there gets S3's answer.
    let wrong_bucket = format!("s3://signaldb-no-such-bucket-{closed}/warehouse");
    for args in [&["compact", "--json"][..], &["orphans", "--json"]] {
        let out = with_vars(traced("compactor", &env).args(args))
            .env("SIGNALDB_STORAGE_DSN", &wrong_bucket)
            .env("SIGNALDB_COMPACTOR_FULL_CHECK_INTERVAL_SECS", "0")
            .run();
        printed.run(&format!("no bucket: {}", args.join(" ")), out).assert_failure();
    }
    let load = with_vars(traced("signaldb-loadgen", &env).config_flag(&env))
        .env("SIGNALDB_STORAGE_DSN", &wrong_bucket)
        .args(["--tenants", "other", "--datasets", "prod", "--signals", "logs", "--hours", "1"])
        .args(["--end-time", crate::compactor::END_TIME])
        .run();
    let load = printed.run("no bucket: loadgen", load);
    load.assert_failure();
    assert!(load.stderr.contains("NoSuchBucket"), "{}", load.streams());

    // The runs did log at trace level, and the faulty ones named the closed port.
    let text = |what: &str| {
        let found = printed.texts.iter().filter(|(w, _)| w.starts_with(what));
        found.map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n")
    };
    assert!(text("compact: stderr").contains(" TRACE "), "{}", text("compact: stderr"));
    let port = format!("127.0.0.1:{closed}");
    for what in ["S3 down: compact", "catalog down: compact"] {
        assert!(text(what).contains(&port), "{what} does not name {port}\n{}", text(what));
    }

    for (what, rows) in catalog_rows(&env).await {
        printed.add(&what, &rows);
    }
    printed.assert_no_secret();

    // Nothing was lost on the way: the same rows, every referenced file stored.
    let after = read_by_hour(&env, &ids);
    let key = ids[0].to_string();
    assert_eq!(after[&key].content, before[&key].content);
    let catalog = env.catalog().await;
    let warehouse = env.warehouse();
    let table = iceberg::Catalog::load_table(catalog.catalog(), &ids[0].ident()).await.unwrap();
    let referenced = reachable(&warehouse, &table).await;
    let on_storage = stored(&warehouse, table.metadata().location()).await;
    assert!(referenced.is_subset(&on_storage), "{:?}", referenced.difference(&on_storage));
}
