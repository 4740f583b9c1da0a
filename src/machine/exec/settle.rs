//! Settling up: plans that zero a group's balances (optionally recorded as payments in the same
//! step), and the explanations of where balances come from (`balance_details`, `pairwise_debts`).

use crate::machine::explain::{self, Details, PAIRWISE_PIECES_MAX};
use crate::machine::ledger::Payment;
use crate::machine::{
    Answer, CurrencyPlan, Error, Event, GroupId, Job, Machine, Millis, Notice, Outcome, Plans, Record, Recorded,
    Resume, Settle, Settlement, Step, Transfer, UserId, Work,
};
use crate::money::Cents;
use crate::settle::{self, Method, Plan};

/// `plan`'s transfers between `members` (the order the plan was made for).
fn transfers_of(members: &[UserId], plan: &Plan) -> Vec<Transfer> {
    plan.transfers
        .iter()
        .map(|t| Transfer { from: members[t.from], to: members[t.to], amount: Cents(t.amount) })
        .collect()
}

impl Machine {
    /// Suggests the transfers that zero the group's balances; with `record`, also records exactly
    /// those transfers as payments, atomically (one record). A plan whose search may take
    /// milliseconds is handed off the loop (`Step::Offload`).
    pub(in crate::machine) fn settle(&mut self, user: UserId, settle: Settle, now: Millis) -> Result<Step, Error> {
        let (id, _) = self.member_group(user, &settle.group)?;
        let (members, net) = self.settle_input(id);
        let Settle { method, record, .. } = settle;
        if settle::is_slow(&net, method) {
            let work = Work::Plan { net: net.clone(), method };
            return Ok(Step::Offload(Job { work, resume: Resume::Settle { group: id, method, record, members, net } }));
        }
        let plan = settle::plan(&net, method);
        Ok(Step::Done(self.finish_settle(user, id, record, &members, plan, now)?))
    }

    /// Finishes a `settle` whose plan was made off the loop for `members`' balances `net`. The plan
    /// is used only if the group's balances are still exactly those; otherwise (a change landed
    /// meanwhile) it is made again, here.
    pub(in crate::machine) fn finish_settle_offloaded(
        &mut self,
        user: UserId,
        id: GroupId,
        (method, record): (Method, bool),
        asked: (Vec<UserId>, Vec<i64>),
        plan: Plan,
        now: Millis,
    ) -> Result<Outcome, Error> {
        if !self.group(id)?.is_member(user) {
            return Err(Error::NotMember);
        }
        let current = self.settle_input(id);
        let plan = if current == asked { plan } else { settle::plan(&current.1, method) };
        self.finish_settle(user, id, record, &current.0, plan, now)
    }

    /// The group's members with their balances, ordered by name (so ties break by name, as
    /// documented).
    fn settle_input(&self, group: GroupId) -> (Vec<UserId>, Vec<i64>) {
        let Some(entry) = self.groups.get(group) else { return (Vec::new(), Vec::new()) };
        let mut named: Vec<(UserId, &str, Cents)> =
            entry.member_balances().map(|(m, c)| (m, self.users.name(m), c)).collect();
        named.sort_by(|a, b| a.1.cmp(b.1));
        named.into_iter().map(|(m, _, c)| (m, c.0)).unzip()
    }

    /// The plans for the group's balances in other currencies (a group that converts at
    /// settlement), by code, members ordered by name as in `settle_input`. Made here, on the loop: a
    /// search that may be slow is made greedy instead (its `method` says so).
    fn other_plans(&self, group: GroupId, method: Method) -> Vec<CurrencyPlan> {
        let Some(entry) = self.groups.get(group) else { return Vec::new() };
        let mut plans = Vec::new();
        for (currency, balances) in entry.other_balances() {
            let mut named: Vec<(UserId, &str, Cents)> =
                balances.into_iter().map(|(m, c)| (m, self.users.name(m), c)).collect();
            named.sort_by(|a, b| a.1.cmp(b.1));
            let (members, net): (Vec<UserId>, Vec<i64>) = named.into_iter().map(|(m, _, c)| (m, c.0)).unzip();
            let method = if settle::is_slow(&net, method) { Method::Greedy } else { method };
            let plan = settle::plan(&net, method);
            plans.push(CurrencyPlan {
                currency: currency.to_string(),
                transfers: transfers_of(&members, &plan),
                method: plan.method,
                proven_minimal: plan.proven_minimal,
                lower_bound: plan.lower_bound,
            });
        }
        plans
    }

    /// Answers (and, with `record`, records) `plan`, made for the group's current balances with
    /// `members` in `settle_input` order.
    fn finish_settle(
        &mut self,
        user: UserId,
        id: GroupId,
        record: bool,
        members: &[UserId],
        plan: Plan,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let transfers = transfers_of(members, &plan);
        let others = self.other_plans(id, plan.method);
        let owed = !transfers.is_empty() || others.iter().any(|p| !p.transfers.is_empty());
        let mut settlement = Settlement {
            group: id,
            transfers: transfers.clone(),
            method: plan.method,
            proven_minimal: plan.proven_minimal,
            lower_bound: plan.lower_bound,
            recorded: record.then(|| Recorded { group: id, payments: Vec::new() }),
            others,
        };
        let others = settlement.others.iter().map(|p| (p.currency.clone(), p.transfers.clone())).collect();
        let plans = Plans { transfers: transfers.clone(), others };
        if !record || !owed {
            let events = vec![Event { group: id, notice: Notice::SettleRequested { by: user, plans } }];
            let answer = Ok(Answer::Settlement(Box::new(settlement)));
            return Ok(Outcome { answer, records: Vec::new(), events });
        }
        let mut owed: Vec<(Option<String>, Transfer)> = transfers.iter().map(|t| (None, *t)).collect();
        for plan in &settlement.others {
            owed.extend(plan.transfers.iter().map(|t| (Some(plan.currency.clone()), *t)));
        }
        let payments: Vec<Payment> = owed
            .into_iter()
            .zip(self.next_payment_id..)
            .map(|((currency, t), id)| Payment {
                id,
                from: t.from,
                to: t.to,
                amount: t.amount,
                by: user,
                created_at: now,
                date: None,
                key: None,
                currency,
            })
            .collect();
        settlement.recorded = Some(Recorded { group: id, payments: payments.iter().map(|p| p.id).collect() });
        let record = Record::SettlementRecorded { group: id, payments, by: user, at: now, seq: None };
        let mut outcome = self.commit(id, record, Answer::Settlement(Box::new(settlement)))?;
        for event in &mut outcome.events {
            if let Notice::History { entry } = event.notice {
                event.notice = Notice::Settled { entry, plans: plans.clone() };
            }
        }
        Ok(outcome)
    }

    /// `balance_details`: per current member, in member order, where their balance comes from; in
    /// the group's currency, then (a group that converts at settlement) in each other one.
    pub(in crate::machine) fn balance_details(&self, user: UserId, group: &str) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        let members_in = |currency: Option<&str>| -> Vec<(UserId, Details)> {
            let all = explain::details(entry, currency);
            entry.members.iter().map(|&m| (m, all.get(&m).copied().unwrap_or_default())).collect()
        };
        let others = entry.ledger.others().map(|(code, _)| (code.to_string(), members_in(Some(code)))).collect();
        Ok(Outcome::answer(Answer::BalanceDetails { group: id, members: members_in(None), others }))
    }

    /// `pairwise_debts`: who owes whom, netted per pair, sorted by (from, to) name.
    pub(in crate::machine) fn pairwise_debts(&self, user: UserId, group: &str) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        let pieces: usize = entry.ledger.transactions().map(|t| t.owed.len().saturating_mul(t.paid.len())).sum();
        if pieces > PAIRWISE_PIECES_MAX {
            return Err(Error::TooLargeToExplain { pieces, limit: PAIRWISE_PIECES_MAX });
        }
        let debts_in = |currency: Option<&str>| {
            let mut debts: Vec<(UserId, UserId, i128)> = explain::pairwise(entry, currency)
                .into_iter()
                .map(|((a, b), cents)| if cents > 0 { (a, b, cents) } else { (b, a, -cents) })
                .collect();
            let name = |u: UserId| self.users.name(u);
            debts.sort_unstable_by(|x, y| (name(x.0), name(x.1)).cmp(&(name(y.0), name(y.1))));
            debts
        };
        let others = entry.ledger.others().map(|(code, _)| (code.to_string(), debts_in(Some(code)))).collect();
        Ok(Outcome::answer(Answer::Debts { group: id, debts: debts_in(None), others }))
    }
}
