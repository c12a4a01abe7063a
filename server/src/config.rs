//! natterd's configuration: a TOML file (every key documented in
//! `config.example.toml` at the repository root), overridden by command-line
//! flags. Every key has a default, so an empty file (or none) is valid.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address for plain TCP connections; empty for none (TLS only).
    pub listen: String,
    /// Where the SQLite store lives; `None` uses the platform data dir
    /// (`~/.local/share/natterd` on Linux).
    pub data_dir: Option<PathBuf>,
    /// Let anyone create an account from a client.
    pub open_registration: bool,
    /// Shown to clients in the welcome.
    pub motd: Option<String>,
    pub log: LogConfig,
    /// Audit entries older than this many days are deleted (checked at
    /// start and hourly); 0 keeps them all.
    pub audit_retention_days: u32,
    pub limits: LimitsConfig,
    pub history: HistoryConfig,
    pub tls: TlsConfig,
    pub files: FilesConfig,
    pub http: HttpConfig,
    pub irc: IrcConfig,
}

/// The IRC front end: weechat, irssi and IRC bots on the same accounts
/// and rooms.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IrcConfig {
    /// Address for plain IRC; empty (the default) for none.
    pub listen: String,
    /// Address for IRC over TLS, with the `[tls]` certificate; empty for
    /// none.
    pub tls_listen: String,
    /// The network's name (`NETWORK` in ISUPPORT); clients show it.
    pub network: String,
    /// The server's name, the source of its numerics.
    pub server_name: String,
    /// Let clients without an account in, as guests: any free nick that
    /// is no account's, public rooms only, gone when they disconnect.
    pub guests: bool,
    /// Guests connected at once from one address (a /64 for IPv6).
    pub guests_per_address: u32,
    /// A guest's lines per second, and the burst before the rate applies:
    /// tighter than `limits.requests_per_sec` for accounts.
    pub guest_lines_per_sec: f64,
    pub guest_line_burst: f64,
}

impl Default for IrcConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            tls_listen: String::new(),
            network: "natter".into(),
            server_name: "natterd".into(),
            guests: false,
            guests_per_address: 3,
            guest_lines_per_sec: 1.0,
            guest_line_burst: 8.0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7878".into(),
            data_dir: None,
            open_registration: false,
            motd: None,
            log: LogConfig::default(),
            audit_retention_days: 365,
            limits: LimitsConfig::default(),
            history: HistoryConfig::default(),
            tls: TlsConfig::default(),
            files: FilesConfig::default(),
            http: HttpConfig::default(),
            irc: IrcConfig::default(),
        }
    }
}

/// The HTTP listener: metrics, health checks and incoming webhooks.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to serve HTTP on; empty (the default) for none.
    pub listen: String,
    /// Serve HTTPS with the `[tls]` certificate instead of plain HTTP.
    pub tls: bool,
    /// How webhook URLs start when `natterd hook add` prints them, e.g.
    /// `https://chat.example.com`; empty derives it from `listen`.
    pub public_url: String,
    /// Requests per second per client address, on every endpoint.
    pub requests_per_sec: f64,
    /// Requests a client may make at once before the rate applies.
    pub burst: f64,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// How long a request may take, headers to reply, in milliseconds.
    pub request_timeout_ms: u64,
    /// Serve `/metrics` (Prometheus text format).
    pub metrics: bool,
    /// How long an outgoing webhook's receiver may take to answer.
    pub outgoing_timeout_ms: u64,
    /// The wait before an outgoing webhook's first retry; it doubles with
    /// each failure, up to an hour.
    pub outgoing_retry_ms: u64,
    /// Attempts before a message is given up on (kept, and counted by
    /// `natterd hook list`).
    pub outgoing_max_attempts: u32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: String::new(),
            tls: false,
            public_url: String::new(),
            requests_per_sec: 20.0,
            burst: 40.0,
            max_body_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            metrics: true,
            outgoing_timeout_ms: 10_000,
            outgoing_retry_ms: 1000,
            outgoing_max_attempts: 15,
        }
    }
}

impl HttpConfig {
    /// The listener as this machine reaches it (`natterd top`), never the
    /// public URL.
    #[must_use]
    pub fn local_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.listen)
    }

    /// The start of the URLs the listener serves, for printed webhook URLs.
    #[must_use]
    pub fn base_url(&self) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_owned();
        }
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.listen.is_empty() {
            "127.0.0.1:7880"
        } else {
            &self.listen
        };
        format!("{scheme}://{host}")
    }
}

/// TLS, served beside the plain listener when a certificate and key are
/// given.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Address for TLS connections.
    pub listen: String,
    /// PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7879".into(),
            cert: None,
            key: None,
        }
    }
}

impl TlsConfig {
    /// The certificate and key, when TLS is on.
    #[must_use]
    pub fn files(&self) -> Option<(&Path, &Path)> {
        Some((self.cert.as_deref()?, self.key.as_deref()?))
    }
}

/// Files: uploads, their limits, scanning and thumbnails. Blobs live in
/// `blobs/` in the data dir.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Take uploads at all.
    pub enabled: bool,
    /// The largest file, in bytes.
    pub max_file_bytes: u64,
    /// Bytes of files one account may keep (what it uploaded and what
    /// still refers to it); 0 for no quota.
    pub user_quota_bytes: u64,
    /// Uploads are refused while the data dir's disk has less free space
    /// than this (after the upload).
    pub min_free_bytes: u64,
    /// Uploads one account may start per minute (resuming one is free).
    pub uploads_per_minute: u32,
    /// When not empty, only these types are taken (`image/png`, `image/*`),
    /// as sniffed from the content, never from the name.
    pub allowed_types: Vec<String>,
    /// Types refused, by sniffed content (checked after `allowed_types`).
    pub refused_types: Vec<String>,
    /// Run on each completed upload with the file on stdin (`sh -c`); a
    /// non-zero exit refuses it (`rejected`). For example `clamdscan
    /// --no-summary -`.
    pub scan_command: Option<String>,
    /// How long a scan may take before the file is refused.
    pub scan_timeout_secs: u64,
    /// Make thumbnails of PNG, JPEG, GIF and WebP images at upload.
    pub thumbnails: bool,
    /// Uploads never attached to a message are removed after this long,
    /// and so are interrupted ones that were never resumed.
    pub unattached_hours: u64,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_file_bytes: 100 * 1024 * 1024,
            user_quota_bytes: 1024 * 1024 * 1024,
            min_free_bytes: 256 * 1024 * 1024,
            uploads_per_minute: 20,
            allowed_types: Vec::new(),
            refused_types: Vec::new(),
            scan_command: None,
            scan_timeout_secs: 120,
            thumbnails: true,
            unattached_hours: 24,
        }
    }
}

impl FilesConfig {
    /// Whether a sniffed type may be uploaded.
    #[must_use]
    pub fn takes_type(&self, mime: &str) -> bool {
        let matches = |pattern: &String| match pattern.strip_suffix("/*") {
            Some(major) => mime.split('/').next() == Some(major),
            None => pattern == mime,
        };
        (self.allowed_types.is_empty() || self.allowed_types.iter().any(matches))
            && !self.refused_types.iter().any(matches)
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter (`info`, `natter_server=debug`); `RUST_LOG` wins.
    pub level: String,
    /// When set, logs also go to daily-rolling files `natterd.log.DATE` here.
    pub dir: Option<PathBuf>,
    /// `text` for people, `json` (one object per line, with the
    /// connection's and the request's fields) for log collectors.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            dir: None,
            format: LogFormat::Text,
        }
    }
}

/// Connection and abuse limits.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open connections at once, overall.
    pub max_connections: usize,
    /// Open connections at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Connections not logged in yet, at once; 0 means a quarter of
    /// `max_connections` (as lowered by the open-file limit).
    pub max_unauthenticated: usize,
    /// Time for a new connection to send `Hello`.
    pub handshake_timeout_ms: u64,
    /// Time after the welcome to log in.
    pub login_timeout_ms: u64,
    /// Clients ping this often; one silent for three intervals is dropped.
    pub heartbeat_ms: u64,
    /// Largest frame accepted, in bytes (at most 1 MiB).
    pub max_frame: usize,
    /// Longest message body, in bytes.
    pub max_message_len: usize,
    /// Bytes queued for one connection before it counts as a slow consumer
    /// and is disconnected.
    pub outbound_queue_bytes: usize,
    /// Requests per second a connection may sustain (token bucket refill).
    pub requests_per_sec: f64,
    /// Requests a connection may burst (token bucket size).
    pub request_burst: f64,
    /// Requests per second one account may sustain over all its
    /// connections together.
    pub account_requests_per_sec: f64,
    /// Requests one account may burst over all its connections.
    pub account_request_burst: f64,
    /// Failed password logins allowed per account *from one address* within
    /// `login_window_ms`. From every address together, twice this many only
    /// start slowing the account's password logins down, never refusing
    /// them (see `auth::throttle`).
    pub login_failures_per_account: u32,
    /// Failed logins (and registrations) allowed per IP address within
    /// `login_window_ms`.
    pub login_failures_per_ip: u32,
    /// The window for the two limits above.
    pub login_window_ms: u64,
    /// Threads that hash passwords, each holding one argon2 buffer
    /// (19 MiB) for good; 0 picks one per core, at most 4.
    pub hash_threads: usize,
    /// At most one typing "start" per user and room is relayed this often.
    pub typing_throttle_ms: u64,
    /// A typing "start" with no news for this long expires (a stop is sent).
    pub typing_expiry_ms: u64,
    /// What others see of a user's presence changes at most this often;
    /// changes in between are coalesced and the latest follows.
    pub presence_throttle_ms: u64,
    /// Consecutive malformed frames after which a peer is dropped.
    pub max_bad_frames: u32,
    /// Rooms one user may create per hour (a burst of as many, refilled
    /// evenly). Admins are exempt.
    pub rooms_per_user_per_hour: u32,
    /// Invitations one user may send per minute (burst and refill alike).
    /// Admins are exempt.
    pub invites_per_user_per_minute: u32,
    /// New direct conversations one user may open per hour (burst and
    /// refill alike). Admins are exempt.
    pub directs_per_user_per_hour: u32,
    /// Messages one user may report per hour (burst and refill alike).
    /// Admins are exempt.
    pub reports_per_user_per_hour: u32,
    /// Display name changes one user may make per hour (burst and refill
    /// alike): each is announced to everyone sharing a room with them.
    /// Admins are exempt.
    pub profile_changes_per_user_per_hour: u32,
    /// Reactions one user may add or remove per minute (burst and refill
    /// alike); each is fanned out to the room like a message. Admins are
    /// exempt.
    pub reactions_per_user_per_minute: u32,
    /// Most distinct reaction keys on one message (announced in
    /// `Welcome.limits`).
    pub max_reaction_keys: u64,
    /// Searches per second one user may sustain over all their connections
    /// (token bucket refill); admins too.
    pub searches_per_sec: f64,
    /// Searches one user may burst (token bucket size).
    pub search_burst: f64,
    /// Messages per hour that may call a whole room to attention (`@room`,
    /// `--priority high`), per room, whoever sends them (burst and refill
    /// alike). Each one notifies every member; 0 turns room-wide attention
    /// off.
    pub attention_per_room_per_hour: u32,
    /// Rooms of up to this many members send read receipts as events, to
    /// members who share theirs; in larger ones they are read on request
    /// (`Readers`). Direct conversations always send them.
    pub receipts_max_members: u32,
    /// Session tokens (what `natter login` keeps in the keyring) stop
    /// working this many days after they were issued; 0 keeps them until
    /// logout or a password change. API tokens have their own expiry
    /// (`natterd token create --expires`).
    pub session_token_days: u32,
    /// The shortest password accepted, in characters: by `natterd user
    /// add` and `passwd`, registration, and password changes from every
    /// protocol.
    pub min_password_len: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 100,
            max_unauthenticated: 0,
            handshake_timeout_ms: 5_000,
            login_timeout_ms: 30_000,
            heartbeat_ms: 30_000,
            max_frame: 64 * 1024,
            max_message_len: 4000,
            outbound_queue_bytes: 2 * 1024 * 1024,
            requests_per_sec: 20.0,
            request_burst: 100.0,
            account_requests_per_sec: 40.0,
            account_request_burst: 200.0,
            login_failures_per_account: 5,
            login_failures_per_ip: 20,
            login_window_ms: 60_000,
            hash_threads: 0,
            typing_throttle_ms: 3000,
            typing_expiry_ms: 6000,
            presence_throttle_ms: 1000,
            max_bad_frames: 5,
            rooms_per_user_per_hour: 10,
            invites_per_user_per_minute: 30,
            directs_per_user_per_hour: 30,
            reports_per_user_per_hour: 20,
            profile_changes_per_user_per_hour: 20,
            reactions_per_user_per_minute: 30,
            max_reaction_keys: 20,
            searches_per_sec: 1.0,
            search_burst: 10.0,
            attention_per_room_per_hour: 12,
            receipts_max_members: 50,
            session_token_days: 0,
            min_password_len: 8,
        }
    }
}

impl LimitsConfig {
    /// How many hashing threads to run: `hash_threads`, or one per core
    /// (at most 4) when it is 0.
    #[must_use]
    pub fn hash_threads(&self) -> usize {
        match self.hash_threads {
            0 => std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get)
                .min(4),
            n => n,
        }
    }
}

/// Message history.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Newest messages per room kept in memory, so joins and catch-up never
    /// touch disk.
    pub in_memory: usize,
    /// Messages kept per room in the store; older ones are deleted. 0 keeps
    /// all.
    pub retention: u64,
    /// Most messages one history request returns.
    pub max_page: u32,
    /// `"normal"`: an acknowledged message survives a crash of natterd;
    /// `"full"`: it also survives a power loss (an fsync per group commit).
    pub sync: SyncMode,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            in_memory: 1000,
            retention: 0,
            max_page: 200,
            sync: SyncMode::Normal,
        }
    }
}

/// SQLite's `synchronous` setting for the message store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    Normal,
    Full,
}

/// Bytes a message adds to a history page besides its body (id, time,
/// room, author and keys), rounded up.
const HISTORY_OVERHEAD: usize = 256;

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no data directory: set data_dir in the config or pass --data-dir")]
    NoDataDir,
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses config text; the error is TOML's message, with the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work together.
    fn validate_files(&self) -> Result<(), String> {
        let f = &self.files;
        for t in f.allowed_types.iter().chain(&f.refused_types) {
            let ok = t.split_once('/').is_some_and(|(a, b)| {
                !a.is_empty() && !b.is_empty() && !a.contains('*') && (b == "*" || !b.contains('*'))
            });
            if !ok {
                return Err(format!(
                    "files: {t:?} is not a type like \"image/png\" or \"image/*\""
                ));
            }
        }
        if f.enabled && f.max_file_bytes == 0 {
            return Err(
                "files.max_file_bytes must be positive (or set files.enabled = false)".into(),
            );
        }
        if f.scan_command
            .as_deref()
            .is_some_and(|c| c.trim().is_empty())
        {
            return Err("files.scan_command is empty; leave it out for no scan".into());
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), String> {
        self.validate_files()?;
        let h = &self.http;
        if h.requests_per_sec <= 0.0 || h.burst < 1.0 {
            return Err("http.requests_per_sec must be > 0 and http.burst >= 1".into());
        }
        if h.outgoing_timeout_ms == 0 || h.outgoing_retry_ms == 0 || h.outgoing_max_attempts == 0 {
            return Err(
                "http.outgoing_timeout_ms, outgoing_retry_ms and outgoing_max_attempts must be positive"
                    .into(),
            );
        }
        if h.max_body_bytes == 0 || h.request_timeout_ms == 0 {
            return Err("http.max_body_bytes and http.request_timeout_ms must be positive".into());
        }
        if h.tls && !h.listen.is_empty() && self.tls.files().is_none() {
            return Err("http.tls needs tls.cert and tls.key".into());
        }
        let i = &self.irc;
        if !i.tls_listen.is_empty() && self.tls.files().is_none() {
            return Err("irc.tls_listen needs tls.cert and tls.key".into());
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        };
        if !name_ok(&i.network) || !name_ok(&i.server_name) {
            return Err(
                "irc.network and irc.server_name must be 1-63 letters, digits, '-', '.' or '_'"
                    .into(),
            );
        }
        if i.guests
            && (i.guests_per_address == 0
                || i.guest_lines_per_sec <= 0.0
                || i.guest_line_burst < 1.0)
        {
            return Err(
                "irc.guests needs guests_per_address >= 1, guest_lines_per_sec > 0 and guest_line_burst >= 1"
                    .into(),
            );
        }
        let l = &self.limits;
        if !(1..=1024).contains(&l.min_password_len) {
            return Err("limits.min_password_len must be between 1 and 1024".into());
        }
        if l.max_frame > natter_shared::MAX_FRAME_LEN || l.max_frame < 1024 {
            return Err(format!(
                "limits.max_frame must be between 1024 and {}",
                natter_shared::MAX_FRAME_LEN
            ));
        }
        if l.max_message_len == 0 || l.max_message_len + 512 > l.max_frame {
            return Err("limits.max_message_len must be positive and fit in max_frame with 512 bytes to spare".into());
        }
        if l.requests_per_sec <= 0.0 || l.request_burst < 1.0 {
            return Err("limits.requests_per_sec must be > 0 and request_burst >= 1".into());
        }
        if l.account_requests_per_sec <= 0.0 || l.account_request_burst < 1.0 {
            return Err(
                "limits.account_requests_per_sec must be > 0 and account_request_burst >= 1".into(),
            );
        }
        if l.searches_per_sec <= 0.0 || l.search_burst < 1.0 {
            return Err("limits.searches_per_sec must be > 0 and search_burst >= 1".into());
        }
        if l.max_connections == 0
            || l.max_connections_per_ip == 0
            || l.login_failures_per_account == 0
            || l.directs_per_user_per_hour == 0
            || l.reports_per_user_per_hour == 0
            || l.profile_changes_per_user_per_hour == 0
            || l.reactions_per_user_per_minute == 0
            || l.max_reaction_keys == 0
            || l.login_failures_per_ip == 0
            || l.max_bad_frames == 0
            || l.rooms_per_user_per_hour == 0
            || l.invites_per_user_per_minute == 0
        {
            return Err("limits.max_connections, max_connections_per_ip, login_failures_per_account, login_failures_per_ip, max_bad_frames, rooms_per_user_per_hour, invites_per_user_per_minute, directs_per_user_per_hour, reports_per_user_per_hour, profile_changes_per_user_per_hour, reactions_per_user_per_minute and max_reaction_keys must be at least 1".into());
        }
        if let Err(e) = check_log_filter(&self.log.level) {
            return Err(format!(
                "log.level {:?} is not a valid filter: {e}",
                self.log.level
            ));
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return Err(
                "tls.cert and tls.key go together: set both to serve TLS, or neither".into(),
            );
        }
        if self.listen.is_empty() && self.tls.files().is_none() {
            return Err("listen is empty and TLS is off: natterd would listen nowhere".into());
        }
        if l.heartbeat_ms < 100 {
            return Err("limits.heartbeat_ms must be at least 100".into());
        }
        if self.history.in_memory == 0 || self.history.max_page == 0 {
            return Err("history.in_memory and history.max_page must be positive".into());
        }
        // A full history page must fit in one frame and in one outbound
        // queue, or the reply could never be sent.
        let page = self.history.max_page as usize * (l.max_message_len + HISTORY_OVERHEAD);
        if page > natter_shared::MAX_FRAME_LEN {
            return Err(format!(
                "history.max_page x (limits.max_message_len + {HISTORY_OVERHEAD}) is {page} bytes, over the {} byte frame cap; lower one of them",
                natter_shared::MAX_FRAME_LEN
            ));
        }
        if l.outbound_queue_bytes < page.max(l.max_frame) * 2 {
            return Err(format!(
                "limits.outbound_queue_bytes must be at least {} (two full history pages or frames)",
                page.max(l.max_frame) * 2
            ));
        }
        Ok(())
    }

    /// What differs between two configs, as `key: old -> new` lines, by
    /// dotted key (`limits.max_connections`).
    #[must_use]
    pub fn diff(&self, other: &Config) -> Vec<(String, String, String)> {
        let (Ok(a), Ok(b)) = (toml::Value::try_from(self), toml::Value::try_from(other)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        diff_values("", &a, &b, &mut out);
        out
    }

    /// The data directory: the configured one or the platform default.
    pub fn resolved_data_dir(&self) -> Result<PathBuf, ConfigError> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        directories::ProjectDirs::from("", "", "natterd")
            .map(|d| d.data_dir().to_owned())
            .ok_or(ConfigError::NoDataDir)
    }
}

fn show(v: Option<&toml::Value>) -> String {
    v.map_or_else(|| "(unset)".to_owned(), ToString::to_string)
}

fn diff_values(
    prefix: &str,
    a: &toml::Value,
    b: &toml::Value,
    out: &mut Vec<(String, String, String)>,
) {
    let (Some(at), Some(bt)) = (a.as_table(), b.as_table()) else {
        if a != b {
            out.push((prefix.to_owned(), a.to_string(), b.to_string()));
        }
        return;
    };
    let mut keys: Vec<&String> = at.keys().chain(bt.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (at.get(k), bt.get(k)) {
            (Some(x), Some(y)) => diff_values(&key, x, y, out),
            (x, y) => out.push((key, show(x), show(y))),
        }
    }
}

/// Checks a log filter as natterd's logger reads it: comma-separated
/// directives, each a level (`info`) or `target=level`
/// (`natter_server::session=debug`). Checked here, in the library, so a
/// reload refuses a bad one before anything changes; the binary's logger
/// then parses it the same way.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    if filter.trim().is_empty() {
        return Err("it is empty".into());
    }
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let (target, level) = match directive.rsplit_once('=') {
            Some((t, l)) => (Some(t.trim()), l.trim()),
            None => (None, directive),
        };
        let level_ok = LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level));
        // A bare word that is no level is a target at the default level.
        let bare_target = target.is_none() && !level.is_empty();
        let target_ok = target.is_none_or(|t| !t.is_empty());
        if !(target_ok && (level_ok || bare_target)) {
            return Err(format!(
                "{directive:?}: want a level ({}) or target=level",
                LEVELS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_filter_check_agrees_with_the_logger() {
        for filter in [
            "info",
            "DEBUG",
            "warn,natter_server=debug",
            "natter_server::session=trace, info",
            "off",
            "natter_server",
            "natter=loud",
            "",
            "=info",
            "info,,debug",
            "a b=info",
        ] {
            let ours = check_log_filter(filter).is_ok();
            let logger =
                tracing_subscriber::EnvFilter::try_new(filter).is_ok() && !filter.is_empty();
            assert_eq!(ours, logger, "{filter:?}");
        }
    }

    #[test]
    fn empty_config_is_all_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:7878");
        assert_eq!(c.history.in_memory, 1000);
        assert!(!c.open_registration);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_line() {
        let err = Config::parse("listen = \"x\"\nbogus = 1\n").unwrap_err();
        assert!(err.contains("bogus"), "{err}");
        let err = Config::parse("[limits]\nmax_frame = 10\n").unwrap_err();
        assert!(err.contains("max_frame"), "{err}");
        let err = Config::parse("[limits]\nmax_message_len = 8000\n").unwrap_err();
        assert!(err.contains("max_page"), "{err}");
        let err = Config::parse("[log]\nlevel = \"natter=loud\"\n").unwrap_err();
        assert!(err.contains("log.level"), "{err}");
        let err = Config::parse("[limits]\noutbound_queue_bytes = 1000\n").unwrap_err();
        assert!(err.contains("outbound_queue_bytes"), "{err}");
    }

    #[test]
    fn the_example_config_is_valid_and_matches_the_defaults() {
        let mut example = Config::parse(include_str!("../../config.example.toml")).unwrap();
        // Its two differences, said at its top: it turns the HTTP and IRC
        // listeners on.
        assert_eq!(example.http.listen, "127.0.0.1:7880");
        assert_eq!(example.irc.listen, "127.0.0.1:6667");
        example.http.listen = String::new();
        example.irc.listen = String::new();
        assert_eq!(format!("{example:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn diff_names_each_changed_key() {
        let a = Config::default();
        let b = Config::parse("motd = \"hi\"\n[limits]\nmax_connections = 5\n").unwrap();
        let d = a.diff(&b);
        assert_eq!(
            d,
            [
                ("limits.max_connections".into(), "10000".into(), "5".into()),
                ("motd".into(), "(unset)".into(), "\"hi\"".into()),
            ]
        );
        assert!(a.diff(&a.clone()).is_empty());
    }

    #[test]
    fn tls_needs_both_files_and_somewhere_to_listen() {
        let err = Config::parse("[tls]\ncert = \"c.pem\"\n").unwrap_err();
        assert!(err.contains("tls.key"), "{err}");
        let err = Config::parse("listen = \"\"\n").unwrap_err();
        assert!(err.contains("nowhere"), "{err}");
        let c = Config::parse("listen = \"\"\n[tls]\ncert = \"c\"\nkey = \"k\"\n").unwrap();
        assert!(c.tls.files().is_some());
    }

    #[test]
    fn sections_parse() {
        let c = Config::parse(
            "open_registration = true\n[limits]\nmax_message_len = 100\n[history]\nsync = \"full\"\nretention = 5\n",
        )
        .unwrap();
        assert!(c.open_registration);
        assert_eq!(c.limits.max_message_len, 100);
        assert_eq!(c.history.sync, SyncMode::Full);
        assert_eq!(c.history.retention, 5);
    }
}
