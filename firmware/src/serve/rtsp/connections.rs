//! Limits on RTSP clients: a viewer limit, session timeouts, and no idle connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gst::glib;
use gst_rtsp_server::prelude::*;
use tracing::{debug, info};

use crate::config::Config;
use crate::media::Hub;

/// A connection that has set up no session within this time is closed, so half-open or
/// silent connections cannot pile up.
const IDLE_CONNECTION: Duration = Duration::from_secs(30);
const SWEEP_EVERY: Duration = Duration::from_secs(2);

pub(super) fn watch(
    server: &gst_rtsp_server::RTSPOnvifServer,
    context: &glib::MainContext,
    config: &Config,
    hub: &Arc<Hub>,
) {
    let connected: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let max = config.rtsp.max_clients as usize;
    let timeout = config.rtsp.session_timeout_s;

    let connected_c = Arc::clone(&connected);
    let hub_c = Arc::clone(hub);
    server.connect_client_connected(move |_, client| {
        let key = client.as_ptr() as usize;
        connected_c
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Instant::now());
        let connected_closed = Arc::clone(&connected_c);
        client.connect_closed(move |_| {
            connected_closed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key);
        });
        client.connect_new_session(move |_, session| session.set_timeout(timeout));
        let hub_d = Arc::clone(&hub_c);
        client.connect_pre_describe_request(move |_, _| admit(&hub_d, max, max));
        // SETUP after DESCRIBE reuses that media; only a SETUP without DESCRIBE adds one.
        let hub_s = Arc::clone(&hub_c);
        client.connect_pre_setup_request(move |_, _| admit(&hub_s, max, max + 1));
    });

    let server_weak = server.downgrade();
    let source = glib::timeout_source_new(SWEEP_EVERY, None, glib::Priority::DEFAULT, move || {
        let Some(server) = server_weak.upgrade() else {
            return glib::ControlFlow::Break;
        };
        if let Some(pool) = server.session_pool() {
            pool.cleanup();
        }
        let now = Instant::now();
        let connected = Arc::clone(&connected);
        server.client_filter(Some(&mut |_, client| {
            let key = client.as_ptr() as usize;
            let since = connected
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&key)
                .copied();
            let idle = since.is_some_and(|t| now.duration_since(t) > IDLE_CONNECTION);
            if idle && client.session_filter(None).is_empty() {
                debug!("closing an RTSP connection that set up no session");
                gst_rtsp_server::RTSPFilterResult::Remove
            } else {
                gst_rtsp_server::RTSPFilterResult::Keep
            }
        }));
        glib::ControlFlow::Continue
    });
    source.attach(Some(context));
}

fn admit(hub: &Hub, max: usize, limit: usize) -> gst_rtsp::RTSPStatusCode {
    if hub.viewers() >= limit {
        info!(max, "viewer limit reached: answering 503");
        hub.stats
            .viewers_refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        gst_rtsp::RTSPStatusCode::ServiceUnavailable
    } else {
        gst_rtsp::RTSPStatusCode::Ok
    }
}
