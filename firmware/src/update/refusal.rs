//! Why an update was not installed, in words a parent can act on, with a short code for
//! scripts and the tests. RAUC's own errors are read for what they mean; its words follow.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Another update is on its way.
    Busy,
    /// Updates are off, or RAUC is missing.
    Unavailable,
    TooLarge,
    /// The upload ended before its announced length.
    Truncated,
    /// No signature at the end of the file (unsigned, cut short, not a bundle).
    NotABundle,
    /// Signed, but not by a key the camera trusts.
    Signature,
    /// For another device.
    Compatible,
    /// Older than what runs, and not forced.
    Older,
    /// The engine took it and failed (a write error, a full slot...).
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

impl Refusal {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// What RAUC said when it refused or failed a bundle (`LastError`, or `rauc info`'s
    /// stderr), in plain words. Its message stays at the end, for whoever needs the detail.
    pub fn from_rauc(said: &str) -> Self {
        let said = said.trim();
        let (reason, plain) =
            if said.contains("signature verification failed") || said.contains("Verify error") {
                (
                    Reason::Signature,
                    "the update's signature is not from a key this camera trusts".to_string(),
                )
            } else if said.contains("Signature size")
                || said.contains("Invalid bundle format")
                || said.contains("Failed to seek")
                || said.contains("bundle is too small")
            {
                (
                Reason::NotABundle,
                "the file is not a complete signed update: unsigned, cut short, or not an update"
                    .to_string(),
            )
            } else if let Some(rest) = said.split("Compatible mismatch:").nth(1) {
                (
                    Reason::Compatible,
                    format!("the update is for another device ({})", rest.trim()),
                )
            } else {
                (
                    Reason::Failed,
                    "the update could not be installed".to_string(),
                )
            };
        Self::new(reason, format!("{plain}; RAUC: {said}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raucs_errors_become_reasons() {
        let cases = [
            (
                "signature verification failed: Verify error: self-signed certificate",
                Reason::Signature,
            ),
            (
                "Invalid bundle format: Signature size (824515353187668479) exceeds bundle size",
                Reason::NotABundle,
            ),
            (
                "Installation error: Compatible mismatch: Expected 'babymonitor-rpi3' but bundle manifest has 'x'",
                Reason::Compatible,
            ),
            ("Failed writing to slot: No space left", Reason::Failed),
        ];
        for (said, reason) in cases {
            let r = Refusal::from_rauc(said);
            assert_eq!(r.reason, reason, "{said}");
            assert!(r.message.ends_with(said), "RAUC's words are kept: {r}");
        }
    }
}
