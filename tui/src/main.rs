//! `natter`: parse the command line, call the library, turn the outcome into
//! one line on stderr and an exit code.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use natter::ClientError;
use natter::config::{Env, FileConfig, Flags, Settings};
use natter::error::exit;
use natter::script::{self, Context, LogoutReport, TailEnd, TailOptions};
use natter_shared::Credential;

const AFTER_HELP: &str = "\
Without --send or a command, natter opens the full-screen client (F1 there
lists its keys and commands); with --local it first starts a server in this
process and logs you in to it.

Environment:
  NATTER_SERVER    server address, host:port or tls://host:port (below
                   --server, above the config file)
  NATTER_USER      account name (below --user, above the config file)
  NATTER_PASSWORD  password; tried before the keyring token
  NATTER_KEYRING   secret-service | keyutils | none: force a keyring
                   (default: Secret Service, else the kernel keyring)
  RUST_LOG         diagnostics on stderr, e.g. RUST_LOG=natter=debug

Passwords are tried in this order: NATTER_PASSWORD, the token stored by
`natter login`, password_command from the config, a prompt on a terminal.

Config file: ~/.config/natter/config.toml (keys: server, user,
password_command, ca_file, ...), or --config FILE.

TLS: a tls://host:port server is verified against the system's root
certificates, or only the CA in --ca-file. A certificate problem fails with
exit 3; natter never falls back to plain text.

`natter tail` ends with 0 on Ctrl-C (SIGINT/SIGTERM), when stdout is closed,
or when the server announces it is shutting down (a note goes to stderr);
with 3 when the connection is lost, or the server drops it (as a slow reader,
or silent): messages may have been missed.

Exit codes:
  0  success (--send: the server stored the message)
  1  local failure (stdin/stdout, no keyring for `login`)
  2  usage: bad arguments or config, empty message, invalid name
  3  connection: unreachable, timed out, or lost
  4  authentication failed, or no password available
  5  refused by the server (its message and code are printed)";

/// A terminal chat client for natterd, and a scripting tool.
#[derive(Debug, Parser)]
#[command(name = "natter", version, after_help = AFTER_HELP)]
struct Cli {
    /// Server address, host:port or tls://host:port [default: 127.0.0.1:7878]
    #[arg(long, global = true, value_name = "ADDR")]
    server: Option<String>,
    /// Account name [default: config `user`, else $USER]
    #[arg(long, global = true, value_name = "NAME")]
    user: Option<String>,
    /// Config file [default: ~/.config/natter/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// For tls:// servers: trust only this CA certificate (PEM) instead of
    /// the system's roots [default: config `ca_file`]
    #[arg(long, global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Send one message to ROOM (#room, room or @user) and exit once the
    /// server has stored it. The words after ROOM are the message; without
    /// any, stdin is (minus one trailing newline). Text starting with '-'
    /// goes after `--`.
    #[arg(long, num_args = 1.., value_names = ["ROOM", "TEXT"])]
    send: Option<Vec<String>>,
    /// Message text after `--` (with --send)
    #[arg(last = true, requires = "send", hide = true)]
    rest: Vec<String>,
    /// Run a server in this process (127.0.0.1:7878 or the next free
    /// port, data in the user data dir) and open the client logged in to it
    #[arg(long)]
    local: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the last messages of ROOM, then new ones as they arrive
    Tail {
        /// #room, room or @user
        room: String,
        /// How many messages of history to print first
        #[arg(long, default_value_t = 10, value_name = "N")]
        last: u32,
        /// One JSON object per line: id, ts (ms since the epoch), room,
        /// from, body
        #[arg(long)]
        json: bool,
    },
    /// Check the password with the server and store a session token in the
    /// keyring, so later runs need no password
    Login,
    /// Revoke the stored session token and remove it from the keyring
    Logout,
    /// Change your password: the current one from NATTER_PASSWORD or a
    /// prompt, the new one from a prompt (asked twice) or stdin's first
    /// line. Every session token is revoked and your other sessions end;
    /// this machine's keyring gets a fresh token.
    Passwd,
    /// Block USER: their direct messages are refused, their typing and
    /// presence no longer reach you, and natter hides their messages in
    /// rooms you share. They are not told.
    Block {
        /// The user to block (name or @name). Not `user`: that is the
        /// global --user.
        #[arg(value_name = "USER")]
        other: String,
    },
    /// Undo `natter block USER`
    Unblock {
        /// The user to unblock (name or @name)
        #[arg(value_name = "USER")]
        other: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A ClientError's message already names its cause.
            if let Some(e) = e.downcast_ref::<ClientError>() {
                eprintln!("natter: {e}");
                e.exit_code()
            } else {
                eprintln!("natter: {e:#}");
                exit::LOCAL
            }
        }
    };
    // Exit without waiting for stray threads (a keyring call past its
    // deadline): every result has been reported.
    std::process::exit(code);
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    if cli.send.is_none() && cli.command.is_none() {
        return run_tui(&cli);
    }
    if cli.local {
        return Err(ClientError::Usage(
            "--local starts the full-screen client; it does not combine with --send or a command"
                .into(),
        )
        .into());
    }
    init_tracing();
    let env = Env::from_process();
    let file = FileConfig::load(cli.config.as_deref())?;
    let flags = Flags {
        server: cli.server.clone(),
        user: cli.user.clone(),
        ca_file: cli.ca_file.clone(),
    };
    let settings = Settings::resolve(&flags, &env, &file)?;
    let ctx = Context::new(settings, &env)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    if let Some(args) = cli.send {
        let Some((room, words)) = args.split_first() else {
            return Err(ClientError::Usage("--send needs a ROOM".into()).into());
        };
        let mut words = words.to_vec();
        words.extend(cli.rest);
        if words.is_empty() && std::io::stdin().is_terminal() {
            eprintln!("natter: reading the message from stdin; end it with Ctrl-D");
        }
        let body = script::message_body(&words, std::io::stdin().lock())?;
        runtime.block_on(script::send(&ctx, room, &body))?;
        return Ok(exit::OK);
    }
    match cli.command {
        Some(Command::Tail { room, last, json }) => {
            let opts = TailOptions { room, last, json };
            let end = runtime.block_on(async {
                let stop = interrupted()?;
                let mut out = std::io::stdout().lock();
                anyhow::Ok(script::tail(&ctx, &opts, &mut out, stop).await?)
            })?;
            match end {
                TailEnd::Interrupted | TailEnd::OutputClosed => {}
                TailEnd::ServerClosed(why) => {
                    eprintln!("natter: the server closed the connection: {why}");
                }
            }
            Ok(exit::OK)
        }
        Some(Command::Login) => {
            let r = runtime.block_on(script::login(&ctx))?;
            eprintln!(
                "natter: logged in as {} on {}; session token stored in the {} keyring",
                r.user, r.server, r.keyring
            );
            Ok(exit::OK)
        }
        Some(Command::Logout) => {
            let r = runtime.block_on(script::logout(&ctx))?;
            let account = ctx.settings.keyring_account();
            match r {
                LogoutReport::Revoked => eprintln!("natter: logged out {account}"),
                LogoutReport::AlreadyInvalid => {
                    eprintln!(
                        "natter: the stored token for {account} was no longer valid; removed it"
                    );
                }
                LogoutReport::NoToken => eprintln!("natter: no stored session for {account}"),
            }
            Ok(exit::OK)
        }
        Some(Command::Block { other }) => {
            let r = runtime.block_on(script::block(&ctx, &other, true))?;
            eprintln!("natter: {} now blocks {}", r.user, r.other);
            Ok(exit::OK)
        }
        Some(Command::Unblock { other }) => {
            let r = runtime.block_on(script::block(&ctx, &other, false))?;
            eprintln!("natter: {} no longer blocks {}", r.user, r.other);
            Ok(exit::OK)
        }
        Some(Command::Passwd) => {
            let account = ctx.settings.keyring_account();
            let current = match &env.password {
                Some(p) => p.clone(),
                None if env.stdin_is_terminal => {
                    rpassword::prompt_password(format!("Current password for {account}: "))
                        .context("cannot read the password")?
                }
                None => return Err(ClientError::LoginNeedsPassword.into()),
            };
            let new = new_password(env.stdin_is_terminal)?;
            let r = runtime.block_on(script::passwd(&ctx, current, new))?;
            match r.keyring {
                Some(k) => eprintln!(
                    "natter: password changed for {}; other sessions were logged out; a new session token is in the {k} keyring",
                    r.user
                ),
                None => eprintln!(
                    "natter: password changed for {}; every session was logged out",
                    r.user
                ),
            }
            Ok(exit::OK)
        }
        None => Ok(exit::USAGE),
    }
}

/// The new password for `natter passwd`: asked twice on a terminal, else
/// stdin's first line.
fn new_password(terminal: bool) -> anyhow::Result<String> {
    if terminal {
        let p = rpassword::prompt_password("New password: ").context("cannot read the password")?;
        let again = rpassword::prompt_password("New password again: ")
            .context("cannot read the password")?;
        if p != again {
            return Err(ClientError::Usage("the two new passwords differ".into()).into());
        }
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the new password from stdin")?;
    let p = line.trim_end_matches(['\n', '\r']).to_owned();
    if p.is_empty() {
        return Err(ClientError::Usage("no new password on stdin".into()).into());
    }
    Ok(p)
}

/// Logs to a daily-rolling file in the state dir: nothing may reach the
/// terminal while the full-screen client runs. The guard flushes the file
/// writer when dropped, so it is kept until the end.
fn init_file_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::prelude::*;
    let dirs = directories::ProjectDirs::from("", "", "natter")?;
    let dir = dirs.state_dir().map_or_else(
        || dirs.data_local_dir().join("logs"),
        std::path::Path::to_path_buf,
    );
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("natter.log")
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer),
        )
        .init();
    Some(guard)
}

/// The full-screen client (optionally with `--local`'s in-process server).
fn run_tui(cli: &Cli) -> anyhow::Result<i32> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(ClientError::Usage(
            "the full-screen client needs a terminal; for scripts use --send ROOM or tail ROOM (see --help)".into(),
        )
        .into());
    }
    let _guard = init_file_logging();
    let env = Env::from_process();
    let file = FileConfig::load(cli.config.as_deref())?;
    let mut theme = file.theme().map_err(ClientError::Usage)?;
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        theme = natter::ui::Theme::plain();
    }
    let flags = Flags {
        server: cli.server.clone(),
        user: cli.user.clone(),
        ca_file: cli.ca_file.clone(),
    };
    let mut flags_env = env.clone();
    if cli.local
        && flags.user.is_none()
        && env.user.is_none()
        && env.login_name.is_none()
        && file.user.is_none()
    {
        // --local needs some name for its one account.
        flags_env.login_name = Some("me".into());
    }
    let settings = Settings::resolve(&flags, &flags_env, &file)?;
    let ctx = Context::new(settings, &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let offset = chrono::Local::now().offset().local_minus_utc();
    let settings = natter::app::Settings {
        notify: file.notify.rooms.clone(),
        notify_default: file.notify.default,
        mouse: file.mouse,
        utc_offset: offset,
        highlights: file.highlights.clone(),
        keys: file.keymap().map_err(ClientError::Usage)?,
    };
    runtime.block_on(async {
        let mut local = None;
        let keyring = natter::keyring::Keyring::open(ctx.keyring).await;
        let mut server = ctx.settings.server.clone();
        let user = ctx.settings.user.clone();
        let (credential, source) = if cli.local {
            let dir = natter::local::default_data_dir()
                .ok_or_else(|| ClientError::Usage("no user data directory for --local".into()))?;
            let s = natter::local::LocalServer::start(&dir, &user).await?;
            server = s.addr.to_string();
            let c = Credential::PasswordOnly(s.password.clone());
            local = Some(s);
            (
                Some(c),
                format!("local account (server data in {})", dir.display()),
            )
        } else {
            natter::credentials::tui_credential(&ctx, &keyring).await?
        };
        let options = natter::tui::Options {
            server,
            user,
            credential,
            source,
            keyring,
            settings,
            theme,
            connect: ctx.connect.clone(),
        };
        let result = natter::tui::run(options).await;
        if let Some(s) = local {
            s.stop().await;
        }
        result?;
        anyhow::Ok(exit::OK)
    })
}

/// Installs SIGINT and SIGTERM handlers now, before any output (a signal
/// arriving between the first line and the first poll of a lazily
/// registered handler would otherwise kill the process), and returns a
/// future resolving on either.
#[cfg(unix)]
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

#[cfg(not(unix))]
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn send_takes_every_word_and_global_flags_go_anywhere() {
        let cli =
            Cli::try_parse_from(["natter", "--send", "#general", "tail", "of", "text"]).unwrap();
        assert_eq!(cli.send.unwrap(), ["#general", "tail", "of", "text"]);
        assert!(cli.command.is_none());

        let cli = Cli::try_parse_from(["natter", "--send", "x", "--", "-5", "degrees"]).unwrap();
        assert_eq!(cli.send.unwrap(), ["x"]);
        assert_eq!(cli.rest, ["-5", "degrees"]);

        let cli =
            Cli::try_parse_from(["natter", "tail", "dev", "--server", "h:1", "--user", "bob"])
                .unwrap();
        assert_eq!(cli.server.as_deref(), Some("h:1"));
        assert_eq!(cli.user.as_deref(), Some("bob"));
        assert!(matches!(
            cli.command,
            Some(Command::Tail {
                last: 10,
                json: false,
                ..
            })
        ));

        let cli = Cli::try_parse_from([
            "natter", "--server", "h:1", "tail", "dev", "--last", "3", "--json",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Tail {
                last: 3,
                json: true,
                ..
            })
        ));
        assert!(Cli::try_parse_from(["natter", "--", "text"]).is_err());

        // The blocked user is no --user: that stays the account's.
        let cli = Cli::try_parse_from(["natter", "--user", "alice", "block", "bob"]).unwrap();
        assert_eq!(cli.user.as_deref(), Some("alice"));
        assert!(matches!(cli.command, Some(Command::Block { other }) if other == "bob"));
        let cli = Cli::try_parse_from(["natter", "unblock", "@bob"]).unwrap();
        assert_eq!(cli.user, None);
        assert!(Cli::try_parse_from(["natter", "--send"]).is_err());
    }
}
