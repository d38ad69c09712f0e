//! Every topic the camera sends, with the items its messages carry (GetEventProperties lists
//! exactly these).

use onvif::events::TopicDescription;

pub const MOTION_ALARM: &str = "tns1:VideoSource/MotionAlarm";
pub const CELL_MOTION: &str = "tns1:RuleEngine/CellMotionDetector/Motion";
pub const DETECTED_SOUND: &str = "tns1:AudioAnalytics/Audio/DetectedSound";
pub const TEMPERATURE: &str = "tns1:Monitoring/EnvironmentalConditions/Temperature";
pub const HUMIDITY: &str = "tns1:Monitoring/EnvironmentalConditions/RelativeHumidity";
pub const TEMPERATURE_HIGH: &str = "tns1:Device/Sensor/Temperature/High";
pub const TEMPERATURE_LOW: &str = "tns1:Device/Sensor/Temperature/Low";
pub const HUMIDITY_HIGH: &str = "tns1:Device/Sensor/RelativeHumidity/High";
pub const HUMIDITY_LOW: &str = "tns1:Device/Sensor/RelativeHumidity/Low";
pub const SENSOR_FAILURE: &str = "tns1:Device/HardwareFailure/SensorFailure";
pub const RELAY: &str = "tns1:Device/Trigger/Relay";
pub const NIGHT_MODE: &str = "tns1:VideoSource/NightVision";
pub const AUDIO_CLIP: &str = "tns1:Media/AudioClip/State";
/// The event clips' store: `Failed` while recording waits for space on the data partition.
pub const STORAGE_FAILURE: &str = "tns1:Device/HardwareFailure/StorageFailure";

/// Tokens the messages name (the ONVIF profile's sources and rules).
pub const VIDEO_SOURCE: &str = "vs";
pub const VIDEO_SOURCE_CONFIG: &str = "vsc";
pub const AUDIO_SOURCE_CONFIG: &str = "asc";
pub const MOTION_RULE: &str = "MotionDetection";
pub const SOUND_RULE: &str = "SoundDetection";
pub const ANALYTICS: &str = "analytics";
pub const SENSOR: &str = "bme280";

const TOKEN: &str = "tt:ReferenceToken";
const BOOL: &str = "xs:boolean";

fn property(
    topic: &'static str,
    source: Vec<(&'static str, &'static str)>,
    data: Vec<(&'static str, &'static str)>,
) -> TopicDescription {
    TopicDescription {
        topic,
        is_property: true,
        source,
        data,
    }
}

/// What this camera sends, given the parts it has.
pub fn descriptions(has_sensor: bool, has_relay: bool, has_speaker: bool) -> Vec<TopicDescription> {
    let rule_source = |config: &'static str| {
        vec![
            (config, TOKEN),
            ("VideoAnalyticsConfigurationToken", TOKEN),
            ("Rule", "xs:string"),
        ]
    };
    let mut topics = vec![
        property(MOTION_ALARM, vec![("Source", TOKEN)], vec![("State", BOOL)]),
        property(
            CELL_MOTION,
            rule_source("VideoSourceConfigurationToken"),
            vec![("IsMotion", BOOL)],
        ),
        property(
            DETECTED_SOUND,
            vec![
                ("AudioSourceConfigurationToken", TOKEN),
                ("AudioAnalyticsConfigurationToken", TOKEN),
                ("Rule", "xs:string"),
            ],
            vec![("IsSoundDetected", BOOL)],
        ),
        property(
            STORAGE_FAILURE,
            vec![("StorageToken", TOKEN)],
            vec![("Failed", BOOL)],
        ),
    ];
    if has_sensor {
        for topic in [TEMPERATURE, HUMIDITY] {
            topics.push(property(
                topic,
                vec![("SensorToken", TOKEN)],
                vec![("Status", "xs:float")],
            ));
        }
        for topic in [
            TEMPERATURE_HIGH,
            TEMPERATURE_LOW,
            HUMIDITY_HIGH,
            HUMIDITY_LOW,
            SENSOR_FAILURE,
        ] {
            topics.push(property(
                topic,
                vec![("SensorToken", TOKEN)],
                vec![("State", BOOL)],
            ));
        }
    }
    if has_relay {
        topics.push(property(
            RELAY,
            vec![("RelayToken", TOKEN)],
            vec![("LogicalState", "tt:RelayLogicalState")],
        ));
        topics.push(property(
            NIGHT_MODE,
            vec![("VideoSourceToken", TOKEN)],
            vec![("State", BOOL)],
        ));
    }
    if has_speaker {
        topics.push(property(
            AUDIO_CLIP,
            vec![("AudioClipToken", TOKEN)],
            vec![("Playing", BOOL)],
        ));
    }
    topics
}
