//! `natterd`: parses the command line, sets up logging, and runs the server
//! or an operator command. Everything else lives in the `natter_server`
//! library.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use natter_server::{Config, admin};
use natter_shared::text::escape;

#[derive(Parser)]
#[command(name = "natterd", version, about = "natter's chat server")]
struct Cli {
    /// Config file (TOML; see config.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory [default: the platform data dir].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address for TLS connections [default: 127.0.0.1:7879]; TLS is served
    /// when a certificate and key are given.
    #[arg(long, global = true, value_name = "ADDR")]
    tls_listen: Option<String>,
    /// TLS certificate chain (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Run,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage rooms.
    #[command(subcommand)]
    Room(RoomCommand),
    /// Manage API tokens: log in as an account without its password
    /// (scripts and bots take one from NATTER_TOKEN).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage webhooks: incoming ones post into a room over HTTP.
    #[command(subcommand)]
    Hook(HookCommand),
    /// A live dashboard of the running server: connections, logins,
    /// messages and deliveries per second, commit latency, slow consumers,
    /// the busiest rooms. Reads the HTTP listener ([http] listen).
    Top {
        /// The listener to read, e.g. http://127.0.0.1:7880 [default: from
        /// the config's http.listen].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Seconds between readings.
        #[arg(long, value_name = "SECS", default_value_t = 1.0)]
        every: f64,
    },
    /// Print the audit log of moderation and admin actions, oldest first.
    Audit {
        /// How many of the newest entries to print.
        #[arg(long, value_name = "N", default_value_t = 50)]
        last: u32,
    },
    /// Write a consistent copy of the database and its files to the new
    /// directory DIR (safe while the server runs); DIR is then a data dir.
    Backup {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Copy this store (database and files) into an empty PostgreSQL
    /// database, checking every table's count and every file's size; a
    /// failure commits nothing. The password comes from PGPASSWORD or
    /// --password-file, never from the URL.
    Migrate {
        /// The target, e.g. postgres://natter@db.example.com/natter.
        #[arg(long, value_name = "URL")]
        to: String,
        /// A file holding the target's password.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// List the open reports of messages (users' `/report`), or close one.
    Reports {
        /// Closed reports too.
        #[arg(long)]
        all: bool,
        #[command(subcommand)]
        action: Option<ReportCommand>,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, ...),
    /// e.g. `natterd completions bash >
    /// ~/.local/share/bash-completion/completions/natterd`.
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff), or write natterd.1 into DIR, e.g.
    /// `natterd man > ~/.local/share/man/man1/natterd.1`.
    Man {
        /// Write DIR/natterd.1 instead of printing.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token for account NAME (shown only this once).
    Create {
        name: String,
        /// Stop working after this long: 30d, 12h, 90m (default: never).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        expires: Option<std::time::Duration>,
        /// What it is for, shown by `token list`.
        #[arg(long, value_name = "TEXT", default_value = "api")]
        label: String,
    },
    /// List API tokens (never the tokens themselves).
    List,
    /// Revoke API token ID: no new login takes it, and the sessions it
    /// opened end.
    Revoke { id: i64 },
}

/// A duration as `30d`, `12h`, `90m` or `45s`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: give a number and a unit (d, h, m or s), e.g. 30d"))?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => return Err(format!("{s:?}: the unit is d, h, m or s")),
    }
    .ok_or_else(|| format!("{s:?} is too long"))?;
    if secs == 0 {
        return Err("an expiry must be in the future".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Subcommand)]
enum HookCommand {
    /// Add an incoming webhook posting into ROOM as the bot NAME (created
    /// if missing, and made a member), and print its URL. POST JSON
    /// `{"text": "..."}` or plain text to it.
    Add {
        room: String,
        /// The bot account the messages come from.
        #[arg(long, value_name = "NAME")]
        name: String,
    },
    /// Add an outgoing webhook: messages in ROOM are POSTed as signed JSON
    /// to URL (every one, or those matching --trigger or --mentions), and
    /// a reply {"text": ...} is posted back as the bot --name. Prints the
    /// signing secret.
    AddOutgoing {
        room: String,
        /// Where to POST (http:// or https://).
        #[arg(long, value_name = "URL")]
        url: String,
        /// Only messages starting with this, e.g. '!deploy'.
        #[arg(long, value_name = "TEXT")]
        trigger: Option<String>,
        /// Only messages that mention the bot (and those matching
        /// --trigger, if given).
        #[arg(long)]
        mentions: bool,
        /// The bot replies come from (created if missing).
        #[arg(long, value_name = "NAME", default_value = "webhook")]
        name: String,
    },
    /// List the webhooks.
    List,
    /// Delete webhook ID; its URL stops working at once.
    Del { id: i64 },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Mark report ID as dealt with.
    Close { id: u64 },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account (password from stdin's first line, or a prompt).
    Add {
        name: String,
        /// Make the account a server admin.
        #[arg(long)]
        admin: bool,
        /// A bot: shown as one everywhere, and it has no password (it
        /// posts through webhooks and API tokens).
        #[arg(long, conflicts_with = "admin")]
        bot: bool,
    },
    /// Change a password; the account's tokens are revoked and its open
    /// sessions end at once.
    Passwd { name: String },
    /// Delete an account; its open sessions end at once. Its name stays
    /// reserved, so nobody else can take it over with its history.
    Del {
        name: String,
        /// Free the name for a new account now; the old account's messages
        /// then show as from "NAME (deleted)".
        #[arg(long)]
        release_name: bool,
        /// Also erase what they wrote: every message body (a tombstone
        /// stays in its place), their reactions and their files.
        #[arg(long)]
        purge: bool,
    },
    /// Print everything stored about an account as JSON (the profile,
    /// memberships, read markers, messages, reactions, files): what a user
    /// may ask for. The format is documented in PROTOCOL.md.
    Export { name: String },
    /// Free the name of a deleted account for a new one.
    Release { name: String },
    /// Suspend an account: its open sessions end at once and it cannot log
    /// in until unsuspended.
    Suspend {
        name: String,
        /// Kept in the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift a suspension.
    Unsuspend { name: String },
    /// List accounts.
    List,
}

#[derive(Subcommand)]
enum RoomCommand {
    /// Create a room.
    Add {
        name: String,
        /// Unlisted and invite-only.
        #[arg(long)]
        private: bool,
        /// Its owner.
        #[arg(long, value_name = "USER")]
        owner: Option<String>,
        /// Only its moderators post (an announcement room).
        #[arg(long)]
        announce: bool,
        /// The group clients show it in.
        #[arg(long, value_name = "NAME")]
        category: Option<String>,
    },
    /// Change a room's modes; what is left out stays.
    Set {
        name: String,
        /// on: only its moderators post; off: every member does.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        announce: Option<bool>,
        /// The group clients show it in ("" clears it).
        #[arg(long, value_name = "NAME")]
        category: Option<String>,
    },
    /// List rooms.
    List,
    /// Add a user to a room.
    Invite { name: String, user: String },
}

/// `on`/`off` (and the usual spellings of yes and no).
fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{s:?}: say on or off")),
    }
}

/// `natterd man`: the roff page on stdout, or `DIR/natterd.1`.
fn write_man(out: Option<&std::path::Path>) -> Result<()> {
    let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
    match out {
        None => man
            .render(&mut std::io::stdout().lock())
            .context("cannot write the manual page"),
        Some(dir) => {
            let path = dir.join("natterd.1");
            let mut page = Vec::new();
            man.render(&mut page)?;
            std::fs::write(&path, page)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("natterd: wrote {}", path.display());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("natterd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Command-line values that win over the config file, also after a reload.
#[derive(Clone)]
struct Overrides {
    file: Option<PathBuf>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    tls_listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl Overrides {
    /// Reads the config file (or the defaults) and applies the flags.
    fn load(&self) -> Result<Config> {
        let mut config = match &self.file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(listen) = &self.listen {
            config.listen.clone_from(listen);
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = Some(dir.clone());
        }
        if let Some(addr) = &self.tls_listen {
            config.tls.listen.clone_from(addr);
        }
        if let Some(cert) = &self.tls_cert {
            config.tls.cert = Some(cert.clone());
        }
        if let Some(key) = &self.tls_key {
            config.tls.key = Some(key.clone());
        }
        config
            .validate()
            .map_err(natter_server::config::ConfigError::Invalid)?;
        Ok(config)
    }
}

fn real_main(cli: Cli) -> Result<()> {
    // Generated from the command line alone: no config or data dir needed.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "natterd", &mut std::io::stdout());
            return Ok(());
        }
        Some(Command::Man { out }) => return write_man(out.as_deref()),
        _ => {}
    }
    let overrides = Overrides {
        file: cli.config,
        listen: cli.listen,
        data_dir: cli.data_dir,
        tls_listen: cli.tls_listen,
        tls_cert: cli.tls_cert,
        tls_key: cli.tls_key,
    };
    let config = overrides.load()?;
    if let Some(Command::Top { url, every }) = &cli.command {
        return top(&config, url.clone(), *every);
    }
    let data_dir = config.resolved_data_dir()?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => serve(config, overrides),
        Command::User(cmd) => match cmd {
            UserCommand::Add {
                name, bot: true, ..
            } => {
                admin::add_bot(&data_dir, &name)?;
                println!("created bot {name}");
                Ok(())
            }
            UserCommand::Add {
                name,
                admin: is_admin,
                bot: false,
            } => {
                let password = read_password(&format!("Password for {name}: "), true)?;
                admin::add_user_min(
                    &data_dir,
                    &name,
                    &password,
                    is_admin,
                    config.limits.min_password_len,
                )?;
                println!(
                    "created user {name}{}",
                    if is_admin { " (admin)" } else { "" }
                );
                Ok(())
            }
            UserCommand::Passwd { name } => {
                let password = read_password(&format!("New password for {name}: "), true)?;
                admin::set_password_min(
                    &data_dir,
                    &name,
                    &password,
                    config.limits.min_password_len,
                )?;
                println!("password changed for {name}; their saved session tokens are revoked");
                Ok(())
            }
            UserCommand::Export { name } => {
                let export = admin::export_user(&data_dir, &name)?;
                println!("{}", serde_json::to_string_pretty(&export)?);
                Ok(())
            }
            UserCommand::Del {
                name,
                release_name,
                purge: true,
            } => {
                let purged = admin::purge_user(&data_dir, &name, release_name)?;
                println!(
                    "deleted user {name}; erased {} messages and {} files",
                    purged.messages, purged.files
                );
                Ok(())
            }
            UserCommand::Del {
                name,
                release_name,
                purge: false,
            } => {
                admin::delete_user(&data_dir, &name, release_name)?;
                if release_name {
                    println!("deleted user {name}; the name is free for a new account");
                } else {
                    println!(
                        "deleted user {name}; the name stays reserved (`natterd user release {name}` frees it)"
                    );
                }
                Ok(())
            }
            UserCommand::Release { name } => {
                admin::release_name(&data_dir, &name)?;
                println!("released the name {name}; its old messages show as \"{name} (deleted)\"");
                Ok(())
            }
            UserCommand::Suspend { name, reason } => {
                admin::suspend_user(&data_dir, &name, true, &reason)?;
                println!("suspended {name}; their sessions are closed");
                Ok(())
            }
            UserCommand::Unsuspend { name } => {
                admin::suspend_user(&data_dir, &name, false, "")?;
                println!("{name} may log in again");
                Ok(())
            }
            UserCommand::List => {
                let bots = admin::bots(&data_dir)?;
                for u in admin::list_users(&data_dir)? {
                    println!(
                        "{}{}{}{}",
                        escape(&u.name),
                        if u.admin { " (admin)" } else { "" },
                        if bots.contains(&u.name) { " [bot]" } else { "" },
                        if u.suspended { " (suspended)" } else { "" }
                    );
                }
                Ok(())
            }
        },
        Command::Room(cmd) => match cmd {
            RoomCommand::Add {
                name,
                private,
                owner,
                announce,
                category,
            } => {
                admin::add_room(&data_dir, &name, private, owner.as_deref())?;
                if announce || category.is_some() {
                    admin::set_room_mode(&data_dir, &name, Some(announce), category.as_deref())?;
                }
                println!("created room {name}");
                Ok(())
            }
            RoomCommand::Set {
                name,
                announce,
                category,
            } => {
                if announce.is_none() && category.is_none() {
                    anyhow::bail!("nothing to set: give --announce on|off or --category NAME");
                }
                admin::set_room_mode(&data_dir, &name, announce, category.as_deref())?;
                println!("changed room {name}");
                Ok(())
            }
            RoomCommand::List => {
                for r in admin::list_rooms(&data_dir)? {
                    let kind = if r.kind == natter_shared::RoomKind::Private {
                        "private"
                    } else {
                        "public"
                    };
                    let mut flags = String::new();
                    if r.announce {
                        flags.push_str("\tannounce");
                    }
                    if let Some(c) = &r.category {
                        flags.push_str("\tcategory=");
                        flags.push_str(&escape(c));
                    }
                    println!(
                        "{}\t{kind}\t{} members\t{}{flags}",
                        escape(&r.name),
                        r.members,
                        escape(&r.topic)
                    );
                }
                Ok(())
            }
            RoomCommand::Invite { name, user } => {
                admin::invite(&data_dir, &name, &user)?;
                println!("added {user} to {name}");
                Ok(())
            }
        },
        Command::Token(cmd) => match cmd {
            TokenCommand::Create {
                name,
                expires,
                label,
            } => {
                let token = admin::create_token(&data_dir, &name, &label, expires)?;
                println!("{token}");
                match expires {
                    Some(e) => eprintln!(
                        "natterd: token for {name}, expires {}; give it to natter as NATTER_TOKEN",
                        time(
                            natter_server::store::now_ms()
                                + i64::try_from(e.as_millis()).unwrap_or(i64::MAX)
                        )
                    ),
                    None => eprintln!(
                        "natterd: token for {name}, no expiry; give it to natter as NATTER_TOKEN"
                    ),
                }
                Ok(())
            }
            TokenCommand::List => {
                let tokens = admin::api_tokens(&data_dir)?;
                if tokens.is_empty() {
                    println!("no API tokens");
                }
                for t in tokens {
                    let expiry = t.expires_at.map_or_else(
                        || "no expiry".to_owned(),
                        |at| format!("expires {}", time(at)),
                    );
                    println!(
                        "{}\t{}\t{}\tcreated {}\t{expiry}",
                        t.id,
                        escape(&t.user),
                        escape(&t.label),
                        time(t.created_at)
                    );
                }
                Ok(())
            }
            TokenCommand::Revoke { id } => {
                admin::revoke_token(&data_dir, id)?;
                println!("revoked API token {id}");
                Ok(())
            }
        },
        Command::Hook(cmd) => match cmd {
            HookCommand::Add { room, name } => {
                let token = admin::add_hook(&data_dir, &room, &name)?;
                println!("{}/hooks/{token}", config.http.base_url());
                if config.http.listen.is_empty() {
                    eprintln!(
                        "natterd: the HTTP listener is off; set [http] listen in the config to serve this URL"
                    );
                }
                Ok(())
            }
            HookCommand::AddOutgoing {
                room,
                url,
                trigger,
                mentions,
                name,
            } => {
                let (id, secret) = admin::add_outgoing_hook(
                    &data_dir,
                    &room,
                    &name,
                    &url,
                    trigger.as_deref(),
                    mentions,
                )?;
                println!("{secret}");
                eprintln!(
                    "natterd: webhook {id}: messages in {room} go to {url}, signed with the secret above (X-Natter-Signature); replies come from {name}"
                );
                Ok(())
            }
            HookCommand::List => {
                let hooks = admin::hooks(&data_dir)?;
                if hooks.is_empty() {
                    println!("no webhooks");
                }
                for h in hooks {
                    match &h.outgoing {
                        None => println!(
                            "{}\tincoming\t{}\tas {}\tsince {}",
                            h.id,
                            escape(&h.room),
                            escape(&h.bot),
                            time(h.created_at)
                        ),
                        Some(o) => {
                            let mut what = Vec::new();
                            if let Some(t) = &o.trigger {
                                what.push(format!("trigger {}", escape(t)));
                            }
                            if o.mentions {
                                what.push(format!("mentions of {}", escape(&h.bot)));
                            }
                            if what.is_empty() {
                                what.push("every message".into());
                            }
                            println!(
                                "{}\toutgoing\t{}\tto {}\t{}\t{} pending, {} failed\tsince {}",
                                h.id,
                                escape(&h.room),
                                escape(&o.url),
                                what.join(" or "),
                                o.pending,
                                o.failed,
                                time(h.created_at)
                            );
                        }
                    }
                }
                Ok(())
            }
            HookCommand::Del { id } => {
                admin::delete_hook(&data_dir, id)?;
                println!("deleted webhook {id}");
                Ok(())
            }
        },
        Command::Audit { last } => {
            for e in admin::audit_log(&data_dir, last)? {
                println!("{}", format_audit(&e));
            }
            Ok(())
        }
        Command::Reports {
            action: Some(ReportCommand::Close { id }),
            ..
        } => {
            admin::close_report(&data_dir, id)?;
            println!("closed report #{id}");
            Ok(())
        }
        Command::Reports { all, action: None } => {
            let reports = admin::reports(&data_dir, all)?;
            if reports.is_empty() {
                println!("no {}reports", if all { "" } else { "open " });
            }
            for r in reports {
                println!("{}", format_report(&r));
            }
            Ok(())
        }
        Command::Backup { dir } => {
            admin::backup(&data_dir, &dir)?;
            println!("backed up to {}", dir.display());
            Ok(())
        }
        Command::Migrate { to, password_file } => migrate(&data_dir, &to, password_file.as_deref()),
        // Handled before the data dir is needed.
        Command::Completions { .. } | Command::Man { .. } | Command::Top { .. } => Ok(()),
    }
}

/// `natterd top`: the dashboard, reading `url` or the configured HTTP
/// listener.
fn top(config: &Config, url: Option<String>, every: f64) -> Result<()> {
    let base = match url {
        Some(u) => u.trim_end_matches('/').to_owned(),
        None if config.http.listen.is_empty() => bail!(
            "natterd top reads the HTTP listener: set [http] listen in the config, or give --url"
        ),
        None => config.http.local_url(),
    };
    if !every.is_finite() || !(0.1..=3600.0).contains(&every) {
        bail!("--every is between 0.1 and 3600 seconds");
    }
    if !std::io::stdout().is_terminal() {
        bail!("natterd top needs a terminal");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    // The first reading says at once whether the server is there.
    runtime
        .block_on(natter_server::top::scrape(&base))
        .map_err(|e| anyhow::anyhow!("cannot read {base}: {e}"))?;
    runtime
        .block_on(natter_server::top::run(
            base,
            std::time::Duration::from_secs_f64(every),
        ))
        .context("the terminal failed")
}

/// One audit entry as a line: UTC time, actor, action, then what it
/// touched.
fn format_audit(e: &natter_server::store::AuditEntry) -> String {
    use std::fmt::Write as _;
    let at = time(e.at);
    // Every field may hold a peer's text (a topic, a reason): one entry is
    // always exactly one line, and nothing reaches the terminal raw.
    let mut line = format!("{at}  {}  {}", escape(&e.actor), escape(&e.action));
    if !e.target.is_empty() {
        let _ = write!(line, "  {}", escape(&e.target));
    }
    if !e.room.is_empty() {
        let _ = write!(line, "  in {}", escape(&e.room));
    }
    if !e.detail.is_empty() {
        let _ = write!(line, "  ({})", escape(&e.detail));
    }
    line
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// One report, one line, every peer-written field escaped.
fn format_report(r: &natter_server::store::ReportRow) -> String {
    let p = &r.report;
    let state = r
        .closed_at
        .map_or_else(|| "open".to_owned(), |t| format!("closed {}", time(t)));
    format!(
        "#{}  {}  {}  in {}: {} reported message {} by {}: {}  \"{}\"",
        p.id,
        time(p.at),
        state,
        escape(&p.room),
        escape(&p.by),
        p.message,
        escape(&p.author),
        escape(&p.reason),
        escape(&p.excerpt)
    )
}

/// The first line of stdin when it is not a terminal (scripts), else a
/// no-echo prompt, asked twice when `confirm`.
fn read_password(prompt: &str, confirm: bool) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let password = line.trim_end_matches(['\n', '\r']).to_owned();
        if password.is_empty() {
            bail!("no password on stdin");
        }
        return Ok(password);
    }
    let password = rpassword::prompt_password(prompt)?;
    if confirm && rpassword::prompt_password("Again: ")? != password {
        bail!("the passwords differ");
    }
    Ok(password)
}

fn serve(config: Config, overrides: Overrides) -> Result<()> {
    let (_guard, log_level) = init_logging(&config)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut listeners = natter_server::Listeners::default();
        if !config.listen.is_empty() {
            listeners.plain = Some(
                tokio::net::TcpListener::bind(&config.listen)
                    .await
                    .with_context(|| format!("cannot listen on {}", config.listen))?,
            );
        }
        if !config.http.listen.is_empty() {
            listeners.http = Some(
                tokio::net::TcpListener::bind(&config.http.listen)
                    .await
                    .with_context(|| format!("cannot listen on {} (HTTP)", config.http.listen))?,
            );
        }
        if !config.irc.listen.is_empty() {
            listeners.irc = Some(
                tokio::net::TcpListener::bind(&config.irc.listen)
                    .await
                    .with_context(|| format!("cannot listen on {} (IRC)", config.irc.listen))?,
            );
        }
        if !config.irc.tls_listen.is_empty() {
            listeners.irc_tls = Some(
                tokio::net::TcpListener::bind(&config.irc.tls_listen)
                    .await
                    .with_context(|| {
                        format!("cannot listen on {} (IRC over TLS)", config.irc.tls_listen)
                    })?,
            );
        }
        if config.tls.files().is_some() {
            listeners.tls = Some(
                tokio::net::TcpListener::bind(&config.tls.listen)
                    .await
                    .with_context(|| format!("cannot listen on {} (TLS)", config.tls.listen))?,
            );
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(reload_on_sighup(overrides, tx, log_level));
        natter_server::serve(listeners, config, Some(rx), shutdown_signal()).await?;
        Ok(())
    })
}

/// On each SIGHUP: reads the config file again, hands it to the server
/// (which logs what changed, or why it refused), and applies a new log
/// level. A file that does not parse is refused here and the running
/// config stays.
async fn reload_on_sighup(
    overrides: Overrides,
    server: tokio::sync::mpsc::Sender<natter_server::ReloadRequest>,
    log_level: Option<LogLevel>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGHUP; config reload is off");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!("SIGHUP: reloading the configuration");
        let config = match overrides.load() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "config reload refused; the running config stays");
                continue;
            }
        };
        let level = config.log.level.clone();
        let (done, outcome) = tokio::sync::oneshot::channel();
        if server.send((config, done)).await.is_err() {
            return;
        }
        if let (Ok(Ok(_)), Some(handle)) = (outcome.await, &log_level) {
            match tracing_subscriber::EnvFilter::try_new(&level) {
                Ok(filter) => {
                    if handle.modify(|f| *f = filter).is_err() {
                        tracing::warn!("cannot change the log level");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, level, "invalid log level; keeping the old one");
                }
            }
        }
    }
}

/// Changes the log filter at run time (absent when `RUST_LOG` decides).
type LogLevel =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// The subscriber the output layers sit on: the registry with the
/// reloadable filter.
type Filtered = tracing_subscriber::layer::Layered<
    tracing_subscriber::reload::Layer<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>,
    tracing_subscriber::Registry,
>;

/// One output of the log, text or JSON.
type Output = Box<dyn tracing_subscriber::Layer<Filtered> + Send + Sync>;

/// A log output to `writer`: text for people (`ansi` colours on a
/// terminal), or one JSON object per line, with the fields of the spans it
/// happened in (`conn`: peer, session, user_id; `request`: rid, id, kind).
fn output<W>(json: bool, ansi: bool, writer: W) -> Output
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    if json {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(true)
                .flatten_event(true)
                .with_writer(writer),
        )
    } else {
        Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(writer),
        )
    }
}

/// Logs to stderr, and to daily-rolling files when `log.dir` is set, as
/// text or JSON (`log.format`). The returned guard flushes the file writer
/// when dropped: keep it to the end. The handle changes the level on a
/// reload, unless `RUST_LOG` set it.
fn init_logging(
    config: &Config,
) -> Result<(
    Option<tracing_appender::non_blocking::WorkerGuard>,
    Option<LogLevel>,
)> {
    use tracing_subscriber::prelude::*;
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env().ok();
    let fixed = from_env.is_some();
    let filter = match from_env {
        Some(f) => f,
        None => tracing_subscriber::EnvFilter::try_new(&config.log.level)
            .context("invalid log level")?,
    };
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let handle = (!fixed).then_some(handle);
    let json = config.log.format == natter_server::config::LogFormat::Json;
    let mut outputs = vec![output(
        json,
        std::io::stderr().is_terminal(),
        std::io::stderr,
    )];
    let mut guard = None;
    if let Some(dir) = &config.log.dir {
        let appender = tracing_appender::rolling::RollingFileAppender::builder()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("natterd.log")
            .build(dir)
            .with_context(|| format!("cannot write logs in {}", dir.display()))?;
        let (writer, g) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(appender);
        outputs.push(output(json, false, writer));
        guard = Some(g);
    }
    tracing_subscriber::registry()
        .with(filter)
        .with(outputs)
        .init();
    Ok((guard, handle))
}

/// `natterd migrate`: the copy, then what was copied.
fn migrate(
    data_dir: &std::path::Path,
    to: &str,
    password_file: Option<&std::path::Path>,
) -> Result<()> {
    let password = match password_file {
        Some(p) => Some(
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        ),
        None => None,
    };
    let target = natter_server::migrate::target(to, password)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(natter_server::migrate::to_postgres(data_dir, &target))?;
    for (table, rows) in &report.tables {
        println!("{table:<24} {rows:>10} rows");
    }
    println!(
        "{} files and thumbnails, {} bytes; every count checked, committed",
        report.blobs, report.blob_bytes
    );
    Ok(())
}
