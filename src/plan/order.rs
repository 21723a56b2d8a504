//! The scheduler's policy: in which order the runner starts ready envs ([`Plan::start_order`]),
//! set from the durations the run history recorded ([`Plan::longest_first`]). Pure: the
//! durations are passed in.

use super::{EnvId, Plan};

impl Plan {
    /// This plan with [`Plan::start_order`] set so the run ends as early as the jobs limit
    /// allows, from `duration_ms` (the last recorded duration of an env, by name).
    ///
    /// Envs with a recorded duration are ranked by the longest chain they start: their own
    /// duration plus the largest rank among the envs that depend on them (so the dependencies of
    /// a long env start early too), longest first. Envs without history come first, in file
    /// order: their duration is unknown and may be the longest of all, and a long env started
    /// last is what stretches a run most, whereas envs known to be short are the best fillers
    /// at the end. Ties keep file order; with no history at all the order is the file order.
    /// Every env of the plan appears once.
    #[must_use]
    pub fn longest_first(mut self, duration_ms: impl Fn(&str) -> Option<u64>) -> Self {
        let own: Vec<Option<u64>> = self
            .envs
            .iter()
            .map(|spec| duration_ms(&spec.name))
            .collect();
        let mut dependents = vec![Vec::new(); self.envs.len()];
        for (id, spec) in self.envs.iter().enumerate() {
            for &dep in spec.depends.iter().chain(&spec.after) {
                if let Some(list) = dependents.get_mut(dep) {
                    list.push(id);
                }
            }
        }
        let mut rank: Vec<Option<u64>> = vec![None; self.envs.len()];
        for id in 0..self.envs.len() {
            chain(id, &own, &dependents, &mut rank);
        }
        let mut order: Vec<EnvId> = (0..self.envs.len()).collect();
        order.sort_by_key(|&id| (own[id].is_some(), std::cmp::Reverse(rank[id].unwrap_or(0))));
        self.start_order = order;
        self
    }
}

/// The rank of `id` for [`Plan::longest_first`]: its own duration (0 when unknown) plus the
/// largest rank among its dependents. The graph has no cycle (the config checks it).
fn chain(
    id: EnvId,
    own: &[Option<u64>],
    dependents: &[Vec<EnvId>],
    rank: &mut [Option<u64>],
) -> u64 {
    if let Some(done) = rank[id] {
        return done;
    }
    let mut longest = 0;
    for &next in &dependents[id] {
        longest = longest.max(chain(next, own, dependents, rank));
    }
    let total = own[id].unwrap_or(0).saturating_add(longest);
    rank[id] = Some(total);
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::plan_of as plan;

    /// The order `plan` gets from a history that recorded `durations` (ms, by env name).
    fn order(plan: Plan, durations: &[(&str, u64)]) -> Vec<EnvId> {
        let duration_ms = |env: &str| {
            durations
                .iter()
                .find(|(name, _)| *name == env)
                .map(|&(_, ms)| ms)
        };
        plan.longest_first(duration_ms).start_order
    }

    #[test]
    fn no_history_keeps_file_order() {
        let plan = plan(&[("a", &[]), ("b", &[]), ("c", &[])]);
        assert!(plan.start_order.is_empty(), "a new plan runs in file order");
        assert_eq!(order(plan, &[]), [0, 1, 2]);
    }

    #[test]
    fn longest_first_unknown_first_ties_in_file_order() {
        let plan = plan(&[("a", &[]), ("b", &[]), ("new", &[]), ("c", &[]), ("d", &[])]);
        let durations = [("a", 100), ("b", 3000), ("c", 3000), ("d", 900)];
        assert_eq!(order(plan, &durations), [2, 1, 3, 4, 0]);
    }

    #[test]
    fn envs_that_others_run_after_rank_by_the_chain_too() {
        // cov (3s) runs after unit (1s); solo takes 2s: unit starts first (chain 4s).
        let mut plan = plan(&[("solo", &[]), ("cov", &[]), ("unit", &[])]);
        plan.envs[1].after = vec![2];
        let durations = [("solo", 2000), ("cov", 3000), ("unit", 1000)];
        assert_eq!(order(plan, &durations), [2, 1, 0]);
    }

    #[test]
    fn dependencies_of_long_envs_rank_by_the_chain() {
        // slow (5s) needs setup (1s); solo takes 4s: setup starts first (chain 6s).
        let plan = plan(&[("solo", &[]), ("slow", &[2]), ("setup", &[])]);
        let durations = [("solo", 4000), ("slow", 5000), ("setup", 1000)];
        assert_eq!(order(plan, &durations), [2, 1, 0]);
    }
}
