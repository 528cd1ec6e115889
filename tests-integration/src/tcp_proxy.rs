//! A loopback TCP proxy in front of a PostgreSQL server that can lose one statement's answer,
//! or the statement itself, on command: the "connection lost mid-commit" of a failover.
//!
//! Everything is relayed byte for byte. Both directions are split into PostgreSQL protocol
//! messages (the startup packets, then one type byte and a length per message) so the proxy
//! knows where statements begin and when the server has answered them. The SQL text of an
//! extended-protocol statement travels in clear text in its `Parse` message (`P`), and a
//! simple query's in its `Query` message (`Q`); [`TcpProxy::arm`] makes the next connection
//! whose `Parse` or `Query` contains a pattern (e.g. `UPDATE iceberg_tables`) be cut:
//!
//! - [`Cut::BeforeForwarding`]: that message is not forwarded and both sockets are closed; the
//!   server never sees the statement, so it is not applied.
//! - [`Cut::AfterAnswer`]: the statement is forwarded, and so are its `Bind`, `Execute` and
//!   `Sync`; the server's answers from then on are held back until its `ReadyForQuery` for
//!   that `Sync` (sent after the implicit transaction committed), and then both sockets are
//!   closed without relaying them. The statement is applied, its answer lost.
//! - [`Cut::Hold`]: that message is held back (the connection stays open) until
//!   [`TcpProxy::release`], then relayed with everything after it: the statement reaches the
//!   server late, so a test can make another writer commit in between.
//!
//! The proxy runs on a runtime of its own, so it keeps relaying while the test blocks on a
//! child process. It needs no TLS: the test servers have `ssl = off`, so clients fall back to
//! plain text after their `SSLRequest`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where [`TcpProxy::arm`] cuts the connection of the matching statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Before the statement reaches the server: not applied, no answer.
    BeforeForwarding,
    /// After the server ran and committed it, before its answer reaches the client.
    AfterAnswer,
    /// Not cut: held back until [`TcpProxy::release`], then relayed.
    Hold,
}

/// One connection the proxy cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutEvent {
    /// How it was cut.
    pub cut: Cut,
    /// The SQL text of the statement it carried.
    pub statement: String,
}

#[derive(Debug, Default)]
struct Shared {
    armed: Option<(Cut, String)>,
    cuts: Vec<CutEvent>,
    connections: u64,
    /// Set by [`TcpProxy::release`]; a held statement waits for it.
    released: Arc<tokio::sync::Notify>,
}

type SharedState = Arc<Mutex<Shared>>;

/// A proxy on `127.0.0.1:port` relaying to one upstream server; dropping it stops relaying.
pub struct TcpProxy {
    port: u16,
    shared: SharedState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TcpProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpProxy").field("port", &self.port).finish()
    }
}

impl TcpProxy {
    /// Starts relaying connections on a free loopback port to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> TcpProxy {
        let shared = SharedState::default();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, upstream_port));
        let state = Arc::clone(&shared);
        // A thread and runtime of its own: the caller may be inside a runtime, or block one.
        let thread = std::thread::Builder::new()
            .name("tcp-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("building the proxy's runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                        .await
                        .expect("binding the proxy on 127.0.0.1");
                    let port = listener.local_addr().expect("the proxy's address").port();
                    let _ = port_tx.send(port);
                    tokio::select! {
                        _ = accept_loop(listener, upstream, state) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("starting the proxy's thread");
        let port = port_rx.recv().expect("the proxy's port");
        TcpProxy { port, shared, stop: Some(stop), thread: Some(thread) }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Makes the next connection that sends a statement containing `pattern` be cut as `cut`;
    /// one connection only, then the proxy relays everything again.
    pub fn arm(&self, cut: Cut, pattern: &str) {
        self.lock().armed = Some((cut, pattern.to_string()));
    }

    /// Whether an [`Self::arm`] is still waiting for its statement.
    pub fn is_armed(&self) -> bool {
        self.lock().armed.is_some()
    }

    /// Relays the statement held by [`Cut::Hold`] (or the next one to be held).
    pub fn release(&self) {
        self.lock().released.notify_one();
    }

    /// The connections cut (or statements held) so far, in order.
    pub fn cuts(&self) -> Vec<CutEvent> {
        self.lock().cuts.clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> u64 {
        self.lock().connections
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Stopping the runtime drops every relay, closing both sides of each connection.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: SharedState) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        shared.lock().unwrap_or_else(|e| e.into_inner()).connections += 1;
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            // A relay ends when either side closes or fails; both sockets are dropped then.
            let _ = relay(client, upstream, shared).await;
        });
    }
}

/// What the relay of one connection is doing about a matched statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Relaying everything.
    Relaying,
    /// The statement's `Parse` went through under [`Cut::AfterAnswer`]; waiting for its
    /// `Execute`.
    Matched,
    /// Its `Execute` went through; waiting for the `Sync` that ends it.
    Executing,
    /// Its `Sync` went through as the `n`th request of the connection; the server's answers
    /// are held back until its `n`th `ReadyForQuery`.
    Swallowing(u64),
}

async fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    shared: SharedState,
) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream).await?;
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    let mut from_client = Frames::new(Direction::ClientToServer);
    let mut from_server = Frames::new(Direction::ServerToClient);
    let (mut client_buf, mut server_buf) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    // Requests that each get one `ReadyForQuery`: the startup message, `Sync` and `Query`.
    let (mut requests, mut ready) = (0u64, 0u64);
    let mut phase = Phase::Relaying;
    let mut matched = CutEvent { cut: Cut::AfterAnswer, statement: String::new() };
    loop {
        tokio::select! {
            n = client_rx.read(&mut client_buf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                for frame in from_client.push(&client_buf[..n]) {
                    if phase == Phase::Relaying
                        && let Some(statement) = frame.statement()
                        && let Some(cut) = take_arm(&shared, &statement)
                    {
                        matched = CutEvent { cut, statement };
                        match cut {
                            Cut::BeforeForwarding => {
                                record(&shared, matched);
                                return Ok(());
                            }
                            Cut::Hold => {
                                let released = {
                                    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
                                    shared.cuts.push(matched.clone());
                                    Arc::clone(&shared.released)
                                };
                                released.notified().await;
                            }
                            Cut::AfterAnswer => phase = Phase::Matched,
                        }
                    }
                    if frame.gets_ready_for_query() {
                        requests += 1;
                    }
                    server_tx.write_all(&frame.bytes).await?;
                    phase = match (phase, frame.kind) {
                        (Phase::Matched, Some(b'E')) => Phase::Executing,
                        (Phase::Executing, Some(b'S')) => Phase::Swallowing(requests),
                        (Phase::Matched, Some(b'Q')) => Phase::Swallowing(requests),
                        (phase, _) => phase,
                    };
                }
            }
            n = server_rx.read(&mut server_buf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                for frame in from_server.push(&server_buf[..n]) {
                    if frame.kind == Some(b'Z') {
                        ready += 1;
                    }
                    match phase {
                        Phase::Swallowing(request) if ready >= request => {
                            record(&shared, matched);
                            return Ok(());
                        }
                        Phase::Swallowing(_) => {}
                        _ => client_tx.write_all(&frame.bytes).await?,
                    }
                }
            }
        }
    }
}

/// Disarms the proxy and returns the cut when `statement` contains the armed pattern.
fn take_arm(shared: &SharedState, statement: &str) -> Option<Cut> {
    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    match &shared.armed {
        Some((cut, pattern)) if statement.contains(pattern.as_str()) => {
            let cut = *cut;
            shared.armed = None;
            Some(cut)
        }
        _ => None,
    }
}

fn record(shared: &SharedState, event: CutEvent) {
    shared.lock().unwrap_or_else(|e| e.into_inner()).cuts.push(event);
}

/// Which way a byte stream flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

/// Protocol version 3.0, the code of a `StartupMessage`.
const PROTOCOL_3_0: u32 = 196_608;

/// One protocol message: its type byte (`None` for the untyped startup packets and the
/// one-byte answer to `SSLRequest`) and its bytes as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    kind: Option<u8>,
    startup_code: Option<u32>,
    bytes: Vec<u8>,
}

impl Frame {
    /// The SQL text of a `Parse` (after the statement name) or `Query` message.
    fn statement(&self) -> Option<String> {
        let body = self.bytes.get(5..)?;
        let text = match self.kind? {
            b'P' => {
                let name_end = body.iter().position(|&b| b == 0)?;
                &body[name_end + 1..]
            }
            b'Q' => body,
            _ => return None,
        };
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Some(String::from_utf8_lossy(&text[..end]).into_owned())
    }

    /// Whether the server answers this client message with exactly one `ReadyForQuery`.
    fn gets_ready_for_query(&self) -> bool {
        matches!(self.kind, Some(b'S' | b'Q')) || self.startup_code == Some(PROTOCOL_3_0)
    }
}

/// Splits one direction's byte stream into [`Frame`]s.
#[derive(Debug)]
struct Frames {
    direction: Direction,
    /// Still in the untyped startup packets (client) or before the first byte (server).
    startup: bool,
    pending: Vec<u8>,
}

impl Frames {
    fn new(direction: Direction) -> Self {
        Self { direction, startup: true, pending: Vec::new() }
    }

    /// Appends `bytes` and returns the messages they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.pending.extend_from_slice(bytes);
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame() {
            frames.push(frame);
        }
        frames
    }

    fn next_frame(&mut self) -> Option<Frame> {
        let length = |at: usize| -> Option<usize> {
            let raw: [u8; 4] = self.pending.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_be_bytes(raw) as usize)
        };
        let (kind, startup_code, size) = match (self.direction, self.startup) {
            // `SSLRequest`, `GSSENCRequest`, `CancelRequest` or `StartupMessage`: a length
            // and a code, no type byte.
            (Direction::ClientToServer, true) => {
                let size = length(0)?;
                let code = length(4)? as u32;
                (None, Some(code), size.max(8))
            }
            // The answer to `SSLRequest` is one byte, `N` (no TLS) or `S`; no server message
            // starts with either before authentication.
            (Direction::ServerToClient, true) => match *self.pending.first()? {
                b'N' | b'S' | b'G' => (None, None, 1),
                _ => {
                    self.startup = false;
                    return self.next_frame();
                }
            },
            (_, false) => (Some(*self.pending.first()?), None, 1 + length(1)?.max(4)),
        };
        if self.pending.len() < size {
            return None;
        }
        let bytes: Vec<u8> = self.pending.drain(..size).collect();
        if self.direction == Direction::ClientToServer && startup_code == Some(PROTOCOL_3_0) {
            self.startup = false;
        }
        if self.direction == Direction::ServerToClient {
            self.startup = false;
        }
        Some(Frame { kind, startup_code, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![kind];
        out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn untyped(code: u32, body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn splits_the_client_stream_however_it_is_segmented() {
        let mut stream = untyped(80_877_103, b"");
        stream.extend(untyped(PROTOCOL_3_0, b"user\0postgres\0\0"));
        stream.extend(typed(b'P', b"s1\0UPDATE iceberg_tables SET x = $1\0\0\0"));
        stream.extend(typed(b'S', b""));
        for chunk in [1, 3, 7, stream.len()] {
            let mut frames = Frames::new(Direction::ClientToServer);
            let got: Vec<Frame> = stream.chunks(chunk).flat_map(|c| frames.push(c)).collect();
            let kinds: Vec<Option<u8>> = got.iter().map(|f| f.kind).collect();
            assert_eq!(kinds, [None, None, Some(b'P'), Some(b'S')], "chunks of {chunk}");
            assert_eq!(got[2].statement().as_deref(), Some("UPDATE iceberg_tables SET x = $1"));
            let ready: Vec<bool> = got.iter().map(Frame::gets_ready_for_query).collect();
            assert_eq!(ready, [false, true, false, true]);
            assert_eq!(got.iter().map(|f| f.bytes.len()).sum::<usize>(), stream.len());
        }
    }

    #[test]
    fn splits_the_server_stream_after_the_tls_refusal() {
        let mut stream = b"N".to_vec();
        stream.extend(typed(b'R', &0u32.to_be_bytes()));
        stream.extend(typed(b'Z', b"I"));
        let mut frames = Frames::new(Direction::ServerToClient);
        let kinds: Vec<Option<u8>> = frames.push(&stream).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [None, Some(b'R'), Some(b'Z')]);
        // Without a TLS request the first byte is already a message.
        let mut frames = Frames::new(Direction::ServerToClient);
        let kinds: Vec<Option<u8>> = frames.push(&stream[1..]).iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [Some(b'R'), Some(b'Z')]);
    }
}
