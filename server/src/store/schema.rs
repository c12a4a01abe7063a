//! The schema, and opening the database file with it.

use std::path::Path;

use rusqlite::Connection;

use super::StoreError;
use super::sql::ensure_general;

/// The database file inside the data dir.
pub const DB_FILE: &str = "natter.db";

/// Opens (creating if needed) the database in `data_dir` and applies the
/// schema.
pub fn open_db(data_dir: &Path) -> Result<Connection, StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let fresh = !data_dir.exists();
    std::fs::create_dir_all(data_dir).map_err(|error| StoreError::DataDir {
        path: data_dir.to_owned(),
        error,
    })?;
    // Messages and token hashes are nobody else's business: a new data dir
    // is private to natterd's user (an existing one keeps the operator's
    // choice).
    if fresh {
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    let path = data_dir.join(DB_FILE);
    let conn = Connection::open(&path)?;
    // SQLite gives the -wal and -shm files the database file's mode.
    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::files::SCHEMA)?;
    conn.execute_batch(super::hooks::SCHEMA)?;
    conn.execute_batch(super::guests::SCHEMA)?;
    migrate(&conn)?;
    super::hooks::migrate(&conn)?;
    ensure_general(&conn)?;
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    pw_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    -- Shown beside the name (`set_profile`); the name stays the identity.
    display_name TEXT
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    last_read INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_user ON members(user_id);
CREATE TABLE IF NOT EXISTS bans (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    ts INTEGER NOT NULL,
    body TEXT NOT NULL,
    action INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_room ON messages(room_id, id);
-- A search by `from:user` alone walks this, not every message.
CREATE INDEX IF NOT EXISTS messages_author ON messages(author, id);
CREATE TABLE IF NOT EXISTS server_bans (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    at INTEGER NOT NULL
);
-- Changes to accounts that end their sessions (password, deleted,
-- suspended). A running server polls this table, so the admin CLI's
-- changes reach it within a fraction of a second. Rows are never reused.
CREATE TABLE IF NOT EXISTS account_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    -- A session of the server that made the change, left open (the one
    -- that changed its own password).
    spare_session INTEGER,
    at INTEGER NOT NULL,
    -- The room of a room change (a room added, a member added).
    room_id INTEGER
);
-- Names of deleted accounts, kept from reuse: a newcomer taking a deleted
-- name would inherit its history and its direct conversations. Only the
-- operator frees one (`natterd user release`).
CREATE TABLE IF NOT EXISTS reserved_names (
    name TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    at INTEGER NOT NULL
) WITHOUT ROWID;
-- Who blocks whom: the blocked user's direct messages, typing and presence
-- no longer reach the blocker.
CREATE TABLE IF NOT EXISTS blocks (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;
-- Invitations waiting for the invitee's consent.
CREATE TABLE IF NOT EXISTS invitations (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    inviter TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS invitations_user ON invitations(user_id);
CREATE INDEX IF NOT EXISTS blocks_blocked ON blocks(blocked_id);
-- Reported messages, for the admins (`natterd reports`). Names and an
-- excerpt are copied, so a report outlives the message and its author.
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    reporter TEXT NOT NULL,
    room TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    author TEXT NOT NULL,
    excerpt TEXT NOT NULL,
    reason TEXT NOT NULL,
    closed_at INTEGER
);
-- Moderation and admin actions: who did what to whom, and when.
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    room TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at);
-- Reactions: one row per user and key on a message; keys show in the
-- order they were first used (by id).
CREATE TABLE IF NOT EXISTS reactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    at INTEGER NOT NULL,
    UNIQUE (message_id, user_id, key)
);
CREATE INDEX IF NOT EXISTS reactions_user ON reactions(user_id);
-- The store-wide revision counter (one row): every new message and every
-- change to one takes the next value, so `since` catch-ups find them.
CREATE TABLE IF NOT EXISTS revision (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    last INTEGER NOT NULL
);
";

/// Brings a database made by an older natterd up to this schema. Each step
/// checks for itself, so running it again changes nothing.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    // account_events gained room_id when operator room changes started
    // reaching running servers.
    let has_room_id: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('account_events') WHERE name = 'room_id'",
        [],
        |r| r.get(0),
    )?;
    if !has_room_id {
        conn.execute_batch("ALTER TABLE account_events ADD COLUMN room_id INTEGER")?;
    }
    // users gained their invitation policy with consent for invitations.
    let has_invites: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('users') WHERE name = 'invites'",
        [],
        |r| r.get(0),
    )?;
    if !has_invites {
        conn.execute_batch("ALTER TABLE users ADD COLUMN invites TEXT NOT NULL DEFAULT 'shared'")?;
        // Names of accounts deleted before names were kept: their messages
        // stay under those names, so the names are reserved now. (Released
        // names, `NAME (deleted)`, have a space and are no account's.)
        conn.execute(
            "INSERT OR IGNORE INTO reserved_names (name, user_id, at)
             SELECT DISTINCT author, 0, ?1 FROM messages
             WHERE author NOT IN (SELECT name FROM users) AND instr(author, ' ') = 0",
            [super::now_ms()],
        )?;
    }
    // users gained display names with profiles.
    let has_display_name: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('users') WHERE name = 'display_name'",
        [],
        |r| r.get(0),
    )?;
    if !has_display_name {
        conn.execute_batch("ALTER TABLE users ADD COLUMN display_name TEXT")?;
    }
    // messages gained replies, threads, edits, deletes and revisions with
    // rich messaging. Existing messages take their id as their revision,
    // and the counter continues above them, so revisions keep increasing.
    let has_rev: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('messages') WHERE name = 'rev'",
        [],
        |r| r.get(0),
    )?;
    if !has_rev {
        conn.execute_batch(
            "ALTER TABLE messages ADD COLUMN reply_to INTEGER;
             ALTER TABLE messages ADD COLUMN thread INTEGER;
             ALTER TABLE messages ADD COLUMN edited_at INTEGER;
             ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
             -- A thread root's summary, kept as replies are posted.
             ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE messages ADD COLUMN last_reply_from TEXT;
             ALTER TABLE messages ADD COLUMN last_reply_ts INTEGER;
             UPDATE messages SET rev = id;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS messages_rev ON messages(room_id, rev);
         CREATE INDEX IF NOT EXISTS messages_thread ON messages(thread, id)
             WHERE thread IS NOT NULL;
         INSERT OR IGNORE INTO revision (only, last)
             SELECT 1, COALESCE(MAX(id), 0) FROM messages;",
    )?;
    // messages gained room-wide attention (`@room`) after rich messaging.
    let has_attention: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('messages') WHERE name = 'attention'",
        [],
        |r| r.get(0),
    )?;
    if !has_attention {
        conn.execute_batch("ALTER TABLE messages ADD COLUMN attention INTEGER NOT NULL DEFAULT 0")?;
    }
    // rooms gained announcement mode and categories.
    let has_announce: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('rooms') WHERE name = 'announce'",
        [],
        |r| r.get(0),
    )?;
    if !has_announce {
        conn.execute_batch(
            "ALTER TABLE rooms ADD COLUMN announce INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE rooms ADD COLUMN category TEXT;",
        )?;
    }
    // users and members gained read receipts and delivery.
    let has_receipts: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('users') WHERE name = 'receipts'",
        [],
        |r| r.get(0),
    )?;
    if !has_receipts {
        conn.execute_batch(
            "ALTER TABLE users ADD COLUMN receipts INTEGER NOT NULL DEFAULT 1;
             ALTER TABLE members ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0;",
        )?;
    }
    // Messages gained a full-text index with search.
    let has_search: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'messages_fts'",
        [],
        |r| r.get(0),
    )?;
    if !has_search {
        conn.execute_batch(SEARCH_INDEX)?;
    }
    // The triggers that index row by row gave way to bulk indexing.
    let bulk: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'messages_fts_update'
         AND sql LIKE '%search_indexed%'",
        [],
        |r| r.get(0),
    )?;
    if !bulk {
        conn.execute_batch(SEARCH_TRIGGERS)?;
    }
    // What a crash (or a stop before the commit path was idle) left
    // unindexed; with its mark, in one transaction.
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    super::search::index_pending(&tx)?;
    tx.commit()?;
    Ok(())
}

/// The full-text index of message bodies (see `search.rs`), how far it
/// goes (`search_indexed`), and the triggers that keep what it holds in
/// step with `messages`.
///
/// External content (`content = messages`): the index holds only tokens,
/// the text stays in `messages`. New messages are indexed in bulk by
/// `search::index_pending` (searches ask for it first); the triggers run
/// inside the transaction that changes a message, but only for messages
/// already indexed (at or below the mark), so an edited one (`UPDATE OF
/// body`) is found by its new text only, and a deleted one (its body
/// emptied) or a purged one not at all. `rebuild` indexes what an older
/// natterd stored. One transaction: a crash halfway leaves no half-built
/// index behind.
///
/// `unicode61 remove_diacritics 2`: case and accents do not matter
/// ("Cafe" finds "café"). No prefix indexes: the query language has no
/// prefix search, and they would double the index.
const SEARCH_INDEX: &str = "
BEGIN IMMEDIATE;
CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(
    body,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
CREATE TABLE IF NOT EXISTS search_indexed (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    upto INTEGER NOT NULL
);
INSERT OR REPLACE INTO search_indexed (only, upto) SELECT 1, COALESCE(MAX(id), 0) FROM messages;
COMMIT;
";

/// The edit and delete triggers, for indexed messages only (see
/// [`SEARCH_INDEX`]). Replaces those of a file whose index was kept row by
/// row, whose insert trigger goes: every row it has is indexed, so the
/// mark starts at the newest.
const SEARCH_TRIGGERS: &str = "
BEGIN IMMEDIATE;
DROP TRIGGER IF EXISTS messages_fts_insert;
CREATE TABLE IF NOT EXISTS search_indexed (
    only INTEGER PRIMARY KEY CHECK (only = 1),
    upto INTEGER NOT NULL
);
INSERT OR IGNORE INTO search_indexed (only, upto) SELECT 1, COALESCE(MAX(id), 0) FROM messages;
DROP TRIGGER IF EXISTS messages_fts_update;
DROP TRIGGER IF EXISTS messages_fts_delete;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
WHEN old.id <= (SELECT upto FROM search_indexed WHERE only = 1) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT upto FROM search_indexed WHERE only = 1) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.id, old.body);
END;
COMMIT;
";
