//! Groups: names, join passwords (hashed), members in join order, and each group's ledger.

use std::collections::HashMap;

use super::ledger::Ledger;
use super::UserId;

pub type GroupId = u32;

/// Group names: 1–64 printable characters (no control characters).
pub const GROUP_NAME_CHARS_MAX: usize = 64;
/// Members a group may hold; bounds the work of one balance read, fanout and settlement.
pub const GROUP_MEMBERS_MAX: usize = 10_000;

#[derive(Debug)]
pub struct Group {
    pub name: String,
    /// argon2id PHC string; `None` when the group has no join password.
    pub password_hash: Option<String>,
    pub creator: UserId,
    /// In join order; a member's position indexes `ledger.balances`.
    pub members: Vec<UserId>,
    pub member_pos: HashMap<UserId, usize>,
    pub ledger: Ledger,
    pub created_at: i64,
}

impl Group {
    pub fn is_member(&self, user: UserId) -> bool {
        self.member_pos.contains_key(&user)
    }

    /// Adds `user` as a member; `false` if already one.
    pub fn add_member(&mut self, user: UserId) -> bool {
        if self.is_member(user) {
            return false;
        }
        self.member_pos.insert(user, self.members.len());
        self.members.push(user);
        self.ledger.add_member();
        true
    }
}

#[derive(Debug, Default)]
pub struct Groups {
    list: Vec<Group>,
    by_name: HashMap<String, GroupId>,
}

impl Groups {
    pub fn find(&self, name: &str) -> Option<GroupId> {
        self.by_name.get(name).copied()
    }

    pub fn get(&self, id: GroupId) -> Option<&Group> {
        self.list.get(id as usize)
    }

    pub fn get_mut(&mut self, id: GroupId) -> Option<&mut Group> {
        self.list.get_mut(id as usize)
    }

    pub fn next_id(&self) -> GroupId {
        self.list.len() as GroupId
    }

    pub fn iter(&self) -> impl Iterator<Item = (GroupId, &Group)> {
        self.list.iter().enumerate().map(|(i, g)| (i as GroupId, g))
    }

    /// Adds an empty group under the next id; `false` (nothing changed) if the id or name does not fit.
    pub fn insert(
        &mut self,
        id: GroupId,
        name: String,
        password_hash: Option<String>,
        creator: UserId,
        created_at: i64,
    ) -> bool {
        if id != self.next_id() || self.by_name.contains_key(&name) {
            return false;
        }
        self.by_name.insert(name.clone(), id);
        self.list.push(Group {
            name,
            password_hash,
            creator,
            members: Vec::new(),
            member_pos: HashMap::new(),
            ledger: Ledger::default(),
            created_at,
        });
        true
    }
}

pub fn validate_group_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 || count > GROUP_NAME_CHARS_MAX || name.chars().any(char::is_control) {
        return Err(format!("Field 'group' must be 1-{GROUP_NAME_CHARS_MAX} printable characters"));
    }
    Ok(())
}
