//! `POST /api/talk`: the page's push-to-talk connection (WHIP-like: the browser's SDP offer with
//! its microphone in, the answer out with `201 Created` and a `Location`; `DELETE` ends it).
//! Talking needs an operator or admin, as every other change to the speaker does (the route
//! table says so).

use std::sync::Arc;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};

use super::whep::{Endpoint, answer, end};
use crate::serve::http::auth::AuthedUser;
use crate::serve::http::{AppState, Body, text};
use crate::serve::webrtc::Kind;

pub(in crate::serve::http) const PREFIX: &str = "/api/talk";

const TALK: Endpoint = Endpoint {
    prefix: PREFIX,
    kind: Kind::Talk,
    name: "talk",
    ended: "talk ended\n",
    unknown: "no such talk connection\n",
};

/// `POST /api/talk`: the page's microphone, to the speaker.
pub(in crate::serve::http) async fn offer(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    user: &AuthedUser,
    body: Bytes,
) -> Response<Body> {
    let Some(output) = state.audio.as_ref().map(|a| Arc::clone(&a.output)) else {
        return text(StatusCode::NOT_FOUND, "this camera has no speaker\n");
    };
    let who = format!("web page ({})", user.name);
    let name = user.name.clone();
    let start =
        move |st: &AppState, body: &[u8]| st.web.connections.start_talk(body, &output, &name, &who);
    answer(state, &TALK, headers, body, start).await
}

/// `DELETE /api/talk/<id>`: the talk ends.
pub(in crate::serve::http) fn stop(state: &AppState, id: &str) -> Response<Body> {
    end(state, &TALK, id)
}
