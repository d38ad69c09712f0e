//! The RTSP servers, plain and RTSPS: gst-rtsp-server on its own GLib main loop thread.

mod backchannel;
mod connections;
mod factory;

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use gst::glib;
use gst_rtsp_server::gio;
use gst_rtsp_server::prelude::*;
use tracing::info;

use crate::config::{Config, Role, User};
use crate::media::Hub;
use crate::platform::certificate::Certificate;

pub const MAIN_PATH: &str = "/stream";
pub const SUB_PATH: &str = "/sub";

pub struct RtspServer {
    /// One per server (plain, then RTSPS): gst-rtsp-server keeps the TLS certificate in the
    /// auth.
    auths: Vec<gst_rtsp_server::RTSPAuth>,
    /// Who the auths know now, so that a reload can remove whoever left.
    users: std::sync::Mutex<Vec<String>>,
    main_loop: glib::MainLoop,
    thread: crate::platform::worker::Worker,
    port: u16,
    tls_port: Option<u16>,
}

impl RtspServer {
    pub fn start(
        config: &Config,
        listen: IpAddr,
        hub: Arc<Hub>,
        with_audio: bool,
        speaker: Option<Arc<crate::audio::Output>>,
        certificate: &Certificate,
    ) -> anyhow::Result<Self> {
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<(u16, Option<u16>)>>();
        let mut auths = vec![gst_rtsp_server::RTSPAuth::new()];
        if config.rtsp.tls_port != 0 {
            let pem = format!("{}\n{}", certificate.chain_pem, certificate.key_pem);
            let certificate = gio::TlsCertificate::from_pem(&pem)
                .context("the camera's certificate for RTSPS (is glib-networking installed?)")?;
            let tls = gst_rtsp_server::RTSPAuth::new();
            tls.set_tls_certificate(Some(&certificate));
            auths.push(tls);
        }
        for auth in &auths {
            auth.set_supported_methods(gst_rtsp::RTSPAuthMethod::Digest);
            auth.set_realm(Some(crate::REALM));
            for user in &config.users {
                auth.add_digest(&user.name, &user.password, &token(user.role));
            }
        }
        let users = std::sync::Mutex::new(config.users.iter().map(|u| u.name.clone()).collect());
        let server_auths = auths.clone();
        let config = config.clone();
        let thread_loop = main_loop.clone();
        let thread = crate::platform::worker::Worker::spawn("rtsp", move || {
            let result = context.with_thread_default(|| {
                let servers = build(&config, listen, &hub, with_audio, speaker, &server_auths)?;
                for (server, port) in &servers {
                    server.attach(Some(&context)).map_err(|e| {
                        anyhow!("cannot listen for RTSP on {listen} port {port}: {e}")
                    })?;
                    connections::watch(server, &context, &config, &hub);
                }
                Ok(servers)
            });
            match result {
                Ok(Ok(servers)) => {
                    let bound = |i: usize| {
                        servers
                            .get(i)
                            .map(|(s, _)| u16::try_from(s.bound_port()).unwrap_or(0))
                    };
                    let _ = ready_tx.send(Ok((bound(0).unwrap_or(0), bound(1))));
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
        let (port, tls_port) = ready_rx.recv().context("RTSP thread ended early")??;
        info!(%listen, port, "RTSP server listening");
        if let Some(tls_port) = tls_port {
            info!(%listen, port = tls_port, "RTSPS server listening");
        }
        Ok(Self {
            auths,
            users,
            main_loop,
            thread,
            port,
            tls_port,
        })
    }

    /// Replaces the accounts RTSP accepts; sessions already playing go on.
    pub fn set_users(&self, users: &[User]) {
        let mut known = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for auth in &self.auths {
            for name in known.iter() {
                auth.remove_digest(name);
            }
            for user in users {
                auth.add_digest(&user.name, &user.password, &token(user.role));
            }
        }
        *known = users.iter().map(|u| u.name.clone()).collect();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The RTSPS port, when RTSPS is served.
    pub fn tls_port(&self) -> Option<u16> {
        self.tls_port
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

fn token(role: Role) -> gst_rtsp_server::RTSPToken {
    gst_rtsp_server::RTSPToken::builder()
        .field(
            gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE,
            role.as_str(),
        )
        .build()
}

/// The plain RTSP server and, with a second auth, the RTSPS one: each listens on one port, so
/// RTSPS is a second server over the same mount points and session pool.
fn build(
    config: &Config,
    listen: IpAddr,
    hub: &Arc<Hub>,
    with_audio: bool,
    speaker: Option<Arc<crate::audio::Output>>,
    auths: &[gst_rtsp_server::RTSPAuth],
) -> anyhow::Result<Vec<(gst_rtsp_server::RTSPOnvifServer, u16)>> {
    let server = gst_rtsp_server::RTSPOnvifServer::new();
    let mounts = server
        .mount_points()
        .context("RTSP server without mount points")?;
    for (path, track) in [
        (MAIN_PATH, crate::media::Track::Main),
        (SUB_PATH, crate::media::Track::Sub),
    ] {
        let factory = factory::make(track, Arc::clone(hub), with_audio, speaker.clone());
        for role in [Role::Admin, Role::Operator, Role::User] {
            factory.add_role_from_structure(
                &gst::Structure::builder(role.as_str())
                    .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                    .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                    .build(),
            );
        }
        mounts.add_factory(path, factory);
    }
    let pool = server.session_pool();
    let mut servers = vec![(server, config.rtsp.port)];
    for _ in auths.iter().skip(1) {
        let tls = gst_rtsp_server::RTSPOnvifServer::new();
        tls.set_mount_points(Some(&mounts));
        tls.set_session_pool(pool.as_ref());
        servers.push((tls, config.rtsp.tls_port));
    }
    for ((server, port), auth) in servers.iter().zip(auths) {
        server.set_address(&listen.to_string());
        server.set_service(&port.to_string());
        // Bodies are tiny in RTSP; a large Content-Length is an attack, not a request.
        server.set_content_length_limit(64 * 1024);
        server.set_auth(Some(auth));
    }
    Ok(servers)
}
