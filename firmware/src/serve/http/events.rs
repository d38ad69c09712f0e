//! The ONVIF Events service and its subscription managers, on `/onvif/events_service` and
//! `/onvif/subscription/<id>`: SOAP in, the firmware's subscriptions behind.

use onvif::events::{self, EventsRequest};
use onvif::service::Context;
use onvif::soap::Fault;

use super::AppState;
use crate::events::{Kind, push};

/// Where a subscription's manager answers.
pub(super) const SUBSCRIPTION_PATH: &str = "/onvif/subscription/";

/// The subscription a path names, if it is a subscription address.
pub(super) fn subscription_id(path: &str) -> Option<u64> {
    path.strip_prefix(SUBSCRIPTION_PATH)?
        .trim_end_matches('/')
        .parse()
        .ok()
}

fn address(ctx: &Context, id: u64) -> String {
    ctx.http_url(&format!("{SUBSCRIPTION_PATH}{id}"))
}

/// Runs an Events operation; PullMessages may wait (asynchronously) for messages.
pub(super) async fn handle(
    state: &AppState,
    req: &onvif::soap::Request,
    ctx: &Context,
    subscription: Option<u64>,
) -> Result<String, Fault> {
    let request = events::parse(req)?;
    let target = target(&request, subscription)?;
    check_owner(state, ctx, target)?;
    let bus = &state.bus;
    let subs = bus.subscriptions();
    let mut out = String::with_capacity(1024);
    match request {
        EventsRequest::GetServiceCapabilities => {
            out.push_str("<tev:GetServiceCapabilitiesResponse>");
            events::capabilities(&mut out, subs.max());
            out.push_str("</tev:GetServiceCapabilitiesResponse>");
        }
        EventsRequest::GetEventProperties => properties(state, &mut out),
        EventsRequest::CreatePullPointSubscription { expiry, filter } => {
            let (id, now, end) =
                subs.create(user(ctx), Kind::Pull, filter, expiry, bus.snapshot())?;
            tracing::info!(subscription = id, user = user(ctx), "pull point created");
            events::subscription_created(
                &mut out,
                "tev:CreatePullPointSubscriptionResponse",
                &address(ctx, id),
                now,
                end,
            );
        }
        EventsRequest::Subscribe {
            consumer,
            expiry,
            filter,
        } => subscribe(state, ctx, consumer, expiry, filter, &mut out)?,
        EventsRequest::PullMessages { timeout, limit } => {
            let id = target.ok_or_else(events::unknown_subscription)?;
            if subs.kind(id) != Some(Kind::Pull) {
                return Err(events::unknown_subscription());
            }
            let pulled = subs.pull(id, timeout, limit).await?;
            events::pull_messages_response(
                &mut out,
                pulled.now,
                pulled.termination,
                &pulled.messages,
            );
        }
        EventsRequest::Renew { expiry } => {
            let id = target.ok_or_else(events::unknown_subscription)?;
            let (now, end) = subs.renew(id, expiry)?;
            events::renew_response(&mut out, now, end);
        }
        EventsRequest::Unsubscribe => {
            let id = target.ok_or_else(events::unknown_subscription)?;
            subs.unsubscribe(id)?;
            tracing::info!(subscription = id, "unsubscribed");
            out.push_str("<wsnt:UnsubscribeResponse/>");
        }
        EventsRequest::SetSynchronizationPoint => {
            subs.synchronize(target, &bus.snapshot())?;
            out.push_str("<tev:SetSynchronizationPointResponse/>");
        }
    }
    Ok(out)
}

/// The user the operation came from (empty for a pre-auth one).
fn user(ctx: &Context) -> &str {
    ctx.user.as_ref().map_or("", |u| u.0.as_str())
}

/// The subscription an operation is for. Manager operations need the subscription's own
/// address; SetSynchronizationPoint posted to the Events service applies to every subscription.
fn target(request: &EventsRequest, subscription: Option<u64>) -> Result<Option<u64>, Fault> {
    match (request.needs_subscription(), subscription) {
        (true, Some(id)) => Ok(Some(id)),
        (true, None) if *request != EventsRequest::SetSynchronizationPoint => {
            Err(Fault::invalid_arg(
                "NoSubscription",
                "send this to the subscription's address (SubscriptionReference)",
            ))
        }
        _ => Ok(None),
    }
}

/// A subscription is its maker's: another user (but an admin) is told it does not exist.
fn check_owner(state: &AppState, ctx: &Context, target: Option<u64>) -> Result<(), Fault> {
    let admin = ctx
        .user
        .as_ref()
        .is_some_and(|u| u.1 == onvif::model::UserLevel::Administrator);
    match target {
        Some(id)
            if !admin
                && state
                    .bus
                    .subscriptions()
                    .owner(id)
                    .is_some_and(|owner| owner != user(ctx)) =>
        {
            Err(events::unknown_subscription())
        }
        _ => Ok(()),
    }
}

fn properties(state: &AppState, out: &mut String) {
    out.push_str("<tev:GetEventPropertiesResponse>");
    events::event_properties(
        out,
        &crate::events::topics::descriptions(
            state.climate.is_some(),
            state.camera.has_night(),
            state.audio.is_some(),
        ),
    );
    out.push_str("</tev:GetEventPropertiesResponse>");
}

/// Subscribe: a push subscription, whose messages are sent to `consumer`.
fn subscribe(
    state: &AppState,
    ctx: &Context,
    consumer: String,
    expiry: Option<events::Expiry>,
    filter: events::TopicFilter,
    out: &mut String,
) -> Result<(), Fault> {
    // An address is checked now, so the client hears why; a name, at every delivery.
    let host = consumer
        .parse::<hyper::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_string()));
    if let Some(ip) = host.and_then(|h| h.parse::<std::net::IpAddr>().ok())
        && !push::on_local_network(ip)
    {
        return Err(Fault::invalid_arg(
            "InvalidConsumerReference",
            format!("notifications go only to consumers on a local network, not {ip}"),
        ));
    }
    let bus = &state.bus;
    let subs = bus.subscriptions();
    let (id, now, end) = subs.create(
        user(ctx),
        Kind::Push {
            consumer: consumer.clone(),
        },
        filter,
        expiry,
        bus.snapshot(),
    )?;
    let addr = address(ctx, id);
    tracing::info!(subscription = id, %consumer, "push subscription created");
    push::spawn(std::sync::Arc::clone(subs), id, consumer, addr.clone());
    events::subscription_created(out, "wsnt:SubscribeResponse", &addr, now, end);
    Ok(())
}
