//! What the pages render, read from the DOM Chromium dumps once their scripts ran: the fleet
//! with every table and its health, a table's charts against the API's plan, a screenshot,
//! the HTML 404 of a table that is not there and the token form of protected reads.

use tests_integration::html;

use super::{Admin, Site, element, table_path, text_of};

/// `/`: the fleet section (this instance, both dependencies ready, the instances) and one
/// row per loaded table with the health score, files and link the API gives it.
#[tokio::test]
async fn the_fleet_page_shows_this_instance_and_every_table_with_its_health() {
    let Some(site) = Site::start(Admin::NoToken).await else { return };
    let status = site.api("/api/v1/tables");
    let leases = site.api("/api/v1/leases");
    let dom = site.chromium.dump_dom(&site.url("/"));

    let instance = leases["instance"].as_str().unwrap();
    assert_eq!(text_of(&dom, "code", "instance"), instance);
    element(&dom, "tr", "data-instance", instance);
    for component in ["catalog", "object_store"] {
        let li = element(&dom, "li", "data-component", component);
        assert_eq!(li.attr("data-ready"), Some("true"), "{component} is ready");
    }

    let rows: Vec<_> =
        html::tags(&dom, "tr").into_iter().filter(|t| t.has_class("table-row")).collect();
    let tables = status["tables"].as_array().unwrap();
    assert_eq!(rows.len(), site.tables.len(), "one row per table:\n{dom}");
    assert_eq!(tables.len(), site.tables.len(), "{status}");
    for t in tables {
        let name = format!(
            "{}.{}.{}",
            t["tenant"].as_str().unwrap(),
            t["dataset"].as_str().unwrap(),
            t["table"].as_str().unwrap()
        );
        let row = element(&dom, "tr", "data-name", &name);
        let healthy = t["health"]["healthy"].as_bool().unwrap();
        assert!(row.has_class(if healthy { "healthy" } else { "unhealthy" }), "{name}: {row:?}");
        let cells = html::inner_html(&dom, &row, "tr");
        let score = html::tags(cells, "span").into_iter().find(|s| s.has_class("score")).unwrap();
        assert_eq!(
            html::inner_text(cells, &score, "span"),
            t["health"]["score"].to_string(),
            "{name}"
        );
        let tds = html::tags(cells, "td");
        assert_eq!(
            html::inner_text(cells, &tds[4], "td"),
            t["state"]["data_files"].to_string(),
            "{name}"
        );
        let link = html::tags(cells, "a").into_iter().next().unwrap();
        let href = format!("/tables/{}", name.replace('.', "/"));
        assert_eq!(link.attr("href"), Some(href.as_str()), "{name}");
    }
}

/// `/tables/acme/prod/logs`: the health score, and the charts' bars, two per partition and
/// chart, each with the partition and the value the API's plan gives it (after = planned,
/// as every hour is compacted); a screenshot is a PNG of the window's size.
#[tokio::test]
async fn the_table_page_charts_every_partition_before_and_after_the_plan() {
    let Some(site) = Site::start(Admin::NoToken).await else { return };
    let id = site.logs().clone();
    let detail = site.api(&table_path("/api/v1/tables", &id));
    let plan = site.api(&format!("{}/plan?job=compaction", table_path("/api/v1/tables", &id)));
    let url = site.url(&table_path("/tables", &id));
    let dom = site.chromium.dump_dom(&url);

    assert_eq!(text_of(&dom, "span", "health"), detail["status"]["health"]["score"].to_string());
    assert_eq!(text_of(&dom, "code", "table-name"), id.to_string());
    for button in ["dry-run", "compact-now", "retention-dry-run"] {
        element(&dom, "button", "id", button);
    }

    let partitions = plan["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3, "{plan}");
    let bars: Vec<_> =
        html::tags(&dom, "rect").into_iter().filter(|r| r.has_class("bar")).collect();
    assert_eq!(bars.len(), partitions.len() * 2 * 2, "2 charts × before/after:\n{dom}");
    for p in partitions {
        let label = p["partition"].as_str().unwrap();
        assert!(!p["planned_files"].is_null(), "every hour is planned: {p}");
        for (attr, now, planned) in
            [("data-files", "files", "planned_files"), ("data-bytes", "bytes", "planned_bytes")]
        {
            for (series, value) in [("before", &p[now]), ("after", &p[planned])] {
                let bar = bars
                    .iter()
                    .find(|b| {
                        b.attr("data-partition") == Some(label)
                            && b.attr("data-series") == Some(series)
                            && b.attrs.contains_key(attr)
                    })
                    .unwrap_or_else(|| panic!("no {series} bar with {attr} for {label}"));
                assert_eq!(bar.attr(attr), Some(value.to_string().as_str()), "{label} {series}");
                let title = html::inner_text(&dom, bar, "rect");
                assert!(title.starts_with(&format!("{label}: ")), "tooltip {title:?}");
            }
        }
    }
    assert!(partitions.iter().all(|p| p["planned_files"].as_u64() < p["files"].as_u64()), "{plan}");

    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("table.png");
    site.chromium.screenshot(&url, &png, 1280, 1600);
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.len() > 10_000, "a {} byte screenshot", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "the screenshot's width");
    if let Ok(keep) = std::env::var("SIGNALDB_TEST_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

/// A table the catalog does not have is a 404 page naming it, a malformed tenant a 400 page:
/// HTML, not the API's JSON.
#[tokio::test]
async fn a_missing_table_is_an_html_404_naming_it() {
    let Some(site) = Site::start(Admin::NoToken).await else { return };
    let dom = site.chromium.dump_dom(&site.url("/tables/acme/prod/metrics_gauge"));
    let h1 = &html::tags(&dom, "h1")[0];
    assert_eq!(html::inner_text(&dom, h1, "h1"), "404 Not Found", "{dom}");
    assert!(text_of(&dom, "p", "error-message").contains("acme.prod.metrics_gauge"), "{dom}");
    let response = site.daemon.get("/tables/Acme/prod/logs");
    assert_eq!(response.status, 400, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"));
}

/// With `protect_reads`, a page without the token is the token form (`401`), while the API
/// answers with its JSON error.
#[tokio::test]
async fn protected_reads_show_the_token_form_instead_of_the_page() {
    let Some(site) = Site::start(Admin::ProtectedReads).await else { return };
    let page = site.daemon.get("/");
    assert_eq!(page.status, 401, "{}", page.body);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let api = site.daemon.get("/api/v1/tables");
    assert_eq!((api.status, api.header("content-type")), (401, Some("application/json")));
    let dom = site.chromium.dump_dom(&site.url("/"));
    let form = element(&dom, "form", "id", "login-form");
    assert_eq!(form.attr("data-cookie"), Some("signaldb_compactor_token"));
    assert!(html::find(&dom, "section", "id", "fleet").is_none(), "{dom}");
    assert_eq!(api.json()["error"]["code"], "unauthorized", "{}", api.body);
}
