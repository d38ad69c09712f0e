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
    let answer = digest_answer(&first, url, "GET", (user, pass))?;
    let second = client.get(url).header(AUTHORIZATION, answer).send().await?;
    let status = second.status().as_u16();
    Ok((status, second.bytes().await?.to_vec()))
}

/// The `Authorization` value that answers the Digest challenge of `first` (a 401) for
/// `method` on `url`.
fn digest_answer(
    first: &reqwest::Response,
    url: &str,
    method: &str,
    (user, pass): (&str, &str),
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
    ctx.method = digest_auth::HttpMethod::from(method);
    Ok(prompt.respond(&ctx)?.to_header_string())
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
    let client = reqwest::Client::new();
    let send = |auth: Option<String>| {
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_string());
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let first = send(None).await?;
    let (Some((user, pass)), 401) = (creds, first.status().as_u16()) else {
        let status = first.status().as_u16();
        return Ok((status, first.text().await?));
    };
    let answer = digest_answer(&first, url, "POST", (user, pass))?;
    let second = send(Some(answer)).await?;
    let status = second.status().as_u16();
    Ok((status, second.text().await?))
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
    let answer = digest_answer(&first, url, method.as_str(), (user, pass))?;
    let second = send(Some(answer)).await?;
    Ok((second.status().as_u16(), second.headers().clone()))
}
