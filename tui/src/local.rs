//! `natter --local`: natterd in this process, for trying natter and for a
//! machine's own chat.
//!
//! The server listens on 127.0.0.1:7878, or the next free port, with its
//! data in the user data dir (`~/.local/share/natter/local`). The first run
//! creates an account for the local user with a random password, kept in
//! `local-password` (mode 0600) beside the data, so later runs log in by
//! themselves. Others on the machine join with their own accounts, which
//! the owner adds with `natterd --data-dir DIR user add NAME`.
//!
//! The scripting modes take `--local` too ([`for_script`]): `natter --local
//! --send` and `natter --local tail` log in to the same server with the same
//! password file, so a script needs no password of its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use natter_server::Config;
use natter_server::admin::AdminError;
use natter_server::embedded::Running;
use natter_server::store::StoreError;
use rand::RngCore;
use tokio::net::TcpListener;

use crate::config::{Env, FileConfig, Flags};
use crate::error::ClientError;
use crate::script::Context;

/// First port tried.
pub const FIRST_PORT: u16 = 7878;
/// Ports tried after it.
pub const PORTS_TRIED: u16 = 100;

/// A running in-process server.
pub struct LocalServer {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// The local account's password.
    pub password: String,
    /// The server, when this process runs it (not when it joined another
    /// `--local`'s).
    running: Option<Running>,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("addr", &self.addr)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

/// Where `--local` keeps its server's data.
#[must_use]
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "natter").map(|d| d.data_dir().join("local"))
}

/// `env` with a fallback account name: `--local` needs some name for its
/// one account, and with no flag, variable, `$USER` or config `user` it is
/// `me`.
#[must_use]
pub fn with_default_user(flags: &Flags, env: &Env, file: &FileConfig) -> Env {
    let mut env = env.clone();
    if flags.user.is_none() && env.user.is_none() && env.login_name.is_none() && file.user.is_none()
    {
        env.login_name = Some("me".into());
    }
    env
}

/// Points a scripting mode's `ctx` at the local server: the one a
/// `natter --local` runs, else one started here (stop it when done), with
/// the local account's password taking the place of every other source.
pub async fn for_script(ctx: &mut Context) -> Result<LocalServer, ClientError> {
    let dir = default_data_dir()
        .ok_or_else(|| ClientError::Usage("no user data directory for --local".into()))?;
    let server = LocalServer::start(&dir, &ctx.settings.user).await?;
    ctx.settings.server = server.addr.to_string();
    ctx.settings.password_command = None;
    ctx.env_password = Some(server.password.clone());
    ctx.connect.ca_file = None;
    Ok(server)
}

fn io_err(context: &'static str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Io {
        context,
        source: std::io::Error::other(e.to_string()),
    }
}

/// The local account's password: read, or created with the account. One
/// file per user, so `--local --user NAME` works for each.
fn ensure_account(dir: &Path, user: &str) -> Result<String, ClientError> {
    let file = dir.join(format!("local-password-{user}"));
    if let Ok(pw) = std::fs::read_to_string(&file) {
        let pw = pw.trim().to_owned();
        if !pw.is_empty() {
            return Ok(pw);
        }
    }
    let mut bytes = [0u8; 18];
    rand::rng().fill_bytes(&mut bytes);
    let password: String = bytes.iter().fold(String::new(), |mut s, b| {
        use std::fmt::Write as _;
        let _ = write!(s, "{b:02x}");
        s
    });
    std::fs::create_dir_all(dir).map_err(|e| io_err("cannot create the local data dir", e))?;
    natter_server::admin::add_user(dir, user, &password, true)
        .or_else(|e| {
            // An account of that name without our password file: reset it.
            if matches!(e, AdminError::Store(StoreError::UserExists(_))) {
                natter_server::admin::set_password(dir, user, &password)
            } else {
                Err(e)
            }
        })
        .map_err(|e| io_err("cannot create the local account", e))?;
    write_private(&file, &password).map_err(|e| io_err("cannot save the local password", e))?;
    Ok(password)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// Binds 127.0.0.1 on the first free port from [`FIRST_PORT`].
async fn bind() -> Result<TcpListener, ClientError> {
    let mut last = None;
    for port in FIRST_PORT..FIRST_PORT + PORTS_TRIED {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(io_err(
        "no free port for the local server",
        last.map_or_else(|| "none tried".to_owned(), |e| e.to_string()),
    ))
}

/// Where a running `--local` server writes its address.
const ADDR_FILE: &str = "local-addr";

impl LocalServer {
    /// Starts the server for `user`, with its data in `dir`; if another
    /// `natter --local` already serves that data, joins it instead (two
    /// servers on one store would not see each other's messages).
    pub async fn start(dir: &Path, user: &str) -> Result<Self, ClientError> {
        let password = ensure_account(dir, user)?;
        if let Ok(text) = std::fs::read_to_string(dir.join(ADDR_FILE))
            && let Ok(addr) = text.trim().parse::<SocketAddr>()
            && tokio::time::timeout(
                std::time::Duration::from_secs(1),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            .is_ok_and(|r| r.is_ok())
        {
            tracing::info!(%addr, "joining the local server already running");
            return Ok(Self {
                addr,
                data_dir: dir.to_owned(),
                password,
                running: None,
            });
        }
        let listener = bind().await?;
        let addr = listener
            .local_addr()
            .map_err(|e| io_err("local server address", e))?;
        let config = Config {
            data_dir: Some(dir.to_owned()),
            listen: addr.to_string(),
            ..Config::default()
        };
        let listeners = natter_server::Listeners {
            plain: Some(listener),
            ..natter_server::Listeners::default()
        };
        let running = Running::start_on(listeners, config)
            .map_err(|e| io_err("cannot start the local server", e))?;
        tracing::info!(%addr, dir = %dir.display(), "local server started");
        if let Err(e) = std::fs::write(dir.join(ADDR_FILE), addr.to_string()) {
            tracing::warn!(error = %e, "cannot record the local server's address");
        }
        Ok(Self {
            addr,
            data_dir: dir.to_owned(),
            password,
            running: Some(running),
        })
    }

    /// Stops the server (if this process runs it) and waits for it to flush.
    pub async fn stop(mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = std::fs::remove_file(self.data_dir.join(ADDR_FILE));
            if let Err(e) = running.stop().await {
                tracing::error!(error = %e, "local server failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_run_creates_the_account_and_later_runs_reuse_it() {
        let tmp = tempfile::tempdir().unwrap();
        let server = LocalServer::start(tmp.path(), "me").await.unwrap();
        let pw = server.password.clone();
        assert!(pw.len() >= 32);
        let (conn, _events) = crate::conn::Connection::connect(
            &server.addr.to_string(),
            &crate::conn::ConnectOptions::default(),
        )
        .await
        .unwrap();
        let session = conn
            .login("me", natter_shared::Credential::PasswordOnly(pw.clone()))
            .await
            .unwrap();
        assert!(session.admin);
        server.stop().await;
        let again = LocalServer::start(tmp.path(), "me").await.unwrap();
        assert_eq!(again.password, pw);
        // A second --local on the same data joins the first.
        let joined = LocalServer::start(tmp.path(), "other").await.unwrap();
        assert_eq!(joined.addr, again.addr);
        assert!(joined.running.is_none());
        joined.stop().await;
        again.stop().await;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(tmp.path().join("local-password-me"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the password file is private");
        }
    }
}
