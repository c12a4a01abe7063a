//! Rooms and access: which room a name means for whom, and who may do
//! what there. The privacy rule lives here, in one place: a room-scoped
//! request from someone who may not see a private room fails exactly as
//! for a room that does not exist.

use super::{
    ErrorCode, ErrorReply, Hub, Role, Room, RoomKind, Target, direct_key, err, no_such_room,
};

impl Hub {
    /// Whether a user is a server admin.
    #[must_use]
    pub fn is_admin(&self, user: i64) -> bool {
        self.users.get(&user).is_some_and(|u| u.admin)
    }

    /// Finds the room `target` names for `viewer`, if `viewer` may know it
    /// exists. `Ok(None)` is a direct conversation not yet started.
    pub(super) fn find(&self, viewer: i64, target: &str) -> Result<Option<i64>, ErrorReply> {
        let parsed = Target::parse(target).map_err(|e| err(ErrorCode::Invalid, e.to_string()))?;
        match parsed {
            Target::Room(name) => {
                let Some(id) = self.room_ids.get(&name).copied() else {
                    return Err(no_such_room(target));
                };
                let room = &self.rooms[&id];
                let visible = room.kind == RoomKind::Public
                    || room.members.contains_key(&viewer)
                    || (room.kind == RoomKind::Private && self.is_admin(viewer));
                if room.kind == RoomKind::Direct || !visible {
                    return Err(no_such_room(target));
                }
                Ok(Some(id))
            }
            Target::Direct(name) => {
                let other = self.peer(viewer, &name)?;
                Ok(self.directs.get(&direct_key(viewer, other)).copied())
            }
        }
    }

    /// The other user of a direct conversation `viewer` names `@name`.
    pub(super) fn peer(&self, viewer: i64, name: &str) -> Result<i64, ErrorReply> {
        let other = self
            .user_ids
            .get(name)
            .copied()
            .ok_or_else(|| err(ErrorCode::NoSuchUser, format!("no such user: {name}")))?;
        if other == viewer {
            return Err(err(ErrorCode::Invalid, "you cannot message yourself"));
        }
        if self.blocks(other, viewer) {
            // As if `name` did not exist: the blocked user is not told.
            return Err(err(ErrorCode::NoSuchUser, format!("no such user: {name}")));
        }
        Ok(other)
    }

    /// The room, which `viewer` must be a member of.
    pub(super) fn member_room(&self, viewer: i64, target: &str) -> Result<&Room, ErrorReply> {
        let id = self
            .find(viewer, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        if room.members.contains_key(&viewer) {
            Ok(room)
        } else if room.kind == RoomKind::Public || self.is_admin(viewer) {
            Err(err(
                ErrorCode::NotMember,
                format!("you are not in {target}; join it first"),
            ))
        } else {
            Err(no_such_room(target))
        }
    }

    /// The rooms a search by `session` looks in, each with its name as the
    /// searcher sees it (`#name`, `@other`): the one `target` names, or
    /// every room they are a member of now. Public rooms they have not
    /// joined, other people's conversations and rooms they left or were
    /// banned from are not among them.
    ///
    /// # Errors
    /// `not_logged_in`; for `target`, what history says of it (a room they
    /// may not see is `no_such_room`, exactly as a missing one).
    pub fn search_scope(
        &self,
        session: u64,
        target: Option<&str>,
    ) -> Result<(i64, Vec<(i64, String)>), ErrorReply> {
        let user = self.logged_in(session)?;
        let rooms = match target {
            Some(target) => {
                if self.find(user, target)?.is_none() {
                    // A direct conversation not started has nothing to find.
                    return Ok((user, Vec::new()));
                }
                let room = self.member_room(user, target)?;
                vec![(room.id, self.display(room, user))]
            }
            None => self.users.get(&user).map_or_else(Vec::new, |u| {
                u.rooms
                    .iter()
                    .filter_map(|id| self.rooms.get(id))
                    .filter(|room| room.members.contains_key(&user))
                    .map(|room| (room.id, self.display(room, user)))
                    .collect()
            }),
        };
        Ok((user, rooms))
    }

    /// The other user of a `@user` target (for creating a conversation).
    pub fn direct_peer(&self, viewer: i64, target: &str) -> Result<Option<i64>, ErrorReply> {
        match Target::parse(target) {
            Ok(Target::Direct(name)) => self.peer(viewer, &name).map(Some),
            _ => Ok(None),
        }
    }

    /// For `Join @user`: the peer, when the conversation does not exist yet.
    pub fn direct_peer_id(&self, session: u64, target: &str) -> Result<Option<i64>, ErrorReply> {
        let user = self.logged_in(session)?;
        match self.direct_peer(user, target)? {
            Some(peer) if !self.directs.contains_key(&direct_key(user, peer)) => {
                // Opening one with someone you block would tell them.
                let name = self.user_name(peer);
                self.check_direct(user, peer, &name)?;
                Ok(Some(peer))
            }
            _ => Ok(None),
        }
    }

    /// Whether a user is a member of a loaded room.
    #[must_use]
    pub fn is_member(&self, room: i64, user: i64) -> bool {
        self.rooms
            .get(&room)
            .is_some_and(|r| r.members.contains_key(&user))
    }

    pub(super) fn logged_in(&self, session: u64) -> Result<i64, ErrorReply> {
        self.session_user(session)
            .ok_or_else(|| err(ErrorCode::NotLoggedIn, "log in first"))
    }

    /// The acting user's authority in a room: their role, or `None` if they
    /// are an admin without membership. Fails if they may not moderate.
    pub(super) fn moderator(
        &self,
        user: i64,
        target: &str,
    ) -> Result<(i64, Option<Role>), ErrorReply> {
        let id = self
            .find(user, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        if room.kind == RoomKind::Direct {
            return Err(err(
                ErrorCode::Invalid,
                "direct conversations have no moderation",
            ));
        }
        if self.is_admin(user) {
            return Ok((id, room.members.get(&user).map(|m| m.role)));
        }
        let room = self.member_room(user, target)?;
        let role = room.members[&user].role;
        if role < Role::Moderator {
            return Err(err(
                ErrorCode::Forbidden,
                format!("only moderators and owners of {target} can do that"),
            ));
        }
        Ok((id, Some(role)))
    }

    /// Whether `actor` outranks `target` in a room (admins outrank all).
    pub(super) fn outranks(&self, room: i64, actor: i64, target: i64) -> bool {
        if self.is_admin(actor) {
            return true;
        }
        if self.is_admin(target) {
            return false;
        }
        let r = &self.rooms[&room];
        let a = r.members.get(&actor).map_or(Role::Member, |m| m.role);
        let t = r.members.get(&target).map_or(Role::Member, |m| m.role);
        a > t
    }
}

#[cfg(test)]
mod tests {
    use natter_shared::{ErrorCode, Role, RoomKind};

    use crate::hub::testkit::*;

    #[test]
    fn a_private_room_is_indistinguishable_from_a_missing_one_for_outsiders() {
        let mut hub = hub(100);
        room(
            &mut hub,
            2,
            "secret",
            RoomKind::Private,
            &[(1, "ann", Role::Owner)],
        );
        room(
            &mut hub,
            3,
            "open",
            RoomKind::Public,
            &[(1, "ann", Role::Owner)],
        );
        login(&mut hub, 10, 1, "ann");
        login(&mut hub, 20, 2, "bob");
        let secret = hub.members(20, "#secret").unwrap_err();
        let missing = hub.members(20, "#nowhere").unwrap_err();
        assert_eq!(secret.code, ErrorCode::NoSuchRoom);
        assert_eq!(
            secret.message.replace("#secret", "#X"),
            missing.message.replace("#nowhere", "#X")
        );
        // A public room says you are not in it; a member sees the room.
        assert_eq!(
            hub.members(20, "#open").unwrap_err().code,
            ErrorCode::NotMember
        );
        assert!(hub.members(10, "#secret").is_ok());
        // A direct conversation's stored name is no room name to anyone.
        assert_eq!(hub.find(1, "#secret").unwrap(), Some(2));
        assert!(hub.find(2, "#secret").is_err());
    }

    #[test]
    fn only_moderators_moderate_and_nobody_outranks_an_owner() {
        let mut hub = hub(100);
        room(
            &mut hub,
            2,
            "ops",
            RoomKind::Public,
            &[
                (1, "ann", Role::Owner),
                (2, "bob", Role::Moderator),
                (3, "cy", Role::Member),
            ],
        );
        assert!(hub.moderator(3, "#ops").is_err());
        assert_eq!(
            hub.moderator(2, "#ops").unwrap(),
            (2, Some(Role::Moderator))
        );
        assert!(hub.outranks(2, 2, 3));
        assert!(!hub.outranks(2, 2, 1));
        assert!(!hub.outranks(2, 3, 2));
    }
}
