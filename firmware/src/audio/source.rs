//! What the player plays: anything that can fill the mixer's frames.

/// A source of mono samples (-1..1) at the mixer's rate.
pub trait Source: Send {
    /// Fills `out` and returns how many samples it wrote; fewer than asked means it has ended.
    fn fill(&mut self, out: &mut [f32]) -> usize;
}

/// How often a clip or melody is played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Forever,
    /// Played this many times in all (at least once).
    Times(u32),
}

impl Repeat {
    /// One play is over: whether to start again.
    pub fn again(&mut self) -> bool {
        match self {
            Repeat::Forever => true,
            Repeat::Times(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Repeat::Times(_) => false,
        }
    }
}
