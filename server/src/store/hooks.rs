//! Webhooks and bot accounts in the store: the `hooks` table (incoming
//! hooks with the hash of their secret token), and the `bot` mark on
//! accounts.
//!
//! An incoming hook posts as a bot account that is a member of its room;
//! `natterd hook add` creates the bot when it does not exist. Only the
//! SHA-256 of a hook's token is kept, as for session tokens: a copy of the
//! database does not let anyone post.

use rusqlite::{Connection, OptionalExtension, params};

use super::operator::OperatorStore;
use super::sql::{self, AccountEventKind, RoomRow, UserRow};
use super::{Store, StoreError, now_ms};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS hooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'in': POSTed to, posts into the room; 'out': the room's messages
    -- are POSTed to `url`.
    kind TEXT NOT NULL,
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    -- The bot account the hook posts as (an outgoing hook's replies).
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    bot TEXT NOT NULL,
    -- Incoming: the hash of the URL's secret token.
    token_hash TEXT UNIQUE,
    -- Outgoing: where to, which messages (none of these: every one), and
    -- the HMAC-SHA256 key that signs each POST.
    url TEXT,
    trigger TEXT,
    mentions INTEGER NOT NULL DEFAULT 0,
    secret TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS hooks_room ON hooks(room_id, kind);
-- Messages waiting to be POSTed by outgoing hooks: queued by the trigger
-- below in the message's own transaction, so a message committed is a
-- message delivered, across crashes and restarts.
CREATE TABLE IF NOT EXISTS hook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id INTEGER NOT NULL REFERENCES hooks(id) ON DELETE CASCADE,
    message_id INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    -- Given up after `http.outgoing_max_attempts`; kept for the operator.
    failed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS hook_queue_due ON hook_queue(failed, next_at);
-- The WHEN clause is one index probe per message: rooms without an
-- outgoing hook pay nothing more. Mentions are found roughly here and
-- checked exactly before the POST.
CREATE TRIGGER IF NOT EXISTS messages_out_hooks AFTER INSERT ON messages
WHEN EXISTS (SELECT 1 FROM hooks WHERE room_id = NEW.room_id AND kind = 'out')
BEGIN
    INSERT INTO hook_queue (hook_id, message_id, next_at)
    SELECT id, NEW.id, NEW.ts FROM hooks
    WHERE room_id = NEW.room_id AND kind = 'out' AND NEW.author != bot
      AND ((trigger IS NULL AND mentions = 0)
        OR (trigger IS NOT NULL AND substr(NEW.body, 1, length(trigger)) = trigger)
        OR (mentions = 1 AND instr(lower(NEW.body), bot) > 0));
END;
";

/// Adds what older databases lack: the `bot` mark on accounts, and
/// tokens' expiry and label (API tokens have a label; session tokens none).
pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let has_expiry: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('tokens') WHERE name = 'expires_at'",
        [],
        |r| r.get(0),
    )?;
    if !has_expiry {
        conn.execute_batch(
            "ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
             ALTER TABLE tokens ADD COLUMN label TEXT;",
        )?;
    }
    let has_bot: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM pragma_table_info('users') WHERE name = 'bot'",
        [],
        |r| r.get(0),
    )?;
    if !has_bot {
        conn.execute_batch("ALTER TABLE users ADD COLUMN bot INTEGER NOT NULL DEFAULT 0")?;
    }
    Ok(())
}

/// The stored form of a bot's password: no argon2 hash parses as it, so
/// no password logs in as the bot. Bots post through hooks and tokens.
pub const NO_PASSWORD: &str = "!bot";

/// An API token as the operator lists it (never the token itself).
#[derive(Debug, Clone)]
pub struct ApiToken {
    /// What `natterd token revoke` takes.
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// An incoming hook as the operator lists it.
#[derive(Debug, Clone)]
pub struct HookRow {
    pub id: i64,
    pub room: String,
    pub bot: String,
    pub created_at: i64,
    /// `None` for an incoming hook.
    pub outgoing: Option<OutgoingRow>,
}

/// An outgoing hook's settings and its queue, as the operator lists them
/// (never its secret).
#[derive(Debug, Clone)]
pub struct OutgoingRow {
    pub url: String,
    pub trigger: Option<String>,
    pub mentions: bool,
    /// Messages waiting to be POSTed.
    pub pending: i64,
    /// Messages given up on.
    pub failed: i64,
}

/// What an incoming hook's token unlocks: who posts, and where.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub hook_id: i64,
    pub user: UserRow,
    pub room_id: i64,
    pub room: String,
}

/// Whether an account is a bot.
pub fn is_bot(conn: &Connection, user_id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT bot FROM users WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(false))
}

/// The ids of every bot account.
pub fn bot_ids(conn: &Connection) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare("SELECT id FROM users WHERE bot = 1")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// The names of every bot account.
pub fn bot_names(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("SELECT name FROM users WHERE bot = 1 ORDER BY name")?;
    let names = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(names)
}

fn hook_target(conn: &Connection, token_hash: &str) -> Result<Option<HookTarget>, StoreError> {
    let found: Option<(i64, i64, i64, String)> = conn
        .query_row(
            "SELECT h.id, h.user_id, r.id, r.name FROM hooks h JOIN rooms r ON r.id = h.room_id
             WHERE h.token_hash = ?1 AND h.kind = 'in'",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((hook_id, user_id, room_id, room)) = found else {
        return Ok(None);
    };
    let Some(user) = sql::user_by_id(conn, user_id)? else {
        return Ok(None);
    };
    Ok(Some(HookTarget {
        hook_id,
        user,
        room_id,
        room: format!("#{room}"),
    }))
}

/// What an outgoing hook is made of (see
/// [`OperatorStore::add_outgoing_hook`]).
#[derive(Debug, Clone)]
pub struct NewOutgoing<'a> {
    pub url: &'a str,
    pub trigger: Option<&'a str>,
    pub mentions: bool,
    pub secret: &'a str,
}

/// Makes `bot` a member of `room` if it is not one, for a running server
/// to follow.
fn add_member(c: &Connection, room: &RoomRow, bot: &UserRow) -> Result<(), StoreError> {
    if sql::room_members(c, room.id)?
        .iter()
        .any(|m| m.user_id == bot.id)
    {
        return Ok(());
    }
    sql::upsert_member(c, room.id, bot.id, natter_shared::Role::Member)?;
    sql::insert_account_event(
        c,
        bot.id,
        AccountEventKind::MemberAdded,
        None,
        Some(room.id),
    )
}

/// A message an outgoing hook is to POST, with what the POST needs.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The queue row.
    pub id: i64,
    pub attempts: u32,
    pub hook_id: i64,
    pub url: String,
    pub secret: String,
    /// The bot replies are posted as, and whose mention `mentions` wants.
    pub bot: UserRow,
    pub mentions: bool,
    pub trigger: Option<String>,
    /// The message; `None` when it is gone (deleted, past retention).
    pub message: Option<QueuedMessage>,
}

/// The message in a delivery.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: i64,
    pub ts: i64,
    /// `#room`.
    pub room: String,
    pub from: String,
    pub body: String,
}

fn due(conn: &Connection, now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.id, q.attempts, h.id, h.url, h.secret, h.user_id, h.mentions, h.trigger,
                m.id, m.ts, r.name, m.author, m.body, m.deleted
         FROM hook_queue q JOIN hooks h ON h.id = q.hook_id
         JOIN rooms r ON r.id = h.room_id
         LEFT JOIN messages m ON m.id = q.message_id
         WHERE q.failed = 0 AND q.next_at <= ?1
         ORDER BY q.id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit], |r| {
            let message = match r.get::<_, Option<i64>>(8)? {
                Some(id) if !r.get::<_, bool>(13)? => Some(QueuedMessage {
                    id,
                    ts: r.get(9)?,
                    room: format!("#{}", r.get::<_, String>(10)?),
                    from: r.get(11)?,
                    body: r.get(12)?,
                }),
                _ => None,
            };
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                r.get::<_, i64>(5)?,
                r.get::<_, bool>(6)?,
                r.get::<_, Option<String>>(7)?,
                message,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, attempts, hook_id, url, secret, user_id, mentions, trigger, message) in rows {
        let Some(bot) = sql::user_by_id(conn, user_id)? else {
            continue;
        };
        out.push(Delivery {
            id,
            attempts,
            hook_id,
            url,
            secret,
            bot,
            mentions,
            trigger,
            message,
        });
    }
    Ok(out)
}

impl Store {
    /// Whether an account is a bot (for one the admin CLI just made).
    pub async fn is_bot(&self, user_id: i64) -> Result<bool, StoreError> {
        self.read(move |c| is_bot(c, user_id)).await
    }

    /// Up to `limit` queued deliveries that are due at `now` (ms), oldest
    /// first.
    pub async fn due_deliveries(&self, now: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        self.read(move |c| due(c, now, limit)).await
    }

    /// A delivery is done (POSTed, or its message is gone).
    pub async fn delivery_done(&self, id: i64) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute("DELETE FROM hook_queue WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// A delivery failed: try again at `next_at` (ms), or give up on it
    /// (`failed`), keeping the reason.
    pub async fn delivery_failed(
        &self,
        id: i64,
        next_at: i64,
        error: String,
        failed: bool,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                "UPDATE hook_queue SET attempts = attempts + 1, next_at = ?2, last_error = ?3,
                 failed = ?4 WHERE id = ?1",
                params![id, next_at, error, failed],
            )?;
            Ok(())
        })
        .await
    }

    /// The hook a token opens, if any (the token as given; its hash is
    /// looked up).
    pub async fn hook_by_token(&self, token: &str) -> Result<Option<HookTarget>, StoreError> {
        let hash = crate::auth::hash_token(token);
        self.read(move |c| hook_target(c, &hash)).await
    }
}

impl OperatorStore {
    /// Marks `name` a bot, creating the account (with no usable
    /// password) when it does not exist. Returns the account and whether
    /// it was created.
    pub fn ensure_bot(&mut self, name: &str) -> Result<(UserRow, bool), StoreError> {
        if let Some(user) = self.user(name)? {
            if !is_bot(&self.conn, user.id)? {
                return Err(StoreError::UserExists(name.to_owned()));
            }
            return Ok((user, false));
        }
        self.audited("user.add", name, "", "bot", |c| {
            let id = sql::insert_user(c, name, NO_PASSWORD, false)?;
            c.execute("UPDATE users SET bot = 1 WHERE id = ?1", [id])?;
            sql::insert_account_event(c, id, AccountEventKind::UserAdded, None, None)
        })?;
        let user = self
            .user(name)?
            .ok_or_else(|| StoreError::UserExists(name.to_owned()))?;
        Ok((user, true))
    }

    /// Marks an existing account a bot (or not).
    pub fn set_bot(&mut self, user: &UserRow, bot: bool) -> Result<(), StoreError> {
        let detail = if bot { "bot" } else { "not a bot" };
        self.audited("user.bot", &user.name, "", detail, |c| {
            c.execute(
                "UPDATE users SET bot = ?2 WHERE id = ?1",
                params![user.id, bot],
            )?;
            Ok(())
        })
    }

    /// Whether an account is a bot.
    pub fn is_bot(&self, user: &UserRow) -> Result<bool, StoreError> {
        is_bot(&self.conn, user.id)
    }

    /// The names of every bot account.
    pub fn bots(&self) -> Result<Vec<String>, StoreError> {
        bot_names(&self.conn)
    }

    /// Stores an API token's hash for `user`, labelled, expiring at
    /// `expires_at` (ms) if given. Returns its id.
    pub fn add_api_token(
        &mut self,
        user: &UserRow,
        token_hash: &str,
        label: &str,
        expires_at: Option<i64>,
    ) -> Result<i64, StoreError> {
        let detail = expires_at.map_or_else(
            || format!("{label}, no expiry"),
            |t| format!("{label}, expires {t}"),
        );
        self.audited("token.create", &user.name, "", &detail, |c| {
            c.execute(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at, label)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![token_hash, user.id, now_ms(), expires_at, label],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Every API token, by account then age.
    pub fn api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT t.rowid, u.name, t.label, t.created_at, t.expires_at FROM tokens t
             JOIN users u ON u.id = t.user_id WHERE t.label IS NOT NULL
             ORDER BY u.name, t.rowid",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ApiToken {
                    id: r.get(0)?,
                    user: r.get(1)?,
                    label: r.get(2)?,
                    created_at: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Revokes API token `id`; false when there was none. No new login
    /// takes it, and a running server ends the sessions it opened.
    pub fn revoke_api_token(&mut self, id: i64) -> Result<bool, StoreError> {
        let Some(token) = self.api_tokens()?.into_iter().find(|t| t.id == id) else {
            return Ok(false);
        };
        self.audited("token.revoke", &token.user, "", &token.label, |c| {
            let user: i64 =
                c.query_row("SELECT user_id FROM tokens WHERE rowid = ?1", [id], |r| {
                    r.get(0)
                })?;
            c.execute("DELETE FROM tokens WHERE rowid = ?1", [id])?;
            sql::insert_account_event(c, user, AccountEventKind::TokenRevoked, None, None)?;
            Ok(true)
        })
    }

    /// Adds an incoming hook posting as `bot` in `room`, making the bot a
    /// member. Returns the hook's id.
    pub fn add_hook(
        &mut self,
        room: &RoomRow,
        bot: &UserRow,
        token_hash: &str,
    ) -> Result<i64, StoreError> {
        let room_name = format!("#{}", room.name);
        self.audited("hook.add", &bot.name, &room_name, "incoming", |c| {
            c.execute(
                "INSERT INTO hooks (kind, room_id, user_id, bot, token_hash, created_at)
                 VALUES ('in', ?1, ?2, ?3, ?4, ?5)",
                params![room.id, bot.id, bot.name, token_hash, now_ms()],
            )?;
            let id = c.last_insert_rowid();
            add_member(c, room, bot)?;
            Ok(id)
        })
    }

    /// Adds an outgoing hook: messages in `room` that match (`trigger`
    /// as their start, or a mention of `bot` with `mentions`; every one
    /// with neither) are POSTed to `url`, signed with `secret`; replies
    /// are posted back as `bot`, which is made a member.
    pub fn add_outgoing_hook(
        &mut self,
        room: &RoomRow,
        bot: &UserRow,
        out: &NewOutgoing<'_>,
    ) -> Result<i64, StoreError> {
        let room_name = format!("#{}", room.name);
        self.audited("hook.add", &bot.name, &room_name, &format!("outgoing to {}", out.url), |c| {
            c.execute(
                "INSERT INTO hooks (kind, room_id, user_id, bot, url, trigger, mentions, secret, created_at)
                 VALUES ('out', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    room.id,
                    bot.id,
                    bot.name,
                    out.url,
                    out.trigger,
                    out.mentions,
                    out.secret,
                    now_ms()
                ],
            )?;
            let id = c.last_insert_rowid();
            add_member(c, room, bot)?;
            Ok(id)
        })
    }

    /// Every hook, oldest first.
    pub fn hooks(&self) -> Result<Vec<HookRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.id, r.name, h.bot, h.created_at, h.kind, h.url, h.trigger, h.mentions,
                    (SELECT COUNT(*) FROM hook_queue q WHERE q.hook_id = h.id AND q.failed = 0),
                    (SELECT COUNT(*) FROM hook_queue q WHERE q.hook_id = h.id AND q.failed = 1)
             FROM hooks h JOIN rooms r ON r.id = h.room_id
             ORDER BY h.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let outgoing = r.get::<_, String>(4)? == "out";
                Ok(HookRow {
                    id: r.get(0)?,
                    room: format!("#{}", r.get::<_, String>(1)?),
                    bot: r.get(2)?,
                    created_at: r.get(3)?,
                    outgoing: outgoing
                        .then(|| -> rusqlite::Result<OutgoingRow> {
                            Ok(OutgoingRow {
                                url: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                                trigger: r.get(6)?,
                                mentions: r.get(7)?,
                                pending: r.get(8)?,
                                failed: r.get(9)?,
                            })
                        })
                        .transpose()?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Deletes hook `id`; false when there was none. Its URL stops working
    /// at once (each request looks the token up).
    pub fn delete_hook(&mut self, id: i64) -> Result<bool, StoreError> {
        let Some(hook) = self.hooks()?.into_iter().find(|h| h.id == id) else {
            return Ok(false);
        };
        self.audited("hook.del", &hook.bot, &hook.room, &id.to_string(), |c| {
            c.execute("DELETE FROM hooks WHERE id = ?1", [id])?;
            Ok(true)
        })
    }
}
