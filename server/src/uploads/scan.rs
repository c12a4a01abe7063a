//! The optional scan of each completed upload (`files.scan_command`), run
//! before the file becomes visible to anyone.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// Why a scan refused a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The scanner said no (a non-zero exit); its first line of output.
    #[error("the scan refused the file{}", .0.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
    Refused(Option<String>),
    #[error("the scan took longer than {0} s")]
    Timeout(u64),
    #[error("the scan could not run: {0}")]
    Failed(String),
}

/// Runs `command` (with `sh -c`) with the file at `path` on its stdin.
///
/// # Errors
/// A non-zero exit, a timeout (the scanner is killed), or a scanner that
/// cannot start: a file nobody could check is not let through.
pub async fn scan(command: &str, path: &Path, timeout: Duration) -> Result<(), ScanError> {
    let input = std::fs::File::open(path).map_err(|e| ScanError::Failed(e.to_string()))?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::from(input))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ScanError::Failed(e.to_string()))?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let run = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut out).await;
        }
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut err).await;
        }
        let status = child.wait().await;
        (status, out, err)
    };
    let Ok((status, out, err)) = tokio::time::timeout(timeout, run).await else {
        return Err(ScanError::Timeout(timeout.as_secs()));
    };
    let status = status.map_err(|e| ScanError::Failed(e.to_string()))?;
    if status.success() {
        return Ok(());
    }
    let said = [out, err]
        .iter()
        .flat_map(|b| {
            String::from_utf8_lossy(b)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|l| {
            l.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .find(|l| !l.is_empty());
    Err(ScanError::Refused(said))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_exit_status_decides() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "EICAR-ish payload\n").unwrap();
        let t = Duration::from_secs(10);
        scan("cat >/dev/null", &f, t).await.unwrap();
        let e = scan(
            "grep -q EICAR && { echo 'stdin: Eicar FOUND'; exit 1; }; exit 0",
            &f,
            t,
        )
        .await
        .unwrap_err();
        assert_eq!(e, ScanError::Refused(Some("stdin: Eicar FOUND".into())));
        let e = scan("sleep 5", &f, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(e, ScanError::Timeout(_)), "{e:?}");
    }
}
