//! Sharding by measured time (`--shard K/N --durations FILE`): the connected components of
//! the envs' relations, weighted by the durations an earlier run recorded, spread over the
//! shards longest-processing-time first. Pure: the durations come in as a map, the graph as
//! an edge iterator (see [`relation_edges`], the one place that says which relations bind envs
//! into one shard).

use std::collections::{BTreeMap, HashMap};

use crate::config::{EnvConfig, EnvOrigin};

/// Weight of every env when the durations file records none at all (then balancing by time
/// is balancing by count).
const NO_DATA_MS: u64 = 1000;

/// The edges `(env, other)` between envs (indexes into `envs`) that must share a shard: every
/// `depends` and every `after` entry, except a dependency on runall's tox package step (its
/// users may go to any shard: [`super::build`] adds the step to each shard that has one).
pub fn relation_edges<'a, S: std::hash::BuildHasher>(
    envs: &'a [EnvConfig],
    index: &'a HashMap<&str, usize, S>,
) -> impl Iterator<Item = (usize, usize)> + 'a {
    envs.iter().enumerate().flat_map(move |(i, env)| {
        env.depends
            .iter()
            .chain(&env.after)
            .filter_map(move |dep| index.get(dep.as_str()).map(|&d| (i, d)))
            .filter(|&(_, d)| !matches!(envs[d].origin, EnvOrigin::ToxPackage(_)))
    })
}

/// The connected components of the chosen envs (edges between chosen envs only, either
/// direction), each listed in index order, the components ordered by their first index.
pub fn components(
    count: usize,
    chosen: &[bool],
    edges: impl IntoIterator<Item = (usize, usize)>,
) -> Vec<Vec<usize>> {
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let is_chosen = |i: usize| chosen.get(i) == Some(&true);
    let mut parent: Vec<usize> = (0..count).collect();
    for (a, b) in edges {
        if a < count && b < count && is_chosen(a) && is_chosen(b) {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in (0..count).filter(|&i| is_chosen(i)) {
        let r = root(&mut parent, i);
        by_root.entry(r).or_default().push(i);
    }
    by_root.into_values().collect()
}

/// The outcome of balancing: each env's shard and weight, and each shard's expected time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balanced {
    /// Each env's shard (0-based); `None` for envs not chosen.
    pub shard: Vec<Option<usize>>,
    /// Each env's weight in milliseconds (0 for envs not chosen).
    pub weight_ms: Vec<u64>,
    /// Whether the env's weight is the median because the file has no duration for it.
    pub estimated: Vec<bool>,
    /// Each shard's expected time: the sum of its envs' weights, in milliseconds.
    pub total_ms: Vec<u64>,
}

/// The median of `values` (the lower middle one for an even count); `None` when empty.
pub fn median(values: &mut [u64]) -> Option<u64> {
    values.sort_unstable();
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// Splits the chosen envs into `count` shards by time, longest-processing-time first:
///
/// 1. Each chosen env weighs its duration in `durations`; one the file lacks weighs the
///    median of the chosen envs' recorded durations (of all the file's durations if none of
///    them is recorded; [`NO_DATA_MS`] if the file has none).
/// 2. The chosen envs are grouped into connected components of `edges` (envs related by
///    `depends` must share a shard); a component weighs the sum of its envs.
/// 3. Components are sorted by weight, heaviest first, ties by their smallest name (byte
///    order), and each goes to the shard with the least total so far (ties: lowest number).
///
/// The result depends only on the names, the edges and `durations`, never on file order, the
/// machine or the clock: every job of a CI matrix given the same file computes the same split.
pub fn balance(
    names: &[&str],
    edges: impl IntoIterator<Item = (usize, usize)>,
    chosen: &[bool],
    count: usize,
    durations: &BTreeMap<String, u64>,
) -> Balanced {
    let n = names.len();
    let is_chosen = |i: usize| chosen.get(i) == Some(&true);
    let mut recorded: Vec<u64> = (0..n)
        .filter(|&i| is_chosen(i))
        .filter_map(|i| durations.get(names[i]).copied())
        .collect();
    let fallback = median(&mut recorded)
        .or_else(|| median(&mut durations.values().copied().collect::<Vec<_>>()))
        .unwrap_or(NO_DATA_MS);
    let mut weight_ms = vec![0; n];
    let mut estimated = vec![false; n];
    for i in (0..n).filter(|&i| is_chosen(i)) {
        let recorded = durations.get(names[i]).copied();
        weight_ms[i] = recorded.unwrap_or(fallback);
        estimated[i] = recorded.is_none();
    }
    let mut groups: Vec<(u64, &str, Vec<usize>)> = components(n, chosen, edges)
        .into_iter()
        .map(|members| {
            let total = members.iter().map(|&i| weight_ms[i]).sum();
            let key = members.iter().map(|&i| names[i]).min().unwrap_or("");
            (total, key, members)
        })
        .collect();
    groups.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let mut total_ms = vec![0u64; count.max(1)];
    let mut shard = vec![None; n];
    for (weight, _, members) in groups {
        let target = (0..total_ms.len())
            .min_by_key(|&s| (total_ms[s], s))
            .unwrap_or(0);
        total_ms[target] += weight;
        for i in members {
            shard[i] = Some(target);
        }
    }
    Balanced {
        shard,
        weight_ms,
        estimated,
        total_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::shard_of;

    /// 50 envs with skewed durations: a few long ones, many short ones (a power law, as test
    /// suites have), deterministic.
    fn skewed() -> (Vec<String>, BTreeMap<String, u64>) {
        let names: Vec<String> = (0..50).map(|i| format!("env{i:02}")).collect();
        let mut durations = BTreeMap::new();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for (i, name) in names.iter().enumerate() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // 20 s down to about 0.4 s, jittered by up to 25 %.
            let base = 20_000 / (1 + i as u64 / 2);
            let jitter = state % (base / 4 + 1);
            durations.insert(name.clone(), base + jitter);
        }
        (names, durations)
    }

    fn shard_times(shard: &[Option<usize>], weight: impl Fn(usize) -> u64, n: usize) -> Vec<u64> {
        let mut totals = vec![0; n];
        for (i, s) in shard.iter().enumerate() {
            if let Some(s) = s {
                totals[*s] += weight(i);
            }
        }
        totals
    }

    fn spread(totals: &[u64]) -> f64 {
        let max = totals.iter().copied().max().unwrap_or(0) as f64;
        let min = totals.iter().copied().min().unwrap_or(0) as f64;
        (max - min) / max
    }

    #[test]
    fn fifty_skewed_envs_give_shard_times_within_ten_percent() {
        let (names, durations) = skewed();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let chosen = vec![true; names.len()];
        for count in [2, 3, 4] {
            let balanced = balance(&refs, [], &chosen, count, &durations);
            let by_name = shard_of(&refs, &vec![Vec::new(); names.len()], &chosen, count);
            let name_totals = shard_times(&by_name, |i| durations[&names[i]], count);
            assert_eq!(
                balanced.total_ms,
                shard_times(&balanced.shard, |i| durations[&names[i]], count)
            );
            assert!(
                spread(&balanced.total_ms) <= 0.10,
                "{count} shards by time: {:?} ms (spread {:.1} %); by name: {name_totals:?} ms \
                 (spread {:.1} %)",
                balanced.total_ms,
                spread(&balanced.total_ms) * 100.0,
                spread(&name_totals) * 100.0,
            );
        }
    }

    #[test]
    fn the_same_file_gives_the_same_shards_whatever_the_file_order() {
        let (names, durations) = skewed();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let chosen = vec![true; names.len()];
        let edges = [(3, 1), (10, 40), (40, 7)];
        let first = balance(&refs, edges, &chosen, 4, &durations);
        assert_eq!(first, balance(&refs, edges, &chosen, 4, &durations));
        // The same envs in reverse file order land in the same shards.
        let reversed: Vec<&str> = refs.iter().rev().copied().collect();
        let last = names.len() - 1;
        let reversed_edges = edges.map(|(a, b)| (last - a, last - b));
        let again = balance(&reversed, reversed_edges, &chosen, 4, &durations);
        for (i, name) in names.iter().enumerate() {
            assert_eq!(first.shard[i], again.shard[last - i], "{name}");
        }
    }

    #[test]
    fn related_envs_stay_in_one_shard() {
        let (names, durations) = skewed();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let chosen = vec![true; names.len()];
        // The two longest envs and a short one in one chain, another pair elsewhere.
        let edges = [(0, 1), (1, 45), (20, 30)];
        for count in 1..=6 {
            let balanced = balance(&refs, edges, &chosen, count, &durations);
            for (a, b) in edges {
                assert_eq!(balanced.shard[a], balanced.shard[b], "{count} shards");
            }
            assert!(balanced.shard.iter().all(|s| s.is_some_and(|s| s < count)));
        }
    }

    #[test]
    fn envs_missing_from_the_file_weigh_the_median_and_unchosen_ones_nothing() {
        let names = ["a", "b", "c", "d", "e"];
        let durations: BTreeMap<String, u64> = [("a", 100), ("b", 300), ("c", 5000)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let chosen = [true, true, true, true, false];
        let balanced = balance(&names, [], &chosen, 2, &durations);
        assert_eq!(balanced.weight_ms, [100, 300, 5000, 300, 0]);
        assert_eq!(balanced.estimated, [false, false, false, true, false]);
        assert_eq!(balanced.shard[4], None);
        // c alone; a, b, d together.
        assert_eq!(balanced.total_ms, [5000, 700]);
        // A file with no durations at all: every env the same weight.
        let none = balance(&names, [], &chosen, 2, &BTreeMap::new());
        assert_eq!(none.total_ms, [2 * NO_DATA_MS, 2 * NO_DATA_MS]);
    }

    #[test]
    fn components_follow_edges_between_chosen_envs_only() {
        let chosen = [true, true, false, true, true];
        // 0-2-3 would join through 2, which is not chosen.
        let got = components(5, &chosen, [(0, 2), (2, 3), (4, 1)]);
        assert_eq!(got, [vec![0], vec![1, 4], vec![3]]);
    }
}
