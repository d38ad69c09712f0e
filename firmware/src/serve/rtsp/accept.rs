//! The plain RTSP port, accepted here and handed to gst-rtsp-server with each client's
//! address, which gst does not make reachable from Rust otherwise.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use gst::glib;
use gst_rtsp_server::gio;
use gst_rtsp_server::gio::prelude::*;
use gst_rtsp_server::prelude::*;
use tracing::{debug, warn};

use super::peers::{self, Peer, Peers};

/// Connections beyond this are closed at once: each costs a GStreamer client and its buffers.
const MAX_CONNECTIONS: usize = 128;
/// Connections one address may hold, so that one machine holding idle connections cannot shut
/// the NVRs and phones out (an NVR holds one or two per stream).
const MAX_PER_ADDRESS: usize = 32;
/// After an accept error (out of file descriptors, say) the port is left alone this long
/// rather than polled in a loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(500);

/// Listens on `addr` for `server`, whose clients are served on `context`; the bound port.
pub(super) fn listen(
    server: &gst_rtsp_server::RTSPOnvifServer,
    context: &glib::MainContext,
    addr: SocketAddr,
    peers: &Arc<Peers>,
) -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen for RTSP on {addr}"))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let socket = gio::Socket::from_fd(OwnedFd::from(listener))
        .map_err(|e| anyhow::anyhow!("RTSP socket: {e}"))?;
    // A GSocket blocks by default whatever its descriptor says: accept() would then wait for
    // the next client on the RTSP thread, and nothing else on it (requests, the stop) would run.
    socket.set_blocking(false);

    // gst says "client-connected" while the connection is handed over, on this thread: the
    // peer being handed over is the new client's.
    let handing: Arc<Mutex<Option<Peer>>> = Arc::default();
    let handing_c = Arc::clone(&handing);
    let peers_c = Arc::clone(peers);
    server.connect_client_connected(move |_, client| {
        let Some(peer) = handing_c
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        peers_c.insert(client, peer);
        let peers_closed = Arc::clone(&peers_c);
        client.connect_closed(move |client| peers_closed.remove(client));
    });
    watch(
        socket,
        server.downgrade(),
        context.clone(),
        Arc::clone(peers),
        handing,
    );
    Ok(port)
}

fn watch(
    socket: gio::Socket,
    server: glib::WeakRef<gst_rtsp_server::RTSPOnvifServer>,
    context: glib::MainContext,
    peers: Arc<Peers>,
    handing: Arc<Mutex<Option<Peer>>>,
) {
    let again = (
        server.clone(),
        context.clone(),
        Arc::clone(&peers),
        Arc::clone(&handing),
    );
    let source = gio::prelude::SocketExtManual::create_source(
        &socket,
        glib::IOCondition::IN,
        None::<&gio::Cancellable>,
        Some("rtsp-accept"),
        glib::Priority::DEFAULT,
        move |listener, _| {
            let Some(server) = server.upgrade() else {
                return glib::ControlFlow::Break;
            };
            loop {
                match listener.accept(None::<&gio::Cancellable>) {
                    Ok(connection) => hand_over(&server, connection, &peers, &handing),
                    Err(e) if e.matches(gio::IOErrorEnum::WouldBlock) => {
                        return glib::ControlFlow::Continue;
                    }
                    Err(e) => {
                        warn!("accepting an RTSP connection: {e}; pausing");
                        let (server, context, peers, handing) = again.clone();
                        // The source runs on this thread, like the listener's.
                        let listener = glib::thread_guard::ThreadGuard::new(listener.clone());
                        let retry = glib::timeout_source_new(
                            ACCEPT_BACKOFF,
                            None,
                            glib::Priority::DEFAULT,
                            move || {
                                watch(
                                    listener.get_ref().clone(),
                                    server.clone(),
                                    context.clone(),
                                    Arc::clone(&peers),
                                    Arc::clone(&handing),
                                );
                                glib::ControlFlow::Break
                            },
                        );
                        retry.attach(Some(&again.1));
                        return glib::ControlFlow::Break;
                    }
                }
            }
        },
    );
    source.attach(Some(&context));
}

fn hand_over(
    server: &gst_rtsp_server::RTSPOnvifServer,
    connection: gio::Socket,
    peers: &Peers,
    handing: &Mutex<Option<Peer>>,
) {
    let Some(addr) = connection
        .remote_address()
        .ok()
        .and_then(|a| a.downcast::<gio::InetSocketAddress>().ok())
        .map(SocketAddr::from)
    else {
        return;
    };
    let peer = peers::resolve(addr);
    if peers.len() >= MAX_CONNECTIONS {
        debug!(peer = %peer.addr, "too many RTSP connections: closing a new one");
        return;
    }
    if peers.from(peer.addr.ip()) >= MAX_PER_ADDRESS {
        debug!(peer = %peer.addr, "this address holds its maximum of RTSP connections: closing a new one");
        return;
    }
    // Interleaved RTP and the answers go out as written, not held for the client's delayed
    // ACK (IPPROTO_TCP, TCP_NODELAY).
    if let Err(e) = connection.set_option(6, 1, 1) {
        debug!(peer = %peer.addr, "TCP_NODELAY: {e}");
    }
    *handing.lock().unwrap_or_else(PoisonError::into_inner) = Some(peer);
    // The relayed client's own address: gst ties its Digest nonces to it, and sends UDP there.
    let handed = server.transfer_connection(
        connection,
        &peer.addr.ip().to_string(),
        i32::from(peer.addr.port()),
        None,
    );
    handing
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Err(e) = handed {
        warn!(peer = %peer.addr, "RTSP connection not taken by the server: {e}");
    }
}
