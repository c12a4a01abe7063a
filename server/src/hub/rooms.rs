//! Room membership and moderation in memory: joining, leaving, creating,
//! inviting, kicks and bans, roles, topics, member lists; and following
//! rooms and memberships that the admin CLI stored. Each change returns
//! what the store must persist ([`StoreChange`]) and announces itself.

use super::{
    ErrorCode, ErrorReply, Event, Hub, IdSet, LeaveKind, Member, MemberRow, Membership,
    PresenceState, Reply, Response, Role, Room, RoomKind, RoomListing, RoomSnapshot, RoomState,
    StoreChange, Target, VecDeque, direct_key, err, event, no_such_room, rank, ring_counts,
};

impl Hub {
    /// Installs a newly created direct conversation and tells both users.
    pub fn add_direct(&mut self, room_id: i64, name: String, a: i64, b: i64) {
        if self.directs.contains_key(&direct_key(a, b)) {
            return;
        }
        let member = || Membership {
            role: Role::Member,
            last_read: 0,
            unread: 0,
            mentions: 0,
            delivered: 0,
        };
        let room = Room {
            posted: 0,
            id: room_id,
            name: name.clone(),
            kind: RoomKind::Direct,
            topic: String::new(),
            members: [(a, member()), (b, member())].into_iter().collect(),
            bans: IdSet::default(),
            ring: VecDeque::new(),
            floor: 0,
            last_id: 0,
            last_rev: 0,
            direct: Some(direct_key(a, b)),
            announce: false,
            category: None,
        };
        self.room_ids.insert(name, room_id);
        self.directs.insert(direct_key(a, b), room_id);
        for u in [a, b] {
            if let Some(user) = self.users.get_mut(&u) {
                user.rooms.insert(room_id);
            }
        }
        self.rooms.insert(room_id, room);
        for u in [a, b] {
            let state = self.room_state(&self.rooms[&room_id], u);
            if let Some(f) = event(Event::RoomAdded(state)) {
                self.send_user(u, &f);
            }
        }
    }

    /// Installs a newly created room with its owner.
    pub fn add_created_room(
        &mut self,
        room_id: i64,
        name: String,
        kind: RoomKind,
        owner: i64,
    ) -> RoomState {
        let room = Room {
            posted: 0,
            id: room_id,
            name: name.clone(),
            kind,
            topic: String::new(),
            members: [(
                owner,
                Membership {
                    role: Role::Owner,
                    last_read: 0,
                    unread: 0,
                    mentions: 0,
                    delivered: 0,
                },
            )]
            .into_iter()
            .collect(),
            bans: IdSet::default(),
            ring: VecDeque::new(),
            floor: 0,
            last_id: 0,
            last_rev: 0,
            direct: None,
            announce: false,
            category: None,
        };
        self.room_ids.insert(name, room_id);
        if let Some(u) = self.users.get_mut(&owner) {
            u.rooms.insert(room_id);
        }
        self.rooms.insert(room_id, room);
        let state = self.room_state(&self.rooms[&room_id], owner);
        if let Some(f) = event(Event::RoomAdded(state.clone())) {
            self.send_user(owner, &f);
        }
        state
    }

    /// Checks that `room` may be created.
    pub fn check_create(&self, room: &str) -> Result<String, ErrorReply> {
        let name = match Target::parse(room) {
            Ok(Target::Room(name)) => name,
            Ok(Target::Direct(_)) => {
                return Err(err(ErrorCode::Invalid, "room names start with #, not @"));
            }
            Err(e) => return Err(err(ErrorCode::Invalid, e.to_string())),
        };
        if self.room_ids.contains_key(&name) {
            return Err(err(
                ErrorCode::AlreadyExists,
                format!("#{name} already exists"),
            ));
        }
        Ok(name)
    }

    /// Handles the synchronous room-scoped and informational requests.
    pub fn rooms_reply(&self, session: u64) -> Reply {
        let user = self.logged_in(session)?;
        Ok(Response::Rooms(self.room_states(user)))
    }

    /// Public rooms.
    pub fn directory(&self, session: u64) -> Reply {
        self.logged_in(session)?;
        let mut list: Vec<RoomListing> = self
            .rooms
            .values()
            .filter(|r| r.kind == RoomKind::Public)
            .map(|r| RoomListing {
                name: format!("#{}", r.name),
                topic: r.topic.clone(),
                members: r.members.len() as u32,
                category: r.category.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Response::Directory(list))
    }

    /// Joins a room (a no-op returning its state when already in it).
    pub fn join(
        &mut self,
        session: u64,
        target: &str,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let id = self
            .find(user, target)?
            .ok_or_else(|| no_such_room(target))?;
        let room = &self.rooms[&id];
        if room.members.contains_key(&user) {
            return Ok((Response::Room(self.room_state(room, user)), None));
        }
        if room.bans.contains(&user) {
            return Err(if room.kind == RoomKind::Public {
                err(ErrorCode::Banned, format!("you are banned from {target}"))
            } else {
                no_such_room(target)
            });
        }
        if room.kind != RoomKind::Public && !self.is_admin(user) {
            return Err(no_such_room(target));
        }
        let change = self.add_member(id, user, Role::Member);
        let state = self.room_state(&self.rooms[&id], user);
        Ok((Response::Room(state), Some(change)))
    }

    /// Adds a member, counting existing messages as read, and announces it.
    /// Returns the change to persist (the membership with its marker).
    pub(super) fn add_member(&mut self, room_id: i64, user: i64, role: Role) -> StoreChange {
        let change = StoreChange::Join {
            room: room_id,
            user,
            role,
            last_read: self.rooms.get(&room_id).map_or(0, |r| r.last_id),
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return change;
        };
        let last_id = room.last_id;
        room.members.insert(
            user,
            Membership {
                role,
                last_read: last_id,
                unread: 0,
                mentions: 0,
                delivered: 0,
            },
        );
        if let Some(u) = self.users.get_mut(&user) {
            u.rooms.insert(room_id);
        }
        self.announce_join(room_id, user);
        change
    }

    /// Tells a new member the room is theirs, and the other members who
    /// came and how available they are.
    pub(super) fn announce_join(&self, room_id: i64, user: i64) {
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        if let Some(f) = event(Event::RoomAdded(self.room_state(room, user))) {
            self.send_user(user, &f);
        }
        let joined = Event::Joined {
            room: format!("#{}", room.name),
            user: self.user_name(user).to_string(),
        };
        if let Some(f) = event(joined) {
            self.send_room(room, &f, Some(user));
        }
        // The members learn the newcomer's presence; the newcomer learns
        // theirs from the member list (`Members`), in one reply.
        let (state, status) = self.visible_presence(user);
        if state != PresenceState::Offline
            && let Some(f) = event(Event::Presence {
                user: self.user_name(user).to_string(),
                state,
                status,
            })
        {
            self.send_room_about(room, &f, user);
        }
    }

    /// Follows a membership that another process stored (an operator's
    /// invite, or a new account's `#general`): the member is added and
    /// announced as by a join. False when the room is not loaded (load it
    /// with [`Hub::add_loaded_room`]); a membership already known changes
    /// nothing.
    pub fn admit_member(&mut self, m: &MemberRow) -> bool {
        self.ensure_user(m.user_id, &m.user_name, m.admin);
        let blocked = self.blocked_names(m.user_id);
        let Some(room) = self.rooms.get_mut(&m.room_id) else {
            return false;
        };
        if room.members.contains_key(&m.user_id) {
            return true;
        }
        room.bans.remove(&m.user_id);
        let counts = ring_counts(room, m.last_read, &m.user_name, &blocked);
        room.members.insert(m.user_id, Membership::of(m, counts));
        if let Some(u) = self.users.get_mut(&m.user_id) {
            u.rooms.insert(m.room_id);
        }
        self.announce_join(m.room_id, m.user_id);
        true
    }

    /// Follows a room that another process created: it is installed, and
    /// each of its members (its owner, if it has one) sees it appear.
    pub fn add_loaded_room(&mut self, snap: RoomSnapshot) {
        let room_id = snap.row.id;
        if self.rooms.contains_key(&room_id) {
            return;
        }
        let members: Vec<i64> = snap.members.iter().map(|m| m.user_id).collect();
        self.install_room(snap);
        let Some(room) = self.rooms.get(&room_id) else {
            return;
        };
        for user in members {
            if let Some(f) = event(Event::RoomAdded(self.room_state(room, user))) {
                self.send_user(user, &f);
            }
        }
    }

    /// Removes a member and announces it.
    pub(super) fn remove_member(
        &mut self,
        room_id: i64,
        user: i64,
        kind: LeaveKind,
        by: Option<i64>,
        reason: Option<String>,
    ) {
        self.stop_typing(room_id, user);
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        room.members.remove(&user);
        if let Some(u) = self.users.get_mut(&user) {
            u.rooms.remove(&room_id);
        }
        let room = &self.rooms[&room_id];
        let by = by.map(|b| self.user_name(b).to_string());
        let name = format!("#{}", room.name);
        if let Some(f) = event(Event::RoomRemoved {
            room: name.clone(),
            kind,
            by: by.clone(),
            reason: reason.clone(),
        }) {
            self.send_user(user, &f);
        }
        if let Some(f) = event(Event::Left {
            room: name,
            user: self.user_name(user).to_string(),
            kind,
            by,
            reason,
        }) {
            self.send_room(room, &f, None);
        }
    }

    /// Leaves a room.
    pub fn leave(
        &mut self,
        session: u64,
        target: &str,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        if room.kind == RoomKind::Direct {
            return Err(err(
                ErrorCode::Invalid,
                "a direct conversation cannot be left",
            ));
        }
        let id = room.id;
        self.remove_member(id, user, LeaveKind::Left, None, None);
        Ok((
            Response::Done,
            Some(StoreChange::Unmember { room: id, user }),
        ))
    }

    /// Adds a user to a room at once (no consent asked: the operator's
    /// and the `anyone` policy's path). Checked by [`Hub::check_invite`].
    pub fn invite(
        &mut self,
        session: u64,
        target: &str,
        invitee: i64,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        match self.check_invite(session, target, invitee)? {
            super::consent::InviteCheck::AlreadyMember => Ok((Response::Done, None)),
            super::consent::InviteCheck::Allowed { room, .. } => {
                Ok((Response::Done, self.add_invited(room, invitee)))
            }
        }
    }

    /// Kicks or bans a user.
    pub fn remove(
        &mut self,
        session: u64,
        target: &str,
        victim: i64,
        ban: bool,
        reason: Option<String>,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        let name = self.user_name(victim);
        if victim == user {
            return Err(err(
                ErrorCode::Invalid,
                "you cannot do that to yourself; use leave",
            ));
        }
        if !self.outranks(id, user, victim) {
            return Err(err(
                ErrorCode::Forbidden,
                format!("{name} has a role at least as high as yours"),
            ));
        }
        let member = self.rooms[&id].members.contains_key(&victim);
        if !member && !ban {
            return Err(err(
                ErrorCode::Invalid,
                format!("{name} is not in {target}"),
            ));
        }
        if ban && !member && self.rooms[&id].bans.contains(&victim) {
            // Banned already: a repeat changes nothing, stores nothing.
            return Ok((Response::Done, None));
        }
        let reason = reason.map(|r| r.chars().take(300).collect::<String>());
        if ban && let Some(room) = self.rooms.get_mut(&id) {
            room.bans.insert(victim);
        }
        if member {
            let kind = if ban {
                LeaveKind::Banned
            } else {
                LeaveKind::Kicked
            };
            self.remove_member(id, victim, kind, Some(user), reason);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Remove {
                room: id,
                user: victim,
                ban,
            }),
        ))
    }

    /// Lifts a ban.
    pub fn unban(
        &mut self,
        session: u64,
        target: &str,
        victim: i64,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        let removed = self
            .rooms
            .get_mut(&id)
            .is_some_and(|r| r.bans.remove(&victim));
        if !removed {
            return Err(err(
                ErrorCode::Invalid,
                format!("{} is not banned from {target}", self.user_name(victim)),
            ));
        }
        Ok((
            Response::Done,
            Some(StoreChange::Unban {
                room: id,
                user: victim,
            }),
        ))
    }

    /// Changes a member's role (owners and admins).
    pub fn set_role(
        &mut self,
        session: u64,
        target: &str,
        member: i64,
        role: Role,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        if role == Role::Unknown {
            // What a role name this server does not know decodes as.
            return Err(err(ErrorCode::Invalid, "no such role"));
        }
        let (id, actor_role) = self.moderator(user, target)?;
        if !self.is_admin(user) && actor_role != Some(Role::Owner) {
            return Err(err(
                ErrorCode::Forbidden,
                format!("only owners of {target} can change roles"),
            ));
        }
        if member == user && !self.is_admin(user) {
            return Err(err(
                ErrorCode::Invalid,
                "you cannot change your own role; make someone else owner first",
            ));
        }
        let name = self.user_name(member);
        let room = self
            .rooms
            .get_mut(&id)
            .ok_or_else(|| no_such_room(target))?;
        let Some(m) = room.members.get_mut(&member) else {
            return Err(err(
                ErrorCode::Invalid,
                format!("{name} is not in {target}"),
            ));
        };
        m.role = role;
        let room = &self.rooms[&id];
        if let Some(f) = event(Event::Role {
            room: format!("#{}", room.name),
            user: name.to_string(),
            role,
        }) {
            self.send_room(room, &f, None);
        }
        Ok((
            Response::Done,
            Some(StoreChange::Member {
                room: id,
                user: member,
                role,
            }),
        ))
    }

    /// Sets the topic.
    pub fn topic(
        &mut self,
        session: u64,
        target: &str,
        topic: &str,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        if topic.len() > 500 {
            return Err(err(ErrorCode::TooLong, "topics are at most 500 bytes"));
        }
        let topic = topic.trim().to_owned();
        if let Some(room) = self.rooms.get_mut(&id) {
            room.topic.clone_from(&topic);
        }
        let room = &self.rooms[&id];
        if let Some(f) = event(Event::Topic {
            room: format!("#{}", room.name),
            topic: topic.clone(),
            by: self.user_name(user).to_string(),
        }) {
            self.send_room(room, &f, None);
        }
        Ok((Response::Done, Some(StoreChange::Topic { room: id, topic })))
    }

    /// Changes a room's modes (moderators and admins): `announce`, and
    /// `category` (`""` clears it); a field left out stays. Members hear
    /// of a change as [`Event::Mode`]; one that changes nothing is quiet.
    ///
    /// # Errors
    /// As [`Hub::moderator`]; `invalid` for a bad category.
    pub fn set_mode(
        &mut self,
        session: u64,
        target: &str,
        announce: Option<bool>,
        category: Option<&str>,
    ) -> Result<(Response, Option<StoreChange>), ErrorReply> {
        let user = self.logged_in(session)?;
        let (id, _) = self.moderator(user, target)?;
        let category = match category {
            Some(c) => Some(
                natter_shared::names::normalize_category(c)
                    .map_err(|why| err(ErrorCode::Invalid, why))?,
            ),
            None => None,
        };
        let by = self.user_name(user).to_string();
        Ok((Response::Done, self.apply_mode(id, announce, category, &by)))
    }

    /// Applies modes to room `id` (`None`: unchanged; for the category,
    /// `Some(None)` clears it) and tells its members. `None` when nothing
    /// changed; otherwise what the store must keep. Also how an operator's
    /// `natterd room set` reaches a running server.
    pub fn apply_mode(
        &mut self,
        id: i64,
        announce: Option<bool>,
        category: Option<Option<String>>,
        by: &str,
    ) -> Option<StoreChange> {
        let room = self.rooms.get_mut(&id)?;
        let announce = announce.unwrap_or(room.announce);
        let category = category.unwrap_or_else(|| room.category.clone());
        if announce == room.announce && category == room.category {
            return None;
        }
        room.announce = announce;
        room.category.clone_from(&category);
        let room = &self.rooms[&id];
        if let Some(f) = event(Event::Mode {
            room: format!("#{}", room.name),
            announce,
            category: category.clone(),
            by: by.to_owned(),
        }) {
            self.send_room(room, &f, None);
        }
        Some(StoreChange::Mode {
            room: id,
            announce,
            category,
        })
    }

    /// A room's members, most available first.
    pub fn members(&self, session: u64, target: &str) -> Reply {
        let user = self.logged_in(session)?;
        let room = self.member_room(user, target)?;
        let mut members: Vec<Member> = room
            .members
            .iter()
            .map(|(uid, m)| {
                let (presence, status) = if *uid == user {
                    self.own_presence(user)
                } else if self.blocks(user, *uid) {
                    // A block hides presence everywhere, here too.
                    (PresenceState::Offline, None)
                } else {
                    self.visible_presence(*uid)
                };
                Member {
                    name: self.user_name(*uid).to_string(),
                    role: m.role,
                    presence,
                    status,
                    display_name: self.display_name_for(user, *uid),
                    bot: self.bots.contains(uid),
                    guest: self.guests.contains(uid),
                }
            })
            .collect();
        members.sort_by(|a, b| {
            rank(b.presence)
                .cmp(&rank(a.presence))
                .then(b.role.cmp(&a.role))
                .then(a.name.cmp(&b.name))
        });
        Ok(Response::Members {
            room: self.display(room, user),
            members,
        })
    }
}

#[cfg(test)]
mod tests {
    use natter_shared::{ErrorCode, Event, Role, RoomKind};

    use crate::hub::testkit::*;
    use crate::store::{MemberRow, StoreChange};

    #[test]
    fn a_join_is_persisted_and_announced_and_a_ban_keeps_out() {
        let mut hub = hub(100);
        room(
            &mut hub,
            2,
            "open",
            RoomKind::Public,
            &[(1, "ann", Role::Owner)],
        );
        let ann = login(&mut hub, 10, 1, "ann");
        let bob = login(&mut hub, 20, 2, "bob");
        let (_, change) = hub.join(20, "#open").unwrap();
        assert!(matches!(
            change,
            Some(StoreChange::Join {
                room: 2,
                user: 2,
                ..
            })
        ));
        assert!(
            events(&ann)
                .iter()
                .any(|e| matches!(e, Event::Joined { user, .. } if user == "bob"))
        );
        assert!(
            events(&bob)
                .iter()
                .any(|e| matches!(e, Event::RoomAdded(r) if r.name == "#open"))
        );
        let (_, change) = hub.remove(10, "#open", 2, true, None).unwrap();
        assert!(matches!(
            change,
            Some(StoreChange::Remove { ban: true, .. })
        ));
        assert_eq!(hub.join(20, "#open").unwrap_err().code, ErrorCode::Banned);
    }

    #[test]
    fn an_operator_invite_admits_the_member_and_lifts_a_ban() {
        let mut hub = hub(100);
        room(
            &mut hub,
            2,
            "hidden",
            RoomKind::Private,
            &[(1, "ann", Role::Owner)],
        );
        let bob = login(&mut hub, 20, 2, "bob");
        hub.rooms.get_mut(&2).unwrap().bans.insert(2);
        let m = MemberRow {
            room_id: 2,
            user_id: 2,
            user_name: "bob".into(),
            admin: false,
            role: Role::Member,
            last_read: 0,
            delivered: 0,
        };
        assert!(hub.admit_member(&m));
        assert!(hub.is_member(2, 2));
        assert!(!hub.rooms[&2].bans.contains(&2));
        assert!(
            events(&bob)
                .iter()
                .any(|e| matches!(e, Event::RoomAdded(r) if r.name == "#hidden"))
        );
        // Not loaded: the caller must load the room first.
        assert!(!hub.admit_member(&MemberRow { room_id: 99, ..m }));
    }
}
