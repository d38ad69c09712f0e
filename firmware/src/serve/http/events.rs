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
    let bus = &state.bus;
    let subs = bus.subscriptions();
    let mut out = String::with_capacity(1024);
    // Manager operations need the subscription's own address; SetSynchronizationPoint posted
    // to the Events service applies to every subscription.
    let target = match (request.needs_subscription(), subscription) {
        (true, Some(id)) => Some(id),
        (true, None) if request != EventsRequest::SetSynchronizationPoint => {
            return Err(Fault::invalid_arg(
                "NoSubscription",
                "send this to the subscription's address (SubscriptionReference)",
            ));
        }
        _ => None,
    };
    let user = ctx.user.as_ref().map_or("", |u| u.0.as_str());
    // A subscription is its maker's: another user (but an admin) is told it does not exist.
    if let Some(id) = target
        && subs.owner(id).is_some_and(|owner| owner != user)
        && !ctx
            .user
            .as_ref()
            .is_some_and(|u| u.1 == onvif::model::UserLevel::Administrator)
    {
        return Err(events::unknown_subscription());
    }
    match request {
        EventsRequest::GetServiceCapabilities => {
            out.push_str("<tev:GetServiceCapabilitiesResponse>");
            events::capabilities(&mut out, subs.max());
            out.push_str("</tev:GetServiceCapabilitiesResponse>");
        }
        EventsRequest::GetEventProperties => {
            out.push_str("<tev:GetEventPropertiesResponse>");
            events::event_properties(
                &mut out,
                &crate::events::topics::descriptions(
                    state.climate.is_some(),
                    state.camera.has_night(),
                    state.audio.is_some(),
                ),
            );
            out.push_str("</tev:GetEventPropertiesResponse>");
        }
        EventsRequest::CreatePullPointSubscription { expiry, filter } => {
            let (id, now, end) = subs.create(user, Kind::Pull, filter, expiry, bus.snapshot())?;
            tracing::info!(subscription = id, user, "pull point created");
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
        } => {
            let (id, now, end) = subs.create(
                user,
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
            events::subscription_created(&mut out, "wsnt:SubscribeResponse", &addr, now, end);
        }
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
