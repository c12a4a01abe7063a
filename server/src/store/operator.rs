//! The operator's store: what the admin CLI (`natterd user ...`, `natterd
//! room ...`, `audit`, `backup`) does to the database, as named operations
//! on the file itself, also while a server runs. Each change is one
//! transaction that takes the write lock first (a read-then-write
//! transaction would fail at once beside a busy server), writes the audit
//! entry with it, and records an `account_events` row that a running
//! server follows.

use std::path::Path;

use natter_shared::{Role, RoomKind};
use rusqlite::{Connection, TransactionBehavior};

use super::sql::{self, AccountEventKind, AuditEntry, RoomRow, UserRow};
use super::{StoreError, now_ms, open_db};

/// The database, opened for an operator.
pub struct OperatorStore {
    pub(in crate::store) conn: Connection,
    /// Who the audit log names: `operator:<login>`.
    actor: String,
}

impl std::fmt::Debug for OperatorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorStore")
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

/// A room as the operator lists it.
#[derive(Debug, Clone)]
pub struct RoomWithMembers {
    pub row: RoomRow,
    pub members: usize,
}

impl OperatorStore {
    /// Opens (creating if needed) the database in `data_dir`.
    pub fn open(data_dir: &Path, actor: String) -> Result<Self, StoreError> {
        Ok(Self {
            conn: open_db(data_dir)?,
            actor,
        })
    }

    /// Runs `f` in one immediate transaction with the audit entry
    /// `action target room detail`.
    pub(in crate::store) fn audited<T>(
        &mut self,
        action: &str,
        target: &str,
        room: &str,
        detail: &str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        sql::insert_audit(
            &tx,
            &AuditEntry {
                at: now_ms(),
                actor: self.actor.clone(),
                action: action.into(),
                target: target.into(),
                room: room.into(),
                detail: detail.into(),
            },
        )?;
        tx.commit()?;
        Ok(out)
    }

    /// A user by (normalised) name.
    pub fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        sql::user_by_name(&self.conn, name)
    }

    /// A room by its stored name (without `#`).
    pub fn room(&self, name: &str) -> Result<Option<RoomRow>, StoreError> {
        sql::room_by_name(&self.conn, name)
    }

    /// Creates an account, which appears in `#general` on a running server.
    pub fn add_user(&mut self, name: &str, pw_hash: &str, admin: bool) -> Result<(), StoreError> {
        let detail = if admin { "admin" } else { "" };
        self.audited("user.add", name, "", detail, |c| {
            let id = sql::insert_user(c, name, pw_hash, admin)?;
            sql::insert_account_event(c, id, AccountEventKind::UserAdded, None, None)
        })
    }

    /// Replaces a password; the account's tokens and sessions end.
    pub fn set_password(&mut self, user: &UserRow, pw_hash: &str) -> Result<(), StoreError> {
        self.audited("user.password", &user.name, "", "", |c| {
            sql::set_password(c, user.id, pw_hash, None)
        })
    }

    /// Deletes an account (its messages stay); its sessions end. Its name
    /// stays reserved unless `release`.
    pub fn delete_user(&mut self, user: &UserRow, release: bool) -> Result<(), StoreError> {
        let detail = if release { "name released" } else { "" };
        self.audited("user.delete", &user.name, "", detail, |c| {
            sql::delete_user(c, user.id, &user.name, release)
        })
    }

    /// Frees a deleted account's name; `Ok(false)` when it was not kept.
    pub fn release_name(&mut self, name: &str) -> Result<bool, StoreError> {
        self.audited("user.release", name, "", "", |c| sql::release_name(c, name))
    }

    /// Suspends an account or lifts the suspension.
    pub fn set_suspended(
        &mut self,
        user: &UserRow,
        suspended: bool,
        reason: &str,
    ) -> Result<(), StoreError> {
        let action = if suspended {
            "user.suspend"
        } else {
            "user.unsuspend"
        };
        self.audited(action, &user.name, "", reason, |c| {
            sql::set_suspended(c, user.id, suspended)
        })
    }

    /// Every account, by name.
    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        sql::all_users(&self.conn)
    }

    /// The newest `last` audit entries, oldest first.
    pub fn audit_log(&self, last: u32) -> Result<Vec<AuditEntry>, StoreError> {
        sql::recent_audit(&self.conn, last)
    }

    /// Every stored blob's hash.
    pub fn blob_hashes(&self) -> Result<Vec<String>, StoreError> {
        super::files::blob_hashes(&self.conn)
    }

    /// Writes a consistent copy of the database to `dest`.
    pub fn backup(&self, dest: &Path) -> Result<(), StoreError> {
        sql::backup(&self.conn, dest)
    }

    /// Creates a room, with its owner if any; a running server makes it
    /// joinable at once.
    pub fn add_room(
        &mut self,
        name: &str,
        kind: RoomKind,
        owner: Option<&UserRow>,
    ) -> Result<(), StoreError> {
        let detail = if kind == RoomKind::Private {
            "private"
        } else {
            "public"
        };
        let target = owner.map(|o| o.name.clone()).unwrap_or_default();
        self.audited("room.add", &target, &format!("#{name}"), detail, |c| {
            let id = sql::insert_room(c, name, kind)?;
            if let Some(owner) = owner {
                sql::upsert_member(c, id, owner.id, Role::Owner)?;
            }
            let owner = owner.map_or(0, |o| o.id);
            sql::insert_account_event(c, owner, AccountEventKind::RoomAdded, None, Some(id))
        })
    }

    /// Sets a room's modes (`None`: unchanged; a category of `Some(None)`
    /// clears it); a running server applies them and tells the members.
    pub fn set_mode(
        &mut self,
        room: &RoomRow,
        announce: Option<bool>,
        category: Option<Option<String>>,
    ) -> Result<(), StoreError> {
        let announce = announce.unwrap_or(room.announce);
        let category = category.unwrap_or_else(|| room.category.clone());
        let detail = format!(
            "{}announce{}",
            if announce { "+" } else { "-" },
            category
                .as_deref()
                .map(|c| format!(" category={c}"))
                .unwrap_or_default()
        );
        self.audited("room.mode", "", &format!("#{}", room.name), &detail, |c| {
            sql::set_mode(c, room.id, announce, category.as_deref())?;
            sql::insert_account_event(c, 0, AccountEventKind::RoomChanged, None, Some(room.id))
        })
    }

    /// Every room with its member count.
    pub fn rooms(&self) -> Result<Vec<RoomWithMembers>, StoreError> {
        sql::all_rooms(&self.conn)?
            .into_iter()
            .map(|row| {
                Ok(RoomWithMembers {
                    members: sql::room_members(&self.conn, row.id)?.len(),
                    row,
                })
            })
            .collect()
    }

    /// Adds `user` to `room` (lifting a ban); a running server shows them
    /// the room at once.
    pub fn invite(&mut self, room: &RoomRow, user: &UserRow) -> Result<(), StoreError> {
        self.audited("invite", &user.name, &format!("#{}", room.name), "", |c| {
            sql::set_ban(c, room.id, user.id, false)?;
            if sql::room_members(c, room.id)?
                .iter()
                .any(|m| m.user_id == user.id)
            {
                return Ok(());
            }
            sql::upsert_member(c, room.id, user.id, Role::Member)?;
            sql::insert_account_event(
                c,
                user.id,
                AccountEventKind::MemberAdded,
                None,
                Some(room.id),
            )
        })
    }
}
