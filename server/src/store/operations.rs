//! The store's named operations: everything the rest of the server asks of
//! durable state, each a method of [`Store`], so no caller writes SQL or
//! sees a database connection. Writes go through the ordered commit path
//! (the writer thread); reads that must not wait behind writes use the
//! reader connection. A second store (PostgreSQL) goes behind these same
//! methods.

use natter_shared::{MessageId, Role, RoomKind};

use super::sql::{self, AccountEvent, AuditEntry, MemberRow, UserRow};
use super::{RoomSnapshot, Store, StoreError, StoredMessage, load_room};

/// Everything loaded at start-up.
#[derive(Debug)]
pub struct Startup {
    pub rooms: Vec<RoomSnapshot>,
    /// Messages stored in all rooms.
    pub messages: u64,
    /// The newest `account_events` row, already acted on by definition.
    pub last_account_event: i64,
    /// Every block.
    pub blocks: Vec<super::safety::BlockRow>,
    /// Every account with a display name.
    pub profiles: Vec<super::profile::ProfileRow>,
    /// The accounts that do not share read receipts.
    pub receipts_off: Vec<i64>,
    /// The bot accounts.
    pub bots: Vec<i64>,
}

/// What a login must bring into memory: rooms not loaded yet, and
/// memberships of loaded rooms with their unread counts.
#[derive(Debug, Default)]
pub struct Missing {
    pub rooms: Vec<RoomSnapshot>,
    pub members: Vec<(MemberRow, (u32, u32))>,
}

impl Store {
    /// Every room with its members, bans and newest `cap` messages, and the
    /// counters the hub starts from (start-up only: runs on this thread).
    pub fn load_all(&self, cap: usize) -> Result<Startup, StoreError> {
        self.read_now(|c| {
            // One snapshot, and the newest change read first: a change the
            // admin CLI commits while this loads is then either in the
            // rooms read here or after the event id, so the server follows
            // it; never missed between the two reads. Following one twice
            // changes nothing.
            let tx = c.unchecked_transaction()?;
            let last_account_event = sql::last_account_event(&tx)?;
            let rooms = sql::all_rooms(&tx)?
                .into_iter()
                .map(|row| load_room(&tx, row, cap))
                .collect::<Result<Vec<_>, _>>()?;
            let messages = sql::message_count(&tx)?;
            let blocks = super::safety::all_blocks(&tx)?;
            let profiles = super::profile::all_profiles(&tx)?;
            let receipts_off = super::receipts::receipts_off(&tx)?;
            let bots = super::hooks::bot_ids(&tx)?;
            tx.finish()?;
            Ok(Startup {
                rooms,
                messages,
                last_account_event,
                blocks,
                profiles,
                receipts_off,
                bots,
            })
        })
    }

    /// One room as the hub installs it, if it exists.
    pub async fn room(&self, room_id: i64, cap: usize) -> Result<Option<RoomSnapshot>, StoreError> {
        self.read(move |c| {
            sql::room_by_id(c, room_id)?
                .map(|row| load_room(c, row, cap))
                .transpose()
        })
        .await
    }

    /// A room's row alone (name, kind, topic, modes).
    pub async fn room_row(&self, room_id: i64) -> Result<Option<super::RoomRow>, StoreError> {
        self.read(move |c| sql::room_by_id(c, room_id)).await
    }

    /// A user by (normalised) name.
    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| sql::user_by_name(c, &name)).await
    }

    /// Whether `name` is an account's, or a deleted account's kept from
    /// reuse: registration asks before it spends a hash.
    pub async fn name_taken(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(sql::user_by_name(c, &name)?.is_some() || sql::name_reserved(c, &name)?)
        })
        .await
    }

    /// The user a session token (by its hash) belongs to.
    /// A session token older than `session_days` (when not 0) has
    /// expired; an API token expires at its own time.
    pub async fn token_owner(
        &self,
        token_hash: &str,
        session_days: u32,
    ) -> Result<Option<i64>, StoreError> {
        let hash = token_hash.to_owned();
        self.read(move |c| sql::token_user(c, &hash, session_days))
            .await
    }

    /// Stores a session token's hash (the oldest beyond the limit go).
    pub async fn add_token(&self, user_id: i64, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_owned();
        self.write(move |c| sql::insert_token(c, user_id, &hash))
            .await
    }

    /// Revokes a session token.
    pub async fn revoke_token(&self, token_hash: &str) -> Result<(), StoreError> {
        let hash = token_hash.to_owned();
        self.write(move |c| sql::delete_token(c, &hash)).await
    }

    /// Creates an account (a member of `#general`) and returns it.
    pub async fn create_user(&self, name: &str, pw_hash: String) -> Result<UserRow, StoreError> {
        let name = name.to_owned();
        self.write(move |c| {
            sql::insert_user(c, &name, &pw_hash, false)?;
            sql::user_by_name(c, &name)?.ok_or(StoreError::RolledBack)
        })
        .await
    }

    /// Replaces a password: every token is revoked (the other sessions end,
    /// `spare_session` aside), `new_token_hash` is issued, and the change is
    /// audited, all in one job.
    pub async fn change_password(
        &self,
        user_id: i64,
        pw_hash: String,
        spare_session: u64,
        new_token_hash: Option<String>,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            sql::set_password(c, user_id, &pw_hash, Some(spare_session))?;
            if let Some(h) = &new_token_hash {
                sql::insert_token(c, user_id, h)?;
            }
            sql::insert_audit(c, &audit)
        })
        .await
    }

    /// A user's memberships, read through the writer so that changes queued
    /// before (a kick, a ban) are applied.
    pub async fn memberships_in_order(&self, user_id: i64) -> Result<Vec<MemberRow>, StoreError> {
        self.write(move |c| sql::user_memberships(c, user_id)).await
    }

    /// A user's memberships.
    pub async fn memberships(&self, user_id: i64) -> Result<Vec<MemberRow>, StoreError> {
        self.read(move |c| sql::user_memberships(c, user_id)).await
    }

    /// Loads what a login needs that the hub lacks: for each membership,
    /// its room (when `loaded` is false) or its unread counts.
    pub async fn load_missing(
        &self,
        wanted: Vec<(bool, MemberRow)>,
        cap: usize,
    ) -> Result<Missing, StoreError> {
        self.read(move |c| {
            let mut out = Missing::default();
            for (loaded, m) in wanted {
                if loaded {
                    let counts = sql::unread_counts(c, m.room_id, &m.user_name, m.last_read)?;
                    out.members.push((m, counts));
                } else if let Some(room) = sql::room_by_id(c, m.room_id)? {
                    out.rooms.push(load_room(c, room, cap)?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Creates a room with its owner and returns its id.
    pub async fn create_room(
        &self,
        name: &str,
        kind: RoomKind,
        owner: i64,
    ) -> Result<i64, StoreError> {
        let name = name.to_owned();
        self.write(move |c| {
            let room_id = sql::insert_room(c, &name, kind)?;
            sql::upsert_member(c, room_id, owner, Role::Owner)?;
            Ok(room_id)
        })
        .await
    }

    /// The direct conversation `name` between `a` and `b`, created if new.
    pub async fn open_direct(&self, name: &str, a: i64, b: i64) -> Result<i64, StoreError> {
        let name = name.to_owned();
        self.write(move |c| {
            if let Some(r) = sql::room_by_name(c, &name)? {
                return Ok(r.id);
            }
            let id = sql::insert_room(c, &name, RoomKind::Direct)?;
            sql::upsert_member(c, id, a, Role::Member)?;
            sql::upsert_member(c, id, b, Role::Member)?;
            Ok(id)
        })
        .await
    }

    /// Up to `limit` messages of a room after `after`, or before `before`
    /// (the newest when neither), oldest first, as they are now, leaving
    /// out thread replies; and the room's highest revision, read first.
    pub async fn messages(
        &self,
        room_id: i64,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<(Vec<StoredMessage>, natter_shared::Rev), StoreError> {
        self.read(move |c| {
            let rev = super::rich::room_rev(c, room_id)?;
            let mut rows = match after {
                Some(a) => sql::messages_after(c, room_id, a, limit, false),
                None => sql::messages_before(c, room_id, before, limit, false),
            }?;
            super::rich::add_room_reactions(c, room_id, &mut rows)?;
            super::files::add_attachments(c, &mut rows)?;
            Ok((rows, rev))
        })
        .await
    }

    /// Unread and mention counts for `user` after `after` in a room.
    pub async fn unread_counts(
        &self,
        room_id: i64,
        user: &str,
        after: MessageId,
    ) -> Result<(u32, u32), StoreError> {
        let user = user.to_owned();
        self.read(move |c| sql::unread_counts(c, room_id, &user, after))
            .await
    }

    /// Changes made by other processes (the admin CLI) after `after`.
    /// The newest account event's id: read before a login checks its
    /// credential, so that the events a session must answer to are exactly
    /// the later ones (see `Hub::end_sessions`).
    pub async fn last_account_event(&self) -> Result<i64, StoreError> {
        self.read(sql::last_account_event).await
    }

    pub async fn account_events_after(&self, after: i64) -> Result<Vec<AccountEvent>, StoreError> {
        self.read(move |c| sql::account_events_after(c, after))
            .await
    }
}
