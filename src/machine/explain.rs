//! Where balances come from: `balance_details` (each member's balance taken apart) and
//! `pairwise_debts` (the unsimplified who-owes-whom, from the transactions and payments themselves).
//!
//! Both are explanations, computed on request by one pass over the group's transactions and payments
//! (O(transactions), unlike `view_balances`, which reads the incremental balances). Read-only: they
//! record nothing and notify nobody.
//!
//! How a transaction becomes debts: each participant's share is owed to the payers in proportion to
//! what each paid. The pieces of a share are allocated with `money::allocate` (largest remainder,
//! ties to the earlier payer). Rounding every share on its own could make a payer be owed a cent more
//! or less in total than they paid (two 0.01 shares over two payers of 0.01 each would both go to the
//! first payer), so afterwards single cents are moved between payers *within* a share, only between
//! pieces whose exact proportional value is fractional, until every payer is owed exactly what they
//! paid. So every piece is its exact proportional value rounded down or up, the pieces of a share sum
//! exactly to the share, and the pieces owed to a payer sum exactly to what they paid — which is what
//! makes (owed to a member) − (owed by a member) equal that member's balance, to the cent. A piece
//! a person owes themselves (a payer's own share) is dropped.

use std::collections::{BTreeMap, HashMap};

use super::groups::Group;
use super::UserId;
use crate::money::{allocate, Cents};

/// One member's balance taken apart, in cents (wide, so no sum can overflow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Details {
    /// What they paid for expenses (their entries in each transaction's `paid`).
    pub paid: i128,
    /// Their shares of expenses (their entries in each transaction's `owed`).
    pub share: i128,
    /// Payments they made (`from`).
    pub payments_sent: i128,
    /// Payments made to them (`to`).
    pub payments_received: i128,
}

impl Details {
    /// paid − share + payments_sent − payments_received: their balance.
    pub fn net(&self) -> i128 {
        self.paid - self.share + self.payments_sent - self.payments_received
    }
}

/// Every member's (current and former) details, from one pass over the group's ledger, in one
/// currency: the group's (`None`) or one kept apart until settlement (amounts in different
/// currencies are never added together).
pub fn details(group: &Group, currency: Option<&str>) -> HashMap<UserId, Details> {
    let mut all: HashMap<UserId, Details> = HashMap::new();
    for txn in group.ledger.transactions().filter(|t| t.settled_in() == currency) {
        for &(user, cents) in &txn.paid {
            all.entry(user).or_default().paid += i128::from(cents.0);
        }
        for &(user, cents) in &txn.owed {
            all.entry(user).or_default().share += i128::from(cents.0);
        }
    }
    for payment in group.ledger.payments().iter().filter(|p| p.currency.as_deref() == currency) {
        all.entry(payment.from).or_default().payments_sent += i128::from(payment.amount.0);
        all.entry(payment.to).or_default().payments_received += i128::from(payment.amount.0);
    }
    all
}

/// Upper bound on (sharers x payers) summed over a group's transactions for `pairwise_debts`: each
/// piece is work and a line of the reply, and one request must not stall the single-threaded loop.
/// Realistic groups are orders of magnitude below it.
pub const PAIRWISE_PIECES_MAX: usize = 250_000;

/// The net debts between every two people of the group (current and former members), keyed by the
/// ordered pair `(a, b)` with `a < b`: a positive value is what `a` owes `b`, a negative one what `b`
/// owes `a`. Pairs that net to zero are left out. In one currency, as `details`.
pub fn pairwise(group: &Group, currency: Option<&str>) -> BTreeMap<(UserId, UserId), i128> {
    let mut net: BTreeMap<(UserId, UserId), i128> = BTreeMap::new();
    let mut owe = |from: UserId, to: UserId, cents: i128| {
        if from < to {
            *net.entry((from, to)).or_default() += cents;
        } else if to < from {
            *net.entry((to, from)).or_default() -= cents;
        }
    };
    for txn in group.ledger.transactions().filter(|t| t.settled_in() == currency) {
        for (debtor, creditor, cents) in transaction_debts(&txn.paid, &txn.owed) {
            owe(debtor, creditor, i128::from(cents));
        }
    }
    for payment in group.ledger.payments().iter().filter(|p| p.currency.as_deref() == currency) {
        // Paying someone back reduces what you owe them (or makes them owe you).
        owe(payment.from, payment.to, -i128::from(payment.amount.0));
    }
    net.retain(|_, cents| *cents != 0);
    net
}

/// One transaction as debts `(debtor, creditor, cents)`, cents > 0 and debtor ≠ creditor: each share
/// of `owed` spread over the payers of `paid` (see the module docs).
pub fn transaction_debts(paid: &[(UserId, Cents)], owed: &[(UserId, Cents)]) -> Vec<(UserId, UserId, i64)> {
    let Some(split) = Pieces::of(paid, owed) else {
        return Vec::new();
    };
    let k = split.payers.len();
    let mut debts = Vec::new();
    for (row, &(debtor, _)) in split.sharers.iter().enumerate() {
        for (col, &(creditor, _)) in split.payers.iter().enumerate() {
            let cents = split.cells[row * k + col];
            if cents > 0 && debtor != creditor {
                debts.push((debtor, creditor, cents));
            }
        }
    }
    debts
}

/// A transaction's shares spread over its payers: `cells[row * payers.len() + col]` is what sharer
/// `row` owes payer `col` (a payer's piece of their own share included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pieces {
    /// Payers with what they paid, merged per person, in first-seen order, zeros dropped.
    pub payers: Vec<(UserId, i64)>,
    /// Sharers with their shares, merged per person, in first-seen order, zeros dropped.
    pub sharers: Vec<(UserId, i64)>,
    pub cells: Vec<i64>,
}

impl Pieces {
    /// `None` when nobody paid anything (not a stored transaction: those are balanced and positive).
    pub fn of(paid: &[(UserId, Cents)], owed: &[(UserId, Cents)]) -> Option<Pieces> {
        let payers = merged(paid);
        let sharers = merged(owed);
        let total: i128 = payers.iter().map(|&(_, c)| i128::from(c)).sum();
        if total <= 0 {
            return None;
        }
        let (m, k) = (sharers.len(), payers.len());
        let weights: Vec<i64> = payers.iter().map(|&(_, c)| c).collect();
        let mut cells = vec![0i64; m * k];
        // Per cell: the floor of its exact value, and whether that value has a fraction.
        let mut floor = vec![0i64; m * k];
        let mut fractional = vec![false; m * k];
        for (row, &(_, share)) in sharers.iter().enumerate() {
            let pieces = allocate(Cents(share), &weights).unwrap_or_default();
            for (col, &weight) in weights.iter().enumerate() {
                let exact = i128::from(share) * i128::from(weight);
                let cell = row * k + col;
                // |share · weight / total| ≤ share: fits in i64.
                floor[cell] = (exact / total) as i64;
                fractional[cell] = exact % total != 0;
                cells[cell] = pieces.get(col).map_or(0, |c| c.0);
            }
        }
        let sharer_total: i128 = sharers.iter().map(|&(_, c)| i128::from(c)).sum();
        let mut split = Pieces { payers, sharers, cells };
        if sharer_total == total && k > 1 && !split.balance_payers(&floor, &fractional) {
            split.fill_in_order();
        }
        Some(split)
    }

    /// Moves single cents between payers within shares until each payer's column sums to what they
    /// paid, keeping every cell at the floor or the ceiling of its exact value. Such a rounding always
    /// exists (the exact values are one, and the constraints are those of a bipartite flow), and an
    /// augmenting path finds it one cent at a time. `false` if a path is ever missing (never expected).
    fn balance_payers(&mut self, floor: &[i64], fractional: &[bool]) -> bool {
        let (m, k) = (self.sharers.len(), self.payers.len());
        // excess[col]: how much more the payer is owed than they paid.
        let mut excess: Vec<i128> = self.payers.iter().map(|&(_, c)| -i128::from(c)).collect();
        for row in 0..m {
            for (col, e) in excess.iter_mut().enumerate() {
                *e += i128::from(self.cells[row * k + col]);
            }
        }
        let up = |cells: &[i64], cell: usize| cells[cell] > floor[cell];
        let can_go_up = |cells: &[i64], cell: usize| fractional[cell] && cells[cell] == floor[cell];
        // Direct moves first (one pass): from a payer owed too much to one owed too little. Later
        // sharers' pieces move first, so the earlier ones keep their largest-remainder pieces.
        for row in (0..m).rev() {
            for from in 0..k {
                if excess[from] <= 0 || !up(&self.cells, row * k + from) {
                    continue;
                }
                if let Some(to) = (0..k).find(|&to| excess[to] < 0 && can_go_up(&self.cells, row * k + to)) {
                    self.cells[row * k + from] -= 1;
                    self.cells[row * k + to] += 1;
                    excess[from] -= 1;
                    excess[to] += 1;
                }
            }
        }
        // Then augmenting paths over payers: from → (a row up at `from`, down at `next`) → next …
        while let Some(start) = excess.iter().position(|&e| e > 0) {
            let mut via: Vec<Option<(usize, usize)>> = vec![None; k];
            let mut seen = vec![false; k];
            seen[start] = true;
            let mut queue = std::collections::VecDeque::from([start]);
            let mut end = None;
            'search: while let Some(col) = queue.pop_front() {
                for row in (0..m).rev() {
                    if !up(&self.cells, row * k + col) {
                        continue;
                    }
                    for next in 0..k {
                        if !seen[next] && can_go_up(&self.cells, row * k + next) {
                            seen[next] = true;
                            via[next] = Some((col, row));
                            if excess[next] < 0 {
                                end = Some(next);
                                break 'search;
                            }
                            queue.push_back(next);
                        }
                    }
                }
            }
            let Some(end) = end else {
                return false;
            };
            let mut at = end;
            while let Some((prev, row)) = via[at] {
                self.cells[row * k + prev] -= 1;
                self.cells[row * k + at] += 1;
                at = prev;
            }
            excess[start] -= 1;
            excess[end] += 1;
        }
        true
    }

    /// A fallback that always balances: each share in turn over what each payer still has to be
    /// owed (never more than that, so the columns come out exact).
    fn fill_in_order(&mut self) {
        let k = self.payers.len();
        let mut left: Vec<i64> = self.payers.iter().map(|&(_, c)| c).collect();
        for (row, &(_, share)) in self.sharers.iter().enumerate() {
            let pieces = allocate(Cents(share), &left).unwrap_or_default();
            for (col, rest) in left.iter_mut().enumerate() {
                let piece = pieces.get(col).map_or(0, |c| c.0);
                self.cells[row * k + col] = piece;
                *rest -= piece;
            }
        }
    }
}

/// Sums amounts per person, in first-seen order, dropping zero totals.
fn merged(list: &[(UserId, Cents)]) -> Vec<(UserId, i64)> {
    let mut out: Vec<(UserId, i64)> = Vec::with_capacity(list.len());
    for &(user, cents) in list {
        match out.iter_mut().find(|(u, _)| *u == user) {
            Some((_, sum)) => *sum = sum.saturating_add(cents.0),
            None => out.push((user, cents.0)),
        }
    }
    out.retain(|&(_, c)| c > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(list: &[(UserId, i64)]) -> Vec<(UserId, Cents)> {
        list.iter().map(|&(u, v)| (u, Cents(v))).collect()
    }

    /// Rows sum to the shares, columns to what was paid, every cell is the floor or the ceiling of
    /// its exact value.
    fn assert_exact(paid: &[(UserId, i64)], owed: &[(UserId, i64)]) -> Pieces {
        let p = Pieces::of(&c(paid), &c(owed)).expect("someone paid");
        let k = p.payers.len();
        let total: i128 = p.payers.iter().map(|&(_, c)| i128::from(c)).sum();
        for (row, &(_, share)) in p.sharers.iter().enumerate() {
            assert_eq!(p.cells[row * k..(row + 1) * k].iter().sum::<i64>(), share, "{paid:?} {owed:?} {p:?}");
            for (col, &(_, weight)) in p.payers.iter().enumerate() {
                let exact = i128::from(share) * i128::from(weight);
                let cell = i128::from(p.cells[row * k + col]);
                assert!(cell >= exact / total && cell <= (exact + total - 1) / total, "{p:?}");
            }
        }
        for (col, &(_, weight)) in p.payers.iter().enumerate() {
            let column: i64 = (0..p.sharers.len()).map(|row| p.cells[row * k + col]).sum();
            assert_eq!(column, weight, "{paid:?} {owed:?} {p:?}");
        }
        p
    }

    #[test]
    fn one_payer_is_owed_every_other_share() {
        let debts = transaction_debts(&c(&[(1, 900)]), &c(&[(1, 300), (2, 300), (3, 300)]));
        assert_eq!(debts, vec![(2, 1, 300), (3, 1, 300)]);
    }

    #[test]
    fn shares_follow_what_each_paid() {
        // 100.00 paid 70/30, shared 60/40 by bob (2) and carol (3): bob owes alice 42, carol 18 …
        let p = assert_exact(&[(2, 7000), (3, 3000)], &[(2, 6000), (3, 4000)]);
        assert_eq!(p.cells, vec![4200, 1800, 2800, 1200]);
        assert_eq!(
            transaction_debts(&c(&[(2, 7000), (3, 3000)]), &c(&[(2, 6000), (3, 4000)])),
            vec![(2, 3, 1800), (3, 2, 2800)]
        );
    }

    #[test]
    fn rounding_never_makes_a_payer_owed_more_than_they_paid() {
        // Per share alone, both 0.01 shares would go to the first payer (a tie, earlier wins).
        let p = assert_exact(&[(1, 1), (2, 1)], &[(3, 1), (4, 1)]);
        assert_eq!(p.cells, vec![1, 0, 0, 1]);
        // Many rows rounding the same way: 60 % of each cent would go up to the second payer.
        let owed: Vec<(UserId, i64)> = (10..60).map(|u| (u, 100)).collect();
        assert_exact(&[(1, 2000), (2, 3000)], &owed);
        assert_exact(&[(1, 994_000), (2, 6_000)], &(0..1000).map(|u| (u + 10, 1000)).collect::<Vec<_>>());
    }

    #[test]
    fn random_transactions_split_exactly() {
        let mut seed = 0x0DDE_u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for case in 0..3000 {
            let people = 1 + next(8);
            let amount = 1 + next(if case % 3 == 0 { 30 } else { 1_000_000 }) as i64;
            let split = |next: &mut dyn FnMut(u64) -> u64| {
                let n = 1 + next(people) as usize;
                let weights: Vec<i64> = (0..n).map(|_| next(7) as i64).collect();
                let weights = if weights.iter().all(|&w| w == 0) { vec![1; n] } else { weights };
                let parts = allocate(Cents(amount), &weights).unwrap();
                (0..n).map(|i| (i as UserId, parts[i].0)).collect::<Vec<_>>()
            };
            let paid = split(&mut next);
            let owed = split(&mut next);
            assert_exact(&paid, &owed);
            let debts = transaction_debts(&c(&paid), &c(&owed));
            // Net per person = paid − owed.
            let mut net: HashMap<UserId, i64> = HashMap::new();
            for (d, cr, cents) in debts {
                assert!(cents > 0 && d != cr);
                *net.entry(cr).or_default() += cents;
                *net.entry(d).or_default() -= cents;
            }
            for u in 0..8 {
                let expected = paid.iter().filter(|p| p.0 == u).map(|p| p.1).sum::<i64>()
                    - owed.iter().filter(|p| p.0 == u).map(|p| p.1).sum::<i64>();
                assert_eq!(net.get(&u).copied().unwrap_or(0), expected, "{paid:?} {owed:?}");
            }
        }
    }

    #[test]
    fn the_fallback_also_balances_exactly() {
        let mut seed = 0xFA11_u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..500 {
            let amount = 1 + next(100_000) as i64;
            let cut = |next: &mut dyn FnMut(u64) -> u64, n: usize| {
                let weights: Vec<i64> = (0..n).map(|_| 1 + next(9) as i64).collect();
                let parts = allocate(Cents(amount), &weights).unwrap();
                (0..n).map(|i| (i as UserId, parts[i])).collect::<Vec<_>>()
            };
            let (np, ns) = (1 + next(5) as usize, 1 + next(7) as usize);
            let (paid, owed) = (cut(&mut next, np), cut(&mut next, ns));
            let mut p = Pieces::of(&paid, &owed).unwrap();
            p.fill_in_order();
            let k = p.payers.len();
            for (row, &(_, share)) in p.sharers.iter().enumerate() {
                assert_eq!(p.cells[row * k..(row + 1) * k].iter().sum::<i64>(), share);
            }
            for (col, &(_, weight)) in p.payers.iter().enumerate() {
                assert_eq!((0..p.sharers.len()).map(|row| p.cells[row * k + col]).sum::<i64>(), weight);
            }
            assert!(p.cells.iter().all(|&c| c >= 0));
        }
    }

    #[test]
    fn unbalanced_or_empty_input_does_not_panic() {
        assert_eq!(transaction_debts(&[], &c(&[(1, 5)])), vec![]);
        assert_eq!(transaction_debts(&c(&[(1, 0)]), &c(&[(1, 5)])), vec![]);
        let debts = transaction_debts(&c(&[(1, 5), (2, 5)]), &c(&[(3, 3)]));
        assert_eq!(debts.iter().map(|d| d.2).sum::<i64>(), 3);
        assert_eq!(transaction_debts(&c(&[(1, 5), (1, 5)]), &c(&[(2, 10)])), vec![(2, 1, 10)]);
    }
}
