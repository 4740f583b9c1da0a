//! splitd: a real-time, multi-user expense-splitting server.
//!
//! Layout (see docs/architecture.md): `net` is the mio event loop and nothing else; `proto` the wire:
//! frames into the machine's commands, its answers and events back into bytes; `machine` the pure
//! state machine; `money` and `settle` its pure leaves; `store` durability; `auth` password hashing
//! and `workers` the threads that run it (and large settlement searches) off the loop; `config` the
//! server's settings; `log` the one stderr log; `import` the one-off migration from the original
//! server's files.
//!
//! `auth` and `workers` are private: nothing outside the crate (the binary, `tests/`, `fuzz/`) uses
//! them.

mod auth;
pub mod cluster;
pub mod config;
pub mod import;
pub mod log;
pub mod machine;
pub mod money;
pub mod net;
pub mod proto;
pub mod settle;
pub mod store;
mod workers;
