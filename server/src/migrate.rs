//! `natterd migrate --to postgres://...`: a single-box store (the SQLite
//! file and its blobs) copied into an empty PostgreSQL database, the first
//! step from one box to a cluster.
//!
//! What it does, in order:
//! - opens the SQLite file read-only, in one read transaction, so the copy
//!   is one consistent snapshot even while a server runs (WAL readers see a
//!   fixed state);
//! - refuses a target database that holds any table already;
//! - in one PostgreSQL transaction: creates each table with the same
//!   columns (SQLite's INTEGER, REAL, TEXT and BLOB as BIGINT, DOUBLE
//!   PRECISION, TEXT and BYTEA) and primary key, copies its rows with
//!   `COPY ... FROM STDIN`, copies every blob and thumbnail the `blobs`
//!   table names into `natter_blob_chunks` (1 MiB rows, so no value nears
//!   PostgreSQL's 1 GiB limit), checks each table's row count and each
//!   blob's size against the source, and commits only if all of it
//!   matched. A failure leaves the target empty.
//!
//! Left out, on purpose: SQLite's full-text index (FTS5 tables and their
//! shadow tables) and `sqlite_sequence`. Both are SQLite's machinery;
//! PostgreSQL indexes text its own way.

use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::store::{self, BlobStore, FsBlobs};

/// Rows per `COPY` buffer sent.
const COPY_CHUNK: usize = 256 * 1024;
/// Bytes of a blob per row of `natter_blob_chunks`.
const BLOB_CHUNK: usize = 1024 * 1024;

/// Why a migration did not happen. Nothing is committed in any of these.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("no database at {0}: is this the data dir?")]
    NoDatabase(std::path::PathBuf),
    #[error("the target database is not empty ({0} tables): migrate into a new, empty database")]
    NotEmpty(i64),
    #[error(
        "the URL holds a password: put it in PGPASSWORD or a file for --password-file instead, never on the command line"
    )]
    PasswordInUrl,
    #[error("the URL is not a PostgreSQL URL: {0}")]
    BadUrl(String),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("reading the blobs: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "{table}: {source_rows} rows in SQLite but {copied} in PostgreSQL; nothing was committed"
    )]
    CountMismatch {
        table: String,
        source_rows: i64,
        copied: i64,
    },
    #[error("blob {0} is not the size its record says; nothing was committed")]
    BlobMismatch(String),
}

/// What was copied.
#[derive(Debug, Default)]
pub struct Report {
    /// Each table and its rows, in the order copied.
    pub tables: Vec<(String, i64)>,
    /// Blobs and thumbnails copied, and their bytes.
    pub blobs: usize,
    pub blob_bytes: u64,
}

/// The target: a URL without a password, and the password from the
/// environment (`PGPASSWORD`) or a file.
///
/// # Errors
/// The URL does not parse, or carries a password.
pub fn target(url: &str, password: Option<String>) -> Result<tokio_postgres::Config, MigrateError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| MigrateError::BadUrl(e.to_string()))?;
    if config.get_password().is_some() {
        return Err(MigrateError::PasswordInUrl);
    }
    if let Some(p) = password.or_else(|| std::env::var("PGPASSWORD").ok()) {
        config.password(p.trim_end_matches(['\n', '\r']));
    }
    Ok(config)
}

/// A column as copied.
struct Column {
    name: String,
    pg_type: &'static str,
    /// Position in the primary key (1-based); 0 for none.
    pk: i64,
}

/// Copies the store in `data_dir` into the empty database `target`.
///
/// # Errors
/// See [`MigrateError`]; on any of them nothing is committed.
pub async fn to_postgres(
    data_dir: &Path,
    target: &tokio_postgres::Config,
) -> Result<Report, MigrateError> {
    let db = data_dir.join(store::DB_FILE);
    if !db.exists() {
        return Err(MigrateError::NoDatabase(db));
    }
    let sqlite = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    sqlite.busy_timeout(std::time::Duration::from_secs(10))?;
    // One snapshot for every table: a read transaction in WAL mode.
    sqlite.execute_batch("BEGIN")?;
    let (mut client, connection) = target.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the PostgreSQL connection ended");
        }
    });
    let result = copy_all(&sqlite, data_dir, &mut client).await;
    drop(client);
    let _ = driver.await;
    let _ = sqlite.execute_batch("COMMIT");
    result
}

async fn copy_all(
    sqlite: &Connection,
    data_dir: &Path,
    client: &mut tokio_postgres::Client,
) -> Result<Report, MigrateError> {
    let existing: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
        .await?
        .get(0);
    if existing > 0 {
        return Err(MigrateError::NotEmpty(existing));
    }
    let tx = client.transaction().await?;
    let mut report = Report::default();
    for table in tables(sqlite)? {
        let columns = columns(sqlite, &table)?;
        tx.batch_execute(&create_table(&table, &columns)).await?;
        let rows = copy_table(sqlite, &tx, &table, &columns).await?;
        let copied: i64 = tx
            .query_one(&format!("SELECT COUNT(*) FROM {}", ident(&table)), &[])
            .await?
            .get(0);
        if copied != rows {
            return Err(MigrateError::CountMismatch {
                table,
                source_rows: rows,
                copied,
            });
        }
        report.tables.push((table, rows));
    }
    copy_blobs(sqlite, data_dir, &tx, &mut report).await?;
    tx.commit().await?;
    Ok(report)
}

/// The tables to copy, in creation order: not SQLite's own, not full-text
/// indexes or their shadow tables.
fn tables(sqlite: &Connection) -> Result<Vec<String>, MigrateError> {
    let mut stmt = sqlite.prepare(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
    )?;
    let all: Vec<(String, String)> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })?
        .collect::<Result<_, _>>()?;
    let virtual_tables: Vec<&str> = all
        .iter()
        .filter(|(_, sql)| {
            sql.trim_start()
                .to_ascii_uppercase()
                .starts_with("CREATE VIRTUAL")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    Ok(all
        .iter()
        .filter(|(name, _)| {
            !virtual_tables
                .iter()
                .any(|v| name == v || name.starts_with(&format!("{v}_")))
        })
        .map(|(name, _)| name.clone())
        .collect())
}

fn columns(sqlite: &Connection, table: &str) -> Result<Vec<Column>, MigrateError> {
    let mut stmt = sqlite.prepare(&format!("PRAGMA table_info({})", ident(table)))?;
    let columns = stmt
        .query_map([], |r| {
            let declared: String = r.get(2)?;
            Ok(Column {
                name: r.get(1)?,
                pg_type: pg_type(&declared),
                pk: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(columns)
}

/// SQLite's type affinity (its rules, by the declared type's name) as a
/// PostgreSQL type.
fn pg_type(declared: &str) -> &'static str {
    let d = declared.to_ascii_uppercase();
    if d.contains("INT") {
        "BIGINT"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "TEXT"
    } else if d.contains("BLOB") {
        "BYTEA"
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        "DOUBLE PRECISION"
    } else {
        // NUMERIC affinity and untyped columns: natter's hold text.
        "TEXT"
    }
}

/// An identifier quoted for PostgreSQL (SQLite's names are natter's own,
/// but quoting keeps reserved words such as `at` safe).
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn create_table(table: &str, columns: &[Column]) -> String {
    let mut cols: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", ident(&c.name), c.pg_type))
        .collect();
    let mut pk: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    if !pk.is_empty() {
        let names: Vec<String> = pk.iter().map(|c| ident(&c.name)).collect();
        cols.push(format!("PRIMARY KEY ({})", names.join(", ")));
    }
    format!("CREATE TABLE {} ({})", ident(table), cols.join(", "))
}

/// Copies one table's rows; returns how many the source holds.
async fn copy_table(
    sqlite: &Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[Column],
) -> Result<i64, MigrateError> {
    let names: Vec<String> = columns.iter().map(|c| ident(&c.name)).collect();
    let sink = tx
        .copy_in::<_, Bytes>(&format!(
            "COPY {} ({}) FROM STDIN",
            ident(table),
            names.join(", ")
        ))
        .await?;
    futures_util::pin_mut!(sink);
    let mut stmt = sqlite.prepare(&format!(
        "SELECT {} FROM {}",
        names.join(", "),
        ident(table)
    ))?;
    let mut rows = stmt.query([])?;
    let mut buf = BytesMut::new();
    let mut count = 0i64;
    while let Some(row) = rows.next()? {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                buf.put_u8(b'\t');
            }
            copy_value(&mut buf, row.get_ref(i)?, column.pg_type);
        }
        buf.put_u8(b'\n');
        count += 1;
        if buf.len() >= COPY_CHUNK {
            sink.send(buf.split().freeze()).await?;
        }
    }
    if !buf.is_empty() {
        sink.send(buf.freeze()).await?;
    }
    sink.finish().await?;
    Ok(count)
}

/// One value in `COPY`'s text format.
fn copy_value(buf: &mut BytesMut, value: ValueRef<'_>, pg_type: &str) {
    match value {
        ValueRef::Null => buf.put_slice(b"\\N"),
        ValueRef::Integer(n) => buf.put_slice(n.to_string().as_bytes()),
        ValueRef::Real(f) => buf.put_slice(f.to_string().as_bytes()),
        ValueRef::Text(t) if pg_type == "BYTEA" => bytea(buf, t),
        ValueRef::Text(t) => text(buf, t),
        ValueRef::Blob(b) if pg_type == "BYTEA" => bytea(buf, b),
        // Bytes in a text column: kept as text, invalid UTF-8 replaced.
        ValueRef::Blob(b) => text(buf, String::from_utf8_lossy(b).as_bytes()),
    }
}

fn text(buf: &mut BytesMut, t: &[u8]) {
    for &b in t {
        match b {
            b'\\' => buf.put_slice(b"\\\\"),
            b'\t' => buf.put_slice(b"\\t"),
            b'\n' => buf.put_slice(b"\\n"),
            b'\r' => buf.put_slice(b"\\r"),
            // PostgreSQL text cannot hold NUL; natter never stores one.
            0 => {}
            _ => buf.put_u8(b),
        }
    }
}

fn bytea(buf: &mut BytesMut, b: &[u8]) {
    // `\x` hex, its backslash escaped for COPY's text format.
    buf.put_slice(b"\\\\x");
    buf.put_slice(hex::encode(b).as_bytes());
}

/// Copies every blob and thumbnail the `blobs` table names, checking each
/// one's size.
async fn copy_blobs(
    sqlite: &Connection,
    data_dir: &Path,
    tx: &tokio_postgres::Transaction<'_>,
    report: &mut Report,
) -> Result<(), MigrateError> {
    tx.batch_execute(
        "CREATE TABLE natter_blob_chunks (hash TEXT NOT NULL, thumb BOOLEAN NOT NULL, \
         seq INTEGER NOT NULL, data BYTEA NOT NULL, PRIMARY KEY (hash, thumb, seq))",
    )
    .await?;
    let blobs = FsBlobs::open(data_dir)?;
    let mut stmt = sqlite.prepare("SELECT hash, size, thumb FROM blobs ORDER BY hash")?;
    let rows: Vec<(String, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let insert = tx
        .prepare("INSERT INTO natter_blob_chunks (hash, thumb, seq, data) VALUES ($1, $2, $3, $4)")
        .await?;
    for (hash, size, thumb_size) in rows {
        for (thumb, want) in [(false, size), (true, thumb_size)] {
            if thumb && want == 0 {
                continue;
            }
            let want = u64::try_from(want).unwrap_or(0);
            let mut offset = 0u64;
            let mut seq = 0i32;
            let mut chunk = vec![0u8; BLOB_CHUNK];
            loop {
                let n = read_full(&blobs, &hash, thumb, offset, &mut chunk)?;
                if n == 0 {
                    break;
                }
                tx.execute(&insert, &[&hash, &thumb, &seq, &&chunk[..n]])
                    .await?;
                offset += n as u64;
                seq += 1;
            }
            if offset != want {
                return Err(MigrateError::BlobMismatch(hash));
            }
            report.blobs += 1;
            report.blob_bytes += offset;
        }
    }
    Ok(())
}

/// Fills `buf` from the blob at `offset` as far as it goes.
fn read_full(
    blobs: &FsBlobs,
    hash: &str,
    thumb: bool,
    offset: u64,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let n = blobs.read_at(hash, thumb, offset + got as u64, &mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_in_copy_text_format() {
        let mut buf = BytesMut::new();
        copy_value(&mut buf, ValueRef::Text(b"a\tb\\c\nd"), "TEXT");
        assert_eq!(&buf[..], b"a\\tb\\\\c\\nd");
        let mut buf = BytesMut::new();
        copy_value(&mut buf, ValueRef::Blob(&[0, 255]), "BYTEA");
        assert_eq!(&buf[..], b"\\\\x00ff");
        let mut buf = BytesMut::new();
        copy_value(&mut buf, ValueRef::Null, "BIGINT");
        assert_eq!(&buf[..], b"\\N");
        assert_eq!(pg_type("INTEGER"), "BIGINT");
        assert_eq!(pg_type("TEXT"), "TEXT");
        assert_eq!(pg_type(""), "TEXT");
        assert_eq!(ident("at"), "\"at\"");
    }

    #[test]
    fn a_password_in_the_url_is_refused() {
        assert!(matches!(
            target("postgres://u:secret@127.0.0.1/db", None),
            Err(MigrateError::PasswordInUrl)
        ));
        let c = target("postgres://u@127.0.0.1/db", Some("from-file\n".into())).unwrap();
        assert_eq!(c.get_password(), Some(&b"from-file"[..]));
        assert!(matches!(
            target("not a url at all ::", None),
            Err(MigrateError::BadUrl(_))
        ));
    }
}
