//! One file per action family, as mini-redis has `cmd/get.rs`: each holds the validation and the
//! execution of its commands and the `apply` of the records they produce (`sessions`: tokens, logout). A new action goes into
//! the family it belongs to, plus one arm in `Machine::execute_as`.

mod account;
mod categories;
mod currency;
mod expenses;
mod membership;
mod payments;
mod reads;
mod recurring;
mod resolve;
mod restore;
mod sessions;
mod settle;
