//! What the rest of the server hands the store and gets back from it, as
//! plain values: the changes that must persist in order with messages
//! ([`StoreChange`]), a room as loaded at start-up or on demand
//! ([`RoomSnapshot`]), and the changes to messages the commit path reports
//! ([`MessageChange`], in [`Applied`] steps).

use std::collections::HashMap;
use std::sync::Arc;

use natter_shared::{MessageId, Rev, Role};
use rusqlite::Connection;

use super::sql::{
    MemberRow, RoomRow, messages_before, room_bans, room_members, room_unread_counts,
};
use super::{Committed, StoreError, StoredMessage};

/// A room as loaded from the store, ready to install.
#[derive(Debug)]
pub struct RoomSnapshot {
    pub row: RoomRow,
    pub members: Vec<MemberRow>,
    pub bans: Vec<i64>,
    pub recent: Vec<StoredMessage>,
    pub floor: MessageId,
    /// (user id -> unread, mentions) for members whose marker is older than
    /// the ring.
    pub far_counts: HashMap<i64, (u32, u32)>,
    /// The room's highest revision.
    pub last_rev: Rev,
}

/// One step of a committed batch, in commit (and so revision) order.
#[derive(Debug)]
pub enum Applied {
    /// New messages.
    Messages(Committed),
    /// A message changed (boxed: a message is much larger than a batch's
    /// handle).
    Change(Box<MessageChange>),
}

/// A message a committed job changed: the message as it is now, and what
/// happened to it.
#[derive(Debug, Clone)]
pub struct MessageChange {
    pub message: StoredMessage,
    pub kind: ChangeKind,
}

/// What happened to a changed message.
#[derive(Debug, Clone)]
pub enum ChangeKind {
    /// Its author gave it a new body.
    Edited,
    /// Deleted by `by` (its author or a moderator).
    Deleted { by: Arc<str> },
    /// `user` added (`on`) or removed reaction `key`.
    Reaction {
        key: String,
        user: Arc<str>,
        on: bool,
    },
}

/// Loads one room with its members, bans, newest messages and each
/// member's unread counts.
pub fn load_room(conn: &Connection, row: RoomRow, cap: usize) -> Result<RoomSnapshot, StoreError> {
    let members = room_members(conn, row.id)?;
    let bans = room_bans(conn, row.id)?;
    let last_rev = super::rich::room_rev(conn, row.id)?;
    let mut recent = messages_before(conn, row.id, None, cap + 1, true)?;
    let floor = if recent.len() > cap {
        recent.remove(0).id
    } else {
        0
    };
    super::rich::add_room_reactions(conn, row.id, &mut recent)?;
    super::files::add_attachments(conn, &mut recent)?;
    let far: Vec<_> = members
        .iter()
        .filter(|m| m.last_read < floor)
        .map(|m| (m.user_id, m.user_name.as_str(), m.last_read))
        .collect();
    let far_counts = room_unread_counts(conn, row.id, &far)?;
    Ok(RoomSnapshot {
        row,
        members,
        bans,
        recent,
        floor,
        far_counts,
        last_rev,
    })
}

/// A change the hub made that the store must persist. Applied in order on
/// the store's writer thread; nobody waits for it.
#[derive(Debug, Clone)]
pub enum StoreChange {
    /// A new membership, read up to `last_read`.
    Join {
        room: i64,
        user: i64,
        role: Role,
        last_read: MessageId,
    },
    /// A role change.
    Member {
        room: i64,
        user: i64,
        role: Role,
    },
    Unmember {
        room: i64,
        user: i64,
    },
    Remove {
        room: i64,
        user: i64,
        ban: bool,
    },
    Unban {
        room: i64,
        user: i64,
    },
    Topic {
        room: i64,
        topic: String,
    },
    /// A room's modes, as they are now.
    Mode {
        room: i64,
        announce: bool,
        category: Option<String>,
    },
    Read {
        room: i64,
        user: i64,
        id: MessageId,
    },
    /// A member's client received a direct conversation up to `id`.
    Delivered {
        room: i64,
        user: i64,
        id: MessageId,
    },
    /// A user shares their read receipts, or stopped.
    Receipts {
        user: i64,
        share: bool,
    },
    /// A display name set (or cleared, `None`).
    Profile {
        user: i64,
        display_name: Option<String>,
    },
}

impl StoreChange {
    /// Applies the change to the database.
    pub fn apply(&self, conn: &Connection) -> Result<(), StoreError> {
        use super::sql as s;
        match self {
            StoreChange::Join {
                room,
                user,
                role,
                last_read,
            } => {
                s::upsert_member(conn, *room, *user, *role)?;
                s::set_last_read(conn, *room, *user, *last_read)
            }
            StoreChange::Member { room, user, role } => s::upsert_member(conn, *room, *user, *role),
            StoreChange::Unmember { room, user } => s::delete_member(conn, *room, *user),
            StoreChange::Remove { room, user, ban } => {
                s::delete_member(conn, *room, *user)?;
                if *ban {
                    s::set_ban(conn, *room, *user, true)?;
                }
                Ok(())
            }
            StoreChange::Unban { room, user } => s::set_ban(conn, *room, *user, false),
            StoreChange::Topic { room, topic } => s::set_topic(conn, *room, topic),
            StoreChange::Mode {
                room,
                announce,
                category,
            } => s::set_mode(conn, *room, *announce, category.as_deref()),
            StoreChange::Read { room, user, id } => s::set_last_read(conn, *room, *user, *id),
            StoreChange::Delivered { room, user, id } => {
                super::receipts::set_delivered(conn, *room, *user, *id)
            }
            StoreChange::Receipts { user, share } => {
                super::receipts::set_sharing(conn, *user, *share)
            }
            StoreChange::Profile { user, display_name } => {
                super::profile::set_display_name(conn, *user, display_name.as_deref())
            }
        }
    }
}
