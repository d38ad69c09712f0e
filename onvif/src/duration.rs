//! `xs:duration` (XML Schema 1.0, 3.2.6) as ONVIF requests carry it: timeouts, termination
//! times, response times.
//!
//! The lexical form is `PnYnMnDTnHnMnS`: at least one part, in that order, each once, a `T`
//! only with a time part after it, a fraction only on the seconds. Years and months have no
//! fixed length and a negative duration means nothing for a timeout, so both are refused, as
//! are durations past [`MAX`].

use std::time::Duration;

/// Longer than any timeout a camera honours (about 31 years).
pub const MAX: Duration = Duration::from_secs(1_000_000_000);

/// The duration `text` means, or `None` if it is not an `xs:duration` of a fixed length.
pub fn parse(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((_, "")) => return None,
        Some((date, time)) => (date, Some(time)),
        None => (rest, None),
    };
    let mut seconds = 0f64;
    let mut parts = 0;
    // Years and months are valid xs:duration parts, but of no fixed length: not listed.
    parts += take(date, &[('D', 86_400.0)], false, &mut seconds)?;
    if let Some(time) = time {
        parts += take(
            time,
            &[('H', 3600.0), ('M', 60.0), ('S', 1.0)],
            true,
            &mut seconds,
        )?;
    }
    (parts > 0 && seconds <= MAX.as_secs_f64()).then(|| Duration::from_secs_f64(seconds))
}

/// Adds the parts of `text` (numbers, each followed by one of `units`, in their order) to
/// `seconds`; the number of parts, or `None` if `text` is anything else. Only the last unit
/// may take a fraction, and only if `fraction_on_last`.
fn take(
    text: &str,
    units: &[(char, f64)],
    fraction_on_last: bool,
    seconds: &mut f64,
) -> Option<usize> {
    let mut allowed = units.iter().enumerate();
    let mut parts = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, tail) = rest.split_at(end);
        let unit = tail.chars().next()?;
        let (index, (_, scale)) = allowed.by_ref().find(|(_, (u, _))| *u == unit)?;
        let fraction_ok = fraction_on_last && index == units.len() - 1;
        let well_formed = match number.split_once('.') {
            None => !number.is_empty(),
            Some((whole, frac)) => {
                fraction_ok && !whole.is_empty() && !frac.is_empty() && !frac.contains('.')
            }
        };
        if !well_formed {
            return None;
        }
        *seconds += number.parse::<f64>().ok()? * scale;
        parts += 1;
        rest = &tail[unit.len_utf8()..];
    }
    Some(parts)
}

/// `PT<n>S`, the way responses spell durations.
pub fn format(d: Duration) -> String {
    format!("PT{}S", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_clients_send_them() {
        for (text, seconds) in [
            ("PT5S", 5.0),
            ("PT0.5S", 0.5),
            ("PT1M", 60.0),
            ("PT1M30S", 90.0),
            ("PT600S", 600.0),
            ("PT1H2M3.5S", 3723.5),
            ("P1D", 86_400.0),
            ("P1DT1H", 90_000.0),
            ("PT0S", 0.0),
            (" PT10S\n", 10.0),
        ] {
            assert_eq!(
                parse(text),
                Some(Duration::from_secs_f64(seconds)),
                "{text}"
            );
        }
    }

    #[test]
    fn what_xml_schema_forbids_or_has_no_fixed_length_is_refused() {
        for bad in [
            "",
            "P",
            "PT",
            "60",
            "5S",
            "PTS",
            "PT5X",
            "-PT5S",
            "PT-5S",
            "P1Y",
            "P2M",
            "PT5S5M",
            "PT5M5M",
            "P1H",
            "PT1D",
            "PT1.5M",
            "PT.5S",
            "PT5.S",
            "PT1.2.3S",
            "PTNaNS",
            "PTinfS",
            "PT99999999999S",
            "PT1e3S",
            "P1DT",
            "PT5Sx",
            "PT５S",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn responses_spell_whole_seconds() {
        assert_eq!(format(Duration::from_secs(60)), "PT60S");
    }
}
