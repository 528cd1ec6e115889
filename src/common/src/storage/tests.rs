use bytes::Bytes;
use futures::TryStreamExt;

use super::iceberg_io::MULTIPART_THRESHOLD;
use super::*;
use crate::config::{S3Config, Secret, StorageConfig};
use object_store::ObjectStoreExt;
use object_store::path::Path;

fn local(dir: &std::path::Path) -> Warehouse {
    let config = StorageConfig { dsn: format!("file://{}", dir.display()), ..Default::default() };
    Warehouse::open(&config).unwrap()
}

#[test]
fn local_dsn_becomes_an_absolute_file_uri_and_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = local(&tmp.path().join("a/../wh"));
    let expected = format!("file://{}", tmp.path().join("wh").display());
    assert_eq!(wh.location(), expected);
    assert!(tmp.path().join("wh").is_dir());
}

#[test]
fn a_local_dsn_naming_a_file_says_the_file_is_not_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("warehouse");
    std::fs::write(&file, b"not a directory").unwrap();
    for dsn in [file.clone(), file.join("below")] {
        let config =
            StorageConfig { dsn: format!("file://{}", dsn.display()), ..Default::default() };
        let err = Warehouse::open(&config).unwrap_err().to_string();
        let says = format!("`{}` is a file, not a directory", file.display());
        assert!(err.contains(&says) && err.contains(&dsn.display().to_string()), "{err}");
        assert!(!err.contains("File exists"), "{err}");
    }
}

#[tokio::test]
async fn an_s3_endpoint_that_refuses_fails_within_the_configured_retries() {
    let port = closed_port();
    let config = |max_retries| refusing_s3(port, max_retries);
    let timed = |max_retries| async move {
        let wh = Warehouse::open(&config(max_retries)).unwrap();
        let started = std::time::Instant::now();
        let err = wh.object_store().head(&Path::from("wh/x")).await.unwrap_err();
        (started.elapsed(), err.to_string())
    };
    let (none, err) = timed(0).await;
    assert!(none < std::time::Duration::from_secs(3), "{none:?}: {err}");
    assert!(err.contains("127.0.0.1"), "{err}");
    // Three retries wait 100 + 200 + 400 ms at least (jittered) before giving up.
    let (three, err) = timed(3).await;
    assert!(three > none, "{three:?} vs {none:?}: {err}");
    assert!(err.contains("retries") || err.contains("retry"), "{err}");
}

#[test]
fn local_locations_map_in_every_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = local(tmp.path());
    let abs = tmp.path().join("t/data/hour=2026-01-15-10/f.parquet");
    let abs = abs.to_str().unwrap();
    let want = wh.object_path(&format!("file://{abs}")).unwrap();
    assert_eq!(want.as_ref(), abs.trim_start_matches('/'));
    assert_eq!(wh.object_path(&format!("file:{abs}")).unwrap(), want);
    assert_eq!(wh.object_path(abs).unwrap(), want);
    assert_eq!(wh.location_of(&want), format!("file://{abs}"));
    assert!(wh.object_path("relative/path").is_err());
}

#[test]
fn s3_dsn_is_parsed_and_other_buckets_are_refused() {
    let config =
        StorageConfig { dsn: "s3://signaldb-bucket/warehouse/".into(), ..Default::default() };
    let wh = Warehouse::open(&config).unwrap();
    assert_eq!(wh.location(), "s3://signaldb-bucket/warehouse");
    assert_eq!(wh.prefix().as_ref(), "warehouse");
    let p = wh.object_path("s3://signaldb-bucket/warehouse/acme/x.parquet").unwrap();
    assert_eq!(p.as_ref(), "warehouse/acme/x.parquet");
    assert_eq!(wh.object_path("s3a://signaldb-bucket/k").unwrap().as_ref(), "k");
    let err = wh.object_path("s3://other-bucket/k").unwrap_err();
    assert!(err.to_string().contains("another bucket"), "{err}");
    assert!(wh.object_path("file:///tmp/x").is_err());
}

#[test]
fn bad_dsns_are_refused_with_the_dsn_named() {
    for dsn in ["ftp://host/x", "s3://ab/x", "file://", "warehouse"] {
        let config = StorageConfig { dsn: dsn.into(), ..Default::default() };
        let err = Warehouse::open(&config).unwrap_err();
        assert!(err.to_string().contains("storage.dsn"), "{dsn}: {err}");
    }
}

#[tokio::test]
async fn iceberg_file_io_round_trips_through_the_object_store() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = local(tmp.path());
    let io = wh.file_io();
    let loc = format!("{}/acme/prod/traces/metadata/small.json", wh.location());

    assert!(!io.exists(&loc).await.unwrap());
    io.new_output(&loc).unwrap().write(Bytes::from_static(b"hello iceberg")).await.unwrap();
    assert!(io.exists(&loc).await.unwrap());
    let input = io.new_input(&loc).unwrap();
    assert_eq!(input.read().await.unwrap(), Bytes::from_static(b"hello iceberg"));
    assert_eq!(input.metadata().await.unwrap().size, 13);
    let reader = input.reader().await.unwrap();
    assert_eq!(reader.read(6..13).await.unwrap(), Bytes::from_static(b"iceberg"));

    // The same bytes are visible through the shared object-store handle.
    let listed: Vec<_> = wh.object_store().list(Some(wh.prefix())).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(wh.location_of(&listed[0].location), loc);

    io.delete(&loc).await.unwrap();
    assert!(!io.exists(&loc).await.unwrap());
    // Deleting what is already gone is not an error.
    io.delete(&loc).await.unwrap();
}

#[tokio::test]
async fn large_writes_stream_as_multipart_and_read_back_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = local(tmp.path());
    let io = wh.file_io();
    let loc = format!("{}/big.bin", wh.location());
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let chunks = MULTIPART_THRESHOLD / chunk.len() * 2 + 3;
    let mut writer = io.new_output(&loc).unwrap().writer().await.unwrap();
    for _ in 0..chunks {
        writer.write(Bytes::from(chunk.clone())).await.unwrap();
    }
    writer.close().await.unwrap();
    assert!(writer.close().await.is_err(), "a second close must fail");

    let input = io.new_input(&loc).unwrap();
    assert_eq!(input.metadata().await.unwrap().size as usize, chunks * chunk.len());
    let tail_start = (chunks * chunk.len() - 10) as u64;
    let tail = input.reader().await.unwrap().read(tail_start..tail_start + 10).await.unwrap();
    assert_eq!(&tail[..], &chunk[chunk.len() - 10..]);
}

#[tokio::test]
async fn delete_prefix_removes_only_that_prefix() {
    let tmp = tempfile::tempdir().unwrap();
    let wh = local(tmp.path());
    let io = wh.file_io();
    for name in ["t/a/1", "t/a/2", "t/ab/3"] {
        let loc = format!("{}/{name}", wh.location());
        io.new_output(&loc).unwrap().write(Bytes::from_static(b"x")).await.unwrap();
    }
    io.delete_prefix(&format!("{}/t/a", wh.location())).await.unwrap();
    assert!(!io.exists(&format!("{}/t/a/1", wh.location())).await.unwrap());
    assert!(io.exists(&format!("{}/t/ab/3", wh.location())).await.unwrap());
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `[storage]` for bucket `signaldb-test` on an S3 endpoint at `port` of the loopback.
fn refusing_s3(port: u16, max_retries: usize) -> StorageConfig {
    StorageConfig {
        dsn: "s3://signaldb-test/wh".to_string(),
        max_retries,
        connect_timeout_secs: 1,
        s3: S3Config {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: Some("us-east-1".into()),
            access_key_id: Some(Secret::new("key")),
            secret_access_key: Some(Secret::new("secret")),
            allow_http: true,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn an_s3_endpoint_that_refuses_is_reported_as_refused_naming_the_file() {
    let file_io = Warehouse::open(&refusing_s3(closed_port(), 1)).unwrap().file_io();
    let location = "s3://signaldb-test/wh/t/metadata/v1.metadata.json";
    let output = file_io.new_output(location).unwrap();
    let err = output.write(Bytes::from_static(b"{}")).await.unwrap_err().to_string();
    assert!(err.contains(location), "{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
}
