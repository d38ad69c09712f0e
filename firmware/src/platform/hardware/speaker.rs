//! The speaker: ALSA on the camera, a WAV file with `--simulate`.
//!
//! The mixer hands it mono S16 frames at its own pace (real time); a speaker only has to take
//! them. `pause` says nothing will come for a while, so the device can be let go.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use gst::prelude::*;

pub trait Speaker: Send {
    fn write(&mut self, samples: &[i16]) -> anyhow::Result<()>;
    /// Nothing to play for now.
    fn pause(&mut self) -> anyhow::Result<()>;
}

/// The ALSA device from the config, or a WAV file in simulation.
pub fn speaker(
    config: &crate::config::SpeakerConfig,
    simulate: bool,
    data_dir: &Path,
) -> anyhow::Result<Box<dyn Speaker>> {
    if simulate {
        let path = if config.simulated_wav.as_os_str().is_empty() {
            data_dir.join("speaker.wav")
        } else {
            config.simulated_wav.clone()
        };
        Ok(Box::new(WavSpeaker::create(&path, config.sample_rate)?))
    } else {
        Ok(Box::new(AlsaSpeaker::new(
            &config.device,
            config.sample_rate,
        )?))
    }
}

/// Everything played, one after the other, in a WAV file whose header is kept up to date so
/// that a reader sees a valid file at any time. Silence while nothing plays is not written.
pub struct WavSpeaker {
    file: std::fs::File,
    path: PathBuf,
    data_bytes: u32,
}

impl WavSpeaker {
    pub fn create(path: &Path, rate: u32) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("creating the simulated speaker {}", path.display()))?;
        file.write_all(&wav_header(rate, 0))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            data_bytes: 0,
        })
    }
}

fn wav_header(rate: u32, data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, b"RIFF");
    put(4, &(36u32.saturating_add(data_bytes)).to_le_bytes());
    put(8, b"WAVEfmt ");
    put(16, &16u32.to_le_bytes());
    put(20, &1u16.to_le_bytes()); // PCM
    put(22, &1u16.to_le_bytes()); // mono
    put(24, &rate.to_le_bytes());
    put(28, &(rate * 2).to_le_bytes());
    put(32, &2u16.to_le_bytes());
    put(34, &16u16.to_le_bytes());
    put(36, b"data");
    put(40, &data_bytes.to_le_bytes());
    h
}

impl Speaker for WavSpeaker {
    fn write(&mut self, samples: &[i16]) -> anyhow::Result<()> {
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        // A WAV cannot say more than 4 GB; a simulation that long stops recording.
        let Some(total) = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| self.data_bytes.checked_add(n))
            .filter(|t| *t < u32::MAX - 64)
        else {
            return Ok(());
        };
        self.file.seek(SeekFrom::End(0))?;
        self.file
            .write_all(&bytes)
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.data_bytes = total;
        self.file.seek(SeekFrom::Start(4))?;
        self.file.write_all(&(36 + total).to_le_bytes())?;
        self.file.seek(SeekFrom::Start(40))?;
        self.file.write_all(&total.to_le_bytes())?;
        Ok(())
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        self.file.flush()?;
        Ok(())
    }
}

/// `appsrc ! audioconvert ! audioresample ! alsasink`, running only while there is sound.
pub struct AlsaSpeaker {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    playing: bool,
    rate: u32,
    pts: u64,
}

impl AlsaSpeaker {
    pub fn new(device: &str, rate: u32) -> anyhow::Result<Self> {
        let desc = format!(
            "appsrc name=src is-live=true format=time caps=audio/x-raw,format=S16LE,layout=interleaved,rate={rate},channels=1 \
             ! audioconvert ! audioresample ! alsasink device=\"{}\" sync=false",
            device.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let pipeline = crate::media::launch(&desc).context("building the speaker pipeline")?;
        let src = crate::media::element(&pipeline, "src")?;
        // A device that cannot be opened says so now, not at the first lullaby.
        pipeline
            .set_state(gst::State::Ready)
            .with_context(|| format!("opening the speaker (ALSA device {device})"))?;
        Ok(Self {
            pipeline,
            src,
            playing: false,
            rate,
            pts: 0,
        })
    }
}

impl Speaker for AlsaSpeaker {
    fn write(&mut self, samples: &[i16]) -> anyhow::Result<()> {
        if !self.playing {
            self.pipeline
                .set_state(gst::State::Playing)
                .context("starting the speaker")?;
            self.playing = true;
        }
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut buffer = gst::Buffer::from_mut_slice(bytes);
        let duration = samples.len() as u64 * 1_000_000_000 / u64::from(self.rate);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(self.pts));
            b.set_duration(gst::ClockTime::from_nseconds(duration));
        }
        self.pts += duration;
        self.src
            .push_buffer(buffer)
            .map_err(|e| anyhow!("speaker: {e}"))?;
        Ok(())
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        if self.playing {
            // Releasing the device stops the faint hiss of an idle amplifier.
            self.pipeline
                .set_state(gst::State::Ready)
                .context("stopping the speaker")?;
            self.playing = false;
            self.pts = 0;
        }
        Ok(())
    }
}

impl Drop for AlsaSpeaker {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wav_is_valid_while_it_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.wav");
        let mut s = WavSpeaker::create(&path, 16000).expect("create");
        s.write(&[1, -1, 2]).expect("write");
        s.write(&[3]).expect("write");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 44 + 8);
        assert_eq!(&bytes[40..44], &8u32.to_le_bytes());
        assert_eq!(&bytes[4..8], &44u32.to_le_bytes());
        assert_eq!(&bytes[24..28], &16000u32.to_le_bytes());
        assert_eq!(&bytes[44..46], &1i16.to_le_bytes());
    }
}
