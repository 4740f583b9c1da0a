//! splitd: a real-time, multi-user expense-splitting server.
//!
//! Layout (see docs/architecture.md): `net` is the mio event loop and nothing else; `proto` the wire
//! types; `json` replies and views written straight to bytes; `machine` the pure state machine;
//! `money` and `settle` its pure leaves; `store` durability; `auth` password hashing and `workers`
//! the threads that run it (and large settlement searches) off the loop; `config` the server's
//! settings; `import` the one-off migration from the original server's files.
//!
//! `auth` and `workers` are private: nothing outside the crate (the binary, `tests/`, `fuzz/`) uses
//! them.

mod auth;
pub mod config;
pub mod import;
pub mod json;
pub mod machine;
pub mod money;
pub mod net;
pub mod proto;
pub mod settle;
pub mod store;
mod workers;
