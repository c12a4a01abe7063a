//! Files under load: the upload and download throughput of one client on
//! loopback with natterd's CPU per MiB, and S11, S3's latency while a
//! large file uploads from another account all along.
//!
//! Uploads go through `natter_client::transfer`, as `natter --send --file`
//! does: a transfer connection of their own beside the chat one. Each
//! round uploads different bytes (its first eight are the round's number),
//! so no round completes at once as known content.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use natter_client::transfer::{Source, Transfer};
use natter_client::{ConnectOptions, Connection};
use natter_shared::Credential;
use tokio_util::sync::CancellationToken;

use crate::measure;
use crate::provision;

/// A bench user logged in by token.
async fn login(addr: &str, user: usize) -> anyhow::Result<Connection> {
    let (conn, events) = Connection::connect(addr, &options()).await?;
    drop(events);
    let name = provision::user(user);
    conn.login(&name, Credential::Token(provision::token(&name)))
        .await
        .with_context(|| format!("log in as {name}: provision the data dir first"))?;
    Ok(conn)
}

fn options() -> ConnectOptions {
    ConnectOptions {
        request_timeout: Duration::from_mins(2),
        ..ConnectOptions::default()
    }
}

/// Writes a file of `mib` MiB of varied bytes into `dir`.
fn make_file(dir: &Path, mib: u64) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("natter-load-{mib}MiB.bin"));
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(path)
}

/// Makes round `n` of the file new content.
fn stamp(path: &Path, n: u64) -> anyhow::Result<Source> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&n.to_le_bytes())?;
    f.sync_all()?;
    Ok(Source::from_path(path, Some("load.bin"))?)
}

/// What one transfer took.
#[derive(Debug, Clone, Copy)]
pub struct Moved {
    pub bytes: u64,
    pub secs: f64,
    /// natterd's CPU meanwhile, when its pid was given.
    pub server_cpu: Option<Duration>,
}

impl Moved {
    #[must_use]
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.secs.max(1e-9)
    }

    /// natterd's CPU per MiB moved, in milliseconds.
    #[must_use]
    pub fn cpu_ms_per_mib(&self) -> Option<f64> {
        self.server_cpu
            .map(|c| c.as_secs_f64() * 1000.0 / (self.bytes as f64 / (1024.0 * 1024.0)))
    }
}

fn cpu(pid: Option<u32>) -> Option<Duration> {
    pid.and_then(|p| measure::sample(p).ok()).map(|s| s.cpu)
}

/// One upload of `mib` MiB and its download back, timed, with natterd's
/// CPU for each.
///
/// # Errors
/// A refusal (provision the data dir, whose config lifts the file
/// limits), or a lost connection.
pub async fn throughput(addr: &str, mib: u64, pid: Option<u32>) -> anyhow::Result<(Moved, Moved)> {
    let dir = tempfile_dir()?;
    let path = make_file(&dir, mib)?;
    let source = stamp(&path, u64::from(std::process::id()) << 20 | rand_round())?;
    let conn = login(addr, 0).await?;
    let transfer = Transfer::open(&conn, &options()).await?;
    let (c0, t0) = (cpu(pid), Instant::now());
    let file = transfer
        .upload(&source, &CancellationToken::new(), |_| {})
        .await?;
    let up = Moved {
        bytes: file.size,
        secs: t0.elapsed().as_secs_f64(),
        server_cpu: cpu(pid).zip(c0).map(|(a, b)| a.saturating_sub(b)),
    };
    let dest = dir.join("download.bin");
    let _ = std::fs::remove_file(&dest);
    let (c0, t0) = (cpu(pid), Instant::now());
    transfer
        .download(&file, false, &dest, &CancellationToken::new(), |_| {})
        .await?;
    let down = Moved {
        bytes: file.size,
        secs: t0.elapsed().as_secs_f64(),
        server_cpu: cpu(pid).zip(c0).map(|(a, b)| a.saturating_sub(b)),
    };
    let _ = std::fs::remove_dir_all(&dir);
    Ok((up, down))
}

/// Uploads `mib` MiB from bench user `user` over and over until `stop`;
/// returns what moved.
///
/// # Errors
/// As [`throughput`].
pub async fn upload_until(
    addr: &str,
    user: usize,
    mib: u64,
    stop: CancellationToken,
    going: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<Moved> {
    let dir = tempfile_dir()?;
    let path = make_file(&dir, mib)?;
    let conn = login(addr, user).await?;
    let transfer = Transfer::open(&conn, &options()).await?;
    let started = Instant::now();
    let mut going = Some(going);
    let mut bytes = 0;
    let mut round = rand_round();
    while !stop.is_cancelled() {
        round += 1;
        let source = stamp(&path, round)?;
        let moved = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = std::sync::Arc::clone(&moved);
        // The measurement starts once bytes flow, not while the file is
        // written and hashed.
        let mut tell = going.take();
        match transfer
            .upload(&source, &stop, move |p| {
                seen.store(p.done, std::sync::atomic::Ordering::Relaxed);
                if let Some(t) = tell.take() {
                    let _ = t.send(());
                }
            })
            .await
        {
            Ok(file) => bytes += file.size,
            Err(natter_client::ClientError::Cancelled) => {
                bytes += moved.load(std::sync::atomic::Ordering::Relaxed);
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Moved {
        bytes,
        secs: started.elapsed().as_secs_f64(),
        server_cpu: None,
    })
}

fn rand_round() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        << 8
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "natter-load-files-{}-{}",
        std::process::id(),
        rand_round()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
