//! IRC guests in the store (`[irc] guests`): an account that lives only as
//! long as its connection. A guest is a row in `users` (so rooms, members
//! and messages work as for anyone) with no password that can match, and a
//! row in `guests` with its address, which caps guests per address.
//!
//! When the guest leaves, the account is deleted and its name freed at
//! once; the messages it sent stay, renamed to [`guest_author`] (a name no
//! account can take), so whoever takes the nick next never appears to have
//! written them. A guest left over by a crash is swept the same way when
//! the server starts.

use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{self, UserRow};
use super::{Store, StoreError, now_ms};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS guests (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    addr TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS guests_addr ON guests(addr);
";

/// A guest's password hash: not an argon2 hash, so no password matches.
const NO_PASSWORD: &str = "!irc-guest";

/// What a departed guest's messages show as from: not a valid account
/// name (it has a space).
#[must_use]
pub fn guest_author(name: &str) -> String {
    format!("{name} (guest)")
}

/// Why a guest could not be made.
#[derive(Debug, PartialEq, Eq)]
pub enum GuestRefused {
    /// The name is an account's, a guest's, or kept for a deleted account.
    Taken,
    /// The address has its quota of guests already.
    TooMany,
}

/// Makes guest `name` for `addr` unless the name is taken or `addr` has
/// `per_addr` guests already, in one transaction (two connections from
/// one address cannot both slip under the cap).
fn create(
    conn: &Connection,
    name: &str,
    addr: &str,
    per_addr: u32,
) -> Result<Result<UserRow, GuestRefused>, StoreError> {
    let here: u32 = conn.query_row("SELECT COUNT(*) FROM guests WHERE addr = ?1", [addr], |r| {
        r.get(0)
    })?;
    if here >= per_addr {
        return Ok(Err(GuestRefused::TooMany));
    }
    match sql::insert_user(conn, name, NO_PASSWORD, false) {
        Ok(id) => {
            conn.execute(
                "INSERT INTO guests (user_id, addr, at) VALUES (?1, ?2, ?3)",
                params![id, addr, now_ms()],
            )?;
            let row = sql::user_by_name(conn, name)?.ok_or(StoreError::RolledBack)?;
            Ok(Ok(row))
        }
        Err(StoreError::UserExists(_) | StoreError::NameReserved(_)) => {
            Ok(Err(GuestRefused::Taken))
        }
        Err(e) => Err(e),
    }
}

/// Ends guest `user_id`: the account goes (a running server sees it
/// deleted and its name released, as for `natterd user del --release`),
/// its messages stay as [`guest_author`].
fn end(conn: &Connection, user_id: i64) -> Result<(), StoreError> {
    let name: Option<String> = conn
        .query_row(
            "SELECT u.name FROM guests g JOIN users u ON u.id = g.user_id WHERE g.user_id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(name) = name else {
        return Ok(());
    };
    sql::delete_user(conn, user_id, &name, false)?;
    sql::release_name_as(conn, &name, &guest_author(&name))?;
    Ok(())
}

/// Ends every guest (start-up: none is connected).
pub(super) fn sweep(conn: &Connection) -> Result<usize, StoreError> {
    let ids: Vec<i64> = conn
        .prepare("SELECT user_id FROM guests")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        end(conn, *id)?;
    }
    Ok(ids.len())
}

impl Store {
    /// Makes a guest account; see [`GuestRefused`] for the refusals.
    pub async fn create_guest(
        &self,
        name: &str,
        addr: String,
        per_addr: u32,
    ) -> Result<Result<UserRow, GuestRefused>, StoreError> {
        let name = name.to_owned();
        self.write(move |c| create(c, &name, &addr, per_addr)).await
    }

    /// Ends a guest whose connection closed.
    pub async fn end_guest(&self, user_id: i64) -> Result<(), StoreError> {
        self.write(move |c| end(c, user_id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_are_capped_per_address_and_leave_their_messages_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::super::open_db(dir.path()).unwrap();
        let a = create(&conn, "bob", "10.0.0.1", 2).unwrap().unwrap();
        create(&conn, "eve", "10.0.0.1", 2).unwrap().unwrap();
        assert_eq!(
            create(&conn, "mallory", "10.0.0.1", 2).unwrap().err(),
            Some(GuestRefused::TooMany)
        );
        assert_eq!(
            create(&conn, "bob", "10.0.0.2", 2).unwrap().err(),
            Some(GuestRefused::Taken)
        );
        let general: i64 = conn
            .query_row("SELECT id FROM rooms WHERE name = 'general'", [], |r| {
                r.get(0)
            })
            .unwrap();
        conn.execute(
            "INSERT INTO messages (room_id, author, ts, body) VALUES (?1, 'bob', 1, 'hi')",
            [general],
        )
        .unwrap();
        end(&conn, a.id).unwrap();
        let author: String = conn
            .query_row("SELECT author FROM messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(author, "bob (guest)");
        // The nick is free again, and the address has room for one more.
        create(&conn, "bob", "10.0.0.1", 2).unwrap().unwrap();
        assert_eq!(sweep(&conn).unwrap(), 2);
        assert!(sql::user_by_name(&conn, "bob").unwrap().is_none());
        assert!(sql::user_by_name(&conn, "eve").unwrap().is_none());
    }
}
