//! Device service (ver10): identity, capabilities, time, users, discovery mode, reboot.

use std::fmt::Write as _;

use time::OffsetDateTime;

use crate::model::{NewUser, UserLevel};
use crate::service::Access::*;
use crate::service::{Context, DeviceBackend, MediaBackend, Service, Table, op, respond};
use crate::soap::{Fault, Request};
use crate::write::el;
use crate::xml::{Element, escape};

/// Services we offer, with the version we claim.
const SERVICES: [(Service, u32, u32); 7] = [
    (Service::Device, 2, 5),
    (Service::Media, 2, 5),
    (Service::Media2, 2, 0),
    (Service::Ptz, 2, 5),
    (Service::Imaging, 2, 5),
    (Service::DeviceIo, 2, 5),
    (Service::Events, 2, 6),
];

/// What every Device operation is given.
pub(crate) struct Call<'a> {
    op: &'a Element,
    ctx: &'a Context,
    dev: &'a dyn DeviceBackend,
    media: &'a dyn MediaBackend,
    relay: Option<&'a dyn crate::deviceio::RelayBackend>,
}

pub(crate) type Run = fn(&Call<'_>, &mut String) -> Result<(), Fault>;

#[rustfmt::skip]
pub(crate) static OPERATIONS: Table<Run> = Table {
    operations: &[
        op("GetSystemDateAndTime", PreAuth, get_system_date_and_time),
        op("SetSystemDateAndTime", WriteSystem, |c, _| set_system_date_and_time(c.op, OffsetDateTime::now_utc())),
        op("GetServices", PreAuth, get_services),
        op("GetServiceCapabilities", PreAuth, get_service_capabilities),
        op("GetCapabilities", PreAuth, |c, out| capabilities(out, c.op, c.ctx, c.media)),
        op("GetDeviceInformation", ReadSystem, get_device_information),
        op("GetNetworkInterfaces", ReadSystem, get_network_interfaces),
        op("GetScopes", ReadSystem, get_scopes),
        op("GetHostname", PreAuth, get_hostname),
        op("GetWsdlUrl", PreAuth, get_wsdl_url),
        op("GetEndpointReference", PreAuth, get_endpoint_reference),
        op("GetNetworkProtocols", ReadSystem, get_network_protocols),
        op("GetDNS", ReadSystem, get_dns),
        op("GetNetworkDefaultGateway", ReadSystem, get_network_default_gateway),
        op("GetNTP", ReadSystem, get_ntp),
        op("GetDiscoveryMode", ReadSystem, get_discovery_mode),
        op("SetDiscoveryMode", WriteSystem, set_discovery_mode),
        op("GetUsers", ReadSystemSecret, get_users),
        op("CreateUsers", ReadSystemSecret, |c, _| c.dev.create_users(read_users(c.op, true)?)),
        op("SetUser", ReadSystemSecret, |c, _| c.dev.set_users(read_users(c.op, false)?)),
        op("DeleteUsers", ReadSystemSecret, delete_users),
        op("SystemReboot", Unrecoverable, system_reboot),
        // A new firmware replaces the whole system: Unrecoverable, as the Core spec classes it.
        op("StartFirmwareUpgrade", Unrecoverable, start_firmware_upgrade),
        op("SetSystemFactoryDefault", Unrecoverable, set_system_factory_default),
        // Switching the relay or sending an auxiliary command moves hardware: Actuate, as the
        // Core spec classes them and as DeviceIO and PTZ do, so a user-level account cannot
        // switch night vision through the Device service either.
        op("GetRelayOutputs", ReadSystem, get_relay_outputs),
        op("SetRelayOutputState", Actuate, set_relay_output_state),
        op("SetRelayOutputSettings", Actuate, |c, _| crate::deviceio::set_settings(c.op)),
        op("SendAuxiliaryCommand", Actuate, send_auxiliary_command),
    ],
};

pub(crate) fn handle(
    req: &Request,
    ctx: &Context,
    dev: &dyn DeviceBackend,
    media: &dyn MediaBackend,
    relay: Option<&dyn crate::deviceio::RelayBackend>,
) -> Result<String, Fault> {
    let operation = OPERATIONS.find(req.name())?;
    let call = Call {
        op: &req.operation,
        ctx,
        dev,
        media,
        relay,
    };
    respond("tds", req.name(), |out| (operation.run)(&call, out))
}

fn get_system_date_and_time(_: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    system_date_and_time(out, OffsetDateTime::now_utc());
    Ok(())
}

fn get_services(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let with_caps =
        c.op.text_of("IncludeCapability")
            .is_some_and(|v| v.trim() == "true");
    for (service, major, minor) in SERVICES {
        if offered(c.ctx, service) {
            out.push_str("<tds:Service>");
            el(out, "tds:Namespace", service.namespace());
            el(out, "tds:XAddr", c.ctx.http_url(service.path()));
            if with_caps {
                out.push_str("<tds:Capabilities>");
                service_capabilities(out, c, service);
                out.push_str("</tds:Capabilities>");
            }
            let _ = write!(
                out,
                "<tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}</tt:Minor></tds:Version>"
            );
            out.push_str("</tds:Service>");
        }
    }
    Ok(())
}

fn offered(ctx: &Context, service: Service) -> bool {
    match service {
        Service::Ptz => ctx.has_ptz,
        Service::Imaging => ctx.has_night,
        Service::DeviceIo => ctx.has_night || ctx.clip_limits.is_some(),
        _ => true,
    }
}

/// A service's own GetServiceCapabilities answer, for GetServices.
fn service_capabilities(out: &mut String, c: &Call<'_>, service: Service) {
    let ctx = c.ctx;
    match service {
        Service::Device => device_capabilities(out),
        Service::Media => crate::media::capabilities(out),
        Service::Media2 => {
            crate::media2::capabilities(out, ctx, !c.media.audio_sources().is_empty())
        }
        Service::Ptz => crate::ptz::capabilities(out),
        Service::Imaging => crate::imaging::capabilities(out),
        Service::Events => crate::events::capabilities(out, ctx.max_subscriptions),
        Service::DeviceIo => {
            crate::deviceio::capabilities(out, c.media, ctx.clip_limits.is_some(), ctx.has_night)
        }
    }
}

fn get_service_capabilities(_: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    device_capabilities(out);
    Ok(())
}

fn get_device_information(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let info = c.dev.information();
    el(out, "tds:Manufacturer", &info.manufacturer);
    el(out, "tds:Model", &info.model);
    el(out, "tds:FirmwareVersion", &info.firmware_version);
    el(out, "tds:SerialNumber", &info.serial_number);
    el(out, "tds:HardwareId", &info.hardware_id);
    Ok(())
}

fn get_network_interfaces(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for nic in c.dev.network_interfaces() {
        let _ = write!(
            out,
            "<tds:NetworkInterfaces token=\"{}\"><tt:Enabled>true</tt:Enabled><tt:Info>",
            escape(&nic.token)
        );
        el(out, "tt:Name", &nic.name);
        el(out, "tt:HwAddress", &nic.mac);
        el(out, "tt:MTU", nic.mtu);
        out.push_str("</tt:Info><tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>");
        for (addr, prefix) in &nic.ipv4 {
            out.push_str("<tt:Manual>");
            el(out, "tt:Address", addr);
            el(out, "tt:PrefixLength", prefix);
            out.push_str("</tt:Manual>");
        }
        out.push_str("<tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4></tds:NetworkInterfaces>");
    }
    Ok(())
}

fn get_scopes(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for scope in c.dev.scopes() {
        out.push_str("<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef>");
        el(out, "tt:ScopeItem", scope);
        out.push_str("</tds:Scopes>");
    }
    Ok(())
}

fn get_hostname(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    out.push_str("<tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>");
    el(out, "tt:Name", c.dev.hostname());
    out.push_str("</tds:HostnameInformation>");
    Ok(())
}

fn get_wsdl_url(_: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    el(
        out,
        "tds:WsdlUrl",
        "https://www.onvif.org/profiles/specifications/",
    );
    Ok(())
}

fn get_endpoint_reference(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    el(out, "tds:GUID", c.dev.endpoint());
    Ok(())
}

fn get_network_protocols(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for (name, port) in [
        ("HTTP", c.ctx.tunnel_port),
        ("HTTPS", c.ctx.https_port),
        ("RTSP", c.ctx.rtsp_port),
    ] {
        out.push_str("<tds:NetworkProtocols>");
        el(out, "tt:Name", name);
        out.push_str("<tt:Enabled>true</tt:Enabled>");
        el(out, "tt:Port", port);
        out.push_str("</tds:NetworkProtocols>");
    }
    Ok(())
}

/// `<tag><tt:FromDHCP>false</tt:FromDHCP>`, each server as `<entry><tt:Type>{kind}</tt:Type>`
/// and `<address>`, then `</tag>` (GetDNS and GetNTP).
fn manual_servers(
    out: &mut String,
    tag: &str,
    entry: &str,
    kind: &str,
    address: &str,
    servers: Vec<String>,
) {
    let _ = write!(out, "<{tag}><tt:FromDHCP>false</tt:FromDHCP>");
    for server in servers {
        let _ = write!(out, "<{entry}><tt:Type>{kind}</tt:Type>");
        el(out, address, server);
        let _ = write!(out, "</{entry}>");
    }
    let _ = write!(out, "</{tag}>");
}

fn get_dns(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let servers = c.dev.dns_servers();
    manual_servers(
        out,
        "tds:DNSInformation",
        "tt:DNSManual",
        "IPv4",
        "tt:IPv4Address",
        servers,
    );
    Ok(())
}

fn get_ntp(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let servers = c.dev.ntp_servers();
    manual_servers(
        out,
        "tds:NTPInformation",
        "tt:NTPManual",
        "DNS",
        "tt:DNSname",
        servers,
    );
    Ok(())
}

fn get_network_default_gateway(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    out.push_str("<tds:NetworkGateway>");
    for gw in c.dev.gateways() {
        el(out, "tt:IPv4Address", gw);
    }
    out.push_str("</tds:NetworkGateway>");
    Ok(())
}

fn get_discovery_mode(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let mode = if c.dev.discoverable() {
        "Discoverable"
    } else {
        "NonDiscoverable"
    };
    el(out, "tds:DiscoveryMode", mode);
    Ok(())
}

fn set_discovery_mode(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    match c.op.text_of("DiscoveryMode") {
        Some("Discoverable") => c.dev.set_discoverable(true),
        Some("NonDiscoverable") => c.dev.set_discoverable(false),
        _ => Err(Fault::missing_arg("DiscoveryMode")),
    }
}

fn get_users(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    for user in c.dev.users() {
        out.push_str("<tds:User>");
        el(out, "tt:Username", &user.name);
        el(out, "tt:UserLevel", user.level.as_str());
        out.push_str("</tds:User>");
    }
    Ok(())
}

fn delete_users(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let names: Vec<String> =
        c.op.children_named("Username")
            .map(|u| u.text.clone())
            .collect();
    if names.is_empty() {
        return Err(Fault::missing_arg("Username"));
    }
    c.dev.delete_users(names)
}

fn system_reboot(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    el(out, "tds:Message", c.dev.reboot());
    Ok(())
}

fn start_firmware_upgrade(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let upload = c.dev.firmware_upload()?;
    el(out, "tds:UploadUri", c.ctx.https_url(&upload.path));
    el(
        out,
        "tds:UploadDelay",
        crate::duration::format(upload.upload_delay),
    );
    el(
        out,
        "tds:ExpectedDownTime",
        crate::duration::format(upload.expected_down_time),
    );
    Ok(())
}

fn set_system_factory_default(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    match c.op.text_of("FactoryDefault") {
        Some("Hard") => c.dev.factory_default(true),
        Some("Soft") => c.dev.factory_default(false),
        _ => Err(Fault::missing_arg("FactoryDefault")),
    }
}

fn get_relay_outputs(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    if c.relay.is_some() {
        crate::deviceio::relay_outputs(out, "tds");
    }
    Ok(())
}

fn set_relay_output_state(c: &Call<'_>, _: &mut String) -> Result<(), Fault> {
    let relay = c
        .relay
        .ok_or_else(|| Fault::invalid_arg("RelayToken", "no relays"))?;
    crate::deviceio::set_state(c.op, relay)
}

fn send_auxiliary_command(c: &Call<'_>, out: &mut String) -> Result<(), Fault> {
    let answer = crate::deviceio::auxiliary(c.op.text_of("AuxiliaryCommand"), c.relay)?;
    el(out, "tds:AuxiliaryCommandResponse", answer);
    Ok(())
}

fn read_users(op: &Element, need_password: bool) -> Result<Vec<NewUser>, Fault> {
    let mut users = Vec::new();
    for u in op.children_named("User") {
        let name = u
            .text_of("Username")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Fault::missing_arg("Username"))?;
        let password = u.text_of("Password").map(str::to_string);
        if need_password && password.as_deref().is_none_or(str::is_empty) {
            return Err(Fault::invalid_arg(
                "PasswordTooWeak",
                "a new user needs a password",
            ));
        }
        let level = u
            .text_of("UserLevel")
            .and_then(UserLevel::parse)
            .ok_or_else(|| {
                Fault::invalid_arg(
                    "AnonymousNotAllowed",
                    "UserLevel must be Administrator, Operator or User",
                )
            })?;
        users.push(NewUser {
            name: name.to_string(),
            password,
            level,
        });
    }
    if users.is_empty() {
        return Err(Fault::missing_arg("User"));
    }
    Ok(users)
}

/// How far a client's manual time may be from the camera's clock and still agree with it.
const CLOCK_TOLERANCE: time::Duration = time::Duration::seconds(5);

/// The camera keeps UTC by NTP and never sets its clock for a client. A manual time that agrees
/// with the clock is taken (Home Assistant's "Set System Date and Time" sends one), so is a
/// switch to NTP; anything else is refused with the fault the Device spec names for it.
fn set_system_date_and_time(op: &Element, now: OffsetDateTime) -> Result<(), Fault> {
    if let Some(tz) = op.path(&["TimeZone", "TZ"]).map(|t| t.text.trim())
        && !tz.is_empty()
        && !is_utc(tz)
    {
        return Err(Fault::invalid_arg(
            "InvalidTimeZone",
            format!("the camera keeps UTC (TZ UTC0); \"{tz}\" is not a POSIX time zone for UTC"),
        ));
    }
    match op.text_of("DateTimeType").map(str::trim) {
        Some("NTP") => Ok(()),
        Some("Manual") => {
            let sent = op.child("UTCDateTime").ok_or_else(|| {
                Fault::invalid_arg(
                    "InvalidDateTime",
                    "the camera keeps its clock with NTP; a manual setting needs a UTCDateTime that agrees with it",
                )
            })?;
            let sent = date_time(sent)?;
            let off = (sent - now).abs();
            if off <= CLOCK_TOLERANCE {
                Ok(())
            } else {
                Err(Fault::invalid_arg(
                    "InvalidDateTime",
                    format!(
                        "the camera keeps its clock with NTP and is not set by hand: it is {}, {} s from the time sent",
                        rfc3339(now),
                        off.whole_seconds()
                    ),
                ))
            }
        }
        _ => Err(Fault::missing_arg("DateTimeType (NTP or Manual)")),
    }
}

/// A POSIX TZ string (IEEE 1003.1 section 8.3) for UTC: a name of three or more letters (or a
/// quoted `<...>` one), a zero offset, and no daylight-saving part, e.g. `UTC0`, `GMT+0`, `<UTC>0`.
fn is_utc(tz: &str) -> bool {
    let offset = if let Some(rest) = tz.strip_prefix('<') {
        match rest.split_once('>') {
            Some((name, offset))
                if name.len() >= 3
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-') =>
            {
                offset
            }
            _ => return false,
        }
    } else {
        let letters = tz.chars().take_while(char::is_ascii_alphabetic).count();
        if letters < 3 {
            return false;
        }
        &tz[letters..]
    };
    let offset = offset.strip_prefix(['+', '-']).unwrap_or(offset);
    let mut parts = offset.split(':');
    let hours = parts.next().unwrap_or_default();
    let zero = |p: &str, max_len: usize| {
        !p.is_empty() && p.len() <= max_len && p.bytes().all(|b| b == b'0')
    };
    zero(hours, 2) && parts.clone().count() <= 2 && parts.all(|p| zero(p, 2))
}

/// A `tt:DateTime` (Date and Time, UTC).
fn date_time(e: &Element) -> Result<OffsetDateTime, Fault> {
    let bad = || {
        Fault::invalid_arg(
            "InvalidDateTime",
            "UTCDateTime is not a valid date and time",
        )
    };
    let num = |path: [&str; 2]| -> Result<i64, Fault> {
        e.path(&path)
            .and_then(|n| n.text.trim().parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let small = |v: i64| u8::try_from(v).map_err(|_| bad());
    let year = i32::try_from(num(["Date", "Year"])?).map_err(|_| bad())?;
    let month = time::Month::try_from(small(num(["Date", "Month"])?)?).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, small(num(["Date", "Day"])?)?)
        .map_err(|_| bad())?;
    let clock = time::Time::from_hms(
        small(num(["Time", "Hour"])?)?,
        small(num(["Time", "Minute"])?)?,
        small(num(["Time", "Second"])?)?,
    )
    .map_err(|_| bad())?;
    Ok(date.with_time(clock).assume_utc())
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn system_date_and_time(out: &mut String, now: OffsetDateTime) {
    out.push_str("<tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>");
    for tag in ["tt:UTCDateTime", "tt:LocalDateTime"] {
        let _ = write!(
            out,
            "<{tag}><tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time><tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date></{tag}>",
            now.hour(),
            now.minute(),
            now.second(),
            now.year(),
            u8::from(now.month()),
            now.day()
        );
    }
    out.push_str("</tds:SystemDateAndTime>");
}

fn device_capabilities(out: &mut String) {
    out.push_str(
        "<tds:Capabilities>\
         <tds:Network IPFilter=\"false\" ZeroConfiguration=\"false\" IPVersion6=\"false\" DynDNS=\"false\" Dot11Configuration=\"false\" HostnameFromDHCP=\"false\" NTP=\"0\"/>\
         <tds:Security TLS1.0=\"false\" TLS1.1=\"false\" TLS1.2=\"false\" OnboardKeyGeneration=\"false\" AccessPolicyConfig=\"false\" DefaultAccessPolicy=\"true\" Dot1X=\"false\" RemoteUserHandling=\"false\" X.509Token=\"false\" SAMLToken=\"false\" KerberosToken=\"false\" UsernameToken=\"true\" HttpDigest=\"true\" RELToken=\"false\"/>\
         <tds:System DiscoveryResolve=\"true\" DiscoveryBye=\"true\" RemoteDiscovery=\"false\" SystemBackup=\"false\" SystemLogging=\"false\" FirmwareUpgrade=\"false\" HttpFirmwareUpgrade=\"true\" HttpSystemBackup=\"false\" HttpSystemLogging=\"false\" HttpSupportInformation=\"false\"/>\
         </tds:Capabilities>",
    );
}

/// GetCapabilities (the old way of finding services): Device and Media, by category.
fn capabilities(
    out: &mut String,
    op: &Element,
    ctx: &Context,
    media: &dyn MediaBackend,
) -> Result<(), Fault> {
    let categories: Vec<&str> = op
        .children_named("Category")
        .map(|c| c.text.as_str())
        .collect();
    let wants =
        |c: &str| categories.is_empty() || categories.contains(&"All") || categories.contains(&c);
    if !categories.iter().all(|c| {
        matches!(*c, "All" | "Device" | "Media" | "Events")
            || (*c == "PTZ" && ctx.has_ptz)
            || (*c == "Imaging" && ctx.has_night)
    }) {
        return Err(Fault::new(
            crate::soap::FaultCode::Receiver,
            &["ActionNotSupported", "NoSuchService"],
            "this camera has no such service",
        ));
    }
    out.push_str("<tds:Capabilities>");
    if wants("Device") {
        out.push_str("<tt:Device>");
        el(out, "tt:XAddr", ctx.http_url(Service::Device.path()));
        let relays = u8::from(ctx.has_night);
        let _ = write!(
            out,
            "<tt:Network><tt:IPFilter>false</tt:IPFilter><tt:ZeroConfiguration>false</tt:ZeroConfiguration><tt:IPVersion6>false</tt:IPVersion6><tt:DynDNS>false</tt:DynDNS></tt:Network>\
             <tt:System><tt:DiscoveryResolve>true</tt:DiscoveryResolve><tt:DiscoveryBye>true</tt:DiscoveryBye><tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup><tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade><tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>5</tt:Minor></tt:SupportedVersions></tt:System>\
             <tt:IO><tt:InputConnectors>0</tt:InputConnectors><tt:RelayOutputs>{relays}</tt:RelayOutputs></tt:IO>\
             <tt:Security><tt:TLS1.1>false</tt:TLS1.1><tt:TLS1.2>false</tt:TLS1.2><tt:OnboardKeyGeneration>false</tt:OnboardKeyGeneration><tt:AccessPolicyConfig>false</tt:AccessPolicyConfig><tt:X.509Token>false</tt:X.509Token><tt:SAMLToken>false</tt:SAMLToken><tt:KerberosToken>false</tt:KerberosToken><tt:RELToken>false</tt:RELToken></tt:Security>"
        );
        out.push_str("</tt:Device>");
    }
    if wants("Events") {
        out.push_str("<tt:Events>");
        el(out, "tt:XAddr", ctx.http_url(Service::Events.path()));
        out.push_str("<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>");
    }
    if ctx.has_night && wants("Imaging") {
        out.push_str("<tt:Imaging>");
        el(out, "tt:XAddr", ctx.http_url(Service::Imaging.path()));
        out.push_str("</tt:Imaging>");
    }
    if wants("Media") {
        out.push_str("<tt:Media>");
        el(out, "tt:XAddr", ctx.http_url(Service::Media.path()));
        out.push_str("<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>");
    }
    if ctx.has_ptz && wants("PTZ") {
        out.push_str("<tt:PTZ>");
        el(out, "tt:XAddr", ctx.http_url(Service::Ptz.path()));
        out.push_str("</tt:PTZ>");
    }
    let speaker = ctx.clip_limits.is_some();
    if (ctx.has_night || speaker) && (categories.is_empty() || categories.contains(&"All")) {
        out.push_str("<tt:Extension><tt:DeviceIO>");
        el(out, "tt:XAddr", ctx.http_url(Service::DeviceIo.path()));
        let _ = write!(
            out,
            "<tt:VideoSources>{}</tt:VideoSources><tt:VideoOutputs>0</tt:VideoOutputs><tt:AudioSources>{}</tt:AudioSources><tt:AudioOutputs>{}</tt:AudioOutputs><tt:RelayOutputs>{}</tt:RelayOutputs></tt:DeviceIO></tt:Extension>",
            media.video_sources().len(),
            media.audio_sources().len(),
            u8::from(speaker),
            u8::from(ctx.has_night)
        );
    }
    out.push_str("</tds:Capabilities>");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::parse_request;

    /// Home Assistant's three tries (TimeZone "UTC", the camera's "UTC0", none), as captured.
    fn home_assistant(n: u8) -> Request {
        let path = format!(
            "{}/testdata/requests/zeep/{n}-SetSystemDateAndTime.xml",
            env!("CARGO_MANIFEST_DIR")
        );
        parse_request(&std::fs::read(path).expect("fixture")).expect("parses")
    }

    fn subcodes(r: Result<(), Fault>) -> Vec<&'static str> {
        r.err().map(|f| f.subcodes).unwrap_or_default()
    }

    #[test]
    fn a_manual_time_that_agrees_with_the_clock_is_taken() {
        let sent = date_time(
            home_assistant(13)
                .operation
                .child("UTCDateTime")
                .expect("HA sends the time"),
        )
        .expect("a valid time");
        let set = |n, now| set_system_date_and_time(&home_assistant(n).operation, now);
        // "UTC" has no offset, so it is no POSIX time zone; Home Assistant then sends "UTC0".
        assert_eq!(
            subcodes(set(12, sent)),
            ["InvalidArgVal", "InvalidTimeZone"]
        );
        for n in [13, 14] {
            assert_eq!(set(n, sent), Ok(()));
            assert_eq!(set(n, sent + time::Duration::seconds(5)), Ok(()));
            assert_eq!(set(n, sent - time::Duration::seconds(4)), Ok(()));
            let off = set(n, sent + time::Duration::minutes(3)).unwrap_err();
            assert_eq!(off.subcodes, ["InvalidArgVal", "InvalidDateTime"]);
            assert!(
                off.reason.contains("NTP") && off.reason.contains("180 s"),
                "{}",
                off.reason
            );
        }
    }

    #[test]
    fn bad_dates_time_zones_and_types_are_refused() {
        let now = time::macros::datetime!(2026-12-01 20:47:30 UTC);
        let set = |inner: &str| {
            let xml = format!(
                r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><SetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl">{inner}</SetSystemDateAndTime></s:Body></s:Envelope>"#
            );
            set_system_date_and_time(
                &parse_request(xml.as_bytes()).expect("parses").operation,
                now,
            )
        };
        let at = |y: &str, mo: &str, d: &str, h: &str, mi: &str, s: &str| {
            format!(
                "<DateTimeType>Manual</DateTimeType><DaylightSavings>false</DaylightSavings><UTCDateTime><tt:Date><tt:Year>{y}</tt:Year><tt:Month>{mo}</tt:Month><tt:Day>{d}</tt:Day></tt:Date><tt:Time><tt:Hour>{h}</tt:Hour><tt:Minute>{mi}</tt:Minute><tt:Second>{s}</tt:Second></tt:Time></UTCDateTime>"
            )
        };
        assert_eq!(set(&at("2026", "12", "1", "20", "47", "30")), Ok(()));
        for bad in [
            at("2026", "13", "1", "20", "47", "30"),
            at("2026", "2", "30", "20", "47", "30"),
            at("2026", "12", "1", "24", "0", "0"),
            at("2026", "12", "1", "20", "47", "-1"),
            at("99999999999", "12", "1", "20", "47", "30"),
            at("2026", "12", "1", "20", "47", "thirty"),
            "<DateTimeType>Manual</DateTimeType><DaylightSavings>false</DaylightSavings>".into(),
        ] {
            assert_eq!(
                subcodes(set(&bad)),
                ["InvalidArgVal", "InvalidDateTime"],
                "{bad}"
            );
        }
        let zone = |tz: &str| {
            format!(
                "<DateTimeType>NTP</DateTimeType><DaylightSavings>true</DaylightSavings><TimeZone><tt:TZ>{}</tt:TZ></TimeZone>",
                escape(tz)
            )
        };
        for ok in ["UTC0", "GMT0", "UTC+0", "UTC-00:00", "<UTC>0", "<+00>0", ""] {
            assert_eq!(set(&zone(ok)), Ok(()), "{ok}");
        }
        for bad in [
            "UTC",
            "CET",
            "CET-1CEST,M3.5.0,M10.5.0/3",
            "EST5",
            "UTC0X",
            "U0",
            "<U>0",
            "UTC0:00:00:00",
        ] {
            assert_eq!(
                subcodes(set(&zone(bad))),
                ["InvalidArgVal", "InvalidTimeZone"],
                "{bad}"
            );
        }
        assert_eq!(
            subcodes(set("<DateTimeType>Sundial</DateTimeType>")),
            ["InvalidArgs"]
        );
    }
}
