//! HTTPS against plain HTTP: ONVIF GetProfiles with keep-alive (requests/s, p50, p99, 16
//! connections, each request with its own Digest answer), and what a full TLS handshake costs
//! (a new connection for every `/healthz`, one at a time and 16 at once).
//!
//! `bench/tls.sh [seconds]` builds the release daemon and runs this (BABYMONITOR_BIN picks the
//! daemon). Prints Markdown tables for docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use babymonitor_e2e::{ADMIN, Setup, http};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};

const CONNECTIONS: usize = 16;
const GET_PROFILES: &str = "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><GetProfiles xmlns=\"http://www.onvif.org/ver10/media/wsdl\"/></s:Body></s:Envelope>";

/// A client of one connection, kept alive or not at all.
fn client(keep_alive: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .pool_max_idle_per_host(if keep_alive { 1 } else { 0 })
        .build()
        .expect("client")
}

fn challenge(r: &reqwest::Response) -> anyhow::Result<digest_auth::WwwAuthenticateHeader> {
    let value = r
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("Digest"))
        .context("no Digest challenge")?;
    Ok(digest_auth::parse(value)?)
}

/// GetProfiles on one kept-alive connection until `until`: the latency of each answer.
async fn one_connection(url: String, until: Instant) -> anyhow::Result<Vec<Duration>> {
    let client = client(true);
    let post = |auth: Option<String>| {
        let mut req = client
            .post(&url)
            .header(CONTENT_TYPE, "application/soap+xml; charset=utf-8")
            .body(GET_PROFILES);
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send()
    };
    let mut prompt = challenge(&post(None).await?)?;
    let mut times = Vec::new();
    while Instant::now() < until {
        let mut ctx = digest_auth::AuthContext::new(ADMIN.0, ADMIN.1, "/onvif/media_service");
        ctx.method = digest_auth::HttpMethod::POST;
        // Each answer counts the nonce on (nc), as RFC 7616 clients do.
        let answer = prompt.respond(&ctx)?.to_header_string();
        let start = Instant::now();
        let r = post(Some(answer)).await?;
        let status = r.status().as_u16();
        if status == 401 {
            // A nonce that went stale: the new challenge, and on.
            prompt = challenge(&r)?;
            continue;
        }
        r.bytes().await?;
        if status != 200 {
            bail!("GetProfiles answered {status}");
        }
        times.push(start.elapsed());
    }
    Ok(times)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

async fn keep_alive(base: &str, seconds: u64) -> anyhow::Result<String> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let url = format!("{base}/onvif/media_service");
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| tokio::spawn(one_connection(url.clone(), until)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort();
    Ok(format!(
        "{:.0} | {:.2} ms | {:.2} ms",
        all.len() as f64 / seconds as f64,
        percentile(&all, 0.5),
        percentile(&all, 0.99)
    ))
}

/// New connections, each for one `/healthz`, `parallel` at once until `until`: how many.
async fn new_connections(base: &str, parallel: usize, until: Instant) -> anyhow::Result<usize> {
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let url = format!("{base}/healthz");
            tokio::spawn(async move {
                let client = client(false);
                let mut n = 0usize;
                while Instant::now() < until {
                    let r = client.get(&url).send().await?;
                    if r.status() != 200 {
                        bail!("/healthz answered {}", r.status());
                    }
                    r.bytes().await?;
                    n += 1;
                }
                anyhow::Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let daemon = Setup::new()
        .small()
        .set("http", "failed_logins_per_minute = 10000")
        .start();
    let (status, _) = http::get(&format!("{}/healthz", daemon.https_base()), None).await?;
    if status != 200 {
        bail!("HTTPS does not answer: {status}");
    }
    println!("GetProfiles, {CONNECTIONS} kept-alive connections, {seconds} s each:\n");
    println!("| transport | requests/s | p50 | p99 |");
    println!("|---|---|---|---|");
    for (name, base) in [("HTTP", daemon.http_base()), ("HTTPS", daemon.https_base())] {
        println!("| {name} | {} |", keep_alive(&base, seconds).await?);
    }
    println!("\nA new connection for every request (`/healthz`), {seconds} s each:\n");
    println!("| transport | one at a time: ms each | {CONNECTIONS} at once: connections/s |");
    println!("|---|---|---|");
    let mut each = Vec::new();
    for (name, base) in [("HTTP", daemon.http_base()), ("HTTPS", daemon.https_base())] {
        let until = Instant::now() + Duration::from_secs(seconds);
        let serial = new_connections(&base, 1, until).await?;
        let ms = seconds as f64 * 1000.0 / serial.max(1) as f64;
        let until = Instant::now() + Duration::from_secs(seconds);
        let parallel = new_connections(&base, CONNECTIONS, until).await?;
        println!(
            "| {name} | {ms:.2} ms | {:.0} |",
            parallel as f64 / seconds as f64
        );
        each.push(ms);
    }
    println!(
        "\nA full TLS handshake (ECDSA P-256) adds {:.2} ms to a new connection.",
        each[1] - each[0]
    );
    Ok(())
}
