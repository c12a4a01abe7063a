//! Read receipts and delivery in the store: who shares their receipts
//! (`users.receipts`, on unless turned off) and how far each member of a
//! direct conversation has received it (`members.delivered`). Read markers
//! themselves are `members.last_read` (see `sql::set_last_read`).

use natter_shared::MessageId;
use rusqlite::{Connection, params};

use super::StoreError;
use super::sql::to_sql;

/// The accounts that turned their receipts off.
pub fn receipts_off(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM users WHERE receipts = 0")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Turns sharing a user's receipts on or off.
pub fn set_sharing(conn: &Connection, user_id: i64, share: bool) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET receipts = ?2 WHERE id = ?1",
        params![user_id, share],
    )?;
    Ok(())
}

/// Moves a member's delivery marker forward (never back).
pub fn set_delivered(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    id: MessageId,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET delivered = MAX(delivered, ?3) WHERE room_id = ?1 AND user_id = ?2",
        params![room_id, user_id, to_sql(id)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_db;
    use crate::store::sql::{insert_user, room_members, upsert_member};

    #[test]
    fn sharing_and_delivery_are_kept_and_delivery_never_moves_back() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path()).unwrap();
        let ann = insert_user(&conn, "ann", "x", false).unwrap();
        let bob = insert_user(&conn, "bob", "x", false).unwrap();
        assert!(receipts_off(&conn).unwrap().is_empty());
        set_sharing(&conn, bob, false).unwrap();
        assert_eq!(receipts_off(&conn).unwrap(), [bob]);
        set_sharing(&conn, bob, true).unwrap();
        assert!(receipts_off(&conn).unwrap().is_empty());
        upsert_member(&conn, 1, ann, natter_shared::Role::Member).unwrap();
        set_delivered(&conn, 1, ann, 7).unwrap();
        set_delivered(&conn, 1, ann, 5).unwrap();
        let m = room_members(&conn, 1).unwrap();
        let ann_row = m.iter().find(|m| m.user_id == ann).unwrap();
        assert_eq!(ann_row.delivered, 7);
    }
}
