//! Levels and the hysteresis that turns per-step evidence into stable levels.

pub use crate::domain::Level;

/// How many steps each rule of the hysteresis waits.
#[derive(Debug, Clone, Copy)]
pub struct Hysteresis {
    pub confirm_steps: u32,
    pub deescalate_steps: u32,
    pub resolve_steps: u32,
}

/// The level state machine: rises only on evidence that persists, falls only after quiet.
#[derive(Debug, Clone)]
pub struct LevelMachine {
    rules: Hysteresis,
    level: Level,
    /// Consecutive steps with evidence of at least elevated / of outage.
    elevated_run: u32,
    outage_run: u32,
    /// Consecutive steps without outage evidence / without any excess.
    calm_run: u32,
    quiet_run: u32,
}

impl LevelMachine {
    /// A machine at `normal`.
    pub fn new(rules: Hysteresis) -> Self {
        Self {
            rules,
            level: Level::Normal,
            elevated_run: 0,
            outage_run: 0,
            calm_run: 0,
            quiet_run: 0,
        }
    }

    /// The current level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Advances one step. `evidence` is the strongest level this step's counts support; `quiet`
    /// says the volume is back near baseline. Returns the new level.
    pub fn advance(&mut self, evidence: Level, quiet: bool) -> Level {
        let bump = |run: &mut u32, on: bool| *run = if on { *run + 1 } else { 0 };
        bump(&mut self.elevated_run, evidence >= Level::Elevated);
        bump(&mut self.outage_run, evidence == Level::Outage);
        bump(&mut self.calm_run, evidence < Level::Outage);
        bump(&mut self.quiet_run, quiet && evidence == Level::Normal);
        let confirm = self.rules.confirm_steps;
        self.level = match self.level {
            _ if self.outage_run >= confirm => Level::Outage,
            Level::Normal if self.elevated_run >= confirm => Level::Elevated,
            Level::Normal => Level::Normal,
            _ if self.quiet_run >= self.rules.resolve_steps => Level::Normal,
            Level::Outage if self.calm_run >= self.rules.deescalate_steps => Level::Elevated,
            current => current,
        };
        self.level
    }

    /// Consecutive steps of quiet so far.
    pub fn quiet_steps(&self) -> u32 {
        self.quiet_run
    }

    /// Takes `level` as the current level, as if it had been confirmed.
    pub fn assume(&mut self, level: Level) {
        self.level = level;
        self.quiet_run = 0;
        self.calm_run = 0;
    }

    /// Forces `normal` (the baseline was reset to the new volume).
    pub fn reset(&mut self) {
        *self = Self::new(self.rules);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> LevelMachine {
        LevelMachine::new(Hysteresis {
            confirm_steps: 2,
            deescalate_steps: 3,
            resolve_steps: 4,
        })
    }

    #[test]
    fn one_step_of_evidence_is_not_enough() {
        let mut m = machine();
        assert_eq!(m.advance(Level::Outage, false), Level::Normal);
        assert_eq!(m.advance(Level::Normal, true), Level::Normal);
        assert_eq!(m.advance(Level::Elevated, false), Level::Normal);
        assert_eq!(m.advance(Level::Elevated, false), Level::Elevated);
    }

    #[test]
    fn escalates_deescalates_and_resolves_with_hysteresis() {
        let mut m = machine();
        m.advance(Level::Outage, false);
        assert_eq!(m.advance(Level::Outage, false), Level::Outage);
        // A dip in evidence does not flicker the level.
        assert_eq!(m.advance(Level::Elevated, false), Level::Outage);
        assert_eq!(m.advance(Level::Outage, false), Level::Outage);
        for _ in 0..2 {
            assert_eq!(m.advance(Level::Elevated, false), Level::Outage);
        }
        assert_eq!(m.advance(Level::Elevated, false), Level::Elevated);
        for _ in 0..3 {
            assert_eq!(m.advance(Level::Normal, true), Level::Elevated);
        }
        assert_eq!(m.advance(Level::Normal, true), Level::Normal);
    }

    #[test]
    fn levels_round_trip_through_text() {
        for level in [Level::Normal, Level::Elevated, Level::Outage] {
            assert_eq!(level.as_str().parse::<Level>().unwrap(), level);
        }
        assert!("down".parse::<Level>().is_err());
    }
}
