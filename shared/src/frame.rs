//! Every value that crosses the wire.
//!
//! Client to server: [`ClientFrame`], a request id plus one [`Request`].
//! Server to client: [`ServerFrame`]: exactly one `Ok` or `Err` per request,
//! carrying the request's id, and [`Event`]s pushed by the server, which carry
//! none.
//!
//! Frames are MessagePack maps with named fields (`rmp_serde::to_vec_named`),
//! so a field can be added with `#[serde(default)]` without breaking an older
//! peer. Enum variants are tagged by their snake_case name.
//!
//! # Growing without breaking anyone
//! - A request this build does not know decodes as [`Request::Unknown`]
//!   (see [`crate::codec::decode_client`]); the server answers it with
//!   [`ErrorCode::Unsupported`] and keeps the connection.
//! - Enums that will grow decode a value they do not know as a catch-all:
//!   [`Response::Unknown`], [`Event::Unknown`], [`Role::Unknown`],
//!   [`RoomKind::Unknown`], [`PresenceState::Unknown`],
//!   [`LeaveKind::Unknown`], [`ErrorCode::Other`]. Clients skip events they
//!   do not know.
//! - Optional capabilities are named in `Welcome.features` ([`features`]).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A client-chosen request id, echoed in the reply. Clients start at 1: id 0
/// is what the server uses when it cannot read the id of a malformed frame.
pub type RequestId = u64;

/// A message id: server-assigned, increasing in the order messages are
/// stored, so ids are totally ordered within a room and paging is by id.
pub type MessageId = u64;

/// A revision: server-assigned from one counter, increasing in the order
/// changes are stored. A new message gets one, and so does every later
/// change to it (an edit, a delete, a reaction, a reply in its thread).
/// A client that remembers the highest revision it has seen in a room
/// catches up on everything after it with [`HistoryQuery::since`].
pub type Rev = u64;

/// A file's id: server-assigned per upload (see [`Attachment`]).
pub type FileId = u64;

/// Most files one message carries.
pub const MAX_ATTACHMENTS: usize = 10;

/// Binary data on the wire: a MessagePack `bin`, not an array of numbers.
pub use serde_bytes::ByteBuf;

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One frame from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Echoed in the one reply this request gets.
    pub id: RequestId,
    /// What is asked.
    pub req: Request,
}

/// How a client logs in. `Debug` shows the kind, never the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// The account password; the reply carries a fresh session token.
    Password(String),
    /// A session token from an earlier password login.
    Token(String),
    /// The account password, for this connection only: no session token is
    /// issued. For scripts that hold the password anyway (an environment
    /// variable, a password manager), so their runs do not pile up tokens.
    PasswordOnly(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credential::Password(_) => "Password(<redacted>)",
            Credential::Token(_) => "Token(<redacted>)",
            Credential::PasswordOnly(_) => "PasswordOnly(<redacted>)",
        })
    }
}

/// A password or token inside a request or reply. The same string on the
/// wire; `Debug` never shows it, so logging a frame cannot leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret itself.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which page of a room's history to fetch. At most one of `before`,
/// `after`, `around` and `since` may be set; with none, the newest
/// messages are returned.
///
/// Pages of the room (`thread` unset) leave out replies inside threads:
/// they belong to their thread's page. `since` is the exception: a
/// catch-up returns every change, threads included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Messages with ids strictly below this one, newest first cut.
    #[serde(default)]
    pub before: Option<MessageId>,
    /// Messages with ids strictly above this one (reconnect catch-up).
    #[serde(default)]
    pub after: Option<MessageId>,
    /// How many at most; the server caps it at `Limits::max_history_page`.
    pub limit: u32,
    /// The page centred on this message, which is in it (feature
    /// `around`): a search result or a reply's parent opened in context.
    /// `no_such_message` when the asker may not see it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub around: Option<MessageId>,
    /// Every message whose revision is above this one, in revision order
    /// (feature `changes`): new messages and the current state of changed
    /// ones (edited, deleted, reacted to, replied to in a thread). The
    /// reply's `rev` is where the next catch-up starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Rev>,
    /// Only the replies in the thread rooted at this message, and the root
    /// itself first (feature `threads`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<MessageId>,
}

/// Every request a client can make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// The first frame of every connection. Answered by [`Response::Welcome`]
    /// or, on a version mismatch, an error naming both versions and a close.
    Hello {
        protocol: u32,
        client: String,
        client_version: String,
        /// Compression the client reads (`"zstd"`); the server then may
        /// send large replies as [`ServerFrame::Compressed`], if its
        /// welcome lists the feature.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        compression: Vec<String>,
    },
    /// Log in with a password or a session token. `presence`, when given
    /// (and the server lists `login_presence`), is the session's presence
    /// from its first moment: a client reconnecting while away or
    /// invisible is never shown online in between.
    Login {
        user: String,
        credential: Credential,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        presence: Option<PresenceChoice>,
    },
    /// Create an account and log in (only with `open_registration`).
    Register { user: String, password: Secret },
    /// Change your password. Every session token of the account is revoked
    /// and its other sessions are closed; the reply carries a new token
    /// for this session when it logged in with one.
    ChangePassword { old: Secret, new: Secret },
    /// Revoke this session's token and end the session.
    Logout,
    /// Heartbeat; the reply measures round-trip time.
    Ping,
    /// Post a message. `room` is `#name` or `@user`. `action` marks `/me`.
    /// `nonce`, chosen by the client, comes back in `Sent` and in the
    /// `Message` event to every session of the sender, so a client matches
    /// its own messages by nonce, never by their text.
    ///
    /// `reply_to` quotes an earlier message of the same room (feature
    /// `replies`); `thread` posts inside the thread rooted at that message
    /// (feature `threads`), one level deep: the root must not itself be in
    /// a thread. Either names a message the sender may see, or the send is
    /// refused with `no_such_message`.
    Send {
        room: String,
        body: String,
        #[serde(default)]
        action: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<MessageId>,
        /// Notify the whole room, as `@room` in the body does (feature
        /// `attention`; `natter --send --priority high`): for moderators
        /// only, refused in direct conversations, and rate-limited per room.
        #[serde(default, skip_serializing_if = "is_false")]
        attention: bool,
        /// Files to attach (feature `files`): ids from `Uploaded`, of your
        /// own uploads, at most [`MAX_ATTACHMENTS`]. With files the body
        /// may be empty.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        files: Vec<FileId>,
    },
    /// Replace the body of your own message `id` (feature `edits`). The
    /// server keeps only the new body, and stamps `edited_at`.
    Edit {
        room: String,
        id: MessageId,
        body: String,
    },
    /// Delete message `id` (feature `deletes`): your own, or any in a room
    /// you moderate. Its body is erased; a tombstone keeps its place.
    Delete { room: String, id: MessageId },
    /// Add or remove your reaction `key` on message `id` (feature
    /// `reactions`). A key is one emoji or a `:shortcode:`
    /// ([`crate::names::reaction_key`]).
    React {
        room: String,
        id: MessageId,
        key: String,
        #[serde(default)]
        op: ReactOp,
    },
    /// Full-text search over the rooms you are in (feature `search`).
    Search(SearchQuery),
    /// Whose read markers you may see in `room` and where they are; with
    /// `id`, only those who have read up to that message ("who has seen
    /// this?"). Feature `receipts`; needs your own sharing on.
    Readers {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    /// Your client received the messages of a direct conversation up to
    /// `id`: the sender sees them `delivered` (feature `receipts`).
    Received { room: String, id: MessageId },
    /// Turn sharing your read receipts on or off (`None` asks). Off, you
    /// see nobody's either (feature `receipts`).
    ShareReceipts {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        share: Option<bool>,
    },
    /// A page of a room's history.
    History { room: String, query: HistoryQuery },
    /// Join a public room (or switch to one already joined).
    Join { room: String },
    /// Leave a room.
    Leave { room: String },
    /// Create a room and become its owner.
    Create { room: String, private: bool },
    /// Add a user to a room.
    Invite { room: String, user: String },
    /// Remove a user from a room; they may rejoin a public room.
    Kick {
        room: String,
        user: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Remove a user and keep them out.
    Ban {
        room: String,
        user: String,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Lift a ban.
    Unban { room: String, user: String },
    /// Change a member's role (owners and admins only).
    SetRole {
        room: String,
        user: String,
        role: Role,
    },
    /// Set the room's topic.
    Topic { room: String, topic: String },
    /// Change a room's modes (feature `room_modes`; moderators): `announce`
    /// (only moderators post), `category` (the rooms pane groups by it;
    /// `""` clears it). A field left out stays as it is.
    SetMode {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        announce: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
    },
    /// The members of a room, with roles and presence.
    Members { room: String },
    /// The rooms you are in, with unread counts.
    Rooms,
    /// Public rooms anyone may join.
    Directory,
    /// Move your read marker forward to `id`.
    MarkRead { room: String, id: MessageId },
    /// You started (`true`) or stopped typing in a room.
    Typing { room: String, active: bool },
    /// Set your presence for this session.
    Presence {
        state: PresenceState,
        #[serde(default)]
        status: Option<String>,
    },
    /// Server statistics.
    Stats,
    /// Stop seeing `user`: their direct messages are refused as if you did
    /// not exist, their typing and presence no longer reach you, and
    /// clients hide their messages in shared rooms. They are not told.
    Block { user: String },
    /// Undo a `Block`.
    Unblock { user: String },
    /// The users you block.
    Blocked,
    /// Report message `id` of `room` (one you are in) to the server's
    /// admins and the room's moderators.
    Report {
        room: String,
        id: MessageId,
        reason: String,
    },
    /// Accept a pending invitation to `room`: you join it.
    Accept { room: String },
    /// Decline a pending invitation to `room`.
    Decline { room: String },
    /// Your pending invitations.
    Invitations,
    /// Who may add you to a room without asking first.
    SetInvites { policy: InvitePolicy },
    /// Set your display name, shown beside your account name; `None` or a
    /// blank name clears it. Your account name stays who you are:
    /// mentions, blocks and direct messages use it.
    SetProfile {
        #[serde(default)]
        display_name: Option<String>,
    },
    /// What there is to know about `user`: presence, status, display name,
    /// idle time, and the rooms you share with them.
    Whois { user: String },
    /// A one-time ticket for a transfer connection of this session
    /// (feature `files`): answered by [`Response::Ticket`].
    OpenTransfer,
    /// The login of a transfer connection: the first request after
    /// `Hello`, with a ticket from `OpenTransfer`. A transfer connection
    /// carries only `UploadStart`, `UploadChunk`, `CancelUpload`,
    /// `FileInfo`, `Download` and `Ping`, gets no events, and has flow
    /// control of its own: the server reads its next request only once
    /// the replies before it are on their way.
    TransferLogin { ticket: Secret },
    /// Begins (or resumes) an upload of `size` bytes whose SHA-256 is
    /// `sha256` (lowercase hex). Answered by `Upload` with the offset to
    /// continue from, or at once by `Uploaded` when the server already
    /// holds that content. Limits are checked here, before any data.
    UploadStart {
        name: String,
        size: u64,
        sha256: String,
    },
    /// The bytes of an upload at `offset`, which must be where the upload
    /// stands. Answered by `Stored`, or by `Uploaded` once the last byte
    /// is in, checked and scanned.
    UploadChunk {
        upload: u64,
        offset: u64,
        data: ByteBuf,
    },
    /// Drops an upload and what it stored.
    CancelUpload { upload: u64 },
    /// What a file is: answered by [`Response::File`], or `no_such_file`
    /// for a file you may not see.
    FileInfo { file: FileId },
    /// At most `len` bytes of a file (or of its thumbnail) from `offset`:
    /// answered by [`Response::Chunk`].
    Download {
        file: FileId,
        offset: u64,
        len: u32,
        #[serde(default, skip_serializing_if = "is_false")]
        thumb: bool,
    },
    /// A request from a newer client that this build does not know, by its
    /// name on the wire. Never encoded; the server answers it with
    /// [`ErrorCode::Unsupported`].
    #[serde(skip)]
    Unknown(String),
}

impl Request {
    /// The wire name of every request this build knows.
    pub const KINDS: &[&str] = &[
        "hello",
        "login",
        "register",
        "change_password",
        "logout",
        "ping",
        "send",
        "history",
        "join",
        "leave",
        "create",
        "invite",
        "kick",
        "ban",
        "unban",
        "set_role",
        "topic",
        "members",
        "rooms",
        "directory",
        "mark_read",
        "typing",
        "presence",
        "stats",
        "block",
        "unblock",
        "blocked",
        "report",
        "accept",
        "decline",
        "invitations",
        "set_invites",
        "set_profile",
        "whois",
        "edit",
        "delete",
        "react",
        "search",
        "set_mode",
        "readers",
        "received",
        "share_receipts",
        "open_transfer",
        "transfer_login",
        "upload_start",
        "upload_chunk",
        "cancel_upload",
        "file_info",
        "download",
    ];

    /// A short stable name for logs and for the authority tests.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::Login { .. } => "login",
            Request::Register { .. } => "register",
            Request::ChangePassword { .. } => "change_password",
            Request::Logout => "logout",
            Request::Ping => "ping",
            Request::Send { .. } => "send",
            Request::History { .. } => "history",
            Request::Join { .. } => "join",
            Request::Leave { .. } => "leave",
            Request::Create { .. } => "create",
            Request::Invite { .. } => "invite",
            Request::Kick { .. } => "kick",
            Request::Ban { .. } => "ban",
            Request::Unban { .. } => "unban",
            Request::SetRole { .. } => "set_role",
            Request::Topic { .. } => "topic",
            Request::Members { .. } => "members",
            Request::Rooms => "rooms",
            Request::Directory => "directory",
            Request::MarkRead { .. } => "mark_read",
            Request::Typing { .. } => "typing",
            Request::Presence { .. } => "presence",
            Request::Stats => "stats",
            Request::Block { .. } => "block",
            Request::Unblock { .. } => "unblock",
            Request::Blocked => "blocked",
            Request::Report { .. } => "report",
            Request::Accept { .. } => "accept",
            Request::Decline { .. } => "decline",
            Request::Invitations => "invitations",
            Request::SetInvites { .. } => "set_invites",
            Request::SetProfile { .. } => "set_profile",
            Request::Whois { .. } => "whois",
            Request::Edit { .. } => "edit",
            Request::Delete { .. } => "delete",
            Request::React { .. } => "react",
            Request::Search(_) => "search",
            Request::SetMode { .. } => "set_mode",
            Request::Readers { .. } => "readers",
            Request::Received { .. } => "received",
            Request::ShareReceipts { .. } => "share_receipts",
            Request::OpenTransfer => "open_transfer",
            Request::TransferLogin { .. } => "transfer_login",
            Request::UploadStart { .. } => "upload_start",
            Request::UploadChunk { .. } => "upload_chunk",
            Request::CancelUpload { .. } => "cancel_upload",
            Request::FileInfo { .. } => "file_info",
            Request::Download { .. } => "download",
            Request::Unknown(_) => "unknown",
        }
    }
}

/// What a `React` does with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactOp {
    /// Add it if it is not there, else remove it.
    #[default]
    Toggle,
    /// Add it; already there is not an error.
    Add,
    /// Remove it; not there is not an error.
    Remove,
    /// An operation from a newer client; refused with `invalid`.
    #[serde(other)]
    Unknown,
}

/// A search: the query as the user typed it, and which page.
///
/// The query language: words (each must appear), `"exact phrases"`, `-excluded` words,
/// `from:user`, `in:#room`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`,
/// `has:link` and `is:reply`. See PROTOCOL.md.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SearchQuery {
    pub query: String,
    /// Only this room (as `in:` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// Results older than this message: the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<MessageId>,
    /// How many at most; capped at `Limits::max_history_page`.
    pub limit: u32,
}

/// One search result: the message as it is now, and a piece of its body
/// around the matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    pub message: Message,
    /// The snippet in order; the parts with `hit` set matched the query.
    pub snippet: Vec<SnippetPart>,
}

/// A piece of a search snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnippetPart {
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub hit: bool,
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerFrame {
    /// The successful reply to request `id`.
    Ok { id: RequestId, res: Response },
    /// The failed reply to request `id` (0 when the id was unreadable).
    Err { id: RequestId, err: ErrorReply },
    /// Something happened; not a reply to anything.
    Event(Event),
    /// Another frame's payload, compressed with zstd: sent only to a client
    /// that listed `"zstd"` in `Hello.compression`, for large replies.
    /// [`crate::decode_server`] unwraps it; it never nests.
    Compressed(ByteBuf),
}

/// What the server announces in its welcome.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Limits {
    /// Largest frame payload the server accepts, in bytes.
    pub max_frame: u32,
    /// Longest message body, in bytes of UTF-8.
    pub max_message_len: u32,
    /// Most messages one history request returns.
    pub max_history_page: u32,
    /// How often the client should ping; a client silent for three of these
    /// intervals is dropped.
    pub heartbeat_ms: u64,
    /// Most distinct reaction keys on one message (0: not announced).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_reaction_keys: u64,
    /// The largest file the server takes, in bytes (0: no files).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_file_bytes: u64,
    /// How many bytes of files one account may keep (0: no quota).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub user_quota_bytes: u64,
    /// Uploads one account may start per minute (0: not announced).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uploads_per_minute: u64,
    /// When not empty, the only file types taken (`image/*` for a
    /// family), judged by the bytes, not the name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_types: Vec<String>,
    /// File types refused, judged by the bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_file_types: Vec<String>,
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Reply to `Hello`.
    Welcome {
        protocol: u32,
        server_version: String,
        limits: Limits,
        /// Optional capabilities, e.g. `"registration"`.
        features: Vec<String>,
        #[serde(default)]
        motd: Option<String>,
    },
    /// Reply to `Login` and `Register`.
    Session(SessionInfo),
    /// A request that returns nothing succeeded.
    Done,
    /// Reply to `Ping`.
    Pong,
    /// Reply to `Send`, only once the message is durably stored: the
    /// "sent" acknowledgement.
    Sent {
        room: String,
        id: MessageId,
        ts: i64,
        /// The `Send` request's nonce, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// Reply to `History`: oldest first. `more` says whether older messages
    /// exist beyond this page (for `after` queries: newer ones).
    Messages {
        room: String,
        messages: Vec<Message>,
        more: bool,
        /// The room's highest revision when the page was read (servers
        /// with `changes`): a later `since` catch-up starts here.
        #[serde(default, skip_serializing_if = "is_zero")]
        rev: Rev,
    },
    /// Reply to `Join` and `Create`.
    Room(RoomState),
    /// Reply to `Rooms`.
    Rooms(Vec<RoomState>),
    /// Reply to `Directory`.
    Directory(Vec<RoomListing>),
    /// Reply to `Members`.
    Members { room: String, members: Vec<Member> },
    /// Reply to `Stats`.
    Stats(Stats),
    /// Reply to `ChangePassword`: the session's new token, if it had one.
    PasswordChanged {
        #[serde(default)]
        token: Option<Secret>,
    },
    /// Reply to `Blocked`: the users you block, by name.
    Blocked(Vec<String>),
    /// Reply to `Invitations`: your pending invitations, oldest first.
    Invitations(Vec<Invitation>),
    /// Reply to `Whois`.
    Whois(UserInfo),
    /// Reply to `React`: whether your reaction is there now.
    Reacted { on: bool },
    /// Reply to `Search`: newest first. `more` says an older page exists
    /// (ask again with `before` set to the last hit's id).
    Found { hits: Vec<SearchHit>, more: bool },
    /// Reply to `Readers`: members and their read markers, by name; in a
    /// direct conversation also how far your messages were delivered.
    Readers {
        room: String,
        readers: Vec<Reader>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivered: Option<MessageId>,
    },
    /// Reply to `ShareReceipts`: whether you share them now.
    SharingReceipts { share: bool },
    /// Reply to `OpenTransfer`: log a transfer connection in with it
    /// (`TransferLogin`) within `expires_ms`; it works once.
    Ticket { ticket: Secret, expires_ms: u64 },
    /// Reply to `UploadStart`: send the bytes from `offset` on.
    Upload { upload: u64, offset: u64 },
    /// Reply to `UploadChunk`: the upload now stands at `offset`.
    Stored { offset: u64 },
    /// The upload is complete, checked and stored: attach it to a message
    /// with `Send.files`.
    Uploaded(Attachment),
    /// Reply to `FileInfo`.
    File(Attachment),
    /// Reply to `Download`: the bytes at `offset`; fewer than asked only at
    /// the end of the file (`eof`).
    Chunk {
        offset: u64,
        data: ByteBuf,
        #[serde(default, skip_serializing_if = "is_false")]
        eof: bool,
    },
    /// A reply from a newer server that this build cannot read, by its name
    /// on the wire. Never encoded.
    #[serde(skip)]
    Unknown(String),
}

impl Response {
    /// The wire name of every reply this build knows.
    pub const KINDS: &[&str] = &[
        "welcome",
        "session",
        "done",
        "pong",
        "sent",
        "messages",
        "room",
        "rooms",
        "directory",
        "members",
        "stats",
        "password_changed",
        "blocked",
        "invitations",
        "whois",
        "reacted",
        "found",
        "readers",
        "sharing_receipts",
        "ticket",
        "upload",
        "stored",
        "uploaded",
        "file",
        "chunk",
    ];
}

/// A user as `Whois` shows them to the one who asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The account name.
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// As the asker sees it: an invisible user is `Offline`.
    pub presence: PresenceState,
    #[serde(default)]
    pub status: Option<String>,
    /// The rooms you are in with them (`#name`), sorted; never a room you
    /// are not in.
    pub rooms: Vec<String>,
    /// Seconds since their last message; `None` when they look offline to
    /// you or sent nothing since the server started.
    #[serde(default)]
    pub idle_secs: Option<u64>,
    /// A bot account.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
    /// An IRC guest (`[irc] guests`): no account, gone when it leaves.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
}

/// An invitation to a room, waiting for its invitee's `Accept` or
/// `Decline`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// `#name`.
    pub room: String,
    /// Who invited you.
    pub by: String,
    /// Server time, milliseconds since the Unix epoch.
    pub at: i64,
}

/// Who may add you to a room without your consent. Anyone else's
/// invitation waits as an [`Invitation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitePolicy {
    /// Anyone may add you.
    Anyone,
    /// Someone you share a private room with (you are there by consent;
    /// anyone can join a public room or open a conversation). The default.
    Shared,
    /// Nobody: every invitation waits for you.
    Nobody,
    /// A policy from a newer peer; treated as `Nobody`.
    #[serde(other)]
    Unknown,
}

/// A report of a message, as the server's admins and the room's moderators
/// get it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The report's number, for `natterd reports`.
    pub id: u64,
    /// `#name`, or `@a+b` for a direct conversation.
    pub room: String,
    /// The reported message.
    pub message: MessageId,
    /// Its author.
    pub author: String,
    /// The start of its body (at most 200 characters).
    pub excerpt: String,
    /// Who reported it.
    pub by: String,
    pub reason: String,
    /// Server time, milliseconds since the Unix epoch.
    pub at: i64,
}

/// The logged-in session. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: String,
    pub admin: bool,
    /// A new session token after a `Password` login; `None` after a token or
    /// `PasswordOnly` login.
    #[serde(default)]
    pub token: Option<String>,
    /// Every room you are in, with unread and mention counts.
    pub rooms: Vec<RoomState>,
    /// The users you block (see `Request::Block`): clients hide their
    /// messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    /// Invitations waiting for your answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invitations: Vec<Invitation>,
}

impl fmt::Debug for SessionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionInfo")
            .field("user", &self.user)
            .field("admin", &self.admin)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("rooms", &self.rooms)
            .field("blocked", &self.blocked)
            .field("invitations", &self.invitations)
            .finish()
    }
}

/// The kind of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    /// Listed; anyone may join.
    Public,
    /// Unlisted; invite only.
    Private,
    /// A conversation between two users, named `@other` for each of them.
    Direct,
    /// A kind from a newer server. Shown, but nothing about it is assumed.
    #[serde(other)]
    Unknown,
}

/// A member's role in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Moderator,
    Owner,
    /// A role from a newer server; ranks below every known one, so it never
    /// grants anything.
    #[serde(other)]
    Unknown,
}

impl Role {
    /// How much authority the role carries: an unknown role none at all.
    #[must_use]
    pub fn rank(self) -> u8 {
        match self {
            Role::Unknown => 0,
            Role::Member => 1,
            Role::Moderator => 2,
            Role::Owner => 3,
        }
    }
}

/// Roles compare by authority ([`Role::rank`]).
impl PartialOrd for Role {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Role {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// A room as one of its members sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    /// `#name`, or `@user` for a direct conversation.
    pub name: String,
    pub kind: RoomKind,
    pub topic: String,
    pub role: Role,
    /// Messages after your read marker, not counting your own.
    pub unread: u32,
    /// Of those, the ones that mention `@you`.
    pub mentions: u32,
    /// Your read marker (0: nothing read).
    pub last_read: MessageId,
    /// The newest message's id (0: empty room).
    pub last_id: MessageId,
    pub members: u32,
    /// Only moderators post (feature `room_modes`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub announce: bool,
    /// The group the rooms pane shows it in (feature `room_modes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// A public room in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomListing {
    pub name: String,
    pub topic: String,
    pub members: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// A room member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub role: Role,
    pub presence: PresenceState,
    #[serde(default)]
    pub status: Option<String>,
    /// Shown beside `name`; the account name stays the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A bot account (`natterd user add --bot`, webhooks): clients mark it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bot: bool,
    /// An IRC guest (`[irc] guests`) with no account, which vanishes when
    /// it disconnects: clients show it as `nick (guest)`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guest: bool,
}

/// A presence a client chooses, with its status text: what `Presence`
/// sets and what `Login` may start with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceChoice {
    pub state: PresenceState,
    #[serde(default)]
    pub status: Option<String>,
}

/// Presence. Clients set `Online`, `Away`, `Busy` or `Invisible`; others
/// see an invisible user as `Offline`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    Away,
    Busy,
    Invisible,
    Offline,
    /// A state from a newer server; treated as unreachable.
    #[serde(other)]
    Unknown,
}

impl PresenceState {
    /// How reachable the state is: online 3, busy 2, away 1, invisible and
    /// offline 0. Aggregating sessions and sorting member lists both use it.
    #[must_use]
    pub fn availability(self) -> u8 {
        match self {
            PresenceState::Online => 3,
            PresenceState::Busy => 2,
            PresenceState::Away => 1,
            PresenceState::Invisible | PresenceState::Offline | PresenceState::Unknown => 0,
        }
    }
}

/// Server statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub users_online: u32,
    pub sessions: u32,
    pub rooms: u32,
    pub messages: u64,
    pub uptime_secs: u64,
    /// Distinct stored files (blobs), and their bytes with thumbnails.
    #[serde(default)]
    pub blobs: u64,
    #[serde(default)]
    pub blob_bytes: u64,
}

/// A stored message, as it is now: edits, a delete and reactions are
/// applied. Fields a plain message does not use are left off the wire.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: i64,
    /// As the recipient names it: `#name` or `@user`.
    pub room: String,
    pub from: String,
    pub body: String,
    /// `/me` action. Left off the wire when false: every message goes to
    /// every member, and its bytes are the fan-out's cost (S1). Optional
    /// since protocol 1, so no client ever needed it.
    #[serde(default, skip_serializing_if = "is_false")]
    pub action: bool,
    /// The nonce of the `Send` that posted it: only in the live event to
    /// the sender's own sessions, never in history or to anyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The message this one replies to (same room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// The root of the thread this message is in (same room).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<MessageId>,
    /// When the body was last edited (server time, ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// A tombstone: the message was deleted and `body` is empty.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Reactions, in the order their keys were first used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// For a thread root: how many replies, and the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replies: Option<ThreadSummary>,
    /// The message's revision: of its last change, or of the message
    /// itself (0 from servers without `changes`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rev: Rev,
    /// A moderator notified the whole room with it (`@room`, or a `Send`
    /// with `attention`): it counts as a mention for every member.
    #[serde(default, skip_serializing_if = "is_false")]
    pub attention: bool,
    /// Files it carries, in the order they were attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file carried by a message: what a client shows and needs to fetch it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attachment {
    /// The id to `Download` it by.
    pub file: FileId,
    /// Its name as the uploader gave it, sanitised: no path, no controls.
    pub name: String,
    pub size: u64,
    /// Sniffed from the content by the server, not taken from the name.
    pub mime: String,
    /// SHA-256 of the content, lowercase hex: check a download against it.
    pub sha256: String,
    /// Pixel size, for images the server could decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Bytes of its thumbnail (a PNG at most 320 px on a side), 0 for none:
    /// `Download` with `thumb` fetches it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub thumb: u64,
}

/// A member's read marker, as `Readers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    pub user: String,
    /// They have read everything up to this message id.
    pub read: MessageId,
}

/// One reaction key on a message, and who used it, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub key: String,
    pub users: Vec<String>,
}

/// A thread root's replies at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSummary {
    pub count: u32,
    /// The newest reply's author and time (server ms).
    pub last_from: String,
    pub last_ts: i64,
}

/// How someone came to leave a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveKind {
    Left,
    Kicked,
    Banned,
    /// A way of leaving from a newer server; shown as a plain leave.
    #[serde(other)]
    Unknown,
}

/// Something the server pushes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A new message in one of your rooms. Unless it is yours, it adds one to
    /// the room's unread count (and its mention count if it mentions you).
    Message(Message),
    /// A room's counts changed other than by a new message (a read marker
    /// moved in one of your sessions).
    Unread {
        room: String,
        unread: u32,
        mentions: u32,
    },
    /// Your read marker in a room moved (possibly from another session).
    Read { room: String, id: MessageId },
    /// Someone started or stopped typing. A start expires on its own after
    /// a few seconds without news; the server sends the stop.
    Typing {
        room: String,
        user: String,
        active: bool,
    },
    /// A user you share a room with changed presence.
    Presence {
        user: String,
        state: PresenceState,
        #[serde(default)]
        status: Option<String>,
    },
    /// A user you share a room with (or you, from any of your sessions)
    /// set or cleared their display name.
    Profile {
        user: String,
        #[serde(default)]
        display_name: Option<String>,
    },
    /// A message of one of your rooms was edited: its new body.
    Edited {
        room: String,
        id: MessageId,
        body: String,
        edited_at: i64,
        rev: Rev,
    },
    /// A message of one of your rooms was deleted, by its author or by
    /// `by`, a moderator.
    Deleted {
        room: String,
        id: MessageId,
        by: String,
        rev: Rev,
    },
    /// `user` added (`on`) or removed a reaction on a message.
    Reaction {
        room: String,
        id: MessageId,
        key: String,
        user: String,
        on: bool,
        rev: Rev,
    },
    /// A member's read marker moved (feature `receipts`): in direct
    /// conversations and rooms of up to `limits.receipts_max_members`,
    /// when you and they share receipts.
    Receipt {
        room: String,
        user: String,
        id: MessageId,
    },
    /// In a direct conversation, the other person's client received your
    /// messages up to `id` (feature `receipts`).
    Delivered { room: String, id: MessageId },
    /// Someone joined a room you are in.
    Joined { room: String, user: String },
    /// Someone left a room you are in.
    Left {
        room: String,
        user: String,
        kind: LeaveKind,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    /// A room's topic changed.
    Topic {
        room: String,
        topic: String,
        by: String,
    },
    /// A room's modes changed (`set_mode`, or an operator's `natterd
    /// room set`): both are given as they are now.
    Mode {
        room: String,
        announce: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category: Option<String>,
        by: String,
    },
    /// A member's role changed.
    Role {
        room: String,
        user: String,
        role: Role,
    },
    /// You are now in a room (joined, invited, created, or a direct message).
    RoomAdded(RoomState),
    /// You are no longer in a room.
    RoomRemoved {
        room: String,
        kind: LeaveKind,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        reason: Option<String>,
    },
    /// Someone invited you to a room; `Accept` or `Decline` it.
    Invited(Invitation),
    /// A message was reported (to server admins and the room's moderators).
    Reported(Report),
    /// The server is about to close this connection. With
    /// `reconnect_after_ms`, reconnecting later is expected to work.
    Closing {
        code: ErrorCode,
        message: String,
        #[serde(default)]
        reconnect_after_ms: Option<u64>,
    },
    /// An event from a newer server that this build does not know, by its
    /// name on the wire. Never encoded; clients skip it.
    #[serde(skip)]
    Unknown(String),
}

impl Event {
    /// The wire name of every event this build knows.
    pub const KINDS: &[&str] = &[
        "message",
        "edited",
        "deleted",
        "reaction",
        "receipt",
        "delivered",
        "unread",
        "read",
        "typing",
        "presence",
        "profile",
        "joined",
        "left",
        "topic",
        "mode",
        "role",
        "room_added",
        "room_removed",
        "invited",
        "reported",
        "closing",
    ];
}

/// Names of the optional capabilities a server lists in
/// `Welcome.features`. A client hides or refuses what the server does not
/// list; later protocol additions add their names here.
pub mod features {
    /// Direct conversations (`@user`).
    pub const DIRECT: &str = "direct";
    /// Presence states and status texts.
    pub const PRESENCE: &str = "presence";
    /// Typing notifications.
    pub const TYPING: &str = "typing";
    /// Self-registration (`Register`), when the server allows it.
    pub const REGISTRATION: &str = "registration";
    /// `Send.nonce` echoed in `Sent` and the sender's `Message` events.
    pub const NONCE: &str = "nonce";
    /// Unknown requests are answered with `unsupported`.
    pub const UNSUPPORTED: &str = "unsupported";
    /// `ChangePassword`.
    pub const CHANGE_PASSWORD: &str = "change_password";
    /// `Block`, `Unblock`, `Blocked`.
    pub const BLOCKING: &str = "blocking";
    /// `Report`, and `Reported` events for moderators.
    pub const REPORTS: &str = "reports";
    /// Invitations that wait for consent: `Accept`, `Decline`,
    /// `Invitations`, `SetInvites`, and `Invited` events.
    pub const INVITATIONS: &str = "invitations";
    /// `Login.presence`: a session starts with the presence it asks for.
    pub const LOGIN_PRESENCE: &str = "login_presence";
    /// Display names: `SetProfile`, `Profile` events, `Member.display_name`.
    pub const PROFILES: &str = "profiles";
    /// `Whois`.
    pub const WHOIS: &str = "whois";
    /// `Send.reply_to`, `Message.reply_to`.
    pub const REPLIES: &str = "replies";
    /// `Send.thread`, `Message.thread` and `replies`, thread pages.
    pub const THREADS: &str = "threads";
    /// `Edit` and `Edited` events.
    pub const EDITS: &str = "edits";
    /// `Delete`, `Deleted` events and tombstones.
    pub const DELETES: &str = "deletes";
    /// `React`, `Reaction` events, `Message.reactions`.
    pub const REACTIONS: &str = "reactions";
    /// `Search`.
    pub const SEARCH: &str = "search";
    /// Revisions: `Message.rev`, `HistoryQuery.since`, `Messages.rev`.
    pub const CHANGES: &str = "changes";
    /// `HistoryQuery.around`.
    pub const AROUND: &str = "around";
    /// Room-wide attention: `@room` and `Send.attention`, `Message.attention`.
    pub const ATTENTION: &str = "attention";
    /// Announcement rooms and categories: `SetMode`, `Event::Mode`,
    /// `RoomState.announce` and `category`.
    pub const ROOM_MODES: &str = "room_modes";
    /// Read receipts and delivery: `Readers`, `Received`, `ShareReceipts`,
    /// `Event::Receipt`, `Event::Delivered`.
    pub const RECEIPTS: &str = "receipts";
    /// Files: `OpenTransfer`, transfer connections and their requests,
    /// `Send.files`, `Message.attachments`.
    pub const FILES: &str = "files";
    /// Large replies compressed with zstd for clients that ask
    /// (`Hello.compression`): [`crate::ServerFrame::Compressed`].
    pub const ZSTD: &str = "zstd";
    /// Every feature name this build knows, in the order servers list them.
    pub const ALL: &[&str] = &[
        DIRECT,
        PRESENCE,
        TYPING,
        REGISTRATION,
        NONCE,
        UNSUPPORTED,
        CHANGE_PASSWORD,
        BLOCKING,
        REPORTS,
        INVITATIONS,
        LOGIN_PRESENCE,
        PROFILES,
        WHOIS,
        REPLIES,
        THREADS,
        EDITS,
        DELETES,
        REACTIONS,
        SEARCH,
        CHANGES,
        AROUND,
        ATTENTION,
        ROOM_MODES,
        RECEIPTS,
        FILES,
        ZSTD,
    ];
}

/// A failed reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: ErrorCode,
    /// For humans; may change between versions.
    pub message: String,
    /// For `rate_limited` and `throttled`: when to try again.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

impl ErrorReply {
    /// An error without a retry hint.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }
}

impl fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        match self.retry_after_ms {
            Some(ms) if ms < 1000 => write!(f, "; retry in {ms} ms")?,
            Some(ms) => write!(f, "; retry in {:.1} s", ms as f64 / 1000.0)?,
            None => {}
        }
        Ok(())
    }
}

impl std::error::Error for ErrorReply {}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $text:literal,)*) => {
        /// A stable, machine-readable error code. Encoded as its snake_case
        /// string; a code this build does not know decodes as `Other`.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code from a newer peer.
            Other(String),
        }

        impl ErrorCode {
            /// Every known code, for docs and tests.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it is written on the wire.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(s) => s,
                }
            }

            fn from_wire(s: &str) -> Self {
                match s {
                    $($text => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    /// The frame could not be decoded.
    BadFrame = "bad_frame",
    /// The frame is larger than the limit.
    FrameTooLarge = "frame_too_large",
    /// Client and server speak different protocol versions.
    VersionMismatch = "version_mismatch",
    /// The first frame must be `Hello`.
    HelloRequired = "hello_required",
    /// Log in first.
    NotLoggedIn = "not_logged_in",
    /// Wrong user name, password or token.
    AuthFailed = "auth_failed",
    /// Too many failed logins; see `retry_after_ms`.
    Throttled = "throttled",
    /// Too many requests; see `retry_after_ms`.
    RateLimited = "rate_limited",
    /// Self-registration is off.
    RegistrationClosed = "registration_closed",
    /// The room does not exist, or you may not know that it does.
    NoSuchRoom = "no_such_room",
    /// The message does not exist, or you may not see it. One answer for
    /// both, so ids reveal nothing.
    NoSuchMessage = "no_such_message",
    /// No such user.
    NoSuchUser = "no_such_user",
    /// The room is public but you are not in it.
    NotMember = "not_member",
    /// Your role does not allow this.
    Forbidden = "forbidden",
    /// You are banned from this room.
    Banned = "banned",
    /// The name is taken.
    AlreadyExists = "already_exists",
    /// A malformed argument (name, empty message, ...).
    Invalid = "invalid",
    /// The message is longer than the limit.
    TooLong = "too_long",
    /// The server has too many connections (overall or from your address).
    ServerFull = "server_full",
    /// A deadline passed (handshake, login, heartbeat).
    Timeout = "timeout",
    /// You stopped reading and your queue overflowed.
    SlowConsumer = "slow_consumer",
    /// The server is going down.
    ShuttingDown = "shutting_down",
    /// This session was ended because the account's password changed or
    /// the account was deleted: log in again (with the new password).
    Revoked = "revoked",
    /// An operator suspended the account: it cannot log in.
    Suspended = "suspended",
    /// You hit a per-user quota (rooms created, invites sent); see
    /// `retry_after_ms` when it refills.
    Quota = "quota",
    /// No file by that id that you may see: never stored, gone, or only in
    /// rooms you are not in (one answer for all three).
    NoSuchFile = "no_such_file",
    /// The file was refused: its scan failed, or its type is not taken.
    Rejected = "rejected",
    /// The file is larger than `max_file_bytes`.
    TooLarge = "too_large",
    /// The server is short of disk space and takes no uploads now.
    StorageFull = "storage_full",
    /// The server does not know this request (it is newer than the
    /// server). The connection stays; the reply carries the request's id.
    Unsupported = "unsupported",
    /// Something went wrong on the server; the request may be retried.
    Internal = "internal",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(ErrorCode::from_wire(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let frames = [
            format!(
                "{:?}",
                Request::Register {
                    user: "alice".into(),
                    password: "hunter22".into(),
                }
            ),
            format!(
                "{:?}",
                Request::ChangePassword {
                    old: "hunter22".into(),
                    new: "hunter33".into(),
                }
            ),
            format!(
                "{:?}",
                Request::Login {
                    user: "alice".into(),
                    credential: Credential::Token("hunter22".into()),
                    presence: None,
                }
            ),
            format!(
                "{:?}",
                Response::PasswordChanged {
                    token: Some("hunter22".into()),
                }
            ),
        ];
        for f in frames {
            assert!(!f.contains("hunter"), "{f}");
            assert!(f.contains("redacted"), "{f}");
        }
    }
}
