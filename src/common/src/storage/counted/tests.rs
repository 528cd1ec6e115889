use std::sync::Mutex;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::{WriteMultipart, limit::LimitStore};

use super::*;

/// An observer that adds up what it is told, the way the compactor's metrics do.
#[derive(Debug, Default)]
struct Totals(Mutex<RequestCounts>);

impl RequestObserver for Totals {
    fn request(&self, operation: Operation, bytes: u64) {
        let tally = RequestTally::default();
        tally.add(operation, bytes);
        *self.0.lock().unwrap() += tally.counts();
    }
}

impl Totals {
    fn counts(&self) -> RequestCounts {
        *self.0.lock().unwrap()
    }
}

fn counted() -> (CountedStore, Arc<Totals>) {
    let totals = Arc::new(Totals::default());
    let inner: Arc<dyn ObjectStore> = Arc::new(LimitStore::new(InMemory::new(), 4));
    let observer: Arc<dyn RequestObserver> = totals.clone();
    (CountedStore::new(inner, Some(observer)), totals)
}

#[tokio::test]
async fn every_request_counts_by_operation_with_its_bytes() {
    let (store, totals) = counted();
    let tally = RequestTally::new();
    tally
        .scope(async {
            let a = Path::from("t/a");
            store.put(&a, PutPayload::from(vec![7_u8; 100])).await.unwrap();
            assert_eq!(store.get(&a).await.unwrap().bytes().await.unwrap().len(), 100);
            assert_eq!(store.get_range(&a, 10..30).await.unwrap().len(), 20);
            assert_eq!(store.head(&a).await.unwrap().size, 100);
            // Ranges close together coalesce into one fetch (of 0..100 here).
            let near = store.get_ranges(&a, &[0..1, 99..100]).await.unwrap();
            assert_eq!(near.len(), 2);
            let listed: Vec<_> = store.list(Some(&Path::from("t"))).try_collect().await.unwrap();
            assert_eq!(listed.len(), 1);
            store.list_with_delimiter(Some(&Path::from("t"))).await.unwrap();
            // Missing objects are requests too, without bytes.
            store.get(&Path::from("t/missing")).await.unwrap_err();
            store.delete(&a).await.unwrap();
        })
        .await;
    let counts = tally.counts();
    assert_eq!(
        counts,
        RequestCounts {
            get: 4,
            put: 1,
            list: 2,
            head: 1,
            delete: 1,
            bytes_read: 100 + 20 + 100,
            bytes_written: 100,
        }
    );
    assert_eq!(totals.counts(), counts, "the observer saw the same requests");
    assert_eq!(counts.total(), 9);
    assert_eq!(
        counts.render(),
        "9 (4 GET, 1 PUT, 2 LIST, 1 HEAD, 1 DELETE), 220 B read, 100 B written"
    );
}

#[tokio::test]
async fn a_multipart_upload_counts_its_start_each_part_and_its_completion() {
    let (store, _) = counted();
    let tally = RequestTally::new();
    tally
        .scope(async {
            let upload = store.put_multipart(&Path::from("big")).await.unwrap();
            // WriteMultipart uploads each part on a task of its own: they still count here.
            let mut writer = WriteMultipart::new_with_chunk_size(upload, 1000);
            writer.write(&[1_u8; 2500]);
            writer.finish().await.unwrap();
        })
        .await;
    let counts = tally.counts();
    assert_eq!((counts.put, counts.bytes_written), (1 + 3 + 1, 2500), "{counts:?}");
    assert_eq!(counts.total(), 5);
}

#[tokio::test]
async fn a_listing_counts_one_request_per_page_and_a_batched_delete_one_per_path() {
    let (store, _) = counted();
    let paths: Vec<Path> = (0..2500).map(|i| Path::from(format!("d/{i:05}"))).collect();
    for path in &paths {
        store.put(path, PutPayload::from_static(b"x")).await.unwrap();
    }
    let tally = RequestTally::new();
    tally
        .scope(async {
            let listed: Vec<_> = store.list(Some(&Path::from("d"))).try_collect().await.unwrap();
            assert_eq!(listed.len(), 2500);
            let empty: Vec<_> = store.list(Some(&Path::from("e"))).try_collect().await.unwrap();
            assert!(empty.is_empty());
            let doomed = futures::stream::iter(paths.into_iter().take(10).map(Ok)).boxed();
            let deleted: Vec<_> = store.delete_stream(doomed).try_collect().await.unwrap();
            assert_eq!(deleted.len(), 10);
        })
        .await;
    let counts = tally.counts();
    assert_eq!((counts.list, counts.delete), (3 + 1, 10), "{counts:?}");
}

#[tokio::test]
async fn concurrent_scopes_each_count_their_own_requests() {
    let (store, totals) = counted();
    let store = Arc::new(store);
    store.put(&Path::from("shared"), PutPayload::from_static(b"abc")).await.unwrap();
    let (one, two) = (RequestTally::new(), RequestTally::new());
    let reads = |n: usize| {
        let store = Arc::clone(&store);
        async move {
            for _ in 0..n {
                store.get(&Path::from("shared")).await.unwrap();
                tokio::task::yield_now().await;
            }
            // A task spawned for the scope's work counts in its scope once carried.
            let spawned = Arc::clone(&store);
            tokio::spawn(RequestTally::carry(async move {
                spawned.head(&Path::from("shared")).await.unwrap();
            }))
            .await
            .unwrap();
            // An uncarried one counts only for the observer.
            let spawned = Arc::clone(&store);
            tokio::spawn(async move { spawned.head(&Path::from("shared")).await.unwrap() })
                .await
                .unwrap();
        }
    };
    futures::join!(one.scope(reads(3)), two.scope(reads(5)));
    assert_eq!((one.counts().get, one.counts().head, one.counts().bytes_read), (3, 1, 9));
    assert_eq!((two.counts().get, two.counts().head, two.counts().bytes_read), (5, 1, 15));
    // The observer saw everything: the put outside any scope and the uncarried heads too.
    let all = totals.counts();
    assert_eq!((all.put, all.get, all.head), (1, 8, 4));
    assert!(RequestTally::current().is_none());
}

#[test]
fn counts_add_up_and_render_only_what_happened() {
    let a =
        RequestCounts { get: 1017, put: 52, head: 1, bytes_read: 12_897_485, ..Default::default() };
    let b = RequestCounts { put: 2, delete: 3, bytes_written: 1024 * 1024, ..Default::default() };
    let sum: RequestCounts = [a, b].into_iter().sum();
    assert_eq!(sum.total(), 1017 + 54 + 1 + 3);
    assert_eq!(a.render(), "1070 (1017 GET, 52 PUT, 1 HEAD), 12.3 MiB read");
    assert_eq!(b.render(), "5 (2 PUT, 3 DELETE), 1.0 MiB written");
    assert_eq!(RequestCounts::default().render(), "0");
}
