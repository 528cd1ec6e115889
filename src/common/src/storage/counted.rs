//! [`CountedStore`]: an object store that counts every request made through it, by operation,
//! with the bytes read and written, for a [`RequestObserver`] (the process's totals) and for
//! the [`RequestTally`] in scope of the task that made it (one table's run).
//!
//! A tally is a tokio task-local: [`RequestTally::scope`] runs a future with it, and every
//! request that future makes (on any task [`RequestTally::carry`] hands it to) is added to it.
//! A request made where no tally is in scope counts for the observer only.
//!
//! What one request is: a GET (`get`, `get_range`, each fetch of `get_ranges` after
//! coalescing), a HEAD, a PUT (`put`; a multipart upload's start, each part and its
//! completion; a copy), a LIST (`list_with_delimiter`; `list` once per page of up to 1,000
//! objects, the page size of S3) and a DELETE (each path of `delete_stream`, whether or not the
//! store batches them; a multipart upload's abort). A rename counts one PUT and one DELETE.
//! Bytes are counted when a request succeeds: what a GET returns, what a PUT stores. Retried
//! attempts inside object_store's client are not requests of their own here (the warehouse's
//! `observe` module counts those).

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use async_trait::async_trait;
use bytes::Bytes;
use futures::future::Either;
use futures::stream::BoxStream;
use futures::{StreamExt, stream};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, OBJECT_STORE_COALESCE_DEFAULT,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RenameOptions, Result, UploadPart, coalesce_ranges,
};
use serde::Serialize;

/// Objects in one page of a listing, as S3 returns them.
const LIST_PAGE: u64 = 1000;

/// The kind of an object-store request, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Reads an object or a range of it.
    Get,
    /// Writes an object, a part of one, or completes or copies one.
    Put,
    /// Lists one page of objects.
    List,
    /// Reads an object's metadata.
    Head,
    /// Deletes one object (or aborts an upload).
    Delete,
}

impl Operation {
    /// Every operation, in the order reports list them.
    pub const ALL: [Self; 5] = [Self::Get, Self::Put, Self::List, Self::Head, Self::Delete];

    /// The name metrics and reports use: the HTTP method of the request on S3.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::List => "LIST",
            Self::Head => "HEAD",
            Self::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Told of every request a [`CountedStore`] makes, whichever task made it.
pub trait RequestObserver: Send + Sync + fmt::Debug {
    /// One request of `operation` was made; `bytes` is what it read (GET) or wrote (PUT) when
    /// it succeeded, else 0.
    fn request(&self, operation: Operation, bytes: u64);
}

/// Requests counted by operation, and the bytes they read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    /// GET requests.
    pub get: u64,
    /// PUT requests (multipart starts, parts and completions included).
    pub put: u64,
    /// LIST requests (pages).
    pub list: u64,
    /// HEAD requests.
    pub head: u64,
    /// DELETE requests (one per deleted path).
    pub delete: u64,
    /// Bytes the GET requests returned.
    pub bytes_read: u64,
    /// Bytes the PUT requests stored.
    pub bytes_written: u64,
}

impl RequestCounts {
    /// The number of requests of `operation`.
    pub fn of(&self, operation: Operation) -> u64 {
        match operation {
            Operation::Get => self.get,
            Operation::Put => self.put,
            Operation::List => self.list,
            Operation::Head => self.head,
            Operation::Delete => self.delete,
        }
    }

    /// Every request, whatever its operation.
    pub fn total(&self) -> u64 {
        Operation::ALL.iter().map(|op| self.of(*op)).sum()
    }

    /// The short form of text reports: `1070 (1017 GET, 52 PUT, 1 HEAD), 12.3 MiB read,
    /// 4.0 MiB written` (operations and directions without any left out).
    pub fn render(&self) -> String {
        let by_op: Vec<String> = Operation::ALL
            .iter()
            .filter(|op| self.of(**op) > 0)
            .map(|op| format!("{} {op}", self.of(*op)))
            .collect();
        let mut out = self.total().to_string();
        if !by_op.is_empty() {
            out.push_str(&format!(" ({})", by_op.join(", ")));
        }
        if self.bytes_read > 0 {
            out.push_str(&format!(", {} read", human_bytes(self.bytes_read)));
        }
        if self.bytes_written > 0 {
            out.push_str(&format!(", {} written", human_bytes(self.bytes_written)));
        }
        out
    }
}

/// `bytes` in the largest binary unit it reaches, with one decimal (`512 B`, `12.3 MiB`).
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Display only: the precision an f64 loses past 2^53 bytes does not show.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl std::ops::AddAssign for RequestCounts {
    fn add_assign(&mut self, other: Self) {
        let Self { get, put, list, head, delete, bytes_read, bytes_written } = other;
        self.get += get;
        self.put += put;
        self.list += list;
        self.head += head;
        self.delete += delete;
        self.bytes_read += bytes_read;
        self.bytes_written += bytes_written;
    }
}

impl std::iter::Sum for RequestCounts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |mut sum, counts| {
            sum += counts;
            sum
        })
    }
}

tokio::task_local! {
    /// The tally of the requests the current task's future makes.
    static TALLY: Arc<RequestTally>;
}

/// A running count of requests, shared by the futures and tasks of one unit of work (one
/// table's run); read with [`RequestTally::counts`].
#[derive(Debug, Default)]
pub struct RequestTally {
    /// Per [`Operation::ALL`], then bytes read and bytes written.
    counters: [AtomicU64; 7],
}

impl RequestTally {
    /// An empty tally.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Runs `future` with this tally in scope: the requests it makes are added to it.
    pub async fn scope<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        TALLY.scope(Arc::clone(self), future).await
    }

    /// The tally in scope of the current task, if any.
    pub fn current() -> Option<Arc<Self>> {
        TALLY.try_with(Arc::clone).ok()
    }

    /// `future` with the current task's tally in scope, for a task spawned on its behalf
    /// (`tokio::spawn(RequestTally::carry(work))`), so that its requests count where the
    /// spawner's do.
    pub fn carry<F: Future>(future: F) -> impl Future<Output = F::Output> {
        match Self::current() {
            Some(tally) => Either::Left(TALLY.scope(tally, future)),
            None => Either::Right(future),
        }
    }

    /// What the tally has counted so far.
    pub fn counts(&self) -> RequestCounts {
        let [get, put, list, head, delete, bytes_read, bytes_written] =
            self.counters.each_ref().map(|c| c.load(Ordering::Relaxed));
        RequestCounts { get, put, list, head, delete, bytes_read, bytes_written }
    }

    fn add(&self, operation: Operation, bytes: u64) {
        let index = Operation::ALL.iter().position(|op| *op == operation).unwrap_or_default();
        self.counters[index].fetch_add(1, Ordering::Relaxed);
        let direction = match operation {
            Operation::Get => Some(5),
            Operation::Put => Some(6),
            _ => None,
        };
        if let Some(direction) = direction.filter(|_| bytes > 0) {
            self.counters[direction].fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

/// Where one request is counted: the store's observer and the tally of the task that made it.
#[derive(Debug, Clone)]
struct Recorder {
    observer: Option<Arc<dyn RequestObserver>>,
    tally: Option<Arc<RequestTally>>,
}

impl Recorder {
    fn record(&self, operation: Operation, bytes: u64) {
        if let Some(observer) = &self.observer {
            observer.request(operation, bytes);
        }
        if let Some(tally) = &self.tally {
            tally.add(operation, bytes);
        }
    }
}

/// An object store that counts each request made through it (see the module docs).
#[derive(Debug)]
pub struct CountedStore {
    inner: Arc<dyn ObjectStore>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl CountedStore {
    /// Counts the requests made through `inner`, for `observer` and the tally in scope.
    pub fn new(inner: Arc<dyn ObjectStore>, observer: Option<Arc<dyn RequestObserver>>) -> Self {
        Self { inner, observer }
    }

    /// Where a request made now, by the current task, is counted.
    fn recorder(&self) -> Recorder {
        Recorder { observer: self.observer.clone(), tally: RequestTally::current() }
    }
}

impl fmt::Display for CountedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountedStore({})", self.inner)
    }
}

/// The bytes a request wrote or read when it succeeded, else 0.
fn on_success<T>(result: &Result<T>, bytes: u64) -> u64 {
    if result.is_ok() { bytes } else { 0 }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for CountedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let recorder = self.recorder();
        let bytes = payload.content_length() as u64;
        let result = self.inner.put_opts(location, payload, opts).await;
        recorder.record(Operation::Put, on_success(&result, bytes));
        result
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        let recorder = self.recorder();
        let result = self.inner.put_multipart_opts(location, opts).await;
        recorder.record(Operation::Put, 0);
        Ok(Box::new(CountedUpload { inner: result?, recorder }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let recorder = self.recorder();
        let operation = if options.head { Operation::Head } else { Operation::Get };
        let result = self.inner.get_opts(location, options).await;
        let bytes = match (&result, operation) {
            (Ok(got), Operation::Get) => got.range.end - got.range.start,
            _ => 0,
        };
        recorder.record(operation, bytes);
        result
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        // Each fetch after coalescing is a request of its own, counted by `get_opts`.
        let fetch = |range| self.get_range(location, range);
        coalesce_ranges(ranges, fetch, OBJECT_STORE_COALESCE_DEFAULT).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let recorder = self.recorder();
        self.inner
            .delete_stream(locations)
            .inspect(move |_| recorder.record(Operation::Delete, 0))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        pages(self.inner.list(prefix), self.recorder())
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        pages(self.inner.list_with_offset(prefix, offset), self.recorder())
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let recorder = self.recorder();
        let result = self.inner.list_with_delimiter(prefix).await;
        recorder.record(Operation::List, 0);
        result
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        let recorder = self.recorder();
        let result = self.inner.copy_opts(from, to, options).await;
        recorder.record(Operation::Put, 0);
        result
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        let recorder = self.recorder();
        let result = self.inner.rename_opts(from, to, options).await;
        recorder.record(Operation::Put, 0);
        recorder.record(Operation::Delete, 0);
        result
    }
}

/// `listing`, counting one LIST for each page of it the consumer reaches (and one for an empty
/// listing).
fn pages(
    mut listing: BoxStream<'static, Result<ObjectMeta>>,
    recorder: Recorder,
) -> BoxStream<'static, Result<ObjectMeta>> {
    let mut seen = 0_u64;
    let mut ended = false;
    stream::poll_fn(move |cx| {
        if ended {
            return Poll::Ready(None);
        }
        let next = listing.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(_)) => {
                if seen.is_multiple_of(LIST_PAGE) {
                    recorder.record(Operation::List, 0);
                }
                seen += 1;
            }
            Poll::Ready(None) => {
                ended = true;
                if seen == 0 {
                    recorder.record(Operation::List, 0);
                }
            }
            Poll::Pending => {}
        }
        next
    })
    .boxed()
}

/// A multipart upload whose requests count where the upload was started.
#[derive(Debug)]
struct CountedUpload {
    inner: Box<dyn MultipartUpload>,
    recorder: Recorder,
}

#[async_trait]
impl MultipartUpload for CountedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let bytes = data.content_length() as u64;
        let part = self.inner.put_part(data);
        let recorder = self.recorder.clone();
        Box::pin(async move {
            let result = part.await;
            recorder.record(Operation::Put, on_success(&result, bytes));
            result
        })
    }

    async fn complete(&mut self) -> Result<PutResult> {
        let result = self.inner.complete().await;
        self.recorder.record(Operation::Put, 0);
        result
    }

    async fn abort(&mut self) -> Result<()> {
        let result = self.inner.abort().await;
        self.recorder.record(Operation::Delete, 0);
        result
    }
}

#[cfg(test)]
mod tests;
