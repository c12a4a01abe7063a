//! Accounts and sessions: login (password or token, throttled per address
//! and per account), registration, password change, logout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use natter_shared::names::normalize_user;
use natter_shared::{Credential, ErrorCode, ErrorReply, SessionInfo};

use super::{Caller, OpResult, internal};
use crate::Shared;
use crate::auth;
use crate::front::Protocol;
use crate::outbox::Outbox;
use crate::store::{self, StoreError, UserRow};

/// A new logged-in session.
#[derive(Debug)]
pub struct LoggedIn {
    /// The session id the hub knows it by.
    pub session: u64,
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

/// Logs `user` in with `credential`; the session's events go to `outbox`.
pub async fn login(
    shared: &Shared,
    peer: SocketAddr,
    outbox: &Arc<Outbox>,
    user: &str,
    credential: Credential,
) -> OpResult<LoggedIn> {
    let config = shared.config();
    let limits = &config.limits;
    let window = Duration::from_millis(limits.login_window_ms);
    let ip_key = format!("ip:{}", peer.ip());
    let name = normalize_user(user).unwrap_or_default();
    let account_key = format!("user:{name}");
    shared
        .throttle()
        .begin(
            &[
                (&ip_key, limits.login_failures_per_ip),
                (&account_key, limits.login_failures_per_account),
            ],
            window,
        )
        .map_err(|wait| throttled("too many failed logins", wait))?;
    let row = shared
        .store
        .user_by_name(&name)
        .await
        .map_err(|e| internal(&e))?;
    let remember = matches!(credential, Credential::Password(_));
    let (ok, token) = match credential {
        Credential::Password(password) | Credential::PasswordOnly(password) => {
            let hash = row
                .as_ref()
                .map_or_else(|| auth::dummy_hash().to_owned(), |r| r.pw_hash.clone());
            let _permit = shared.hashing.acquire().await;
            let verified =
                tokio::task::spawn_blocking(move || auth::verify_password(&hash, &password))
                    .await
                    .unwrap_or(false);
            (verified && row.is_some(), None)
        }
        Credential::Token(token) => {
            let owner = shared
                .store
                .token_owner(&auth::hash_token(&token))
                .await
                .map_err(|e| internal(&e))?;
            (
                row.as_ref().is_some_and(|r| Some(r.id) == owner),
                Some(token),
            )
        }
    };
    let Some(row) = row.filter(|_| ok) else {
        // Already counted by `begin`.
        tracing::info!(%peer, user = name, "failed login");
        return Err(ErrorReply::new(
            ErrorCode::AuthFailed,
            "wrong user name, password or token",
        ));
    };
    {
        let mut t = shared.throttle();
        t.forgive(&ip_key);
        t.clear(&account_key);
    }
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
    finish_login(shared, peer, outbox, row, new_token, token_hash).await
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
    let name =
        normalize_user(user).map_err(|e| ErrorReply::new(ErrorCode::Invalid, e.to_string()))?;
    auth::check_password_rules(&password).map_err(|e| ErrorReply::new(ErrorCode::Invalid, e))?;
    let permit = shared.hashing.acquire().await;
    let hashed = tokio::task::spawn_blocking(move || auth::hash_password(&password)).await;
    drop(permit);
    let Ok(Ok(hash)) = hashed else {
        return Err(ErrorReply::new(ErrorCode::Internal, "cannot hash password"));
    };
    let row = match shared.store.create_user(&name, hash).await {
        Ok(row) => row,
        Err(StoreError::UserExists(_)) => {
            return Err(ErrorReply::new(
                ErrorCode::AlreadyExists,
                format!("the name {name} is taken"),
            ));
        }
        Err(e) => return Err(internal(&e)),
    };
    tracing::info!(%peer, user = name, "registered");
    let (token, hash) = issue_token(shared, row.id)
        .await
        .map_err(|e| internal(&e))?;
    finish_login(shared, peer, outbox, row, Some(token), Some(hash)).await
}

/// Brings the user's rooms into memory (the admin CLI may have added some
/// while the server ran) and registers the session.
async fn finish_login(
    shared: &Shared,
    peer: SocketAddr,
    outbox: &Arc<Outbox>,
    row: UserRow,
    token: Option<String>,
    token_hash: Option<String>,
) -> OpResult<LoggedIn> {
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
    let session = shared.new_session_id();
    let info = shared
        .hub()
        .add_session(session, &row, Protocol::Natter, Arc::clone(outbox), token);
    tracing::info!(%peer, user = row.name, session, "logged in");
    Ok(LoggedIn {
        session,
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
    auth::check_password_rules(&new).map_err(|e| ErrorReply::new(ErrorCode::Invalid, e))?;
    let name = shared.hub().user_name_of(user_id);
    let config = shared.config();
    let limits = &config.limits;
    let account_key = format!("user:{name}");
    shared
        .throttle()
        .begin(
            &[(&account_key, limits.login_failures_per_account)],
            Duration::from_millis(limits.login_window_ms),
        )
        .map_err(|wait| throttled("too many wrong passwords", wait))?;
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
    let permit = shared.hashing.acquire().await;
    let hashed = tokio::task::spawn_blocking(move || {
        if auth::verify_password(&row.pw_hash, &old) {
            auth::hash_password(&new).map(Some)
        } else {
            Ok(None)
        }
    })
    .await;
    drop(permit);
    let hash = match hashed {
        Ok(Ok(Some(hash))) => hash,
        Ok(Ok(None)) => {
            return Err(ErrorReply::new(
                ErrorCode::AuthFailed,
                "the current password is wrong",
            ));
        }
        _ => return Err(ErrorReply::new(ErrorCode::Internal, "cannot hash password")),
    };
    shared.throttle().clear(&account_key);
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
    );
    tracing::info!(peer = %caller.peer, user = name, "password changed");
    Ok(PasswordChanged { token: fresh })
}
