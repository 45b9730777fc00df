//! stdann-video: frame-exact video clip decoding over the system FFmpeg.
//!
//! - [`index`]: which frames a video has and where decoding can start;
//! - [`decode`]: random access by frame index;
//! - [`convert`] and [`resample`]: crop, scale and RGB conversion;
//! - [`orient`]: the display matrix's quarter turns and mirrors;
//! - [`sampling`] and [`augment`]: clips and their temporally consistent augmentation;
//! - [`loader`]: the prefetching batch engine used for training;
//! - [`encode`]: writing the training format (H.264 with frequent keyframes);
//! - [`prepare`]: transcoding a dataset into that format.

pub mod augment;
pub mod clip;
pub mod convert;
pub mod decode;
pub mod encode;
pub mod error;
pub mod index;
pub mod loader;
pub mod media;
pub mod orient;
pub mod prepare;
pub mod resample;
pub mod sampling;

pub use decode::FrameReader;
pub use error::{Result, VideoError};
pub use index::{IndexCache, IndexMode, VideoIndex};

use std::path::Path;

/// Decode the frames `indices` (any order, repeats allowed) of `path` as RGB24,
/// returned as one (N, H, W, 3) buffer in the order asked, with W and H.
/// With `autorotate` frames are turned upright as the video's display matrix
/// asks (W and H are then the displayed size).
///
/// The index comes from the default cache; a file whose timestamps turn out
/// to disagree with its decode order is indexed again from a full decode.
pub fn decode_frames(
    path: &Path,
    indices: &[i64],
    autorotate: bool,
) -> Result<(Vec<u8>, u32, u32)> {
    let cache = IndexCache::new(index::default_cache_dir());
    let (frames, _) = index::with_index(&cache, path, None, |index| {
        decode_frames_with_index(path, index, indices, autorotate)
    })?;
    Ok(frames)
}

/// [`decode_frames`] with a given index (no cache, no second try).
pub fn decode_frames_with_index(
    path: &Path,
    index: impl Into<std::sync::Arc<VideoIndex>>,
    indices: &[i64],
    autorotate: bool,
) -> Result<(Vec<u8>, u32, u32)> {
    let index: std::sync::Arc<VideoIndex> = index.into();
    let n = index.frame_count;
    let mut wanted = Vec::with_capacity(indices.len());
    for &i in indices {
        if i < 0 || i as usize >= n {
            return Err(VideoError::IndexOutOfRange {
                path: path.to_path_buf(),
                index: i,
                frame_count: n,
            });
        }
        wanted.push(i as usize);
    }
    let (w, h) = (index.width, index.height);
    let orientation = if autorotate {
        index.orientation
    } else {
        orient::Orientation::IDENTITY
    };
    let frame_bytes = w as usize * h as usize * 3;
    let mut out = vec![0u8; frame_bytes * indices.len()];
    let mut order: Vec<usize> = (0..wanted.len()).collect();
    order.sort_by_key(|&k| wanted[k]);
    let sorted: Vec<usize> = order.iter().map(|&k| wanted[k]).collect();
    let mut reader = FrameReader::open(path, index)?;
    let mut converter = convert::RgbConverter::new();
    let mut turned = Vec::new();
    let mut cursor = 0;
    reader.read(&sorted, |j, frame| {
        if frame.width() != w || frame.height() != h {
            return Err(VideoError::decode(
                path,
                format!(
                    "frame {j} is {}x{}, the video is {w}x{h} (size changes mid-stream are not supported)",
                    frame.width(),
                    frame.height()
                ),
            ));
        }
        // The first copy converts; repeats of the same index copy it.
        let first = order[cursor];
        let dst = &mut out[first * frame_bytes..(first + 1) * frame_bytes];
        converter.frame_to_rgb(frame, dst)?;
        orientation.apply_in_place(dst, w as usize, h as usize, 3, &mut turned);
        let mut k = cursor + 1;
        while k < order.len() && wanted[order[k]] == j {
            let (a, b) = (first * frame_bytes, order[k] * frame_bytes);
            out.copy_within(a..a + frame_bytes, b);
            k += 1;
        }
        cursor = k;
        Ok(())
    })?;
    let (w, h) = orientation.display_size(w, h);
    Ok((out, w, h))
}
