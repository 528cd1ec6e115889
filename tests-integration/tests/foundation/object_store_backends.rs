//! The warehouse's one object-store handle on the local filesystem and on S3: write, read,
//! list, delete, multipart upload, and location ↔ object-path mapping under the configured
//! prefix.

use bytes::Bytes;
use chrono::Utc;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tests_integration::{Backend, TestEnv};

async fn list_names(store: &dyn ObjectStore, prefix: &Path) -> Vec<String> {
    let mut names: Vec<String> = store
        .list(Some(prefix))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    names.sort();
    names
}

async fn object_store_roundtrip(backend: Backend) {
    let Some(env) = TestEnv::new(backend).await else { return };
    let warehouse = env.warehouse();
    assert_eq!(warehouse.location(), env.warehouse_uri());
    let store = warehouse.object_store();
    let base = format!("{}/probe", warehouse.location());
    let path = |rel: &str| warehouse.object_path(&format!("{base}/{rel}")).unwrap();

    // Put and get.
    let one = path("a/one.txt");
    assert_eq!(warehouse.location_of(&one), format!("{base}/a/one.txt"));
    store.put(&one, PutPayload::from_static(b"hello")).await.unwrap();
    let got = store.get(&one).await.unwrap().bytes().await.unwrap();
    assert_eq!(got, Bytes::from_static(b"hello"));
    let meta = store.head(&one).await.unwrap();
    assert_eq!(meta.size, 5);
    assert!((Utc::now() - meta.last_modified).num_seconds().abs() < 300, "{meta:?}");

    // Multipart upload of 11 MiB (three parts at the default 5 MiB chunk size).
    let big = path("a/big.bin");
    let data: Vec<u8> = (0..11 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut upload = WriteMultipart::new(store.put_multipart(&big).await.unwrap());
    upload.write(&data);
    upload.finish().await.unwrap();
    assert_eq!(store.head(&big).await.unwrap().size, data.len() as u64);
    let slice = store.get_range(&big, 6_000_000..6_000_010).await.unwrap();
    assert_eq!(&slice[..], &data[6_000_000..6_000_010]);

    // Listing works by whole path segments: `a` does not match `ab/`.
    store.put(&path("ab/three.txt"), PutPayload::from_static(b"3")).await.unwrap();
    let a = path("a");
    assert_eq!(list_names(store.as_ref(), &a).await, [big.to_string(), one.to_string()]);
    assert_eq!(list_names(store.as_ref(), &path("")).await.len(), 3);

    // Delete.
    store.delete(&one).await.unwrap();
    assert!(matches!(store.get(&one).await, Err(object_store::Error::NotFound { .. })));
    assert_eq!(list_names(store.as_ref(), &a).await, [big.to_string()]);

    // The objects really sit under the configured location, seen without our mapping.
    match env.s3() {
        None => {
            let file = env.dir().join("warehouse/probe/a/big.bin");
            assert_eq!(std::fs::metadata(&file).unwrap().len(), data.len() as u64);
            assert!(!env.dir().join("warehouse/probe/a/one.txt").exists());
        }
        Some(s3) => {
            let raw = AmazonS3Builder::new()
                .with_endpoint(&s3.endpoint)
                .with_region(&s3.region)
                .with_bucket_name(&s3.bucket)
                .with_access_key_id(&s3.access_key_id)
                .with_secret_access_key(&s3.secret_access_key)
                .with_allow_http(true)
                .build()
                .unwrap();
            let prefix = env.warehouse_uri().strip_prefix(&format!("s3://{}/", s3.bucket)).unwrap();
            let key = Path::from(format!("{prefix}/probe/a/big.bin"));
            assert_eq!(raw.head(&key).await.unwrap().size, data.len() as u64);
        }
    }

    // Locations outside the warehouse's store are refused, not guessed.
    let foreign = match env.s3() {
        None => "s3://elsewhere/x".to_string(),
        Some(_) => "s3://another-bucket/x".to_string(),
    };
    assert!(warehouse.object_path(&foreign).is_err(), "{foreign} was mapped");
}

#[tokio::test]
async fn object_store_on_local_fs() {
    object_store_roundtrip(Backend::SqliteLocal).await;
}

#[tokio::test]
async fn object_store_on_s3() {
    object_store_roundtrip(Backend::S3).await;
}
