//! The connection's socket as hyper sees it: reads report activity (so a kept-alive
//! connection's first byte starts its header deadline), and a write that makes no progress for
//! the write timeout fails, so a peer that never reads cannot hold a connection and its
//! buffered response forever.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::activity::Activity;
use crate::http_metrics::Rejection;

/// A TCP stream with read reporting and a write-stall timeout.
#[derive(Debug)]
pub(super) struct TimedIo {
    stream: TcpStream,
    activity: Arc<Activity>,
    write_timeout: Duration,
    /// Running while the socket refuses writes; reset by any progress.
    stall: Option<Pin<Box<Sleep>>>,
}

impl TimedIo {
    pub(super) fn new(stream: TcpStream, activity: Arc<Activity>, write_timeout: Duration) -> Self {
        Self {
            stream,
            activity,
            write_timeout,
            stall: None,
        }
    }

    /// Maps a write attempt's outcome: progress resets the stall timer; `Pending` runs it and
    /// fails once it expires.
    fn after_write(
        &mut self,
        cx: &mut Context<'_>,
        attempt: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match attempt {
            Poll::Pending => {
                let timeout = self.write_timeout;
                let stall = self
                    .stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                ready!(stall.as_mut().poll(cx));
                self.stall = None;
                Rejection::WriteTimeout.count();
                tracing::debug!("closing a connection whose peer does not read");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the response write made no progress within the write timeout",
                )))
            }
            Poll::Ready(Ok(written)) => {
                self.stall = None;
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
        }
    }
}

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = ready!(Pin::new(&mut this.stream).poll_read(cx, buf));
        if buf.filled().len() > before {
            this.activity.on_read();
        }
        Poll::Ready(result)
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let attempt = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.after_write(cx, attempt)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let attempt = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.after_write(cx, attempt)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A TCP flush never waits, so it says nothing about the peer reading: it neither
        // starts nor resets the stall timer.
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
