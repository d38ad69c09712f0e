//! What the camera tells ONVIF clients about itself; the firmware fills these in.

/// ONVIF user levels (the firmware's roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserLevel {
    Administrator,
    Operator,
    User,
}

impl UserLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            UserLevel::Administrator => "Administrator",
            UserLevel::Operator => "Operator",
            UserLevel::User => "User",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Administrator" => Some(Self::Administrator),
            "Operator" => Some(Self::Operator),
            "User" => Some(Self::User),
            _ => None,
        }
    }
}

/// What StartFirmwareUpgrade answers: where the client uploads the firmware file (a path on
/// the camera's HTTPS side, good for one upload), how long it waits before it may, and how long
/// the camera is away while it restarts into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareUpload {
    pub path: String,
    pub upload_delay: std::time::Duration,
    pub expected_down_time: std::time::Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInformation {
    pub manufacturer: String,
    pub model: String,
    pub firmware_version: String,
    pub serial_number: String,
    pub hardware_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    pub token: String,
    pub name: String,
    pub mac: String,
    /// (address, prefix length)
    pub ipv4: Vec<(String, u8)>,
    pub mtu: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub level: UserLevel,
}

/// A user to create or change; the password is only absent when SetUser keeps the old one.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub password: Option<String>,
    pub level: UserLevel,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoSource {
    pub token: String,
    pub framerate: f32,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSourceConfiguration {
    pub token: String,
    pub name: String,
    pub source_token: String,
    pub width: u32,
    pub height: u32,
    pub use_count: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VideoEncoderConfiguration {
    pub token: String,
    pub name: String,
    pub use_count: u32,
    pub width: u32,
    pub height: u32,
    pub framerate: u32,
    pub bitrate_kbps: u32,
    /// Frames between key frames.
    pub gov_length: u32,
    /// H.264 profile name as ONVIF spells it: Baseline, Main, High.
    pub profile: &'static str,
    pub quality: f32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoEncoderOptions {
    pub resolutions: Vec<(u32, u32)>,
    pub framerate: (u32, u32),
    pub gov_length: (u32, u32),
    pub bitrate_kbps: (u32, u32),
    pub profiles: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSource {
    pub token: String,
    pub channels: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSourceConfiguration {
    pub token: String,
    pub name: String,
    pub source_token: String,
    pub use_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioEncoderConfiguration {
    pub token: String,
    pub name: String,
    pub use_count: u32,
    pub bitrate_kbps: u32,
    pub sample_rate_hz: u32,
    pub channels: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub token: String,
    pub name: String,
    pub video_source: VideoSourceConfiguration,
    pub video_encoder: VideoEncoderConfiguration,
    pub audio_source: Option<AudioSourceConfiguration>,
    pub audio_encoder: Option<AudioEncoderConfiguration>,
    /// Whether the profile carries the pan/tilt configuration.
    pub ptz: bool,
}

/// How a client wants to receive RTSP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamTransport {
    /// RTP over UDP.
    Udp,
    /// RTP interleaved in the RTSP TCP connection.
    Tcp,
    /// RTSP tunnelled in HTTP.
    Http,
    /// RTSPS: RTSP in TLS, RTP interleaved in that connection (no SRTP over UDP).
    Tls,
}
