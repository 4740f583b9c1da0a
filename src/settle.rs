//! Settlement planning: turns a group's net balances into the transfers that zero them.
//!
//! This module owns only the arithmetic of "who pays whom how much". It knows nothing about
//! members, currencies or storage: the caller passes net balances in integer cents, ordered by
//! member name (so "tie-break by name" is "tie-break by lower index"), positive for a creditor
//! (is owed money) and negative for a debtor (owes money), summing to exactly zero. Transfers
//! name members by their index in that slice and always move money from a debtor to a creditor.
//!
//! Two algorithms:
//!
//! * [`greedy`] — the original service's rule: repeatedly match the largest creditor with the
//!   largest debtor for the smaller of the two amounts. Two binary heaps, O(n log n), at most
//!   n − 1 transfers for n non-zero balances. Ties go to the lower index.
//! * [`minimal`] — the fewest transfers. Any plan's transfers, viewed as edges, split the members
//!   into connected components whose balances sum to zero, and a component of k members needs at
//!   least k − 1 transfers; so the minimum is n − p, where p is the largest number of disjoint
//!   zero-sum subsets partitioning the non-zero balances (greedy within each subset reaches
//!   k − 1). Exact opposites (+x, −x) are paired first, which is always part of some optimal
//!   partition. If at most `exact_max` balances remain (default [`EXACT_MEMBERS_MAX`], never more
//!   than [`EXACT_MEMBERS_HARD_MAX`]) an O(2^m · m) subset DP finds p exactly, costing about
//!   9 · 2^m bytes. Above that, a heuristic peels off zero-sum triples and quadruples (bounded by
//!   a fixed step budget), settles the leftovers exactly if they fit under the bound, greedily
//!   otherwise, and is then compared with plain greedy: the result is never worse than greedy.
//!
//! Every [`Plan`] carries a proven lower bound on the transfer count of any plan, and says
//! whether its own count is proven minimal. All functions are deterministic (no randomness, no
//! dependence on hash iteration order) and never panic, whatever the input: sums are taken in
//! i128, and a debtor's amount is kept as an unsigned magnitude so `i64::MIN` is fine.
//!
//! Input that does not sum to zero (a caller bug) gets a best effort: [`greedy`] settles until one
//! side runs out, leaving the residue unsettled, and [`minimal`]/[`plan`] return that greedy plan
//! with `proven_minimal: false` and `lower_bound: 0`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

/// One payment: debtor `from` pays creditor `to` exactly `amount` cents (always > 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub from: usize,
    pub to: usize,
    pub amount: i64,
}

/// Which settlement algorithm the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Fewest transfers (exact up to the member bound, never worse than greedy above it).
    Minimal,
    /// Largest creditor meets largest debtor, as the original service did.
    Greedy,
}

impl Method {
    /// Parses the wire name: exactly `"minimal"` or `"greedy"`.
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "minimal" => Some(Method::Minimal),
            "greedy" => Some(Method::Greedy),
            _ => None,
        }
    }

    /// The wire name, the inverse of [`Method::parse`].
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Minimal => "minimal",
            Method::Greedy => "greedy",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A settlement: the transfers plus what is known about how good they are.
///
/// Minimal plans list the exact-opposite pairs first (ordered by payer, then payee), then each
/// zero-sum group's transfers; greedy plans list transfers in the order greedy made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub transfers: Vec<Transfer>,
    pub method: Method,
    /// true when transfers.len() is proven to be the minimum possible
    pub proven_minimal: bool,
    /// a proven lower bound on the number of transfers of any plan (== transfers.len() when proven_minimal)
    pub lower_bound: usize,
}

/// Default bound on the count of non-zero balances (after pairing exact opposites) for the exact DP.
///
/// Measured in release on a shared 2-core machine, the DP takes 18–28 ms at 20, 38–57 ms at 21,
/// 80–105 ms at 22 and 0.37–0.7 s at 24 (9 · 2^m bytes, O(2^m · m) time). 20 is the largest
/// that stays under a ~50 ms budget; groups that large after pairing are rare, and above the
/// bound the heuristic is still never worse than greedy.
pub const EXACT_MEMBERS_MAX: usize = 20;

/// Hard ceiling on `exact_max` passed to [`minimal`]: 2^24 subsets cost ~150 MiB and ~½ s, and
/// anything larger would let a caller ask for gigabytes. Larger values are clamped to this.
pub const EXACT_MEMBERS_HARD_MAX: usize = 24;

/// Steps the heuristic's triple and quadruple searches may take in total, so `minimal` on a huge
/// group stays near O(n log n). A step count, not a clock, to keep results deterministic.
const SEARCH_STEP_BUDGET: u64 = 2_000_000;

/// Largest leftover count for which the quadruple search builds its table of all pair sums
/// (that table holds ~L²/2 entries).
const QUAD_SEARCH_MAX: usize = 600;

/// Settles by matching the largest creditor with the largest debtor until all are zero.
///
/// Ties between equal amounts go to the lower index. Each transfer zeroes at least one balance
/// and the last one zeroes two, so there are at most n − 1 transfers for n non-zero balances.
/// Input that is not zero-sum is settled until one side runs out; the residue stays unsettled.
pub fn greedy(net: &[i64]) -> Vec<Transfer> {
    let mut transfers = Vec::new();
    settle_greedily(nonzero(net), &mut transfers);
    transfers
}

/// Settles with the fewest transfers: exact when at most `exact_max` balances remain after
/// pairing exact opposites (clamped to [`EXACT_MEMBERS_HARD_MAX`]), otherwise the better of a
/// subset-peeling heuristic and plain greedy. See the module docs for the bounds.
pub fn minimal(net: &[i64], exact_max: usize) -> Plan {
    if total(net) != 0 {
        // No plan can zero every balance: hand back greedy's best effort and claim nothing.
        return Plan { transfers: greedy(net), method: Method::Minimal, proven_minimal: false, lower_bound: 0 };
    }
    let (mut transfers, rest) = pair_opposites(nonzero(net));
    let pairs = transfers.len();
    let exact_max = exact_max.min(EXACT_MEMBERS_HARD_MAX);

    if rest.len() <= exact_max {
        for group in zero_sum_partition(&rest) {
            settle_greedily(group, &mut transfers);
        }
        // The partition has the most zero-sum groups possible, so by the component argument in
        // the module docs no plan has fewer transfers than this one.
        let count = transfers.len();
        return Plan { transfers, method: Method::Minimal, proven_minimal: true, lower_bound: count };
    }

    let lower_bound = bound_after_pairing(pairs, &rest);
    peel_and_settle(&rest, exact_max, &mut transfers);
    let plain = greedy(net);
    if plain.len() < transfers.len() {
        transfers = plain;
    }
    Plan { proven_minimal: transfers.len() == lower_bound, transfers, method: Method::Minimal, lower_bound }
}

/// Unpaired balances above which [`plan`] may search subsets for more than about a millisecond
/// (2^15 subsets: ~1 ms; 2^20: ~25 ms).
pub const SLOW_SEARCH_FROM: usize = 15;

/// Whether [`plan`] may take long enough that a server should run it off its event loop: a
/// `Minimal` plan with at least [`SLOW_SEARCH_FROM`] balances left after pairing exact opposites
/// (the exact search, or the heuristic's exact pass on its leftovers). O(n log n).
pub fn is_slow(net: &[i64], method: Method) -> bool {
    method == Method::Minimal && total(net) == 0 && pair_opposites(nonzero(net)).1.len() >= SLOW_SEARCH_FROM
}

/// Settles with the requested method; `Minimal` uses [`EXACT_MEMBERS_MAX`]. A greedy plan is
/// reported as proven minimal when its count meets the cheap [`lower_bound`].
pub fn plan(net: &[i64], method: Method) -> Plan {
    match method {
        Method::Minimal => minimal(net, EXACT_MEMBERS_MAX),
        Method::Greedy => {
            let transfers = greedy(net);
            let lower_bound = lower_bound(net);
            Plan {
                proven_minimal: total(net) == 0 && transfers.len() == lower_bound,
                transfers,
                method: Method::Greedy,
                lower_bound,
            }
        }
    }
}

/// A cheap (O(n log n)) proven lower bound on the transfer count of any plan settling `net`;
/// 0 when `net` does not sum to zero.
///
/// Proof: a plan needs at least n − p transfers, p being the largest number of disjoint zero-sum
/// subsets partitioning the n non-zero balances. Pairing exact opposites is part of some optimal
/// partition, and after pairing as many as possible the r left have no zero-sum pair, so each
/// remaining subset has ≥ 3 members and at least one creditor and one debtor: p ≤ pairs +
/// min(⌊r/3⌋, creditors, debtors). With n = 2·pairs + r that gives the bound below.
pub fn lower_bound(net: &[i64]) -> usize {
    if total(net) != 0 {
        return 0;
    }
    let (pairs, rest) = pair_opposites(nonzero(net));
    bound_after_pairing(pairs.len(), &rest)
}

/// The bound of [`lower_bound`] given the number of opposite pairs and the unpaired balances.
fn bound_after_pairing(pairs: usize, rest: &[(usize, i64)]) -> usize {
    let r = rest.len();
    let creditors = rest.iter().filter(|&&(_, b)| b > 0).count();
    let debtors = r - creditors;
    // n − p ≥ 2·pairs + r − pairs − min(⌊r/3⌋, c, d) = pairs + max(r − ⌊r/3⌋, d, c).
    pairs + (r - r / 3).max(creditors).max(debtors)
}

/// Exact sum of all balances; i128 cannot overflow for any slice that fits in memory.
fn total(net: &[i64]) -> i128 {
    net.iter().map(|&b| i128::from(b)).sum()
}

/// The non-zero balances with their indices, in index order.
fn nonzero(net: &[i64]) -> Vec<(usize, i64)> {
    net.iter().copied().enumerate().filter(|&(_, b)| b != 0).collect()
}

/// Greedy settlement of `members` (index, balance), appending to `transfers`.
fn settle_greedily(members: Vec<(usize, i64)>, transfers: &mut Vec<Transfer>) {
    // Max-heaps on (amount, Reverse(index)): the largest amount first, then the lower index.
    let mut creditors = Vec::new();
    let mut debtors = Vec::new();
    for (index, balance) in members {
        if balance > 0 {
            creditors.push((balance, Reverse(index)));
        } else if balance < 0 {
            // The magnitude as u64 so that i64::MIN is representable.
            debtors.push((balance.unsigned_abs(), Reverse(index)));
        }
    }
    let mut creditors = BinaryHeap::from(creditors);
    let mut debtors = BinaryHeap::from(debtors);
    while let (Some((credit, Reverse(to))), Some((debt, Reverse(from)))) = (creditors.pop(), debtors.pop()) {
        // credit ≤ i64::MAX, so whichever is smaller fits in i64.
        let amount = if debt < credit as u64 { debt as i64 } else { credit };
        transfers.push(Transfer { from, to, amount });
        if credit > amount {
            creditors.push((credit - amount, Reverse(to)));
        }
        let owed = debt - amount as u64;
        if owed > 0 {
            debtors.push((owed, Reverse(from)));
        }
    }
}

/// Pairs each creditor +x with a debtor −x (lowest indices first), one transfer per pair.
/// Returns those transfers ordered by (from, to) and the unpaired balances in index order.
///
/// Why it is safe: if x and −x sit in different groups A and B of an optimal zero-sum partition,
/// {x, −x} and (A ∪ B) \ {x, −x} (non-empty, zero-sum) are as many groups; if they share a group
/// with others, splitting them off makes one more. So some optimal partition contains the pair.
fn pair_opposites(members: Vec<(usize, i64)>) -> (Vec<Transfer>, Vec<(usize, i64)>) {
    let mut by_magnitude = members;
    by_magnitude.sort_unstable_by_key(|&(index, balance)| (balance.unsigned_abs(), index));
    let mut transfers = Vec::new();
    let mut rest = Vec::new();
    for run in by_magnitude.chunk_by(|a, b| a.1.unsigned_abs() == b.1.unsigned_abs()) {
        let mut creditors = run.iter().filter(|&&(_, b)| b > 0);
        let mut debtors = run.iter().filter(|&&(_, b)| b < 0);
        loop {
            match (creditors.next(), debtors.next()) {
                (Some(&(to, amount)), Some(&(from, _))) => transfers.push(Transfer { from, to, amount }),
                (Some(&c), None) => {
                    rest.push(c);
                    rest.extend(creditors.by_ref().copied());
                    break;
                }
                (None, Some(&d)) => {
                    rest.push(d);
                    rest.extend(debtors.by_ref().copied());
                    break;
                }
                (None, None) => break,
            }
        }
    }
    transfers.sort_unstable_by_key(|t| (t.from, t.to));
    rest.sort_unstable_by_key(|&(index, _)| index);
    (transfers, rest)
}

/// Partitions `members` (non-zero, summing to zero, at most [`EXACT_MEMBERS_HARD_MAX`] of them)
/// into the largest possible number of zero-sum groups.
///
/// `dp[mask]` is the most zero-sum prefixes any ordering of mask's members can have:
/// `dp[mask] = [sum(mask) = 0] + max over i in mask of dp[mask \ i]`. Consecutive zero-sum prefixes
/// of the best ordering of everyone delimit the groups.
fn zero_sum_partition(members: &[(usize, i64)]) -> Vec<Vec<(usize, i64)>> {
    let m = members.len();
    if m == 0 || m > EXACT_MEMBERS_HARD_MAX {
        // The caller never passes more; one group is still a valid (if not minimal) answer.
        return if m == 0 { Vec::new() } else { vec![members.to_vec()] };
    }
    let values: Vec<i64> = members.iter().map(|&(_, b)| b).collect();
    // Subset sums are kept as wrapping i64 to halve the memory; if the magnitudes could overflow,
    // a wrapped zero is confirmed in i128 before it counts.
    let magnitudes: i128 = values.iter().map(|&b| i128::from(b).abs()).sum();
    let sums_fit = magnitudes <= i128::from(i64::MAX);
    let is_zero = |mask: usize, wrapped: i64| {
        wrapped == 0
            && (sums_fit || (0..m).filter(|&i| mask >> i & 1 == 1).map(|i| i128::from(values[i])).sum::<i128>() == 0)
    };

    let size = 1usize << m;
    let mut sum = vec![0i64; size];
    let mut dp = vec![0u8; size];
    for mask in 1..size {
        let lowest = mask.trailing_zeros() as usize;
        let s = sum[mask & (mask - 1)].wrapping_add(values[lowest]);
        sum[mask] = s;
        let mut best = 0u8;
        let mut bits = mask;
        while bits != 0 {
            let bit = bits & bits.wrapping_neg();
            best = best.max(dp[mask ^ bit]);
            bits ^= bit;
        }
        dp[mask] = best + u8::from(is_zero(mask, s));
    }

    // Walk the best ordering backwards from everyone; each zero-sum mask reached closes a group.
    let mut groups = Vec::new();
    let mut group = Vec::new();
    let mut mask = size - 1;
    while mask != 0 {
        let zero = is_zero(mask, sum[mask]);
        if zero && !group.is_empty() {
            groups.push(std::mem::take(&mut group));
        }
        let rest_best = dp[mask].saturating_sub(u8::from(zero));
        let mut pick = mask & mask.wrapping_neg();
        let mut bits = mask;
        while bits != 0 {
            let bit = bits & bits.wrapping_neg();
            if dp[mask ^ bit] == rest_best {
                pick = bit;
                break;
            }
            bits ^= bit;
        }
        group.push(members[pick.trailing_zeros() as usize]);
        mask ^= pick;
    }
    if !group.is_empty() {
        groups.push(group);
    }
    for group in &mut groups {
        group.sort_unstable_by_key(|&(index, _)| index);
    }
    groups.sort_unstable_by_key(|group| group.first().map(|&(index, _)| index));
    groups
}

/// The heuristic above the exact bound: peel off zero-sum triples, then quadruples, then settle
/// the leftovers exactly if they fit under `exact_max`, greedily otherwise.
/// `rest` is the unpaired balances in index order; transfers are appended.
fn peel_and_settle(rest: &[(usize, i64)], exact_max: usize, transfers: &mut Vec<Transfer>) {
    let mut used = vec![false; rest.len()];
    let mut budget = SEARCH_STEP_BUDGET;
    let mut groups = Vec::new();
    peel_triples(rest, &mut used, &mut budget, &mut groups);
    peel_quadruples(rest, &mut used, &mut budget, &mut groups);
    for group in groups {
        settle_greedily(group.iter().map(|&p| rest[p]).collect(), transfers);
    }
    let leftovers: Vec<(usize, i64)> =
        rest.iter().zip(&used).filter(|&(_, &u)| !u).map(|(&member, _)| member).collect();
    if leftovers.len() <= exact_max {
        for group in zero_sum_partition(&leftovers) {
            settle_greedily(group, transfers);
        }
    } else {
        settle_greedily(leftovers, transfers);
    }
}

/// Finds disjoint zero-sum triples (two of one sign, one of the other), lowest positions first,
/// marking their members used. Positions index `rest`.
fn peel_triples(rest: &[(usize, i64)], used: &mut [bool], budget: &mut u64, groups: &mut Vec<Vec<usize>>) {
    // Balance → positions holding it (ascending), with a cursor past the used ones.
    let mut by_balance: HashMap<i64, (usize, Vec<usize>)> = HashMap::new();
    for (position, &(_, balance)) in rest.iter().enumerate() {
        by_balance.entry(balance).or_default().1.push(position);
    }
    let creditors: Vec<usize> = (0..rest.len()).filter(|&p| rest[p].1 > 0).collect();
    let debtors: Vec<usize> = (0..rest.len()).filter(|&p| rest[p].1 < 0).collect();
    for i in 0..rest.len() {
        if used[i] {
            continue;
        }
        let same_sign = if rest[i].1 > 0 { &creditors } else { &debtors };
        let after = same_sign.partition_point(|&p| p <= i);
        for &j in &same_sign[after..] {
            if *budget == 0 {
                return;
            }
            *budget -= 1;
            if used[j] {
                continue;
            }
            let needed = -(i128::from(rest[i].1) + i128::from(rest[j].1));
            let Ok(needed) = i64::try_from(needed) else {
                continue;
            };
            let Some((cursor, positions)) = by_balance.get_mut(&needed) else {
                continue;
            };
            while positions.get(*cursor).is_some_and(|&p| used[p]) {
                *cursor += 1;
            }
            // The third member has the other sign, so it is neither i nor j.
            if let Some(&k) = positions.get(*cursor) {
                used[i] = true;
                used[j] = true;
                used[k] = true;
                groups.push(vec![i, j, k]);
                break;
            }
        }
    }
}

/// Finds disjoint zero-sum quadruples among the unused positions by matching pair sums s and −s
/// (every zero-sum quadruple splits into two such pairs), marking their members used.
fn peel_quadruples(rest: &[(usize, i64)], used: &mut [bool], budget: &mut u64, groups: &mut Vec<Vec<usize>>) {
    let live: Vec<usize> = (0..rest.len()).filter(|&p| !used[p]).collect();
    if live.len() < 4 || live.len() > QUAD_SEARCH_MAX {
        return;
    }
    let pair_sum = |a: usize, b: usize| i128::from(rest[a].1) + i128::from(rest[b].1);
    let mut by_sum: HashMap<i128, Vec<(usize, usize)>> = HashMap::new();
    for (x, &a) in live.iter().enumerate() {
        for &b in &live[x + 1..] {
            by_sum.entry(pair_sum(a, b)).or_default().push((a, b));
        }
    }
    for (x, &i) in live.iter().enumerate() {
        for &j in &live[x + 1..] {
            if used[i] {
                break;
            }
            if used[j] {
                continue;
            }
            let Some(candidates) = by_sum.get_mut(&-pair_sum(i, j)) else {
                continue;
            };
            let mut c = 0;
            while c < candidates.len() {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                let (k, l) = candidates[c];
                if used[k] || used[l] {
                    // Dead for good: drop it so later scans skip it.
                    candidates.swap_remove(c);
                } else if k == i || k == j || l == i || l == j {
                    c += 1;
                } else {
                    used[i] = true;
                    used[j] = true;
                    used[k] = true;
                    used[l] = true;
                    groups.push(vec![i, j, k, l]);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: tiny, seeded, good enough to drive property tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        /// Uniform in lo..=hi (small ranges only).
        fn range(&mut self, lo: i64, hi: i64) -> i64 {
            lo + (self.next() % (hi - lo + 1) as u64) as i64
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                items.swap(i, self.below(i + 1));
            }
        }
    }

    /// n balances in ±max (the last one absorbs the sum, so it may be larger or zero).
    fn uniform(rng: &mut Rng, n: usize, max: i64) -> Vec<i64> {
        let mut net: Vec<i64> = (1..n).map(|_| rng.range(-max, max)).collect();
        if n > 0 {
            net.push(-net.iter().sum::<i64>());
        }
        net
    }

    /// About n balances made of small zero-sum clusters (sizes 2..=5), shuffled: many subsets
    /// sum to zero, which is where minimal beats greedy.
    fn clustered(rng: &mut Rng, n: usize, max: i64) -> Vec<i64> {
        let mut net = Vec::new();
        while net.len() < n {
            let size = (2 + rng.below(4)).min(n - net.len()).max(2);
            let start = net.len();
            for _ in 1..size {
                let mut b = 0;
                while b == 0 {
                    b = rng.range(-max, max);
                }
                net.push(b);
            }
            let sum: i64 = net[start..].iter().sum();
            net.push(-sum);
        }
        rng.shuffle(&mut net);
        net
    }

    fn nonzero_count(net: &[i64]) -> usize {
        net.iter().filter(|&&b| b != 0).count()
    }

    /// Applies the transfers and checks every balance ends at exactly zero, every amount is
    /// positive and every transfer runs from a debtor to a creditor.
    fn assert_settles(net: &[i64], transfers: &[Transfer]) {
        let mut balance: Vec<i128> = net.iter().map(|&b| i128::from(b)).collect();
        for t in transfers {
            assert!(t.amount > 0, "non-positive amount {t:?} for {net:?}");
            assert!(net[t.from] < 0, "payer {t:?} is not a debtor in {net:?}");
            assert!(net[t.to] > 0, "payee {t:?} is not a creditor in {net:?}");
            balance[t.from] += i128::from(t.amount);
            balance[t.to] -= i128::from(t.amount);
        }
        assert!(balance.iter().all(|&b| b == 0), "left {balance:?} from {net:?} with {transfers:?}");
        let n = nonzero_count(net);
        assert!(transfers.len() <= n.saturating_sub(1), "{n} balances, {transfers:?}");
    }

    fn assert_plan(net: &[i64], plan: &Plan) {
        assert_settles(net, &plan.transfers);
        assert!(plan.lower_bound <= plan.transfers.len(), "{plan:?}");
        if plan.proven_minimal {
            assert_eq!(plan.lower_bound, plan.transfers.len(), "{plan:?}");
        }
    }

    /// Independent optimum: n − (most zero-sum blocks), by memoised search over the block that
    /// holds the lowest remaining member.
    fn brute_force_min(net: &[i64]) -> usize {
        let values: Vec<i128> = net.iter().filter(|&&b| b != 0).map(|&b| i128::from(b)).collect();
        let n = values.len();
        if n == 0 {
            return 0;
        }
        let sums: Vec<i128> =
            (0..1usize << n).map(|mask| (0..n).filter(|i| mask >> i & 1 == 1).map(|i| values[i]).sum()).collect();
        fn most_blocks(mask: usize, sums: &[i128], memo: &mut [Option<usize>]) -> usize {
            if mask == 0 {
                return 0;
            }
            if let Some(known) = memo[mask] {
                return known;
            }
            let lowest = mask & mask.wrapping_neg();
            let others = mask ^ lowest;
            let mut best = 0;
            let mut sub = others;
            loop {
                let block = sub | lowest;
                if sums[block] == 0 {
                    best = best.max(1 + most_blocks(mask ^ block, sums, memo));
                }
                if sub == 0 {
                    break;
                }
                sub = (sub - 1) & others;
            }
            memo[mask] = Some(best);
            best
        }
        let mut memo = vec![None; 1 << n];
        n - most_blocks((1 << n) - 1, &sums, &mut memo)
    }

    #[test]
    fn method_names_round_trip() {
        for method in [Method::Minimal, Method::Greedy] {
            assert_eq!(Method::parse(method.as_str()), Some(method));
            assert_eq!(method.to_string(), method.as_str());
        }
        assert_eq!(Method::parse("optimal"), None);
        assert_eq!(Method::parse(""), None);
    }

    #[test]
    fn worked_examples() {
        for scale in [1, 100] {
            let net: Vec<i64> = [8, 7, -3, -5, -7].iter().map(|b| b * scale).collect();
            assert_eq!(greedy(&net).len(), 4);
            let best = plan(&net, Method::Minimal);
            assert_plan(&net, &best);
            assert_eq!(best.transfers.len(), 3);
            assert!(best.proven_minimal);

            let net: Vec<i64> = [4, 3, 3, 1, -5, -6].iter().map(|b| b * scale).collect();
            assert_eq!(greedy(&net).len(), 5);
            let best = plan(&net, Method::Minimal);
            assert_plan(&net, &best);
            assert_eq!(best.transfers.len(), 4);
            assert!(best.proven_minimal);
        }
    }

    #[test]
    fn greedy_follows_the_original_rule_with_index_ties() {
        // Largest creditor (8, index 0) meets largest debtor (−7, index 4) first; the two
        // remaining 1s tie and the lower index goes first.
        let net = [8, 7, -3, -5, -7];
        let expected = [
            Transfer { from: 4, to: 0, amount: 7 },
            Transfer { from: 3, to: 1, amount: 5 },
            Transfer { from: 2, to: 1, amount: 2 },
            Transfer { from: 2, to: 0, amount: 1 },
        ];
        assert_eq!(greedy(&net), expected);
        let tied = [5, 5, -5, -5];
        let expected = [Transfer { from: 2, to: 0, amount: 5 }, Transfer { from: 3, to: 1, amount: 5 }];
        assert_eq!(greedy(&tied), expected);
    }

    #[test]
    fn opposites_are_paired_by_index() {
        let net = [3, -3, 3, -3, 5, -2, -3];
        let best = plan(&net, Method::Minimal);
        assert_plan(&net, &best);
        assert_eq!(best.transfers.len(), 4);
        assert!(best.proven_minimal);
        assert_eq!(
            best.transfers[..2],
            [Transfer { from: 1, to: 0, amount: 3 }, Transfer { from: 3, to: 2, amount: 3 },]
        );
    }

    #[test]
    fn empty_and_all_zero_need_nothing() {
        for net in [vec![], vec![0], vec![0, 0, 0]] {
            for method in [Method::Minimal, Method::Greedy] {
                let p = plan(&net, method);
                assert_eq!(p.method, method);
                assert!(p.transfers.is_empty());
                assert!(p.proven_minimal);
                assert_eq!(p.lower_bound, 0);
            }
            assert!(minimal(&net, 0).proven_minimal);
        }
    }

    #[test]
    fn minimal_matches_brute_force_up_to_twelve() {
        let mut rng = Rng(12);
        for case in 0..600 {
            let n = rng.below(13);
            let net = match case % 3 {
                0 => uniform(&mut rng, n, 6),
                1 => clustered(&mut rng, n, 9),
                _ => uniform(&mut rng, n, 1_000),
            };
            let optimum = brute_force_min(&net);

            let exact = minimal(&net, EXACT_MEMBERS_MAX);
            assert_plan(&net, &exact);
            assert_eq!(exact.transfers.len(), optimum, "{net:?} {exact:?}");
            assert!(exact.proven_minimal);
            assert_eq!(exact.lower_bound, optimum);

            // The heuristic path and greedy, on the same inputs: never below the optimum, and
            // their bounds are valid.
            let heuristic = minimal(&net, 0);
            assert_plan(&net, &heuristic);
            assert!(heuristic.transfers.len() >= optimum);
            assert!(heuristic.lower_bound <= optimum, "{net:?} {heuristic:?}");
            if heuristic.proven_minimal {
                assert_eq!(heuristic.transfers.len(), optimum);
            }
            let plain = plan(&net, Method::Greedy);
            assert_plan(&net, &plain);
            assert!(plain.lower_bound <= optimum);
            assert_eq!(plain.lower_bound, lower_bound(&net));
            if plain.proven_minimal {
                assert_eq!(plain.transfers.len(), optimum);
            }
        }
    }

    #[test]
    fn minimal_never_loses_to_greedy() {
        let mut rng = Rng(30);
        for case in 0..3000 {
            let n = rng.below(31);
            let net = match case % 4 {
                0 => uniform(&mut rng, n, 20),
                1 => uniform(&mut rng, n, 1_000_000),
                _ => clustered(&mut rng, n, 12),
            };
            let plain = greedy(&net);
            assert_settles(&net, &plain);
            // Small exact bounds keep debug runs quick while exercising both paths.
            for exact_max in [0, 6, 12] {
                let best = minimal(&net, exact_max);
                assert_plan(&net, &best);
                assert!(best.transfers.len() <= plain.len(), "{net:?}");
            }
        }
    }

    #[test]
    fn exact_at_the_default_bound() {
        // Clusters of 3 and one final cluster of 3..=5, all magnitudes distinct, so nothing
        // pairs, the DP sees all of them, and no partition can have more groups than ⌊m/3⌋.
        let m = EXACT_MEMBERS_MAX;
        let mut net: Vec<i64> = Vec::new();
        let mut groups = 0;
        while m - net.len() >= 6 {
            let k = groups as i64;
            net.extend([1_000 + k, 2_000 + k, -(3_000 + 2 * k)]);
            groups += 1;
        }
        let tail: Vec<i64> = (0..(m - net.len() - 1) as i64).map(|i| 7_001 + i).collect();
        net.push(-tail.iter().sum::<i64>());
        net.extend(tail);
        groups += 1;
        assert_eq!(net.len(), m);
        let mut rng = Rng(20);
        rng.shuffle(&mut net);
        let best = plan(&net, Method::Minimal);
        assert_plan(&net, &best);
        assert!(best.proven_minimal);
        let heuristic = minimal(&net, 0);
        assert_plan(&net, &heuristic);
        assert!(best.transfers.len() <= heuristic.transfers.len());
        assert!(best.transfers.len() <= greedy(&net).len());
        assert_eq!(groups, m / 3);
        assert_eq!(best.transfers.len(), m - groups);
    }

    #[test]
    fn heuristic_peels_quadruples() {
        // No exact opposites and no zero-sum triples, but two zero-sum quadruples that greedy
        // misses (it takes 7).
        let net = [30, 9, -35, -4, 40, 19, -13, -46];
        assert_eq!(greedy(&net).len(), 7);
        let best = minimal(&net, 0);
        assert_plan(&net, &best);
        assert_eq!(best.transfers.len(), 6);
        assert_eq!(best.transfers.len(), brute_force_min(&net));
        assert!(best.proven_minimal, "the bound ⌈2·8/3⌉ = 6 is met");
    }

    #[test]
    fn heuristic_settles_small_leftovers_exactly() {
        // Above a bound of 12 the triple is peeled off; the two 5-member clusters left fit under
        // it and are settled exactly, where greedy on them would take 9 transfers, not 8.
        let net = [1000, 2000, -3000, 21, 25, 26, 10, -82, -3, -19, -15, -5, 42];
        assert_eq!(greedy(&net[3..]).len(), 9);
        let best = minimal(&net, 12);
        assert_plan(&net, &best);
        assert!(!best.proven_minimal, "the cheap bound is 9 here");
        assert_eq!(best.transfers.len(), 10);
        assert_eq!(best.transfers.len(), brute_force_min(&net));
    }

    #[test]
    fn oversized_exact_bound_is_clamped() {
        let net = [8, 7, -3, -5, -7];
        assert_eq!(minimal(&net, usize::MAX), minimal(&net, EXACT_MEMBERS_HARD_MAX));
        assert_eq!(minimal(&net, usize::MAX).transfers.len(), 3);
    }

    #[test]
    fn deterministic() {
        let mut rng = Rng(7);
        for case in 0..200 {
            let n = rng.below(40);
            let net = if case % 2 == 0 { clustered(&mut rng, n, 9) } else { uniform(&mut rng, n, 50) };
            for exact_max in [0, 10] {
                assert_eq!(minimal(&net, exact_max), minimal(&net, exact_max));
            }
            assert_eq!(plan(&net, Method::Greedy), plan(&net, Method::Greedy));
        }
    }

    #[test]
    fn extreme_balances_are_exact() {
        let cases: [&[i64]; 4] = [
            &[i64::MAX, i64::MIN + 1],
            &[i64::MAX, i64::MAX, i64::MIN, i64::MIN + 2],
            // {MAX, MAX, 2} and {MIN, MIN} both wrap to zero in i64 but are not zero-sum.
            &[i64::MAX, i64::MAX, 2, i64::MIN, i64::MIN],
            &[i64::MIN, i64::MAX, 1, i64::MIN, i64::MAX, 1],
        ];
        for net in cases {
            let optimum = brute_force_min(net);
            let best = minimal(net, EXACT_MEMBERS_MAX);
            assert_plan(net, &best);
            assert_eq!(best.transfers.len(), optimum, "{net:?}");
            assert!(minimal(net, 0).transfers.len() >= optimum);
            assert_plan(net, &minimal(net, 0));
            assert_plan(net, &plan(net, Method::Greedy));
        }
        assert_eq!(minimal(&[i64::MAX, i64::MAX, 2, i64::MIN, i64::MIN], 20).transfers.len(), 4);
    }

    #[test]
    fn unbalanced_input_is_handled_without_panic() {
        let cases: [&[i64]; 6] = [
            &[5],
            &[3, -1],
            &[-7, 2, 2],
            &[i64::MIN, i64::MIN],
            &[i64::MAX, i64::MAX, i64::MAX],
            &[i64::MAX, i64::MIN],
        ];
        for net in cases {
            for p in [plan(net, Method::Minimal), plan(net, Method::Greedy), minimal(net, 0)] {
                assert!(!p.proven_minimal);
                assert_eq!(p.lower_bound, 0);
                assert!(p.transfers.len() <= nonzero_count(net).saturating_sub(1));
                // Partial, but every transfer still moves money the right way and never
                // overshoots a balance.
                let mut balance: Vec<i128> = net.iter().map(|&b| i128::from(b)).collect();
                for t in &p.transfers {
                    assert!(t.amount > 0 && net[t.from] < 0 && net[t.to] > 0);
                    balance[t.from] += i128::from(t.amount);
                    balance[t.to] -= i128::from(t.amount);
                    assert!(balance[t.from] <= 0 && balance[t.to] >= 0);
                }
            }
            assert_eq!(lower_bound(net), 0);
        }
    }

    #[test]
    fn large_groups_complete() {
        let mut rng = Rng(100_000);
        let net = uniform(&mut rng, 100_000, 1_000_000);
        let transfers = greedy(&net);
        assert_settles(&net, &transfers);

        let net = clustered(&mut rng, 5_000, 50);
        let best = plan(&net, Method::Minimal);
        assert_plan(&net, &best);
        assert!(best.transfers.len() <= greedy(&net).len());
    }

    /// Timings for the docs; run with
    /// `cargo test --release -- --ignored --nocapture timings`.
    #[test]
    #[ignore]
    fn timings() {
        use std::time::Instant;
        /// m unpaired clustered balances: clusters of 3–5 with magnitudes unique across the set.
        fn unpaired(rng: &mut Rng, m: usize) -> Vec<i64> {
            loop {
                let net = clustered(rng, m, 1_000_000);
                let mut magnitudes: Vec<u64> = net.iter().map(|b| b.unsigned_abs()).collect();
                magnitudes.sort_unstable();
                magnitudes.dedup();
                if net.len() == m && magnitudes.len() == m && !net.contains(&0) {
                    return net;
                }
            }
        }
        let mut rng = Rng(1);
        for m in [16, 18, 20, 21, 22, 23, 24] {
            let net = unpaired(&mut rng, m);
            let started = Instant::now();
            let best = minimal(&net, EXACT_MEMBERS_HARD_MAX);
            let took = started.elapsed();
            assert!(best.proven_minimal);
            println!("minimal exact, {m} unpaired clustered balances: {took:?}");
        }
        let net = clustered(&mut rng, 20, 50);
        let started = Instant::now();
        let best = plan(&net, Method::Minimal);
        println!(
            "plan(Minimal), 20 clustered balances (±50): {:?}, {} transfers",
            started.elapsed(),
            best.transfers.len()
        );
        for n in [1_000, 100_000] {
            let net = clustered(&mut rng, n, 1_000);
            let started = Instant::now();
            let best = plan(&net, Method::Minimal);
            println!(
                "plan(Minimal), {n} clustered balances: {:?}, {} transfers (greedy {})",
                started.elapsed(),
                best.transfers.len(),
                greedy(&net).len()
            );
        }
        let net = uniform(&mut rng, 100_000, 1_000_000);
        let started = Instant::now();
        let transfers = greedy(&net);
        println!("greedy, 100000 balances: {:?}, {} transfers", started.elapsed(), transfers.len());
    }
}
