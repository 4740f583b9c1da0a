//! Groups and who is in them: create, join, leave, and the creator's settings (join password,
//! currency). Join passwords are hashed and checked off the loop, like account passwords.

use crate::machine::groups::{validate_group_name, GROUP_MEMBERS_MAX};
use crate::machine::users::validate_group_password;
use crate::machine::{
    misfit, Activity, Answer, ApplyError, Convert, CreateGroup, Done, Error, GroupId, Invalid, Job, JoinGroup, Machine,
    Millis, Outcome, Record, Resume, Setting, Step, UserId, Work, DEFAULT_CURRENCY,
};
use vocab::currency::{minor_units, DECIMALS_MAX};

impl Machine {
    pub(in crate::machine) fn create_group(
        &mut self,
        user: UserId,
        create: CreateGroup,
        now: Millis,
    ) -> Result<Step, Error> {
        let CreateGroup { group, password, currency, convert } = create;
        let group = validate_group_name(&group)?;
        self.check_name_free(&group)?;
        let currency = currency.unwrap_or_else(|| DEFAULT_CURRENCY.to_string());
        let convert = convert.unwrap_or_default();
        if password.is_empty() {
            return Ok(Step::Done(self.finish_create_group(user, group, None, (currency, convert), now)?));
        }
        validate_group_password(&password)?;
        let resume = Resume::CreateGroup { group, currency, convert };
        Ok(Step::Offload(Job { work: Work::Hash { password }, resume }))
    }

    /// `name` (trimmed, NFC) is neither an existing group's name nor looks like one.
    fn check_name_free(&self, name: &str) -> Result<(), Error> {
        if self.groups.find(name).is_some() {
            return Err(Error::GroupExists);
        }
        if self.groups.lookalike(name).is_some() {
            return Err(Error::GroupLookalike);
        }
        Ok(())
    }

    /// The name may have been taken while the password was hashing.
    pub(in crate::machine) fn finish_create_group(
        &mut self,
        user: UserId,
        name: String,
        password_hash: Option<String>,
        (currency, convert): (String, Convert),
        now: Millis,
    ) -> Result<Outcome, Error> {
        self.check_name_free(&name)?;
        let group = self.groups.next_id();
        let mut records = vec![Record::GroupCreated { group, name, creator: user, password_hash, at: now, seq: None }];
        if currency != DEFAULT_CURRENCY {
            let decimals = Some(minor_units(&currency));
            records.push(Record::GroupCurrencySet { group, currency, decimals, by: user, at: now, seq: None });
        }
        if !convert.is_at_entry() {
            records.push(Record::GroupConvertSet { group, convert, by: user, at: now, seq: None });
        }
        // A new group's changes are numbered from 1.
        for (seq, record) in (1..).zip(records.iter_mut()) {
            record.set_seq(seq);
            self.apply_own(record)?;
        }
        Ok(Outcome { answer: Ok(Answer::Done(Done::GroupCreated)), records, events: Vec::new() })
    }

    pub(in crate::machine) fn join_group(&mut self, user: UserId, join: JoinGroup, now: Millis) -> Result<Step, Error> {
        let id = self.groups.find(&join.group).ok_or(Error::GroupNotFound)?;
        let entry = self.group(id)?;
        if entry.is_member(user) {
            return Ok(Step::Done(Outcome::done(Done::Joined)));
        }
        if entry.members.len() >= GROUP_MEMBERS_MAX {
            return Err(Error::GroupFull);
        }
        match &entry.password_hash {
            None => Ok(Step::Done(self.finish_join_group(user, id, true, now)?)),
            Some(phc) => Ok(Step::Offload(Job {
                work: Work::Verify { password: join.password, phc: phc.clone() },
                resume: Resume::JoinGroup { group: id },
            })),
        }
    }

    pub(in crate::machine) fn finish_join_group(
        &mut self,
        user: UserId,
        group: GroupId,
        verified: bool,
        now: Millis,
    ) -> Result<Outcome, Error> {
        if !verified {
            return Err(Error::InvalidGroupPassword);
        }
        if self.group(group)?.is_member(user) {
            return Ok(Outcome::done(Done::Joined));
        }
        self.commit(group, Record::MemberJoined { group, user, at: now, seq: None }, Answer::Done(Done::Joined))
    }

    pub(in crate::machine) fn leave_group(&mut self, user: UserId, group: &str, now: Millis) -> Result<Outcome, Error> {
        let (id, entry) = self.member_group(user, group)?;
        if !entry.settled_up(user) {
            return Err(Error::BalanceNotZero);
        }
        self.commit(id, Record::MemberLeft { group: id, user, at: now, seq: None }, Answer::Done(Done::Left))
    }

    /// The group `name` if `user` is a member and its creator (who alone changes `setting`).
    fn creator_group(&self, user: UserId, name: &str, setting: Setting) -> Result<GroupId, Error> {
        let (id, entry) = self.member_group(user, name)?;
        if entry.creator != user {
            return Err(Error::CreatorOnly(setting));
        }
        Ok(id)
    }

    pub(in crate::machine) fn set_group_password(
        &mut self,
        user: UserId,
        group: &str,
        password: String,
        now: Millis,
    ) -> Result<Step, Error> {
        let id = self.creator_group(user, group, Setting::Password)?;
        if password.is_empty() {
            let record = Record::GroupPasswordSet { group: id, password_hash: None, by: user, at: now, seq: None };
            return Ok(Step::Done(self.commit(id, record, Answer::Done(Done::PasswordRemoved))?));
        }
        validate_group_password(&password)?;
        Ok(Step::Offload(Job { work: Work::Hash { password }, resume: Resume::SetGroupPassword { group: id } }))
    }

    /// Membership and creatorship are checked again: either may have changed while hashing.
    pub(in crate::machine) fn finish_set_group_password(
        &mut self,
        user: UserId,
        group: GroupId,
        phc: String,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let entry = self.group(group)?;
        if !entry.is_member(user) {
            return Err(Error::NotMember);
        }
        if entry.creator != user {
            return Err(Error::CreatorOnly(Setting::Password));
        }
        let record = Record::GroupPasswordSet { group, password_hash: Some(phc), by: user, at: now, seq: None };
        self.commit(group, record, Answer::Done(Done::PasswordChanged))
    }

    pub(in crate::machine) fn set_group_currency(
        &mut self,
        user: UserId,
        group: &str,
        currency: String,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let id = self.creator_group(user, group, Setting::Currency)?;
        let entry = self.group(id)?;
        if entry.currency != currency {
            super::currency::check_currency_change(entry)?;
        }
        let decimals = Some(super::currency::decimals_after(entry, &currency)?);
        let record = Record::GroupCurrencySet { group: id, currency, decimals, by: user, at: now, seq: None };
        self.commit(id, record, Answer::Done(Done::CurrencySet))
    }

    /// Only while the group has no transactions or payments, nor deleted ones that could be
    /// restored: their amounts are in the currencies the old setting kept them in.
    pub(in crate::machine) fn set_group_convert(
        &mut self,
        user: UserId,
        group: &str,
        convert: Convert,
        now: Millis,
    ) -> Result<Outcome, Error> {
        let id = self.creator_group(user, group, Setting::Convert)?;
        let entry = self.group(id)?;
        if entry.convert == convert {
            return Ok(Outcome::done(Done::ConvertSet));
        }
        if entry.holds_amounts() {
            return Err(Invalid::ConvertLocked.into());
        }
        let record = Record::GroupConvertSet { group: id, convert, by: user, at: now, seq: None };
        self.commit(id, record, Answer::Done(Done::ConvertSet))
    }

    pub(in crate::machine) fn apply_membership(&mut self, record: &Record) -> Result<(), ApplyError> {
        match record {
            Record::GroupCreated { group, name, creator, password_hash, at, .. } => {
                self.apply_group_created(*group, name, *creator, password_hash, *at)
            }
            Record::MemberJoined { group, user, at, .. } => {
                let (Some(entry), Some(member)) = (self.groups.get_mut(*group), self.users.get_mut(*user)) else {
                    return misfit("unknown group or user");
                };
                if !entry.add_member(*user) {
                    return misfit("already a member");
                }
                member.groups.push(*group);
                entry.history.push(*at, *user, Activity::MemberJoined { member: *user });
                Ok(())
            }
            Record::MemberLeft { group, user, at, .. } => {
                let (Some(entry), Some(member)) = (self.groups.get_mut(*group), self.users.get_mut(*user)) else {
                    return misfit("unknown group or user");
                };
                if !entry.remove_member(*user) {
                    return misfit("not a member or balance not zero");
                }
                member.groups.retain(|g| g != group);
                entry.history.push(*at, *user, Activity::MemberLeft { member: *user });
                Ok(())
            }
            Record::GroupCurrencySet { group, currency, decimals, by, at, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                if !vocab::is_currency_code(currency) {
                    return misfit("not a currency code");
                }
                let decimals = decimals.unwrap_or(entry.decimals);
                if decimals != entry.decimals && entry.holds_amounts() {
                    return misfit("the decimals change only in a group without amounts");
                }
                if decimals > DECIMALS_MAX {
                    return misfit("more decimals than any currency");
                }
                entry.currency = currency.clone();
                entry.decimals = decimals;
                entry.history.push(*at, *by, Activity::CurrencySet { currency: currency.as_str().into() });
                Ok(())
            }
            Record::GroupConvertSet { group, convert, by, at, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                if !entry.ledger.is_empty() || !entry.ledger.payments().is_empty() {
                    return misfit("the convert setting changes only in a group without transactions");
                }
                entry.convert = *convert;
                entry.history.push(*at, *by, Activity::ConvertSet { convert: *convert });
                Ok(())
            }
            Record::GroupPasswordSet { group, password_hash, by, at, .. } => {
                let Some(entry) = self.groups.get_mut(*group) else { return misfit("unknown group") };
                entry.password_hash = password_hash.clone();
                entry.history.push(*at, *by, Activity::PasswordChanged { has_password: password_hash.is_some() });
                Ok(())
            }
            _ => misfit("not a membership record"),
        }
    }

    /// The creator becomes the first member in the same record.
    fn apply_group_created(
        &mut self,
        group: GroupId,
        name: &str,
        creator: UserId,
        password_hash: &Option<String>,
        at: i64,
    ) -> Result<(), ApplyError> {
        if self.users.get(creator).is_none() {
            return misfit("unknown creator");
        }
        let currency = DEFAULT_CURRENCY.to_string();
        if !self.groups.insert(group, name.to_string(), password_hash.clone(), creator, at, currency) {
            return misfit("group id out of order or name taken");
        }
        let (Some(entry), Some(member)) = (self.groups.get_mut(group), self.users.get_mut(creator)) else {
            return misfit("group vanished");
        };
        entry.add_member(creator);
        member.groups.push(group);
        entry.history.push(at, creator, Activity::GroupCreated);
        Ok(())
    }
}
