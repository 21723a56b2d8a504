//! One memory budget for every pane's scrollback: the bytes of parsed lines (and raw bytes
//! waiting to be parsed) that all envs together may hold, and which envs give theirs up first
//! when the total is over it. Pure bookkeeping: the app tells it what each env holds and which
//! envs were viewed, and it names the envs to evict.
//!
//! The policy: least recently viewed first (an env never viewed is older than any viewed
//! one; among equals, the lower env id first), never an env that is resident (the focused
//! env and the envs drawn in the last frame), and only as many as it takes to get back under
//! the budget. An evicted env keeps its line index, so its lines page back from its log at
//! once when it is viewed again; the log is the source of truth.
//!
//! The cost of naming victims does not grow with the number of envs: the candidates are kept
//! ordered (least recently viewed first) and only the envs that hold something, were not
//! named since they were last viewed and can be evicted at all (not pinned: a pane with no
//! log to page back from) are among them. An evicted env keeps no more than its
//! line in progress, so naming it again would free nothing; it becomes a candidate again when
//! it is viewed (and keeps its lines again).

use std::collections::BTreeSet;

use crate::plan::EnvId;

/// What each env holds and when it was last viewed.
#[derive(Debug, Clone)]
pub struct Budget {
    limit: usize,
    used: Vec<usize>,
    total: usize,
    /// Per env: the tick it was last viewed at (0: never).
    viewed: Vec<u64>,
    clock: u64,
    /// Per env: named by [`Budget::victims`] and not viewed since.
    given_up: Vec<bool>,
    /// The candidates, `(last viewed, id)`: envs that hold something, were not given up and
    /// are not pinned.
    candidates: BTreeSet<(u64, EnvId)>,
    /// Per env: never to be evicted ([`Budget::pin`]).
    pinned: Vec<bool>,
}

impl Budget {
    /// A budget of `limit` bytes for `envs` envs that hold nothing yet.
    pub fn new(limit: usize, envs: usize) -> Self {
        Self {
            limit,
            used: vec![0; envs],
            total: 0,
            viewed: vec![0; envs],
            clock: 0,
            given_up: vec![false; envs],
            candidates: BTreeSet::new(),
            pinned: vec![false; envs],
        }
    }

    /// Env `id` can never be evicted (its pane has no log to page back from): it counts in
    /// the total but is never a candidate, so naming victims never walks past it.
    pub fn pin(&mut self, id: EnvId) {
        if let Some(pinned) = self.pinned.get_mut(id)
            && !*pinned
        {
            *pinned = true;
            self.place(id);
        }
    }

    /// Puts env `id` among the candidates or takes it out, as it holds something and was not
    /// given up.
    fn place(&mut self, id: EnvId) {
        let (Some(&used), Some(&viewed), Some(&given_up)) = (
            self.used.get(id),
            self.viewed.get(id),
            self.given_up.get(id),
        ) else {
            return;
        };
        let pinned = self.pinned.get(id).copied().unwrap_or(false);
        if used > 0 && !given_up && !pinned {
            self.candidates.insert((viewed, id));
        } else {
            self.candidates.remove(&(viewed, id));
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held by all envs together, as last told.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Env `id` holds `bytes` now.
    pub fn set_used(&mut self, id: EnvId, bytes: usize) {
        if let Some(slot) = self.used.get_mut(id) {
            self.total = self.total - *slot + bytes;
            *slot = bytes;
            self.place(id);
        }
    }

    /// Env `id` was viewed (drawn) now: it becomes the most recently viewed, and a candidate
    /// again if it was given up.
    pub fn viewed(&mut self, id: EnvId) {
        if let (Some(slot), Some(given_up)) = (self.viewed.get_mut(id), self.given_up.get_mut(id)) {
            self.candidates.remove(&(*slot, id));
            self.clock += 1;
            *slot = self.clock;
            *given_up = false;
            self.place(id);
        }
    }

    /// Whether the envs hold more than the budget.
    pub fn over(&self) -> bool {
        self.total > self.limit
    }

    /// The envs to evict, least recently viewed first, to get back under the budget: never
    /// one for which `resident` says so, never one that holds nothing, never one named before
    /// and not viewed since (it was evicted then: what it holds now is its line in progress).
    /// Empty when under the budget. When the resident envs alone are over it, every other
    /// candidate is named (the resident ones stay: they are on screen). The named envs are
    /// given up: the caller evicts them.
    pub fn victims(&mut self, resident: impl Fn(EnvId) -> bool) -> Vec<EnvId> {
        if !self.over() {
            return Vec::new();
        }
        let mut total = self.total;
        let mut out = Vec::new();
        for &(_, id) in &self.candidates {
            if total <= self.limit {
                break;
            }
            if resident(id) {
                continue;
            }
            total -= self.used.get(id).copied().unwrap_or(0);
            out.push(id);
        }
        for &id in &out {
            if let Some(given_up) = self.given_up.get_mut(id) {
                *given_up = true;
            }
            self.place(id);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_env_counts_but_is_never_named() {
        let mut budget = Budget::new(100, 3);
        budget.set_used(0, 80);
        budget.set_used(1, 60);
        budget.pin(0);
        assert_eq!(budget.total(), 140);
        assert_eq!(budget.victims(|_| false), [1], "env 0 is pinned");
        budget.viewed(0);
        budget.set_used(2, 10);
        assert_eq!(
            budget.victims(|_| false),
            [2],
            "still pinned after a view; env 1 was given up"
        );
        assert!(!budget.candidates.iter().any(|&(_, id)| id == 0));
    }

    #[test]
    fn totals_follow_what_each_env_holds() {
        let mut budget = Budget::new(100, 3);
        budget.set_used(0, 40);
        budget.set_used(1, 50);
        assert_eq!(budget.total(), 90);
        assert!(!budget.over());
        budget.set_used(0, 10);
        assert_eq!(budget.total(), 60);
        budget.set_used(2, 41);
        assert!(budget.over());
        budget.set_used(9, 1000);
        assert_eq!(budget.total(), 101, "an unknown env changes nothing");
    }

    #[test]
    fn evicts_least_recently_viewed_first_and_only_as_many_as_needed() {
        // (held per env, views in order, resident envs, expected victims in order)
        type Case<'a> = (&'a [usize], &'a [EnvId], &'a [EnvId], &'a [EnvId]);
        let cases: [Case<'_>; 6] = [
            // Under the budget: nothing.
            (&[30, 30, 30], &[], &[], &[]),
            // Never viewed is oldest; among equals the lower id goes first.
            (&[40, 40, 40], &[1], &[], &[0]),
            // Viewed long ago goes before viewed recently.
            (&[40, 40, 40], &[2, 0, 1], &[], &[2]),
            // Resident envs are never named, however old.
            (&[40, 40, 40], &[2, 0, 1], &[2], &[0]),
            // As many as it takes to get under.
            (&[60, 60, 60, 0], &[0, 1, 2], &[], &[0, 1]),
            // Resident envs over the budget alone: every other env that holds something.
            (&[200, 10, 0, 10], &[], &[0], &[1, 3]),
        ];
        for (used, views, resident, victims) in cases {
            let mut budget = Budget::new(100, used.len());
            for &id in views {
                budget.viewed(id);
            }
            for (id, &bytes) in used.iter().enumerate() {
                budget.set_used(id, bytes);
            }
            assert_eq!(
                budget.victims(|id| resident.contains(&id)),
                victims,
                "used {used:?}, views {views:?}, resident {resident:?}"
            );
        }
    }

    #[test]
    fn an_env_given_up_is_not_named_again_until_it_is_viewed() {
        let mut budget = Budget::new(100, 4);
        for id in 0..3 {
            budget.set_used(id, 60);
        }
        budget.set_used(3, 150);
        budget.viewed(3);
        // Env 3 is on screen and over the budget alone: the three others go.
        assert_eq!(budget.victims(|id| id == 3), [0, 1, 2]);
        // Evicted, each keeps its line in progress; still over, but nothing more to free.
        for id in 0..3 {
            budget.set_used(id, 5);
        }
        assert!(budget.over());
        assert_eq!(budget.victims(|id| id == 3), Vec::<EnvId>::new());
        // Only the resident env is left to look at: the cost does not grow with the envs.
        assert_eq!(budget.candidates.len(), 1);
        // Viewed again, env 1 keeps lines again and is a candidate like any other.
        budget.viewed(1);
        budget.set_used(1, 60);
        budget.viewed(3);
        assert_eq!(budget.victims(|id| id == 3), [1]);
    }

    #[test]
    fn candidates_follow_views_and_holdings() {
        let mut budget = Budget::new(9, 3);
        budget.set_used(0, 5);
        budget.set_used(1, 5);
        budget.viewed(0);
        budget.set_used(2, 5);
        // Never viewed (1, 2) before viewed (0).
        let order: Vec<EnvId> = budget.candidates.iter().map(|&(_, id)| id).collect();
        assert_eq!(order, [1, 2, 0]);
        budget.set_used(1, 0);
        let order: Vec<EnvId> = budget.candidates.iter().map(|&(_, id)| id).collect();
        assert_eq!(order, [2, 0], "an env holding nothing is no candidate");
        assert_eq!(budget.victims(|_| false), [2]);
    }
}
