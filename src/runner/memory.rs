//! The `max_memory` scheduling policy, pure: which ready env may start given what the running
//! envs are expected to use.
//!
//! Each env's expected peak is the peak RSS of its last run (from the history); an env without
//! history is assumed at the median of those with one (0 when none has: then only what the
//! running envs are seen using holds it back). A running env counts with its expected peak,
//! or with its current RSS (sampled from `/proc` once a second) when that is higher. A ready
//! env starts only when the running envs' figure plus its own expected peak fit in the limit;
//! an env with nothing else running always starts, so an env larger than the limit still runs
//! (alone) and the run never deadlocks. Envs start in the plan's start order: once one waits
//! for memory, no later env overtakes it (no starvation of large envs by small ones).

/// `max_memory` and every env's expected peak, by env id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Most bytes the running envs may be expected to use together.
    pub max: u64,
    /// Expected peak RSS of each env in bytes, after [`expected_peaks`].
    pub expected: Vec<u64>,
}

impl MemoryLimit {
    /// The limit with every env's expected peak from its last recorded peak (`None`: no
    /// history), see [`expected_peaks`].
    pub fn new(max: u64, last_peaks: &[Option<u64>]) -> Self {
        Self {
            max,
            expected: expected_peaks(last_peaks),
        }
    }

    /// What env `id` is expected to use while running, given its current RSS (0 if not sampled).
    pub fn running_expected(&self, id: usize, current: u64) -> u64 {
        self.expected.get(id).copied().unwrap_or(0).max(current)
    }

    /// Whether env `id` may start while `running` envs are expected to use `running_bytes`.
    pub fn fits(&self, id: usize, running: usize, running_bytes: u64) -> bool {
        fits(
            self.max,
            running,
            running_bytes,
            self.expected.get(id).copied().unwrap_or(0),
        )
    }
}

/// Envs without a recorded peak get the median of the recorded ones (the lower middle one for
/// an even count), or 0 when there is none.
pub fn expected_peaks(last_peaks: &[Option<u64>]) -> Vec<u64> {
    let mut known: Vec<u64> = last_peaks.iter().flatten().copied().collect();
    known.sort_unstable();
    let median = known
        .len()
        .checked_sub(1)
        .and_then(|last| known.get(last / 2))
        .copied()
        .unwrap_or(0);
    last_peaks.iter().map(|p| p.unwrap_or(median)).collect()
}

/// The rule: nothing running, or the running envs' expected bytes plus the candidate's fit.
pub fn fits(max: u64, running: usize, running_bytes: u64, candidate: u64) -> bool {
    running == 0 || running_bytes.saturating_add(candidate) <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn the_rule_in_a_table() {
        // (max, running envs, their expected bytes, candidate, starts?)
        let cases = [
            (8 * MIB, 0, 0, 100 * MIB, true), // alone: always, even over the limit
            (8 * MIB, 0, 0, 0, true),         // alone and free
            (8 * MIB, 1, 4 * MIB, 4 * MIB, true), // exactly fits
            (8 * MIB, 1, 4 * MIB, 4 * MIB + 1, false), // one byte over
            (8 * MIB, 3, 9 * MIB, 0, false),  // running ones already over the limit
            (8 * MIB, 2, 0, 8 * MIB, true),   // running ones expected at nothing
            (u64::MAX - 1, 5, u64::MAX, 1, false), // no overflow: saturates, over the limit
        ];
        for (max, running, bytes, candidate, starts) in cases {
            assert_eq!(
                fits(max, running, bytes, candidate),
                starts,
                "max {max}, {running} running at {bytes}, candidate {candidate}"
            );
        }
    }

    #[test]
    fn envs_without_history_get_the_median() {
        let cases: [(&[Option<u64>], &[u64]); 5] = [
            (&[], &[]),
            (&[None, None], &[0, 0]),
            (&[Some(10), None, Some(30), Some(20)], &[10, 20, 30, 20]),
            (&[Some(10), Some(40), None], &[10, 40, 10]),
            (&[None, Some(7)], &[7, 7]),
        ];
        for (peaks, expected) in cases {
            assert_eq!(expected_peaks(peaks), expected, "{peaks:?}");
        }
    }

    #[test]
    fn a_running_env_counts_with_its_current_rss_when_higher() {
        let limit = MemoryLimit::new(100, &[Some(30), None]);
        assert_eq!(limit.running_expected(0, 10), 30);
        assert_eq!(limit.running_expected(0, 50), 50);
        assert_eq!(limit.running_expected(1, 0), 30);
        assert!(limit.fits(1, 1, 70));
        assert!(!limit.fits(1, 1, 71));
        assert!(limit.fits(1, 0, 1000));
    }
}
