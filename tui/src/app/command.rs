//! Slash commands: parsed from the input line into a [`Command`] (or a
//! one-line error for the messages pane), then run by `App::run_command`,
//! which changes the state and returns the requests to make.

use crossterm::event::{KeyCode, KeyEvent};
use natter_shared::names::{Target, normalize_user};
use natter_shared::{InvitePolicy, MessageId, PresenceState, Request, Role, features};
use unicode_segmentation::UnicodeSegmentation;

use super::safety::Op;
use super::timeline::EntryKind;
use super::{App, Effect, Overlay, Then};

/// Which message `/report`, `/reply`, `/delete`, `/react` and `/thread`
/// mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// Message `id` of the room on screen.
    Id(MessageId),
    /// This user's newest message loaded in the room on screen.
    Newest(String),
}

/// A command typed in the input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Join(String),
    Leave(Option<String>),
    Create {
        room: String,
        private: bool,
    },
    Invite {
        user: String,
        room: Option<String>,
    },
    Kick {
        user: String,
        reason: Option<String>,
    },
    Ban {
        user: String,
        reason: Option<String>,
    },
    Unban(String),
    Topic(String),
    Msg {
        user: String,
        text: Option<String>,
    },
    Me(String),
    Presence {
        state: PresenceState,
        status: Option<String>,
    },
    Role {
        user: String,
        role: Role,
    },
    Users,
    Rooms,
    Stats,
    Block(String),
    Unblock(String),
    Blocked,
    Report {
        what: Reported,
        reason: String,
    },
    Accept(String),
    Decline(String),
    /// `/invites`: the pending invitations, or with a policy, who may add
    /// you to rooms without asking.
    Invites(Option<InvitePolicy>),
    /// `/open N`: the Nth newest link or file in the room on screen, 1 the
    /// newest.
    Open(usize),
    /// `/upload PATH [caption]`.
    Upload {
        path: String,
        caption: String,
    },
    /// `/download [N] [DIR]`: the Nth newest file here, 1 the newest.
    Download {
        n: usize,
        dir: Option<String>,
    },
    /// `/notify all|mentions|none` for the room on screen.
    Notify(crate::notify::NotifyLevel),
    /// `/mute` (true) or `/unmute`.
    Mute(bool),
    /// `/markread`, or `/markread --all`.
    MarkRead {
        all: bool,
    },
    /// `/close` a direct conversation until its next message.
    Close,
    /// `/clear` the view of the room on screen.
    Clear,
    /// `/nick [name]`: set your display name, or clear it.
    Nick(Option<String>),
    /// `/whois user`.
    Whois(String),
    /// `/reply id|@user text`.
    Reply {
        what: Reported,
        text: String,
    },
    /// `/edit [id] text`: without an id, your newest message here.
    Edit {
        id: Option<MessageId>,
        text: String,
    },
    /// `/delete id|@user`.
    Delete(Reported),
    /// `/react id|@user key`: toggles your reaction.
    React {
        what: Reported,
        key: String,
    },
    /// `/thread id|@user`.
    Thread(Reported),
    /// `/search query`.
    Search(String),
    /// `/mode +announce|-announce` (true: only moderators post), or `/mode`
    /// alone to show the room's modes.
    Mode(Option<bool>),
    /// `/category [name]`: put the room in a category of the rooms pane,
    /// or take it out.
    Category(String),
    /// `/fold [category]`: fold or unfold a group of the rooms pane.
    Fold(Option<String>),
    /// `/receipts [on|off]`: share your read receipts, or not (`None`
    /// asks).
    Receipts(Option<bool>),
    /// `/seen [id]`: who has read up to a message (the newest here).
    Seen(Option<MessageId>),
    Help,
    Quit,
}

/// The server feature each command needs, for those that need one: the
/// help leaves out what the server lacks (the command itself then says
/// the server does not support it).
const NEEDS: &[(&str, &str)] = &[
    ("/block", features::BLOCKING),
    ("/unblock", features::BLOCKING),
    ("/blocked", features::BLOCKING),
    ("/report", features::REPORTS),
    ("/accept", features::INVITATIONS),
    ("/decline", features::INVITATIONS),
    ("/invites", features::INVITATIONS),
    ("/nick", features::PROFILES),
    ("/whois", features::WHOIS),
    ("/reply", features::REPLIES),
    ("/edit", features::EDITS),
    ("/delete", features::DELETES),
    ("/react", features::REACTIONS),
    ("/thread", features::THREADS),
    ("/search", features::SEARCH),
    ("/mode", features::ROOM_MODES),
    ("/category", features::ROOM_MODES),
    ("/receipts", features::RECEIPTS),
    ("/seen", features::RECEIPTS),
    ("/upload", features::FILES),
    ("/download", features::FILES),
];

/// The commands a server with `features` supports (all of them while its
/// features are not known yet).
pub fn offered(
    features: Option<&[String]>,
) -> impl Iterator<Item = &'static (&'static str, &'static str, &'static str)> {
    COMMANDS.iter().filter(move |(name, ..)| {
        let needs = NEEDS.iter().find(|(c, _)| c == name).map(|(_, f)| *f);
        match (features, needs) {
            (Some(have), Some(need)) => have.iter().any(|f| f == need),
            _ => true,
        }
    })
}

/// Every command: name, arguments, what it does (for `/help` and
/// completion).
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("/join", "#room", "join a room (or switch to it)"),
    ("/leave", "[#room]", "leave this or another room"),
    ("/create", "[--private] #room", "create a room"),
    ("/invite", "user [#room]", "add someone to a room"),
    ("/kick", "user [reason]", "remove someone (moderators)"),
    ("/ban", "user [reason]", "remove and keep out (moderators)"),
    ("/unban", "user", "lift a ban"),
    ("/topic", "text", "set the topic (moderators)"),
    (
        "/mode",
        "[+announce|-announce]",
        "announcement room (moderators)",
    ),
    ("/category", "[name]", "group this room (moderators)"),
    ("/fold", "[category]", "fold a group of rooms (kept)"),
    ("/receipts", "[on|off]", "share what you have read?"),
    ("/seen", "[id]", "who has read up to a message"),
    ("/role", "user owner|mod|member", "change a role (owners)"),
    ("/msg", "@user [text]", "open a direct conversation"),
    ("/me", "text", "an action: * you text"),
    ("/away", "[text]", "set yourself away"),
    ("/busy", "[text]", "set yourself busy"),
    ("/back", "", "set yourself online"),
    ("/invisible", "", "appear offline to others"),
    ("/users", "", "list this room's members"),
    ("/rooms", "", "browse public rooms"),
    ("/stats", "", "server statistics"),
    ("/block", "user", "hide them, refuse their DMs"),
    ("/unblock", "user", "show their messages again"),
    ("/blocked", "", "who you block"),
    (
        "/report",
        "id|@user reason",
        "report a message to the moderators",
    ),
    ("/reply", "id|@user text", "reply to a message"),
    ("/edit", "[id] text", "edit your message (the last one)"),
    ("/delete", "id|@user", "delete a message"),
    ("/react", "id|@user :emoji:", "toggle a reaction"),
    ("/thread", "id|@user", "open a message's thread"),
    ("/search", "query", "search your rooms (also Ctrl+F)"),
    ("/accept", "#room", "accept an invitation"),
    ("/decline", "#room", "decline an invitation"),
    (
        "/invites",
        "[anyone|shared|nobody]",
        "invitations, or who may add you",
    ),
    ("/open", "[N]", "open the Nth newest link or file"),
    ("/upload", "path [caption]", "send a file (Tab: paths)"),
    ("/download", "[N] [dir]", "save the Nth newest file here"),
    ("/notify", "all|mentions|none", "notifications here (kept)"),
    ("/mute", "", "silence this room (kept)"),
    ("/unmute", "", "undo /mute"),
    ("/markread", "[--all]", "mark this room (or all) read"),
    ("/close", "", "hide this DM until it speaks"),
    ("/clear", "", "empty this room's view"),
    (
        "/nick",
        "[display name]",
        "set (or clear) your display name",
    ),
    ("/whois", "user", "status, idle time, shared rooms"),
    ("/help", "", "keys and commands (also F1)"),
    ("/quit", "", "leave natter"),
];

/// A path at the start of `text`, quoted (`'my file.png'`) when it holds
/// spaces, and what follows it.
fn path_arg(text: &str) -> Option<(String, String)> {
    let text = text.trim_start();
    let first = text.chars().next()?;
    let (path, rest) = if let q @ ('\'' | '"') = first {
        let end = text[1..].find(q)? + 1;
        (&text[1..end], &text[end + 1..])
    } else {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        (&text[..end], &text[end..])
    };
    (!path.is_empty()).then(|| (path.to_owned(), rest.trim().to_owned()))
}

/// The line after its first `n` words, spacing and newlines kept.
fn text_after(line: &str, n: usize) -> Option<String> {
    let mut rest = line.trim_start();
    for _ in 0..n {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        rest = rest[end..].trim_start();
    }
    let rest = rest.trim_end();
    (!rest.is_empty()).then(|| rest.to_owned())
}

fn room_arg(arg: &str) -> Result<String, String> {
    Target::parse(arg)
        .map(|t| t.display())
        .map_err(|e| e.to_string())
}

/// A message as commands name it: its id, or `@user` (or `user`) for
/// their newest message loaded here.
fn message_arg(arg: &str) -> Result<Reported, String> {
    // User names start with a letter: digits are an id.
    match arg.parse() {
        Ok(id) => Ok(Reported::Id(id)),
        Err(_) => Ok(Reported::Newest(user_arg(arg)?)),
    }
}

fn user_arg(arg: &str) -> Result<String, String> {
    normalize_user(arg).map_err(|e| e.to_string())
}

/// A `#room` (invitations are never to direct conversations).
fn invited_room_arg(arg: &str) -> Result<String, String> {
    let room = room_arg(arg)?;
    if room.starts_with('#') {
        Ok(room)
    } else {
        Err(format!("invitations are to #rooms, not {room}"))
    }
}

/// Parses a line starting with `/`. `//text` is not a command (it sends
/// `/text`): the caller checks that first.
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or("/");
    let args: Vec<&str> = words.collect();
    let usage = |u: &str| Err(format!("usage: {name} {u}"));
    let rest = |n: usize| text_after(line, n);
    match name {
        "/join" | "/j" => match args.as_slice() {
            [room] => Ok(Command::Join(room_arg(room)?)),
            _ => usage("#room"),
        },
        "/leave" | "/part" => match args.as_slice() {
            [] => Ok(Command::Leave(None)),
            [room] => Ok(Command::Leave(Some(room_arg(room)?))),
            _ => usage("[#room]"),
        },
        "/create" => match args.as_slice() {
            ["--private", room] | [room, "--private"] => Ok(Command::Create {
                room: room_arg(room)?,
                private: true,
            }),
            [room] => Ok(Command::Create {
                room: room_arg(room)?,
                private: false,
            }),
            _ => usage("[--private] #room"),
        },
        "/invite" => match args.as_slice() {
            [user] => Ok(Command::Invite {
                user: user_arg(user)?,
                room: None,
            }),
            [user, room] => Ok(Command::Invite {
                user: user_arg(user)?,
                room: Some(room_arg(room)?),
            }),
            _ => usage("user [#room]"),
        },
        "/kick" | "/ban" => match args.split_first() {
            Some((user, _)) => {
                let user = user_arg(user)?;
                let reason = rest(2);
                Ok(if name == "/kick" {
                    Command::Kick { user, reason }
                } else {
                    Command::Ban { user, reason }
                })
            }
            None => usage("user [reason]"),
        },
        "/unban" => match args.as_slice() {
            [user] => Ok(Command::Unban(user_arg(user)?)),
            _ => usage("user"),
        },
        "/topic" => rest(1).map(Command::Topic).map_or(usage("text"), Ok),
        "/mode" => match args.as_slice() {
            [] => Ok(Command::Mode(None)),
            ["+announce"] => Ok(Command::Mode(Some(true))),
            ["-announce"] => Ok(Command::Mode(Some(false))),
            _ => usage("[+announce|-announce]"),
        },
        "/category" => Ok(Command::Category(rest(1).unwrap_or_default())),
        "/fold" => Ok(Command::Fold(rest(1))),
        "/receipts" => match args.as_slice() {
            [] => Ok(Command::Receipts(None)),
            ["on"] => Ok(Command::Receipts(Some(true))),
            ["off"] => Ok(Command::Receipts(Some(false))),
            _ => usage("[on|off]"),
        },
        "/seen" => match args.as_slice() {
            [] => Ok(Command::Seen(None)),
            [id] => id
                .trim_start_matches('#')
                .parse()
                .map(|id| Command::Seen(Some(id)))
                .map_err(|_| format!("{id:?} is no message id; usage: /seen [id]")),
            _ => usage("[id]"),
        },
        "/msg" | "/query" => match args.split_first() {
            Some((user, _)) => Ok(Command::Msg {
                user: user_arg(user)?,
                text: rest(2),
            }),
            None => usage("@user [text]"),
        },
        "/me" => rest(1).map(Command::Me).map_or(usage("text"), Ok),
        "/away" => Ok(Command::Presence {
            state: PresenceState::Away,
            status: rest(1),
        }),
        "/busy" | "/dnd" => Ok(Command::Presence {
            state: PresenceState::Busy,
            status: rest(1),
        }),
        "/back" => Ok(Command::Presence {
            state: PresenceState::Online,
            status: rest(1),
        }),
        "/invisible" => Ok(Command::Presence {
            state: PresenceState::Invisible,
            status: None,
        }),
        "/role" => match args.as_slice() {
            [user, role] => Ok(Command::Role {
                user: user_arg(user)?,
                role: match *role {
                    "owner" => Role::Owner,
                    "moderator" | "mod" => Role::Moderator,
                    "member" => Role::Member,
                    _ => return usage("user owner|moderator|member"),
                },
            }),
            _ => usage("user owner|moderator|member"),
        },
        "/users" | "/names" => Ok(Command::Users),
        "/rooms" | "/list" => Ok(Command::Rooms),
        "/stats" => Ok(Command::Stats),
        "/block" | "/unblock" => match args.as_slice() {
            [user] => {
                let user = user_arg(user)?;
                Ok(if name == "/block" {
                    Command::Block(user)
                } else {
                    Command::Unblock(user)
                })
            }
            _ => usage("user"),
        },
        "/blocked" => Ok(Command::Blocked),
        // The whole rest of the line: a display name may have spaces.
        "/nick" => Ok(Command::Nick(rest(1))),
        "/whois" => match args.as_slice() {
            [user] => Ok(Command::Whois(user_arg(user)?)),
            _ => usage("user"),
        },
        "/reply" => match (args.first(), rest(2)) {
            (Some(what), Some(text)) => Ok(Command::Reply {
                what: message_arg(what)?,
                text,
            }),
            _ => usage("id|@user text"),
        },
        "/edit" => match args.first().map(|a| a.parse::<MessageId>()) {
            Some(Ok(id)) => match rest(2) {
                Some(text) => Ok(Command::Edit { id: Some(id), text }),
                None => usage("[id] text"),
            },
            Some(Err(_)) => Ok(Command::Edit {
                id: None,
                text: rest(1).unwrap_or_default(),
            }),
            None => usage("[id] text"),
        },
        "/delete" | "/del" => match args.as_slice() {
            [what] => Ok(Command::Delete(message_arg(what)?)),
            _ => usage("id|@user"),
        },
        "/react" => match args.as_slice() {
            [what, key] => Ok(Command::React {
                what: message_arg(what)?,
                key: (*key).to_owned(),
            }),
            _ => usage("id|@user :emoji:"),
        },
        "/thread" => match args.as_slice() {
            [what] => Ok(Command::Thread(message_arg(what)?)),
            _ => usage("id|@user"),
        },
        "/search" | "/find" => rest(1).map(Command::Search).map_or(usage("query"), Ok),
        "/report" => match (args.first(), rest(2)) {
            (Some(what), Some(reason)) => Ok(Command::Report {
                // User names start with a letter: digits are an id.
                what: match what.parse() {
                    Ok(id) => Reported::Id(id),
                    Err(_) => Reported::Newest(user_arg(what)?),
                },
                reason,
            }),
            _ => usage("id|@user reason"),
        },
        "/accept" | "/decline" => match args.as_slice() {
            [room] => {
                let room = invited_room_arg(room)?;
                Ok(if name == "/accept" {
                    Command::Accept(room)
                } else {
                    Command::Decline(room)
                })
            }
            _ => usage("#room"),
        },
        "/invites" | "/invitations" => match args.as_slice() {
            [] => Ok(Command::Invites(None)),
            [policy] => Ok(Command::Invites(Some(match *policy {
                "anyone" => InvitePolicy::Anyone,
                "shared" => InvitePolicy::Shared,
                "nobody" => InvitePolicy::Nobody,
                _ => return usage("[anyone|shared|nobody]"),
            }))),
            _ => usage("[anyone|shared|nobody]"),
        },
        "/open" => match args.as_slice() {
            [] => Ok(Command::Open(1)),
            [n] => match n.parse() {
                Ok(n) if n > 0 => Ok(Command::Open(n)),
                _ => usage("[N] (1 is the newest link or file)"),
            },
            _ => usage("[N] (1 is the newest link or file)"),
        },
        "/upload" => {
            let rest = text_after(line, 1).unwrap_or_default();
            match path_arg(&rest) {
                Some((path, caption)) => Ok(Command::Upload { path, caption }),
                None => usage("path [caption]"),
            }
        }
        "/download" => match args.as_slice() {
            [] => Ok(Command::Download { n: 1, dir: None }),
            [first, ..] => match first.parse::<usize>() {
                Ok(0) => usage("[N] [dir] (1 is the newest file)"),
                Ok(n) => Ok(Command::Download {
                    n,
                    dir: text_after(line, 2),
                }),
                Err(_) => Ok(Command::Download {
                    n: 1,
                    dir: text_after(line, 1),
                }),
            },
        },
        "/notify" => match args.as_slice() {
            ["all"] => Ok(Command::Notify(crate::notify::NotifyLevel::All)),
            ["mentions"] => Ok(Command::Notify(crate::notify::NotifyLevel::Mentions)),
            ["none"] => Ok(Command::Notify(crate::notify::NotifyLevel::None)),
            _ => usage("all|mentions|none"),
        },
        "/mute" | "/unmute" => match args.as_slice() {
            [] => Ok(Command::Mute(name == "/mute")),
            _ => usage(""),
        },
        "/markread" | "/read" => match args.as_slice() {
            [] => Ok(Command::MarkRead { all: false }),
            ["--all" | "-a" | "all"] => Ok(Command::MarkRead { all: true }),
            _ => usage("[--all]"),
        },
        "/close" => match args.as_slice() {
            [] => Ok(Command::Close),
            _ => usage(""),
        },
        "/clear" => match args.as_slice() {
            [] => Ok(Command::Clear),
            _ => usage(""),
        },
        "/help" | "/?" => Ok(Command::Help),
        "/quit" | "/exit" => Ok(Command::Quit),
        other => Err(format!("unknown command {other}; /help lists them")),
    }
}

/// Running a command: what it changes here and what it asks the server.
impl App {
    /// Runs `cmd` typed in the current room (`/me`, `/topic` and the
    /// moderation commands act there).
    pub(super) fn run_command(&mut self, cmd: Command, now_ms: i64) -> Vec<Effect> {
        let here = self.room().map(|r| r.name.clone()).unwrap_or_default();
        let request = |req: Request, then: Then| vec![Effect::Request { req, then }];
        let report = |room: &str, ok: String| Then::Report {
            room: room.to_owned(),
            ok,
        };
        match cmd {
            Command::Join(room) => {
                if let Some(i) = self.rooms.index_of(&room) {
                    return self.switch_to(i);
                }
                request(Request::Join { room }, Then::Joined)
            }
            Command::Leave(room) => {
                let room = room.unwrap_or(here);
                request(Request::Leave { room: room.clone() }, Then::Quiet { room })
            }
            Command::Create { room, private } => {
                request(Request::Create { room, private }, Then::Joined)
            }
            Command::Invite { user, room } => {
                let room = room.unwrap_or(here);
                let ok = format!("invited {user} to {room}");
                request(
                    Request::Invite {
                        room: room.clone(),
                        user,
                    },
                    report(&room, ok),
                )
            }
            // The room's "was kicked" notice says it: no second line.
            Command::Kick { user, reason } => request(
                Request::Kick {
                    room: here.clone(),
                    user,
                    reason,
                },
                Then::Quiet { room: here },
            ),
            Command::Ban { user, reason } => {
                // A member's ban shows as "was banned"; someone not here
                // leaves nothing to see, so the reply says it.
                let member = self
                    .room()
                    .is_some_and(|r| r.members.iter().any(|m| m.name == user));
                let then = if member {
                    Then::Quiet { room: here.clone() }
                } else {
                    report(&here, format!("banned {user}"))
                };
                request(
                    Request::Ban {
                        room: here.clone(),
                        user,
                        reason,
                    },
                    then,
                )
            }
            Command::Unban(user) => {
                let ok = format!("unbanned {user}");
                request(
                    Request::Unban {
                        room: here.clone(),
                        user,
                    },
                    report(&here, ok),
                )
            }
            Command::Topic(topic) => request(
                Request::Topic {
                    room: here.clone(),
                    topic,
                },
                Then::Quiet { room: here },
            ),
            Command::Mode(None) => {
                let text = self.room().map_or_else(String::new, |r| {
                    let who = if r.announce {
                        "only moderators post (+announce)"
                    } else {
                        "every member posts (-announce)"
                    };
                    match &r.category {
                        Some(c) => format!("{here}: {who}; category {c}"),
                        None => format!("{here}: {who}; no category"),
                    }
                });
                self.notice(Some(&here), now_ms, EntryKind::Notice(text));
                Vec::new()
            }
            Command::Mode(Some(announce)) => request(
                Request::SetMode {
                    room: here.clone(),
                    announce: Some(announce),
                    category: None,
                },
                Then::Quiet { room: here },
            ),
            Command::Category(category) => request(
                Request::SetMode {
                    room: here.clone(),
                    announce: None,
                    category: Some(category),
                },
                Then::Quiet { room: here },
            ),
            Command::Fold(name) => self.fold(&here, name.as_deref(), now_ms),
            Command::Receipts(share) => self.set_receipts(&here, share, now_ms),
            Command::Seen(id) => self.ask_seen(&here, id, now_ms),
            Command::Msg { user, text } => {
                let room = format!("@{user}");
                let mut effects = Vec::new();
                if let Some(i) = self.rooms.index_of(&room) {
                    effects.extend(self.switch_to(i));
                } else {
                    effects.push(Effect::Request {
                        req: Request::Join { room: room.clone() },
                        then: Then::Joined,
                    });
                }
                if let Some(text) = text {
                    // Not listed yet: the send itself opens it.
                    self.rooms.add(&super::rooms::direct_state(&room, 0));
                    effects.extend(self.send_text(&room, text, false, now_ms));
                }
                effects
            }
            Command::Me(text) => {
                if here.is_empty() {
                    self.error(now_ms, "join a room first: /join #room");
                    return Vec::new();
                }
                if self.ask_split(&here, &text, true, &format!("/me {text}"), now_ms) {
                    return Vec::new();
                }
                self.send_text(&here, text, true, now_ms)
            }
            Command::Presence { state, status } => {
                let ok = match state {
                    PresenceState::Away => "you are away",
                    PresenceState::Busy => "you are busy",
                    PresenceState::Invisible => "you are invisible",
                    _ => "you are online",
                };
                let mut effects = self.choose_presence(state, status.clone());
                if self.online() {
                    effects.extend(request(
                        Request::Presence { state, status },
                        report(&here, ok.into()),
                    ));
                } else {
                    // The next login carries it.
                    self.notice(
                        None,
                        now_ms,
                        EntryKind::Notice(format!("{ok} (from the next connection)")),
                    );
                }
                effects
            }
            Command::Role { user, role } => {
                let ok = format!("{user} is now {role:?}").to_lowercase();
                request(
                    Request::SetRole {
                        room: here.clone(),
                        user,
                        role,
                    },
                    report(&here, ok),
                )
            }
            Command::Users => {
                let list = self
                    .room()
                    .map(|r| {
                        r.members
                            .iter()
                            .map(|m| m.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                self.notice(None, now_ms, EntryKind::Notice(format!("members: {list}")));
                Vec::new()
            }
            Command::Rooms => request(Request::Directory, Then::Directory),
            Command::Stats => request(Request::Stats, Then::Stats),
            Command::Block(user) => {
                if user == self.user {
                    self.error(now_ms, "you cannot block yourself");
                    return Vec::new();
                }
                let req = Request::Block { user: user.clone() };
                self.safety_request(here, Op::Block(user), req, now_ms)
            }
            Command::Unblock(user) => {
                let req = Request::Unblock { user: user.clone() };
                self.safety_request(here, Op::Unblock(user), req, now_ms)
            }
            Command::Blocked => self.safety_request(here, Op::Blocked, Request::Blocked, now_ms),
            Command::Report { what, reason } => self.report(&here, what, reason, now_ms),
            Command::Accept(room) => {
                let req = Request::Accept { room: room.clone() };
                self.safety_request(here, Op::Accept(room), req, now_ms)
            }
            Command::Decline(room) => {
                let req = Request::Decline { room: room.clone() };
                self.safety_request(here, Op::Decline(room), req, now_ms)
            }
            Command::Invites(None) => {
                self.safety_request(here, Op::Invitations, Request::Invitations, now_ms)
            }
            Command::Invites(Some(policy)) => self.safety_request(
                here,
                Op::SetInvites(policy),
                Request::SetInvites { policy },
                now_ms,
            ),
            Command::Open(n) => self.open_link(n, now_ms),
            Command::Upload { path, caption } => self.upload(&path, caption, now_ms),
            Command::Download { n, dir } => self.download(n, dir, now_ms),
            Command::Nick(display_name) => {
                if !self.supports(features::PROFILES, &here, now_ms) {
                    return Vec::new();
                }
                let ok = match &display_name {
                    Some(d) => format!("your display name is now {d}"),
                    None => "your display name is cleared".to_owned(),
                };
                request(Request::SetProfile { display_name }, report(&here, ok))
            }
            Command::Reply { .. }
            | Command::Edit { .. }
            | Command::Delete(_)
            | Command::React { .. }
            | Command::Thread(_)
            | Command::Search(_) => self.run_rich(cmd, now_ms),
            Command::Whois(user) => {
                if !self.supports(features::WHOIS, &here, now_ms) {
                    return Vec::new();
                }
                request(Request::Whois { user }, Then::Whois { room: here })
            }
            Command::Help => {
                self.overlay = Overlay::Help(super::Help::default());
                Vec::new()
            }
            Command::Quit => self.ask_quit(now_ms),
            Command::Notify(level) => self.set_notify(&here, level, now_ms),
            Command::Mute(muted) => self.set_muted(&here, muted, now_ms),
            Command::MarkRead { all } => self.mark_all_read(&here, all),
            Command::Close => self.close_direct(&here, now_ms),
            Command::Clear => {
                self.clear_view(&here);
                Vec::new()
            }
        }
    }

    /// Asks for a blocking, report or invitation request made in `room`,
    /// unless the server does not list the feature it needs.
    fn safety_request(&mut self, room: String, op: Op, req: Request, now_ms: i64) -> Vec<Effect> {
        if !self.supports(op.feature(), &room, now_ms) {
            return Vec::new();
        }
        vec![Effect::Request {
            req,
            then: Then::Safety { room, op },
        }]
    }

    /// `/open N`: the Nth newest link or file among the messages loaded
    /// in the room on screen, counted from the bottom as they are shown (a
    /// message's files are below its text: the last file of the newest
    /// message is 1, then its links). A blocked user's messages do not
    /// count: they are not shown.
    fn open_link(&mut self, n: usize, now_ms: i64) -> Vec<Effect> {
        enum Item {
            Link(String),
            File(natter_shared::Attachment),
        }
        let Some(room) = self.room() else {
            self.error(now_ms, "join a room first: /join #room");
            return Vec::new();
        };
        let item = room
            .entries
            .iter()
            .rev()
            .filter(|e| match &e.kind {
                EntryKind::Msg { from, .. } => *from == self.user || !self.safety.is_blocked(from),
                _ => false,
            })
            .flat_map(|e| {
                let EntryKind::Msg { body, .. } = &e.kind else {
                    return Vec::new();
                };
                let mut items: Vec<Item> = e
                    .rich
                    .attachments
                    .iter()
                    .rev()
                    .cloned()
                    .map(Item::File)
                    .collect();
                items.extend(
                    super::text::urls(body)
                        .into_iter()
                        .rev()
                        .map(|(_, url)| Item::Link(url.to_owned())),
                );
                items
            })
            .nth(n - 1);
        match item {
            Some(Item::Link(url)) => vec![Effect::Open { url }],
            Some(Item::File(file)) => self.open_file(file),
            None => {
                self.error(now_ms, format!("no link or file {n} in this room"));
                Vec::new()
            }
        }
    }

    /// `/report` in `here`: the message by id, or a user's newest one
    /// loaded here.
    fn report(&mut self, here: &str, what: Reported, reason: String, now_ms: i64) -> Vec<Effect> {
        let Some(room) = self.room() else {
            self.error(now_ms, "join a room first: /join #room");
            return Vec::new();
        };
        let author_of = |e: &super::Entry| match &e.kind {
            EntryKind::Msg { from, .. } => Some(from.clone()),
            _ => None,
        };
        let (id, author) = match what {
            Reported::Id(id) => (id, room.entries.message(id).and_then(author_of)),
            Reported::Newest(user) => {
                let newest = room
                    .entries
                    .iter()
                    .rev()
                    .find_map(|e| match (&e.kind, e.id) {
                        (EntryKind::Msg { from, .. }, Some(id)) if *from == user => Some(id),
                        _ => None,
                    });
                let Some(id) = newest else {
                    let text = format!(
                        "no message from {user} is loaded in {here}; scroll up to load older ones"
                    );
                    self.error(now_ms, text);
                    return Vec::new();
                };
                (id, Some(user))
            }
        };
        let req = Request::Report {
            room: here.to_owned(),
            id,
            reason,
        };
        self.safety_request(here.to_owned(), Op::Report { id, author }, req, now_ms)
    }
}

/// A message over the server's size limit, waiting for the answer to
/// "send as N messages? y/n".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub room: String,
    /// The pieces, in the order they go out.
    pub parts: Vec<String>,
    pub action: bool,
    /// The line as typed, back in the input on "n".
    pub line: String,
}

/// `body` as pieces of at most `max` bytes, in order: split after a
/// newline where possible (that newline is dropped: the message boundary
/// stands for it), else after a space, else between grapheme clusters, so
/// no character, and no emoji or accented letter, is cut in two. Pieces
/// with nothing but spacing are left out.
#[must_use]
pub fn split_body(body: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut cur = String::new();
    // A piece's trailing newline or space is dropped if a part ends there,
    // and counted by the next piece otherwise.
    let add = |piece: &str, cur: &mut String, parts: &mut Vec<String>| {
        let counted = piece.trim_end_matches(['\n', ' ']).len();
        if cur.len() + counted > max && !cur.is_empty() {
            parts.push(std::mem::take(cur));
        }
        cur.push_str(piece);
    };
    for line in body.split_inclusive('\n') {
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if bare.len() <= max {
            add(line, &mut cur, &mut parts);
            continue;
        }
        for word in line.split_inclusive(' ') {
            if word.trim_end_matches(['\n', ' ']).len() <= max {
                add(word, &mut cur, &mut parts);
                continue;
            }
            for g in word.graphemes(true) {
                add(g, &mut cur, &mut parts);
            }
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim_end_matches(['\n', ' ']).to_owned())
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// A size for people: `900 bytes`, `9 KB`.
fn size(bytes: usize) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// Long messages: asking before splitting, and the answer.
impl App {
    /// When `body` is over the server's limit, keeps it (as typed in
    /// `line`) for a y/n question instead of sending it, and says so.
    /// False when it fits, or the limit is not known yet.
    pub(super) fn ask_split(
        &mut self,
        room: &str,
        body: &str,
        action: bool,
        line: &str,
        now_ms: i64,
    ) -> bool {
        let Some(max) = self.max_body else {
            return false;
        };
        if body.len() <= max {
            return false;
        }
        let parts = split_body(body, max);
        let text = format!(
            "This is {}, over the {max}-byte limit: send as {} messages? y/n",
            size(body.len()),
            parts.len()
        );
        self.notice(Some(room), now_ms, EntryKind::Notice(text));
        self.split = Some(Split {
            room: room.to_owned(),
            parts,
            action,
            line: line.to_owned(),
        });
        true
    }

    /// The key after "send as N messages? y/n": `y` sends the pieces in
    /// order, `n` or Esc puts the text back in the input; other keys wait.
    /// `None` when nothing is being asked.
    pub(super) fn answer_split(&mut self, key: &KeyEvent, now_ms: i64) -> Option<Vec<Effect>> {
        if !matches!(self.overlay, Overlay::None) {
            return None;
        }
        let split = self.split.take()?;
        match key.code {
            KeyCode::Char('y' | 'Y') => {
                let mut effects = Vec::new();
                for part in split.parts {
                    effects.extend(self.send_text(&split.room, part, split.action, now_ms));
                }
                Some(effects)
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                self.composer.clear();
                self.composer.paste(&split.line);
                self.notice(
                    Some(&split.room),
                    now_ms,
                    EntryKind::Notice("not sent; the text is back in the input".into()),
                );
                Some(Vec::new())
            }
            _ => {
                self.split = Some(split);
                Some(Vec::new())
            }
        }
    }

    /// A notice in the room on screen, from the event loop (what `/open`
    /// did).
    pub fn note(&mut self, text: impl Into<String>) {
        self.notice(None, super::text::now_ms(), EntryKind::Notice(text.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_their_arguments() {
        assert_eq!(parse("/join rust"), Ok(Command::Join("#rust".into())));
        assert_eq!(
            parse("/create --private #Ops"),
            Ok(Command::Create {
                room: "#ops".into(),
                private: true
            })
        );
        assert_eq!(
            parse("/kick @Bob spamming links"),
            Ok(Command::Kick {
                user: "bob".into(),
                reason: Some("spamming links".into())
            })
        );
        assert_eq!(
            parse("/msg @carol hi there"),
            Ok(Command::Msg {
                user: "carol".into(),
                text: Some("hi there".into())
            })
        );
        assert_eq!(
            parse("/away lunch"),
            Ok(Command::Presence {
                state: PresenceState::Away,
                status: Some("lunch".into())
            })
        );
        assert_eq!(parse("/leave"), Ok(Command::Leave(None)));
        assert_eq!(
            parse("/me  waves   slowly\nand long"),
            Ok(Command::Me("waves   slowly\nand long".into()))
        );
        assert_eq!(
            parse("/role bob mod"),
            Ok(Command::Role {
                user: "bob".into(),
                role: Role::Moderator
            })
        );
    }

    #[test]
    fn blocking_report_and_invitation_commands_parse() {
        assert_eq!(
            parse("/block @Mallory"),
            Ok(Command::Block("mallory".into()))
        );
        assert_eq!(parse("/unblock eve"), Ok(Command::Unblock("eve".into())));
        assert_eq!(parse("/blocked"), Ok(Command::Blocked));
        assert_eq!(
            parse("/report 42 spam,  and rude"),
            Ok(Command::Report {
                what: Reported::Id(42),
                reason: "spam,  and rude".into()
            })
        );
        assert_eq!(
            parse("/report @Mallory spam"),
            Ok(Command::Report {
                what: Reported::Newest("mallory".into()),
                reason: "spam".into()
            })
        );
        assert_eq!(parse("/accept ops"), Ok(Command::Accept("#ops".into())));
        assert_eq!(parse("/decline #Ops"), Ok(Command::Decline("#ops".into())));
        assert_eq!(parse("/invites"), Ok(Command::Invites(None)));
        assert_eq!(
            parse("/invites shared"),
            Ok(Command::Invites(Some(InvitePolicy::Shared)))
        );
        assert_eq!(parse("/block"), Err("usage: /block user".into()));
        assert_eq!(
            parse("/report 42"),
            Err("usage: /report id|@user reason".into())
        );
        assert!(parse("/report 4x2 spam").unwrap_err().contains("invalid"));
        assert_eq!(
            parse("/accept @bob"),
            Err("invitations are to #rooms, not @bob".into())
        );
        assert!(parse("/invites all").unwrap_err().starts_with("usage"));
    }

    #[test]
    fn bad_commands_say_what_is_wrong_in_one_line() {
        assert_eq!(parse("/join"), Err("usage: /join #room".into()));
        assert!(
            parse("/frob")
                .unwrap_err()
                .contains("unknown command /frob")
        );
        assert!(parse("/join #bad name").unwrap_err().starts_with("usage"));
        assert!(parse("/join #b@d").unwrap_err().contains("invalid"));
        assert!(parse("/me").unwrap_err().starts_with("usage"));
        for e in [parse("/kick"), parse("/topic"), parse("/unban a b")] {
            assert!(!e.unwrap_err().contains('\n'));
        }
    }
}
