//! What users do to keep themselves safe, durably: who blocks whom, the
//! invitations waiting for consent and each user's invitation policy, and
//! reports of messages for the admins and moderators. The SQL and the named
//! operations are both here, since nothing else touches these tables.

use natter_shared::{Invitation, InvitePolicy, MessageId, Report};
use rusqlite::{Connection, OptionalExtension, params};

use super::now_ms;
use super::sql::{AuditEntry, insert_audit, to_sql};
use super::{OperatorStore, Store, StoreError};

/// The most invitations that wait for one user; older ones are dropped, so
/// that nobody can bury a user's login reply under invitations.
pub const MAX_PENDING: i64 = 50;

/// The wire name of a policy, as stored.
fn policy_str(policy: InvitePolicy) -> &'static str {
    match policy {
        InvitePolicy::Anyone => "anyone",
        InvitePolicy::Shared => "shared",
        InvitePolicy::Nobody | InvitePolicy::Unknown => "nobody",
    }
}

fn parse_policy(s: &str) -> InvitePolicy {
    match s {
        "anyone" => InvitePolicy::Anyone,
        "shared" => InvitePolicy::Shared,
        _ => InvitePolicy::Nobody,
    }
}

/// One block as start-up loads it: who blocks whom, and the blocked
/// account as the hub must know it (to leave its messages out of unread
/// counts in rooms loaded before it appears).
#[derive(Debug, Clone)]
pub struct BlockRow {
    pub user: i64,
    pub blocked: i64,
    pub blocked_name: String,
    pub blocked_admin: bool,
}

/// Every block: the hub holds them all, so that a message to someone
/// offline is refused as well.
pub fn all_blocks(conn: &Connection) -> Result<Vec<BlockRow>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT b.user_id, b.blocked_id, u.name, u.admin
         FROM blocks b JOIN users u ON u.id = b.blocked_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(BlockRow {
            user: r.get(0)?,
            blocked: r.get(1)?,
            blocked_name: r.get(2)?,
            blocked_admin: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A report as stored, with its state, for `natterd reports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub report: Report,
    /// When an operator closed it; open when `None`.
    pub closed_at: Option<i64>,
}

fn report_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRow> {
    Ok(ReportRow {
        report: Report {
            id: r.get::<_, i64>(0)?.try_into().unwrap_or_default(),
            at: r.get(1)?,
            by: r.get(2)?,
            room: r.get(3)?,
            message: r.get::<_, i64>(4)?.try_into().unwrap_or_default(),
            author: r.get(5)?,
            excerpt: r.get(6)?,
            reason: r.get(7)?,
        },
        closed_at: r.get(8)?,
    })
}

impl Store {
    /// The names of the users `user` blocks, by name.
    pub async fn blocked_names(&self, user: i64) -> Result<Vec<String>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT u.name FROM blocks b JOIN users u ON u.id = b.blocked_id
                 WHERE b.user_id = ?1 ORDER BY u.name",
            )?;
            let rows = stmt.query_map([user], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Makes `user` block `other`, or stop blocking them. Idempotent.
    pub async fn set_block(&self, user: i64, other: i64, on: bool) -> Result<(), StoreError> {
        self.write(move |c| {
            if on {
                c.execute(
                    "INSERT OR IGNORE INTO blocks (user_id, blocked_id, at) VALUES (?1, ?2, ?3)",
                    params![user, other, now_ms()],
                )?;
                // Their invitations waiting for `user` go too.
                c.execute(
                    "DELETE FROM invitations WHERE user_id = ?1
                     AND inviter = (SELECT name FROM users WHERE id = ?2)",
                    params![user, other],
                )?;
            } else {
                c.execute(
                    "DELETE FROM blocks WHERE user_id = ?1 AND blocked_id = ?2",
                    params![user, other],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// Who may add `user` to rooms without asking.
    pub async fn invite_policy(&self, user: i64) -> Result<InvitePolicy, StoreError> {
        self.read(move |c| {
            let s: Option<String> = c
                .query_row("SELECT invites FROM users WHERE id = ?1", [user], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(s.map_or(InvitePolicy::Nobody, |s| parse_policy(&s)))
        })
        .await
    }

    /// Sets `user`'s invitation policy.
    pub async fn set_invite_policy(
        &self,
        user: i64,
        policy: InvitePolicy,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "UPDATE users SET invites = ?1 WHERE id = ?2",
                params![policy_str(policy), user],
            )?;
            Ok(())
        })
        .await
    }

    /// Records an invitation waiting for `user`'s answer; `Ok(false)` when
    /// one to that room was already waiting (it stays as it was).
    pub async fn add_invitation(
        &self,
        room: i64,
        user: i64,
        inviter: &str,
    ) -> Result<bool, StoreError> {
        let inviter = inviter.to_owned();
        self.write(move |c| {
            let new = c.execute(
                "INSERT OR IGNORE INTO invitations (room_id, user_id, inviter, at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![room, user, inviter, now_ms()],
            )? == 1;
            // At most MAX_PENDING wait for one user: the oldest go first.
            c.execute(
                "DELETE FROM invitations WHERE user_id = ?1 AND room_id NOT IN
                 (SELECT room_id FROM invitations WHERE user_id = ?1
                  ORDER BY at DESC, room_id DESC LIMIT ?2)",
                params![user, MAX_PENDING],
            )?;
            Ok(new)
        })
        .await
    }

    /// `user`'s invitation to the room named `name` (normalised, without
    /// `#`), as the room's id and the inviter, if one waits. A read, the
    /// same whether the room exists or not.
    pub async fn invitation_named(
        &self,
        user: i64,
        name: &str,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT i.room_id, i.inviter FROM invitations i JOIN rooms r ON r.id = i.room_id
                 WHERE i.user_id = ?1 AND r.name = ?2",
                params![user, name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }

    /// Removes `user`'s invitation to `room` and says who sent it; `None`
    /// when there was none.
    pub async fn take_invitation(
        &self,
        room: i64,
        user: i64,
    ) -> Result<Option<String>, StoreError> {
        self.write(move |c| {
            Ok(c.query_row(
                "DELETE FROM invitations WHERE room_id = ?1 AND user_id = ?2 RETURNING inviter",
                params![room, user],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    /// `user`'s pending invitations, oldest first.
    pub async fn invitations(&self, user: i64) -> Result<Vec<Invitation>, StoreError> {
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT r.name, i.inviter, i.at FROM invitations i JOIN rooms r ON r.id = i.room_id
                 WHERE i.user_id = ?1 ORDER BY i.at, r.name",
            )?;
            let rows = stmt.query_map([user], |r| {
                Ok(Invitation {
                    room: format!("#{}", r.get::<_, String>(0)?),
                    by: r.get(1)?,
                    at: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Stores a report, with its audit entry, and returns it numbered.
    pub async fn add_report(&self, mut report: Report) -> Result<Report, StoreError> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO reports (at, reporter, room, message_id, author, excerpt, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    report.at,
                    report.by,
                    report.room,
                    to_sql(report.message),
                    report.author,
                    report.excerpt,
                    report.reason
                ],
            )?;
            report.id = c.last_insert_rowid().try_into().unwrap_or_default();
            insert_audit(
                c,
                &AuditEntry {
                    at: report.at,
                    actor: report.by.clone(),
                    action: "report".into(),
                    target: report.author.clone(),
                    room: report.room.clone(),
                    detail: format!(
                        "#{} message {}: {}",
                        report.id, report.message, report.reason
                    ),
                },
            )?;
            Ok(report)
        })
        .await
    }

    /// A message of `room` by id, as (author, body), if it is there.
    pub async fn message_in(
        &self,
        room: i64,
        id: MessageId,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT author, body FROM messages WHERE id = ?1 AND room_id = ?2",
                params![to_sql(id), room],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
        })
        .await
    }
}

impl OperatorStore {
    /// Reports, oldest first: only open ones unless `all`.
    pub fn reports(&self, all: bool) -> Result<Vec<ReportRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, at, reporter, room, message_id, author, excerpt, reason, closed_at
             FROM reports WHERE ?1 OR closed_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([all], report_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Closes an open report; `Ok(false)` when there is no such open one.
    pub fn close_report(&mut self, id: u64) -> Result<bool, StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        self.audited("report.close", "", "", &format!("#{id}"), |c| {
            Ok(c.execute(
                "UPDATE reports SET closed_at = ?1 WHERE id = ?2 AND closed_at IS NULL",
                params![now_ms(), id],
            )? == 1)
        })
    }
}
