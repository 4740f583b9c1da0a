//! splitd: a real-time, multi-user expense-splitting server.
//!
//! Layout (see DESIGN.md): `net` is the mio event loop and nothing else; `proto` the wire types;
//! `machine` the pure state machine; `money` and `settle` its pure leaves; `store` durability;
//! `auth` password hashing off the loop.

pub mod auth;
pub mod config;
pub mod import;
pub mod json;
pub mod machine;
pub mod money;
pub mod net;
pub mod proto;
pub mod settle;
pub mod store;
pub mod workers;
