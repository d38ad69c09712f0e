//! What every service needs: who is asking, from where, and what they may do.

use std::fmt::Write as _;

use crate::model::*;
use crate::soap::Fault;

/// The ONVIF services this crate serves, by their path under `/onvif/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Device,
    Media,
    Media2,
    Ptz,
    Imaging,
    DeviceIo,
    Events,
}

impl Service {
    pub fn from_path(path: &str) -> Option<Self> {
        match path.trim_end_matches('/') {
            "/onvif/device_service" => Some(Self::Device),
            "/onvif/media_service" => Some(Self::Media),
            "/onvif/media2_service" => Some(Self::Media2),
            "/onvif/ptz_service" => Some(Self::Ptz),
            "/onvif/imaging_service" => Some(Self::Imaging),
            "/onvif/deviceio_service" => Some(Self::DeviceIo),
            "/onvif/events_service" => Some(Self::Events),
            _ => None,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::Device => "/onvif/device_service",
            Self::Media => "/onvif/media_service",
            Self::Media2 => "/onvif/media2_service",
            Self::Ptz => "/onvif/ptz_service",
            Self::Imaging => "/onvif/imaging_service",
            Self::DeviceIo => "/onvif/deviceio_service",
            Self::Events => "/onvif/events_service",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Self::Device => crate::ns::TDS,
            Self::Media => crate::ns::TRT,
            Self::Media2 => crate::ns::TR2,
            Self::Ptz => crate::ns::TPTZ,
            Self::Imaging => crate::ns::TIMG,
            Self::DeviceIo => crate::ns::TMD,
            Self::Events => crate::ns::TEV,
        }
    }
}

/// ONVIF's access classes (Core spec, default access policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    PreAuth,
    ReadSystem,
    ReadSystemSecret,
    WriteSystem,
    Unrecoverable,
    ReadMedia,
    Actuate,
}

impl Access {
    pub fn allowed(self, level: UserLevel) -> bool {
        match level {
            UserLevel::Administrator => true,
            UserLevel::Operator => {
                !matches!(self, Access::ReadSystemSecret | Access::Unrecoverable)
            }
            UserLevel::User => matches!(
                self,
                Access::PreAuth | Access::ReadSystem | Access::ReadMedia
            ),
        }
    }
}

/// The request's circumstances.
#[derive(Debug, Clone)]
pub struct Context {
    /// Host name or address the client used (Host header without port), for every URL we hand out.
    pub host: String,
    /// Whether the client came over HTTPS: the service URLs handed out are `https` too.
    pub tls: bool,
    /// The port the client used (HTTP's or HTTPS's), for every service URL handed out.
    pub http_port: u16,
    /// Plain HTTP's port, where RTSP tunnelled in HTTP is answered.
    pub tunnel_port: u16,
    /// HTTPS's port (GetNetworkProtocols).
    pub https_port: u16,
    pub rtsp_port: u16,
    /// The RTSPS port, when RTSPS is served.
    pub rtsps_port: Option<u16>,
    pub user: Option<(String, UserLevel)>,
    /// Whether the camera can pan and tilt (the PTZ service is offered).
    pub has_ptz: bool,
    /// Whether it has night vision (Imaging and DeviceIO are offered).
    pub has_night: bool,
    /// Pull points and push subscriptions the camera keeps at once (Events capabilities).
    pub max_subscriptions: usize,
    /// With a speaker: (most clips kept, largest clip in KB) for Media2's capabilities.
    pub clip_limits: Option<(u32, u32)>,
}

impl Context {
    fn host_for_url(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// A URL of this camera's HTTP side, over what the client used (`http` or `https`).
    pub fn http_url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!(
            "{scheme}://{}:{}{path}",
            self.host_for_url(),
            self.http_port
        )
    }

    /// A URL of this camera's HTTPS side, whatever the client used: what carries a password
    /// or a firmware file.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}:{}{path}", self.host_for_url(), self.https_port)
    }

    pub fn rtsp_url(&self, path: &str, port: u16) -> String {
        format!("rtsp://{}:{port}{path}", self.host_for_url())
    }

    pub fn rtsps_url(&self, path: &str, port: u16) -> String {
        format!("rtsps://{}:{port}{path}", self.host_for_url())
    }
}

/// The device as the Device service sees it.
pub trait DeviceBackend: Send + Sync {
    fn information(&self) -> DeviceInformation;
    fn network_interfaces(&self) -> Vec<NetworkInterface>;
    fn hostname(&self) -> String;
    /// The `urn:uuid:` address WS-Discovery announces.
    fn endpoint(&self) -> String;
    fn scopes(&self) -> Vec<String>;
    fn users(&self) -> Vec<UserEntry>;
    fn create_users(&self, users: Vec<NewUser>) -> Result<(), Fault>;
    fn set_users(&self, users: Vec<NewUser>) -> Result<(), Fault>;
    fn delete_users(&self, names: Vec<String>) -> Result<(), Fault>;
    /// Starts a reboot; returns the message for the client.
    fn reboot(&self) -> String;
    fn factory_default(&self, hard: bool) -> Result<(), Fault>;
    fn discoverable(&self) -> bool;
    /// Name servers in use (for GetDNS).
    fn dns_servers(&self) -> Vec<String> {
        Vec::new()
    }
    /// IPv4 default gateways (for GetNetworkDefaultGateway).
    fn gateways(&self) -> Vec<String> {
        Vec::new()
    }
    /// NTP servers the clock follows (for GetNTP).
    fn ntp_servers(&self) -> Vec<String> {
        Vec::new()
    }
    fn set_discoverable(&self, on: bool) -> Result<(), Fault>;
    /// StartFirmwareUpgrade; the fault says why a camera takes no update now.
    fn firmware_upload(&self) -> Result<crate::model::FirmwareUpload, Fault> {
        Err(Fault::new(
            crate::soap::FaultCode::Receiver,
            &["ActionNotSupported"],
            "this device takes no firmware upgrades",
        ))
    }
}

/// Streams and their configurations, for Media and Media2.
pub trait MediaBackend: Send + Sync {
    fn profiles(&self) -> Vec<Profile>;
    fn video_sources(&self) -> Vec<VideoSource>;
    fn audio_sources(&self) -> Vec<AudioSource>;
    fn video_encoder_options(&self, config_token: &str) -> Option<VideoEncoderOptions>;
    /// RTSP path of a profile, e.g. `/stream`.
    fn stream_path(&self, profile_token: &str) -> Option<String>;
    fn session_timeout_s(&self) -> u32;
    /// Applies and persists a video encoder configuration; invalid values change nothing.
    fn set_video_encoder(&self, config: VideoEncoderConfiguration) -> Result<(), Fault>;
}

/// One operation of a service: its name, who may call it, and what answers it. A service's
/// table of these is both its dispatch and its access policy, so the two cannot drift apart.
pub struct Operation<Run: 'static> {
    pub name: &'static str,
    pub access: Access,
    pub run: Run,
}

/// A table row; a function so that a table reads one operation a line.
pub(crate) const fn op<Run>(name: &'static str, access: Access, run: Run) -> Operation<Run> {
    Operation { name, access, run }
}

/// A service's operations. A name the table lacks has no access class: nobody may call it, and
/// it is answered ActionNotSupported before any login is asked for (there is nothing behind
/// it to protect, and a guess by its verb once let a viewer switch a relay).
pub struct Table<Run: 'static> {
    pub operations: &'static [Operation<Run>],
}

impl<Run> Table<Run> {
    pub fn get(&self, name: &str) -> Option<&'static Operation<Run>> {
        self.operations.iter().find(|o| o.name == name)
    }

    /// The operation, else the fault a name the service does not know gets.
    pub fn find(&self, name: &str) -> Result<&'static Operation<Run>, Fault> {
        self.get(name)
            .ok_or_else(|| Fault::action_not_supported(name))
    }

    pub fn access(&self, name: &str) -> Option<Access> {
        self.get(name).map(|o| o.access)
    }

    fn names(&self) -> impl Iterator<Item = (&'static str, Access)> {
        self.operations.iter().map(|o| (o.name, o.access))
    }
}

/// `<prefix:NameResponse>`, what `body` writes, `</prefix:NameResponse>`.
pub(crate) fn respond(
    prefix: &str,
    name: &str,
    body: impl FnOnce(&mut String) -> Result<(), Fault>,
) -> Result<String, Fault> {
    let mut out = String::with_capacity(2048);
    let _ = write!(out, "<{prefix}:{name}Response>");
    body(&mut out)?;
    let _ = write!(out, "</{prefix}:{name}Response>");
    Ok(out)
}

/// The access class of an operation, by the namespace of its element; `None` for one no
/// service serves, which is refused (ActionNotSupported) whoever asks.
pub fn access(op: &crate::xml::Element) -> Option<Access> {
    access_of(&op.ns, &op.name)
}

fn access_of(ns: &str, name: &str) -> Option<Access> {
    match ns {
        crate::ns::TDS => crate::device::OPERATIONS.access(name),
        crate::ns::TRT => crate::media::OPERATIONS.access(name),
        crate::ns::TR2 => crate::media2::OPERATIONS.access(name),
        crate::ns::TPTZ => crate::ptz::OPERATIONS.access(name),
        crate::ns::TIMG => crate::imaging::OPERATIONS.access(name),
        crate::ns::TMD => crate::deviceio::OPERATIONS.access(name),
        crate::ns::TEV | crate::ns::WSNT => crate::events::OPERATIONS.access(name),
        _ => None,
    }
}

/// Every operation of every service as (service, namespace, name, access class): the whole
/// access policy, for the tests that try each one as each role.
pub fn declared_operations() -> Vec<(Service, &'static str, &'static str, Access)> {
    use crate::ns;
    let mut all = Vec::new();
    let mut add = |service, ns, ops: &mut dyn Iterator<Item = (&'static str, Access)>| {
        all.extend(ops.map(|(name, access)| (service, ns, name, access)));
    };
    add(
        Service::Device,
        ns::TDS,
        &mut crate::device::OPERATIONS.names(),
    );
    add(
        Service::Media,
        ns::TRT,
        &mut crate::media::OPERATIONS.names(),
    );
    add(
        Service::Media2,
        ns::TR2,
        &mut crate::media2::OPERATIONS.names(),
    );
    add(Service::Ptz, ns::TPTZ, &mut crate::ptz::OPERATIONS.names());
    add(
        Service::Imaging,
        ns::TIMG,
        &mut crate::imaging::OPERATIONS.names(),
    );
    add(
        Service::DeviceIo,
        ns::TMD,
        &mut crate::deviceio::OPERATIONS.names(),
    );
    add(
        Service::Events,
        ns::TEV,
        &mut crate::events::OPERATIONS.names(),
    );
    all
}

/// What implements each service; the optional ones are absent on a camera without that part.
pub struct Backends<'a> {
    pub device: &'a dyn DeviceBackend,
    pub media: &'a dyn MediaBackend,
    pub ptz: Option<&'a dyn crate::ptz::PtzBackend>,
    pub imaging: Option<&'a dyn crate::imaging::ImagingBackend>,
    pub relay: Option<&'a dyn crate::deviceio::RelayBackend>,
    pub speaker: Option<&'a dyn crate::speaker::SpeakerBackend>,
}

/// Runs an operation and returns the response body (without the envelope).
///
/// The operation's namespace picks the service, so a client that posts a Media request to the
/// device address is still understood.
pub fn dispatch(
    req: &crate::soap::Request,
    ctx: &Context,
    b: &Backends<'_>,
) -> Result<String, Fault> {
    let missing = |what: &str| Fault::action_not_supported(&format!("the camera has no {what}"));
    match req.operation.ns.as_str() {
        crate::ns::TDS => crate::device::handle(req, ctx, b.device, b.media, b.relay),
        crate::ns::TRT => {
            let media = (&crate::media::OPERATIONS, "trt");
            crate::media::handle(media, req, ctx, b.media, b.speaker)
        }
        crate::ns::TR2 => {
            let media2 = (&crate::media2::OPERATIONS, "tr2");
            crate::media::handle(media2, req, ctx, b.media, b.speaker)
        }
        crate::ns::TPTZ => {
            let ptz = b.ptz.ok_or_else(|| missing("pan/tilt"))?;
            let profiles: Vec<String> = b.media.profiles().into_iter().map(|p| p.token).collect();
            crate::ptz::handle(req, ptz, &profiles, b.relay)
        }
        crate::ns::TIMG => {
            crate::imaging::handle(req, b.imaging.ok_or_else(|| missing("night vision"))?)
        }
        crate::ns::TMD => crate::deviceio::handle(req, b.media, b.relay, b.speaker),
        _ => Err(Fault::action_not_supported(&format!(
            "{{{}}}{}",
            req.operation.ns, req.operation.name
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns;

    /// Every operation's access class as the services gave it before they were tables (taken
    /// from the `access` functions of then); a change here is a change of who may do what.
    const PINNED: &[(&str, &str, Access)] = &[
        (ns::TDS, "CreateUsers", Access::ReadSystemSecret),
        (ns::TDS, "DeleteUsers", Access::ReadSystemSecret),
        (ns::TDS, "GetCapabilities", Access::PreAuth),
        (ns::TDS, "GetDNS", Access::ReadSystem),
        (ns::TDS, "GetDeviceInformation", Access::ReadSystem),
        (ns::TDS, "GetDiscoveryMode", Access::ReadSystem),
        (ns::TDS, "GetEndpointReference", Access::PreAuth),
        (ns::TDS, "GetHostname", Access::PreAuth),
        (ns::TDS, "GetNTP", Access::ReadSystem),
        (ns::TDS, "GetNetworkDefaultGateway", Access::ReadSystem),
        (ns::TDS, "GetNetworkInterfaces", Access::ReadSystem),
        (ns::TDS, "GetNetworkProtocols", Access::ReadSystem),
        (ns::TDS, "GetRelayOutputs", Access::ReadSystem),
        (ns::TDS, "GetScopes", Access::ReadSystem),
        (ns::TDS, "GetServiceCapabilities", Access::PreAuth),
        (ns::TDS, "GetServices", Access::PreAuth),
        (ns::TDS, "GetSystemDateAndTime", Access::PreAuth),
        (ns::TDS, "GetUsers", Access::ReadSystemSecret),
        (ns::TDS, "GetWsdlUrl", Access::PreAuth),
        (ns::TDS, "SendAuxiliaryCommand", Access::Actuate),
        (ns::TDS, "SetDiscoveryMode", Access::WriteSystem),
        (ns::TDS, "SetRelayOutputSettings", Access::Actuate),
        (ns::TDS, "SetRelayOutputState", Access::Actuate),
        (ns::TDS, "SetSystemDateAndTime", Access::WriteSystem),
        (ns::TDS, "SetSystemFactoryDefault", Access::Unrecoverable),
        (ns::TDS, "SetUser", Access::ReadSystemSecret),
        (ns::TDS, "StartFirmwareUpgrade", Access::Unrecoverable),
        (ns::TDS, "SystemReboot", Access::Unrecoverable),
        (ns::TRT, "AddAudioDecoderConfiguration", Access::Actuate),
        (ns::TRT, "AddAudioOutputConfiguration", Access::Actuate),
        (ns::TRT, "GetAudioDecoderConfiguration", Access::ReadMedia),
        (
            ns::TRT,
            "GetAudioDecoderConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetAudioDecoderConfigurations", Access::ReadMedia),
        (ns::TRT, "GetAudioEncoderConfiguration", Access::ReadMedia),
        (
            ns::TRT,
            "GetAudioEncoderConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetAudioEncoderConfigurations", Access::ReadMedia),
        (ns::TRT, "GetAudioOutputConfiguration", Access::ReadMedia),
        (
            ns::TRT,
            "GetAudioOutputConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetAudioOutputConfigurations", Access::ReadMedia),
        (ns::TRT, "GetAudioOutputs", Access::ReadMedia),
        (ns::TRT, "GetAudioSourceConfiguration", Access::ReadMedia),
        (
            ns::TRT,
            "GetAudioSourceConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetAudioSourceConfigurations", Access::ReadMedia),
        (ns::TRT, "GetAudioSources", Access::ReadMedia),
        (
            ns::TRT,
            "GetCompatibleAudioDecoderConfigurations",
            Access::ReadMedia,
        ),
        (
            ns::TRT,
            "GetCompatibleAudioEncoderConfigurations",
            Access::ReadMedia,
        ),
        (
            ns::TRT,
            "GetCompatibleAudioOutputConfigurations",
            Access::ReadMedia,
        ),
        (
            ns::TRT,
            "GetCompatibleAudioSourceConfigurations",
            Access::ReadMedia,
        ),
        (
            ns::TRT,
            "GetCompatibleMetadataConfigurations",
            Access::ReadMedia,
        ),
        (
            ns::TRT,
            "GetCompatibleVideoEncoderConfigurations",
            Access::ReadMedia,
        ),
        (
            ns::TRT,
            "GetCompatibleVideoSourceConfigurations",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetMetadataConfigurations", Access::ReadMedia),
        (ns::TRT, "GetProfile", Access::ReadMedia),
        (ns::TRT, "GetProfiles", Access::ReadMedia),
        (ns::TRT, "GetServiceCapabilities", Access::PreAuth),
        (ns::TRT, "GetSnapshotUri", Access::ReadMedia),
        (ns::TRT, "GetStreamUri", Access::ReadMedia),
        (
            ns::TRT,
            "GetVideoAnalyticsConfigurations",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetVideoEncoderConfiguration", Access::ReadMedia),
        (
            ns::TRT,
            "GetVideoEncoderConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetVideoEncoderConfigurations", Access::ReadMedia),
        (ns::TRT, "GetVideoSourceConfiguration", Access::ReadMedia),
        (
            ns::TRT,
            "GetVideoSourceConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TRT, "GetVideoSourceConfigurations", Access::ReadMedia),
        (ns::TRT, "GetVideoSources", Access::ReadMedia),
        (ns::TRT, "SetAudioDecoderConfiguration", Access::Actuate),
        (ns::TRT, "SetAudioOutputConfiguration", Access::Actuate),
        (ns::TRT, "SetVideoEncoderConfiguration", Access::Actuate),
        (ns::TR2, "AddConfiguration", Access::Actuate),
        (ns::TR2, "CreateProfile", Access::Actuate),
        (ns::TR2, "DeleteProfile", Access::Actuate),
        (ns::TR2, "GetAnalyticsConfigurations", Access::ReadMedia),
        (
            ns::TR2,
            "GetAudioDecoderConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TR2, "GetAudioDecoderConfigurations", Access::ReadMedia),
        (
            ns::TR2,
            "GetAudioEncoderConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TR2, "GetAudioEncoderConfigurations", Access::ReadMedia),
        (
            ns::TR2,
            "GetAudioOutputConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TR2, "GetAudioOutputConfigurations", Access::ReadMedia),
        (
            ns::TR2,
            "GetAudioSourceConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TR2, "GetAudioSourceConfigurations", Access::ReadMedia),
        (ns::TR2, "GetMetadataConfigurations", Access::ReadMedia),
        (ns::TR2, "GetProfiles", Access::ReadMedia),
        (ns::TR2, "GetServiceCapabilities", Access::PreAuth),
        (ns::TR2, "GetSnapshotUri", Access::ReadMedia),
        (ns::TR2, "GetStreamUri", Access::ReadMedia),
        (
            ns::TR2,
            "GetVideoEncoderConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TR2, "GetVideoEncoderConfigurations", Access::ReadMedia),
        (
            ns::TR2,
            "GetVideoSourceConfigurationOptions",
            Access::ReadMedia,
        ),
        (ns::TR2, "GetVideoSourceConfigurations", Access::ReadMedia),
        (ns::TR2, "RemoveConfiguration", Access::Actuate),
        (ns::TR2, "SetAudioDecoderConfiguration", Access::Actuate),
        (ns::TR2, "SetAudioOutputConfiguration", Access::Actuate),
        (ns::TR2, "SetVideoEncoderConfiguration", Access::Actuate),
        (ns::TR2, "AddAudioClip", Access::Actuate),
        (ns::TR2, "DeleteAudioClip", Access::Actuate),
        (ns::TR2, "GetAudioClips", Access::ReadMedia),
        (ns::TR2, "GetPlayingAudioClips", Access::ReadMedia),
        (ns::TR2, "PlayAudioClip", Access::Actuate),
        (ns::TR2, "SetAudioClip", Access::Actuate),
        (ns::TPTZ, "AbsoluteMove", Access::Actuate),
        (ns::TPTZ, "ContinuousMove", Access::Actuate),
        (ns::TPTZ, "GetConfiguration", Access::ReadMedia),
        (ns::TPTZ, "GetConfigurationOptions", Access::ReadMedia),
        (ns::TPTZ, "GetConfigurations", Access::ReadMedia),
        (ns::TPTZ, "GetNode", Access::ReadMedia),
        (ns::TPTZ, "GetNodes", Access::ReadMedia),
        (ns::TPTZ, "GetPresets", Access::ReadMedia),
        (ns::TPTZ, "GetServiceCapabilities", Access::PreAuth),
        (ns::TPTZ, "GetStatus", Access::ReadMedia),
        (ns::TPTZ, "GotoHomePosition", Access::Actuate),
        (ns::TPTZ, "GotoPreset", Access::Actuate),
        (ns::TPTZ, "RelativeMove", Access::Actuate),
        (ns::TPTZ, "RemovePreset", Access::Actuate),
        (ns::TPTZ, "SendAuxiliaryCommand", Access::Actuate),
        (ns::TPTZ, "SetHomePosition", Access::Actuate),
        (ns::TPTZ, "SetPreset", Access::Actuate),
        (ns::TPTZ, "Stop", Access::Actuate),
        (ns::TIMG, "GetImagingSettings", Access::ReadMedia),
        (ns::TIMG, "GetMoveOptions", Access::ReadMedia),
        (ns::TIMG, "GetOptions", Access::ReadMedia),
        (ns::TIMG, "GetServiceCapabilities", Access::PreAuth),
        (ns::TIMG, "GetStatus", Access::ReadMedia),
        (ns::TIMG, "SetImagingSettings", Access::Actuate),
        (ns::TMD, "GetAudioOutputConfiguration", Access::ReadSystem),
        (
            ns::TMD,
            "GetAudioOutputConfigurationOptions",
            Access::ReadSystem,
        ),
        (ns::TMD, "GetAudioOutputs", Access::ReadSystem),
        (ns::TMD, "GetAudioSources", Access::ReadSystem),
        (ns::TMD, "GetRelayOutputOptions", Access::ReadSystem),
        (ns::TMD, "GetRelayOutputs", Access::ReadSystem),
        (ns::TMD, "GetServiceCapabilities", Access::PreAuth),
        (ns::TMD, "GetVideoSources", Access::ReadSystem),
        (ns::TMD, "SetAudioOutputConfiguration", Access::Actuate),
        (ns::TMD, "SetRelayOutputSettings", Access::Actuate),
        (ns::TMD, "SetRelayOutputState", Access::Actuate),
        (ns::TEV, "CreatePullPointSubscription", Access::ReadMedia),
        (ns::TEV, "GetEventProperties", Access::ReadMedia),
        (ns::TEV, "GetServiceCapabilities", Access::PreAuth),
        (ns::TEV, "PullMessages", Access::ReadMedia),
        (ns::WSNT, "Renew", Access::ReadMedia),
        (ns::TEV, "SetSynchronizationPoint", Access::ReadMedia),
        (ns::WSNT, "Subscribe", Access::ReadMedia),
        (ns::WSNT, "Unsubscribe", Access::ReadMedia),
    ];

    /// The names the tables list in `ns` (Events and its subscription managers share one).
    fn listed(ns: &str) -> Vec<&'static str> {
        let ns = if ns == ns::WSNT { ns::TEV } else { ns };
        declared_operations()
            .into_iter()
            .filter(|(_, n, _, _)| *n == ns)
            .map(|(_, _, name, _)| name)
            .collect()
    }

    #[test]
    fn every_operation_keeps_its_access_class() {
        for (ns, name, access) in PINNED {
            assert!(listed(ns).contains(name), "{ns} {name} is not in the table");
            assert_eq!(access_of(ns, name), Some(*access), "{ns} {name}");
        }
        for ns in [
            ns::TDS,
            ns::TRT,
            ns::TR2,
            ns::TPTZ,
            ns::TIMG,
            ns::TMD,
            ns::TEV,
        ] {
            for name in listed(ns) {
                let events = [ns::TEV, ns::WSNT];
                assert!(
                    PINNED.iter().any(|(n, o, _)| *o == name
                        && (*n == ns || events.contains(n) && events.contains(&ns))),
                    "{ns} {name} has no pinned access class"
                );
            }
        }
    }

    #[test]
    fn unlisted_names_have_no_class() {
        for (ns, name) in [
            (ns::TDS, "SetNTP"),
            (ns::TDS, "SetRelayOutputStates"),
            (ns::TRT, "SetOSD"),
            (ns::TRT, "StartMulticastStreaming"),
            (ns::TR2, "CreateOSD"),
            (ns::TPTZ, "GeoMove"),
            (ns::TIMG, "Move"),
            (ns::TMD, "SetDigitalInputConfigurations"),
            (ns::TEV, "Seek"),
            ("urn:elsewhere", "GetAnything"),
        ] {
            assert_eq!(access_of(ns, name), None, "{ns} {name}");
        }
        let all = declared_operations();
        assert_eq!(all.len(), PINNED.len(), "every operation is declared once");
    }
}
