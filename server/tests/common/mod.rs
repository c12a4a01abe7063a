//! A minimal protocol client speaking to a real natterd over real TCP; the
//! server itself is the shared harness, `natter_server::testing`.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use natter_shared::{
    ClientFrame, Credential, ErrorCode, ErrorReply, Event, FrameCodec, PROTOCOL_VERSION, Request,
    Response, ServerFrame, SessionInfo, decode_server,
};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

#[allow(unused_imports)] // each test binary uses its own share
pub use natter_server::testing::{PASSWORD, TestServer, WAIT, free_port};

/// Logging in to a [`TestServer`] with this suite's protocol client.
pub trait ServerExt {
    /// A session of `user` (password [`PASSWORD`]).
    fn login(&self, user: &str) -> impl std::future::Future<Output = Client>;
}

impl ServerExt for TestServer {
    async fn login(&self, user: &str) -> Client {
        Client::login(self.addr, user, PASSWORD).await.0
    }
}

/// A protocol client that buffers events while waiting for replies.
pub struct Client {
    pub framed: Framed<TcpStream, FrameCodec>,
    next_id: u64,
    pub events: VecDeque<Event>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        Self::from_stream(stream)
    }

    /// Connects from the loopback address `source` (any 127.x.y.z works on
    /// Linux), so that one test can be several client addresses.
    pub async fn connect_from(addr: SocketAddr, source: [u8; 4]) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from((source, 0)))
            .expect("bind a loopback source address");
        Self::from_stream(socket.connect(addr).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            framed: Framed::new(stream, FrameCodec::default()),
            next_id: 1,
            events: VecDeque::new(),
        }
    }

    pub async fn hello(&mut self) -> Response {
        self.request(Request::Hello {
            compression: Vec::new(),
            protocol: PROTOCOL_VERSION,
            client: "test".into(),
            client_version: "0".into(),
        })
        .await
        .expect("welcome")
    }

    pub async fn login(addr: SocketAddr, user: &str, password: &str) -> (Self, SessionInfo) {
        let mut c = Self::connect(addr).await;
        c.hello().await;
        match c
            .request(Request::Login {
                user: user.into(),
                credential: Credential::Password(password.into()),
                presence: None,
            })
            .await
        {
            Ok(Response::Session(info)) => (c, info),
            other => panic!("login of {user} failed: {other:?}"),
        }
    }

    /// A fresh connection (from the loopback address `source`, if given)
    /// logging in with `credential`: the client and its session, or the
    /// refusal's code.
    pub async fn try_login(
        addr: SocketAddr,
        source: Option<[u8; 4]>,
        user: &str,
        credential: Credential,
    ) -> Result<(Self, SessionInfo), ErrorCode> {
        let mut c = match source {
            Some(source) => Self::connect_from(addr, source).await,
            None => Self::connect(addr).await,
        };
        c.hello().await;
        match c
            .request(Request::Login {
                user: user.into(),
                credential,
                presence: None,
            })
            .await
        {
            Ok(Response::Session(info)) => Ok((c, info)),
            Ok(other) => panic!("unexpected reply to a login: {other:?}"),
            Err(e) => Err(e.code),
        }
    }

    /// Sends a frame without waiting; returns its id.
    pub async fn send_req(&mut self, req: Request) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.framed
            .send(&ClientFrame { id, req })
            .await
            .expect("send frame");
        id
    }

    /// Reads the next frame (None at EOF).
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        let payload = tokio::time::timeout(WAIT, self.framed.next())
            .await
            .expect("a frame in time")?;
        let payload = payload.ok()?;
        Some(decode_server(&payload).expect("server frames decode"))
    }

    /// The reply to request `id`, buffering events that come first.
    pub async fn reply(&mut self, id: u64) -> Result<Response, ErrorReply> {
        loop {
            match self.next_frame().await.expect("connection open for reply") {
                ServerFrame::Ok { id: rid, res } if rid == id => return Ok(res),
                ServerFrame::Err { id: rid, err } if rid == id => return Err(err),
                ServerFrame::Event(e) => self.events.push_back(e),
                other => panic!("unexpected frame while waiting for {id}: {other:?}"),
            }
        }
    }

    pub async fn request(&mut self, req: Request) -> Result<Response, ErrorReply> {
        let id = self.send_req(req).await;
        self.reply(id).await
    }

    /// The next event.
    pub async fn event(&mut self) -> Event {
        if let Some(e) = self.events.pop_front() {
            return e;
        }
        match self.next_frame().await.expect("connection open for event") {
            ServerFrame::Event(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    /// The first event matching `pred`, skipping others.
    pub async fn event_where(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        loop {
            let e = self.event().await;
            if pred(&e) {
                return e;
            }
        }
    }

    /// Every event arriving within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Event> {
        let mut out: Vec<Event> = self.events.drain(..).collect();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.framed.next()).await {
                Ok(Some(Ok(payload))) => match decode_server(&payload) {
                    Ok(ServerFrame::Event(e)) => out.push(e),
                    other => panic!("unexpected frame {other:?}"),
                },
                Ok(_) | Err(_) => return out,
            }
        }
    }

    /// Reads until the connection closes; returns the Closing event if any.
    pub async fn closing(&mut self) -> Option<(ErrorCode, Option<u64>)> {
        let mut closing = None;
        loop {
            let next = tokio::time::timeout(WAIT, self.framed.next())
                .await
                .expect("connection closes in time");
            match next {
                Some(Ok(payload)) => {
                    if let Ok(ServerFrame::Event(Event::Closing {
                        code,
                        reconnect_after_ms,
                        ..
                    })) = decode_server(&payload)
                    {
                        closing = Some((code, reconnect_after_ms));
                    }
                }
                Some(Err(_)) | None => return closing,
            }
        }
    }

    pub async fn send_text(&mut self, room: &str, body: &str) -> Result<Response, ErrorReply> {
        self.send_files(room, body, Vec::new()).await
    }

    /// A message carrying `files` (uploads of this client's account).
    pub async fn send_files(
        &mut self,
        room: &str,
        body: &str,
        files: Vec<u64>,
    ) -> Result<Response, ErrorReply> {
        self.request(Request::Send {
            room: room.into(),
            body: body.into(),
            action: false,
            nonce: None,
            reply_to: None,
            thread: None,
            attention: false,
            files,
        })
        .await
    }
}

/// Uploads `bytes` as `name` for `client`'s session through a transfer
/// connection of its own (one chunk: keep `bytes` under a frame), and
/// returns the stored file.
pub async fn upload(
    addr: SocketAddr,
    client: &mut Client,
    name: &str,
    bytes: &[u8],
) -> Result<natter_shared::Attachment, ErrorReply> {
    use sha2::Digest;
    let Response::Ticket { ticket, .. } = client.request(Request::OpenTransfer).await? else {
        panic!("no ticket");
    };
    let mut t = Client::connect(addr).await;
    t.hello().await;
    t.request(Request::TransferLogin { ticket }).await?;
    let start = t
        .request(Request::UploadStart {
            name: name.into(),
            size: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(bytes)),
        })
        .await?;
    let upload = match start {
        Response::Uploaded(file) => return Ok(file),
        Response::Upload { upload, .. } => upload,
        other => panic!("upload_start: {other:?}"),
    };
    // In chunks that fit a frame, whatever the file's size.
    let mut offset = 0;
    for chunk in bytes.chunks(48 * 1024) {
        let reply = t
            .request(Request::UploadChunk {
                upload,
                offset: offset as u64,
                data: natter_shared::ByteBuf::from(chunk.to_vec()),
            })
            .await?;
        offset += chunk.len();
        match reply {
            Response::Uploaded(file) if offset == bytes.len() => return Ok(file),
            Response::Stored { .. } if offset < bytes.len() => {}
            other => panic!("upload_chunk at {offset}: {other:?}"),
        }
    }
    panic!("an empty upload was not stored at once")
}

/// The error code of a failed request.
pub fn code(r: Result<Response, ErrorReply>) -> ErrorCode {
    match r {
        Err(e) => e.code,
        Ok(res) => panic!("expected an error, got {res:?}"),
    }
}

/// The built natterd as an operator runs it: `--data-dir DIR`, the config
/// file when given, then `args`, with `stdin` fed to it; its output.
pub fn natterd_cli(
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_natterd"));
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    let mut child = cmd
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("natterd starts");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// A natterd command's stdout, once it succeeded.
pub fn cli_ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "natterd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}
