//! `/api/alerts`: the calling user's alert rules. Each user reads and replaces only their own
//! (any role may: they are about their own phone); the alerts domain validates and stores them.

use hyper::{Method, Response, StatusCode};
use serde_json::json;

use crate::alerts::{AlertsError, Rules};
use crate::serve::http::Body;
use crate::serve::http::json;
use crate::serve::http::routes::{Call, Need, Route, now, row};

pub(in crate::serve::http) fn table() -> Vec<Route> {
    vec![
        row(Method::GET, "/api/alerts", Need::Viewer, |c| now(get(&c))),
        row(Method::PUT, "/api/alerts", Need::Viewer, |c| now(put(&c))),
    ]
}

fn rules_json(rules: &Rules) -> Response<Body> {
    match serde_json::to_value(rules) {
        Ok(v) => json::ok(v),
        Err(e) => json::error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn get(c: &Call) -> Response<Body> {
    rules_json(&c.state.alerts.rules(&c.user.name))
}

/// Replaces the caller's rules with the body's (fields left out take their defaults); a
/// refusal names the field.
fn put(c: &Call) -> Response<Body> {
    let value = match serde_json::from_slice::<serde_json::Value>(&c.body) {
        Ok(v) => v,
        Err(e) => {
            return json::error(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}"));
        }
    };
    let refused = |e: &crate::alerts::RuleError| {
        json::reply(
            StatusCode::BAD_REQUEST,
            &json!({"error": e.to_string(), "field": e.field}),
        )
    };
    let rules = match Rules::from_json(&value) {
        Ok(r) => r,
        Err(e) => return refused(&e),
    };
    match c.state.alerts.set_rules(&c.user.name, rules.clone()) {
        Ok(()) => rules_json(&rules),
        Err(AlertsError::Invalid(e)) => refused(&e),
        Err(e @ AlertsError::Storage(_)) => json::error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
