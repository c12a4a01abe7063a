//! Accounts and sessions: login (password or token, throttled as
//! [`crate::auth::throttle`] explains), registration, password change,
//! logout. Every hash runs on the server's fair [`crate::auth::Hasher`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use natter_shared::names::normalize_user;
use natter_shared::{Credential, ErrorCode, ErrorReply, PresenceChoice, SessionInfo};

use super::{Caller, OpResult, internal};
use crate::Shared;
use crate::auth::{self, Admission, Throttle};
use crate::config::LimitsConfig;
use crate::front::Protocol;
use crate::outbox::Outbox;
use crate::store::{self, GuestRefused, StoreError, UserRow};

/// A new logged-in session.
#[derive(Debug)]
pub struct LoggedIn {
    /// The session id the hub knows it by.
    pub session: u64,
    /// The account's id.
    pub user: i64,
    /// What the client is told.
    pub info: SessionInfo,
    /// The token this session logged in with or was issued, which logout
    /// revokes (none after a `PasswordOnly` login).
    pub token_hash: Option<String>,
}

fn throttled(message: &str, wait: Duration) -> ErrorReply {
    ErrorReply {
        code: ErrorCode::Throttled,
        message: format!("{message}; try again in {} s", wait.as_secs().max(1)),
        retry_after_ms: Some(wait.as_millis().max(1) as u64),
    }
}

/// A login, registration or password check let in by the throttle: pending
/// under its keys until settled. Dropped unsettled (the connection went
/// away mid-attempt), it counts as no failure: nobody learned anything.
struct Attempt<'a> {
    shared: &'a Shared,
    /// Keys whose failures count.
    keys: Vec<String>,
    /// Keys that only limit how many attempts are in flight at once.
    slots: Vec<String>,
    settled: bool,
}

impl<'a> Attempt<'a> {
    /// Waits until the throttle lets an attempt under `keys` in: refused
    /// only for real failures, never for attempts merely in flight.
    async fn admit(
        shared: &'a Shared,
        keys: Vec<(String, u32)>,
        slots: Vec<(String, u32)>,
        refused: &str,
    ) -> OpResult<Attempt<'a>> {
        let (window, patience) = {
            let limits = &shared.config().limits;
            (
                Duration::from_millis(limits.login_window_ms),
                Duration::from_millis(limits.login_timeout_ms),
            )
        };
        let until = tokio::time::Instant::now() + patience;
        let refs: Vec<(&str, u32)> = keys
            .iter()
            .chain(&slots)
            .map(|(k, l)| (k.as_str(), *l))
            .collect();
        loop {
            // Registered before asking, so a settle in between is not missed.
            let settled = shared.login_settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            match shared.throttle().admit(&refs, window) {
                Admission::Go => break,
                Admission::Refused(wait) => return Err(throttled(refused, wait)),
                Admission::Wait => {}
            }
            if tokio::time::timeout_at(until, settled).await.is_err() {
                return Err(throttled(
                    "too many logins for this account or from your address are in progress",
                    Duration::from_secs(1),
                ));
            }
        }
        Ok(Attempt {
            shared,
            keys: keys.into_iter().map(|(k, _)| k).collect(),
            slots: slots.into_iter().map(|(k, _)| k).collect(),
            settled: false,
        })
    }

    fn settle(mut self, failed: bool) {
        self.finish(failed);
    }

    fn finish(&mut self, failed: bool) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let counted: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        let all: Vec<&str> = counted
            .iter()
            .copied()
            .chain(self.slots.iter().map(String::as_str))
            .collect();
        let failed: &[&str] = if failed { &counted } else { &[] };
        self.shared.throttle().settle(&all, failed);
        self.shared.login_settled.notify_waiters();
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// The throttle's keys for a password check of `name` from `ip`: failures
/// from the address, and from the address on this account.
fn password_keys(limits: &LimitsConfig, name: &str, ip: IpAddr) -> Vec<(String, u32)> {
    vec![
        (format!("ip:{ip}"), limits.login_failures_per_ip),
        (
            format!("pair:{name}@{ip}"),
            limits.login_failures_per_account,
        ),
    ]
}

/// The slots of a password check of `name`: at most one hash per hashing
/// thread in flight for one account, from wherever, so that the pool's
/// fairness between addresses holds per account as well.
fn hashing_slots(shared: &Shared, name: &str) -> Vec<(String, u32)> {
    let threads = u32::try_from(shared.hasher.threads()).unwrap_or(u32::MAX);
    vec![(format!("hashing:{name}"), threads)]
}

/// Logs `user` in with `credential`; the session's events go to `outbox`.
///
/// Token logins are counted apart from passwords: a stranger's wrong
/// passwords never stop an owner's token. See [`crate::auth::throttle`] for
/// the password rules.
pub async fn login(
    shared: &Shared,
    peer: SocketAddr,
    outbox: &Arc<Outbox>,
    user: &str,
    credential: Credential,
    presence: Option<PresenceChoice>,
) -> OpResult<LoggedIn> {
    if let Some(p) = &presence {
        crate::hub::settable(p.state)?;
    }
    let verified = verify(shared, peer, user, credential).await?;
    open_session(shared, peer, outbox, Protocol::Natter, verified, presence).await
}

/// An account whose credential was checked, not logged in yet: IRC checks
/// the credential (SASL) before registration ends and the session starts.
pub struct Verified {
    pub row: UserRow,
    /// A token issued for a password login that asked to be remembered.
    new_token: Option<String>,
    token_hash: Option<String>,
    /// The newest account event before the credential was checked: a
    /// later password change, deletion or suspension ends the session;
    /// an earlier one, which the check already saw, does not.
    events_seen: i64,
}

/// Checks `credential` for `user` under the login throttles, as
/// [`login`] does, without starting a session.
///
/// # Errors
/// `auth_failed`, `suspended`, `rate_limited`, `internal`.
pub async fn verify(
    shared: &Shared,
    peer: SocketAddr,
    user: &str,
    credential: Credential,
) -> OpResult<Verified> {
    let config = shared.config();
    let limits = &config.limits;
    let ip = auth::client_key(peer.ip());
    let name = normalize_user(user).unwrap_or_default();
    let remember = matches!(credential, Credential::Password(_));
    let events_seen = shared
        .store
        .last_account_event()
        .await
        .map_err(|e| internal(&e))?;
    let (row, token) = match credential {
        Credential::Token(token) => {
            let keys = vec![(format!("token-ip:{ip}"), limits.login_failures_per_ip)];
            let attempt =
                Attempt::admit(shared, keys, Vec::new(), "too many failed logins").await?;
            let row = shared
                .store
                .user_by_name(&name)
                .await
                .map_err(|e| internal(&e))?;
            let owner = shared
                .store
                .token_owner(&auth::hash_token(&token), limits.session_token_days)
                .await
                .map_err(|e| internal(&e))?;
            let row = row.filter(|r| Some(r.id) == owner);
            attempt.settle(row.is_none());
            (row, Some(token))
        }
        Credential::Password(password) | Credential::PasswordOnly(password) => {
            let pair = format!("{name}@{ip}");
            let account_key = format!("user:{name}");
            let (trusted, slowdown) = {
                let mut t = shared.throttle();
                let window = Duration::from_millis(limits.login_window_ms);
                let failures = t.failures(&account_key, window);
                let trusted = t.trusted(&pair);
                let slowdown = if trusted {
                    Duration::ZERO
                } else {
                    Throttle::slowdown(
                        failures,
                        limits.login_failures_per_account.saturating_mul(2),
                    )
                };
                (trusted, slowdown)
            };
            // Slowed down before taking any place: a slowed attempt holds
            // nobody else up.
            tokio::time::sleep(slowdown).await;
            // An address that logged into the account before goes past the
            // account's hashing slots, so strangers keeping them busy never
            // hold the owner up.
            let slots = if trusted {
                Vec::new()
            } else {
                hashing_slots(shared, &name)
            };
            let attempt = Attempt::admit(
                shared,
                password_keys(limits, &name, ip),
                slots,
                "too many failed logins",
            )
            .await?;
            let row = shared
                .store
                .user_by_name(&name)
                .await
                .map_err(|e| internal(&e))?;
            let hash = row.as_ref().map(|r| r.pw_hash.clone());
            let verified = shared.hasher.verify(ip, hash, password).await;
            let row = row.filter(|_| verified);
            {
                let mut t = shared.throttle();
                if row.is_some() {
                    t.clear(&format!("pair:{pair}"));
                    t.trust(&pair);
                } else {
                    t.fail(&account_key);
                }
            }
            attempt.settle(row.is_none());
            (row, None)
        }
    };
    let Some(row) = row else {
        tracing::info!(%peer, user = name, "failed login");
        return Err(ErrorReply::new(
            ErrorCode::AuthFailed,
            "wrong user name, password or token",
        ));
    };
    if row.suspended {
        // Said only to someone who proved the credential, so it tells a
        // guesser nothing.
        tracing::info!(%peer, user = name, "suspended account refused");
        return Err(ErrorReply::new(
            ErrorCode::Suspended,
            "this account is suspended; ask an operator",
        ));
    }
    let (new_token, token_hash) = match token {
        Some(t) => (None, Some(auth::hash_token(&t))),
        None if remember => {
            let (t, h) = issue_token(shared, row.id)
                .await
                .map_err(|e| internal(&e))?;
            (Some(t), Some(h))
        }
        None => (None, None),
    };
    Ok(Verified {
        row,
        new_token,
        token_hash,
        events_seen,
    })
}

/// Starts the session of a verified account, speaking `protocol`.
///
/// # Errors
/// `internal` when the store cannot be read.
pub async fn open_session(
    shared: &Shared,
    peer: SocketAddr,
    outbox: &Arc<Outbox>,
    protocol: Protocol,
    verified: Verified,
    presence: Option<PresenceChoice>,
) -> OpResult<LoggedIn> {
    let Verified {
        row,
        new_token,
        token_hash,
        events_seen,
    } = verified;
    finish_login(
        shared,
        peer,
        outbox,
        protocol,
        Account {
            row,
            token: new_token,
            token_hash,
            events_seen,
        },
        presence,
    )
    .await
}

/// Makes an IRC guest named `nick` for `peer` (`[irc] guests`), ready for
/// [`open_session`]. Refused (`AlreadyExists`) when the nick is an
/// account's, a guest's or kept for a deleted account; `Invalid` when it
/// is no valid name; `Throttled` when the address has
/// `[irc] guests_per_address` guests connected already.
pub async fn guest(shared: &Shared, peer: SocketAddr, nick: &str) -> OpResult<Verified> {
    let config = shared.config();
    if !config.irc.guests {
        return Err(ErrorReply::new(
            ErrorCode::AuthFailed,
            "this server takes no guests: log in with an account",
        ));
    }
    let name = natter_shared::names::new_account_name(nick)
        .map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
    let addr = auth::client_key(peer.ip()).to_string();
    let events_seen = shared
        .store
        .last_account_event()
        .await
        .map_err(|e| internal(&e))?;
    let made = shared
        .store
        .create_guest(&name, addr, config.irc.guests_per_address)
        .await
        .map_err(|e| internal(&e))?;
    match made {
        Ok(row) => {
            let mut hub = shared.hub();
            hub.add_guest(row.id);
            hub.ensure_user(row.id, &row.name, false);
            drop(hub);
            tracing::info!(%peer, user = name, "guest arrived");
            Ok(Verified {
                row,
                new_token: None,
                token_hash: None,
                events_seen,
            })
        }
        Err(GuestRefused::Taken) => Err(ErrorReply::new(
            ErrorCode::AlreadyExists,
            format!(
                "{name} is an account's nick or in use: pick another, or log in if it is yours"
            ),
        )),
        Err(GuestRefused::TooMany) => Err(ErrorReply::new(
            ErrorCode::Throttled,
            "too many guests from your address",
        )),
    }
}

/// Ends a guest whose connection closed: the account goes at once (its
/// rooms see it leave) and the name is free for the next one; what it
/// sent stays, from `nick (guest)`. The store's account events repeat
/// this for a server that follows them, which changes nothing more.
pub async fn end_guest(shared: &Shared, user: i64) {
    if let Err(e) = shared.store.end_guest(user).await {
        tracing::warn!(error = %e, user, "cannot remove a guest");
        return;
    }
    let mut hub = shared.hub();
    hub.forget_user(user);
    hub.release_name(user);
    drop(hub);
    tracing::info!(user_id = user, "guest left");
}

async fn issue_token(shared: &Shared, user_id: i64) -> Result<(String, String), StoreError> {
    let (token, hash) = auth::new_token();
    shared.store.add_token(user_id, &hash).await?;
    Ok((token, hash))
}

/// Creates an account (with `open_registration`) and logs it in.
pub async fn register(
    shared: &Shared,
    peer: SocketAddr,
    outbox: &Arc<Outbox>,
    user: &str,
    password: String,
) -> OpResult<LoggedIn> {
    if !shared.config().open_registration {
        return Err(ErrorReply::new(
            ErrorCode::RegistrationClosed,
            "registration is closed on this server; ask an operator for an account",
        ));
    }
    let name = natter_shared::names::new_account_name(user)
        .map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
    auth::check_password_rules(&password, shared.config().limits.min_password_len)
        .map_err(|e| ErrorReply::new(ErrorCode::Invalid, e))?;
    // Every registration counts against the address, whatever its outcome:
    // each one may cost a hash, and names are not free to probe.
    let keys = vec![(
        format!("ip:{}", auth::client_key(peer.ip())),
        shared.config().limits.login_failures_per_ip,
    )];
    let attempt = Attempt::admit(
        shared,
        keys,
        Vec::new(),
        "too many failed logins or registrations from your address",
    )
    .await?;
    let name_taken = || {
        ErrorReply::new(
            ErrorCode::AlreadyExists,
            format!("the name {name} is taken"),
        )
    };
    // The name first: a taken one costs no hash.
    if shared
        .store
        .name_taken(&name)
        .await
        .map_err(|e| internal(&e))?
    {
        attempt.settle(true);
        return Err(name_taken());
    }
    let hashed = shared
        .hasher
        .hash(auth::client_key(peer.ip()), password)
        .await;
    attempt.settle(true);
    let pw_hash = hashed.map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?;
    let events_seen = shared
        .store
        .last_account_event()
        .await
        .map_err(|e| internal(&e))?;
    let row = match shared.store.create_user(&name, pw_hash).await {
        Ok(row) => row,
        Err(StoreError::UserExists(_) | StoreError::NameReserved(_)) => return Err(name_taken()),
        Err(e) => return Err(internal(&e)),
    };
    tracing::info!(%peer, user = name, "registered");
    let (token, hash) = issue_token(shared, row.id)
        .await
        .map_err(|e| internal(&e))?;
    finish_login(
        shared,
        peer,
        outbox,
        Protocol::Natter,
        Account {
            row,
            token: Some(token),
            token_hash: Some(hash),
            events_seen,
        },
        None,
    )
    .await
}

/// The account a session is opened for, as its login found it.
struct Account {
    row: UserRow,
    /// A token issued by this login, for the client to keep.
    token: Option<String>,
    /// The hash of the token the session holds, if any.
    token_hash: Option<String>,
    /// See [`Verified::events_seen`].
    events_seen: i64,
}

/// Brings the user's rooms into memory (the admin CLI may have added some
/// while the server ran) and registers the session.
async fn finish_login(
    shared: &Shared,
    peer: SocketAddr,
    outbox: &Arc<Outbox>,
    protocol: Protocol,
    account: Account,
    presence: Option<PresenceChoice>,
) -> OpResult<LoggedIn> {
    let Account {
        row,
        token,
        token_hash,
        events_seen,
    } = account;
    let user_id = row.id;
    // Read through the writer so that changes queued before this login (a
    // kick, a ban) are already applied.
    let memberships = shared
        .store
        .memberships_in_order(user_id)
        .await
        .map_err(|e| internal(&e))?;
    let missing: Vec<_> = {
        let hub = shared.hub();
        memberships
            .into_iter()
            .filter(|m| !hub.is_member(m.room_id, user_id))
            .map(|m| (hub.has_room(m.room_id), m))
            .collect()
    };
    if !missing.is_empty() {
        let cap = crate::hub::ring_cap(&shared.config());
        let store::Missing { rooms, members } = shared
            .store
            .load_missing(missing, cap)
            .await
            .map_err(|e| internal(&e))?;
        let mut hub = shared.hub();
        for room in rooms {
            if !hub.has_room(room.row.id) {
                hub.install_room(room);
            }
        }
        for (m, counts) in members {
            hub.merge_membership(&m, counts);
        }
    }
    let blocked = shared
        .store
        .blocked_names(user_id)
        .await
        .map_err(|e| internal(&e))?;
    let invitations = shared
        .store
        .invitations(user_id)
        .await
        .map_err(|e| internal(&e))?;
    let session = shared.new_session_id();
    let mut info = shared.hub().add_session(
        session,
        &row,
        protocol,
        Arc::clone(outbox),
        token,
        presence,
        events_seen,
    );
    info.blocked = blocked;
    info.invitations = invitations;
    shared
        .hub()
        .set_session_token(session, token_hash.as_deref());
    tracing::info!(%peer, user = row.name, session, "logged in");
    Ok(LoggedIn {
        session,
        user: user_id,
        info,
        token_hash,
    })
}

/// Revokes the session's token (if it has one).
pub async fn logout(shared: &Shared, token_hash: Option<String>) -> OpResult<()> {
    if let Some(hash) = token_hash {
        shared
            .store
            .revoke_token(&hash)
            .await
            .map_err(|e| internal(&e))?;
    }
    Ok(())
}

/// A changed password, and the session's new token and its hash when it
/// logged in with one.
#[derive(Debug)]
pub struct PasswordChanged {
    pub token: Option<(String, String)>,
}

/// Changes the caller's password: checks the old one (failures count
/// towards the login throttle), revokes every token, ends the account's
/// other sessions, and gives this session a new token if `had_token`.
pub async fn change_password(
    shared: &Shared,
    caller: Caller,
    had_token: bool,
    old: String,
    new: String,
) -> OpResult<PasswordChanged> {
    let user_id = super::user_of(shared, caller)?;
    auth::check_password_rules(&new, shared.config().limits.min_password_len)
        .map_err(|e| ErrorReply::new(ErrorCode::Invalid, e))?;
    let name = shared.hub().user_name_of(user_id);
    let ip = auth::client_key(caller.peer.ip());
    let keys = password_keys(&shared.config().limits, &name, ip);
    let attempt = Attempt::admit(
        shared,
        keys,
        hashing_slots(shared, &name),
        "too many wrong passwords",
    )
    .await?;
    let row = match shared.store.user_by_name(&name).await {
        Ok(Some(row)) if row.id == user_id => row,
        Ok(_) => {
            return Err(ErrorReply::new(
                ErrorCode::Revoked,
                "this account no longer exists",
            ));
        }
        Err(e) => return Err(internal(&e)),
    };
    if !shared.hasher.verify(ip, Some(row.pw_hash), old).await {
        attempt.settle(true);
        return Err(ErrorReply::new(
            ErrorCode::AuthFailed,
            "the current password is wrong",
        ));
    }
    attempt.settle(false);
    let hash = shared
        .hasher
        .hash(ip, new)
        .await
        .map_err(|e| ErrorReply::new(ErrorCode::Internal, e.to_string()))?;
    let fresh = had_token.then(auth::new_token);
    let stored = fresh.as_ref().map(|(_, h)| h.clone());
    let entry = store::AuditEntry {
        at: store::now_ms(),
        actor: name.clone(),
        action: "user.password".into(),
        target: name.clone(),
        room: String::new(),
        detail: String::new(),
    };
    let session = caller.session;
    shared
        .store
        .change_password(user_id, hash, session, stored, entry)
        .await
        .map_err(|e| internal(&e))?;
    shared.hub().end_sessions(
        user_id,
        &ErrorCode::Revoked,
        "your password was changed; log in again",
        Some(session),
        None,
    );
    tracing::info!(peer = %caller.peer, user = name, "password changed");
    Ok(PasswordChanged { token: fresh })
}
