//! Expenses entered in another currency: turning a request's amounts in that currency into the
//! group's, once, at the rate the user gave (`vocab::rate`: exact, half-even), and the `Foreign` the
//! transaction keeps. In a group that converts at settlement nothing is converted: the amounts stay
//! in their currency's minor units, and the `Foreign` (without a rate) says which balances they move.
//! Also whether the group's currency may still change.
//!
//! The expense code calls in here before it resolves splits and payers, and then works in the
//! group's currency as it always has; an expense in the group's own currency never gets past the
//! first line of `convert_add` / `convert_edit`. Does not own splitting (`expenses`), nor how
//! amounts are read from the wire (`proto::fields`, which reads a request's amounts in the decimals
//! of the `currency` it names).

use vocab::currency::minor_units;
use vocab::rate::ConvertError;

use crate::machine::groups::Group;
use crate::machine::ledger::{Foreign, Rate, Transaction};
use crate::machine::recurring::RuleCurrency;
use crate::machine::{
    AddTransaction, EditRecurring, EditTransaction, Error, ForeignSpec, Invalid, Part, SplitSpec, WIRE_DECIMALS,
};
use crate::money::{allocate, Cents};

/// Amounts in an expense's entry currency: the total, the payers and an exact split's shares.
struct Entry<'a> {
    amount: Cents,
    paid_by: Option<&'a mut Vec<(String, Cents)>>,
    exact: Option<&'a mut Vec<(String, Cents)>>,
}

impl Entry<'_> {
    /// Every amount from `from` decimals to `to` (exact: `AmountNotWhole` when a digit is lost); the
    /// total only with `total` (an edit's kept total is in its currency already).
    fn rescale(&mut self, currency: &str, (from, to): (u8, u8), total: bool) -> Result<(), Invalid> {
        let not_whole = |field| Invalid::AmountNotWhole { field, currency: currency.to_string(), decimals: to };
        if total {
            self.amount = rescale(self.amount, from, to).ok_or_else(|| not_whole(None))?;
        }
        let lists = [(Part::PaidBy, self.paid_by.as_deref_mut()), (Part::ExactAmounts, self.exact.as_deref_mut())];
        for (part, list) in lists {
            for (name, cents) in list.into_iter().flatten() {
                *cents = rescale(*cents, from, to).ok_or_else(|| not_whole(Some((part, name.clone()))))?;
            }
        }
        Ok(())
    }

    /// Converts every amount at `rate` from `decimals` decimals to the group's (`to`): the total
    /// once, then the lists shared out of it in proportion (so they still sum to it exactly).
    /// Returns the converted total.
    fn convert(&mut self, rate: Rate, (decimals, to): (u8, u8)) -> Result<Cents, Invalid> {
        let converted = rate.convert(self.amount, decimals, to).map_err(|err| match err {
            ConvertError::TooLarge => Invalid::ConvertedTooLarge,
            ConvertError::Zero => Invalid::ConvertedToZero,
        })?;
        let amount = self.amount;
        if let Some(list) = self.paid_by.as_deref_mut() {
            reshare(list, (amount, decimals), converted, Part::PaidBy)?;
        }
        if let Some(list) = self.exact.as_deref_mut() {
            reshare(list, (amount, decimals), converted, Part::ExactAmounts)?;
        }
        Ok(converted)
    }
}

/// A request's amounts that name no currency — its total (`None`: an edit keeping its own), payers
/// and an exact split's shares — from the wire's decimals (`WIRE_DECIMALS`) to the group's own, in
/// place: `AmountNotWhole` for a digit the group's currency does not have.
pub(super) fn to_group_decimals(
    entry: &Group,
    amount: Option<&mut Cents>,
    paid_by: Option<&mut Vec<(String, Cents)>>,
    split: Option<&mut SplitSpec>,
) -> Result<(), Invalid> {
    let given = amount.is_some();
    let total = amount.as_deref().copied().unwrap_or_default();
    let mut own = Entry { amount: total, paid_by, exact: split.and_then(exact_of) };
    own.rescale(&entry.currency, (WIRE_DECIMALS, entry.decimals), given)?;
    if let Some(amount) = amount {
        *amount = own.amount;
    }
    Ok(())
}

/// `list`, which must sum to `amount`, shared out of `converted` in the same proportions (largest
/// remainder).
fn reshare(
    list: &mut [(String, Cents)],
    (amount, decimals): (Cents, u8),
    converted: Cents,
    part: Part,
) -> Result<(), Invalid> {
    let sum = Cents(list.iter().map(|(_, c)| c.0).sum());
    let mismatch = Invalid::SumMismatch { part, amount, sum, decimals };
    if sum != amount {
        return Err(mismatch);
    }
    let weights: Vec<i64> = list.iter().map(|(_, c)| c.0).collect();
    let shares = allocate(converted, &weights).ok_or(mismatch)?;
    for ((_, cents), share) in list.iter_mut().zip(shares) {
        *cents = share;
    }
    Ok(())
}

/// `amount` from `from` decimals to `to`; `None` when that would drop a non-zero digit.
fn rescale(amount: Cents, from: u8, to: u8) -> Option<Cents> {
    if to >= from {
        let factor = 10_i64.checked_pow(u32::from(to - from))?;
        return amount.0.checked_mul(factor).map(Cents);
    }
    let factor = 10_i64.checked_pow(u32::from(from - to))?;
    (amount.0 % factor == 0).then_some(Cents(amount.0 / factor))
}

fn exact_of(split: &mut SplitSpec) -> Option<&mut Vec<(String, Cents)>> {
    match split {
        SplitSpec::Exact(list) => Some(list),
        _ => None,
    }
}

/// `rate` for the group's own currency: only 1 (or none) means anything.
fn check_own_rate(rate: Option<Rate>) -> Result<(), Invalid> {
    match rate {
        Some(rate) if !rate.is_one() => Err(Invalid::RateForOwnCurrency),
        _ => Ok(()),
    }
}

/// A payment's amount and currency as its record keeps them: `None` for the group's own (the
/// amount, read in that code's decimals, back in cents); another only in a group that converts at
/// settlement (the amount stays in its minor units).
pub(super) fn payment_currency(
    entry: &Group,
    amount: Cents,
    currency: Option<String>,
) -> Result<(Cents, Option<String>), Invalid> {
    let Some(code) = currency else {
        let mut amount = amount;
        to_group_decimals(entry, Some(&mut amount), None, None)?;
        return Ok((amount, None));
    };
    if code == entry.currency {
        let (from, to) = (minor_units(&code), entry.decimals);
        let not_whole = || Invalid::AmountNotWhole { field: None, currency: code.clone(), decimals: to };
        return Ok((rescale(amount, from, to).ok_or_else(not_whole)?, None));
    }
    if entry.convert.is_at_entry() {
        return Err(Invalid::PaymentCurrencyAtEntry);
    }
    Ok((amount, Some(code)))
}

/// In a group that converts at settlement: no rate (or 1, which says nothing).
fn check_settlement_rate(rate: Option<Rate>) -> Result<(), Invalid> {
    match rate {
        Some(rate) if !rate.is_one() => Err(Invalid::RateAtSettlement),
        _ => Ok(()),
    }
}

/// Turns `add`'s amounts into the group's currency (in place) and returns what the transaction
/// keeps of the entry: `None` for the group's own currency. Amounts without a currency are in the
/// group's decimals already (`to_group_decimals`, for a request; a rule's template is).
pub(super) fn convert_add(entry: &Group, add: &mut AddTransaction) -> Result<Option<Foreign>, Error> {
    let Some(spec) = add.foreign.take() else { return Ok(None) };
    // The decoder gives `add_transaction` a currency whenever it gives a rate.
    let currency = spec.currency.ok_or(Error::Internal)?;
    let decimals = minor_units(&currency);
    let mut amounts = Entry { amount: add.amount, paid_by: add.paid_by.as_mut(), exact: exact_of(&mut add.split) };
    if currency == entry.currency {
        check_own_rate(spec.rate)?;
        amounts.rescale(&currency, (decimals, entry.decimals), true)?;
        add.amount = amounts.amount;
        return Ok(None);
    }
    if !entry.convert.is_at_entry() {
        check_settlement_rate(spec.rate)?;
        return Ok(Some(Foreign { currency, amount: add.amount, rate: None }));
    }
    let rate = spec.rate.ok_or_else(|| Invalid::RateNeeded { currency: currency.clone() })?;
    let foreign = Foreign { currency, amount: add.amount, rate: Some(rate) };
    add.amount = amounts.convert(rate, (decimals, entry.decimals))?;
    Ok(Some(foreign))
}

/// Turns `edit`'s amounts into the group's currency (in place) and returns the transaction's new
/// `foreign`: `None` to keep the old one (nothing about the entry changes).
///
/// The entry currency is the one `edit` names, else the transaction's own. Amounts `edit` gives
/// without naming a currency were read at `WIRE_DECIMALS` and are rescaled to it; a new rate or
/// currency without a new amount converts the amount kept in that currency.
pub(super) fn convert_edit(
    entry: &Group,
    old: &Transaction,
    edit: &mut EditTransaction,
) -> Result<Option<Option<Foreign>>, Error> {
    let spec = edit.foreign.take();
    if spec.is_none() && old.foreign.is_none() {
        to_group_decimals(entry, edit.amount.as_mut(), edit.paid_by.as_mut(), edit.split.as_mut())?;
        return Ok(None);
    }
    let (named, rate) = spec.map_or((None, None), |s| (s.currency, s.rate));
    let currency = named.clone().or_else(|| old.foreign.as_ref().map(|f| f.currency.clone()));
    let currency = currency.unwrap_or_else(|| entry.currency.clone());
    let decimals = minor_units(&currency);
    let kept = old.foreign.as_ref().filter(|f| f.currency == currency);
    let given = edit.amount.is_some();
    let mut amounts = Entry {
        amount: edit.amount.or(kept.map(|f| f.amount)).unwrap_or(old.amount),
        paid_by: edit.paid_by.as_mut(),
        exact: edit.split.as_mut().and_then(exact_of),
    };
    if named.is_none() {
        // Read at the wire's decimals; the transaction's currency may have fewer.
        amounts.rescale(&currency, (WIRE_DECIMALS, decimals), given)?;
    }
    if currency == entry.currency {
        check_own_rate(rate)?;
        if old.foreign.is_some() && !given {
            return Err(Invalid::AmountNeeded { currency }.into());
        }
        amounts.rescale(&currency, (decimals, entry.decimals), given)?;
        edit.amount = edit.amount.map(|_| amounts.amount);
        return Ok(old.foreign.is_some().then_some(None));
    }
    if kept.is_none() && !given {
        return Err(Invalid::AmountNeeded { currency }.into());
    }
    if !entry.convert.is_at_entry() {
        check_settlement_rate(rate)?;
        edit.amount = Some(amounts.amount);
        return Ok(Some(Some(Foreign { currency, amount: amounts.amount, rate: None })));
    }
    let rate = rate.or(kept.and_then(|f| f.rate)).ok_or_else(|| Invalid::RateNeeded { currency: currency.clone() })?;
    let foreign = Foreign { currency, amount: amounts.amount, rate: Some(rate) };
    edit.amount = Some(amounts.convert(rate, (decimals, entry.decimals))?);
    Ok(Some(Some(foreign)))
}

/// A recurring rule's currency after `edit_recurring` (`spec`: the edit's `currency` and `rate`),
/// and the edit's amounts in it (in place). A new currency needs the amount in it (`AmountNeeded`);
/// otherwise the rule's currency and rate are kept where the edit names none, and amounts the edit
/// gave without naming a currency (read as two decimals) are rescaled to the kept currency's.
/// Whether the rule's amounts convert is `convert_add`'s, which each occurrence goes through.
pub(super) fn edit_rule_currency(
    kept: Option<&RuleCurrency>,
    spec: Option<ForeignSpec>,
    edit: &mut EditRecurring,
) -> Result<Option<RuleCurrency>, Error> {
    let (named, rate) = spec.map_or((None, None), |s| (s.currency, s.rate));
    let kept_rate = kept.and_then(|k| k.rate);
    match (named, kept) {
        (Some(currency), Some(kept)) if currency == kept.currency => {
            Ok(Some(RuleCurrency { currency, rate: rate.or(kept_rate) }))
        }
        (Some(currency), _) => {
            if edit.amount.is_none() {
                return Err(Invalid::AmountNeeded { currency }.into());
            }
            Ok(Some(RuleCurrency { currency, rate }))
        }
        // A rate alone, for a rule in the group's own currency: only 1, which changes nothing.
        (None, None) => {
            check_own_rate(rate)?;
            Ok(None)
        }
        (None, Some(kept)) => {
            let given = edit.amount.is_some();
            let mut amounts = Entry {
                amount: edit.amount.unwrap_or(Cents(0)),
                paid_by: edit.paid_by.as_mut(),
                exact: edit.split.as_mut().and_then(exact_of),
            };
            amounts.rescale(&kept.currency, (WIRE_DECIMALS, minor_units(&kept.currency)), given)?;
            edit.amount = edit.amount.map(|_| amounts.amount);
            Ok(Some(RuleCurrency { currency: kept.currency.clone(), rate: rate.or(kept_rate) }))
        }
    }
}

/// A group's currency may change until it has an expense converted from another currency, or a
/// recurring rule entered in a currency: those rates say what one unit is worth in it (and a rule
/// in the group's own currency would become one in another).
pub(super) fn check_currency_change(entry: &Group) -> Result<(), Error> {
    if let Some(rule) = entry.rules.rules.values().find(|rule| rule.template.currency.is_some()) {
        return Err(Invalid::CurrencyLockedByRule { rule: rule.id }.into());
    }
    // In a group that converts at settlement, amounts kept in another currency lock it too: the
    // group's currency naming theirs would mix two sets of balances.
    let paid_in_other = entry.ledger.payments().iter().any(|p| p.currency.is_some());
    if paid_in_other || entry.ledger.transactions().any(|txn| txn.foreign.is_some()) {
        return Err(Invalid::CurrencyLocked.into());
    }
    Ok(())
}

/// The decimals the group's amounts have once its currency is `currency`: that currency's, unless
/// the group holds amounts in other decimals (their numbers would change meaning). A group that
/// kept hundredths from before groups had their own decimals keeps them while it holds amounts.
pub(super) fn decimals_after(entry: &Group, currency: &str) -> Result<u8, Invalid> {
    let wanted = minor_units(currency);
    if wanted == entry.decimals || !entry.holds_amounts() {
        return Ok(wanted);
    }
    if currency == entry.currency {
        return Ok(entry.decimals);
    }
    Err(Invalid::DecimalsLocked { currency: currency.to_string(), decimals: entry.decimals })
}
