//! What a client reads when registration ends: 001-005 (with ISUPPORT),
//! LUSERS and the MOTD. `LUSERS`, `MOTD` and `VERSION` repeat parts of it.

use bytes::Bytes;
use natter_shared::Response;

use super::reply::numeric;
use crate::Shared;
use crate::ops::Caller;

fn version() -> String {
    format!("natterd-{}", env!("CARGO_PKG_VERSION"))
}

fn started(shared: &Shared) -> String {
    let up = chrono::Duration::from_std(shared.started.elapsed()).unwrap_or_default();
    (chrono::Utc::now() - up)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

/// ISUPPORT tokens (005), as IRC clients read them.
fn isupport(shared: &Shared) -> Vec<String> {
    let c = shared.config();
    vec![
        "CHANTYPES=#".into(),
        "PREFIX=(qov)~@+".into(),
        "CHANMODES=b,,,mnt".into(),
        "CASEMAPPING=ascii".into(),
        format!("NETWORK={}", c.irc.network),
        format!("CHATHISTORY={}", c.history.max_page),
        "MSGREFTYPES=msgid,timestamp".into(),
        format!("NICKLEN={}", natter_shared::names::MAX_USER_LEN),
        format!("CHANNELLEN={}", natter_shared::names::MAX_ROOM_LEN + 1),
        format!("TOPICLEN={}", c.limits.max_message_len),
        "AWAYLEN=200".into(),
        "MODES=4".into(),
        "TARGMAX=PRIVMSG:1,NOTICE:1,TAGMSG:1,NAMES:1,WHOIS:1,JOIN:,PART:".into(),
        "UTF8ONLY".into(),
        "BOT=B".into(),
        "WHOX".into(),
    ]
}

/// 001 to 005, LUSERS and the MOTD.
pub fn burst(shared: &Shared, caller: Caller, nick: &str) -> Vec<Bytes> {
    let server = shared.config().irc.server_name.clone();
    let network = shared.config().irc.network.clone();
    let n = |code: &str| numeric(&server, nick, code);
    let mut out = vec![
        n("001")
            .trailing(&format!(
                "Welcome to the {network} IRC network, {nick}: the same rooms as natter"
            ))
            .bytes(),
        n("002")
            .trailing(&format!("Your host is {server}, running {}", version()))
            .bytes(),
        n("003")
            .trailing(&format!("This server was started {}", started(shared)))
            .bytes(),
        n("004")
            .arg(&server)
            .arg(&version())
            .arg("iB")
            .arg("bmnt")
            .arg("bqov")
            .bytes(),
    ];
    let tokens = isupport(shared);
    for chunk in tokens.chunks(12) {
        let mut line = n("005");
        for t in chunk {
            line = line.arg(t);
        }
        out.push(line.trailing("are supported by this server").bytes());
    }
    out.extend(lusers(shared, caller, nick));
    out.extend(motd(shared, nick));
    out
}

/// 251, 254, 255.
pub fn lusers(shared: &Shared, caller: Caller, nick: &str) -> Vec<Bytes> {
    let server = shared.config().irc.server_name.clone();
    let (users, sessions, rooms) = match shared.hub().stats(caller.session) {
        Ok(Response::Stats(s)) => (s.users_online, s.sessions, s.rooms),
        _ => (0, 0, 0),
    };
    let n = |code: &str| numeric(&server, nick, code);
    vec![
        n("251")
            .trailing(&format!(
                "There are {users} users and 0 invisible on 1 servers"
            ))
            .bytes(),
        n("254")
            .arg(&rooms.to_string())
            .trailing("channels formed")
            .bytes(),
        n("255")
            .trailing(&format!("I have {sessions} clients and 0 servers"))
            .bytes(),
    ]
}

/// 375, 372 per line, 376; or 422 without one.
pub fn motd(shared: &Shared, nick: &str) -> Vec<Bytes> {
    let c = shared.config();
    let server = c.irc.server_name.clone();
    let n = |code: &str| numeric(&server, nick, code);
    match c.motd.as_deref().filter(|m| !m.trim().is_empty()) {
        None => vec![n("422").trailing("MOTD File is missing").bytes()],
        Some(text) => {
            let mut out = vec![
                n("375")
                    .trailing(&format!("- {server} Message of the day - "))
                    .bytes(),
            ];
            for line in super::line::pieces(text, 400) {
                out.push(n("372").trailing(&format!("- {line}")).bytes());
            }
            out.push(n("376").trailing("End of /MOTD command.").bytes());
            out
        }
    }
}

/// 351.
pub fn version_line(shared: &Shared, nick: &str) -> Bytes {
    let server = shared.config().irc.server_name.clone();
    numeric(&server, nick, "351")
        .arg(&version())
        .arg(&server)
        .trailing("natter's IRC front end")
        .bytes()
}
