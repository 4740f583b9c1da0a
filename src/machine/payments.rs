//! Payments ("settle up") and settlement plans, optionally recorded as payments in the same step.

use serde_json::{json, Value};

use super::ledger::Payment;
use super::{bad_request, GroupId, Job, Machine, Millis, Notice, Outcome, Record, Resume, Step, UserId, Work};
use crate::money::Cents;
use crate::proto::{Error, Reply};
use crate::settle::{self, Method, Plan};

impl Machine {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_payment(
        &mut self,
        user: UserId,
        group: &str,
        from: Option<String>,
        to: String,
        amount: Cents,
        date: Option<String>,
        key: Option<String>,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        if let Some(repeat) = self.repeated_key(entry, user, key.as_ref(), "payment")? {
            return Ok(repeat);
        }
        let from = match from {
            Some(name) => self.resolve_member(entry, &name)?,
            None => user,
        };
        let to = self.resolve_member(entry, &to)?;
        if from == to {
            return Err(bad_request("Field 'to' must name someone other than the payer ('from')"));
        }
        let payment = Payment { id: self.next_payment_id, from, to, amount, by: user, created_at: now, date, key };
        let reply = Reply::message("Payment recorded").with_json("payment", |out| self.write_payment(&payment, out));
        Ok(self.commit(id, Record::PaymentRecorded { group: id, payment }, reply))
    }

    /// Suggests the transfers that zero the group's balances; with `record`, also records exactly
    /// those transfers as payments, atomically (one record), and says so in the same reply. A plan
    /// whose search may take milliseconds is handed off the loop (`Step::Offload`) and finished in
    /// `finish_settle`.
    pub(super) fn settle(
        &mut self,
        user: UserId,
        group: &str,
        method: Method,
        record: bool,
        now: Millis,
    ) -> Result<Step, Error> {
        let (id, _) = self.member_group(user, group)?;
        let (members, net) = self.settle_input(id);
        if settle::is_slow(&net, method) {
            let work = Work::Plan { net: net.clone(), method };
            return Ok(Step::Offload(Job { work, resume: Resume::Settle { group: id, method, record, members, net } }));
        }
        let plan = settle::plan(&net, method);
        Ok(Step::Done(self.finish_settle(user, id, record, &members, plan, now)))
    }

    /// Finishes a `settle` whose plan was made off the loop for `members`' balances `net`. The plan
    /// is used only if the group's balances are still exactly those; otherwise (a change landed
    /// meanwhile) it is made again, here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn resume_settle(
        &mut self,
        user: UserId,
        id: GroupId,
        method: Method,
        record: bool,
        (members, net): (Vec<UserId>, Vec<i64>),
        plan: Plan,
        now: Millis,
    ) -> Outcome {
        let current = self.settle_input(id);
        let plan = if current == (members, net) { plan } else { settle::plan(&current.1, method) };
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

    /// Replies with (and, with `record`, records) `plan`, made for the group's current balances
    /// with `members` in `settle_input` order.
    fn finish_settle(
        &mut self,
        user: UserId,
        id: GroupId,
        record: bool,
        members: &[UserId],
        plan: Plan,
        now: Millis,
    ) -> Outcome {
        let Some(entry) = self.groups.get(id) else { return Outcome::error(super::internal()) };
        let name = |index: usize| self.users.name(members[index]);
        let settlements: Vec<Value> = plan
            .transfers
            .iter()
            .map(|t| json!({"from": name(t.from), "to": name(t.to), "amount": Cents(t.amount).to_json()}))
            .collect();
        let reply = Reply::ok()
            .with("settlements", settlements.clone())
            .with("method", plan.method.as_str())
            .with("transfers", plan.transfers.len())
            .with("proven_minimal", plan.proven_minimal)
            .with("lower_bound", plan.lower_bound);
        if record && !plan.transfers.is_empty() {
            let payments: Vec<Payment> = plan
                .transfers
                .iter()
                .enumerate()
                .map(|(i, t)| Payment {
                    id: self.next_payment_id + i as u64,
                    from: members[t.from],
                    to: members[t.to],
                    amount: Cents(t.amount),
                    by: user,
                    created_at: now,
                    date: None,
                    key: None,
                })
                .collect();
            let ids: Vec<Value> = payments.iter().map(|p| Value::from(p.id)).collect();
            let reply = reply
                .with("recorded", true)
                .with("payment_ids", ids)
                .with_json("payments", |out| self.write_payments(&payments, out));
            let mut outcome =
                self.commit(id, Record::SettlementRecorded { group: id, payments, by: user, at: now }, reply);
            for event in &mut outcome.events {
                if let Notice::History { settlement, .. } = &mut event.notice {
                    *settlement = Some(settlements.clone());
                }
            }
            return outcome;
        }
        let reply = if record {
            reply.with("recorded", true).with("payment_ids", Vec::<Value>::new()).with("payments", Vec::<Value>::new())
        } else {
            reply
        };
        let message = json!({
            "type": "settlement",
            "event": "settle_requested",
            "group": entry.name,
            "by": self.users.name(user),
            "message": format!("{} asked to settle {}", self.users.name(user), entry.name),
            "data": settlements,
        });
        Outcome {
            reply,
            records: Vec::new(),
            events: vec![super::Event { group: id, notice: Notice::Message(message) }],
        }
    }
}
