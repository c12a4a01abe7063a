//! Operator commands working directly on the data dir: accounts, rooms,
//! the audit log and backups.
//!
//! They open the same database as a running server (WAL lets both write)
//! and record each change in `account_events`, which a running server
//! polls: within a fraction of a second it ends the sessions of an account
//! whose password changed, or that was deleted or suspended, makes a new
//! room joinable, shows an invited user the room, and adds a new account
//! to everyone's member lists. Every change is written to the audit log in
//! the same transaction, as `operator:<login>`.

use std::path::Path;

use natter_shared::RoomKind;
use natter_shared::names::{Target, normalize_user};

use crate::auth;
use crate::store::{self, OperatorStore, StoreError};

/// Why an operator command was refused. Each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A user or room name that is not valid.
    #[error("{0}")]
    BadName(String),
    /// A password the rules refuse.
    #[error("{0}")]
    BadPassword(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("no such user: {0}")]
    NoSuchUser(String),
    #[error("no such room: #{0}")]
    NoSuchRoom(String),
    #[error("the name {0} is not kept for a deleted account")]
    NotReserved(String),
    #[error("{0} is a person's account, not a bot; choose another --name")]
    NotABot(String),
    #[error("{0:?} is not an http:// or https:// URL with a host")]
    BadUrl(String),
    #[error("no API token {0} (see `natterd token list`)")]
    NoSuchToken(i64),
    #[error("no webhook {0} (see `natterd hook list`)")]
    NoSuchHook(i64),
    #[error("no open report #{0}")]
    NoSuchReport(u64),
    #[error("{} already exists; choose a new directory", .0.display())]
    BackupExists(std::path::PathBuf),
    #[error("cannot write the backup: {0}")]
    BackupIo(#[from] std::io::Error),
    /// Blobs the copied database names went while the backup ran (their
    /// messages were deleted meanwhile): run it again.
    #[error("{0} files went while the backup ran; run it again")]
    BackupRaced(usize),
    #[error("no database at {}", .0.display())]
    NoDatabase(std::path::PathBuf),
}

fn user_name(name: &str) -> Result<String, AdminError> {
    normalize_user(name).map_err(|e| AdminError::BadName(e.to_string()))
}

fn hash(password: &str, min_len: usize) -> Result<String, AdminError> {
    auth::check_password_rules(password, min_len).map_err(AdminError::BadPassword)?;
    auth::hash_password(password).map_err(AdminError::Hash)
}

/// Who the audit log names for a CLI change: the operator's login.
fn operator() -> String {
    let login = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|l| !l.is_empty())
        .or_else(|| {
            // No login in the environment (a service, cron): the uid.
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            Some(format!("uid {}", uid.split_whitespace().next()?))
        })
        .unwrap_or_else(|| "unknown".into());
    format!("operator:{login}")
}

fn open(data_dir: &Path) -> Result<OperatorStore, AdminError> {
    Ok(OperatorStore::open(data_dir, operator())?)
}

fn existing_user(db: &OperatorStore, name: &str) -> Result<store::UserRow, AdminError> {
    let name = user_name(name)?;
    db.user(&name)?.ok_or(AdminError::NoSuchUser(name))
}

/// Creates an account; it is a member of `#general`. The password has at
/// least the default `limits.min_password_len`; see [`add_user_min`].
pub fn add_user(
    data_dir: &Path,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<(), AdminError> {
    let min = crate::config::LimitsConfig::default().min_password_len;
    add_user_min(data_dir, name, password, admin, min)
}

/// Creates an account whose password has at least `min_password_len`
/// characters (`natterd user add` passes the configured one).
pub fn add_user_min(
    data_dir: &Path,
    name: &str,
    password: &str,
    admin: bool,
    min_password_len: usize,
) -> Result<(), AdminError> {
    let name = natter_shared::names::new_account_name(name)
        .map_err(|e| AdminError::BadName(e.to_string()))?;
    let hash = hash(password, min_password_len)?;
    Ok(open(data_dir)?.add_user(&name, &hash, admin)?)
}

fn existing_room(db: &OperatorStore, room: &str) -> Result<store::RoomRow, AdminError> {
    let name = room_name(room)?;
    db.room(&name)?.ok_or(AdminError::NoSuchRoom(name))
}

/// Creates a bot account: no password logs in as it.
pub fn add_bot(data_dir: &Path, name: &str) -> Result<(), AdminError> {
    let name = natter_shared::names::new_account_name(name)
        .map_err(|e| AdminError::BadName(e.to_string()))?;
    let mut db = open(data_dir)?;
    match db.ensure_bot(&name)? {
        (_, true) => Ok(()),
        (_, false) => Err(StoreError::UserExists(name).into()),
    }
}

/// The names of the bot accounts.
pub fn bots(data_dir: &Path) -> Result<Vec<String>, AdminError> {
    Ok(open(data_dir)?.bots()?)
}

/// The bot a hook posts as: `name`'s account, created as a bot when
/// missing; a person's account is refused.
fn hook_bot(db: &mut OperatorStore, name: &str) -> Result<store::UserRow, AdminError> {
    let name = natter_shared::names::normalize_user(name)
        .map_err(|e| AdminError::BadName(e.to_string()))?;
    if db.user(&name)?.is_none() {
        natter_shared::names::new_account_name(&name)
            .map_err(|e| AdminError::BadName(e.to_string()))?;
    }
    let (user, _) = db.ensure_bot(&name).map_err(|e| match e {
        StoreError::UserExists(n) => AdminError::NotABot(n),
        e => e.into(),
    })?;
    Ok(user)
}

/// Adds an incoming webhook into `room` posting as the bot `bot` (created
/// when missing), and returns its secret token, shown only this once.
pub fn add_hook(data_dir: &Path, room: &str, bot: &str) -> Result<String, AdminError> {
    let mut db = open(data_dir)?;
    let room = existing_room(&db, room)?;
    let user = hook_bot(&mut db, bot)?;
    let (token, hash) = auth::new_token();
    db.add_hook(&room, &user, &hash)?;
    Ok(token)
}

/// Creates an API token for account `name`, expiring after `expires` if
/// given, and returns it (shown only this once; the store keeps its hash).
pub fn create_token(
    data_dir: &Path,
    name: &str,
    label: &str,
    expires: Option<std::time::Duration>,
) -> Result<String, AdminError> {
    let label = label.trim();
    if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
        return Err(AdminError::BadName(
            "a token label is 1 to 64 characters, no control characters".into(),
        ));
    }
    let mut db = open(data_dir)?;
    let user = existing_user(&db, name)?;
    let expires_at = expires
        .map(|e| store::now_ms().saturating_add(i64::try_from(e.as_millis()).unwrap_or(i64::MAX)));
    let (token, hash) = auth::new_token();
    db.add_api_token(&user, &hash, label, expires_at)?;
    Ok(token)
}

/// Every API token.
pub fn api_tokens(data_dir: &Path) -> Result<Vec<store::ApiToken>, AdminError> {
    Ok(open(data_dir)?.api_tokens()?)
}

/// Revokes API token `id`.
pub fn revoke_token(data_dir: &Path, id: i64) -> Result<(), AdminError> {
    if open(data_dir)?.revoke_api_token(id)? {
        Ok(())
    } else {
        Err(AdminError::NoSuchToken(id))
    }
}

/// Adds an outgoing webhook from `room` to `url`, replying as the bot
/// `bot` (created when missing); returns its id and signing secret.
pub fn add_outgoing_hook(
    data_dir: &Path,
    room: &str,
    bot: &str,
    url: &str,
    trigger: Option<&str>,
    mentions: bool,
) -> Result<(i64, String), AdminError> {
    let parsed: Result<axum::http::Uri, _> = url.parse();
    let ok = parsed.as_ref().is_ok_and(|u| {
        matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty())
    });
    if !ok {
        return Err(AdminError::BadUrl(url.to_owned()));
    }
    if let Some(t) = trigger
        && (t.trim().is_empty() || t.len() > 64 || t.chars().any(char::is_control))
    {
        return Err(AdminError::BadName(
            "a trigger is 1 to 64 characters, no control characters".into(),
        ));
    }
    let mut db = open(data_dir)?;
    let room = existing_room(&db, room)?;
    let user = hook_bot(&mut db, bot)?;
    let (secret, _) = auth::new_token();
    let id = db.add_outgoing_hook(
        &room,
        &user,
        &store::NewOutgoing {
            url,
            trigger,
            mentions,
            secret: &secret,
        },
    )?;
    Ok((id, secret))
}

/// Every webhook.
pub fn hooks(data_dir: &Path) -> Result<Vec<store::HookRow>, AdminError> {
    Ok(open(data_dir)?.hooks()?)
}

/// Deletes webhook `id`.
pub fn delete_hook(data_dir: &Path, id: i64) -> Result<(), AdminError> {
    if open(data_dir)?.delete_hook(id)? {
        Ok(())
    } else {
        Err(AdminError::NoSuchHook(id))
    }
}

/// Changes a password, revokes the account's session tokens and ends its
/// sessions.
pub fn set_password(data_dir: &Path, name: &str, password: &str) -> Result<(), AdminError> {
    let min = crate::config::LimitsConfig::default().min_password_len;
    set_password_min(data_dir, name, password, min)
}

/// [`set_password`] with the configured shortest password.
pub fn set_password_min(
    data_dir: &Path,
    name: &str,
    password: &str,
    min_password_len: usize,
) -> Result<(), AdminError> {
    let hash = hash(password, min_password_len)?;
    let mut db = open(data_dir)?;
    let user = existing_user(&db, name)?;
    Ok(db.set_password(&user, &hash)?)
}

/// Deletes an account (its messages stay in history) and ends its
/// sessions. Its name stays reserved, so nobody can take over its history
/// and direct conversations, unless `release`.
pub fn delete_user(data_dir: &Path, name: &str, release: bool) -> Result<(), AdminError> {
    let mut db = open(data_dir)?;
    let user = existing_user(&db, name)?;
    Ok(db.delete_user(&user, release)?)
}

/// Everything stored about account `name`, as the documented
/// `natter-export` JSON (see `store::account_data`).
pub fn export_user(data_dir: &Path, name: &str) -> Result<serde_json::Value, AdminError> {
    let db = open(data_dir)?;
    let user = existing_user(&db, name)?;
    Ok(db.export_user(&user)?)
}

/// Erases account `name`'s message bodies (tombstones stay) and files,
/// then deletes the account as [`delete_user`] does. Connected members
/// see the messages deleted.
pub fn purge_user(
    data_dir: &Path,
    name: &str,
    release: bool,
) -> Result<store::account_data::Purged, AdminError> {
    let mut db = open(data_dir)?;
    let user = existing_user(&db, name)?;
    let purged = db.purge_user(&user)?;
    db.delete_user(&user, release)?;
    db.collect_files(data_dir)?;
    Ok(purged)
}

/// Frees the name of a deleted account for a new one. The old account's
/// messages are shown as from "NAME (deleted)" from then on.
pub fn release_name(data_dir: &Path, name: &str) -> Result<(), AdminError> {
    let name = user_name(name)?;
    let mut db = open(data_dir)?;
    if db.release_name(&name)? {
        Ok(())
    } else {
        Err(AdminError::NotReserved(name))
    }
}

/// Suspends an account (its sessions end; it cannot log in) or lifts the
/// suspension.
pub fn suspend_user(
    data_dir: &Path,
    name: &str,
    suspended: bool,
    reason: &str,
) -> Result<(), AdminError> {
    let mut db = open(data_dir)?;
    let user = existing_user(&db, name)?;
    Ok(db.set_suspended(&user, suspended, reason)?)
}

/// An account as listed by `natterd user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub name: String,
    pub admin: bool,
    pub suspended: bool,
}

/// Every account, by name.
pub fn list_users(data_dir: &Path) -> Result<Vec<UserSummary>, AdminError> {
    Ok(open(data_dir)?
        .users()?
        .into_iter()
        .map(|u| UserSummary {
            name: u.name,
            admin: u.admin,
            suspended: u.suspended,
        })
        .collect())
}

/// The newest `last` audit log entries, oldest first.
pub fn audit_log(data_dir: &Path, last: u32) -> Result<Vec<store::AuditEntry>, AdminError> {
    Ok(open(data_dir)?.audit_log(last)?)
}

/// Reports of messages, oldest first: open ones, or all with `all`.
pub fn reports(data_dir: &Path, all: bool) -> Result<Vec<store::ReportRow>, AdminError> {
    Ok(open(data_dir)?.reports(all)?)
}

/// Closes an open report (audited).
pub fn close_report(data_dir: &Path, id: u64) -> Result<(), AdminError> {
    if open(data_dir)?.close_report(id)? {
        Ok(())
    } else {
        Err(AdminError::NoSuchReport(id))
    }
}

/// Writes a consistent copy of the data dir to the directory `dest`
/// (which must not exist), also while a server runs: the database as
/// `dest/natter.db`, and every blob it names under `dest/blobs`. `dest`
/// is then a data dir a server can start on.
///
/// Blobs never change, so the copy is consistent if every blob the copied
/// database names is there: the blobs stored before the copy are linked
/// first, the database is copied, then what was stored in between. A blob
/// deleted in the moments between fails the backup (`BackupRaced`) rather
/// than leave a copy that names a file it lacks.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<(), AdminError> {
    if dest.exists() {
        return Err(AdminError::BackupExists(dest.to_owned()));
    }
    let db = data_dir.join(store::DB_FILE);
    if !db.exists() {
        return Err(AdminError::NoDatabase(db));
    }
    let result = backup_into(data_dir, dest);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    result
}

fn backup_into(data_dir: &Path, dest: &Path) -> Result<(), AdminError> {
    use std::os::unix::fs::PermissionsExt;
    use store::BlobStore;
    std::fs::create_dir_all(dest)?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o700))?;
    let live = open(data_dir)?;
    let blobs = store::FsBlobs::open(data_dir)?;
    let before = live.blob_hashes()?;
    blobs.copy_to(&before, dest)?;
    let copy = dest.join(store::DB_FILE);
    live.backup(&copy)?;
    let named = store::OperatorStore::open(dest, operator())?.blob_hashes()?;
    let missing = blobs.copy_to(&named, dest)?;
    if !missing.is_empty() {
        return Err(AdminError::BackupRaced(missing.len()));
    }
    // Linked before the copy, deleted before it: not part of it.
    let keep: std::collections::HashSet<&String> = named.iter().collect();
    let extra: Vec<String> = before.into_iter().filter(|h| !keep.contains(h)).collect();
    let target = store::FsBlobs::open(dest)?;
    for hash in extra {
        target.remove(&hash)?;
    }
    Ok(())
}

fn room_name(name: &str) -> Result<String, AdminError> {
    match Target::parse(name) {
        Ok(Target::Room(r)) => Ok(r),
        Ok(Target::Direct(_)) => Err(AdminError::BadName("room names start with #, not @".into())),
        Err(e) => Err(AdminError::BadName(e.to_string())),
    }
}

/// Creates a room, optionally with an owner.
pub fn add_room(
    data_dir: &Path,
    name: &str,
    private: bool,
    owner: Option<&str>,
) -> Result<(), AdminError> {
    let name = room_name(name)?;
    let mut db = open(data_dir)?;
    let owner = match owner {
        Some(o) => Some(existing_user(&db, o)?),
        None => None,
    };
    let kind = if private {
        RoomKind::Private
    } else {
        RoomKind::Public
    };
    Ok(db.add_room(&name, kind, owner.as_ref())?)
}

/// Sets a room's modes: `announce` (only moderators post) and its
/// `category` (`""` clears it); what is left out stays.
pub fn set_room_mode(
    data_dir: &Path,
    room: &str,
    announce: Option<bool>,
    category: Option<&str>,
) -> Result<(), AdminError> {
    let name = room_name(room)?;
    let category = category
        .map(natter_shared::names::normalize_category)
        .transpose()
        .map_err(|why| AdminError::BadName(why.into()))?;
    let mut db = open(data_dir)?;
    let room = db
        .room(&name)?
        .ok_or(AdminError::NoSuchRoom(name.clone()))?;
    Ok(db.set_mode(&room, announce, category)?)
}

/// A room as listed by `natterd room list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    pub name: String,
    pub kind: RoomKind,
    pub members: usize,
    pub topic: String,
    pub announce: bool,
    pub category: Option<String>,
}

/// Every room except direct conversations.
pub fn list_rooms(data_dir: &Path) -> Result<Vec<RoomSummary>, AdminError> {
    Ok(open(data_dir)?
        .rooms()?
        .into_iter()
        .filter(|r| r.row.kind != RoomKind::Direct)
        .map(|r| RoomSummary {
            members: r.members,
            name: format!("#{}", r.row.name),
            kind: r.row.kind,
            topic: r.row.topic,
            announce: r.row.announce,
            category: r.row.category,
        })
        .collect())
}

/// Adds a user to a room.
pub fn invite(data_dir: &Path, room: &str, user: &str) -> Result<(), AdminError> {
    let name = room_name(room)?;
    let mut db = open(data_dir)?;
    let room = db
        .room(&name)?
        .ok_or(AdminError::NoSuchRoom(name.clone()))?;
    let user = existing_user(&db, user)?;
    Ok(db.invite(&room, &user)?)
}
