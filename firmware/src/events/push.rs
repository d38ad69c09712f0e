//! WS-BaseNotification push: queued messages are POSTed as `Notify` to the subscriber's
//! consumer. A consumer that is down is retried with back-off while the subscription lives;
//! its messages wait in the subscription's bounded queue meanwhile.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tracing::{debug, info, warn};

use super::Subscriptions;

const BATCH: usize = 50;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);
/// How often an idle sender looks whether its subscription still exists.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Starts the sender of one push subscription; it ends with the subscription.
pub fn spawn(subs: Arc<Subscriptions>, id: u64, consumer: String, address: String) {
    tokio::spawn(async move {
        let mut retry = FIRST_RETRY;
        loop {
            let Some((batch, wake)) = subs.take(id, BATCH) else {
                debug!(subscription = id, "push subscription ended");
                return;
            };
            if batch.is_empty() {
                let _ = tokio::time::timeout(IDLE_CHECK, wake.notified()).await;
                continue;
            }
            let envelope = onvif::events::notify_envelope(&consumer, &address, &batch);
            match post(&consumer, envelope).await {
                Ok(()) => {
                    subs.delivered(batch.len());
                    if retry > FIRST_RETRY {
                        info!(subscription = id, "the event consumer answers again");
                    }
                    retry = FIRST_RETRY;
                }
                Err(e) => {
                    warn!(
                        subscription = id,
                        "cannot deliver events: {e:#}; retrying in {} s",
                        retry.as_secs()
                    );
                    subs.give_back(id, batch);
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
    });
}

async fn post(url: &str, envelope: String) -> anyhow::Result<()> {
    let uri: hyper::Uri = url.parse().context("consumer address")?;
    let host = uri.host().context("consumer address without a host")?;
    let port = uri.port_u16().unwrap_or(80);
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.to_string());
    let path = uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.as_str().to_string());
    let target = (host.trim_start_matches('[').trim_end_matches(']'), port);
    // Resolved here and checked before connecting, so a name that resolves elsewhere later
    // (DNS rebinding) cannot take the camera off its own networks.
    let addresses: Vec<std::net::SocketAddr> = tokio::net::lookup_host(target)
        .await
        .context("resolving the consumer")?
        .collect();
    let local: Vec<std::net::SocketAddr> = addresses
        .iter()
        .copied()
        .filter(|a| on_local_network(a.ip()))
        .collect();
    if local.is_empty() {
        bail!("the consumer is not on a local network ({host})");
    }
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(&local[..]))
        .await
        .context("connecting timed out")?
        .context("connecting")?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(
            hyper::header::CONTENT_TYPE,
            "application/soap+xml; charset=utf-8",
        )
        .body(Full::new(Bytes::from(envelope)))
        .context("building the request")?;
    let response = tokio::time::timeout(SEND_TIMEOUT, sender.send_request(request))
        .await
        .context("the consumer did not answer in time")?
        .context("sending")?;
    if !response.status().is_success() {
        bail!("the consumer answered {}", response.status());
    }
    Ok(())
}

/// Whether `ip` is on a network of the home's own (loopback, private, link-local, carrier-grade
/// NAT as some VPNs use, IPv6 unique-local): where NVRs are. Push notifications go nowhere
/// else, or any logged-in account could make the camera send requests to any host on the
/// internet.
pub fn on_local_network(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return on_local_network(v4.into());
            }
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::on_local_network;

    #[test]
    fn only_the_homes_own_networks_receive_notifications() {
        for local in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.20",
            "169.254.3.4",
            "100.100.1.1",
            "::1",
            "fd12::5",
            "fe80::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(on_local_network(local.parse().expect("address")), "{local}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2001:db8::1",
            "::ffff:1.1.1.1",
            "0.0.0.0",
        ] {
            assert!(
                !on_local_network(public.parse().expect("address")),
                "{public}"
            );
        }
    }
}
