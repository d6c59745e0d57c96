//! Accepting the request-targets the 2008 docs taught people to send.
//!
//! The 2008 API docs write list filters as
//! `GET …/Conferences?Status=1&DateCreated>=2009-07-06`, and curl and
//! Python's urllib put that `>` on the wire as it is. hyper (through the
//! `http` crate's URI parser) refuses a raw `<`, `>`, `"`, `{`, `}`, `|`,
//! `\`, `^`, backtick, control or non-ASCII byte in a request-target with
//! a bare `400` before the router ever sees it, while the router decodes
//! `%3E` correctly. So this module percent-encodes those bytes on their way
//! from the socket to hyper, and nothing else.
//!
//! [`TargetRewriter`] is the sans-IO part: bytes in, bytes out, following
//! each request on a keep-alive connection so that only request-targets are
//! touched, never header values or bodies. [`LenientStream`] runs a
//! connection's reads through it, and [`LenientListener`] is the
//! [`axum::serve::Listener`] that hands those streams to axum.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use reqparse::rewriter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub use rewriter::{MAX_HEADER_LINE, MAX_REQUEST_LINE, TargetRewriter, Unfollowable};

/// A [`TcpListener`] whose connections are [`LenientStream`]s.
#[derive(Debug)]
pub struct LenientListener {
    inner: TcpListener,
}

impl LenientListener {
    pub fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl axum::serve::Listener for LenientListener {
    type Io = LenientStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop already retries, and backs off on errors
        // such as running out of file descriptors.
        let (stream, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (LenientStream::new(stream), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection whose reads go through a [`TargetRewriter`]; writes pass
/// straight through.
#[derive(Debug)]
pub struct LenientStream<S> {
    inner: S,
    rewriter: TargetRewriter,
    /// Rewritten bytes the reader has not taken yet: encoding makes three
    /// bytes of one, so a read can produce more than its buffer holds.
    pending: Vec<u8>,
    /// How much of `pending` has been taken.
    taken: usize,
    /// Whether the switch to pass-through has been logged.
    told: bool,
}

impl<S> LenientStream<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rewriter: TargetRewriter::new(),
            pending: Vec::new(),
            taken: 0,
            told: false,
        }
    }

    /// Moves pending rewritten bytes into `buf`; false if there were none.
    fn drain_pending(&mut self, buf: &mut ReadBuf<'_>) -> bool {
        let pending = self.pending.get(self.taken..).unwrap_or_default();
        if pending.is_empty() {
            return false;
        }
        let n = pending.len().min(buf.remaining());
        buf.put_slice(&pending[..n]);
        self.taken += n;
        if self.taken >= self.pending.len() {
            self.pending.clear();
            self.taken = 0;
        }
        true
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LenientStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 || this.drain_pending(buf) {
            return Poll::Ready(Ok(()));
        }
        if let Some(why) = this.rewriter.passing_through() {
            if !this.told {
                this.told = true;
                tracing::debug!(?why, "request targets pass through unchanged from here on");
            }
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // The client's bytes are read straight into `buf` and stay there
        // unless a request-target needs encoding: then the bytes from the
        // first one to encode are taken back out, rewritten into `pending`,
        // and as much as fits handed back.
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        // An empty read is the end of the stream: hand it on as one.
        let read = buf.filled().get(before..).unwrap_or_default();
        let kept = this.rewriter.pass_unchanged(read);
        if kept < read.len() {
            let rest = read.get(kept..).unwrap_or_default().to_vec();
            buf.set_filled(before + kept);
            this.rewriter.feed(&rest, &mut this.pending);
            this.drain_pending(buf);
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LenientStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Reads through a buffer smaller than one encoding's output, so the
    /// pending bytes are carried from one read to the next.
    #[tokio::test]
    async fn reads_in_small_buffers_see_every_rewritten_byte() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = LenientStream::new(server);
        let sent = b"GET /a>>>b HTTP/1.1\r\nContent-Length: 2\r\n\r\n<>GET /<| HTTP/1.1\r\n\r\n";
        client.write_all(sent).await.unwrap();
        client.shutdown().await.unwrap();
        let mut seen = Vec::new();
        let mut small = [0u8; 2];
        loop {
            let n = stream.read(&mut small).await.unwrap();
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&small[..n]);
        }
        assert_eq!(
            String::from_utf8(seen).unwrap(),
            "GET /a%3E%3E%3Eb HTTP/1.1\r\nContent-Length: 2\r\n\r\n<>GET /%3C%7C HTTP/1.1\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn writes_pass_straight_through() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut stream = LenientStream::new(server);
        stream.write_all(b"HTTP/1.1 200 OK <>\r\n").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"HTTP/1.1 200 OK <>\r\n");
    }
}
