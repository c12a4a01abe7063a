//! Operator commands working directly on the data dir: accounts and rooms.
//!
//! They open the same SQLite file as a running server (WAL lets both
//! write). A running server picks up an account's new rooms at that user's
//! next login.

use std::path::Path;

use natter_shared::names::{Target, normalize_user};
use natter_shared::{Role, RoomKind};

use crate::auth;
use crate::store::{self, StoreError, open_db};

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

/// Creates an account; it is a member of `#general`.
pub fn add_user(
    data_dir: &Path,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<(), StoreError> {
    let name = normalize_user(name).map_err(|e| invalid(e.to_string()))?;
    auth::check_password_rules(password).map_err(invalid)?;
    let hash = auth::hash_password(password).map_err(invalid)?;
    let conn = open_db(data_dir)?;
    store::insert_user(&conn, &name, &hash, admin)?;
    Ok(())
}

/// Changes a password and revokes the account's session tokens.
pub fn set_password(data_dir: &Path, name: &str, password: &str) -> Result<(), StoreError> {
    let name = normalize_user(name).map_err(|e| invalid(e.to_string()))?;
    auth::check_password_rules(password).map_err(invalid)?;
    let conn = open_db(data_dir)?;
    let user = store::user_by_name(&conn, &name)?
        .ok_or_else(|| invalid(format!("no such user: {name}")))?;
    let hash = auth::hash_password(password).map_err(invalid)?;
    store::set_password(&conn, user.id, &hash)
}

/// Deletes an account (its messages stay in history).
pub fn delete_user(data_dir: &Path, name: &str) -> Result<(), StoreError> {
    let name = normalize_user(name).map_err(|e| invalid(e.to_string()))?;
    let conn = open_db(data_dir)?;
    let user = store::user_by_name(&conn, &name)?
        .ok_or_else(|| invalid(format!("no such user: {name}")))?;
    store::delete_user(&conn, user.id)
}

/// Every account: (name, admin).
pub fn list_users(data_dir: &Path) -> Result<Vec<(String, bool)>, StoreError> {
    let conn = open_db(data_dir)?;
    Ok(store::all_users(&conn)?
        .into_iter()
        .map(|u| (u.name, u.admin))
        .collect())
}

fn room_name(name: &str) -> Result<String, StoreError> {
    match Target::parse(name) {
        Ok(Target::Room(r)) => Ok(r),
        Ok(Target::Direct(_)) => Err(invalid("room names start with #, not @")),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// Creates a room, optionally with an owner.
pub fn add_room(
    data_dir: &Path,
    name: &str,
    private: bool,
    owner: Option<&str>,
) -> Result<(), StoreError> {
    let name = room_name(name)?;
    let conn = open_db(data_dir)?;
    let owner = match owner {
        Some(o) => {
            let o = normalize_user(o).map_err(|e| invalid(e.to_string()))?;
            Some(
                store::user_by_name(&conn, &o)?
                    .ok_or_else(|| invalid(format!("no such user: {o}")))?,
            )
        }
        None => None,
    };
    let kind = if private {
        RoomKind::Private
    } else {
        RoomKind::Public
    };
    let id = store::insert_room(&conn, &name, kind)?;
    if let Some(owner) = owner {
        store::upsert_member(&conn, id, owner.id, Role::Owner)?;
    }
    Ok(())
}

/// A room as listed by `natterd room list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub name: String,
    pub kind: RoomKind,
    pub members: usize,
    pub topic: String,
}

/// Every room except direct conversations.
pub fn list_rooms(data_dir: &Path) -> Result<Vec<RoomSummary>, StoreError> {
    let conn = open_db(data_dir)?;
    let mut out = Vec::new();
    for r in store::all_rooms(&conn)? {
        if r.kind == RoomKind::Direct {
            continue;
        }
        out.push(RoomSummary {
            members: store::room_members(&conn, r.id)?.len(),
            name: format!("#{}", r.name),
            kind: r.kind,
            topic: r.topic,
        });
    }
    Ok(out)
}

/// Adds a user to a room.
pub fn invite(data_dir: &Path, room: &str, user: &str) -> Result<(), StoreError> {
    let name = room_name(room)?;
    let user = normalize_user(user).map_err(|e| invalid(e.to_string()))?;
    let conn = open_db(data_dir)?;
    let room = store::room_by_name(&conn, &name)?
        .ok_or_else(|| invalid(format!("no such room: #{name}")))?;
    let user = store::user_by_name(&conn, &user)?
        .ok_or_else(|| invalid(format!("no such user: {user}")))?;
    store::set_ban(&conn, room.id, user.id, false)?;
    if store::room_members(&conn, room.id)?
        .iter()
        .any(|m| m.user_id == user.id)
    {
        return Ok(());
    }
    store::upsert_member(&conn, room.id, user.id, Role::Member)
}
