//! A complete natter bot on `natter-client`: it answers `!ping` with
//! `pong` and `!roll [NdM]` with dice, in every room it is in, and comes
//! back by itself when the server restarts.
//!
//! ```sh
//! natterd user add --bot pingbot
//! natterd room invite '#bots' pingbot
//! NATTER_TOKEN=$(natterd token create pingbot) \
//!     cargo run -p natter-client --example pingbot -- 127.0.0.1:7878 pingbot
//! ```
//!
//! `client/tests/bot.rs` runs it against a real server.

use natter_client::{ConnectOptions, Status, Supervisor, SupervisorConfig, Update};
use natter_shared::{Credential, Event};

/// The bot's answer to one message, if it has one.
pub fn answer(body: &str, from: &str, roll: &mut impl FnMut(u32) -> u32) -> Option<String> {
    let mut words = body.split_whitespace();
    match words.next()? {
        "!ping" => Some(format!("pong, {from}")),
        "!roll" => {
            let spec = words.next().unwrap_or("1d6");
            let Some((n, sides)) = spec.split_once('d') else {
                return Some(format!("{from}: roll what? say !roll 2d6"));
            };
            let n: u32 = if n.is_empty() { 1 } else { n.parse().ok()? };
            let sides: u32 = sides.parse().ok()?;
            if !(1..=20).contains(&n) || !(2..=1000).contains(&sides) {
                return Some(format!("{from}: 1 to 20 dice of 2 to 1000 sides"));
            }
            let dice: Vec<u32> = (0..n).map(|_| roll(sides)).collect();
            let total: u32 = dice.iter().sum();
            let shown: Vec<String> = dice.iter().map(ToString::to_string).collect();
            Some(format!(
                "{from} rolled {n}d{sides}: {} = {total}",
                shown.join(" + ")
            ))
        }
        _ => None,
    }
}

/// Runs the bot as `user` on `server`, reconnecting as needed, until the
/// process is stopped.
///
/// # Errors
/// When the server refuses the token (expired, revoked).
pub async fn run(
    server: &str,
    user: &str,
    token: String,
) -> Result<(), natter_client::ClientError> {
    let (_presence, presence) = tokio::sync::watch::channel(None);
    let (_bot, mut updates) = Supervisor::spawn(SupervisorConfig {
        addr: server.to_owned(),
        user: user.to_owned(),
        credential: Credential::Token(token),
        presence,
        connect: ConnectOptions::default(),
        backoff: natter_client::Backoff::default(),
        stable_link: std::time::Duration::from_secs(10),
    });
    // A small generator of its own: dice need no cryptography.
    let mut state = u64::from(std::process::id()) | 1;
    let mut roll = move |sides: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        u32::try_from(state % u64::from(sides)).unwrap_or(0) + 1
    };
    let mut conn = None;
    while let Some(update) = updates.recv().await {
        match update {
            Update::Status(Status::Online { conn: c, .. }) => conn = Some(c),
            Update::Status(Status::Stopped {
                credential_refused: true,
                ..
            }) => {
                return Err(natter_client::ClientError::TokenRefused {
                    user: user.to_owned(),
                });
            }
            Update::Status(Status::Stopped { reason, .. }) => {
                return Err(natter_client::ClientError::Usage(reason));
            }
            Update::Status(_) => conn = None,
            Update::Event(Event::Message(m)) if m.from != user => {
                let (Some(reply), Some(conn)) = (answer(&m.body, &m.from, &mut roll), &conn) else {
                    continue;
                };
                if let Err(e) = conn.send_message(&m.room, &reply, false).await {
                    eprintln!("pingbot: cannot answer in {}: {e}", m.room);
                }
            }
            Update::Event(_) => {}
        }
    }
    Ok(())
}

#[allow(dead_code)] // `client/tests/bot.rs` includes this file and calls `run`.
#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let server = args.next().unwrap_or_else(|| "127.0.0.1:7878".into());
    let user = args.next().unwrap_or_else(|| "pingbot".into());
    let Ok(token) = std::env::var("NATTER_TOKEN") else {
        eprintln!("pingbot: set NATTER_TOKEN (natterd token create {user})");
        std::process::exit(4);
    };
    if let Err(e) = run(&server, &user, token).await {
        eprintln!("pingbot: {e}");
        std::process::exit(e.exit_code());
    }
}
