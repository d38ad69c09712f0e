//! RTSP logins: gst-rtsp-server checks the Digest response; this counts failed logins per
//! client address in the throttle HTTP Digest and ONVIF WS-Security use, and refuses a client
//! that the throttle holds back. And the backchannel (the nursery's speaker) is refused with
//! 403 to an account that may only watch.

use std::sync::{Arc, OnceLock};

use gst::glib;
use gst_rtsp_server::prelude::*;
use gst_rtsp_server::subclass::prelude::*;

use super::peers::Peers;
use crate::serve::http::Authenticator;

/// The token field with the account's name, for the first-login bookkeeping.
pub(super) const TOKEN_USER: &str = "babymonitor.user";

glib::wrapper! {
    pub struct Auth(ObjectSubclass<imp::Auth>) @extends gst_rtsp_server::RTSPAuth;
}

impl Auth {
    pub fn new(peers: Arc<Peers>) -> Self {
        let auth: Self = glib::Object::new();
        let _ = auth.imp().peers.set(peers);
        auth
    }

    /// From now on failed logins count in `throttle`, and throttled addresses are refused.
    pub fn set_throttle(&self, throttle: Arc<Authenticator>) {
        let _ = self.imp().throttle.set(throttle);
    }
}

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct Auth {
        pub(super) peers: OnceLock<Arc<Peers>>,
        pub(super) throttle: OnceLock<Arc<Authenticator>>,
        /// Only for gst's test whether a request asks for the ONVIF backchannel (its
        /// `Require` header), the same test that gives a media one; it serves nothing.
        pub(super) talk: OnceLock<gst_rtsp_server::RTSPOnvifMediaFactory>,
    }

    impl Auth {
        /// Whether the request asks for the backchannel for an account that may not talk.
        fn watch_only_talk(&self, ctx: &gst_rtsp_server::RTSPContext) -> bool {
            let talk = self
                .talk
                .get_or_init(gst_rtsp_server::RTSPOnvifMediaFactory::new);
            if !talk.requires_backchannel(ctx) {
                return false;
            }
            let role = ctx.token().and_then(|t| {
                t.string(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE)
                    .map(|r| r.to_string())
            });
            !super::super::factory::may_talk(role.as_deref())
        }
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Auth {
        const NAME: &'static str = "BabymonitorRtspAuth";
        type Type = super::Auth;
        type ParentType = gst_rtsp_server::RTSPAuth;
    }

    impl ObjectImpl for Auth {}

    impl RTSPAuthImpl for Auth {
        fn authenticate(&self, ctx: &gst_rtsp_server::RTSPContext) -> bool {
            let peer = self
                .peers
                .get()
                .and_then(|peers| ctx.client().and_then(|c| peers.get(c)));
            let (Some(peer), Some(throttle)) = (peer, self.throttle.get()) else {
                return self.parent_authenticate(ctx);
            };
            let ip = peer.addr.ip();
            if throttle.throttled(ip).is_some() {
                // Refused without looking at the password, so guessing on gets nowhere. gst
                // answers a failed authentication with 401 and nothing else can be sent
                // from here; 401 also tells a guesser nothing about the guess.
                tracing::debug!(peer = %ip, "RTSP login from a throttled address refused");
                return false;
            }
            if !self.parent_authenticate(ctx) {
                return false;
            }
            match ctx.token() {
                Some(token) => {
                    if let Some(user) = token.string(TOKEN_USER) {
                        crate::platform::first_boot::logged_in(user.as_str());
                        if let (Some(peers), Some(client)) = (self.peers.get(), ctx.client()) {
                            peers.set_user(client, user.as_str());
                        }
                    }
                }
                None => {
                    let sent = ctx
                        .request()
                        .is_some_and(|r| !r.parse_auth_credentials().is_empty());
                    if sent {
                        tracing::warn!(peer = %ip, "RTSP login refused");
                        throttle.record_failure(ip);
                    }
                }
            }
            true
        }

        fn check(&self, ctx: &gst_rtsp_server::RTSPContext, check: &glib::GString) -> bool {
            if !self.parent_check(ctx, check) {
                return false;
            }
            if check.as_str() != gst_rtsp_server::RTSP_AUTH_CHECK_MEDIA_FACTORY_ACCESS
                || !self.watch_only_talk(ctx)
            {
                return true;
            }
            tracing::info!("RTSP backchannel asked for by a watch-only account: 403");
            // As gst answers its own refusals here: the reply is sent, then `false`.
            if let (Some(client), Some(response)) = (ctx.client(), ctx.response()) {
                response.init_response(gst_rtsp::RTSPStatusCode::Forbidden, ctx.request());
                let _ = client.send_message(response, ctx.session());
            }
            false
        }
    }
}
