//! The RTSP server: gst-rtsp-server on its own GLib main loop thread.

mod backchannel;
mod connections;
mod factory;

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use gst::glib;
use gst_rtsp_server::prelude::*;
use tracing::info;

use crate::config::{Config, Role, User};
use crate::media::Hub;

pub const MAIN_PATH: &str = "/stream";
pub const SUB_PATH: &str = "/sub";

pub struct RtspServer {
    auth: gst_rtsp_server::RTSPAuth,
    /// Who `auth` knows now, so that a reload can remove whoever left.
    users: std::sync::Mutex<Vec<String>>,
    main_loop: glib::MainLoop,
    thread: crate::platform::worker::Worker,
    port: u16,
}

impl RtspServer {
    pub fn start(
        config: &Config,
        listen: IpAddr,
        hub: Arc<Hub>,
        with_audio: bool,
        speaker: Option<Arc<crate::audio::Output>>,
    ) -> anyhow::Result<Self> {
        let context = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<u16>>();
        let auth = gst_rtsp_server::RTSPAuth::new();
        auth.set_supported_methods(gst_rtsp::RTSPAuthMethod::Digest);
        auth.set_realm(Some(crate::REALM));
        for user in &config.users {
            auth.add_digest(&user.name, &user.password, &token(user.role));
        }
        let users = std::sync::Mutex::new(config.users.iter().map(|u| u.name.clone()).collect());
        let server_auth = auth.clone();
        let config = config.clone();
        let thread_loop = main_loop.clone();
        let thread = crate::platform::worker::Worker::spawn("rtsp", move || {
            let result = context.with_thread_default(|| {
                let server = build(&config, listen, &hub, with_audio, speaker, &server_auth)?;
                server.attach(Some(&context)).map_err(|e| {
                    anyhow!(
                        "cannot listen for RTSP on {listen} port {}: {e}",
                        config.rtsp.port
                    )
                })?;
                connections::watch(&server, &context, &config, &hub);
                Ok(server)
            });
            match result {
                Ok(Ok(server)) => {
                    let _ = ready_tx.send(Ok(u16::try_from(server.bound_port()).unwrap_or(0)));
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
        let port = ready_rx.recv().context("RTSP thread ended early")??;
        info!(%listen, port, "RTSP server listening");
        Ok(Self {
            auth,
            users,
            main_loop,
            thread,
            port,
        })
    }

    /// Replaces the accounts RTSP accepts; sessions already playing go on.
    pub fn set_users(&self, users: &[User]) {
        let mut known = self
            .users
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for name in known.drain(..) {
            self.auth.remove_digest(&name);
        }
        for user in users {
            self.auth
                .add_digest(&user.name, &user.password, &token(user.role));
            known.push(user.name.clone());
        }
    }

    pub fn port(&self) -> u16 {
        self.port
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

fn build(
    config: &Config,
    listen: IpAddr,
    hub: &Arc<Hub>,
    with_audio: bool,
    speaker: Option<Arc<crate::audio::Output>>,
    auth: &gst_rtsp_server::RTSPAuth,
) -> anyhow::Result<gst_rtsp_server::RTSPOnvifServer> {
    let server = gst_rtsp_server::RTSPOnvifServer::new();
    server.set_address(&listen.to_string());
    server.set_service(&config.rtsp.port.to_string());
    // Bodies are tiny in RTSP; a large Content-Length is an attack, not a request.
    server.set_content_length_limit(64 * 1024);

    server.set_auth(Some(auth));

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
    Ok(server)
}
