//! A small HTTP client with Digest authentication, as NVRs and browsers do it.

use anyhow::Context;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};

/// GET `url`; with credentials, answers a Digest challenge once. Returns (status, body).
pub async fn get(url: &str, creds: Option<(&str, &str)>) -> anyhow::Result<(u16, Vec<u8>)> {
    let client = reqwest::Client::new();
    let first = client.get(url).send().await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        let status = first.status().as_u16();
        return Ok((status, first.bytes().await?.to_vec()));
    };
    let answer = digest_answer(&first, url, user, pass, digest_auth::HttpMethod::GET)?;
    let second = client.get(url).header(AUTHORIZATION, answer).send().await?;
    let status = second.status().as_u16();
    Ok((status, second.bytes().await?.to_vec()))
}

/// The `WWW-Authenticate` values of an unauthenticated GET.
pub async fn challenges(url: &str) -> anyhow::Result<(u16, Vec<String>)> {
    let r = reqwest::Client::new().get(url).send().await?;
    let values = r
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    Ok((r.status().as_u16(), values))
}

/// POST `body` as SOAP; with credentials, answers a Digest challenge once.
/// Returns (status, body).
pub async fn post_soap(
    url: &str,
    body: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<(u16, String)> {
    post(url, "application/soap+xml; charset=utf-8", body, creds).await
}

/// POST `body` with `content_type`; with credentials, answers a Digest challenge once.
/// Returns (status, body).
pub async fn post(
    url: &str,
    content_type: &str,
    body: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<(u16, String)> {
    let r = request(reqwest::Method::POST, url, content_type, body, creds).await?;
    Ok((r.status().as_u16(), r.text().await?))
}

/// `method` on `url` with `body` as `content_type`; with credentials, answers a Digest
/// challenge once. Returns the whole response (its headers too).
pub async fn request(
    method: reqwest::Method,
    url: &str,
    content_type: &str,
    body: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<reqwest::Response> {
    let client = reqwest::Client::new();
    let send = |auth: Option<String>| {
        let mut req = client
            .request(method.clone(), url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let first = send(None).await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        return Ok(first);
    };
    let verb = digest_auth::HttpMethod::from(method.as_str().to_string());
    let answer = digest_answer(&first, url, user, pass, verb)?;
    Ok(send(Some(answer)).await?)
}

/// The `Authorization` value that answers the Digest challenge of `first` (a 401 for `url`).
pub fn digest_answer(
    first: &reqwest::Response,
    url: &str,
    user: &str,
    pass: &str,
    method: digest_auth::HttpMethod<'_>,
) -> anyhow::Result<String> {
    let challenge = first
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Digest"))
        .context("401 without a Digest challenge")?;
    let parsed = reqwest::Url::parse(url)?;
    let uri = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_string(),
    };
    let mut prompt = digest_auth::parse(challenge)?;
    let mut ctx = digest_auth::AuthContext::new(user, pass, &uri);
    ctx.method = method;
    Ok(prompt.respond(&ctx)?.to_header_string())
}

/// Sends `method` to `url` with an empty body; with credentials, answers a Digest challenge
/// once. Returns the status and headers and leaves the body unread (it may be an endless
/// event stream).
pub async fn status_of(
    method: &str,
    url: &str,
    creds: Option<(&str, &str)>,
) -> anyhow::Result<(u16, reqwest::header::HeaderMap)> {
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes())?;
    let send = |auth: Option<String>| {
        let mut req = client.request(method.clone(), url);
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let first = send(None).await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        return Ok((first.status().as_u16(), first.headers().clone()));
    };
    let verb = digest_auth::HttpMethod::from(method.as_str().to_string());
    let answer = digest_answer(&first, url, user, pass, verb)?;
    let second = send(Some(answer)).await?;
    Ok((second.status().as_u16(), second.headers().clone()))
}
