//! `memory`: server RSS per stored transaction, for the shapes of issue 18 — one payer and a 3-member
//! equal split, a 6-member exact split, each with a 10- and a 60-byte description.
//!
//! Per shape: a fresh server (`--server-bin`, `--fsync never`, fresh directory), one group of the
//! shape's members, then `--transactions` N (default 100,000) of that shape from the first member at
//! pipeline 64. `VmRSS` is read after set-up and a warm-up of N/20 transactions (so the allocator's
//! and the log thread's buffers are there already), and again after the N: (after − before) / N.

use std::sync::Arc;
use std::time::Duration;

use vocab::Cents;

use super::{setup_groups, Ctx, Result};
use crate::load::{self, LoadConn, Spec, Stop};
use crate::proto;
use crate::report::{thousands, Report};
use crate::server;

/// One shape: members, exact split or the original's equal one, description bytes.
struct Shape {
    members: usize,
    exact: bool,
    description_bytes: usize,
}

const SHAPES: [Shape; 4] = [
    Shape { members: 3, exact: false, description_bytes: 10 },
    Shape { members: 3, exact: false, description_bytes: 60 },
    Shape { members: 6, exact: true, description_bytes: 10 },
    Shape { members: 6, exact: true, description_bytes: 60 },
];

pub fn memory(ctx: &Ctx) -> Result<Report> {
    let bin = ctx.server_bin.as_ref().ok_or("memory needs --server-bin (the harness starts the server)")?;
    let mut report = Report::new("memory");
    report.row("server", format!("{} --fsync never", bin.display()));
    report.row(
        "transactions",
        format!("{} per shape, after a warm-up of {}", thousands(ctx.transactions), thousands(ctx.transactions / 20)),
    );
    report.set("transactions", ctx.transactions);
    let mut figures = Vec::new();
    for (index, shape) in SHAPES.iter().enumerate() {
        let dir = server::fresh_dir(ctx.data_dir.as_deref(), &format!("splitbench-memory-{}-{index}", ctx.prefix))?;
        let result = one_shape(ctx, bin, &dir, shape, index);
        let _ = std::fs::remove_dir_all(&dir);
        let (bytes, rss_before, rss_after) = result?;
        let how = if shape.exact { "exact" } else { "equal" };
        report.row(
            &format!("{}-member {how}, {} B text", shape.members, shape.description_bytes),
            format!("{bytes:.0} B per transaction (VmRSS {rss_before} → {rss_after} KiB)"),
        );
        figures.push(serde_json::json!({
            "members": shape.members, "split": how, "description_bytes": shape.description_bytes,
            "bytes_per_transaction": (bytes * 10.0).round() / 10.0,
            "rss_before_kib": rss_before, "rss_after_kib": rss_after,
        }));
    }
    report.set("shapes", figures);
    report.set("errors", 0);
    Ok(report)
}

/// Fills one fresh server with one shape; `(bytes per transaction, RSS before, RSS after)`.
fn one_shape(
    ctx: &Ctx,
    bin: &std::path::Path,
    dir: &std::path::Path,
    shape: &Shape,
    index: usize,
) -> Result<(f64, u64, u64)> {
    let args: Vec<String> = ["--fsync", "never", "--hash-threads", "2"].iter().map(|s| s.to_string()).collect();
    let mut spawned = server::spawn(bin, dir, &args, Duration::from_secs(120))?;
    let prefix = format!("{}m{index}", ctx.prefix);
    let fill_ctx = Ctx { addr: spawned.addr, pid: Some(spawned.pid), prefix, ..ctx.clone_for_fill() };
    let mut pool = fill_ctx.pool()?;
    let members = setup_groups(&fill_ctx, &mut pool, shape.members, shape.members)?;
    let names: Vec<&str> = members.iter().map(|m| m.user.as_str()).collect();
    let description = "d".repeat(shape.description_bytes);
    let amount = Cents(1_000 + shape.members as i64 * 7);
    let write: Arc<[u8]> = if shape.exact {
        let mut shares: Vec<(&str, Cents)> = names.iter().map(|&n| (n, Cents(1))).collect();
        shares[0].1 = Cents(amount.0 - (shape.members as i64 - 1));
        proto::add_exact(&members[0].group, amount, &description, &shares).into()
    } else {
        proto::add_transaction(&members[0].group, amount, &description, &names[1..], true).into()
    };
    // Only the first member's connection stays: the others' would be sent a notification per
    // transaction that nobody reads, and their output buffers would be in the server's RSS.
    let mut taken: Vec<Option<crate::net::Conn>> = pool.take_conns().into_iter().map(Some).collect();
    let mut conn = taken[members[0].key].take().ok_or("no connection for the first member")?;
    drop(taken);
    drop(pool);
    let fill = |count: u64, label: &str, conn: crate::net::Conn| -> Result<crate::net::Conn> {
        let spec = Spec {
            pipeline: if ctx.pipeline > 1 { ctx.pipeline } else { 64 },
            write_percent: 100,
            stop: Stop::Requests { count, cap: Duration::from_secs(3600) },
            report_every: None,
            label: label.into(),
            quiet: ctx.quiet,
            raw: false,
        };
        let one = vec![LoadConn::new(conn, Arc::clone(&write), Arc::clone(&write), true, 1)];
        let (stats, mut back) = load::run(one, 1, &spec).map_err(|err| format!("{label}: {err}"))?;
        if stats.errors > 0 || stats.replies < count {
            return Err(format!(
                "{label}: {} of {count} acknowledged, {} errors ({:?})",
                stats.replies, stats.errors, stats.first_error
            ));
        }
        back.pop().map(|c| c.conn).ok_or_else(|| format!("{label}: lost the connection"))
    };
    conn = fill((ctx.transactions / 20).max(1), "memory warm-up", conn)?;
    let before = server::rss_kib(spawned.pid).ok_or("cannot read the server's VmRSS")?;
    let conn = fill(ctx.transactions.max(1), "memory fill", conn)?;
    let after = server::rss_kib(spawned.pid).ok_or("cannot read the server's VmRSS")?;
    drop(conn);
    spawned.terminate(Duration::from_secs(600))?;
    let bytes = (after.saturating_sub(before) * 1024) as f64 / ctx.transactions.max(1) as f64;
    Ok((bytes, before, after))
}
