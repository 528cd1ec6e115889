//! How many admin requests are served at once (`[compactor.admin] max_concurrent_requests`):
//! one more is answered `503 busy` at once rather than queued, so a flood of requests never
//! holds the catalog's connections or the process's memory.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::ApiError;

/// The requests being served, up to a limit.
#[derive(Debug)]
pub(crate) struct RequestLimit {
    permits: Arc<Semaphore>,
    max: usize,
}

impl RequestLimit {
    /// At most `max` requests at once (at least 1).
    pub(crate) fn new(max: usize) -> Self {
        let max = max.max(1);
        Self { permits: Arc::new(Semaphore::new(max)), max }
    }
}

/// The middleware: serves the request while a permit is free, else `503 busy`.
pub(crate) async fn bounded(
    State(limit): State<Arc<RequestLimit>>,
    request: Request,
    next: Next,
) -> Response {
    match Arc::clone(&limit.permits).try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::busy(limit.max).into_response(),
    }
}
