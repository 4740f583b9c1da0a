//! Heap bytes per stored transaction, counted by a global allocator around `Machine::apply`.
//!
//! Not a network test: this binary's allocator counts every live byte (as glibc would hold it: the
//! request plus its 8-byte header, rounded up to 16, at least 32), the machine is filled with records
//! the way replay fills it, and the growth is divided by the number of transactions. The shapes are
//! the issue's: one payer and a 3-member equal split, a 6-member exact split, with 10- and 60-byte
//! descriptions. `FOOTPRINT=1 cargo test --test footprint -- --nocapture` prints the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use splitd::machine::{Machine, Record, Split, Transaction, UserId};
use splitd::money::{split_equal, Cents};

/// Counts live bytes as glibc's malloc holds them; everything else is `System`'s.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// What one allocation of `size` bytes costs in glibc's heap (64-bit): header + padding, 32 minimum.
fn chunk(size: usize) -> isize {
    ((size + 8).div_ceil(16) * 16).max(32) as isize
}

// SAFETY: every call forwards to `System` with the same layout; the counter is only arithmetic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(chunk(layout.size()), Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(chunk(layout.size()), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(chunk(new_size) - chunk(layout.size()), Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Transactions per shape and history entries in all: a power of two, so the ledger's and the
/// history's `Vec`s, which doubled, are (about) exactly full. Spare capacity of a large vector is
/// never touched and is not in RSS; counting it would mislead.
const ENTRIES: u64 = 1 << 14;

/// Users 0..members, one group (0) with all of them.
fn group_of(members: u32) -> Machine {
    let mut machine = Machine::new();
    for user in 0..members {
        let name = format!("user{user}");
        machine.apply(&Record::UserCreated { user, name, password_hash: "x".into() }).expect("user");
    }
    let created =
        Record::GroupCreated { group: 0, name: "g".into(), creator: 0, password_hash: None, at: 0, seq: None };
    machine.apply(&created).expect("group");
    for user in 1..members {
        machine.apply(&Record::MemberJoined { group: 0, user, at: 0, seq: None }).expect("join");
    }
    machine
}

/// Transaction `id` of a shape: `exact` (everyone an exact share) or the original's equal split
/// (payer included); paid by member 0.
fn transaction(id: u64, members: u32, exact: bool, description: &str) -> Transaction {
    let amount = Cents(1_000 + id as i64 % 997);
    let people: Vec<UserId> = (0..members).collect();
    let (split_between, owed, split) = if exact {
        let mut owed: Vec<(UserId, Cents)> = people.iter().map(|&u| (u, Cents(1))).collect();
        owed[0].1 = Cents(amount.0 - (members as i64 - 1));
        (people.clone(), owed, Split::Exact)
    } else {
        // The original's rule: shares in `split_between` order, then the payer (include_payer).
        let order: Vec<UserId> = people[1..].iter().copied().chain([0]).collect();
        let shares = split_equal(amount, order.len()).expect("shares");
        (people[1..].to_vec(), order.into_iter().zip(shares).collect(), Split::Equal)
    };
    Transaction {
        id,
        payer: 0,
        amount,
        description: description.to_string(),
        split_between,
        include_payer: !exact,
        paid: vec![(0, amount)],
        owed,
        created_at: 1_700_000_000_000 + id as i64,
        split,
        date: None,
        key: None,
        version: 1,
        foreign: None,
        category: None,
        rule: None,
    }
}

/// Heap bytes per transaction of one shape, applied as replay applies records.
fn bytes_per_transaction(members: u32, exact: bool, description_bytes: usize) -> f64 {
    let description = "d".repeat(description_bytes);
    let mut machine = group_of(members);
    let before = LIVE.load(Ordering::Relaxed);
    // The group's creation and each join are history entries too.
    let transactions = ENTRIES - members as u64;
    for id in 1..=transactions {
        let record =
            Record::TransactionAdded { group: 0, txn: transaction(id, members, exact, &description), seq: None };
        machine.apply(&record).expect("a balanced transaction applies");
    }
    let after = LIVE.load(Ordering::Relaxed);
    machine.check_invariants().expect("invariants");
    (after - before) as f64 / transactions as f64
}

#[test]
fn heap_bytes_per_stored_transaction() {
    let shapes = [(3, false, 10), (3, false, 60), (6, true, 10), (6, true, 60)];
    let measured: Vec<f64> = shapes.iter().map(|&(m, exact, d)| bytes_per_transaction(m, exact, d)).collect();
    if std::env::var_os("FOOTPRINT").is_some() {
        for ((members, exact, description), bytes) in shapes.iter().zip(&measured) {
            let how = if *exact { "exact" } else { "equal" };
            println!("{members}-member {how}, {description}-byte description: {bytes:.1} B per transaction");
        }
        let sizes = [
            ("Transaction", std::mem::size_of::<Transaction>()),
            ("history Entry", std::mem::size_of::<splitd::machine::history::Entry>()),
        ];
        println!("inline sizes: {sizes:?}");
    }
    // Issue 18's goals: at most 128 bytes plus the description's for a 3-member equal split, 200 for
    // a 6-member exact one with the 10-byte text (a longer text adds its bytes there too).
    // The layout before the compact ledger took 528 and 576.
    for ((members, exact, description), bytes) in shapes.iter().zip(&measured) {
        let bound = if *exact { 190.0 } else { 128.0 } + *description as f64;
        assert!(*bytes <= bound, "{members} members, exact {exact}, {description}: {bytes} B > {bound}");
    }
}
