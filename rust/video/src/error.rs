//! Typed errors. Every error names the file it is about and says what is wrong.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("cannot open '{path}': {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("'{path}' has no video stream")]
    NoVideoStream { path: PathBuf },
    #[error("cannot decode '{path}': {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("'{path}' has {frame_count} frames; frame index {index} is out of range")]
    IndexOutOfRange {
        path: PathBuf,
        index: i64,
        frame_count: usize,
    },
    /// Decoding does not give the frames the index promised: a frame is
    /// missing where the index puts it, or frames came out with timestamps
    /// that do not increase (the container's timestamps disagree with the
    /// decode order). Callers with an index cache rebuild an index that came
    /// from packets from a full decode, which is exact, and read again.
    #[error("cannot decode '{path}': {reason}; the index does not match the file")]
    IndexMismatch { path: PathBuf, reason: String },
    #[error("cannot write '{path}': {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("no usable video: {0}")]
    NoUsableVideo(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Not the input's fault: a worker panicked (a bug), or the loader was
    /// stopped while the batch was being built.
    #[error("internal error: {0}")]
    Internal(String),
}

impl VideoError {
    pub(crate) fn open(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        VideoError::Open {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn decode(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        VideoError::Decode {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, VideoError>;
