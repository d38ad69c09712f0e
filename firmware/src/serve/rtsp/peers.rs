//! Who is on the other end of each RTSP connection. The RTSP port is accepted here rather than
//! by gst-rtsp-server, so that each client is known by its address: the login throttle counts
//! per address, and connections relayed from the HTTP tunnel or RTSPS come from this host on
//! behalf of a real client, whose address they register before connecting.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex, PoisonError};

use gst::glib::prelude::*;

/// A client's address, and whether its connection came through RTSPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// The peers of the RTSP clients now connected, by client.
#[derive(Default)]
pub struct Peers {
    clients: Mutex<HashMap<usize, Peer>>,
    /// The account each client last logged in with: when its password changes or it goes,
    /// its connections are closed.
    users: Mutex<HashMap<usize, String>>,
}

fn key(client: &gst_rtsp_server::RTSPClient) -> usize {
    client.as_ptr() as usize
}

impl Peers {
    pub fn insert(&self, client: &gst_rtsp_server::RTSPClient, peer: Peer) {
        self.lock().insert(key(client), peer);
    }

    pub fn remove(&self, client: &gst_rtsp_server::RTSPClient) {
        self.lock().remove(&key(client));
        self.users_lock().remove(&key(client));
    }

    pub fn set_user(&self, client: &gst_rtsp_server::RTSPClient, user: &str) {
        let mut users = self.users_lock();
        if users.get(&key(client)).is_none_or(|u| u != user) {
            users.insert(key(client), user.to_string());
        }
    }

    /// The account `client` logged in with.
    pub fn user(&self, client: &gst_rtsp_server::RTSPClient) -> Option<String> {
        self.users_lock().get(&key(client)).cloned()
    }

    fn users_lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, String>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, client: &gst_rtsp_server::RTSPClient) -> Option<Peer> {
        self.lock().get(&key(client)).copied()
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// How many connections `ip` holds now (relayed ones count for their client).
    pub fn from(&self, ip: std::net::IpAddr) -> usize {
        self.lock().values().filter(|p| p.addr.ip() == ip).count()
    }

    /// The peer of the client whose request is being handled on this thread.
    pub fn current(&self) -> Option<Peer> {
        gst_rtsp_server::RTSPContext::with_current_context(|ctx| {
            ctx.client().and_then(|c| self.get(c))
        })
        .flatten()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Peer>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The connections this process opened to its own RTSP port, by their local address: the
/// client each one carries.
static RELAYED: LazyLock<Mutex<HashMap<SocketAddr, Peer>>> = LazyLock::new(Mutex::default);

/// While alive, connections from `local` are taken for the client they relay.
pub(super) struct Relayed {
    local: SocketAddr,
}

impl Drop for Relayed {
    fn drop(&mut self) {
        RELAYED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.local);
    }
}

/// Connects to the RTSP server at `rtsp` (an address of this host) on behalf of `client`. The
/// local address is bound and registered before connecting, so the accepting side finds it;
/// nobody else can connect from it while it is bound.
async fn connect(
    rtsp: SocketAddr,
    client: Peer,
) -> std::io::Result<(tokio::net::TcpStream, Relayed)> {
    let socket = if rtsp.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(rtsp.ip(), 0))?;
    let local = socket.local_addr()?;
    RELAYED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(local, client);
    let relayed = Relayed { local };
    let stream = socket.connect(rtsp).await?;
    // The relay passes on what it reads at once, in both directions.
    stream.set_nodelay(true)?;
    Ok((stream, relayed))
}

/// Splices `client` (the HTTP tunnel's half, or an RTSPS connection once its TLS is done) to
/// the RTSP server at `rtsp` on behalf of `peer`, after `head` (what was already read from
/// the client), until either side closes.
pub async fn relay(
    mut client: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    head: &[u8],
    rtsp: SocketAddr,
    peer: Peer,
) {
    use tokio::io::AsyncWriteExt as _;
    match connect(rtsp, peer).await {
        Ok((mut server, _relayed)) => {
            if server.write_all(head).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        }
        Err(e) => tracing::debug!(peer = %peer.addr, "RTSP server unreachable for a relay: {e}"),
    }
}

/// Who a connection accepted from `addr` is: the relayed client when it is one of ours.
pub(super) fn resolve(addr: SocketAddr) -> Peer {
    RELAYED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&addr)
        .copied()
        .unwrap_or(Peer { addr, tls: false })
}
