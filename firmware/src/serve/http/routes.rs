//! Every HTTP route, declared in one table: method and path pattern, the access it needs, and
//! its handler. [`route`] matches a request against the table (an unknown path is 404, a known
//! path with another method is 405 with `Allow`), then the one authentication layer
//! ([`super::auth::admit`]) lets it through or refuses it, and only then is the handler called.
//! Handlers never check logins or roles themselves; they get the user in [`Call::user`].
//!
//! The path tree is matchit's (the router axum is built on), not axum: the server reads the
//! opening of each connection itself to hand RTSP-over-HTTP tunnels to the RTSP server
//! (`tunnel.rs`) and wraps the socket against stalled readers (`stream.rs`), and uploads and the
//! WebSocket take hyper's raw body and upgrade. A lookup table fits beside that without a tower
//! stack or a second body type.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use tracing::debug;

use super::auth::{self, AuthedUser};
use super::{AppState, Body, MAX_BODY, api, json, page, text};
use crate::config::Role;

/// Who may use a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Anyone, logged in or not: the page's files, its login, the health check.
    Public,
    /// ONVIF's SOAP services: their handler authenticates each operation (WS-Security or
    /// Digest) by the operation's own access class.
    Onvif,
    /// Any account: watching and reading.
    Viewer,
    /// An operator or admin: moving the camera, the speaker, talking.
    Operator,
    /// An admin.
    Admin,
}

impl Need {
    /// Whether `role` may use a route that needs `self` (once logged in).
    pub fn allows(self, role: Role) -> bool {
        match self {
            Need::Public | Need::Onvif | Need::Viewer => true,
            Need::Operator => matches!(role, Role::Operator | Role::Admin),
            Need::Admin => role == Role::Admin,
        }
    }

    /// Whether the layer asks for a login at all.
    pub fn needs_login(self) -> bool {
        !matches!(self, Need::Public | Need::Onvif)
    }
}

/// Over what a route is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS only: the page, its files and the JSON API. Over plain HTTP a browser's GET is
    /// sent to HTTPS, anything else refused: a login or a session cookie would cross the
    /// network in the clear, and browsers give the microphone only to secure pages.
    Https,
    /// Plain HTTP too (unless `[http] require_tls`): what NVRs need and may only speak
    /// plainly (ONVIF, snapshots, metrics, the health check, the clip upload ONVIF hands out).
    Any,
}

/// How a route takes its request body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Read whole (at most [`MAX_BODY`], within the body timeout) before the handler runs.
    Read,
    /// Left to the handler, unread: uploads, the WebSocket upgrade, SOAP.
    Stream,
}

/// One request as a handler sees it, after the layer let it through.
pub(super) struct Call {
    pub(super) state: Arc<AppState>,
    pub(super) peer: SocketAddr,
    /// Who sent it; on [`Need::Public`] and [`Need::Onvif`] routes, nobody yet (an empty name).
    pub(super) user: AuthedUser,
    pub(super) head: Parts,
    /// The body, for [`Take::Read`] routes.
    pub(super) body: Bytes,
    /// The unread body, for [`Take::Stream`] routes.
    stream: Option<Incoming>,
    /// Whether it came over HTTPS.
    pub(super) tls: bool,
    params: Vec<(String, String)>,
}

impl Call {
    /// The value of a `{name}` in the route's pattern.
    pub(super) fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The query string as `T`; the error says which parameter is wrong.
    pub(super) fn query<T: DeserializeOwned>(&self) -> Result<T, String> {
        super::query::parse(self.head.uri.query())
    }

    /// The request again, with its unread body, for the handlers of [`Take::Stream`] routes;
    /// on another route (a mistake in the table) a 500.
    pub(super) fn into_request(self) -> Result<Request<Incoming>, Box<Response<Body>>> {
        match self.stream {
            Some(body) => Ok(Request::from_parts(self.head, body)),
            None => Err(Box::new(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this route has read its body already\n",
            ))),
        }
    }
}

pub(super) type Reply = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;
type Handler = fn(Call) -> Reply;

/// A row of the table.
pub(super) struct Route {
    /// `None`: any method (the handler answers 405 itself).
    method: Option<Method>,
    pattern: &'static str,
    need: Need,
    take: Take,
    transport: Transport,
    handler: Handler,
}

impl Route {
    /// The row, served over plain HTTP too.
    pub(super) fn plain_too(self) -> Self {
        Self {
            transport: Transport::Any,
            ..self
        }
    }
}

pub(super) fn row(method: Method, pattern: &'static str, need: Need, handler: Handler) -> Route {
    Route {
        method: Some(method),
        pattern,
        need,
        take: Take::Read,
        // What is not declared otherwise is HTTPS only.
        transport: Transport::Https,
        handler,
    }
}

/// A row whose handler reads the body itself.
pub(super) fn streaming(
    method: Option<Method>,
    pattern: &'static str,
    need: Need,
    handler: Handler,
) -> Route {
    Route {
        method,
        pattern,
        need,
        take: Take::Stream,
        transport: Transport::Https,
        handler,
    }
}

/// A handler's answer that is there at once.
pub(super) fn now(r: Response<Body>) -> Reply {
    Box::pin(std::future::ready(r))
}

/// The table. Path parameters are `{name}`; a trailing `/` on a request is ignored.
fn table() -> Vec<Route> {
    use Method as M;
    use Need::*;
    use api::{audio, history, live, login, metrics, snapshot, status};
    let mut t = vec![
        row(M::GET, "/healthz", Public, |_| {
            now(text(StatusCode::OK, "ok\n"))
        })
        .plain_too(),
        row(M::POST, "/api/login", Public, |c| {
            Box::pin(async move { login::login(&c.state, &c.body, c.peer).await })
        }),
        streaming(None, "/onvif/{*service}", Onvif, |c| {
            Box::pin(async move {
                if !c.state.config().onvif.enabled {
                    return text(StatusCode::NOT_FOUND, "ONVIF is switched off\n");
                }
                let (state, peer, tls) = (Arc::clone(&c.state), c.peer, c.tls);
                match c.into_request() {
                    Ok(req) => super::onvif::serve(&state, req, peer, tls).await,
                    Err(r) => *r,
                }
            })
        })
        .plain_too(),
        row(M::POST, "/api/logout", Viewer, |c| {
            Box::pin(async move { login::logout(&c.state, &c.head.headers).await })
        }),
        row(M::GET, "/api/session", Viewer, |c| {
            now(api::session(&c.state, &c.user))
        }),
        row(M::GET, "/api/history", Viewer, |c| now(history::serve(&c))),
        row(M::GET, "/api/sleep", Viewer, |c| {
            now(api::sleep::nights(&c))
        }),
        row(M::GET, "/api/sleep.csv", Viewer, |c| {
            now(api::sleep::csv(&c))
        }),
        row(M::GET, "/api/status", Viewer, |c| {
            now(status::status(&c.state))
        }),
        row(M::GET, "/api/events", Viewer, |c| {
            now(status::events(&c.state, &c.user.name))
        }),
        row(M::PUT, "/api/simulate/climate", Admin, |c| {
            now(status::simulate_climate(&c.state, &c.body))
        }),
        row(M::POST, "/api/simulate/climate", Admin, |c| {
            now(status::simulate_climate(&c.state, &c.body))
        }),
        row(M::GET, "/snapshot.jpg", Viewer, |c| {
            Box::pin(async move { snapshot::serve(&c).await })
        })
        .plain_too(),
        row(M::HEAD, "/snapshot.jpg", Viewer, |c| {
            Box::pin(async move { snapshot::serve(&c).await })
        })
        .plain_too(),
        row(M::GET, "/metrics", Viewer, |c| {
            now(metrics::serve(&c.state))
        })
        .plain_too(),
        row(M::GET, "/info", Viewer, |c| now(api::index(&c.state))),
        streaming(Some(M::GET), live::PATH, Viewer, |c| {
            let state = Arc::clone(&c.state);
            now(c
                .into_request()
                .map_or_else(|r| *r, |req| live::serve(&state, req)))
        }),
    ];
    t.extend(listen_table());
    t.extend(webrtc_table());
    t.extend(controls_table());
    t.extend(audio::table());
    t.extend(api::alerts::table());
    t.extend(api::update::table());
    t.extend(clips_table());
    t.extend(page::FILES.iter().flat_map(|(path, _, _)| {
        [M::GET, M::HEAD].map(|m| row(m, path, Public, |c| now(page::serve(&c.head.uri))))
    }));
    t
}

/// Event clips (`/api/clips` is the speaker's sound clips): watching for anyone, deleting and keeping for operators.
fn clips_table() -> Vec<Route> {
    use Method as M;
    use Need::*;
    use api::recordings as clips;
    vec![
        row(M::GET, "/api/recordings", Viewer, |c| {
            now(clips::list(&c.state, clips::query(c.head.uri.query())))
        }),
        // `{id}` is `<clip id>.mp4` or `<clip id>.jpg`.
        row(M::GET, "/api/recordings/{id}", Viewer, |c| {
            Box::pin(async move { clips::file(&c.state, c.param("id"), &c.head.headers).await })
        }),
        row(M::DELETE, "/api/recordings/{id}", Operator, |c| {
            now(clips::delete(&c.state, c.param("id")))
        }),
        row(M::PUT, "/api/recordings/{id}/keep", Operator, |c| {
            now(clips::keep(&c.state, c.param("id"), &c.body))
        }),
    ]
}

/// The listen stream and its noise gate; the simulated microphone.
fn listen_table() -> Vec<Route> {
    use Method as M;
    use Need::*;
    use api::listen;
    vec![
        row(M::GET, "/api/listen.aac", Viewer, |c| {
            now(listen::stream(&c.state, &c.head))
        }),
        row(M::GET, "/api/listen", Viewer, |c| {
            now(listen::get(&c.state))
        }),
        row(M::PUT, "/api/listen", Operator, |c| {
            now(listen::put(&c.state, &c.body))
        }),
        row(M::PUT, "/api/simulate/sound", Admin, |c| {
            now(listen::simulate(&c.state, &c.body))
        }),
        row(M::GET, "/api/mqtt", Admin, |c| {
            now(api::mqtt::get(&c.state))
        }),
        row(M::PUT, "/api/mqtt", Admin, |c| {
            now(api::mqtt::put(&c.state, &c.user.name, &c.body))
        }),
    ]
}

/// WebRTC: watching for anyone, push-to-talk for operators.
fn webrtc_table() -> Vec<Route> {
    use Method as M;
    use Need::*;
    use api::{talk, whep};
    vec![
        row(M::POST, whep::PREFIX, Viewer, |c| {
            Box::pin(async move { whep::offer(&c.state, &c.head.headers, &c.user, c.body).await })
        }),
        row(M::DELETE, "/api/whep/{id}", Viewer, |c| {
            now(whep::stop(&c.state, c.param("id")))
        }),
        row(M::PATCH, "/api/whep/{id}", Viewer, |_| now(whep::trickle())),
        row(M::POST, talk::PREFIX, Operator, |c| {
            Box::pin(async move { talk::offer(&c.state, &c.head.headers, &c.user, c.body).await })
        }),
        row(M::DELETE, "/api/talk/{id}", Operator, |c| {
            now(talk::stop(&c.state, c.param("id")))
        }),
    ]
}

/// `/api/ptz...` and `/api/night`: reading for anyone, changing for operators.
fn controls_table() -> Vec<Route> {
    use Method as M;
    use Need::*;
    use api::controls as c;
    vec![
        row(M::GET, "/api/ptz", Viewer, |x| now(c::ptz(&x.state))),
        row(M::POST, "/api/ptz/move", Operator, |x| {
            now(c::start_move(&x.state, &x.body))
        }),
        row(M::POST, "/api/ptz/stop", Operator, |x| {
            now(c::stop(&x.state))
        }),
        row(M::POST, "/api/ptz/home", Operator, |x| {
            now(c::home(&x.state))
        }),
        row(M::GET, "/api/ptz/presets", Viewer, |x| {
            now(c::presets_list(&x.state))
        }),
        row(M::POST, "/api/ptz/presets", Operator, |x| {
            now(c::add_preset(&x.state, &x.body))
        }),
        row(M::POST, "/api/ptz/presets/{token}/goto", Operator, |x| {
            now(c::goto_preset(&x.state, x.param("token")))
        }),
        row(M::DELETE, "/api/ptz/presets/{token}", Operator, |x| {
            now(c::remove_preset(&x.state, x.param("token")))
        }),
        row(M::GET, "/api/night", Viewer, |x| {
            now(c::night_get(&x.state))
        }),
        row(M::POST, "/api/night", Operator, |x| {
            now(c::night_set(&x.state, &x.body))
        }),
    ]
}

/// The table, and the path tree that finds its rows.
struct Table {
    routes: Vec<Route>,
    /// Pattern → the rows with that pattern (one per method).
    tree: matchit::Router<Vec<usize>>,
}

impl Table {
    fn build(routes: Vec<Route>) -> Self {
        let mut by_pattern: Vec<(&'static str, Vec<usize>)> = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            match by_pattern.iter_mut().find(|(p, _)| *p == r.pattern) {
                Some((_, rows)) => rows.push(i),
                None => by_pattern.push((r.pattern, vec![i])),
            }
        }
        let mut tree = matchit::Router::new();
        for (pattern, rows) in by_pattern {
            if let Err(e) = tree.insert(pattern, rows) {
                // The table is code: a clash is a programming error, caught by the tests.
                panic!("route {pattern}: {e}");
            }
        }
        Self { routes, tree }
    }
}

static TABLE: LazyLock<Table> = LazyLock::new(|| Table::build(table()));

/// The declared routes as (method, pattern, need, transport), for tests; `None` is any method.
#[doc(hidden)]
pub fn declared() -> Vec<(Option<Method>, &'static str, Need, Transport)> {
    TABLE
        .routes
        .iter()
        .map(|r| (r.method.clone(), r.pattern, r.need, r.transport))
        .collect()
}

/// What the route `method path` needs, for front doors that are not HTTP (MQTT commands):
/// every operation is authorized by this one table. `None`: no such route.
pub fn need_of(method: &Method, path: &str) -> Option<Need> {
    match find(&TABLE, method, path) {
        Found::Route(r, _) => Some(r.need),
        _ => None,
    }
}

/// What a path and method find in the table.
enum Found<'t> {
    Route(&'t Route, Vec<(String, String)>),
    /// The path is known, the method is not: these are.
    Method(Vec<Method>),
    Nothing,
}

/// `path` without a trailing `/`: `/api/clips/` is `/api/clips`.
pub(super) fn normalized(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    }
}

fn find<'t>(table: &'t Table, method: &Method, path: &str) -> Found<'t> {
    let Ok(m) = table.tree.at(normalized(path)) else {
        return Found::Nothing;
    };
    let rows = m.value.iter().map(|&i| &table.routes[i]);
    let params = || {
        m.params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    match rows
        .clone()
        .find(|r| r.method.as_ref().is_none_or(|x| x == method))
    {
        Some(r) => Found::Route(r, params()),
        None => Found::Method(rows.filter_map(|r| r.method.clone()).collect()),
    }
}

/// 404, said as JSON on the API and as text elsewhere.
fn not_found(path: &str) -> Response<Body> {
    if path.starts_with("/api/") {
        json::error(StatusCode::NOT_FOUND, "not found")
    } else {
        text(StatusCode::NOT_FOUND, "not found\n")
    }
}

fn method_not_allowed(path: &str, allowed: &[Method]) -> Response<Body> {
    let list = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut r = if path.starts_with("/api/") {
        json::error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method not allowed (use {list})"),
        )
    } else {
        text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
    };
    if let Ok(v) = HeaderValue::from_str(&list) {
        r.headers_mut().insert(ALLOW, v);
    }
    r
}

/// Whether a request that came over plain HTTP must go to HTTPS instead: its route is HTTPS
/// only, or `require_tls` leaves nothing but the health check on plain HTTP.
fn needs_tls(found: &Found<'_>, path: &str, require_tls: bool) -> bool {
    match found {
        Found::Route(route, _) if route.pattern == "/healthz" => false,
        Found::Route(route, _) => require_tls || route.transport == Transport::Https,
        // Unknown paths under the API are the API's too: HTTPS's 404, not plain HTTP's.
        _ => require_tls || path.starts_with("/api/"),
    }
}

/// Routes one request: the table, then the authentication layer, then the handler. `tls`:
/// whether it came over HTTPS.
pub(super) async fn route(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
    tls: bool,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let found = find(&TABLE, req.method(), &path);
    if !tls && needs_tls(&found, &path, state.config().http.require_tls) {
        let answer = super::transport::to_https(&req, state.config().http.tls_port);
        return auth::drained(answer, req).await;
    }
    let (route, params) = match found {
        Found::Route(route, params) => (route, params),
        Found::Method(allowed) => {
            return auth::drained(method_not_allowed(&path, &allowed), req).await;
        }
        Found::Nothing => return auth::drained(not_found(&path), req).await,
    };
    let user = match auth::admit(&state, &req, peer, route.need) {
        Ok(user) => user,
        Err(refusal) => return auth::drained(*refusal, req).await,
    };
    debug!(%peer, user = user.name, method = %req.method(), path, "request");
    if !user.name.is_empty()
        && let Some(connection) = req.extensions().get::<Arc<super::server::Connection>>()
    {
        connection.logged_in(&user.name);
    }
    let (head, body) = req.into_parts();
    let (body, stream) = match route.take {
        Take::Stream => (Bytes::new(), Some(body)),
        // Bounded, and drained, so that keep-alive keeps working and nobody can stream forever.
        Take::Read => match super::body::read(body, MAX_BODY, state.body_timeout()).await {
            Ok(bytes) => (bytes, None),
            Err(e) => return e.response(),
        },
    };
    let call = Call {
        state,
        peer,
        user,
        head,
        body,
        stream,
        tls,
        params,
    };
    (route.handler)(call).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> &'static Table {
        &TABLE
    }

    #[test]
    fn every_row_is_reachable_by_its_own_pattern() {
        for r in &table().routes {
            let path = r.pattern.replace("{*service}", "device_service");
            let path = path.replace("{token}", "t1").replace("{id}", "i1");
            let method = r.method.clone().unwrap_or(Method::POST);
            match find(table(), &method, &path) {
                Found::Route(found, _) => assert_eq!(found.pattern, r.pattern, "{path}"),
                _ => panic!("{method} {path} does not find its row"),
            }
        }
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert!(matches!(
            find(table(), &Method::GET, "/nothing/here"),
            Found::Nothing
        ));
        assert!(matches!(
            find(table(), &Method::GET, "/api/statusx"),
            Found::Nothing
        ));
        let Found::Method(allowed) = find(table(), &Method::DELETE, "/snapshot.jpg") else {
            panic!("a known path with another method is not 404");
        };
        assert_eq!(allowed, vec![Method::GET, Method::HEAD]);
        let r = method_not_allowed("/api/clips", &[Method::GET, Method::POST]);
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[ALLOW], "GET, POST");
        // A trailing slash finds the same route; the parameters are decoded from the path.
        let Found::Route(r, params) = find(table(), &Method::POST, "/api/clips/abc/play/") else {
            panic!("play");
        };
        assert_eq!(r.pattern, "/api/clips/{token}/play");
        assert_eq!(params, vec![("token".to_string(), "abc".to_string())]);
    }

    #[test]
    fn each_pattern_and_method_is_declared_once() {
        let rows = declared();
        for (i, (m, p, _, _)) in rows.iter().enumerate() {
            assert!(
                !rows[..i].iter().any(|(m2, p2, _, _)| m2 == m && p2 == p),
                "{m:?} {p} twice"
            );
        }
    }

    #[test]
    fn needs_and_roles() {
        use Need::*;
        for (need, [user, operator, admin]) in [
            (Viewer, [true, true, true]),
            (Operator, [false, true, true]),
            (Admin, [false, false, true]),
        ] {
            assert_eq!(need.allows(Role::User), user, "{need:?}");
            assert_eq!(need.allows(Role::Operator), operator, "{need:?}");
            assert_eq!(need.allows(Role::Admin), admin, "{need:?}");
            assert!(need.needs_login());
        }
        assert!(!Public.needs_login() && !Onvif.needs_login());
    }
}
