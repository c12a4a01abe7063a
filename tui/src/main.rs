//! `natter`: parse the command line, call the library, turn the outcome into
//! one line on stderr and an exit code.

use std::io::IsTerminal;

use anyhow::Context as _;
use clap::Parser;
use natter::ClientError;
use natter::cli::{self, Cli, Command};
use natter::config::{Env, FileConfig, Flags, Settings};
use natter::error::exit;
use natter::script::{self, Context, LogoutReport, TailEnd, TailOptions, changes};
use natter_shared::Credential;

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
    match &cli.command {
        Some(Command::Completions { shell }) => {
            cli::write_completions(*shell, &mut std::io::stdout().lock());
            return Ok(exit::OK);
        }
        Some(Command::Man { out }) => {
            let written = cli::write_man(out.as_deref(), &mut std::io::stdout().lock())
                .context("cannot write the manual page")?;
            if let Some(path) = written {
                eprintln!("natter: wrote {}", path.display());
            }
            return Ok(exit::OK);
        }
        _ => {}
    }
    if cli.send.is_none() && cli.command.is_none() {
        return run_tui(&cli);
    }
    if cli.local
        && !matches!(
            cli.command,
            None | Some(Command::Tail { .. } | Command::Download { .. })
        )
    {
        return Err(ClientError::Usage(
            "--local goes with the full-screen client, --send, tail and download only".into(),
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
    let user_env = if cli.local {
        natter::local::with_default_user(&flags, &env, &file)
    } else {
        env.clone()
    };
    let settings = Settings::resolve(&flags, &user_env, &file)?;
    let mut ctx = Context::new(settings, &env)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let local = if cli.local {
        Some(runtime.block_on(natter::local::for_script(&mut ctx))?)
    } else {
        None
    };
    let result = run_script(cli, &ctx, &env, &runtime);
    if let Some(server) = local {
        runtime.block_on(server.stop());
    }
    result
}

/// `--send` and the commands, once the settings are resolved.
fn run_script(
    cli: Cli,
    ctx: &Context,
    env: &Env,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<i32> {
    if let Some(args) = cli.send {
        let Some((room, words)) = args.split_first() else {
            return Err(ClientError::Usage("--send needs a ROOM".into()).into());
        };
        let mut words = words.to_vec();
        words.extend(cli.rest);
        let place = script::Placement {
            reply_to: cli.reply_to,
            thread: cli.thread,
            attention: cli.priority == Some(cli::Priority::High),
        };
        let (id, _) = if cli.files.is_empty() {
            if words.is_empty() && std::io::stdin().is_terminal() {
                eprintln!("natter: reading the message from stdin; end it with Ctrl-D");
            }
            let body = script::message_body(&words, std::io::stdin().lock())?;
            runtime.block_on(script::send(ctx, room, &body, place))?
        } else {
            // With files the text is only the caption: stdin, if read at
            // all, is a file (`--file -`).
            let caption = words.join(" ");
            runtime.block_on(script::files::send_with_files(
                ctx,
                room,
                &caption,
                place,
                &cli.files,
                cli.name.as_deref(),
                std::io::stdin().lock(),
            ))?
        };
        if cli.print_id {
            println!("{id}");
        }
        return Ok(exit::OK);
    }
    match cli.command {
        Some(Command::Edit { id, text, room }) => {
            if text.is_empty() && std::io::stdin().is_terminal() {
                eprintln!("natter: reading the new text from stdin; end it with Ctrl-D");
            }
            let body = script::message_body(&text, std::io::stdin().lock())?;
            let target = changes::Target { id, room };
            runtime.block_on(changes::edit(ctx, &target, &body))?;
            Ok(exit::OK)
        }
        Some(Command::Download { id, output }) => {
            let saved = runtime.block_on(script::files::download(ctx, id, output.as_deref()))?;
            for path in saved {
                println!("{}", path.display());
            }
            Ok(exit::OK)
        }
        Some(Command::Delete { id, room }) => {
            runtime.block_on(changes::delete(ctx, &changes::Target { id, room }))?;
            Ok(exit::OK)
        }
        Some(Command::React {
            id,
            key,
            remove,
            room,
        }) => {
            let target = changes::Target { id, room };
            let on = runtime.block_on(changes::react(ctx, &target, &key, remove))?;
            eprintln!(
                "natter: {key} {} message {id}",
                if on { "added to" } else { "removed from" }
            );
            Ok(exit::OK)
        }
        Some(Command::Search {
            query,
            room,
            limit,
            json,
        }) => {
            let hits = runtime.block_on(changes::search(
                ctx,
                &query.join(" "),
                room.as_deref(),
                limit,
            ))?;
            changes::write_hits(&mut std::io::stdout().lock(), &hits, json)?;
            if hits.is_empty() && !json {
                eprintln!("natter: no messages match");
            }
            Ok(exit::OK)
        }
        Some(Command::Tail { room, last, json }) => {
            let opts = TailOptions { room, last, json };
            let end = runtime.block_on(async {
                let stop = interrupted()?;
                let mut out = std::io::stdout().lock();
                anyhow::Ok(script::tail(ctx, &opts, &mut out, stop).await?)
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
            // A script's password on stdin, as `passwd` and `natterd user
            // add` take it.
            let piped = if env.password.is_none() && !env.stdin_is_terminal {
                Some(script::password_line(std::io::stdin().lock())?)
            } else {
                None
            };
            let r = runtime.block_on(script::login(ctx, piped))?;
            eprintln!(
                "natter: logged in as {} on {}; session token stored in the {} keyring",
                r.user, r.server, r.keyring
            );
            Ok(exit::OK)
        }
        Some(Command::Logout) => {
            let r = runtime.block_on(script::logout(ctx))?;
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
            let r = runtime.block_on(script::block(ctx, &other, true))?;
            eprintln!("natter: {} now blocks {}", r.user, r.other);
            Ok(exit::OK)
        }
        Some(Command::Unblock { other }) => {
            let r = runtime.block_on(script::block(ctx, &other, false))?;
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
            let r = runtime.block_on(script::passwd(ctx, current, new))?;
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
        // Handled before the settings.
        Some(Command::Completions { .. } | Command::Man { .. }) | None => Ok(exit::USAGE),
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
    let flags_env = if cli.local {
        natter::local::with_default_user(&flags, &env, &file)
    } else {
        env.clone()
    };
    let settings = Settings::resolve(&flags, &flags_env, &file)?;
    let ctx = Context::new(settings, &env)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let offset = chrono::Local::now().offset().local_minus_utc();
    let mut settings = natter::app::Settings {
        notify: file.notify.rooms.clone(),
        notify_default: file.notify.default,
        mouse: file.mouse,
        utc_offset: offset,
        chat_log: file.log.chat_dir(),
        open_command: file
            .open_command
            .clone()
            .unwrap_or_else(|| natter::app::DEFAULT_OPEN_COMMAND.to_owned()),
        highlights: file.highlights.clone(),
        keys: file.keymap().map_err(ClientError::Usage)?,
        images: file.images,
        ..natter::app::Settings::default()
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
        // `/notify`, `/mute` and `/close` from earlier runs, per account
        // (the local server's port changes: it is one account).
        let account = if cli.local {
            format!("{user}@local")
        } else {
            format!("{user}@{server}")
        };
        let prefs_path = natter::prefs::RoomPrefs::default_path(&account);
        if let Some(path) = &prefs_path {
            settings.prefs = natter::prefs::RoomPrefs::load(path);
        }
        let options = natter::tui::Options {
            server,
            user,
            credential,
            source,
            keyring,
            settings,
            theme,
            connect: ctx.connect.clone(),
            prefs_path,
            picker: None,
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
