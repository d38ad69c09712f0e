//! Built-in sounds that need no file: white, pink and brown noise, and public-domain lullabies
//! played from a note table with a soft, music-box-like voice at a gentle tempo.

use std::f32::consts::TAU;

use super::source::{Repeat, Source};

/// A sound the camera always has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub token: &'static str,
    pub name: &'static str,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Noise(Colour),
    Melody(&'static Melody),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    White,
    Pink,
    Brown,
}

/// Notes as (MIDI note number, length in beats); a note number of 0 is a rest.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Melody {
    pub(super) bpm: u32,
    pub(super) notes: &'static [(u8, u8)],
}

// MIDI numbers: C4 = 60, D4 = 62, E4 = 64, F4 = 65, G4 = 67, A4 = 69, B♭4 = 70, C5 = 72.
const C4: u8 = 60;
const D4: u8 = 62;
const E4: u8 = 64;
const F4: u8 = 65;
const G4: u8 = 67;
const A4: u8 = 69;
const BB4: u8 = 70;
const C5: u8 = 72;
const REST: u8 = 0;

/// "Twinkle, Twinkle, Little Star" (the French "Ah ! vous dirai-je, maman", 18th century).
#[rustfmt::skip]
pub(super) const TWINKLE: Melody = Melody {
    bpm: 76,
    notes: &[
        (C4, 1), (C4, 1), (G4, 1), (G4, 1), (A4, 1), (A4, 1), (G4, 2),
        (F4, 1), (F4, 1), (E4, 1), (E4, 1), (D4, 1), (D4, 1), (C4, 2),
        (G4, 1), (G4, 1), (F4, 1), (F4, 1), (E4, 1), (E4, 1), (D4, 2),
        (G4, 1), (G4, 1), (F4, 1), (F4, 1), (E4, 1), (E4, 1), (D4, 2),
        (C4, 1), (C4, 1), (G4, 1), (G4, 1), (A4, 1), (A4, 1), (G4, 2),
        (F4, 1), (F4, 1), (E4, 1), (E4, 1), (D4, 1), (D4, 1), (C4, 2),
        (REST, 2),
    ],
};

/// Brahms' "Wiegenlied", op. 49 no. 4 (1868), in F major, in quavers (3/4 time).
#[rustfmt::skip]
pub(super) const BRAHMS: Melody = Melody {
    bpm: 132,
    notes: &[
        (A4, 1), (A4, 1), (C5, 4), (A4, 1), (A4, 1), (C5, 4),
        (A4, 1), (C5, 1), (F4 + 12, 2), (E4 + 12, 3), (D4 + 12, 1), (D4 + 12, 2), (C5, 2),
        (G4, 1), (A4, 1), (BB4, 2), (G4, 2), (G4, 1), (A4, 1), (BB4, 4),
        (G4, 1), (BB4, 1), (E4 + 12, 1), (D4 + 12, 1), (C5, 2), (E4 + 12, 2), (F4 + 12, 4),
        (F4, 1), (F4, 1), (F4 + 12, 4), (D4 + 12, 1), (BB4, 1), (C5, 4),
        (A4, 1), (F4, 1), (BB4, 2), (C5, 2), (D4 + 12, 2), (C5, 4),
        (F4, 1), (F4, 1), (F4 + 12, 4), (D4 + 12, 1), (BB4, 1), (C5, 4),
        (A4, 1), (F4, 1), (BB4, 2), (A4, 1), (G4, 1), (F4, 6),
        (REST, 4),
    ],
};

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        token: "white-noise",
        name: "White noise",
        kind: Kind::Noise(Colour::White),
    },
    Builtin {
        token: "pink-noise",
        name: "Pink noise",
        kind: Kind::Noise(Colour::Pink),
    },
    Builtin {
        token: "brown-noise",
        name: "Brown noise (deep, like a distant waterfall)",
        kind: Kind::Noise(Colour::Brown),
    },
    Builtin {
        token: "lullaby-twinkle",
        name: "Twinkle, Twinkle, Little Star",
        kind: Kind::Melody(&TWINKLE),
    },
    Builtin {
        token: "lullaby-brahms",
        name: "Brahms' Lullaby (Wiegenlied)",
        kind: Kind::Melody(&BRAHMS),
    },
];

pub fn builtin(token: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.token == token)
}

impl Builtin {
    /// The sound as a source at `rate`. Noises never end; melodies play `repeat` times.
    pub fn source(&self, rate: u32, repeat: Repeat) -> Box<dyn Source> {
        match self.kind {
            Kind::Noise(c) => Box::new(Noise::new(c)),
            Kind::Melody(m) => Box::new(MelodyPlayer::new(m, rate, repeat)),
        }
    }

    pub fn is_melody(&self) -> bool {
        matches!(self.kind, Kind::Melody(_))
    }
}

/// The frequency of a MIDI note (A4 = 69 = 440 Hz).
pub(super) fn frequency(note: u8) -> f32 {
    440.0 * 2f32.powf((f32::from(note) - 69.0) / 12.0)
}

struct Noise {
    colour: Colour,
    rng: u64,
    /// Paul Kellet's pink filter state, or the brown integrator in `pink[0]`.
    pink: [f32; 7],
}

impl Noise {
    fn new(colour: Colour) -> Self {
        Self {
            colour,
            rng: 0x9E37_79B9_7F4A_7C15,
            pink: [0.0; 7],
        }
    }

    /// Uniform in -1..1 (xorshift: noise needs no better randomness).
    fn white(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

impl Source for Noise {
    fn fill(&mut self, out: &mut [f32]) -> usize {
        for o in out.iter_mut() {
            let w = self.white();
            *o = match self.colour {
                Colour::White => 0.3 * w,
                Colour::Pink => {
                    let b = &mut self.pink;
                    b[0] = 0.99886 * b[0] + w * 0.0555179;
                    b[1] = 0.99332 * b[1] + w * 0.0750759;
                    b[2] = 0.96900 * b[2] + w * 0.153852;
                    b[3] = 0.86650 * b[3] + w * 0.3104856;
                    b[4] = 0.55000 * b[4] + w * 0.5329522;
                    b[5] = -0.7616 * b[5] - w * 0.0168980;
                    let pink = b[0] + b[1] + b[2] + b[3] + b[4] + b[5] + b[6] + w * 0.5362;
                    b[6] = w * 0.115926;
                    0.08 * pink
                }
                Colour::Brown => {
                    // Leaky integration keeps it from wandering off to one side.
                    let b = &mut self.pink[0];
                    *b = (*b * 0.998 + w * 0.02).clamp(-1.0, 1.0);
                    2.0 * *b
                }
            }
            .clamp(-1.0, 1.0);
        }
        out.len()
    }
}

/// Attack, so that notes start softly (no click).
const ATTACK_S: f32 = 0.03;
/// Release at the end of each note, so repeated notes are heard as two.
const RELEASE_S: f32 = 0.08;

struct MelodyPlayer {
    melody: &'static Melody,
    rate: f32,
    repeat: Repeat,
    note: usize,
    /// Samples into the current note.
    at: usize,
    phase: f32,
}

impl MelodyPlayer {
    fn new(melody: &'static Melody, rate: u32, repeat: Repeat) -> Self {
        Self {
            melody,
            rate: rate as f32,
            repeat,
            note: 0,
            at: 0,
            phase: 0.0,
        }
    }

    fn note_samples(&self, beats: u8) -> usize {
        (f32::from(beats) * 60.0 / self.melody.bpm as f32 * self.rate) as usize
    }
}

impl Source for MelodyPlayer {
    fn fill(&mut self, out: &mut [f32]) -> usize {
        for (i, o) in out.iter_mut().enumerate() {
            let Some(&(note, beats)) = self.melody.notes.get(self.note) else {
                return i;
            };
            let len = self.note_samples(beats);
            let t = self.at as f32 / self.rate;
            let left = (len - self.at) as f32 / self.rate;
            *o = if note == REST {
                0.0
            } else {
                let env = (t / ATTACK_S).min(1.0)
                    * (left / RELEASE_S).min(1.0)
                    * (0.4 + 0.6 * (-t / 0.5).exp());
                self.phase = (self.phase + TAU * frequency(note) / self.rate) % TAU;
                let p = self.phase;
                0.45 * env * (p.sin() + 0.2 * (2.0 * p).sin() + 0.05 * (3.0 * p).sin())
            };
            self.at += 1;
            if self.at >= len {
                self.at = 0;
                self.note += 1;
                if self.note >= self.melody.notes.len() && self.repeat.again() {
                    self.note = 0;
                }
            }
        }
        out.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_melody_plays_its_length_then_ends() {
        let rate = 8000;
        let mut s = BUILTINS[3].source(rate, Repeat::Times(1));
        let beats: u32 = TWINKLE.notes.iter().map(|n| u32::from(n.1)).sum();
        let expected = (beats as f32 * 60.0 / TWINKLE.bpm as f32 * rate as f32) as usize;
        let mut buf = vec![0.0; 160];
        let mut total = 0;
        loop {
            let n = s.fill(&mut buf);
            total += n;
            if n < buf.len() {
                break;
            }
        }
        assert!(total.abs_diff(expected) < 100, "{total} vs {expected}");
    }

    #[test]
    fn noises_are_audible_and_bounded() {
        for b in BUILTINS.iter().filter(|b| !b.is_melody()) {
            let mut s = b.source(48000, Repeat::Forever);
            let mut buf = vec![0.0; 48000];
            assert_eq!(s.fill(&mut buf), buf.len());
            let rms = (buf.iter().map(|x| x * x).sum::<f32>() / buf.len() as f32).sqrt();
            assert!((0.05..0.5).contains(&rms), "{}: {rms}", b.token);
        }
    }

    #[test]
    fn note_frequencies() {
        assert!((frequency(69) - 440.0).abs() < 1e-3);
        assert!((frequency(60) - 261.63).abs() < 0.01);
    }
}
