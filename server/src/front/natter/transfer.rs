//! A transfer connection's requests: uploads and downloads, mapped to
//! [`crate::ops::files`]. Nothing else is served here, and no events are
//! sent: chat stays on the chat connection, whose frames a large file
//! never delays.

use std::sync::Arc;

use natter_shared::{ErrorCode, ErrorReply, Request, Response};

use super::connection::{Conn, State};

impl Conn {
    /// Handles one request of a transfer connection; false ends it.
    pub(super) async fn transfer(&mut self, id: u64, req: Request) -> bool {
        let shared = Arc::clone(&self.shared);
        let State::Transfer(t) = &mut self.state else {
            return false;
        };
        if !matches!(req, Request::Ping)
            && let Err(e) = t.check_session(&shared)
        {
            t.release_all(&shared);
            self.reply_err(id, e.clone());
            self.outbox.close(e.code, &e.message, None);
            return false;
        }
        let result = match req {
            Request::Ping => Ok(Response::Pong),
            Request::UploadStart { name, size, sha256 } => {
                t.upload_start(&shared, &name, size, sha256).await
            }
            Request::UploadChunk {
                upload,
                offset,
                data,
            } => t.upload_chunk(&shared, upload, offset, data).await,
            Request::CancelUpload { upload } => t.cancel(&shared, upload).await,
            Request::FileInfo { file } => t.file(&shared, file).await.map(Response::File),
            Request::Download {
                file,
                offset,
                len,
                thumb,
            } => t.download(&shared, file, offset, len, thumb).await,
            Request::Unknown(name) => {
                self.unsupported(id, &name);
                return true;
            }
            other => Err(ErrorReply::new(
                ErrorCode::Invalid,
                format!(
                    "a transfer connection carries uploads and downloads only, not {}",
                    other.kind()
                ),
            )),
        };
        self.answer(id, result);
        true
    }
}
