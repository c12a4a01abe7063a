//! A bench data dir for natterd: users `u0..uN` with a session token each
//! (and, for S7, the first few with a password),
//! derived from the name, so every connection logs in by token (a SHA-256
//! and one lookup) instead of an argon2 hash; the rooms the scenarios use;
//! and a config with the connection and rate limits lifted.
//!
//! Rooms: `#bench` holds the first [`BENCH_MEMBERS`] users (S1, S3, S5);
//! `#g0`, `#g1`, ... hold [`GROUP`] consecutive users each (S2, S4); bench
//! users are taken out of `#general`, which every account starts in. IRC
//! servers need no provisioning: members join as they connect.

use std::path::Path;

use natter_server::store;
use sha2::{Digest, Sha256};

use crate::rooms::RoomPlan;

/// Members of `#bench`.
pub const BENCH_MEMBERS: usize = 1000;
/// Members of each `#gN` room.
pub const GROUP: usize = 100;

/// The token of bench user `name`. Only for bench data dirs: anyone who
/// knows the scheme can log in as these users.
#[must_use]
pub fn token(name: &str) -> String {
    hex::encode(Sha256::digest(format!("natter-load:{name}").as_bytes()))
}

/// Bench user `i`'s name.
#[must_use]
pub fn user(i: usize) -> String {
    format!("u{i}")
}

/// `#bench` with its first `members` users.
#[must_use]
pub fn bench_room(members: usize) -> RoomPlan {
    RoomPlan {
        name: "#bench".into(),
        users: (0..members).collect(),
    }
}

/// Rooms `#g0..` with the first `members` users of each group.
#[must_use]
pub fn group_rooms(rooms: usize, members: usize) -> Vec<RoomPlan> {
    (0..rooms)
        .map(|r| RoomPlan {
            name: format!("#g{r}"),
            users: (r * GROUP..r * GROUP + members.min(GROUP)).collect(),
        })
        .collect()
}

/// The config natterd should run with for a bench.
pub const CONFIG: &str = "\
# Written by natter-load provision: limits lifted for load tests.
[limits]
max_connections = 100000
max_connections_per_ip = 100000
requests_per_sec = 1000000000.0
request_burst = 1000000000.0
account_requests_per_sec = 1000000000.0
account_request_burst = 1000000000.0
directs_per_user_per_hour = 1000000
outbound_queue_bytes = 67108864
heartbeat_ms = 3600000
login_timeout_ms = 600000
handshake_timeout_ms = 600000
rooms_per_user_per_hour = 1000000
invites_per_user_per_minute = 1000000
searches_per_sec = 1000000000.0
search_burst = 1000000000.0
reactions_per_user_per_minute = 1000000000
# S7's flood logs in from two addresses as fast as it can; successes are
# never failures, but a mistyped bench run should not be throttled either.
login_failures_per_ip = 1000000
login_failures_per_account = 1000000

[files]
# S11 and the file benchmark move files of a GiB and more, again and again.
max_file_bytes = 8589934592
user_quota_bytes = 0
uploads_per_minute = 0
";

/// Creates (or tops up) the bench data dir with `users` users and their
/// rooms, and writes `bench.toml` beside the database.
///
/// The first `passwords` users get the password
/// [`crate::logins::PASSWORD`] (S7 logs in by password); one argon2 hash,
/// shared, since these are bench accounts.
pub fn provision(data_dir: &Path, users: usize, passwords: usize) -> anyhow::Result<()> {
    let mut conn = store::open_db(data_dir)?;
    let tx = conn.transaction()?;
    let room_id = |name: &str| -> anyhow::Result<i64> {
        Ok(match store::room_by_name(&tx, name)? {
            Some(r) => r.id,
            None => store::insert_room(&tx, name, natter_shared::RoomKind::Public)?,
        })
    };
    let bench = room_id("bench")?;
    let general = room_id(store::GENERAL)?;
    let groups: Vec<i64> = (0..users.div_ceil(GROUP))
        .map(|g| room_id(&format!("g{g}")))
        .collect::<anyhow::Result<_>>()?;
    // Any string that is not a valid argon2 hash: password logins fail.
    let no_password = "!bench-token-only";
    for i in 0..users {
        let name = user(i);
        if store::user_by_name(&tx, &name)?.is_some() {
            continue;
        }
        let id = store::insert_user(&tx, &name, no_password, false)?;
        // Every account starts in #general; bench users are only in the
        // rooms the scenarios define (as on IRC, where they join just
        // those). Ten thousand users in one room would turn every login
        // into a presence broadcast to everyone.
        store::delete_member(&tx, general, id)?;
        store::insert_token(&tx, id, &natter_server::auth::hash_token(&token(&name)))?;
        if i < BENCH_MEMBERS {
            store::upsert_member(&tx, bench, id, natter_shared::Role::Member)?;
        }
        store::upsert_member(&tx, groups[i / GROUP], id, natter_shared::Role::Member)?;
    }
    if passwords > 0 {
        let hash = natter_server::auth::hash_password(crate::logins::PASSWORD)
            .map_err(|e| anyhow::anyhow!(e))?;
        for i in 0..passwords.min(users) {
            tx.execute(
                "UPDATE users SET pw_hash = ?1 WHERE name = ?2",
                [&hash, &user(i)],
            )?;
        }
    }
    tx.commit()?;
    std::fs::write(data_dir.join("bench.toml"), CONFIG)?;
    Ok(())
}

/// An ngircd configuration for running the same scenarios against it:
/// listening on 127.0.0.1 only, connection and join limits lifted, no DNS
/// or ident lookups, pings far apart, and one operator whose sessions set
/// `+F` so senders are not throttled.
#[must_use]
pub fn ngircd_config(port: u16, oper_name: &str, oper_password: &str) -> String {
    format!(
        "\
# Written by natter-load ngircd-config: for load comparisons on loopback.
[Global]
Name = irc.bench
Info = natter-load comparison
Listen = 127.0.0.1
Ports = {port}
MotdPhrase = bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 16
PingTimeout = 3600
PongTimeout = 3600
[Options]
DNS = no
Ident = no
PAM = no
[Operator]
Name = {oper_name}
Password = {oper_password}
"
    )
}
