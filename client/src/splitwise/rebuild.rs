//! What one Splitwise row becomes in splitd: an exact-split expense with its payers, payments, or
//! nothing (a zero cost). Pure: cents in, a plan out.
//!
//! A row gives the cost C and, per member, d = paid − owed. Who paid and who owed is not unique from
//! d alone, so the plan is the reconstruction that is exact and gives the obvious answer for the
//! shapes Splitwise writes:
//!
//! - The cells must sum to 0, and the members owed money (d > 0) at most C in all (P = Σ d⁺ ≤ C):
//!   else no payer and share amounts can give these cells, and the row is refused.
//! - The slack S = C − P is what the payers owed themselves. It is shared equally among the members
//!   with d > 0 (the leftover cents one each to the first, in column order): a payer pays d + x and
//!   owes x; a member with d < 0 owes −d and paid nothing; a member with d = 0 is not in it.
//!   One payer splitting equally: x is the payer's own share (exact). Two payers sharing equally with
//!   the rest: each payer's x is the same share (exact). A payer who paid exactly their own share has
//!   d = 0 and reads as not in it; balances are the same.
//! - All cells 0 (everyone paid for themselves): C is split equally among every member column, each
//!   paying their own share.
//! - A payment row: one member with d > 0 paid each member with d < 0 their −d (one payment per
//!   receiver), or several paid the one receiver; the cost must be what was paid.
//!
//! In every case the paid amounts sum to C, the owed amounts sum to C, and paid − owed = d for every
//! member, so the balances move exactly as the file says.

use vocab::Cents;

use super::file::Row;

/// What to do with a row; members are indexes of the file's member columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// An expense of `cost`: who paid what and who owes what (no zero amounts; each sums to the cost).
    Expense { paid: Vec<(usize, Cents)>, owed: Vec<(usize, Cents)> },
    /// Payments, each (from, to, amount).
    Payments(Vec<(usize, usize, Cents)>),
    /// A row whose cost is zero: skipped, never guessed.
    ZeroCost,
}

/// The plan for `row`, or why its cells cannot be what a Splitwise row says.
pub fn plan(row: &Row) -> Result<Plan, String> {
    let cost = row.cost.0;
    if cost < 0 {
        return Err(format!("the cost {} is negative", row.cost));
    }
    if cost == 0 {
        return Ok(Plan::ZeroCost);
    }
    let d: Vec<i64> = row.cells.iter().map(|c| c.0).collect();
    let sum: i64 = d.iter().sum();
    if sum != 0 {
        return Err(format!("the member cells sum to {}, not 0.00", Cents(sum)));
    }
    let owed_to: i64 = d.iter().filter(|v| **v > 0).sum();
    if row.payment {
        return payments(&d, owed_to, row.cost);
    }
    if owed_to > cost {
        return Err(format!("the cells give {} back to payers, more than the cost {}", Cents(owed_to), row.cost));
    }
    let mut takers: Vec<usize> = (0..d.len()).filter(|i| d[*i] > 0).collect();
    if takers.is_empty() {
        takers = (0..d.len()).collect();
    }
    let slack = equal_parts(cost - owed_to, takers.len());
    let mut x = vec![0; d.len()];
    for (member, part) in takers.iter().zip(slack) {
        x[*member] = part;
    }
    let nonzero = |v: Vec<i64>| v.into_iter().enumerate().filter(|(_, c)| *c > 0).map(|(i, c)| (i, Cents(c))).collect();
    Ok(Plan::Expense {
        paid: nonzero(d.iter().zip(&x).map(|(d, x)| d.max(&0) + x).collect()),
        owed: nonzero(d.iter().zip(&x).map(|(d, x)| (-d).max(0) + x).collect()),
    })
}

/// A payment row: one payer to every receiver, or every payer to one receiver.
fn payments(d: &[i64], paid: i64, cost: Cents) -> Result<Plan, String> {
    let payers: Vec<usize> = (0..d.len()).filter(|i| d[*i] > 0).collect();
    let receivers: Vec<usize> = (0..d.len()).filter(|i| d[*i] < 0).collect();
    if payers.is_empty() {
        return Err("a payment row in which nobody paid".into());
    }
    if paid != cost.0 {
        return Err(format!("a payment of {cost} whose cells pay {}", Cents(paid)));
    }
    match (payers.as_slice(), receivers.as_slice()) {
        ([from], to) => Ok(Plan::Payments(to.iter().map(|t| (*from, *t, Cents(-d[*t]))).collect())),
        (from, [to]) => Ok(Plan::Payments(from.iter().map(|f| (*f, *to, Cents(d[*f]))).collect())),
        (from, to) => Err(format!(
            "a payment row with {} payers and {} receivers: who paid whom is not in the file",
            from.len(),
            to.len()
        )),
    }
}

/// `total` in `n` whole parts as equal as can be, the larger ones first (`n` > 0).
fn equal_parts(total: i64, n: usize) -> Vec<i64> {
    let n_i = n as i64;
    (0..n_i).map(|i| total / n_i + i64::from(i < total % n_i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cost: i64, cells: &[i64], payment: bool) -> Row {
        Row {
            line: 2,
            date: String::new(),
            description: String::new(),
            cost: Cents(cost),
            payment,
            category: None,
            cells: cells.iter().map(|c| Cents(*c)).collect(),
        }
    }

    /// (member, cents) pairs.
    type Parts = Vec<(usize, i64)>;

    fn expense(cost: i64, cells: &[i64]) -> (Parts, Parts) {
        let r = row(cost, cells, false);
        match plan(&r).unwrap() {
            Plan::Expense { paid, owed } => {
                // Exact: both sum to the cost and paid − owed is every cell.
                assert_eq!(paid.iter().map(|p| p.1 .0).sum::<i64>(), cost);
                assert_eq!(owed.iter().map(|p| p.1 .0).sum::<i64>(), cost);
                for (i, cell) in cells.iter().enumerate() {
                    let of = |list: &[(usize, Cents)]| list.iter().find(|p| p.0 == i).map_or(0, |p| p.1 .0);
                    assert_eq!(of(&paid) - of(&owed), *cell, "member {i}");
                }
                let flat = |l: Vec<(usize, Cents)>| l.into_iter().map(|(i, c)| (i, c.0)).collect();
                (flat(paid), flat(owed))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn one_payer_evenly_and_unevenly() {
        // Alice paid 100.00 for the three of them: 33.34 / 33.33 / 33.33.
        assert_eq!(
            expense(10_000, &[6_666, -3_333, -3_333]),
            (vec![(0, 10_000)], vec![(0, 3_334), (1, 3_333), (2, 3_333)])
        );
        // Uneven: Bob paid 50.00; Alice owes 10.00, Bob 15.00, Carol 25.00.
        assert_eq!(
            expense(5_000, &[-1_000, 3_500, -2_500]),
            (vec![(1, 5_000)], vec![(0, 1_000), (1, 1_500), (2, 2_500)])
        );
        // Paid only for others.
        assert_eq!(expense(2_000, &[2_000, -1_000, -1_000]), (vec![(0, 2_000)], vec![(1, 1_000), (2, 1_000)]));
    }

    #[test]
    fn two_payers_sharing_equally() {
        // Alice paid 50, Bob 40, all three owe 30.
        assert_eq!(
            expense(9_000, &[2_000, 1_000, -3_000]),
            (vec![(0, 5_000), (1, 4_000)], vec![(0, 3_000), (1, 3_000), (2, 3_000)])
        );
    }

    #[test]
    fn a_member_with_a_zero_cell_is_not_in_it() {
        // Alice paid 30.00 for Alice and Bob; Carol was not there.
        assert_eq!(expense(3_000, &[1_500, -1_500, 0]), (vec![(0, 3_000)], vec![(0, 1_500), (1, 1_500)]));
    }

    #[test]
    fn everyone_paying_for_themselves() {
        // 10.00 over three: 3.34 / 3.33 / 3.33, each paying their own.
        let (paid, owed) = expense(1_000, &[0, 0, 0]);
        assert_eq!(paid, [(0, 334), (1, 333), (2, 333)]);
        assert_eq!(owed, paid);
        // Less than a cent each: the ones left without a share are not named.
        assert_eq!(expense(2, &[0, 0, 0]).0, [(0, 1), (1, 1)]);
    }

    #[test]
    fn payments_one_per_receiver() {
        let to_two = plan(&row(3_000, &[3_000, -1_000, -2_000], true)).unwrap();
        assert_eq!(to_two, Plan::Payments(vec![(0, 1, Cents(1_000)), (0, 2, Cents(2_000))]));
        let from_two = plan(&row(3_000, &[-3_000, 1_000, 2_000], true)).unwrap();
        assert_eq!(from_two, Plan::Payments(vec![(1, 0, Cents(1_000)), (2, 0, Cents(2_000))]));
        assert_eq!(plan(&row(1_000, &[1_000, -1_000, 0], true)).unwrap(), Plan::Payments(vec![(0, 1, Cents(1_000))]));
    }

    #[test]
    fn zero_costs_are_skipped_and_impossible_rows_refused() {
        assert_eq!(plan(&row(0, &[0, 0, 0], false)), Ok(Plan::ZeroCost));
        assert_eq!(plan(&row(0, &[500, -500, 0], true)), Ok(Plan::ZeroCost), "never guessed");
        let refused = |cost, cells: &[i64], payment| plan(&row(cost, cells, payment)).unwrap_err();
        assert_eq!(refused(1_000, &[500, -400, 0], false), "the member cells sum to 1.00, not 0.00");
        assert!(refused(1_000, &[2_000, -2_000], false).contains("more than the cost 10.00"));
        assert!(refused(-100, &[0, 0], false).contains("negative"));
        assert!(refused(1_000, &[0, 0], true).contains("nobody paid"));
        assert!(refused(1_000, &[500, -500], true).contains("whose cells pay 5.00"));
        assert!(refused(1_000, &[500, 500, -500, -500], true).contains("2 payers and 2 receivers"));
    }
}
