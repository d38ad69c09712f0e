//! Events (ver10) and WS-BaseNotification: requests parsed into typed values, responses and
//! notification messages written. Subscriptions themselves (queues, waiting, expiry, delivery)
//! live in the firmware: this module only knows the wire.

use std::fmt::Write as _;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ns;
use crate::service::Access::*;
use crate::service::{Table, op};
use crate::soap::{Fault, FaultCode, Request};
use crate::write::el;
use crate::xml::{Element, escape};

/// The topic dialect every ONVIF client sends and expects.
pub const CONCRETE_SET: &str = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet";
const SIMPLE_DIALECT: &str = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple";
const CONCRETE_DIALECT: &str = "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete";
const XPATH_DIALECT: &str = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter";

/// When a subscription ends: after a while, or at a moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expiry {
    After(Duration),
    At(OffsetDateTime),
}

impl Expiry {
    /// The moment, for a request that arrived at `now`.
    pub fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Expiry::After(d) => now + d,
            Expiry::At(t) => t,
        }
    }
}

/// Which topics a subscription wants: every one, or those matching one of the expressions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicFilter {
    /// Topic paths without the `tns1:` prefix; a path ending in `//.` (or `/*`) takes its
    /// descendants too. Empty: everything.
    patterns: Vec<String>,
}

impl TopicFilter {
    pub fn everything() -> Self {
        Self::default()
    }

    /// Parses a ConcreteSet expression such as `tns1:VideoSource/MotionAlarm|tns1:Device//.`.
    pub fn parse(expression: &str) -> Result<Self, Fault> {
        let mut patterns = Vec::new();
        for part in expression.split('|') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let path = strip_topic_prefix(part);
            if path.is_empty() || path.contains(char::is_whitespace) {
                return Err(invalid_topic(part));
            }
            patterns.push(path.to_string());
        }
        if patterns.is_empty() {
            return Err(invalid_topic(expression));
        }
        Ok(Self { patterns })
    }

    pub fn matches(&self, topic: &str) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let topic = strip_topic_prefix(topic);
        self.patterns.iter().any(|p| {
            if let Some(root) = p.strip_suffix("//.").or_else(|| p.strip_suffix("/*")) {
                topic == root
                    || topic
                        .strip_prefix(root)
                        .is_some_and(|rest| rest.starts_with('/'))
            } else {
                topic == p
            }
        })
    }
}

/// `tns1:A/tns1:B` and `A/B` name the same topic.
fn strip_topic_prefix(topic: &str) -> &str {
    topic.strip_prefix("tns1:").unwrap_or(topic)
}

fn invalid_topic(what: &str) -> Fault {
    Fault::invalid_arg(
        "InvalidTopicExpression",
        format!("cannot read the topic expression \"{}\"", escape(what)),
    )
}

/// One Events or subscription-manager operation.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsRequest {
    GetServiceCapabilities,
    GetEventProperties,
    CreatePullPointSubscription {
        expiry: Option<Expiry>,
        filter: TopicFilter,
    },
    /// Posted to a subscription's own address.
    PullMessages {
        timeout: Duration,
        limit: u32,
    },
    SetSynchronizationPoint,
    Renew {
        expiry: Option<Expiry>,
    },
    Unsubscribe,
    /// WS-BaseNotification: the camera POSTs `Notify` to `consumer`.
    Subscribe {
        consumer: String,
        expiry: Option<Expiry>,
        filter: TopicFilter,
    },
}

impl EventsRequest {
    /// Whether it is addressed to a subscription rather than to the Events service.
    pub fn needs_subscription(&self) -> bool {
        matches!(
            self,
            EventsRequest::PullMessages { .. }
                | EventsRequest::Renew { .. }
                | EventsRequest::Unsubscribe
                | EventsRequest::SetSynchronizationPoint
        )
    }
}

/// Whether an operation belongs to the Events service or the subscription managers.
pub fn is_events_operation(op: &Element) -> bool {
    op.ns == ns::TEV || op.ns == ns::WSNT
}

type Parse = fn(&Element) -> Result<EventsRequest, Fault>;

/// The Events service's and the subscription managers' operations (the firmware runs them).
#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Parse> = Table {
    operations: &[
        op("GetServiceCapabilities", PreAuth, |_| Ok(EventsRequest::GetServiceCapabilities)),
        op("GetEventProperties", ReadMedia, |_| Ok(EventsRequest::GetEventProperties)),
        op("CreatePullPointSubscription", ReadMedia, create_pull_point_subscription),
        op("PullMessages", ReadMedia, pull_messages),
        op("SetSynchronizationPoint", ReadMedia, |_| Ok(EventsRequest::SetSynchronizationPoint)),
        op("Renew", ReadMedia, renew),
        op("Unsubscribe", ReadMedia, |_| Ok(EventsRequest::Unsubscribe)),
        op("Subscribe", ReadMedia, subscribe),
    ],
};

/// Reads an Events request; an operation it does not know is `ActionNotSupported`.
pub fn parse(req: &Request) -> Result<EventsRequest, Fault> {
    (OPERATIONS.find(req.name())?.run)(&req.operation)
}

fn create_pull_point_subscription(op: &Element) -> Result<EventsRequest, Fault> {
    Ok(EventsRequest::CreatePullPointSubscription {
        expiry: optional_expiry(op.text_of("InitialTerminationTime"))?,
        filter: filter(op)?,
    })
}

fn pull_messages(op: &Element) -> Result<EventsRequest, Fault> {
    let timeout = op
        .text_of("Timeout")
        .ok_or_else(|| Fault::missing_arg("Timeout"))
        .and_then(|t| {
            crate::duration::parse(t).ok_or_else(|| {
                Fault::invalid_arg(
                    "InvalidTimeout",
                    format!("\"{}\" is not a duration", escape(t)),
                )
            })
        })?;
    let limit = op
        .text_of("MessageLimit")
        .ok_or_else(|| Fault::missing_arg("MessageLimit"))?
        .trim();
    let limit = limit.parse::<u32>().map_err(|_| {
        Fault::invalid_arg(
            "InvalidMessageLimit",
            format!("\"{}\" is not a message count", escape(limit)),
        )
    })?;
    Ok(EventsRequest::PullMessages { timeout, limit })
}

fn renew(op: &Element) -> Result<EventsRequest, Fault> {
    Ok(EventsRequest::Renew {
        expiry: optional_expiry(op.text_of("TerminationTime"))?,
    })
}

fn subscribe(op: &Element) -> Result<EventsRequest, Fault> {
    let consumer = op
        .path(&["ConsumerReference", "Address"])
        .map(|a| a.text.trim().to_string())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Fault::missing_arg("ConsumerReference/Address"))?;
    if !consumer.starts_with("http://") {
        return Err(Fault::invalid_arg(
            "InvalidConsumerReference",
            "notifications go to http:// consumers only",
        ));
    }
    Ok(EventsRequest::Subscribe {
        consumer,
        expiry: optional_expiry(op.text_of("InitialTerminationTime"))?,
        filter: filter(op)?,
    })
}

fn filter(op: &Element) -> Result<TopicFilter, Fault> {
    let Some(f) = op.child("Filter") else {
        return Ok(TopicFilter::everything());
    };
    if f.child("MessageContent").is_some() {
        return Err(Fault::invalid_arg(
            "InvalidMessageContentExpression",
            "message content filters are not supported",
        ));
    }
    let Some(expr) = f.child("TopicExpression") else {
        return Ok(TopicFilter::everything());
    };
    match expr.attr("Dialect") {
        None | Some(CONCRETE_SET) | Some(SIMPLE_DIALECT) | Some(CONCRETE_DIALECT) => {
            TopicFilter::parse(&expr.text)
        }
        Some(_) => Err(Fault::invalid_arg(
            "TopicExpressionDialectUnknown",
            "only the ConcreteSet topic dialect is supported",
        )),
    }
}

fn optional_expiry(text: Option<&str>) -> Result<Option<Expiry>, Fault> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Some(d) = crate::duration::parse(text) {
        return Ok(Some(Expiry::After(d)));
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| Some(Expiry::At(t)))
        .map_err(|_| {
            Fault::invalid_arg(
                "UnacceptableTerminationTime",
                format!("\"{}\" is neither a duration nor a time", escape(text)),
            )
        })
}

pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Whether a property message says the property appeared, changed, or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyOperation {
    Initialized,
    Changed,
    Deleted,
}

impl PropertyOperation {
    fn as_str(self) -> &'static str {
        match self {
            PropertyOperation::Initialized => "Initialized",
            PropertyOperation::Changed => "Changed",
            PropertyOperation::Deleted => "Deleted",
        }
    }
}

/// One event as it travels: topic, when, and its source and data items.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// With the `tns1:` prefix, e.g. `tns1:VideoSource/MotionAlarm`.
    pub topic: String,
    pub utc: OffsetDateTime,
    /// `None` for an event that is not a property (a one-off).
    pub operation: Option<PropertyOperation>,
    pub source: Vec<(String, String)>,
    pub data: Vec<(String, String)>,
}

/// What a topic's messages carry, for GetEventProperties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub topic: &'static str,
    pub is_property: bool,
    /// (item name, XML Schema type), e.g. `("VideoSourceToken", "tt:ReferenceToken")`.
    pub source: Vec<(&'static str, &'static str)>,
    pub data: Vec<(&'static str, &'static str)>,
}

fn simple_items(out: &mut String, tag: &str, items: &[(String, String)]) {
    if items.is_empty() {
        return;
    }
    let _ = write!(out, "<tt:{tag}>");
    for (name, value) in items {
        let _ = write!(
            out,
            "<tt:SimpleItem Name=\"{}\" Value=\"{}\"/>",
            escape(name),
            escape(value)
        );
    }
    let _ = write!(out, "</tt:{tag}>");
}

/// `wsnt:NotificationMessage`, optionally naming the subscription it came from.
pub fn notification_message(out: &mut String, n: &Notification, subscription: Option<&str>) {
    out.push_str("<wsnt:NotificationMessage>");
    if let Some(address) = subscription {
        out.push_str("<wsnt:SubscriptionReference>");
        el(out, "wsa:Address", address);
        out.push_str("</wsnt:SubscriptionReference>");
    }
    let _ = write!(
        out,
        "<wsnt:Topic Dialect=\"{CONCRETE_SET}\">{}</wsnt:Topic><wsnt:Message><tt:Message UtcTime=\"{}\"",
        escape(&n.topic),
        format_time(n.utc)
    );
    if let Some(op) = n.operation {
        let _ = write!(out, " PropertyOperation=\"{}\"", op.as_str());
    }
    out.push('>');
    simple_items(out, "Source", &n.source);
    simple_items(out, "Data", &n.data);
    out.push_str("</tt:Message></wsnt:Message></wsnt:NotificationMessage>");
}

pub fn capabilities(out: &mut String, max_pull_points: usize) {
    let _ = write!(
        out,
        "<tev:Capabilities WSSubscriptionPolicySupport=\"false\" WSPullPointSupport=\"true\" \
         WSPausableSubscriptionManagerInterfaceSupport=\"false\" MaxNotificationProducers=\"{max_pull_points}\" \
         MaxPullPoints=\"{max_pull_points}\" PersistentNotificationStorage=\"false\"/>"
    );
}

/// GetEventProperties: the topic tree of everything the camera sends.
pub fn event_properties(out: &mut String, topics: &[TopicDescription]) {
    el(
        out,
        "tev:TopicNamespaceLocation",
        "http://www.onvif.org/onvif/ver10/topics/topicns.xml",
    );
    el(out, "wsnt:FixedTopicSet", "true");
    out.push_str("<wstop:TopicSet>");
    let mut sorted: Vec<&TopicDescription> = topics.iter().collect();
    sorted.sort_by_key(|t| t.topic);
    // Walks the sorted paths, closing and opening elements where they part.
    let mut open: Vec<&str> = Vec::new();
    for t in sorted {
        let parts: Vec<&str> = strip_topic_prefix(t.topic).split('/').collect();
        let common = open
            .iter()
            .zip(&parts)
            .take_while(|(a, b)| a == b)
            .count()
            .min(parts.len() - 1);
        while open.len() > common {
            if let Some(p) = open.pop() {
                let _ = write!(out, "</tns1:{p}>");
            }
        }
        for p in &parts[common..parts.len() - 1] {
            let _ = write!(out, "<tns1:{p}>");
            open.push(p);
        }
        let leaf = parts[parts.len() - 1];
        let _ = write!(
            out,
            "<tns1:{leaf} wstop:topic=\"true\"><tt:MessageDescription IsProperty=\"{}\">",
            t.is_property
        );
        for (tag, items) in [("Source", &t.source), ("Data", &t.data)] {
            if items.is_empty() {
                continue;
            }
            let _ = write!(out, "<tt:{tag}>");
            for (name, ty) in items.iter() {
                let _ = write!(
                    out,
                    "<tt:SimpleItemDescription Name=\"{name}\" Type=\"{ty}\"/>"
                );
            }
            let _ = write!(out, "</tt:{tag}>");
        }
        let _ = write!(out, "</tt:MessageDescription></tns1:{leaf}>");
    }
    while let Some(p) = open.pop() {
        let _ = write!(out, "</tns1:{p}>");
    }
    out.push_str("</wstop:TopicSet>");
    for dialect in [CONCRETE_SET, CONCRETE_DIALECT] {
        el(out, "wsnt:TopicExpressionDialect", dialect);
    }
    el(out, "tev:MessageContentFilterDialect", XPATH_DIALECT);
    el(
        out,
        "tev:MessageContentSchemaLocation",
        "http://www.onvif.org/onvif/ver10/schema/onvif.xsd",
    );
}

/// The body of CreatePullPointSubscriptionResponse or SubscribeResponse.
pub fn subscription_created(
    out: &mut String,
    element: &str,
    address: &str,
    now: OffsetDateTime,
    termination: OffsetDateTime,
) {
    let _ = write!(out, "<{element}>");
    let prefix = element.split(':').next().unwrap_or("tev");
    let _ = write!(out, "<{prefix}:SubscriptionReference>");
    el(out, "wsa:Address", address);
    let _ = write!(out, "</{prefix}:SubscriptionReference>");
    el(out, "wsnt:CurrentTime", format_time(now));
    el(out, "wsnt:TerminationTime", format_time(termination));
    let _ = write!(out, "</{element}>");
}

pub fn pull_messages_response(
    out: &mut String,
    now: OffsetDateTime,
    termination: OffsetDateTime,
    messages: &[Notification],
) {
    out.push_str("<tev:PullMessagesResponse>");
    el(out, "tev:CurrentTime", format_time(now));
    el(out, "tev:TerminationTime", format_time(termination));
    for m in messages {
        notification_message(out, m, None);
    }
    out.push_str("</tev:PullMessagesResponse>");
}

pub fn renew_response(out: &mut String, now: OffsetDateTime, termination: OffsetDateTime) {
    out.push_str("<wsnt:RenewResponse>");
    el(out, "wsnt:TerminationTime", format_time(termination));
    el(out, "wsnt:CurrentTime", format_time(now));
    out.push_str("</wsnt:RenewResponse>");
}

/// A `Notify` envelope for a push consumer.
pub fn notify_envelope(consumer: &str, subscription: &str, messages: &[Notification]) -> String {
    let mut body = String::with_capacity(1024);
    body.push_str("<wsnt:Notify>");
    for m in messages {
        notification_message(&mut body, m, Some(subscription));
    }
    body.push_str("</wsnt:Notify>");
    let header = format!(
        "<wsa:Action>http://docs.oasis-open.org/wsn/bw-2/NotificationConsumer/Notify</wsa:Action><wsa:To>{}</wsa:To>",
        escape(consumer)
    );
    crate::soap::envelope_with_header(&header, &body)
}

/// The subscription a request names does not exist (never did, ended, or expired).
pub fn unknown_subscription() -> Fault {
    Fault::new(
        FaultCode::Sender,
        &["InvalidArgVal", "ResourceUnknown"],
        "no such subscription: it ended or expired",
    )
}

/// More subscriptions than the camera keeps.
pub fn too_many_subscriptions(max: usize) -> Fault {
    Fault::new(
        FaultCode::Receiver,
        &["Action", "TooManySubscriptions"],
        format!("the camera keeps at most {max} subscriptions; end one first"),
    )
}

/// A termination time in the past, or further than the camera allows.
pub fn unacceptable_termination(reason: impl Into<String>) -> Fault {
    Fault::invalid_arg("UnacceptableTerminationTime", reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::parse_request;

    fn request(op: &str) -> Request {
        let xml = format!(
            "<s:Envelope xmlns:s=\"{}\" xmlns:tev=\"{}\" xmlns:wsnt=\"{}\" xmlns:wsa=\"{}\"><s:Body>{op}</s:Body></s:Envelope>",
            ns::SOAP_ENV,
            ns::TEV,
            ns::WSNT,
            ns::WSA
        );
        parse_request(xml.as_bytes()).expect("envelope")
    }

    #[test]
    fn pull_messages_is_read() {
        let r = request(
            "<tev:PullMessages><tev:Timeout>PT1M</tev:Timeout><tev:MessageLimit>100</tev:MessageLimit></tev:PullMessages>",
        );
        assert_eq!(
            parse(&r),
            Ok(EventsRequest::PullMessages {
                timeout: Duration::from_secs(60),
                limit: 100
            })
        );
        let r = request(
            "<tev:PullMessages><tev:Timeout>soon</tev:Timeout><tev:MessageLimit>1</tev:MessageLimit></tev:PullMessages>",
        );
        assert!(parse(&r).is_err());
        let r = request(
            "<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>-1</tev:MessageLimit></tev:PullMessages>",
        );
        assert!(parse(&r).is_err());
    }

    #[test]
    fn subscribe_needs_an_http_consumer() {
        let ok = request(
            "<wsnt:Subscribe><wsnt:ConsumerReference><wsa:Address>http://10.0.0.2:8123/api/webhook/x</wsa:Address></wsnt:ConsumerReference><wsnt:InitialTerminationTime>PT600S</wsnt:InitialTerminationTime></wsnt:Subscribe>",
        );
        assert_eq!(
            parse(&ok),
            Ok(EventsRequest::Subscribe {
                consumer: "http://10.0.0.2:8123/api/webhook/x".into(),
                expiry: Some(Expiry::After(Duration::from_secs(600))),
                filter: TopicFilter::everything(),
            })
        );
        let bad = request(
            "<wsnt:Subscribe><wsnt:ConsumerReference><wsa:Address>file:///etc/passwd</wsa:Address></wsnt:ConsumerReference></wsnt:Subscribe>",
        );
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn absolute_termination_times_are_read() {
        let r = request(
            "<wsnt:Renew><wsnt:TerminationTime>2026-12-01T10:00:00Z</wsnt:TerminationTime></wsnt:Renew>",
        );
        match parse(&r) {
            Ok(EventsRequest::Renew {
                expiry: Some(Expiry::At(t)),
            }) => assert_eq!(t.hour(), 10),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn topic_filters_match_paths_and_subtrees() {
        let f = TopicFilter::parse("tns1:VideoSource/MotionAlarm|tns1:Device//.").expect("filter");
        assert!(f.matches("tns1:VideoSource/MotionAlarm"));
        assert!(f.matches("tns1:Device/Trigger/Relay"));
        assert!(!f.matches("tns1:DeviceX/Trigger"));
        assert!(!f.matches("tns1:AudioAnalytics/Audio/DetectedSound"));
        assert!(TopicFilter::everything().matches("anything"));
        assert!(TopicFilter::parse(" | ").is_err());
    }

    #[test]
    fn the_topic_set_nests_shared_paths_once() {
        let topics = vec![
            TopicDescription {
                topic: "tns1:Device/Sensor/Temperature/High",
                is_property: true,
                source: vec![("SensorToken", "tt:ReferenceToken")],
                data: vec![("State", "xs:boolean")],
            },
            TopicDescription {
                topic: "tns1:Device/Sensor/Temperature/Low",
                is_property: true,
                source: vec![],
                data: vec![("State", "xs:boolean")],
            },
            TopicDescription {
                topic: "tns1:VideoSource/MotionAlarm",
                is_property: true,
                source: vec![],
                data: vec![],
            },
        ];
        let mut out = String::new();
        event_properties(&mut out, &topics);
        assert_eq!(out.matches("<tns1:Device>").count(), 1);
        assert_eq!(out.matches("<tns1:Temperature>").count(), 1);
        assert!(out.contains("</tns1:Temperature></tns1:Sensor></tns1:Device><tns1:VideoSource>"));
        let envelope = crate::soap::envelope(&out);
        crate::xml::parse(&envelope, crate::xml::Limits::default()).expect("well formed");
    }

    #[test]
    fn notifications_carry_topic_items_and_operation() {
        let n = Notification {
            topic: "tns1:VideoSource/MotionAlarm".into(),
            utc: OffsetDateTime::UNIX_EPOCH,
            operation: Some(PropertyOperation::Changed),
            source: vec![("Source".into(), "vs".into())],
            data: vec![("State".into(), "true".into())],
        };
        let xml = notify_envelope("http://nvr/hook", "http://cam/onvif/subscription/3", &[n]);
        let root = crate::xml::parse(&xml, crate::xml::Limits::default()).expect("xml");
        let msg = root
            .path(&["Body", "Notify", "NotificationMessage"])
            .expect("message");
        assert_eq!(msg.text_of("Topic"), Some("tns1:VideoSource/MotionAlarm"));
        let m = msg.path(&["Message", "Message"]).expect("tt:Message");
        assert_eq!(m.attr("PropertyOperation"), Some("Changed"));
        assert_eq!(m.attr("UtcTime"), Some("1970-01-01T00:00:00Z"));
    }
}
