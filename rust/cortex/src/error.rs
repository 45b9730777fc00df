//! Typed errors of the map analyses.

/// Why a map could not be analysed. Messages say what to change.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum CortexError {
    /// The arguments do not describe a usable map (shape, period).
    #[error("invalid map: {0}")]
    InvalidMap(String),
    /// Every pixel is NaN or infinite, or no 2 x 2 plaquette is complete.
    #[error("nothing to analyse: {0}")]
    NothingToAnalyse(String),
    /// The power spectrum has no peak to read a column spacing from
    /// (a constant or empty map).
    #[error("no column spacing: {0}")]
    NoSpectralPeak(String),
}

pub type Result<T> = std::result::Result<T, CortexError>;
