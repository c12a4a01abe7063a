//! Profiles, durably: each account's display name. The SQL is here, since
//! nothing else touches the column; changes reach it in order with
//! messages, as a [`super::StoreChange::Profile`] on the commit path.

use rusqlite::{Connection, params};

use super::StoreError;

/// An account with a display name, as start-up loads it.
#[derive(Debug, Clone)]
pub struct ProfileRow {
    pub user: i64,
    pub name: String,
    pub admin: bool,
    pub display_name: String,
}

/// Every account that has a display name.
pub fn all_profiles(conn: &Connection) -> Result<Vec<ProfileRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, name, admin, display_name FROM users WHERE display_name IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ProfileRow {
            user: r.get(0)?,
            name: r.get(1)?,
            admin: r.get(2)?,
            display_name: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Sets (or, with `None`, clears) `user`'s display name.
pub fn set_display_name(
    conn: &Connection,
    user: i64,
    display_name: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET display_name = ?1 WHERE id = ?2",
        params![display_name, user],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_display_name_is_stored_cleared_and_migrated_into_an_old_file() {
        let dir = tempfile::tempdir().unwrap();
        // A users table as natterd made it before display names.
        {
            let conn = Connection::open(dir.path().join(super::super::DB_FILE)).unwrap();
            conn.execute_batch(
                "CREATE TABLE users (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL UNIQUE,
                    pw_hash TEXT NOT NULL,
                    admin INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL
                 );
                 INSERT INTO users (name, pw_hash, created_at) VALUES ('alice', 'x', 0);",
            )
            .unwrap();
        }
        let conn = super::super::open_db(dir.path()).unwrap();
        assert!(all_profiles(&conn).unwrap().is_empty());
        let alice: i64 = conn
            .query_row("SELECT id FROM users WHERE name = 'alice'", [], |r| {
                r.get(0)
            })
            .unwrap();
        set_display_name(&conn, alice, Some("Alice Liddell")).unwrap();
        let rows = all_profiles(&conn).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].name.as_str(), rows[0].display_name.as_str()),
            ("alice", "Alice Liddell")
        );
        set_display_name(&conn, alice, None).unwrap();
        assert!(all_profiles(&conn).unwrap().is_empty());
    }
}
