//! The connection to the broker, over rumqttc's MQTT 3.1.1 or MQTT 5 client: one small surface
//! (publish, subscribe, the next event) so that the rest does not care which.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::v5;

use crate::config::{MqttConfig, MqttProtocol};

/// Requests rumqttc holds between our queue and the socket: small, since our own queue is the
/// one that decides what to drop.
const REQUESTS: usize = 16;
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// The largest message taken from the broker. Commands are small; this is room for our own
/// snapshots coming back (we see what we publish under our topic with MQTT 3.1.1). A bigger one
/// costs a reconnect; with MQTT 5 the broker is told and does not send it.
pub const MAX_INCOMING: usize = 4 << 20;
/// The largest message we send (a snapshot is well under this).
const MAX_OUTGOING: usize = 4 << 20;

/// What the broker said.
#[derive(Debug)]
pub enum Event {
    Connected,
    Message {
        topic: String,
        payload: Bytes,
        retain: bool,
    },
    /// Anything else that arrived or went out (acks, pings).
    Other,
}

#[derive(Clone)]
pub enum Client {
    V311(rumqttc::AsyncClient),
    V5(v5::AsyncClient),
}

pub enum Events {
    V311(Box<rumqttc::EventLoop>),
    V5(Box<v5::EventLoop>),
}

/// How to reach the broker: everything [`open`] needs, decided from the configuration.
pub struct Options<'a> {
    pub config: &'a MqttConfig,
    pub client_id: String,
    pub will_topic: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// A client and its event loop; nothing is sent until the loop is polled.
pub fn open(o: &Options) -> Result<(Client, Events), String> {
    let address = o.config.address()?;
    let with_login = !o.config.user.is_empty();
    match o.config.protocol {
        MqttProtocol::V311 => {
            let mut opts = rumqttc::MqttOptions::new(&o.client_id, &address.host, address.port);
            opts.set_keep_alive(KEEP_ALIVE)
                .set_clean_session(true)
                .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
                .set_last_will(rumqttc::LastWill::new(
                    &o.will_topic,
                    "offline",
                    rumqttc::QoS::AtLeastOnce,
                    true,
                ));
            if with_login {
                opts.set_credentials(&o.config.user, &o.config.password);
            }
            if let Some(tls) = &o.tls {
                opts.set_transport(rumqttc::Transport::tls_with_config(
                    rumqttc::TlsConfiguration::Rustls(Arc::clone(tls)),
                ));
            }
            let (client, events) = rumqttc::AsyncClient::new(opts, REQUESTS);
            Ok((Client::V311(client), Events::V311(Box::new(events))))
        }
        MqttProtocol::V5 => {
            let mut opts = v5::MqttOptions::new(&o.client_id, &address.host, address.port);
            opts.set_keep_alive(KEEP_ALIVE)
                .set_clean_start(true)
                .set_max_packet_size(Some(MAX_INCOMING as u32))
                .set_last_will(v5::mqttbytes::v5::LastWill::new(
                    &o.will_topic,
                    "offline",
                    v5::mqttbytes::QoS::AtLeastOnce,
                    true,
                    None,
                ));
            if with_login {
                opts.set_credentials(&o.config.user, &o.config.password);
            }
            if let Some(tls) = &o.tls {
                opts.set_transport(rumqttc::Transport::tls_with_config(
                    rumqttc::TlsConfiguration::Rustls(Arc::clone(tls)),
                ));
            }
            let (client, events) = v5::AsyncClient::new(opts, REQUESTS);
            Ok((Client::V5(client), Events::V5(Box::new(events))))
        }
    }
}

impl Client {
    /// Hands a message to the connection, waiting while its requests are full. Always QoS 1:
    /// states, discovery and alerts must all arrive.
    pub async fn publish(&self, topic: &str, payload: Bytes, retain: bool) -> Result<(), String> {
        match self {
            Client::V311(c) => c
                .publish_bytes(topic, rumqttc::QoS::AtLeastOnce, retain, payload)
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .publish_bytes(topic, v5::mqttbytes::QoS::AtLeastOnce, retain, payload)
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Subscribes to `filters`. With MQTT 5 what we publish ourselves is not sent back.
    pub async fn subscribe(&self, filters: &[String]) -> Result<(), String> {
        match self {
            Client::V311(c) => c
                .subscribe_many(
                    filters.iter().map(|f| {
                        rumqttc::SubscribeFilter::new(f.clone(), rumqttc::QoS::AtLeastOnce)
                    }),
                )
                .await
                .map_err(|e| e.to_string()),
            Client::V5(c) => c
                .subscribe_many(filters.iter().map(|f| {
                    let mut filter =
                        v5::mqttbytes::v5::Filter::new(f.clone(), v5::mqttbytes::QoS::AtLeastOnce);
                    filter.nolocal = true;
                    filter
                }))
                .await
                .map_err(|e| e.to_string()),
        }
    }

    /// Publishes `offline` (a clean stop sends no last will) and disconnects; bounded in time.
    pub async fn goodbye(&self, will_topic: &str) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            let _ = self
                .publish(will_topic, Bytes::from_static(b"offline"), true)
                .await;
            match self {
                Client::V311(c) => c.disconnect().await.map_err(|e| e.to_string()),
                Client::V5(c) => c.disconnect().await.map_err(|e| e.to_string()),
            }
        })
        .await;
    }
}

impl Events {
    /// The next event; an error means the connection is down (the next call reconnects).
    pub async fn next(&mut self) -> Result<Event, String> {
        match self {
            Events::V311(l) => match l.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(_))) => {
                    // rumqttc 0.25 keeps a packet-id collision from the last connection (a
                    // broker that never acked) through a clean one, and sends nothing more
                    // (bytebeamio/rumqtt#1056): a new session has no old packets.
                    l.state.collision = None;
                    Ok(Event::Connected)
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => Ok(Event::Message {
                    topic: p.topic,
                    payload: p.payload,
                    retain: p.retain,
                }),
                Ok(_) => Ok(Event::Other),
                Err(e) => Err(e.to_string()),
            },
            Events::V5(l) => match l.poll().await {
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::ConnAck(_))) => {
                    l.state.collision = None;
                    Ok(Event::Connected)
                }
                Ok(v5::Event::Incoming(v5::mqttbytes::v5::Packet::Publish(p))) => {
                    Ok(Event::Message {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload,
                        retain: p.retain,
                    })
                }
                Ok(_) => Ok(Event::Other),
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

/// TLS for `mqtts://`: only the CA in `ca_file` where it is set, else the public and the
/// system's roots.
pub fn tls_config(config: &MqttConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    use crate::platform::trust;
    let roots = if config.ca_file.as_os_str().is_empty() {
        trust::public_roots()
    } else {
        trust::roots_from_pem(&config.ca_file)?
    };
    trust::client_config(roots).map_err(|e| e.to_string())
}
