//! Commands from the broker (Home Assistant's controls): parsed strictly, authorized by the
//! HTTP route table for the role `[mqtt] commands` gives the broker, and carried out by the same
//! controllers the page and ONVIF call.

use std::sync::Arc;

use hyper::Method;

use crate::audio::{Audio, PlayRequest};
use crate::config::{NightMode, Role};
use crate::mqtt::discovery::NOTHING;
use crate::night::Controls as NightControls;

/// Commands are short words or numbers; anything longer is not one.
pub const MAX_PAYLOAD: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    NightMode(NightMode),
    /// An option of the sound select: a sound's name, or `None` to stop.
    Sound(String),
    Stop,
    /// Master volume, 0-100.
    Volume(u32),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a command topic of ours, or a payload that is not one.
    #[error("{0}")]
    Ignored(String),
    /// A command the broker's role may not give, or that the camera cannot carry out.
    #[error("{0}")]
    Refused(String),
}

impl Command {
    /// The command published on `<base>/<object>/set` with `payload`.
    pub fn parse(object: &str, payload: &[u8]) -> Result<Self, Refusal> {
        let ignored = |why: String| Err(Refusal::Ignored(why));
        if payload.len() > MAX_PAYLOAD {
            return ignored(format!("a {} byte payload is not a command", payload.len()));
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            return ignored("the payload is not UTF-8 text".into());
        };
        let text = text.trim();
        match object {
            "night_mode" => match text.to_ascii_lowercase().as_str() {
                "day" => Ok(Command::NightMode(NightMode::Day)),
                "night" => Ok(Command::NightMode(NightMode::Night)),
                "auto" => Ok(Command::NightMode(NightMode::Auto)),
                _ => ignored(format!(
                    "night_mode must be day, night or auto, not {text:.40?}"
                )),
            },
            "sound" if !text.is_empty() => Ok(Command::Sound(text.to_string())),
            "sound" => ignored("sound needs a sound's name".into()),
            "stop" => Ok(Command::Stop),
            "volume" => match text.parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(Command::Volume(v.round() as u32)),
                _ => ignored(format!(
                    "volume must be a number from 0 to 100, not {text:.40?}"
                )),
            },
            _ => ignored(format!("no command {object:.60?}")),
        }
    }

    /// The HTTP route that does the same, whose row in the table says who may.
    fn route(&self) -> (Method, &'static str) {
        match self {
            Command::NightMode(_) => (Method::POST, "/api/night"),
            Command::Sound(_) => (Method::POST, "/api/clips/sound/play"),
            Command::Stop => (Method::POST, "/api/audio/stop"),
            Command::Volume(_) => (Method::PUT, "/api/audio/volume"),
        }
    }

    /// Whether the broker, acting as `role`, may give this command.
    pub fn allowed(&self, role: Role) -> bool {
        let (method, path) = self.route();
        crate::serve::http::need_of(&method, path).is_some_and(|need| need.allows(role))
    }
}

/// What commands act on.
pub struct Targets {
    pub night: Arc<NightControls>,
    pub audio: Option<Arc<Audio>>,
}

impl Targets {
    /// Carries out `command` (blocking: the speaker may decode a clip first); returns what was
    /// done, for the log.
    pub fn run(&self, command: &Command, options: &[(String, String)]) -> Result<String, Refusal> {
        let refused = |why: String| Err(Refusal::Refused(why));
        let speaker = || {
            self.audio
                .clone()
                .ok_or_else(|| Refusal::Refused("this camera has no speaker".into()))
        };
        match command {
            Command::NightMode(mode) => match self.night.set_mode(*mode) {
                Ok(()) => Ok(format!("night mode {mode:?}")),
                Err(e) => refused(e.to_string()),
            },
            Command::Sound(option) if option == NOTHING => {
                speaker()?.stop();
                Ok("the speaker stopped".into())
            }
            Command::Sound(option) => {
                let audio = speaker()?;
                let Some((token, _)) = options.iter().find(|(_, o)| o == option) else {
                    return Err(Refusal::Ignored(format!("no sound {option:.60?}")));
                };
                match audio.play(token, &PlayRequest::default()) {
                    Ok(p) => Ok(format!("playing {}", p.name)),
                    Err(e) => refused(e.to_string()),
                }
            }
            Command::Stop => {
                speaker()?.stop();
                Ok("the speaker stopped".into())
            }
            Command::Volume(v) => {
                let audio = speaker()?;
                let level = crate::audio::percent(*v);
                match audio.change_volumes(|vol| vol.master = level) {
                    Ok(_) => Ok(format!("volume {v}")),
                    Err(e) => refused(format!("{e:#}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_strictly() {
        let p = |o: &str, b: &[u8]| Command::parse(o, b);
        assert_eq!(
            p("night_mode", b"Night"),
            Ok(Command::NightMode(NightMode::Night))
        );
        assert_eq!(
            p("night_mode", b" auto\n"),
            Ok(Command::NightMode(NightMode::Auto))
        );
        assert!(matches!(p("night_mode", b"dusk"), Err(Refusal::Ignored(_))));
        assert_eq!(p("volume", b"42"), Ok(Command::Volume(42)));
        assert_eq!(p("volume", b"42.6"), Ok(Command::Volume(43)));
        for bad in [
            &b"-1"[..],
            b"101",
            b"NaN",
            b"loud",
            b"{\"v\":1}",
            b"\xff\xfe",
        ] {
            assert!(
                matches!(p("volume", bad), Err(Refusal::Ignored(_))),
                "{bad:?}"
            );
        }
        assert_eq!(p("sound", b"Rain"), Ok(Command::Sound("Rain".into())));
        assert!(p("sound", b"  ").is_err());
        assert_eq!(p("stop", b"PRESS"), Ok(Command::Stop));
        assert!(matches!(p("reboot", b"1"), Err(Refusal::Ignored(_))));
        let huge = vec![b'1'; MAX_PAYLOAD + 1];
        assert!(matches!(p("volume", &huge), Err(Refusal::Ignored(_))));
    }

    #[test]
    fn the_route_table_decides_what_the_brokers_role_may_do() {
        for c in [
            Command::NightMode(NightMode::Day),
            Command::Sound("Rain".into()),
            Command::Stop,
            Command::Volume(3),
        ] {
            assert!(c.allowed(Role::Operator), "{c:?}");
            assert!(!c.allowed(Role::User), "{c:?}");
        }
    }
}
