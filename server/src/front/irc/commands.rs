//! A registered connection's commands, each mapped onto its operation in
//! [`crate::ops`], and the result onto numerics. What natter has and IRC
//! lacks is mapped as the README's "Using an IRC client" says: roles are
//! `~@+`, announcement rooms are `+m`, direct conversations are private
//! messages to a nick, reactions and typing are client tags.

use bytes::Bytes;
use natter_shared::{ErrorCode, ErrorReply, PresenceState, ReactOp, Response, Role, RoomKind};

use super::caps;
use super::connection::Conn;
use super::line::{Line, Out};
use super::reply::{self, numeric, op_error};
use super::translate::{Pending, away_text};
use crate::ops::{self, Caller};

impl Conn {
    fn caller(&self) -> Caller {
        self.session
            .as_ref()
            .map(|s| s.caller)
            .expect("commands run only once registered")
    }

    fn label(line: &Line) -> Option<String> {
        line.tag("label").map(str::to_owned)
    }

    /// The room a target names: `#room` as it is, a nick as its direct
    /// conversation (`@nick`).
    async fn room_of(&self, target: &str) -> Result<String, ErrorReply> {
        if target.starts_with('#') {
            return Ok(target.to_owned());
        }
        ops::resolve_user(&self.shared, target).await?;
        Ok(format!("@{}", target.to_ascii_lowercase()))
    }

    fn take_request(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    /// Handles one line of a registered client; false ends the
    /// connection.
    pub(super) async fn command(&mut self, line: Line) -> bool {
        let label = Self::label(&line).filter(|_| self.caps.has(caps::LABELED_RESPONSE));
        let label = label.as_deref();
        let server = self.server();
        let nick = self.nick();
        let caller = self.caller();
        let bits = self.caps.get();
        let cmd = line.command.clone();
        let n = |code: &str| numeric(&server, &nick, code);
        let lines: Vec<Bytes> = match cmd.as_str() {
            "PING" => {
                let pong = vec![
                    Out::new(&server, "PONG")
                        .arg(&server)
                        .trailing(line.param(0))
                        .bytes(),
                ];
                let pong = reply::labeled(&server, label, pong, bits);
                // After the answers to everything sent before it.
                let now = self.lock_view().behind_pending(pong);
                if let Some(pong) = now {
                    self.push(pong);
                }
                return true;
            }
            "PONG" | "" => return true,
            "QUIT" => {
                let why = match line.param(0) {
                    "" => "Quit".to_owned(),
                    r => format!("Quit: {r}"),
                };
                self.outbox.close(ErrorCode::Timeout, &why, None);
                return false;
            }
            "CAP" => {
                self.cap(&line);
                return true;
            }
            "NICK" => {
                let wanted = line.param(0);
                if wanted.eq_ignore_ascii_case(&nick) {
                    vec![]
                } else {
                    vec![
                        n("433")
                            .arg(wanted)
                            .trailing("Nickname is reserved: your nick is your account name")
                            .bytes(),
                    ]
                }
            }
            "USER" | "PASS" => vec![n("462").trailing("You may not reregister").bytes()],
            "AUTHENTICATE" => vec![n("907").trailing("You have already authenticated").bytes()],
            "OPER" => vec![n("491").trailing("No O-lines for your host").bytes()],
            "PRIVMSG" | "NOTICE" => {
                self.privmsg(&line, label).await;
                return true;
            }
            "TAGMSG" => self.tagmsg(&line, label).await,
            "JOIN" => {
                self.join(&line, label).await;
                return true;
            }
            "PART" => self.part(&line),
            "TOPIC" => self.topic(&line),
            "NAMES" => match line.param(0) {
                "" => vec![n("366").arg("*").trailing("End of /NAMES list").bytes()],
                rooms => {
                    let mut out = Vec::new();
                    for room in rooms.split(',') {
                        out.extend(reply::names(&self.shared, caller, &nick, room, bits));
                    }
                    out
                }
            },
            "WHO" => self.who(&line).await,
            "WHOIS" => self.whois(&line).await,
            "LIST" => self.list(&line),
            "MODE" => self.mode(&line).await,
            "KICK" => self.kick(&line).await,
            "INVITE" => self.invite(&line).await,
            "AWAY" => self.away(&line),
            "MOTD" => super::welcome::motd(&self.shared, &nick),
            "LUSERS" => super::welcome::lusers(&self.shared, caller, &nick),
            "VERSION" => vec![super::welcome::version_line(&self.shared, &nick)],
            // Answered by one batch that carries the label itself.
            "CHATHISTORY" | "SEARCH" => {
                let lines = if cmd == "SEARCH" {
                    self.search(&line, label).await
                } else {
                    self.chathistory(&line, label).await
                };
                self.push(lines);
                return true;
            }
            "MARKREAD" => self.markread(&line).await,
            "REDACT" => self.redact(&line).await,
            other => vec![n("421").arg(other).trailing("Unknown command").bytes()],
        };
        self.answer(label, lines);
        true
    }

    fn needs(&self, line: &Line, count: usize) -> Option<Vec<Bytes>> {
        if line.params.len() < count || line.params[..count].iter().any(String::is_empty) {
            let nick = self.nick();
            return Some(vec![
                numeric(&self.server(), &nick, "461")
                    .arg(&line.command)
                    .trailing("Not enough parameters")
                    .bytes(),
            ]);
        }
        None
    }

    fn error(&self, command: &str, target: &str, err: &ErrorReply) -> Vec<Bytes> {
        op_error(
            &self.server(),
            &self.nick(),
            command,
            target,
            err,
            self.caps.get(),
        )
    }

    async fn privmsg(&mut self, line: &Line, label: Option<&str>) {
        let notice = line.command == "NOTICE";
        let server = self.server();
        let nick = self.nick();
        let target = line.param(0).to_owned();
        if target.is_empty() {
            if !notice {
                self.answer(
                    label,
                    vec![
                        numeric(&server, &nick, "411")
                            .trailing("No recipient given (PRIVMSG)")
                            .bytes(),
                    ],
                );
            }
            return;
        }
        let text = line.param(1);
        if text.is_empty() {
            if !notice {
                self.answer(
                    label,
                    vec![
                        numeric(&server, &nick, "412")
                            .trailing("No text to send")
                            .bytes(),
                    ],
                );
            }
            return;
        }
        // CTCP: an ACTION is a /me; other queries (VERSION, PING) have no
        // natter meaning and are not posted.
        let (body, action) = match text.strip_prefix('\u{1}') {
            Some(ctcp) => {
                let ctcp = ctcp.strip_suffix('\u{1}').unwrap_or(ctcp);
                let Some(rest) = ctcp.strip_prefix("ACTION") else {
                    self.answer(label, vec![]);
                    return;
                };
                (rest.trim_start().to_owned(), true)
            }
            None => (text.to_owned(), false),
        };
        let room = match self.room_of(&target).await {
            Ok(r) => r,
            Err(e) => {
                let lines = if notice {
                    vec![]
                } else {
                    self.error(&line.command, &target, &e)
                };
                self.answer(label, lines);
                return;
            }
        };
        let reply_to = line
            .tag("+draft/reply")
            .or_else(|| line.tag("+reply"))
            .and_then(|v| v.parse().ok());
        let request = self.take_request();
        let nonce = format!("{}{request}", self.lock_view().nonce_prefix);
        self.lock_view().pending.insert(
            request,
            Pending {
                label: label.map(str::to_owned),
                command: if notice { "NOTICE" } else { "PRIVMSG" },
                target: target.clone(),
            },
        );
        let msg = ops::messages::Outgoing {
            room: &room,
            body,
            action,
            nonce: Some(&nonce),
            reply_to,
            thread: None,
            request,
            attention: false,
            files: Vec::new(),
        };
        // The answer (the echo, an ACK, or an error) comes once the store
        // has committed the message: see `translate`.
        if let Err(e) = ops::messages::send(&self.shared, self.caller(), msg).await {
            self.lock_view().pending.remove(&request);
            let lines = if notice {
                vec![]
            } else {
                self.error(&line.command, &target, &e)
            };
            self.answer(label, lines);
        }
    }

    /// `TAGMSG`: typing notifications and reactions.
    async fn tagmsg(&mut self, line: &Line, label: Option<&str>) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 1) {
            return e;
        }
        let target = line.param(0).to_owned();
        let room = match self.room_of(&target).await {
            Ok(r) => r,
            Err(e) => return self.error("TAGMSG", &target, &e),
        };
        let caller = self.caller();
        if let Some(state) = line.tag("+typing") {
            let active = state == "active";
            if let Err(e) = ops::presence::typing(&self.shared, caller, &room, active) {
                return self.error("TAGMSG", &target, &e);
            }
        }
        let react = line
            .tag("+draft/react")
            .map(|k| (k, ReactOp::Add))
            .or_else(|| line.tag("+draft/unreact").map(|k| (k, ReactOp::Remove)));
        if let Some((key, op)) = react {
            let Some(id) = line
                .tag("+draft/reply")
                .or_else(|| line.tag("+reply"))
                .and_then(|v| v.parse().ok())
            else {
                let err =
                    ErrorReply::new(ErrorCode::Invalid, "a reaction needs +draft/reply=<msgid>");
                return vec![reply::fail(
                    &self.server(),
                    &self.nick(),
                    "TAGMSG",
                    &target,
                    &err,
                    self.caps.get(),
                )];
            };
            match ops::reactions::queue(&self.shared, caller, &room, id, key.to_owned(), op) {
                Ok(queued) => {
                    let request = self.take_request();
                    self.lock_view().pending.insert(
                        request,
                        Pending {
                            label: label.map(str::to_owned),
                            command: "TAGMSG",
                            target,
                        },
                    );
                    let shared = std::sync::Arc::clone(&self.shared);
                    let outbox = std::sync::Arc::clone(&self.outbox);
                    self.shared.tasks.spawn(async move {
                        let frame = match queued.finish(&shared).await {
                            Ok(res) => natter_shared::ServerFrame::Ok { id: request, res },
                            Err(err) => natter_shared::ServerFrame::Err { id: request, err },
                        };
                        outbox.send(&frame);
                    });
                    // Answered once stored (`translate`).
                    return Vec::new();
                }
                Err(e) => return self.error("TAGMSG", &target, &e),
            }
        }
        Vec::new()
    }

    /// `JOIN`, answering itself: a labeled `JOIN` of one room is answered
    /// by its arrival (`translate`), which carries the label.
    async fn join(&mut self, line: &Line, label: Option<&str>) {
        if let Some(e) = self.needs(line, 1) {
            return self.answer(label, e);
        }
        let caller = self.caller();
        if line.param(0) == "0" {
            let rooms = match ops::rooms::list(&self.shared, caller) {
                Ok(Response::Rooms(r)) => r,
                _ => Vec::new(),
            };
            for r in rooms.iter().filter(|r| r.name.starts_with('#')) {
                let _ = ops::rooms::leave(&self.shared, caller, &r.name);
            }
            return self.answer(label, Vec::new());
        }
        let server = self.server();
        let nick = self.nick();
        let mut out = Vec::new();
        let names: Vec<String> = line.param(0).split(',').map(str::to_owned).collect();
        let one = names.len() == 1;
        let mut arriving = false;
        for name in names {
            let valid = name
                .strip_prefix('#')
                .is_some_and(|n| natter_shared::names::normalize_room(n).is_ok());
            if !valid {
                out.push(
                    numeric(&server, &nick, "479")
                        .arg(&name)
                        .trailing("Illegal channel name")
                        .bytes(),
                );
                continue;
            }
            let room = name.to_ascii_lowercase();
            let member = {
                let hub = self.shared.hub();
                match (hub.room_id(&room[1..]), hub.session_user(caller.session)) {
                    (Some(id), Some(user)) => hub.is_member(id, user),
                    _ => false,
                }
            };
            if member {
                continue;
            }
            if one && let Some(l) = label {
                self.lock_view()
                    .join_labels
                    .insert(room.clone(), l.to_owned());
            }
            let mut result = ops::rooms::join(&self.shared, caller, &room).await;
            if matches!(&result, Err(e) if e.code == ErrorCode::NoSuchRoom) {
                // IRC's JOIN makes a missing channel; natter's rooms are
                // made by name, public.
                result = match ops::rooms::create(&self.shared, caller, &room, false).await {
                    // Taken, or not the caller's to make (a guest's): a
                    // private room reads as a missing one either way.
                    Err(e) if matches!(e.code, ErrorCode::AlreadyExists | ErrorCode::Forbidden) => {
                        Err(ErrorReply::new(ErrorCode::NoSuchRoom, "no such room"))
                    }
                    other => other,
                };
            }
            match result {
                Ok(_) => arriving = true,
                Err(e) => {
                    self.lock_view().join_labels.remove(&room);
                    out.extend(self.error("JOIN", &room, &e));
                }
            }
        }
        if one && arriving && label.is_some() {
            return;
        }
        self.answer(label, out);
    }

    fn part(&self, line: &Line) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 1) {
            return e;
        }
        let mut out = Vec::new();
        for room in line.param(0).split(',') {
            if let Err(e) = ops::rooms::leave(&self.shared, self.caller(), room) {
                let e = if e.code == ErrorCode::NoSuchRoom {
                    e
                } else {
                    ErrorReply::new(ErrorCode::NotMember, e.message)
                };
                out.extend(self.error("PART", room, &e));
            }
        }
        out
    }

    /// A room's state for a member, or its directory listing for anyone
    /// when it is public; `None` for a private room of others and a missing
    /// one alike.
    fn room_state(&self, room: &str) -> Option<(String, bool, bool)> {
        let caller = self.caller();
        let room = room.to_ascii_lowercase();
        if let Ok(Response::Rooms(rooms)) = ops::rooms::list(&self.shared, caller)
            && let Some(r) = rooms.into_iter().find(|r| r.name == room)
        {
            return Some((r.topic, r.announce, true));
        }
        if let Ok(Response::Directory(list)) = ops::rooms::directory(&self.shared, caller)
            && let Some(r) = list.into_iter().find(|r| r.name == room)
        {
            return Some((r.topic, false, false));
        }
        None
    }

    fn no_such_channel(&self, room: &str) -> Vec<Bytes> {
        vec![
            numeric(&self.server(), &self.nick(), "403")
                .arg(room)
                .trailing("No such channel")
                .bytes(),
        ]
    }

    fn topic(&self, line: &Line) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 1) {
            return e;
        }
        let room = line.param(0);
        let server = self.server();
        let nick = self.nick();
        if line.params.len() < 2 {
            return match self.room_state(room) {
                Some((topic, ..)) if !topic.is_empty() => vec![
                    numeric(&server, &nick, "332")
                        .arg(room)
                        .trailing(&topic)
                        .bytes(),
                ],
                Some(_) => vec![
                    numeric(&server, &nick, "331")
                        .arg(room)
                        .trailing("No topic is set")
                        .bytes(),
                ],
                None => self.no_such_channel(room),
            };
        }
        match ops::moderation::topic(&self.shared, self.caller(), room, line.param(1)) {
            // The TOPIC line comes with the event every member gets.
            Ok(_) => Vec::new(),
            Err(e) => self.error("TOPIC", room, &e),
        }
    }

    async fn who(&self, line: &Line) -> Vec<Bytes> {
        let mask = line.param(0);
        let server = self.server();
        let nick = self.nick();
        let caller = self.caller();
        // WHOX: `%fields[,token]`; only the common fields are given.
        let whox = line.param(1).strip_prefix('%').map(|f| {
            let (fields, token) = f.split_once(',').unwrap_or((f, ""));
            (fields.to_owned(), token.to_owned())
        });
        let row =
            |room: &str, user: &str, away: bool, prefix: Option<char>, bot: bool, real: &str| {
                let mut flags = String::from(if away { "G" } else { "H" });
                if bot {
                    flags.push('B');
                }
                if let Some(p) = prefix {
                    flags.push(p);
                }
                match &whox {
                    Some((fields, token)) => {
                        let mut out = numeric(&server, &nick, "354");
                        for f in fields.chars() {
                            out = match f {
                                't' => out.arg(if token.is_empty() { "0" } else { token }),
                                'c' => out.arg(room),
                                'u' | 'n' | 'a' => out.arg(user),
                                'i' => out.arg("255.255.255.255"),
                                'h' => out.arg(super::translate::HOST),
                                's' => out.arg(&server),
                                'f' => out.arg(&flags),
                                'd' | 'l' => out.arg("0"),
                                'o' => out.arg("n/a"),
                                _ => out,
                            };
                        }
                        if fields.contains('r') {
                            out.trailing(real).bytes()
                        } else {
                            out.bytes()
                        }
                    }
                    None => numeric(&server, &nick, "352")
                        .arg(room)
                        .arg(user)
                        .arg(super::translate::HOST)
                        .arg(&server)
                        .arg(user)
                        .arg(&flags)
                        .trailing(&format!("0 {real}"))
                        .bytes(),
                }
            };
        let mut out = Vec::new();
        if mask.starts_with('#') {
            if let Ok(Response::Members { members, .. }) =
                ops::rooms::members(&self.shared, caller, mask)
            {
                for m in members {
                    let away = m.presence != PresenceState::Online;
                    let real = m.display_name.clone().unwrap_or_else(|| m.name.clone());
                    out.push(row(
                        mask,
                        &m.name,
                        away,
                        Some(reply::prefix(m.role)),
                        m.bot,
                        &real,
                    ));
                }
            }
        } else if !mask.is_empty()
            && let Ok(Response::Whois(info)) = ops::profile::whois(&self.shared, caller, mask).await
        {
            let away = info.presence != PresenceState::Online;
            let real = info
                .display_name
                .clone()
                .unwrap_or_else(|| info.name.clone());
            out.push(row("*", &info.name, away, None, info.bot, &real));
        }
        out.push(
            numeric(&server, &nick, "315")
                .arg(if mask.is_empty() { "*" } else { mask })
                .trailing("End of /WHO list")
                .bytes(),
        );
        out
    }

    async fn whois(&self, line: &Line) -> Vec<Bytes> {
        if line.params.is_empty() || line.param(0).is_empty() {
            return vec![
                numeric(&self.server(), &self.nick(), "431")
                    .trailing("No nickname given")
                    .bytes(),
            ];
        }
        // `WHOIS server nick` asks the same as `WHOIS nick` here.
        let who = line.params.last().map_or("", String::as_str);
        let server = self.server();
        let nick = self.nick();
        let n = |code: &str| numeric(&server, &nick, code);
        let mut out = Vec::new();
        match ops::profile::whois(&self.shared, self.caller(), who).await {
            Ok(Response::Whois(info)) => {
                let real = info
                    .display_name
                    .clone()
                    .unwrap_or_else(|| info.name.clone());
                out.push(
                    n("311")
                        .arg(&info.name)
                        .arg(&info.name)
                        .arg(super::translate::HOST)
                        .arg("*")
                        .trailing(&real)
                        .bytes(),
                );
                if !info.rooms.is_empty() {
                    out.push(
                        n("319")
                            .arg(&info.name)
                            .trailing(&info.rooms.join(" "))
                            .bytes(),
                    );
                }
                out.push(
                    n("312")
                        .arg(&info.name)
                        .arg(&server)
                        .trailing("natter")
                        .bytes(),
                );
                if info.bot {
                    out.push(n("335").arg(&info.name).trailing("is a bot").bytes());
                }
                if let Some(text) = away_text(info.presence, info.status.as_deref()) {
                    out.push(n("301").arg(&info.name).trailing(&text).bytes());
                }
                if let Some(idle) = info.idle_secs {
                    out.push(
                        n("317")
                            .arg(&info.name)
                            .arg(&idle.to_string())
                            .trailing("seconds idle")
                            .bytes(),
                    );
                }
                out.push(
                    n("330")
                        .arg(&info.name)
                        .arg(&info.name)
                        .trailing("is logged in as")
                        .bytes(),
                );
            }
            _ => out.push(n("401").arg(who).trailing("No such nick").bytes()),
        }
        out.push(n("318").arg(who).trailing("End of /WHOIS list").bytes());
        out
    }

    fn list(&self, line: &Line) -> Vec<Bytes> {
        let server = self.server();
        let nick = self.nick();
        let wanted: Vec<String> = line
            .param(0)
            .split(',')
            .filter(|s| !s.is_empty() && !s.starts_with('>') && !s.starts_with('<'))
            .map(str::to_ascii_lowercase)
            .collect();
        let mut out = vec![
            numeric(&server, &nick, "321")
                .arg("Channel")
                .trailing("Users  Name")
                .bytes(),
        ];
        let mut rooms = match ops::rooms::directory(&self.shared, self.caller()) {
            Ok(Response::Directory(list)) => list,
            _ => Vec::new(),
        };
        // A member's private rooms are listed to them too.
        if let Ok(Response::Rooms(mine)) = ops::rooms::list(&self.shared, self.caller()) {
            for r in mine {
                if r.kind == RoomKind::Private {
                    rooms.push(natter_shared::RoomListing {
                        name: r.name,
                        topic: r.topic,
                        members: r.members,
                        category: r.category,
                    });
                }
            }
        }
        for r in rooms {
            if !wanted.is_empty() && !wanted.iter().any(|w| glob(w, &r.name)) {
                continue;
            }
            out.push(
                numeric(&server, &nick, "322")
                    .arg(&r.name)
                    .arg(&r.members.to_string())
                    .trailing(&r.topic)
                    .bytes(),
            );
        }
        out.push(
            numeric(&server, &nick, "323")
                .trailing("End of /LIST")
                .bytes(),
        );
        out
    }

    async fn mode(&self, line: &Line) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 1) {
            return e;
        }
        let target = line.param(0);
        let server = self.server();
        let nick = self.nick();
        let n = |code: &str| numeric(&server, &nick, code);
        if !target.starts_with('#') {
            if !target.eq_ignore_ascii_case(&nick) {
                return vec![
                    n("502")
                        .trailing("Can't change mode for other users")
                        .bytes(),
                ];
            }
            return vec![n("221").arg("+i").bytes()];
        }
        let Some((_, announce, member)) = self.room_state(target) else {
            return self.no_such_channel(target);
        };
        let changes = line.param(1);
        if changes.is_empty() {
            let modes = if announce { "+mnt" } else { "+nt" };
            return vec![n("324").arg(target).arg(modes).bytes()];
        }
        if matches!(changes, "b" | "+b") && line.params.len() == 2 {
            return vec![
                n("368")
                    .arg(target)
                    .trailing("End of channel ban list")
                    .bytes(),
            ];
        }
        if !member {
            return vec![
                n("442")
                    .arg(target)
                    .trailing("You're not on that channel")
                    .bytes(),
            ];
        }
        let caller = self.caller();
        let mut out = Vec::new();
        let mut args = line.params[2..].iter();
        let mut adding = true;
        for c in changes.chars() {
            let result = match c {
                '+' => {
                    adding = true;
                    continue;
                }
                '-' => {
                    adding = false;
                    continue;
                }
                'o' | 'q' | 'v' | 'b' => {
                    let Some(who) = args.next() else {
                        out.extend(self.needs(line, 3).unwrap_or_default());
                        break;
                    };
                    // A ban mask names the nick: `nick!*@*`.
                    let who = who.split('!').next().unwrap_or(who).to_owned();
                    match (c, adding) {
                        ('o', true) => {
                            ops::moderation::set_role(
                                &self.shared,
                                caller,
                                target,
                                &who,
                                Role::Moderator,
                            )
                            .await
                        }
                        ('o' | 'q', false) => {
                            let role = if c == 'q' {
                                Role::Moderator
                            } else {
                                Role::Member
                            };
                            ops::moderation::set_role(&self.shared, caller, target, &who, role)
                                .await
                        }
                        ('q', true) => {
                            ops::moderation::set_role(
                                &self.shared,
                                caller,
                                target,
                                &who,
                                Role::Owner,
                            )
                            .await
                        }
                        ('b', true) => {
                            ops::moderation::remove(&self.shared, caller, target, &who, true, None)
                                .await
                        }
                        ('b', false) => {
                            ops::moderation::unban(&self.shared, caller, target, &who).await
                        }
                        // Every member has +v: nothing changes.
                        _ => Ok(Response::Done),
                    }
                }
                'm' => ops::moderation::set_mode(&self.shared, caller, target, Some(adding), None),
                // Always set: nothing changes.
                'n' | 't' => Ok(Response::Done),
                other => {
                    out.push(
                        n("472")
                            .arg(&other.to_string())
                            .trailing("is unknown mode char to me")
                            .bytes(),
                    );
                    continue;
                }
            };
            if let Err(e) = result {
                out.extend(self.error("MODE", target, &e));
            }
        }
        out
    }

    async fn kick(&self, line: &Line) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 2) {
            return e;
        }
        let room = line.param(0);
        let reason = line.params.get(2).filter(|r| !r.is_empty()).cloned();
        let mut out = Vec::new();
        for who in line.param(1).split(',') {
            let r = ops::moderation::remove(
                &self.shared,
                self.caller(),
                room,
                who,
                false,
                reason.clone(),
            )
            .await;
            if let Err(e) = r {
                let target = if e.code == ErrorCode::NoSuchUser || e.code == ErrorCode::NotMember {
                    // 441: they are not in the room.
                    out.push(
                        numeric(&self.server(), &self.nick(), "441")
                            .arg(who)
                            .arg(room)
                            .trailing("They aren't on that channel")
                            .bytes(),
                    );
                    continue;
                } else {
                    room
                };
                out.extend(self.error("KICK", target, &e));
            }
        }
        out
    }

    async fn invite(&self, line: &Line) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 2) {
            return e;
        }
        let (who, room) = (line.param(0), line.param(1));
        match ops::safety::invite(&self.shared, self.caller(), room, who).await {
            Ok(_) => vec![
                numeric(&self.server(), &self.nick(), "341")
                    .arg(who)
                    .arg(room)
                    .bytes(),
            ],
            Err(e) if e.code == ErrorCode::NoSuchUser => self.error("INVITE", who, &e),
            Err(e) => self.error("INVITE", room, &e),
        }
    }

    fn away(&self, line: &Line) -> Vec<Bytes> {
        let text = line.param(0);
        let (state, status, code, words) = if text.is_empty() {
            (
                PresenceState::Online,
                None,
                "305",
                "You are no longer marked as being away",
            )
        } else {
            (
                PresenceState::Away,
                Some(text.to_owned()),
                "306",
                "You have been marked as being away",
            )
        };
        match ops::presence::set(&self.shared, self.caller(), state, status) {
            Ok(_) => vec![
                numeric(&self.server(), &self.nick(), code)
                    .trailing(words)
                    .bytes(),
            ],
            Err(e) => self.error("AWAY", "", &e),
        }
    }

    async fn redact(&self, line: &Line) -> Vec<Bytes> {
        if let Some(e) = self.needs(line, 2) {
            return e;
        }
        let target = line.param(0);
        let Ok(room) = self.room_of(target).await else {
            return self.invalid_target("REDACT", target);
        };
        let Ok(id) = line.param(1).parse() else {
            let err = ErrorReply::new(ErrorCode::NoSuchMessage, "unknown message id");
            return vec![reply::fail(
                &self.server(),
                &self.nick(),
                "REDACT",
                target,
                &err,
                self.caps.get(),
            )];
        };
        match ops::edits::delete(&self.shared, self.caller(), &room, id).await {
            // The REDACT line comes with the event.
            Ok(_) => Vec::new(),
            Err(e) => vec![reply::fail(
                &self.server(),
                &self.nick(),
                "REDACT",
                target,
                &e,
                self.caps.get(),
            )],
        }
    }

    pub(super) fn invalid_target(&self, command: &str, target: &str) -> Vec<Bytes> {
        let err = ErrorReply::new(ErrorCode::NoSuchRoom, "no such target");
        let mut line = Out::new(&self.server(), "FAIL")
            .arg(command)
            .arg("INVALID_TARGET");
        if !target.is_empty() {
            line = line.arg(target);
        }
        vec![line.trailing(&err.message).bytes()]
    }
}

/// IRC's `*` and `?` wildcards, ASCII case-insensitively.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_like_irc() {
        assert!(glob("#gen*", "#general"));
        assert!(glob("#g?neral", "#GENERAL"));
        assert!(!glob("#x*", "#general"));
        assert!(glob("#general", "#general"));
    }
}
