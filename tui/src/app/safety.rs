//! Blocking, reports and invitations as the client sees them: who you
//! block, the invitations waiting for your answer, and the notices both
//! write.
//!
//! The server does most of blocking: it refuses a blocked user's direct
//! messages and stops their typing and presence reaching you. Their
//! messages in rooms you share still arrive, and only the client can hide
//! them: they stay in the timeline (so `/unblock` shows them again at once)
//! and `text::Layout` collapses each run of them into one dimmed line.
//! They count neither as unread nor for notifications.
//!
//! Invitations wait here until answered, so that a reconnect's
//! `SessionInfo`, which lists them again, announces only the new ones.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use natter_shared::features;
use natter_shared::text::escape;
use natter_shared::{ErrorCode, ErrorReply, Invitation, InvitePolicy, MessageId, Report, Response};

use super::timeline::EntryKind;
use super::{App, Effect};

/// Longest excerpt of a reported message in a report notice, in
/// characters: the notice stays about one line.
const EXCERPT_CHARS: usize = 80;
/// Longest reason in a report notice, in characters.
const REASON_CHARS: usize = 100;

/// Who you block and which invitations wait for you.
#[derive(Debug, Clone, Default)]
pub struct Safety {
    /// By name, sorted for `/blocked`.
    blocked: BTreeSet<String>,
    /// Waiting for `/accept` or `/decline`, oldest first, one per room.
    invitations: Vec<Invitation>,
    /// An invitation accepted whose room the server has not added yet: it
    /// goes on screen when it does.
    accepted: Option<String>,
}

impl Safety {
    /// Whether you block `user`.
    #[must_use]
    pub fn is_blocked(&self, user: &str) -> bool {
        self.blocked.contains(user)
    }

    /// Who you block, sorted.
    #[must_use]
    pub fn blocked(&self) -> &BTreeSet<String> {
        &self.blocked
    }

    /// Invitations waiting for your answer, oldest first.
    #[must_use]
    pub fn invitations(&self) -> &[Invitation] {
        &self.invitations
    }

    /// Takes the server's lists at login (first time or after a
    /// reconnect); returns the invitations not seen before, to announce.
    pub(crate) fn on_login(
        &mut self,
        blocked: &[String],
        invitations: &[Invitation],
    ) -> Vec<Invitation> {
        self.blocked = blocked.iter().cloned().collect();
        let new = invitations
            .iter()
            .filter(|i| !self.invitations.contains(i))
            .cloned()
            .collect();
        self.invitations = invitations.to_vec();
        new
    }

    /// A new invitation; it replaces an older one to the same room.
    pub(crate) fn invited(&mut self, invitation: &Invitation) {
        self.invitations.retain(|i| i.room != invitation.room);
        self.invitations.push(invitation.clone());
    }

    /// You are in `room` now: its invitation, if any, is answered. True if
    /// you had just accepted it (the room should go on screen).
    pub(crate) fn joined(&mut self, room: &str) -> bool {
        self.invitations.retain(|i| i.room != room);
        if self.accepted.as_deref() == Some(room) {
            self.accepted = None;
            return true;
        }
        false
    }
}

/// A blocking, report or invitation request, for what its reply does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Block(String),
    Unblock(String),
    /// `/blocked`.
    Blocked,
    /// Message `id`, by `author` when the timeline knows it.
    Report {
        id: MessageId,
        author: Option<String>,
    },
    Accept(String),
    Decline(String),
    /// `/invites`.
    Invitations,
    SetInvites(InvitePolicy),
}

impl Op {
    /// The `Welcome.features` name the server must list for this.
    #[must_use]
    pub fn feature(&self) -> &'static str {
        match self {
            Op::Block(_) | Op::Unblock(_) | Op::Blocked => features::BLOCKING,
            Op::Report { .. } => features::REPORTS,
            Op::Accept(_) | Op::Decline(_) | Op::Invitations | Op::SetInvites(_) => {
                features::INVITATIONS
            }
        }
    }

    /// What was asked, for "cannot ...".
    fn describe(&self) -> String {
        match self {
            Op::Block(user) => format!("block {user}"),
            Op::Unblock(user) => format!("unblock {user}"),
            Op::Blocked => "list who you block".to_owned(),
            Op::Report { id, .. } => format!("report message {id}"),
            Op::Accept(room) => format!("accept the invitation to {room}"),
            Op::Decline(room) => format!("decline the invitation to {room}"),
            Op::Invitations => "list your invitations".to_owned(),
            Op::SetInvites(_) => "change who may add you to rooms".to_owned(),
        }
    }
}

/// The error line for a refused `op`: what did not happen and why. A
/// server without the request says so in words, not as a code.
#[must_use]
pub fn refusal(op: &Op, e: &ErrorReply) -> String {
    if e.code == ErrorCode::Unsupported {
        return format!("cannot {}: {}", op.describe(), unsupported(op.feature()));
    }
    format!("cannot {}: {}", op.describe(), e.message)
}

/// "this server does not support blocking", for a feature name.
#[must_use]
pub fn unsupported(feature: &str) -> String {
    format!("this server does not support {feature}")
}

/// How a run of `n` hidden messages shows in the timeline.
#[must_use]
pub fn hidden_text(n: usize) -> String {
    if n == 1 {
        "1 message from a blocked user".to_owned()
    } else {
        format!("{n} messages from blocked users")
    }
}

/// The notice for an invitation: who, where, and how to answer.
#[must_use]
pub fn invitation_text(invitation: &Invitation) -> String {
    let room = escape(&invitation.room);
    format!(
        "{} invited you to {room} — /accept {room} or /decline {room}",
        escape(&invitation.by)
    )
}

/// The notice for a report, on one line: every peer's text escaped, the
/// reason and the excerpt cut short.
#[must_use]
pub fn report_text(r: &Report) -> String {
    format!(
        "⚑ {} reported {}'s message {} in {}: {} — “{}”",
        escape(&r.by),
        escape(&r.author),
        r.message,
        escape(&r.room),
        cut(&r.reason, REASON_CHARS),
        cut(&r.excerpt, EXCERPT_CHARS),
    )
}

/// `text` escaped and cut to `max` characters (an ellipsis marks the cut).
fn cut(text: &str, max: usize) -> String {
    let text = escape(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// What a policy means, once set.
fn policy_text(policy: InvitePolicy) -> &'static str {
    match policy {
        InvitePolicy::Anyone => "anyone may add you to a room",
        InvitePolicy::Shared => {
            "people who share a room with you (besides #general) may add you; others' invitations wait for /accept"
        }
        InvitePolicy::Nobody | InvitePolicy::Unknown => {
            "every invitation now waits for /accept or /decline"
        }
    }
}

/// The invitations as `/invites` lists them.
fn invitations_text(list: &[Invitation]) -> String {
    if list.is_empty() {
        return "no pending invitations; /invites anyone|shared|nobody sets who may add you"
            .to_owned();
    }
    let mut text = match list.len() {
        1 => "1 pending invitation:".to_owned(),
        n => format!("{n} pending invitations:"),
    };
    for i in list {
        let room = escape(&i.room);
        let _ = write!(
            text,
            "\n  {room} from {} — /accept {room} or /decline {room}",
            escape(&i.by)
        );
    }
    text
}

/// Blocking, reports and invitations: what the app does with them.
impl App {
    /// Whether the server lists `feature`; if it does not, says so in
    /// `room` and returns false. Before the first welcome nothing is known
    /// and the request is tried.
    pub(super) fn supports(&mut self, feature: &str, room: &str, now_ms: i64) -> bool {
        match &self.features {
            Some(list) if !list.iter().any(|f| f == feature) => {
                self.notice(Some(room), now_ms, EntryKind::Error(unsupported(feature)));
                false
            }
            _ => true,
        }
    }

    /// Someone invited you: noted, and announced in the room on screen.
    pub(super) fn on_invited(&mut self, invitation: &Invitation) {
        self.safety.invited(invitation);
        self.notice(
            None,
            invitation.at,
            EntryKind::Notice(invitation_text(invitation)),
        );
    }

    /// A report for moderators: announced in the room on screen.
    pub(super) fn on_reported(&mut self, report: &Report) {
        self.notice(None, report.at, EntryKind::Notice(report_text(report)));
    }

    /// The reply to a blocking, report or invitation request made in
    /// `room`: the state follows what succeeded, and a notice says what
    /// happened either way.
    pub(super) fn on_safety_reply(
        &mut self,
        room: &str,
        op: Op,
        result: Result<Response, ErrorReply>,
        now_ms: i64,
    ) -> Vec<Effect> {
        let res = match result {
            Ok(res) => res,
            Err(e) => {
                self.notice(Some(room), now_ms, EntryKind::Error(refusal(&op, &e)));
                return Vec::new();
            }
        };
        let mut effects = Vec::new();
        let text = match (op, res) {
            (Op::Block(user), _) => {
                for r in &mut self.rooms {
                    r.typing.remove(&user);
                }
                let text = format!(
                    "blocked {user}: their messages are hidden and they cannot message you directly; /unblock {user} undoes it"
                );
                self.safety.blocked.insert(user);
                text
            }
            (Op::Unblock(user), _) => {
                let text = format!("unblocked {user}: their messages show again");
                self.safety.blocked.remove(&user);
                text
            }
            (Op::Blocked, Response::Blocked(list)) => {
                self.safety.blocked = list.into_iter().collect();
                match self.safety.blocked.len() {
                    0 => "you block nobody".to_owned(),
                    n => format!(
                        "you block {n}: {}",
                        self.safety
                            .blocked
                            .iter()
                            .map(|u| escape(u))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
            (Op::Report { id, author }, _) => match author {
                Some(author) => format!("reported {author}'s message {id} to the moderators"),
                None => format!("reported message {id} to the moderators"),
            },
            (Op::Accept(accepted), _) => {
                self.safety.invitations.retain(|i| i.room != accepted);
                let text = format!("accepted the invitation to {accepted}");
                match self.rooms.index_of(&accepted) {
                    Some(i) => effects.extend(self.switch_to(i)),
                    // The server's RoomAdded is still on its way.
                    None => self.safety.accepted = Some(accepted),
                }
                text
            }
            (Op::Decline(declined), _) => {
                self.safety.invitations.retain(|i| i.room != declined);
                format!("declined the invitation to {declined}")
            }
            (Op::Invitations, Response::Invitations(list)) => {
                let text = invitations_text(&list);
                self.safety.invitations = list;
                text
            }
            (Op::SetInvites(policy), _) => policy_text(policy).to_owned(),
            (op @ (Op::Blocked | Op::Invitations), other) => {
                tracing::warn!(?op, ?other, "unexpected reply");
                let text = format!("cannot {}: unexpected reply from the server", op.describe());
                self.notice(Some(room), now_ms, EntryKind::Error(text));
                return effects;
            }
        };
        self.notice(Some(room), now_ms, EntryKind::Notice(text));
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_escape_peer_text_and_stay_on_one_line() {
        let report = Report {
            id: 7,
            room: "#general".into(),
            message: 42,
            author: "mallory".into(),
            excerpt: "buy now\n\u{1b}]52;c;aGk=\u{7}".into(),
            by: "alice".into(),
            reason: "spam\u{202e}".into(),
            at: 0,
        };
        let text = report_text(&report);
        assert_eq!(
            text,
            "⚑ alice reported mallory's message 42 in #general: spam\\u{202e} — “buy now\\n\\u{1b}]52;c;aGk=\\u{7}”"
        );
        assert!(!text.chars().any(natter_shared::text::is_unsafe));
        let long = Report {
            excerpt: "x".repeat(200),
            reason: "y".repeat(300),
            ..report
        };
        let text = report_text(&long);
        assert!(text.contains(&format!("{}…", "y".repeat(REASON_CHARS - 1))));
        assert!(text.contains(&format!("“{}…”", "x".repeat(EXCERPT_CHARS - 1))));
    }

    #[test]
    fn hidden_runs_count_in_words() {
        assert_eq!(hidden_text(1), "1 message from a blocked user");
        assert_eq!(hidden_text(3), "3 messages from blocked users");
    }

    #[test]
    fn a_reconnect_announces_only_new_invitations() {
        let invitation = |room: &str, at| Invitation {
            room: room.into(),
            by: "bob".into(),
            at,
        };
        let mut s = Safety::default();
        let first = [invitation("#ops", 1)];
        assert_eq!(s.on_login(&["mallory".into()], &first), first);
        assert!(s.is_blocked("mallory"));
        let again = [invitation("#ops", 1), invitation("#dev", 2)];
        assert_eq!(s.on_login(&[], &again), [invitation("#dev", 2)]);
        assert!(!s.is_blocked("mallory"));
        assert!(!s.joined("#ops"), "not accepted here");
        assert_eq!(s.invitations(), [invitation("#dev", 2)]);
    }
}
