//! WS-Discovery on the local network: Hello when the camera starts (or discovery is switched
//! on), Bye when it stops (or is switched off), and answers to Probe and Resolve.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use onvif::discovery::{self as wsd, Endpoint, Message};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// Answers allowed per second, so the camera cannot be used to amplify traffic.
const REPLIES_PER_SECOND: u32 = 50;
const MAX_DATAGRAM: usize = 64 * 1024;

pub struct DiscoveryConfig {
    pub endpoint: String,
    pub scopes: Vec<String>,
    pub http_port: u16,
    /// The address the daemon listens on; unspecified means every interface.
    pub listen: IpAddr,
}

struct Announcer {
    config: DiscoveryConfig,
    socket: UdpSocket,
    group: SocketAddr,
    instance_id: u32,
    message_number: u32,
    window: (Instant, u32),
}

/// IPv4 addresses of the interfaces discovery works on.
fn interfaces(listen: IpAddr) -> Vec<Ipv4Addr> {
    match listen {
        IpAddr::V4(ip) if !ip.is_unspecified() => vec![ip],
        _ => crate::identity::local_addresses()
            .into_iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
                _ => None,
            })
            .collect(),
    }
}

fn bind(port: u16, interfaces: &[Ipv4Addr]) -> anyhow::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Other WS-Discovery listeners on the same machine may hold the port too.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port).into())?;
    socket.set_multicast_ttl_v4(1)?;
    let group = Ipv4Addr::from(wsd::GROUP);
    for ip in interfaces {
        if let Err(e) = socket.join_multicast_v4(&group, ip) {
            warn!(%ip, "cannot join the WS-Discovery group: {e}");
        }
    }
    Ok(UdpSocket::from_std(StdUdpSocket::from(socket))?)
}

/// The local address that routes to `peer` (what the prober can reach us at).
fn local_address_towards(peer: SocketAddr, listen: IpAddr) -> Option<IpAddr> {
    if !listen.is_unspecified() {
        return Some(listen);
    }
    let probe = StdUdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect(peer).ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}

fn uuid_urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

impl Announcer {
    fn endpoint(&self, xaddr_ips: &[IpAddr]) -> Endpoint {
        Endpoint {
            address: self.config.endpoint.clone(),
            scopes: self.config.scopes.clone(),
            xaddrs: xaddr_ips
                .iter()
                .map(|ip| format!("http://{ip}:{}/onvif/device_service", self.config.http_port))
                .collect(),
            metadata_version: 1,
        }
    }

    fn next_number(&mut self) -> u32 {
        self.message_number += 1;
        self.message_number
    }

    fn allowed(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        self.window.1 <= REPLIES_PER_SECOND
    }

    /// Hello or Bye on every interface, each naming the address it can be reached at there.
    async fn announce(&mut self, hello: bool) {
        let mut ifaces = interfaces(self.config.listen);
        if ifaces.is_empty() {
            ifaces.push(Ipv4Addr::UNSPECIFIED);
        }
        for ip in ifaces {
            if !ip.is_unspecified()
                && let Err(e) = socket2::SockRef::from(&self.socket).set_multicast_if_v4(&ip)
            {
                debug!(%ip, "cannot pick the interface for an announcement: {e}");
            }
            let ep = self.endpoint(&[IpAddr::V4(ip)]);
            let n = self.next_number();
            let text = if hello {
                wsd::hello(&ep, &uuid_urn(), self.instance_id, n)
            } else {
                wsd::bye(&ep, &uuid_urn(), self.instance_id, n)
            };
            if let Err(e) = self.socket.send_to(text.as_bytes(), self.group).await {
                debug!(%ip, "cannot send {}: {e}", if hello { "Hello" } else { "Bye" });
            }
        }
    }

    async fn answer(&mut self, datagram: &[u8], from: SocketAddr) {
        let message = match wsd::parse(datagram) {
            Ok(m) => m,
            Err(e) => {
                debug!(%from, "ignoring a WS-Discovery datagram: {e}");
                return;
            }
        };
        let reply = match message {
            Message::Probe {
                message_id,
                types,
                scopes,
                match_by,
            } => {
                let Some(ip) = local_address_towards(from, self.config.listen) else {
                    return;
                };
                let ep = self.endpoint(&[ip]);
                if !wsd::matches(&ep, &types, &scopes, match_by.as_deref()) {
                    return;
                }
                let n = self.next_number();
                wsd::probe_matches(&ep, &message_id, &uuid_urn(), self.instance_id, n)
            }
            Message::Resolve {
                message_id,
                address,
            } if address == self.config.endpoint => {
                let Some(ip) = local_address_towards(from, self.config.listen) else {
                    return;
                };
                let ep = self.endpoint(&[ip]);
                let n = self.next_number();
                wsd::resolve_matches(&ep, &message_id, &uuid_urn(), self.instance_id, n)
            }
            _ => return,
        };
        if !self.allowed() {
            debug!(%from, "WS-Discovery reply limit reached");
            return;
        }
        if let Err(e) = self.socket.send_to(reply.as_bytes(), from).await {
            debug!(%from, "cannot answer: {e}");
        }
    }
}

/// Runs until `shutdown` turns true; follows `enabled` (SetDiscoveryMode).
pub async fn serve(
    config: DiscoveryConfig,
    enabled: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    serve_on(
        wsd::PORT,
        SocketAddr::from((wsd::GROUP, wsd::PORT)),
        config,
        enabled,
        shutdown,
    )
    .await
}

async fn serve_on(
    port: u16,
    group: SocketAddr,
    config: DiscoveryConfig,
    mut enabled: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ifaces = interfaces(config.listen);
    let socket = bind(port, &ifaces).context("WS-Discovery socket")?;
    let instance_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32);
    let mut me = Announcer {
        config,
        socket,
        group,
        instance_id,
        message_number: 0,
        window: (Instant::now(), 0),
    };
    info!(interfaces = ?ifaces, "WS-Discovery listening");
    let mut on = *enabled.borrow();
    if on {
        me.announce(true).await;
    }
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        tokio::select! {
            received = me.socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                if on && n < MAX_DATAGRAM {
                    me.answer(&buf[..n], from).await;
                }
            }
            changed = enabled.changed() => {
                if changed.is_err() { break; }
                let now = *enabled.borrow();
                if now != on {
                    on = now;
                    info!(discoverable = on, "discovery mode changed");
                    me.announce(on).await;
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    if on {
        me.announce(false).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: &str = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
        xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\" xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\">\
        <s:Header><a:MessageID>uuid:test-probe</a:MessageID></s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>";

    #[tokio::test]
    async fn answers_a_unicast_probe_and_goes_quiet_when_switched_off() {
        let port = StdUdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("port");
        let config = DiscoveryConfig {
            endpoint: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
            scopes: vec!["onvif://www.onvif.org/name/Test".into()],
            http_port: 8080,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let (on_tx, on_rx) = watch::channel(true);
        let (stop_tx, stop_rx) = watch::channel(false);
        // Hello and Bye go to a local "group" so nothing leaves the machine.
        let group_listener = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let group = group_listener.local_addr().expect("addr");
        let task = tokio::spawn(serve_on(port, group, config, on_rx, stop_rx));
        let mut buf = vec![0u8; 65536];
        let (n, _) =
            tokio::time::timeout(Duration::from_secs(5), group_listener.recv_from(&mut buf))
                .await
                .expect("Hello")
                .expect("recv");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("/discovery/Hello"));

        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        client
            .send_to(PROBE.as_bytes(), ("127.0.0.1", port))
            .await
            .expect("send");
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("a reply")
            .expect("recv");
        let reply = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(
            reply.contains("<a:RelatesTo>uuid:test-probe</a:RelatesTo>"),
            "{reply}"
        );
        assert!(
            reply.contains("http://127.0.0.1:8080/onvif/device_service"),
            "{reply}"
        );

        on_tx.send(false).expect("switch off");
        let (n, _) =
            tokio::time::timeout(Duration::from_secs(5), group_listener.recv_from(&mut buf))
                .await
                .expect("Bye")
                .expect("recv");
        assert!(String::from_utf8_lossy(&buf[..n]).contains("/discovery/Bye"));
        client
            .send_to(PROBE.as_bytes(), ("127.0.0.1", port))
            .await
            .expect("send");
        assert!(
            tokio::time::timeout(Duration::from_millis(500), client.recv_from(&mut buf))
                .await
                .is_err(),
            "answered while switched off"
        );

        stop_tx.send(true).expect("stop");
        task.await.expect("task").expect("served");
    }
}
