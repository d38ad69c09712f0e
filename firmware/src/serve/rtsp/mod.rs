//! The RTSP servers, plain and RTSPS: gst-rtsp-server on its own GLib main loop thread.

mod accept;
mod auth;
mod backchannel;
mod connections;
mod factory;
mod peers;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use gst::glib;
use gst_rtsp_server::prelude::*;
use tracing::info;

use crate::config::{Config, Role, User};
use crate::media::Hub;
use crate::platform::certificate::Certificate;
use crate::serve::http::Authenticator;

pub use peers::{Peer, relay};

pub const MAIN_PATH: &str = "/stream";
pub const SUB_PATH: &str = "/sub";

pub struct RtspServer {
    auth: auth::Auth,
    /// Who the auth knows now (name and password), so that a change can remove whoever left
    /// and close the connections of whoever's password changed.
    users: std::sync::Mutex<Vec<(String, String)>>,
    peers: Arc<peers::Peers>,
    /// The server, for closing clients; it lives on its main loop's thread.
    server: gst_rtsp_server::RTSPOnvifServer,
    main_loop: glib::MainLoop,
    thread: crate::platform::worker::Worker,
    port: u16,
    /// Where this host reaches the plain server: what the HTTP tunnel and RTSPS relay to.
    local: SocketAddr,
    /// RTSPS, until [`RtspServer::serve`] starts serving it.
    tls: std::sync::Mutex<Option<(std::net::TcpListener, rustls::ServerConfig)>>,
}

impl RtspServer {
    /// The RTSP server on its GLib thread, and the RTSPS port bound (served from
    /// [`RtspServer::serve`], on the runtime).
    pub fn start(
        config: &Config,
        listen: IpAddr,
        hub: Arc<Hub>,
        with_audio: bool,
        speaker: Option<Arc<crate::audio::Output>>,
        certificate: &Certificate,
    ) -> anyhow::Result<Self> {
        let tls = (config.rtsp.tls_port != 0)
            .then(|| -> anyhow::Result<_> {
                let addr = SocketAddr::new(listen, config.rtsp.tls_port);
                let listener = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen for RTSPS on {addr}"))?;
                listener.set_nonblocking(true)?;
                let server_config = certificate
                    .server_config()
                    .context("the camera's certificate for RTSPS")?;
                Ok((listener, server_config))
            })
            .transpose()?;
        let tls_port = match &tls {
            Some((l, _)) => Some(l.local_addr()?.port()),
            None => None,
        };
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let (ready_tx, ready_rx) =
            std::sync::mpsc::channel::<anyhow::Result<(u16, gst_rtsp_server::RTSPOnvifServer)>>();
        let peers = Arc::new(peers::Peers::default());
        let auth = auth::Auth::new(Arc::clone(&peers));
        auth.set_supported_methods(gst_rtsp::RTSPAuthMethod::Digest);
        auth.set_realm(Some(crate::REALM));
        for user in &config.users {
            auth.add_digest(&user.name, &user.password, &token(user));
        }
        let users = std::sync::Mutex::new(
            config
                .users
                .iter()
                .map(|u| (u.name.clone(), u.password.clone()))
                .collect(),
        );
        let thread_peers = Arc::clone(&peers);
        let server_auth = auth.clone().upcast::<gst_rtsp_server::RTSPAuth>();
        let config = config.clone();
        let thread_loop = main_loop.clone();
        let thread = crate::platform::worker::Worker::spawn("rtsp", move || {
            let result = context.with_thread_default(|| {
                let server = build(&hub, with_audio, speaker, &server_auth, &thread_peers);
                let port = accept::listen(
                    &server,
                    &context,
                    SocketAddr::new(listen, config.rtsp.port),
                    &thread_peers,
                )?;
                connections::watch(&server, &context, &config, &hub);
                Ok((server, port))
            });
            match result {
                Ok(Ok((server, port))) => {
                    let _ = ready_tx.send(Ok((port, server)));
                    thread_loop.run();
                }
                Ok(Err(e)) => {
                    let _ = ready_tx.send(Err(e));
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow!("RTSP main context: {e}")));
                }
            }
        })
        .context("starting the RTSP thread")?;
        let (port, server) = ready_rx.recv().context("RTSP thread ended early")??;
        info!(%listen, port, "RTSP server listening");
        if let Some(tls_port) = tls_port {
            info!(%listen, port = tls_port, "RTSPS server listening");
        }
        let local = SocketAddr::new(
            if listen.is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                listen
            },
            port,
        );
        Ok(Self {
            auth,
            users,
            peers,
            server,
            main_loop,
            thread,
            port,
            local,
            tls: std::sync::Mutex::new(tls),
        })
    }

    /// On the runtime: failed RTSP logins count in `throttle` from now on, and RTSPS is
    /// served (the task ends with the runtime).
    pub fn serve(&self, throttle: Arc<Authenticator>) {
        self.auth.set_throttle(throttle);
        let tls = self
            .tls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some((listener, config)) = tls {
            tokio::spawn(tls::serve(listener, config, self.local));
        }
    }

    /// Replaces the accounts RTSP accepts. The connections of an account that is gone or
    /// whose password changed are closed, streams and all: whoever watched with the old
    /// password stops watching now, not at their next request.
    pub fn set_users(&self, users: &[User]) {
        let mut known = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ended: Vec<String> = known
            .iter()
            .filter(|(name, password)| {
                !users
                    .iter()
                    .any(|u| &u.name == name && &u.password == password)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for (name, _) in known.iter() {
            self.auth.remove_digest(name);
        }
        for user in users {
            self.auth
                .add_digest(&user.name, &user.password, &token(user));
        }
        *known = users
            .iter()
            .map(|u| (u.name.clone(), u.password.clone()))
            .collect();
        drop(known);
        if !ended.is_empty() {
            self.close_clients_of(ended);
        }
    }

    /// Ends, on the server's thread, the sessions and connections of every client logged in as
    /// one of `users`. A UDP session would outlive its connection (a client may come back for
    /// it), so the sessions go from the pool first.
    fn close_clients_of(&self, users: Vec<String>) {
        let server = self.server.clone();
        let peers = Arc::clone(&self.peers);
        self.main_loop.context().invoke(move || {
            let mut clients = Vec::new();
            server.client_filter(Some(&mut |_, client| {
                if peers.user(client).is_some_and(|u| users.contains(&u)) {
                    clients.push(client.clone());
                }
                gst_rtsp_server::RTSPFilterResult::Keep
            }));
            let pool = server.session_pool();
            for client in &clients {
                if let Some(pool) = &pool {
                    for session in client.session_filter(None) {
                        let _ = pool.remove(&session);
                    }
                }
                client.close();
            }
            if !clients.is_empty() {
                info!(
                    closed = clients.len(),
                    "password changed or user removed: RTSP connections closed"
                );
            }
        });
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the plain server is reached from this host.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn stop(&self) {
        self.main_loop.quit();
        self.thread.join();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn token(user: &User) -> gst_rtsp_server::RTSPToken {
    gst_rtsp_server::RTSPToken::builder()
        .field(
            gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE,
            user.role.as_str(),
        )
        .field(auth::TOKEN_USER, user.name.as_str())
        .build()
}

/// The RTSP server; its port is accepted by [`accept::listen`].
fn build(
    hub: &Arc<Hub>,
    with_audio: bool,
    speaker: Option<Arc<crate::audio::Output>>,
    auth: &gst_rtsp_server::RTSPAuth,
    peers: &Arc<peers::Peers>,
) -> gst_rtsp_server::RTSPOnvifServer {
    let server = gst_rtsp_server::RTSPOnvifServer::new();
    let mounts = server.mount_points();
    for (path, track) in [
        (MAIN_PATH, crate::media::Track::Main),
        (SUB_PATH, crate::media::Track::Sub),
    ] {
        let factory = factory::make(
            track,
            Arc::clone(hub),
            with_audio,
            speaker.clone(),
            Arc::clone(peers),
        );
        for role in [Role::Admin, Role::Operator, Role::User] {
            factory.add_role_from_structure(
                &gst::Structure::builder(role.as_str())
                    .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        if let Some(mounts) = &mounts {
            mounts.add_factory(path, factory);
        }
    }
    // Bodies are tiny in RTSP; a large Content-Length is an attack, not a request.
    server.set_content_length_limit(64 * 1024);
    server.set_auth(Some(auth));
    server
}
