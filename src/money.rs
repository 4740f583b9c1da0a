//! Money as exact integer minor units: the server's side.
//!
//! `Cents`, its bounds and its grammar are the shared vocabulary (`vocab::money`, re-exported here so
//! the server names them `crate::money::*`): wire amounts are parsed from their decimal text (never
//! through float arithmetic), and formatted back as JSON numbers with exactly two decimals. Splits are
//! allocated here so that every transaction's shares sum exactly to its amount.

pub use vocab::money::{AmountError, Cents, AMOUNT_CENTS_MAX};

/// Splits `total` over `weights.len()` people in proportion to their weights, exactly: every share is
/// the floor of its proportional part, then the leftover cents go one each to the largest fractional
/// remainders, ties to the earlier position (largest-remainder method). With equal weights this gives
/// the first `total % n` people one cent more: 100.00 over 3 is 33.34 / 33.33 / 33.33.
///
/// Returns `None` when the weights are empty, contain a negative, or sum to zero.
pub fn allocate(total: Cents, weights: &[i64]) -> Option<Vec<Cents>> {
    if weights.iter().any(|&w| w < 0) {
        return None;
    }
    let weight_sum: i128 = weights.iter().map(|&w| w as i128).sum();
    if weight_sum == 0 {
        return None;
    }
    let total_wide = total.0 as i128;
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut allocated: i128 = 0;
    for (position, &weight) in weights.iter().enumerate() {
        let exact = total_wide * weight as i128;
        let share = exact.div_euclid(weight_sum);
        remainders.push((exact.rem_euclid(weight_sum), position));
        allocated += share;
        shares.push(share);
    }
    let mut leftover = total_wide - allocated;
    // Largest remainder first; equal remainders in position order.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, position) in remainders.iter().cycle().take(weights.len() * 2) {
        if leftover == 0 {
            break;
        }
        shares[position] += 1;
        leftover -= 1;
    }
    debug_assert_eq!(leftover, 0);
    Some(shares.into_iter().map(|s| Cents(s as i64)).collect())
}

/// Equal split: `allocate` with weight 1 each, in closed form (the first `total % n` people get one
/// cent more; `equal_share`), without `allocate`'s sort: it runs for every transaction replayed.
pub fn split_equal(total: Cents, people: usize) -> Option<Vec<Cents>> {
    if people == 0 {
        return None;
    }
    (0..people).map(|position| equal_share(total, people, position)).collect()
}

/// Share number `position` (from 0) of an equal split of `total` over `people`: what `split_equal`
/// gives there. `None` for nobody.
pub fn equal_share(total: Cents, people: usize, position: usize) -> Option<Cents> {
    let people = i64::try_from(people).ok().filter(|&n| n > 0)?;
    let extra = i64::from((position as i64) < total.0.rem_euclid(people));
    Some(Cents(total.0.div_euclid(people) + extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_json_numbers_with_two_decimals() {
        assert_eq!(Cents(6667).to_json().to_string(), "66.67");
        assert_eq!(Cents(10_000).to_json().to_string(), "100.00");
        assert_eq!(Cents(-1).to_json().to_string(), "-0.01");
        assert_eq!(serde_json::to_string(&Cents(-1)).unwrap(), "-1");
    }

    #[test]
    fn the_closed_form_equal_split_is_the_weighted_one_with_equal_weights() {
        for total in [-1_000_001, -7, -1, 0, 1, 2, 99, 100, 10_000, 1_000_003, i64::MAX / 2] {
            for people in 0..=13 {
                assert_eq!(
                    split_equal(Cents(total), people),
                    allocate(Cents(total), &vec![1; people]),
                    "{total}/{people}"
                );
            }
        }
    }

    #[test]
    fn hundred_over_three() {
        let shares = split_equal(Cents(10_000), 3).unwrap();
        assert_eq!(shares, vec![Cents(3334), Cents(3333), Cents(3333)]);
        assert_eq!(shares.iter().map(|c| c.0).sum::<i64>(), 10_000);
    }

    #[test]
    fn weighted_allocation_uses_largest_remainder() {
        // 10.00 by weights 1:1:1:3 -> exact 1.666.., 1.666.., 1.666.., 5.00
        let shares = allocate(Cents(1000), &[1, 1, 1, 3]).unwrap();
        assert_eq!(shares, vec![Cents(167), Cents(167), Cents(166), Cents(500)]);
        assert_eq!(allocate(Cents(1000), &[]), None);
        assert_eq!(allocate(Cents(1000), &[0, 0]), None);
        assert_eq!(allocate(Cents(1000), &[1, -1]), None);
    }

    #[test]
    fn random_allocations_always_sum_exactly() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5_000 {
            let total = Cents((next() % AMOUNT_CENTS_MAX as u64) as i64 + 1);
            let people = (next() % 40) as usize + 1;
            let weights: Vec<i64> = (0..people).map(|_| (next() % 1000) as i64 + 1).collect();
            let shares = allocate(total, &weights).unwrap();
            assert_eq!(shares.iter().map(|c| c.0).sum::<i64>(), total.0);
            let equal = split_equal(total, people).unwrap();
            assert_eq!(equal.iter().map(|c| c.0).sum::<i64>(), total.0);
            let max = equal.iter().max().unwrap().0;
            let min = equal.iter().min().unwrap().0;
            assert!(max - min <= 1);
        }
    }
}
