//! `POST /api/talk`: the page's push-to-talk connection (WHIP-like: the browser's SDP offer with
//! its microphone in, the answer out with `201 Created` and a `Location`; `DELETE` ends it).
//! Talking needs an operator or admin, as every other change to the speaker does.

use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Method, Response, StatusCode};

use super::auth::AuthedUser;
use super::whep::{Endpoint, connection};
use super::{AppState, Body, text};
use crate::config::Role;
use crate::serve::webrtc::Kind;

pub(super) const PREFIX: &str = "/api/talk";

const TALK: Endpoint = Endpoint {
    prefix: PREFIX,
    kind: Kind::Talk,
    name: "talk",
    ended: "talk ended\n",
    unknown: "no such talk connection\n",
    trickle: false,
};

pub(super) async fn serve(
    state: &Arc<AppState>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    user: &AuthedUser,
    body: Bytes,
) -> Response<Body> {
    let start = || {
        if user.role == Role::User {
            return Err(Box::new(text(
                StatusCode::FORBIDDEN,
                "this account may only watch\n",
            )));
        }
        let Some(output) = state.audio.as_ref().map(|a| Arc::clone(&a.output)) else {
            return Err(Box::new(text(
                StatusCode::NOT_FOUND,
                "this camera has no speaker\n",
            )));
        };
        let who = format!("web page ({})", user.name);
        Ok(move |st: &AppState, body: &[u8]| st.web.connections.start_talk(body, &output, &who))
    };
    connection(state, &TALK, method, path, headers, body, start).await
}
