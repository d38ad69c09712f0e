//! What every service needs: who is asking, from where, and what they may do.

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
    pub http_port: u16,
    pub rtsp_port: u16,
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

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.host_for_url(), self.http_port)
    }

    pub fn rtsp_url(&self, path: &str, port: u16) -> String {
        format!("rtsp://{}:{port}{path}", self.host_for_url())
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

/// The access class of an operation, by the namespace of its element.
pub fn access(op: &crate::xml::Element) -> Access {
    match op.ns.as_str() {
        crate::ns::TDS => crate::device::access(&op.name),
        crate::ns::TRT => crate::media::access(&op.name),
        crate::ns::TR2 => crate::media2::access(&op.name),
        crate::ns::TPTZ => crate::ptz::access(&op.name),
        crate::ns::TIMG => crate::imaging::access(&op.name),
        crate::ns::TMD => crate::deviceio::access(&op.name),
        crate::ns::TEV | crate::ns::WSNT => crate::events::access(&op.name),
        // Unknown operations are answered with a fault; asking for a login first would only
        // make a client retry the same thing.
        _ => Access::PreAuth,
    }
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
        crate::ns::TRT => crate::media::handle(req, ctx, b.media, b.speaker),
        crate::ns::TR2 => crate::media2::handle(req, ctx, b.media, b.speaker),
        crate::ns::TPTZ => {
            let ptz = b.ptz.ok_or_else(|| missing("pan/tilt"))?;
            let profiles: Vec<String> = b.media.profiles().into_iter().map(|p| p.token).collect();
            crate::ptz::handle(req, ctx, ptz, &profiles, b.relay)
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
