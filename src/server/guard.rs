//! Guards the service against clients that hold connections open: at most
//! [`Limits::connections`] at once (more wait to be accepted, so file
//! descriptors and memory stay bounded); a connection on which nothing
//! arrives for a while is closed, and so is one that sends a request too
//! slowly to finish it in time (a byte every few seconds).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::serve::Listener;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep, sleep};

/// Most connections served at once, unless configured otherwise.
pub const MAX_CONNECTIONS: u32 = 1024;

/// How many connections are served at once, and how long each may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections served at once.
    pub connections: usize,
    /// Longest silence before the connection is closed.
    pub idle: Duration,
    /// Longest time from a request's first byte to its response.
    pub request: Duration,
}

/// A TCP listener that hands out [`Guarded`] connections.
pub struct GuardedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    limits: Limits,
}

impl GuardedListener {
    /// Guards the connections of `inner` within `limits`.
    pub fn new(inner: TcpListener, limits: Limits) -> GuardedListener {
        GuardedListener {
            inner,
            permits: Arc::new(Semaphore::new(limits.connections.max(1))),
            limits,
        }
    }
}

impl Listener for GuardedListener {
    type Io = Guarded;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Guarded, SocketAddr) {
        // The semaphore is never closed, so a permit always comes.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        let (stream, address) = Listener::accept(&mut self.inner).await;
        let guarded = Guarded {
            stream,
            _permit: permit,
            limits: self.limits,
            request_started: None,
            deadline: Box::pin(sleep(self.limits.idle)),
        };
        (guarded, address)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection that holds one of the listener's permits while open, and
/// fails a read once it has been silent for the idle limit, or once a
/// request started longer ago than the request limit without an answer
/// having been written.
pub struct Guarded {
    stream: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
    limits: Limits,
    /// When the first byte of the request being read arrived; `None` once
    /// an answer was written.
    request_started: Option<Instant>,
    deadline: Pin<Box<Sleep>>,
}

impl Guarded {
    /// The idle deadline counted from `now`, or the request's own, whichever
    /// comes first.
    fn deadline_after(&self, now: Instant) -> Instant {
        let idle = now + self.limits.idle;
        self.request_started
            .map_or(idle, |started| idle.min(started + self.limits.request))
    }

    /// Notes that an answer went out: the next request's time starts at
    /// its first byte.
    fn answered(&mut self) {
        self.request_started = None;
        let until = self.deadline_after(Instant::now());
        self.deadline.as_mut().reset(until);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let now = Instant::now();
                let started = *self.request_started.get_or_insert(now);
                if now.duration_since(started) > self.limits.request {
                    return Poll::Ready(Err(too_slow()));
                }
                let until = self.deadline_after(now);
                self.deadline.as_mut().reset(until);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending if self.deadline.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(if self.request_started.is_some() {
                    too_slow()
                } else {
                    io::Error::new(io::ErrorKind::TimedOut, "connection idle")
                }))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn too_slow() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "request not complete in time")
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.answered();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.answered();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
