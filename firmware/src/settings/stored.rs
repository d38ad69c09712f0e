//! How the run-time state's numbers are written in `state.toml`: as named fields. Releases
//! before 0.2 wrote them as positional arrays (`night_auto = [0.12, 0.3, 10.0]`); those files
//! are still read, and written back in the named form with the next change.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PanTilt {
    pan: f32,
    tilt: f32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Picture {
    brightness: f32,
    saturation: f32,
    contrast: f32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NightAuto {
    dark_below: f32,
    bright_above: f32,
    dwell_s: f32,
}

/// A value as written now, or as an older release wrote it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Either<Named, Positional> {
    Named(Named),
    Positional(Positional),
}

macro_rules! named {
    ($module:ident, $named:ident, $n:literal, [$($field:ident),+]) => {
        /// `Option<[f32; N]>` stored with named fields.
        pub(super) mod $module {
            use super::*;

            pub(in crate::settings) fn serialize<S: Serializer>(
                value: &Option<[f32; $n]>,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                match value {
                    Some([$($field),+]) => $named { $($field: *$field),+ }.serialize(serializer),
                    None => serializer.serialize_none(),
                }
            }

            pub(in crate::settings) fn deserialize<'de, D: Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Option<[f32; $n]>, D::Error> {
                Ok(Some(match Either::<$named, [f32; $n]>::deserialize(deserializer)? {
                    Either::Named($named { $($field),+ }) => [$($field),+],
                    Either::Positional(values) => values,
                }))
            }
        }
    };
}

named!(pan_tilt, PanTilt, 2, [pan, tilt]);
named!(picture, Picture, 3, [brightness, saturation, contrast]);
named!(
    night_auto,
    NightAuto,
    3,
    [dark_below, bright_above, dwell_s]
);

/// A preset's position, which is always there.
pub(super) mod position {
    use super::*;

    pub(in crate::settings) fn serialize<S: Serializer>(
        value: &[f32; 2],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        pan_tilt::serialize(&Some(*value), serializer)
    }

    pub(in crate::settings) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[f32; 2], D::Error> {
        pan_tilt::deserialize(deserializer).map(|v| v.unwrap_or_default())
    }
}
