//! The SQL itself: one named function per query, shared by the server's
//! store operations and the admin CLI (`natterd user ...`), which works on
//! the same file.

use std::collections::HashMap;
use std::path::Path;

use natter_shared::{MessageId, Role, RoomKind};
use rusqlite::{Connection, OptionalExtension, params};

use super::{GENERAL, MAX_TOKENS_PER_USER, StoreError, StoredMessage, now_ms};

/// SQLite integers are signed; ids and counts never reach 2^63.
pub(crate) fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A user row.
#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub pw_hash: String,
    pub admin: bool,
    /// Suspended by an operator: may not log in.
    pub suspended: bool,
}

/// A room row.
#[derive(Debug, Clone)]
pub struct RoomRow {
    pub id: i64,
    pub name: String,
    pub kind: RoomKind,
    pub topic: String,
    /// Only moderators post.
    pub announce: bool,
    /// The group clients show it in.
    pub category: Option<String>,
}

pub(crate) fn kind_str(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Public => "public",
        RoomKind::Private => "private",
        RoomKind::Direct => "direct",
        // Never stored: only a newer peer's value decodes as this.
        RoomKind::Unknown => "unknown",
    }
}

fn parse_kind(s: &str) -> RoomKind {
    match s {
        "private" => RoomKind::Private,
        "direct" => RoomKind::Direct,
        _ => RoomKind::Public,
    }
}

pub(crate) fn role_str(role: Role) -> &'static str {
    match role {
        Role::Member => "member",
        Role::Moderator => "moderator",
        Role::Owner => "owner",
        Role::Unknown => "unknown",
    }
}

fn parse_role(s: &str) -> Role {
    match s {
        "owner" => Role::Owner,
        "moderator" => Role::Moderator,
        _ => Role::Member,
    }
}

pub(super) fn ensure_general(conn: &Connection) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR IGNORE INTO rooms (name, kind, topic, created_at) VALUES (?1, 'public', '', ?2)",
        params![GENERAL, now_ms()],
    )?;
    Ok(())
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        pw_hash: r.get(2)?,
        admin: r.get(3)?,
        suspended: r.get(4)?,
    })
}

fn room_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RoomRow> {
    Ok(RoomRow {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: parse_kind(&r.get::<_, String>(2)?),
        topic: r.get(3)?,
        announce: r.get(4)?,
        category: r.get(5)?,
    })
}

/// What [`user_row`] reads, in its order.
const USER_SELECT: &str =
    "SELECT id, name, pw_hash, admin, EXISTS(SELECT 1 FROM server_bans WHERE user_id = id)
     FROM users";

/// Looks a user up by (normalised) name.
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .query_row(&format!("{USER_SELECT} WHERE name = ?1"), [name], user_row)
        .optional()?)
}

/// A user by id.
pub fn user_by_id(conn: &Connection, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(conn
        .query_row(&format!("{USER_SELECT} WHERE id = ?1"), [id], user_row)
        .optional()?)
}

/// Every user, by name.
pub fn all_users(conn: &Connection) -> Result<Vec<UserRow>, StoreError> {
    let mut stmt = conn.prepare(&format!("{USER_SELECT} ORDER BY name"))?;
    let rows = stmt.query_map([], user_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Creates a user (a member of `#general`) and returns its id.
pub fn insert_user(
    conn: &Connection,
    name: &str,
    pw_hash: &str,
    admin: bool,
) -> Result<i64, StoreError> {
    if user_by_name(conn, name)?.is_some() {
        return Err(StoreError::UserExists(name.to_owned()));
    }
    if name_reserved(conn, name)? {
        return Err(StoreError::NameReserved(name.to_owned()));
    }
    conn.execute(
        "INSERT INTO users (name, pw_hash, admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name, pw_hash, admin, now_ms()],
    )?;
    let id = conn.last_insert_rowid();
    let general: i64 = conn.query_row("SELECT id FROM rooms WHERE name = ?1", [GENERAL], |r| {
        r.get(0)
    })?;
    // A newcomer starts with #general read up to now, as with any join:
    // years of history are not "unread" to someone who just arrived.
    conn.execute(
        "INSERT INTO members (room_id, user_id, role, last_read)
         VALUES (?1, ?2, 'member', (SELECT COALESCE(MAX(id), 0) FROM messages WHERE room_id = ?1))",
        params![general, id],
    )?;
    Ok(id)
}

/// Replaces a user's password hash, revokes all their tokens and ends
/// their sessions on a running server, except `spare_session` (of the
/// server making the change).
pub fn set_password(
    conn: &Connection,
    user_id: i64,
    pw_hash: &str,
    spare_session: Option<u64>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE users SET pw_hash = ?1 WHERE id = ?2",
        params![pw_hash, user_id],
    )?;
    conn.execute("DELETE FROM tokens WHERE user_id = ?1", [user_id])?;
    insert_account_event(
        conn,
        user_id,
        AccountEventKind::Password,
        spare_session,
        None,
    )
}

/// Deletes a user, their tokens and memberships (their messages stay), and
/// ends their sessions on a running server. The name stays reserved unless
/// `release`.
pub fn delete_user(
    conn: &Connection,
    user_id: i64,
    name: &str,
    release: bool,
) -> Result<(), StoreError> {
    conn.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
    conn.execute(
        "INSERT OR REPLACE INTO reserved_names (name, user_id, at) VALUES (?1, ?2, ?3)",
        params![name, user_id, now_ms()],
    )?;
    insert_account_event(conn, user_id, AccountEventKind::Deleted, None, None)?;
    if release {
        release_name(conn, name)?;
    }
    Ok(())
}

/// Whether `name` belongs to a deleted account and is kept from reuse.
pub fn name_reserved(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    Ok(conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM reserved_names WHERE name = ?1)",
        [name],
        |r| r.get(0),
    )?)
}

/// What a released name's old messages are shown as from: not a valid user
/// name (it has a space), so no account can ever take it.
#[must_use]
pub fn released_author(name: &str) -> String {
    format!("{name} (deleted)")
}

/// Frees a deleted account's name for a new account. The old account's
/// messages are renamed to [`released_author`] first, so the newcomer
/// never appears to have written them; a running server renames them in
/// memory too. `Ok(false)` when the name was not reserved.
pub fn release_name(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    release_name_as(conn, name, &released_author(name))
}

/// [`release_name`], with the old messages renamed to `author` (an IRC
/// guest's read `name (guest)`).
pub fn release_name_as(conn: &Connection, name: &str, author: &str) -> Result<bool, StoreError> {
    let user_id: Option<i64> = conn
        .query_row(
            "DELETE FROM reserved_names WHERE name = ?1 RETURNING user_id",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    let Some(user_id) = user_id else {
        return Ok(false);
    };
    // Each renamed message (and thread root whose newest reply it wrote)
    // takes a new revision, so catch-ups learn the new name.
    let released = author;
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM messages WHERE author = ?1 OR last_reply_from = ?1 ORDER BY id")?
        .query_map([name], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        let rev = super::rich::next_rev(conn)?;
        conn.execute(
            "UPDATE messages SET rev = ?3,
             author = CASE author WHEN ?2 THEN ?1 ELSE author END,
             last_reply_from = CASE last_reply_from WHEN ?2 THEN ?1 ELSE last_reply_from END
             WHERE id = ?4",
            params![released, name, to_sql(rev), id],
        )?;
    }
    insert_account_event(conn, user_id, AccountEventKind::Released, None, None)?;
    Ok(true)
}

/// Suspends an account (its sessions end and it cannot log in) or lifts
/// the suspension. Tokens stay, so a lifted suspension needs no new login.
pub fn set_suspended(conn: &Connection, user_id: i64, suspended: bool) -> Result<(), StoreError> {
    if suspended {
        conn.execute(
            "INSERT OR IGNORE INTO server_bans (user_id, at) VALUES (?1, ?2)",
            params![user_id, now_ms()],
        )?;
        insert_account_event(conn, user_id, AccountEventKind::Suspended, None, None)
    } else {
        conn.execute("DELETE FROM server_bans WHERE user_id = ?1", [user_id])?;
        Ok(())
    }
}

/// A change made outside the running server (by the admin CLI, another
/// process) that the server must follow: it polls `account_events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEventKind {
    /// The password changed: the account's sessions end.
    Password,
    /// The account was deleted: its sessions end and it leaves its rooms.
    Deleted,
    /// The account was suspended: its sessions end.
    Suspended,
    /// A new account: it appears in `#general` for everyone there.
    UserAdded,
    /// A new room (`room_id`): it can be joined, and its owner (the user,
    /// if any) sees it appear.
    RoomAdded,
    /// The user was added to the room `room_id` (an operator's invite).
    MemberAdded,
    /// A deleted account's name was freed: its messages now show as
    /// [`released_author`].
    Released,
    /// The modes of room `room_id` changed (`natterd room set`).
    RoomChanged,
    /// The account's messages in room `room_id` were erased (`natterd
    /// user del --purge`): the room's members see them deleted.
    Purged,
    /// One of the account's API tokens was revoked (`natterd token
    /// revoke`): the sessions it opened end.
    TokenRevoked,
}

impl AccountEventKind {
    fn as_str(self) -> &'static str {
        match self {
            AccountEventKind::Password => "password",
            AccountEventKind::Deleted => "deleted",
            AccountEventKind::Suspended => "suspended",
            AccountEventKind::UserAdded => "user_added",
            AccountEventKind::RoomAdded => "room_added",
            AccountEventKind::MemberAdded => "member_added",
            AccountEventKind::Released => "released",
            AccountEventKind::RoomChanged => "room_changed",
            AccountEventKind::Purged => "purged",
            AccountEventKind::TokenRevoked => "token_revoked",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "password" => Some(AccountEventKind::Password),
            "deleted" => Some(AccountEventKind::Deleted),
            "suspended" => Some(AccountEventKind::Suspended),
            "user_added" => Some(AccountEventKind::UserAdded),
            "room_added" => Some(AccountEventKind::RoomAdded),
            "member_added" => Some(AccountEventKind::MemberAdded),
            "released" => Some(AccountEventKind::Released),
            "room_changed" => Some(AccountEventKind::RoomChanged),
            "purged" => Some(AccountEventKind::Purged),
            "token_revoked" => Some(AccountEventKind::TokenRevoked),
            _ => None,
        }
    }
}

/// One row of `account_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    pub id: i64,
    /// The account; 0 for a room added without an owner.
    pub user_id: i64,
    pub kind: AccountEventKind,
    pub spare_session: Option<u64>,
    /// The room, for room changes.
    pub room_id: Option<i64>,
}

/// Records a change for running servers to follow (see
/// [`AccountEventKind`]).
pub fn insert_account_event(
    conn: &Connection,
    user_id: i64,
    kind: AccountEventKind,
    spare_session: Option<u64>,
    room_id: Option<i64>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO account_events (user_id, kind, spare_session, at, room_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            user_id,
            kind.as_str(),
            spare_session.map(to_sql),
            now_ms(),
            room_id
        ],
    )?;
    Ok(())
}

/// The newest account event's id (0 when there is none).
pub fn last_account_event(conn: &Connection) -> Result<i64, StoreError> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM account_events", [], |r| {
            r.get(0)
        })?,
    )
}

/// Account events after `after`, oldest first.
pub fn account_events_after(
    conn: &Connection,
    after: i64,
) -> Result<Vec<AccountEvent>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, user_id, kind, spare_session, room_id FROM account_events
         WHERE id > ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([after], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<i64>>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, user_id, kind, spare, room_id) = row?;
        if let Some(kind) = AccountEventKind::parse(&kind) {
            out.push(AccountEvent {
                id,
                user_id,
                kind,
                spare_session: spare.map(from_sql),
                room_id,
            });
        }
    }
    Ok(out)
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// The user who acted, or `operator:<login>` for the admin CLI.
    pub actor: String,
    /// What they did: `kick`, `ban`, `user.delete`, ...
    pub action: String,
    /// On whom (a user name), if anyone.
    pub target: String,
    /// Where (`#room`), if anywhere.
    pub room: String,
    /// A reason, a new role or topic.
    pub detail: String,
}

/// Appends to the audit log.
///
/// Every field is cut to [`AUDIT_FIELD_CHARS`] characters here, the one
/// place every entry passes through, whoever wrote it: the log records
/// what happened, not whatever a peer chose to send along.
pub fn insert_audit(conn: &Connection, e: &AuditEntry) -> Result<(), StoreError> {
    let cut = |s: &str| -> String { s.chars().take(AUDIT_FIELD_CHARS).collect() };
    conn.execute(
        "INSERT INTO audit (at, actor, action, target, room, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            e.at,
            cut(&e.actor),
            cut(&e.action),
            cut(&e.target),
            cut(&e.room),
            cut(&e.detail)
        ],
    )?;
    Ok(())
}

/// The longest an audit field is kept, in characters: a topic (500 bytes)
/// fits, a 60,000-character "reason" does not.
pub const AUDIT_FIELD_CHARS: usize = 500;

/// Deletes audit entries older than `before` (ms since the epoch); returns
/// how many.
pub fn prune_audit(conn: &Connection, before: i64) -> Result<usize, StoreError> {
    Ok(conn.execute("DELETE FROM audit WHERE at < ?1", [before])?)
}

/// The newest `limit` audit entries, oldest first.
pub fn recent_audit(conn: &Connection, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT at, actor, action, target, room, detail FROM
         (SELECT * FROM audit ORDER BY id DESC LIMIT ?1) ORDER BY id",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(AuditEntry {
            at: r.get(0)?,
            actor: r.get(1)?,
            action: r.get(2)?,
            target: r.get(3)?,
            room: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Copies the database to `dest` with SQLite's online backup, page by page,
/// so a running server keeps writing meanwhile and the copy is consistent.
pub fn backup(conn: &Connection, dest: &Path) -> Result<(), StoreError> {
    use rusqlite::backup::Backup;
    use std::os::unix::fs::PermissionsExt;
    let mut out = Connection::open(dest)?;
    // As private as the database it copies.
    let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600));
    {
        let backup = Backup::new(conn, &mut out)?;
        // Small steps with pauses let the server's writer in between.
        backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
    }
    let ok: String = out.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Integrity(ok));
    }
    Ok(())
}

/// Stores a token hash for a user.
pub fn insert_token(conn: &Connection, user_id: i64, hash: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO tokens (hash, user_id, created_at) VALUES (?1, ?2, ?3)",
        params![hash, user_id, now_ms()],
    )?;
    // Each password login (a new device, a new `natter login`) adds one;
    // only the newest are kept, so forgotten ones do not stay valid forever.
    // API tokens (`natterd token create`) are the operator's, and stay.
    conn.execute(
        "DELETE FROM tokens WHERE user_id = ?1 AND label IS NULL AND rowid NOT IN
         (SELECT rowid FROM tokens WHERE user_id = ?1 AND label IS NULL
          ORDER BY rowid DESC LIMIT ?2)",
        params![user_id, MAX_TOKENS_PER_USER],
    )?;
    Ok(())
}

/// The user a token hash belongs to, unless the token has expired: an API
/// token at its `expires_at`, a session token (no label) `session_days`
/// after it was issued, when that is not 0.
pub fn token_user(
    conn: &Connection,
    hash: &str,
    session_days: u32,
) -> Result<Option<i64>, StoreError> {
    let now = now_ms();
    let issued_after = if session_days == 0 {
        i64::MIN
    } else {
        now - i64::from(session_days) * 86_400_000
    };
    Ok(conn
        .query_row(
            "SELECT user_id FROM tokens WHERE hash = ?1
             AND (expires_at IS NULL OR expires_at > ?2)
             AND (label IS NOT NULL OR created_at > ?3)",
            params![hash, now, issued_after],
            |r| r.get(0),
        )
        .optional()?)
}

/// Revokes a token.
pub fn delete_token(conn: &Connection, hash: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM tokens WHERE hash = ?1", [hash])?;
    Ok(())
}

/// Creates a room and returns its id.
pub fn insert_room(conn: &Connection, name: &str, kind: RoomKind) -> Result<i64, StoreError> {
    let exists: Option<i64> = conn
        .query_row("SELECT id FROM rooms WHERE name = ?1", [name], |r| r.get(0))
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::RoomExists(name.to_owned()));
    }
    conn.execute(
        "INSERT INTO rooms (name, kind, topic, created_at) VALUES (?1, ?2, '', ?3)",
        params![name, kind_str(kind), now_ms()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Every room.
pub fn all_rooms(conn: &Connection) -> Result<Vec<RoomRow>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id, name, kind, topic, announce, category FROM rooms ORDER BY name")?;
    let rows = stmt.query_map([], room_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One room by id.
pub fn room_by_id(conn: &Connection, id: i64) -> Result<Option<RoomRow>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT id, name, kind, topic, announce, category FROM rooms WHERE id = ?1",
            [id],
            room_row,
        )
        .optional()?)
}

/// One room by name (as stored: without `#`).
pub fn room_by_name(conn: &Connection, name: &str) -> Result<Option<RoomRow>, StoreError> {
    let id: Option<i64> = conn
        .query_row("SELECT id FROM rooms WHERE name = ?1", [name], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => room_by_id(conn, id),
        None => Ok(None),
    }
}

/// Adds or updates a membership (keeps the read marker).
pub fn upsert_member(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    role: Role,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO members (room_id, user_id, role) VALUES (?1, ?2, ?3)
         ON CONFLICT (room_id, user_id) DO UPDATE SET role = excluded.role",
        params![room_id, user_id, role_str(role)],
    )?;
    Ok(())
}

/// Removes a membership.
pub fn delete_member(conn: &Connection, room_id: i64, user_id: i64) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM members WHERE room_id = ?1 AND user_id = ?2",
        params![room_id, user_id],
    )?;
    Ok(())
}

/// Moves a read marker (forward only).
pub fn set_last_read(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    id: MessageId,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE members SET last_read = MAX(last_read, ?3) WHERE room_id = ?1 AND user_id = ?2",
        params![room_id, user_id, to_sql(id)],
    )?;
    Ok(())
}

/// Sets a room's topic.
pub fn set_topic(conn: &Connection, room_id: i64, topic: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE rooms SET topic = ?2 WHERE id = ?1",
        params![room_id, topic],
    )?;
    Ok(())
}

/// Sets a room's modes: whether only moderators post, and its category.
pub fn set_mode(
    conn: &Connection,
    room_id: i64,
    announce: bool,
    category: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE rooms SET announce = ?2, category = ?3 WHERE id = ?1",
        params![room_id, announce, category],
    )?;
    Ok(())
}

/// Bans or unbans a user.
pub fn set_ban(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    banned: bool,
) -> Result<(), StoreError> {
    if banned {
        conn.execute(
            "INSERT OR IGNORE INTO bans (room_id, user_id) VALUES (?1, ?2)",
            params![room_id, user_id],
        )?;
    } else {
        conn.execute(
            "DELETE FROM bans WHERE room_id = ?1 AND user_id = ?2",
            params![room_id, user_id],
        )?;
    }
    Ok(())
}

/// A membership as loaded from the store.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub room_id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub admin: bool,
    pub role: Role,
    pub last_read: MessageId,
    /// In a direct conversation: received up to here (see `receipts.rs`).
    pub delivered: MessageId,
}

/// The members of a room.
pub fn room_members(conn: &Connection, room_id: i64) -> Result<Vec<MemberRow>, StoreError> {
    members_where(conn, "m.room_id", room_id)
}

/// The memberships of a user.
pub fn user_memberships(conn: &Connection, user_id: i64) -> Result<Vec<MemberRow>, StoreError> {
    members_where(conn, "m.user_id", user_id)
}

/// Memberships whose `column` (one of the two above, never input) is `id`.
fn members_where(conn: &Connection, column: &str, id: i64) -> Result<Vec<MemberRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT m.room_id, m.user_id, u.name, u.admin, m.role, m.last_read, m.delivered
         FROM members m JOIN users u ON u.id = m.user_id WHERE {column} = ?1"
    ))?;
    let rows = stmt.query_map([id], member_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn member_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        room_id: r.get(0)?,
        user_id: r.get(1)?,
        user_name: r.get(2)?,
        admin: r.get(3)?,
        role: parse_role(&r.get::<_, String>(4)?),
        last_read: from_sql(r.get(5)?),
        delivered: from_sql(r.get(6)?),
    })
}

/// The users banned from a room.
pub fn room_bans(conn: &Connection, room_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT user_id FROM bans WHERE room_id = ?1")?;
    let rows = stmt.query_map([room_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The columns [`stored_row`] reads, in its order.
pub(crate) const MESSAGE_COLUMNS: &str = "id, room_id, author, ts, body, action, reply_to, thread, \
     edited_at, deleted, rev, reply_count, last_reply_from, last_reply_ts, attention";

/// A message row as selected with [`MESSAGE_COLUMNS`], without its
/// reactions (see [`super::rich::add_reactions`]).
pub(crate) fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    let reply_count: u32 = r.get(11)?;
    let replies = if reply_count > 0 {
        Some(natter_shared::ThreadSummary {
            count: reply_count,
            last_from: r.get::<_, Option<String>>(12)?.unwrap_or_default(),
            last_ts: r.get::<_, Option<i64>>(13)?.unwrap_or_default(),
        })
    } else {
        None
    };
    Ok(StoredMessage {
        id: from_sql(r.get(0)?),
        room_id: r.get(1)?,
        author: r.get::<_, String>(2)?.into(),
        ts: r.get(3)?,
        body: r.get::<_, String>(4)?.into(),
        action: r.get(5)?,
        reply_to: r.get::<_, Option<i64>>(6)?.map(from_sql),
        thread: r.get::<_, Option<i64>>(7)?.map(from_sql),
        edited_at: r.get(8)?,
        deleted: r.get(9)?,
        reactions: Vec::new(),
        replies,
        rev: from_sql(r.get(10)?),
        attention: r.get(14)?,
        attachments: Vec::new(),
    })
}

/// Up to `limit` messages of a room below `before` (or the newest when
/// `None`), returned oldest first, without their reactions. Thread replies
/// only with `replies` (the in-memory ring holds them; history pages do
/// not).
pub fn messages_before(
    conn: &Connection,
    room_id: i64,
    before: Option<MessageId>,
    limit: usize,
    replies: bool,
) -> Result<Vec<StoredMessage>, StoreError> {
    let before = before.map_or(i64::MAX, to_sql);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ?1 AND id < ?2 AND (?4 OR thread IS NULL) ORDER BY id DESC LIMIT ?3"
    ))?;
    let mut rows: Vec<StoredMessage> = stmt
        .query_map(
            params![room_id, before, to_sql(limit as u64), replies],
            stored_row,
        )?
        .collect::<Result<_, _>>()?;
    rows.reverse();
    Ok(rows)
}

/// Up to `limit` messages of a room above `after`, oldest first, without
/// their reactions; thread replies only with `replies`.
pub fn messages_after(
    conn: &Connection,
    room_id: i64,
    after: MessageId,
    limit: usize,
    replies: bool,
) -> Result<Vec<StoredMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ?1 AND id > ?2 AND (?4 OR thread IS NULL) ORDER BY id ASC LIMIT ?3"
    ))?;
    let rows = stmt
        .query_map(
            params![room_id, to_sql(after), to_sql(limit as u64), replies],
            stored_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Unread and mention counts for `user` after `after` in a room.
pub fn unread_counts(
    conn: &Connection,
    room_id: i64,
    user: &str,
    after: MessageId,
) -> Result<(u32, u32), StoreError> {
    // Not counting the authors `user` blocks: their messages are hidden.
    let mut stmt = conn.prepare_cached(
        "SELECT body, attention FROM messages WHERE room_id = ?1 AND id > ?2 AND author != ?3
         AND author NOT IN (SELECT u.name FROM blocks b
                            JOIN users me ON me.id = b.user_id
                            JOIN users u ON u.id = b.blocked_id
                            WHERE me.name = ?3)",
    )?;
    let mut unread = 0u32;
    let mut mentions = 0u32;
    let mut rows = stmt.query(params![room_id, to_sql(after), user])?;
    while let Some(row) = rows.next()? {
        unread += 1;
        let body: String = row.get(0)?;
        let attention: bool = row.get(1)?;
        if attention || natter_shared::names::mentions_user(&body, user) {
            mentions += 1;
        }
    }
    Ok((unread, mentions))
}

/// Unread and mention counts for many members of one room, in one pass
/// over the room's messages after the lowest of their markers. Loading a
/// room at start-up needs this for every member whose marker is below the
/// in-memory history; counting each member separately would read the
/// room's messages once per member, which on a busy room takes minutes.
pub fn room_unread_counts(
    conn: &Connection,
    room_id: i64,
    members: &[(i64, &str, MessageId)],
) -> Result<HashMap<i64, (u32, u32)>, StoreError> {
    let Some(lowest) = members.iter().map(|m| m.2).min() else {
        return Ok(HashMap::new());
    };
    // Per author and per mentioned name, the ids that count against them,
    // ascending; a member's count is then a binary search away.
    let mut all: Vec<MessageId> = Vec::new();
    let mut by_author: HashMap<String, Vec<MessageId>> = HashMap::new();
    let mut mentioning: HashMap<String, Vec<MessageId>> = HashMap::new();
    // Messages that call the whole room (`@room`), with their authors: a
    // mention for everyone but the author. Rare, so kept as a list.
    let mut attention: Vec<(MessageId, String)> = Vec::new();
    // The authors each member blocks: their messages are hidden, not unread.
    let mut blocks_here: HashMap<i64, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT b.user_id, u.name FROM blocks b JOIN users u ON u.id = b.blocked_id
         JOIN members m ON m.user_id = b.user_id AND m.room_id = ?1",
    )?;
    let mut rows = stmt.query([room_id])?;
    while let Some(row) = rows.next()? {
        blocks_here
            .entry(row.get(0)?)
            .or_default()
            .push(row.get(1)?);
    }
    drop(rows);
    // Who wrote each message, kept only when some member blocks someone.
    let mut author_of: HashMap<MessageId, String> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, author, body, attention FROM messages WHERE room_id = ?1 AND id > ?2 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![room_id, to_sql(lowest)])?;
    while let Some(row) = rows.next()? {
        let id = from_sql(row.get(0)?);
        let author: String = row.get(1)?;
        let body = row.get_ref(2)?.as_str().unwrap_or_default();
        all.push(id);
        if row.get::<_, bool>(3)? {
            // A mention of everyone: counted once, whoever else it names.
            attention.push((id, author.clone()));
        } else {
            let mut seen: Vec<String> = natter_shared::names::mentions(body).collect();
            seen.sort_unstable();
            seen.dedup();
            for name in seen {
                if name != author {
                    mentioning.entry(name).or_default().push(id);
                }
            }
        }
        if !blocks_here.is_empty() {
            author_of.insert(id, author.clone());
        }
        by_author.entry(author).or_default().push(id);
    }
    let after = |ids: Option<&Vec<MessageId>>, marker: MessageId| {
        ids.map_or(0, |ids| ids.len() - ids.partition_point(|&id| id <= marker))
    };
    Ok(members
        .iter()
        .map(|&(user, name, marker)| {
            let blocked = blocks_here.get(&user).map_or(&[][..], Vec::as_slice);
            let hidden: usize = blocked
                .iter()
                .filter(|a| a.as_str() != name)
                .map(|a| after(by_author.get(a), marker))
                .sum();
            let unread = after(Some(&all), marker) - after(by_author.get(name), marker) - hidden;
            let mentions = if blocked.is_empty() {
                after(mentioning.get(name), marker)
            } else {
                mentioning.get(name).map_or(0, |ids| {
                    ids.iter()
                        .filter(|id| **id > marker)
                        .filter(|id| author_of.get(id).is_none_or(|a| !blocked.contains(a)))
                        .count()
                })
            } + attention
                .iter()
                .filter(|(id, a)| *id > marker && a != name && !blocked.contains(a))
                .count();
            (user, (unread as u32, mentions as u32))
        })
        .collect())
}

/// Messages stored in all rooms.
pub fn message_count(conn: &Connection) -> Result<u64, StoreError> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
    Ok(from_sql(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_db;

    #[test]
    fn one_pass_counts_match_counting_each_member() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_db(dir.path()).unwrap();
        let room = insert_room(&conn, "busy", RoomKind::Public).unwrap();
        let other = insert_room(&conn, "other", RoomKind::Public).unwrap();
        let authors = ["ann", "bob", "cy"];
        for i in 0..60 {
            let author = authors[i % 3];
            let body = match i % 4 {
                0 => "@bob look".to_owned(),
                1 => format!("@ann @ann and @{author}"),
                _ => format!("plain {i}"),
            };
            for r in [room, other] {
                conn.execute(
                    "INSERT INTO messages (room_id, author, ts, body, action) VALUES (?1, ?2, 0, ?3, 0)",
                    params![r, author, body],
                )
                .unwrap();
            }
        }
        let members = [(1, "ann", 0), (2, "bob", 40), (3, "cy", 119), (4, "dee", 7)];
        let together = room_unread_counts(&conn, room, &members).unwrap();
        for (user, name, marker) in members {
            let alone = unread_counts(&conn, room, name, marker).unwrap();
            assert_eq!(together[&user], alone, "{name} after {marker}");
        }
        assert!(together[&1].1 > 0 && together[&2].1 > 0);
        assert!(room_unread_counts(&conn, room, &[]).unwrap().is_empty());
    }
}
