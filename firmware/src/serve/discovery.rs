//! WS-Discovery on the local network: Hello when the camera starts (or discovery is switched
//! on), Bye when it stops (or is switched off), and answers to Probe and Resolve.
//!
//! Answers to multicast messages wait a random moment in a queue of bounded length, and every
//! answer is rate-limited per address and overall, so a flood of probes costs neither memory
//! nor traffic.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use onvif::discovery::{self as wsd, Endpoint, Message};
use rand::Rng as _;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// How long an answer to a multicast Probe or Resolve waits, in milliseconds, drawn uniformly.
/// WS-Discovery asks for a random wait of up to APP_MAX_DELAY (500 ms) so that the cameras on a
/// network do not all answer in the same instant. The floor is ours: some clients cannot take
/// an answer at once (ZoneMinder sends the probe from one socket, closes it and binds a new one
/// to listen), so an answer that goes out within a few milliseconds is lost to them.
const MULTICAST_DELAY_MS: RangeInclusive<u64> = 50..=500;
/// Answers waiting for their moment; beyond this, multicast probes go unanswered.
const MAX_PENDING: usize = 64;
/// Per address: a burst of answers (a client sends a few probes, and probes again), then a
/// steady rate, so one noisy host neither silences the camera for others nor uses it to amplify.
const SOURCE_LIMIT: Rate = Rate {
    burst: 20.0,
    per_second: 10.0,
};
/// For all addresses together (source addresses of UDP can be made up).
const TOTAL_LIMIT: Rate = Rate {
    burst: 50.0,
    per_second: 50.0,
};
/// Addresses the limiter remembers; a new one beyond this is not answered.
const MAX_SOURCES: usize = 256;
/// A MessageID is a URI, a UUID in practice; a longer one is not worth a queue slot, and its
/// echo in RelatesTo would not fit an answer's datagram.
const MAX_MESSAGE_ID: usize = 1024;
const MAX_DATAGRAM: usize = 64 * 1024;

#[derive(Clone)]
pub struct DiscoveryConfig {
    pub endpoint: String,
    pub scopes: Vec<String>,
    pub http_port: u16,
    pub https_port: u16,
    /// Plain HTTP serves no ONVIF: only the https XAddrs are announced.
    pub require_tls: bool,
    /// The address the daemon listens on; unspecified means every interface.
    pub listen: IpAddr,
}

#[derive(Clone, Copy)]
struct Rate {
    burst: f64,
    per_second: f64,
}

/// A token bucket.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self {
            tokens: rate.burst,
            at: now,
        }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.at = now;
    }
}

/// Which answers may go: per source address and overall.
struct Limiter {
    total: Bucket,
    sources: HashMap<IpAddr, Bucket>,
}

impl Limiter {
    fn new(now: Instant) -> Self {
        Self {
            total: Bucket::full(TOTAL_LIMIT, now),
            sources: HashMap::new(),
        }
    }

    /// Takes a token for one answer to `ip`, if there is one.
    fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.total.refill(TOTAL_LIMIT, now);
        if self.total.tokens < 1.0 {
            return false;
        }
        if !self.sources.contains_key(&ip) && self.sources.len() >= MAX_SOURCES {
            // A refilled bucket is the same as none, so only busy addresses stay.
            self.sources.retain(|_, b| {
                b.refill(SOURCE_LIMIT, now);
                b.tokens < SOURCE_LIMIT.burst
            });
            if self.sources.len() >= MAX_SOURCES {
                return false;
            }
        }
        let source = self
            .sources
            .entry(ip)
            .or_insert_with(|| Bucket::full(SOURCE_LIMIT, now));
        source.refill(SOURCE_LIMIT, now);
        if source.tokens < 1.0 {
            return false;
        }
        source.tokens -= 1.0;
        self.total.tokens -= 1.0;
        true
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Probe,
    Resolve,
}

/// An answer decided on; its text is made when it goes, so message numbers follow the order
/// answers are sent in.
struct Answer {
    kind: Kind,
    endpoint: Endpoint,
    relates_to: String,
    to: SocketAddr,
}

struct Delayed {
    due: Instant,
    answer: Answer,
}

struct Announcer {
    config: DiscoveryConfig,
    /// Bound to the port on every address: unicast messages, and everything we send.
    socket: UdpSocket,
    /// Bound to the group: only what was multicast.
    multicast: UdpSocket,
    group: SocketAddr,
    instance_id: u32,
    message_number: u32,
    limiter: Limiter,
    pending: Vec<Delayed>,
}

/// IPv4 addresses of the interfaces discovery works on.
fn interfaces(listen: IpAddr) -> Vec<Ipv4Addr> {
    match listen {
        IpAddr::V4(ip) if !ip.is_unspecified() => vec![ip],
        _ => crate::platform::identity::local_addresses()
            .into_iter()
            .filter_map(|ip| match ip {
                IpAddr::V4(v4) if !v4.is_loopback() => Some(v4),
                _ => None,
            })
            .collect(),
    }
}

fn socket(addr: SocketAddrV4) -> anyhow::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Other WS-Discovery listeners on the same machine may hold the port too.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn to_tokio(socket: Socket) -> anyhow::Result<UdpSocket> {
    Ok(UdpSocket::from_std(StdUdpSocket::from(socket))?)
}

/// Two sockets, because a multicast Probe is answered later than a unicast one and the socket
/// a datagram arrives on tells which it was: one bound to the group's address, which the
/// system gives only datagrams sent to the group, and one bound to the port on every address,
/// kept from the group's traffic.
fn bind(
    port: u16,
    group: SocketAddrV4,
    interfaces: &[Ipv4Addr],
) -> anyhow::Result<(UdpSocket, UdpSocket)> {
    let unicast = socket(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))?;
    unicast.set_multicast_all_v4(false)?;
    unicast.set_multicast_ttl_v4(1)?;
    let multicast = socket(group)?;
    if group.ip().is_multicast() {
        for ip in interfaces {
            if let Err(e) = multicast.join_multicast_v4(group.ip(), ip) {
                warn!(%ip, "cannot join the WS-Discovery group: {e}");
            }
        }
    }
    Ok((to_tokio(unicast)?, to_tokio(multicast)?))
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
            // Both schemes (one space-separated list on the wire): an NVR that speaks TLS picks
            // https, an older one http.
            xaddrs: xaddr_ips
                .iter()
                .flat_map(|&ip| {
                    let c = &self.config;
                    let http = (!c.require_tls).then(|| {
                        let at = SocketAddr::new(ip, c.http_port);
                        format!("http://{at}/onvif/device_service")
                    });
                    let at = SocketAddr::new(ip, c.https_port);
                    http.into_iter()
                        .chain([format!("https://{at}/onvif/device_service")])
                })
                .collect(),
            metadata_version: 1,
        }
    }

    fn next_number(&mut self) -> u32 {
        self.message_number += 1;
        self.message_number
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

    /// What a datagram asks us to answer, if anything: the kind and the message it relates to.
    fn asked(&self, datagram: &[u8], from: SocketAddr) -> Option<(Kind, String)> {
        let message = match wsd::parse(datagram) {
            Ok(m) => m,
            Err(e) => {
                debug!(%from, "ignoring a WS-Discovery datagram: {e}");
                return None;
            }
        };
        let asked = match message {
            Message::Probe {
                message_id,
                types,
                scopes,
                match_by,
            } => {
                // Only types and scopes are matched on, so no address is needed yet.
                wsd::matches(&self.endpoint(&[]), &types, &scopes, match_by.as_deref())
                    .then_some((Kind::Probe, message_id))
            }
            Message::Resolve {
                message_id,
                address,
            } if address == self.config.endpoint => Some((Kind::Resolve, message_id)),
            _ => None,
        };
        asked.filter(|(_, id)| id.len() <= MAX_MESSAGE_ID)
    }

    /// Answers at once, or queues the answer for later when the message was multicast.
    async fn receive(&mut self, datagram: &[u8], from: SocketAddr, multicast: bool) {
        // Answers go back to the sender's address, which anyone can write: never to a group.
        let unicast_sender = match from.ip() {
            IpAddr::V4(ip) => !(ip.is_multicast() || ip.is_broadcast() || ip.is_unspecified()),
            IpAddr::V6(ip) => !(ip.is_multicast() || ip.is_unspecified()),
        };
        if !unicast_sender || from.port() == 0 {
            return;
        }
        let Some((kind, relates_to)) = self.asked(datagram, from) else {
            return;
        };
        if multicast && self.pending.len() >= MAX_PENDING {
            debug!(%from, "WS-Discovery answer queue full");
            return;
        }
        let now = Instant::now();
        if !self.limiter.allow(from.ip(), now) {
            debug!(%from, "WS-Discovery reply limit reached");
            return;
        }
        let Some(ip) = local_address_towards(from, self.config.listen) else {
            return;
        };
        let answer = Answer {
            kind,
            endpoint: self.endpoint(&[ip]),
            relates_to,
            to: from,
        };
        if multicast {
            let wait = rand::rng().random_range(MULTICAST_DELAY_MS);
            self.pending.push(Delayed {
                due: now + Duration::from_millis(wait),
                answer,
            });
        } else {
            self.send(answer).await;
        }
    }

    /// Sends the queued answers whose time has come.
    async fn send_due(&mut self) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].due <= now {
                let due = self.pending.swap_remove(i);
                self.send(due.answer).await;
            } else {
                i += 1;
            }
        }
    }

    async fn send(&mut self, answer: Answer) {
        let n = self.next_number();
        let (ep, id) = (&answer.endpoint, uuid_urn());
        let text = match answer.kind {
            Kind::Probe => wsd::probe_matches(ep, &answer.relates_to, &id, self.instance_id, n),
            Kind::Resolve => wsd::resolve_matches(ep, &answer.relates_to, &id, self.instance_id, n),
        };
        if let Err(e) = self.socket.send_to(text.as_bytes(), answer.to).await {
            debug!(to = %answer.to, "cannot answer: {e}");
        }
    }
}

/// Runs until `shutdown` turns true; follows `enabled` (SetDiscoveryMode).
pub async fn serve(
    config: DiscoveryConfig,
    enabled: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let group = SocketAddr::from((wsd::GROUP, wsd::PORT));
    serve_on(wsd::PORT, group, group, config, enabled, shutdown).await
}

/// `listen_group` is where multicast arrives, `announce_to` where Hello and Bye go; both are
/// the WS-Discovery group except in tests.
async fn serve_on(
    port: u16,
    listen_group: SocketAddr,
    announce_to: SocketAddr,
    config: DiscoveryConfig,
    mut enabled: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let ifaces = interfaces(config.listen);
    let SocketAddr::V4(listen_group) = listen_group else {
        anyhow::bail!("WS-Discovery works over IPv4");
    };
    let (socket, multicast) = bind(port, listen_group, &ifaces).context("WS-Discovery sockets")?;
    let instance_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32);
    let mut me = Announcer {
        config,
        socket,
        multicast,
        group: announce_to,
        instance_id,
        message_number: 0,
        limiter: Limiter::new(Instant::now()),
        pending: Vec::with_capacity(MAX_PENDING),
    };
    info!(interfaces = ?ifaces, "WS-Discovery listening");
    let mut on = *enabled.borrow();
    if on {
        me.announce(true).await;
    }
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut group_buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let next_due = me.pending.iter().map(|p| p.due).min();
        tokio::select! {
            received = me.socket.recv_from(&mut buf) => {
                let Ok((n, from)) = received else { continue };
                if on && n < MAX_DATAGRAM {
                    me.receive(&buf[..n], from, false).await;
                }
            }
            received = me.multicast.recv_from(&mut group_buf) => {
                let Ok((n, from)) = received else { continue };
                if on && n < MAX_DATAGRAM {
                    me.receive(&group_buf[..n], from, true).await;
                }
            }
            () = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => {
                me.send_due().await;
            }
            changed = enabled.changed() => {
                if changed.is_err() { break; }
                let now = *enabled.borrow();
                if now != on {
                    on = now;
                    info!(discoverable = on, "discovery mode changed");
                    // A camera just made undiscoverable does not answer what it heard before.
                    me.pending.clear();
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

    fn free_port() -> u16 {
        StdUdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("port")
    }

    fn config() -> DiscoveryConfig {
        DiscoveryConfig {
            endpoint: "urn:uuid:00000000-0000-4000-8000-000000000001".into(),
            scopes: vec!["onvif://www.onvif.org/name/Test".into()],
            http_port: 8080,
            https_port: 8443,
            require_tls: false,
            listen: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    fn probe(id: &str) -> String {
        PROBE.replace("uuid:test-probe", id)
    }

    #[tokio::test]
    async fn answers_a_unicast_probe_and_goes_quiet_when_switched_off() {
        let port = free_port();
        let (on_tx, on_rx) = watch::channel(true);
        let (stop_tx, stop_rx) = watch::channel(false);
        // Hello and Bye go to a local "group" so nothing leaves the machine; what is
        // "multicast" arrives on a loopback port of its own.
        let group_listener = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let group = group_listener.local_addr().expect("addr");
        let listen_group = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let task = tokio::spawn(serve_on(
            port,
            listen_group,
            group,
            config(),
            on_rx,
            stop_rx,
        ));
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
            reply.contains(
                "http://127.0.0.1:8080/onvif/device_service https://127.0.0.1:8443/onvif/device_service"
            ),
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

    #[tokio::test]
    async fn a_multicast_probe_is_answered_after_a_pause_and_a_unicast_one_too() {
        let port = free_port();
        let listen_group = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let nowhere = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let (_on_tx, on_rx) = watch::channel(true);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(serve_on(
            port,
            listen_group,
            nowhere,
            config(),
            on_rx,
            stop_rx,
        ));
        // Until it listens, the probe would go nowhere; a unicast probe says when it does.
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let mut buf = vec![0u8; 65536];
        let unicast = async {
            loop {
                client
                    .send_to(probe("uuid:unicast").as_bytes(), ("127.0.0.1", port))
                    .await
                    .expect("send");
                if let Ok(Ok((n, _))) =
                    tokio::time::timeout(Duration::from_millis(200), client.recv_from(&mut buf))
                        .await
                {
                    break String::from_utf8_lossy(&buf[..n]).to_string();
                }
            }
        };
        let reply = tokio::time::timeout(Duration::from_secs(5), unicast)
            .await
            .expect("a unicast answer");
        assert!(reply.contains("RelatesTo>uuid:unicast<"), "{reply}");

        let sent = std::time::Instant::now();
        client
            .send_to(probe("uuid:multicast").as_bytes(), listen_group)
            .await
            .expect("send");
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf))
            .await
            .expect("an answer to the multicast probe")
            .expect("recv");
        let waited = sent.elapsed();
        let reply = String::from_utf8_lossy(&buf[..n]);
        assert!(reply.contains("RelatesTo>uuid:multicast<"), "{reply}");
        assert!(
            waited >= Duration::from_millis(*MULTICAST_DELAY_MS.start()),
            "answered after {waited:?}"
        );
        stop_tx.send(true).expect("stop");
        task.await.expect("task").expect("served");
    }

    #[test]
    fn each_address_gets_a_burst_then_a_steady_rate() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(t0);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        let burst = SOURCE_LIMIT.burst as usize;
        assert_eq!((0..100).filter(|_| limiter.allow(a, t0)).count(), burst);
        assert!(limiter.allow(b, t0), "one noisy address silenced another");
        let later = t0 + Duration::from_secs(1);
        let steady = (0..100).filter(|_| limiter.allow(a, later)).count();
        assert_eq!(steady, SOURCE_LIMIT.per_second as usize);
    }

    #[test]
    fn all_addresses_together_are_limited_and_remembered_in_bounds() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(t0);
        let allowed = (0..10_000u32)
            .filter(|i| limiter.allow(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), t0))
            .count();
        assert_eq!(allowed, TOTAL_LIMIT.burst as usize);
        assert!(limiter.sources.len() <= MAX_SOURCES);
        // Later, the table makes room for new addresses again.
        let later = t0 + Duration::from_secs(10);
        assert!(limiter.allow(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)), later));
        assert!(limiter.sources.len() <= MAX_SOURCES);
    }

    /// One that nothing will be sent to in these tests: multicast answers are only queued.
    fn announcer() -> Announcer {
        let (socket, multicast) = bind(
            free_port(),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, free_port()),
            &[],
        )
        .expect("bind");
        Announcer {
            config: config(),
            socket,
            multicast,
            group: SocketAddr::from((Ipv4Addr::LOCALHOST, free_port())),
            instance_id: 1,
            message_number: 0,
            limiter: Limiter::new(Instant::now()),
            pending: Vec::new(),
        }
    }

    #[tokio::test]
    async fn a_multicast_flood_from_many_addresses_queues_a_bounded_number_of_answers() {
        let mut me = announcer();
        for i in 0..5_000u32 {
            let from = SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 3702));
            me.receive(probe(&format!("uuid:{i}")).as_bytes(), from, true)
                .await;
        }
        assert!(!me.pending.is_empty());
        assert!(me.pending.len() <= MAX_PENDING, "{}", me.pending.len());
        assert!(me.limiter.sources.len() <= MAX_SOURCES);
    }

    #[tokio::test]
    async fn no_answer_to_a_group_address_or_for_an_outsized_message_id() {
        let mut me = announcer();
        let nvr = SocketAddr::from(([10, 0, 0, 2], 3702));
        let group = SocketAddr::from((wsd::GROUP, wsd::PORT));
        me.receive(probe("uuid:x").as_bytes(), group, true).await;
        let long = format!("uuid:{}", "x".repeat(MAX_MESSAGE_ID));
        me.receive(probe(&long).as_bytes(), nvr, true).await;
        assert!(me.pending.is_empty());
        me.receive(probe("uuid:x").as_bytes(), nvr, true).await;
        assert_eq!(me.pending.len(), 1);
    }
}
