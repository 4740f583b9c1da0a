//! Cluster mode: three (or more) splitd nodes replicating one log with raft-rs (tikv/raft-rs, the
//! Raft core inside TiKV), so no acknowledged change is lost when one machine dies.
//!
//! raft-rs is synchronous and I/O-free, like the machine: `replica` drives it (tick, step,
//! propose, ready → persist → send → apply) and keeps the machine equal to the committed prefix of
//! the log; `log_store` is the raft log raft-rs reads; `durable` and `snapshot` are its files
//! (`raft.log`, compacted behind `raft.snap`); `chunks` carries a snapshot to a follower across
//! many peer frames. The simulation (`sim`, tests only) runs
//! three replicas over a faulty simulated network, driven by a seed.

pub mod admin;
pub mod chunks;
pub mod durable;
pub mod identity;
pub mod log_store;
pub mod membership;
pub mod node;
pub mod replica;
pub mod snapshot;
pub mod taking;
pub mod transport;

#[cfg(test)]
mod sim;

/// raft-rs logs through `slog`; its messages (elections, rejections) are not the operator's
/// concern, so they are discarded.
pub fn discard_logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}
