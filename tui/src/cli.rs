//! The `natter` command line, defined here rather than in the binary so
//! that `natter completions` and `natter man` can generate from the same
//! definition the binary parses with.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};

pub const AFTER_HELP: &str = "\
Without --send or a command, natter opens the full-screen client (F1 there
lists its keys and commands); with --local it first starts a server in this
process and logs you in to it. `natter --local --send ...`,
`natter --local tail ...` and `natter --local download ...` use that local
server and account (joining the one running, else starting it for the
command's length).

Environment:
  NATTER_SERVER    server address, host:port or tls://host:port (below
                   --server, above the config file)
  NATTER_USER      account name (below --user, above the config file)
  NATTER_TOKEN     an API token from `natterd token create`, for scripts
                   and bots that hold no password; tried first
  NATTER_PASSWORD  password; tried before the keyring token
  NATTER_KEYRING   secret-service | keyutils | none: force a keyring
                   (default: Secret Service, else the kernel keyring)
  RUST_LOG         diagnostics on stderr, e.g. RUST_LOG=natter=debug

Credentials are tried in this order: NATTER_TOKEN, NATTER_PASSWORD, the token stored by
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
pub struct Cli {
    /// Server address, host:port or tls://host:port [default: 127.0.0.1:7878]
    #[arg(long, global = true, value_name = "ADDR")]
    pub server: Option<String>,
    /// Account name [default: config `user`, else $USER]
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Config file [default: ~/.config/natter/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// For tls:// servers: trust only this CA certificate (PEM) instead of
    /// the system's roots [default: config `ca_file`]
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Send one message to ROOM (#room, room or @user) and exit once the
    /// server has stored it. The words after ROOM are the message; without
    /// any, stdin is (minus one trailing newline). Text starting with '-'
    /// goes after `--`.
    #[arg(long, num_args = 1.., value_names = ["ROOM", "TEXT"])]
    pub send: Option<Vec<String>>,
    /// Message text after `--` (with --send)
    #[arg(last = true, requires = "send", hide = true)]
    pub rest: Vec<String>,
    /// With --send: reply to message ID (of the same room)
    #[arg(long, requires = "send", value_name = "ID")]
    pub reply_to: Option<u64>,
    /// With --send: post in the thread rooted at message ID
    #[arg(long, requires = "send", value_name = "ID")]
    pub thread: Option<u64>,
    /// With --send: `high` notifies every member of the room, as @room in
    /// the text does (room moderators only)
    #[arg(long, requires = "send", value_name = "LEVEL")]
    pub priority: Option<Priority>,
    /// With --send: print the stored message's id on stdout
    #[arg(long, requires = "send")]
    pub print_id: bool,
    /// With --send: attach the file at PATH (repeatable; `-` reads it from
    /// stdin). The text after ROOM becomes its caption, and may be left out
    #[arg(long = "file", requires = "send", value_name = "PATH")]
    pub files: Vec<PathBuf>,
    /// With --file: the name others see [default: the file's own; `stdin.txt`
    /// for -]
    #[arg(long, requires = "files", value_name = "NAME")]
    pub name: Option<String>,
    /// Run a server in this process (127.0.0.1:7878 or the next free
    /// port, data in the user data dir) and open the client logged in to it.
    /// With --send or tail: use that local server and its account's
    /// password (joining a running `natter --local`, else starting one for
    /// the command)
    #[arg(long, global = true)]
    pub local: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `--priority`: how loudly a `--send` calls the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Priority {
    /// An ordinary message
    Normal,
    /// Notify every member of the room (room moderators only)
    High,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the last messages of ROOM, then new ones as they arrive
    Tail {
        /// #room, room or @user
        room: String,
        /// How many messages of history to print first
        #[arg(long, default_value_t = 10, value_name = "N")]
        last: u32,
        /// One JSON object per line, each with a `type`: `message` (id,
        /// ts in ms since the epoch, room, from, body, action, reply_to,
        /// thread, edited, deleted, reactions, attachments), `edit`,
        /// `delete` and `reaction` as those happen
        #[arg(long)]
        json: bool,
    },
    /// Replace the text of your message ID; exits 0 once the server has
    /// stored the change. The words after ID are the text; without any,
    /// stdin is
    Edit {
        /// The message's id (from `tail --json`, --print-id or search)
        id: u64,
        /// The new text
        text: Vec<String>,
        /// The message's room; without it the server finds it by id
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
    },
    /// Delete message ID: yours, or any in a room you moderate
    Delete {
        id: u64,
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
    },
    /// Toggle your reaction KEY (one emoji or a :shortcode:) on message ID
    React {
        id: u64,
        key: String,
        /// Only remove the reaction (never add it)
        #[arg(long)]
        remove: bool,
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
    },
    /// Search the rooms you are in, newest first: words, "phrases",
    /// -word, from:USER, in:#ROOM, before:/after:YYYY-MM-DD, has:link,
    /// is:reply
    Search {
        /// The query (several words are one query). A query with `-word`
        /// goes after `--`: natter search --json -- deploy -staging
        #[arg(required = true)]
        query: Vec<String>,
        /// Only this room
        #[arg(long, value_name = "ROOM")]
        room: Option<String>,
        /// How many results at most
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: u32,
        /// One JSON object per result: the message's keys plus snippet and
        /// hits
        #[arg(long)]
        json: bool,
    },
    /// Save the files message ID carries, each checked against its
    /// SHA-256: into the download dir (~/Downloads), never overwriting a
    /// file (`name (1).ext`). Prints where each went. An interrupted
    /// download resumes from its NAME.part
    Download {
        /// The message's id (from `tail --json`, --print-id or search)
        id: u64,
        /// A directory to save into, or for a message with one file, the
        /// file's own path (which must not exist)
        #[arg(short = 'o', long = "output", value_name = "PATH|DIR")]
        output: Option<PathBuf>,
    },
    /// Check the password with the server and store a session token in the
    /// keyring, so later runs need no password. The password comes from
    /// NATTER_PASSWORD, a prompt, or stdin's first line when stdin is not a
    /// terminal
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
    /// Print the shell completion script for SHELL, e.g. `natter
    /// completions bash > ~/.local/share/bash-completion/completions/natter`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `natter man >
    /// ~/.local/share/man/man1/natter.1`, or write natter.1 into DIR
    Man {
        /// Write DIR/natter.1 instead of printing
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// Writes the completion script for `shell` to `out`.
pub fn write_completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "natter", out);
}

/// Writes the manual page: to `out`, or, with `dir`, to `dir/natter.1`,
/// whose path is returned.
///
/// # Errors
/// Writing the page fails.
pub fn write_man(dir: Option<&Path>, out: &mut dyn Write) -> std::io::Result<Option<PathBuf>> {
    let man = clap_mangen::Man::new(Cli::command());
    let Some(dir) = dir else {
        man.render(out)?;
        return Ok(None);
    };
    let mut page = Vec::new();
    man.render(&mut page)?;
    let path = dir.join("natter.1");
    std::fs::write(&path, page)?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
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
        let cli = Cli::try_parse_from([
            "natter",
            "--send",
            "#dev",
            "yes",
            "--reply-to",
            "40",
            "--thread",
            "39",
        ])
        .unwrap();
        assert_eq!((cli.reply_to, cli.thread), (Some(40), Some(39)));
        assert!(Cli::try_parse_from(["natter", "--reply-to", "4"]).is_err());
        let cli = Cli::try_parse_from(["natter", "react", "42", ":tada:", "--remove"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::React {
                id: 42,
                remove: true,
                room: None,
                ..
            })
        ));
        let cli = Cli::try_parse_from(["natter", "search", "from:bob", "deploy"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Search { query, limit: 20, .. }) if query == ["from:bob", "deploy"]
        ));
        // An excluded word goes after `--`, as text starting with '-' does.
        let cli = Cli::try_parse_from([
            "natter", "search", "--json", "--room", "#ops", "--", "deploy", "-staging",
        ])
        .unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Search { query, json: true, room: Some(_), .. })
                if query == ["deploy", "-staging"]
        ));
        // --local goes with the scripting modes too.
        let cli = Cli::try_parse_from(["natter", "tail", "dev", "--local"]).unwrap();
        assert!(cli.local);
    }

    #[test]
    fn man_page_names_every_subcommand() {
        let mut page = Vec::new();
        write_man(None, &mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH natter"),
            "{page}"
        );
        for sub in [
            "tail",
            "login",
            "edit",
            "delete",
            "react",
            "search",
            "completions",
            "man",
        ] {
            assert!(page.contains(sub), "{sub}");
        }
    }
}
