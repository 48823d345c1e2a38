//! Candle files a user uploads to backtest: `PUT` and `DELETE
//! /api/v1/backtests/uploads/{name}`.
//!
//! An upload is parsed whole before it is kept, so a file that is not a candle file is refused
//! with its line and never listed. It is written to a temporary file beside its place (readable
//! by the server's user only), synced, then renamed over any file of the same name: a reader
//! sees the old file or the new one, never half of one. Each user's files live in a directory
//! of their own under `[api] uploads_dir` (the data directory's `uploads/` by default), at most
//! [`MAX_UPLOADS_PER_USER`] of them, each at most [`MAX_UPLOAD_BYTES`].

use std::io::Write;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};

use super::{Backtests, CandleFileBody, FileSource, candle_files, plain_csv_name};
use crate::ApiState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::json::Json;
use store::UserId;

/// The largest upload: 64 MiB, about a million candles.
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// The most files one user keeps uploaded.
const MAX_UPLOADS_PER_USER: usize = 8;

/// The uploads directory, or a 404 saying that this server takes none.
pub(super) fn directory(backtests: &Backtests) -> Result<PathBuf, ApiError> {
    backtests.uploads_dir.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this server keeps no uploaded candle files",
        )
    })
}

/// `user`'s own directory under the uploads directory `root`.
pub(super) fn user_dir(root: &Path, user: UserId) -> PathBuf {
    root.join(format!("user-{}", user.0))
}

/// The upload's name from the path, checked like a file name of the backtest directory.
fn upload_name(path: Result<UrlPath<String>, PathRejection>) -> Result<String, ApiError> {
    let UrlPath(name) =
        path.map_err(|_| ApiError::invalid_value("name", "must be a file name ending in .csv"))?;
    if plain_csv_name(&name) {
        Ok(name)
    } else {
        Err(ApiError::invalid_value(
            "name",
            "must be a plain file name ending in .csv, without / or \\, not starting with a dot, at most 255 bytes",
        ))
    }
}

/// `PUT /api/v1/backtests/uploads/{name}`: a candle CSV kept for the caller's backtests.
#[utoipa::path(
    put,
    path = "/api/v1/backtests/uploads/{name}",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "The file's name: a plain name ending in `.csv`", pattern = r"^[A-Za-z0-9_][A-Za-z0-9_. -]{0,250}\.csv$")),
    request_body(content = String, content_type = "text/csv", description = "The candle file, in the format `spotbot backtest --data` reads, at most 64 MiB"),
    responses(
        (status = 201, description = "Kept (replacing a file of the same name)", body = CandleFileBody),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`csrf`: the cookie came without the session's CSRF token", body = ErrorBody),
        (status = 404, description = "`not_found`: this server keeps no uploaded files", body = ErrorBody),
        (status = 409, description = "`conflict`: the caller already keeps the most files one user may; delete one first", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: the file is over 64 MiB", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the body is not `text/csv`", body = ErrorBody),
        (status = 422, description = "`invalid_value` naming `name` or `file`: a bad name, or a body that is not a candle file (with its line)", body = ErrorBody),
    ),
)]
pub(crate) async fn upload(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<UrlPath<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<CandleFileBody>), ApiError> {
    let name = upload_name(path)?;
    let root = directory(&state.backtests)?;
    require_csv(&headers)?;
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            "payload_too_large",
            format!("a candle file uploaded here is at most {MAX_UPLOAD_BYTES} bytes"),
        )
    })?;
    let dir = user_dir(&root, caller.user.id);
    let kept = tokio::task::spawn_blocking(move || keep(&dir, &name, &body))
        .await
        .map_err(ApiError::internal)??;
    Ok((StatusCode::CREATED, Json(kept)))
}

/// A 415 unless the body says it is CSV.
fn require_csv(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("text/csv") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "upload a candle file as Content-Type: text/csv",
        ))
    }
}

/// Checks `bytes` as a candle file named `name`, then keeps it in `dir`.
fn keep(dir: &Path, name: &str, bytes: &[u8]) -> Result<CandleFileBody, ApiError> {
    let candles = candle_file::parse_candles(bytes, Path::new(name))
        .map_err(|error| ApiError::invalid_value("file", error.to_string()))?;
    if candles.is_empty() {
        return Err(ApiError::invalid_value(
            "file",
            format!("{name} holds no candle"),
        ));
    }
    let kept = candle_files(dir, FileSource::Upload).map_err(ApiError::internal)?;
    if kept.len() >= MAX_UPLOADS_PER_USER && !kept.iter().any(|file| file.name == name) {
        return Err(ApiError::conflict(
            "name",
            format!(
                "you keep {} uploaded files, the most one user may: delete one before uploading another",
                kept.len()
            ),
        ));
    }
    write_atomically(dir, name, bytes).map_err(ApiError::internal)?;
    Ok(CandleFileBody {
        name: name.to_owned(),
        source: FileSource::Upload,
        bytes: bytes.len() as u64,
    })
}

/// Writes `bytes` to `dir/name` through a synced temporary file renamed into place; the
/// directory is created readable by the server's user only.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    create_private_dir(dir)?;
    // tempfile creates the file 0600.
    let mut file = tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(dir.join(name)).map_err(|error| error.error)?;
    Ok(())
}

/// Creates `dir` (and its parents) with mode 0700 where the platform has modes.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// `DELETE /api/v1/backtests/uploads/{name}`: one of the caller's uploads removed.
#[utoipa::path(
    delete,
    path = "/api/v1/backtests/uploads/{name}",
    tag = "backtests",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "The file's name, as the files list gives it", pattern = r"^[A-Za-z0-9_][A-Za-z0-9_. -]{0,250}\.csv$")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "`unauthorized`: no token, or one unknown, expired or revoked", body = ErrorBody),
        (status = 403, description = "`csrf`: the cookie came without the session's CSRF token", body = ErrorBody),
        (status = 404, description = "`not_found`: the caller has no upload of that name", body = ErrorBody),
        (status = 422, description = "`invalid_value` naming `name`: not a plain `.csv` file name", body = ErrorBody),
    ),
)]
pub(crate) async fn delete_upload(
    State(state): State<ApiState>,
    caller: AuthUser,
    path: Result<UrlPath<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let name = upload_name(path)?;
    let file = user_dir(&directory(&state.backtests)?, caller.user.id).join(&name);
    match tokio::fs::remove_file(&file).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("you have no uploaded file named {name:?}"),
        )),
        Err(error) => Err(ApiError::internal(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_is_checked_whole_kept_private_and_counted() {
        let root = tempfile::tempdir().unwrap();
        let dir = user_dir(root.path(), UserId(3));
        let good =
            b"open_time_ms,open,high,low,close,volume\n0,1,2,0.5,1.5,10\n60000,1.5,2,1,1.8,4\n";
        let kept = keep(&dir, "mine.csv", good).unwrap();
        assert_eq!(kept.bytes, good.len() as u64);
        assert_eq!(std::fs::read(dir.join("mine.csv")).unwrap(), good);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("mine.csv")), 0o600);
        }
        let bad = keep(
            &dir,
            "bad.csv",
            b"open_time_ms,open,high,low,close,volume\n0,1,x,1,1,1\n",
        )
        .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("file"));
        assert!(bad.message.contains("bad.csv:2"), "{}", bad.message);
        assert!(!dir.join("bad.csv").exists(), "a refused file is not kept");
        let empty = keep(&dir, "empty.csv", b"").unwrap_err();
        assert!(empty.message.contains("no candle"), "{}", empty.message);
        for index in 1..MAX_UPLOADS_PER_USER {
            keep(&dir, &format!("f{index}.csv"), good).unwrap();
        }
        let full = keep(&dir, "one-more.csv", good).unwrap_err();
        assert_eq!(full.status, StatusCode::CONFLICT, "{}", full.message);
        keep(&dir, "mine.csv", good).expect("a file replaced does not count twice");
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|entry| {
                entry
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(leftovers, 0, "no temporary file is left behind");
    }
}
