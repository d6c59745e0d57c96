//! [`Phone`]: a SIP user agent client on a real socket, placing calls to
//! the one server under test. Its transport, reader task and client
//! transactions are [`crate::agent`]'s; the calls it places are
//! [`crate::PhoneCall`]s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use media::Codec;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::Result;
use crate::agent::{
    DialogSlot, DialogStart, Shared, Transport, random_u64, tcp_reader, udp_reader,
};
use crate::audio::lock;
use crate::call::PhoneCall;
use crate::sdp::{Direction, Offer};

/// How long [`Phone::call`], [`PhoneCall::hang_up`] and re-INVITEs wait for a
/// final response unless [`Phone::set_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A SIP phone on 127.0.0.1 (or ::1) that places calls to one server.
///
/// Every request goes to the server address given at bind time, whatever
/// the Contact or Record-Route headers say: the phone talks to exactly one
/// peer, the one under test.
#[derive(Debug)]
pub struct Phone {
    shared: Arc<Shared>,
    caller: String,
    timeout: Duration,
    /// The RTP socket bound with the phone, used by its first call.
    spare_rtp: Mutex<Option<UdpSocket>>,
    rtp_addr: SocketAddr,
}

impl Phone {
    /// A phone using UDP: binds a SIP socket and an RTP socket on the
    /// loopback address of the server's family, port 0.
    pub async fn bind(server: SocketAddr) -> Result<Self> {
        Self::bind_on(loopback(server), server).await
    }

    /// A phone using UDP from `local` (SIP and RTP on port 0), such as
    /// 127.0.0.2: a caller from another address than the other phones.
    pub async fn bind_on(local: IpAddr, server: SocketAddr) -> Result<Self> {
        let socket = Arc::new(UdpSocket::bind(SocketAddr::new(local, 0)).await?);
        let local = socket.local_addr()?;
        let transport = Transport::Udp(socket.clone());
        let shared = Shared::new(transport, local, server, |weak| {
            tokio::spawn(udp_reader(socket, weak)).abort_handle()
        });
        Self::with_shared(shared).await
    }

    /// A phone using one TCP connection to the server for all its signalling
    /// (RFC 3261 §18: no retransmissions; the server's requests come back on
    /// the same connection).
    pub async fn connect_tcp(server: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let (read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let writer = tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if let Err(e) = write.write_all(&bytes).await {
                    tracing::debug!(error = %e, "SIP TCP write failed");
                    return;
                }
            }
        });
        let shared = Shared::new(Transport::Tcp(tx), local, server, |weak| {
            tokio::spawn(tcp_reader(read, weak, server, writer.abort_handle())).abort_handle()
        });
        Self::with_shared(shared).await
    }

    async fn with_shared(shared: Arc<Shared>) -> Result<Self> {
        let rtp = UdpSocket::bind(SocketAddr::new(shared.local.ip(), 0)).await?;
        let rtp_addr = rtp.local_addr()?;
        Ok(Self {
            shared,
            caller: "testkit".into(),
            timeout: DEFAULT_TIMEOUT,
            spare_rtp: Mutex::new(Some(rtp)),
            rtp_addr,
        })
    }

    /// The user part of our From URI (the caller id the server sees), `testkit` by default.
    pub fn set_caller(&mut self, user: &str) {
        user.clone_into(&mut self.caller);
    }

    /// How long signalling waits for a final response (default [`DEFAULT_TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Our SIP address (the Via sent-by and Contact).
    #[must_use]
    pub fn sip_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// The RTP address bound with the phone; the first call offers it, later
    /// calls bind fresh ones.
    #[must_use]
    pub fn rtp_addr(&self) -> SocketAddr {
        self.rtp_addr
    }

    /// How many OPTIONS requests the phone has answered.
    #[must_use]
    pub fn options_answered(&self) -> u64 {
        lock(&self.shared.state).options_answered
    }

    /// Calls `user` at the server offering `codec` and telephone-event 101.
    ///
    /// Retransmits the INVITE (Timer A, UDP only) until a response comes,
    /// waits past 1xx for the final one, ACKs it, and returns the
    /// established call on 2xx or [`Error::Rejected`](crate::Error::Rejected) with the status code
    /// otherwise. Waits at most the phone's timeout (then CANCELs).
    pub async fn call(&self, user: &str, codec: Codec) -> Result<PhoneCall> {
        self.call_with(user, Offer::audio(codec)).await
    }

    /// Like [`Phone::call`] with a hand-written audio offer: `formats` is the
    /// `m=audio` payload type list, `attributes` the `a=` lines after it
    /// (`call_offering("room1", "18", &["a=rtpmap:18 G729/8000"])` expects a 488).
    pub async fn call_offering(
        &self,
        user: &str,
        formats: &str,
        attributes: &[&str],
    ) -> Result<PhoneCall> {
        let offer = Offer {
            formats: formats.to_owned(),
            attributes: attributes.iter().map(|&a| a.to_owned()).collect(),
            delayed: false,
        };
        self.call_with(user, offer).await
    }

    /// Like [`Phone::call`], as a trunk with a delayed offer: an INVITE
    /// without SDP, and our answer (`codec` and telephone-event 101) to the
    /// server's offer in the ACK.
    pub async fn call_delayed(&self, user: &str, codec: Codec) -> Result<PhoneCall> {
        let offer = Offer {
            delayed: true,
            ..Offer::audio(codec)
        };
        self.call_with(user, offer).await
    }

    async fn call_with(&self, user: &str, offer: Offer) -> Result<PhoneCall> {
        let spare = lock(&self.spare_rtp).take();
        let rtp = match spare {
            Some(socket) => socket,
            None => UdpSocket::bind(SocketAddr::new(self.shared.local.ip(), 0)).await?,
        };
        let local_rtp = rtp.local_addr()?;
        let sdp = offer.render(local_rtp, 1, Direction::SendRecv);
        let server = self.shared.server;
        let local = self.shared.local;
        let uri = format!("sip:{user}@{server}");
        let dialog = DialogStart {
            call_id: format!("{:016x}@testkit", random_u64()?),
            from: format!("<sip:{}@{local}>;tag={:x}", self.caller, random_u64()?),
            to: format!("<{uri}>"),
            uri,
        };
        let (bye_tx, bye_rx) = watch::channel(false);
        lock(&self.shared.state).dialogs.insert(
            dialog.call_id.clone(),
            DialogSlot {
                local_sdp: sdp.clone(),
                bye: bye_tx,
                requests: Vec::new(),
            },
        );
        let result = PhoneCall::establish(
            self.shared.clone(),
            dialog,
            rtp,
            offer,
            sdp,
            bye_rx,
            self.timeout,
        )
        .await;
        if let Err(e) = &result {
            tracing::debug!(error = %e, "call not established");
        }
        result
    }
}

pub(crate) fn loopback(server: SocketAddr) -> IpAddr {
    match server {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}
