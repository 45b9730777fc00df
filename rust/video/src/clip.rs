//! One training sample: V augmented views of one video, decoded together so
//! that frames shared by views, or near each other, are decoded once.

use std::path::Path;

use rand::Rng;

use crate::augment::{AugmentConfig, ViewParams};
use crate::convert::RgbConverter;
use crate::decode::FrameReader;
use crate::error::{Result, VideoError};
use crate::orient::Orientation;
use crate::sampling::ClipSpec;

/// What to do with the decoded frames of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Crop, scale, convert and augment: the training path.
    Full,
    /// Decode the needed frames only: the decode limit the pipeline is measured against.
    DecodeOnly,
}

/// The views drawn for one sample: start frames and augmentation parameters.
#[derive(Clone, Debug)]
pub struct SamplePlan {
    pub starts: Vec<usize>,
    pub params: Vec<ViewParams>,
}

pub fn plan_sample<R: Rng>(
    spec: &ClipSpec,
    augment: &AugmentConfig,
    frame_count: usize,
    width: u32,
    height: u32,
    rng: &mut R,
) -> SamplePlan {
    let starts = spec.sample_starts(frame_count, rng);
    let params = (0..spec.views)
        .map(|_| augment.sample(width, height, rng))
        .collect();
    SamplePlan { starts, params }
}

/// Buffers a worker keeps from sample to sample: one swscale context per
/// view, the views' frames as YUV 4:4:4 before augmentation, and a frame.
#[derive(Default)]
pub struct SampleScratch {
    pub converters: Vec<RgbConverter>,
    pub yuv: Vec<u8>,
    /// A frame being turned upright.
    pub turned: Vec<u8>,
}

/// Decode and augment the views of `plan` into `out`, laid out (V, T, S, S, 3).
/// The plan's crop boxes are boxes of the frame as `orientation` shows it
/// (drawn from the displayed size): each frame is cropped to the source box
/// that holds them, scaled, then turned upright, before the view's flip and
/// colour work, so a view is what augmenting the upright video would give.
#[allow(clippy::too_many_arguments)]
pub fn fill_sample(
    reader: &mut FrameReader,
    spec: &ClipSpec,
    size: u32,
    plan: &SamplePlan,
    orientation: Orientation,
    work: Work,
    scratch: &mut SampleScratch,
    out: &mut [u8],
) -> Result<()> {
    let SampleScratch {
        converters,
        yuv,
        turned,
    } = scratch;
    let s = size as usize;
    let frame_len = s * s * 3;
    let view_len = spec.frames * frame_len;
    if out.len() != spec.views * view_len {
        return Err(VideoError::InvalidArgument(
            "sample buffer has the wrong size".into(),
        ));
    }
    while converters.len() < spec.views {
        converters.push(RgbConverter::new());
    }
    let frame_count = reader.index.frame_count;
    // (frame, view, t) for every frame slot, sorted by frame.
    let mut slots: Vec<(usize, usize, usize)> = Vec::with_capacity(spec.views * spec.frames);
    for (v, &start) in plan.starts.iter().enumerate() {
        for (t, j) in spec
            .view_indices(start, frame_count)
            .into_iter()
            .enumerate()
        {
            slots.push((j, v, t));
        }
    }
    slots.sort_unstable();
    let wanted: Vec<usize> = slots.iter().map(|s| s.0).collect();
    let (vw, vh) = (reader.index.width, reader.index.height);
    let path = reader.path().to_path_buf();
    // 8-bit planar YUV is scaled to YUV 4:4:4 and converted to RGB in the
    // augmentation's float stage; other formats go to RGB24 in swscale.
    // Per view: None until its first frame, then Some(Some(full_range)) for
    // YUV or Some(None) for RGB.
    yuv.resize(out.len(), 0);
    let mut view_mode: Vec<Option<Option<bool>>> = vec![None; spec.views];
    // The scaler mirrors as it copies only where nothing turns the frame after it.
    let upright = orientation.is_identity();
    let mut cursor = 0;
    reader.read(&wanted, |j, frame| {
        if work == Work::DecodeOnly {
            return Ok(());
        }
        if frame.width() != vw || frame.height() != vh {
            return Err(size_changed(
                &path,
                j,
                frame.width(),
                frame.height(),
                vw,
                vh,
            ));
        }
        while cursor < slots.len() && slots[cursor].0 < j {
            cursor += 1;
        }
        while cursor < slots.len() && slots[cursor].0 == j {
            let (_, v, t) = slots[cursor];
            let off = v * view_len + t * frame_len;
            let crop = orientation.source_box(plan.params[v].crop, vw, vh);
            let mode = if view_mode[v] == Some(None) {
                None
            } else {
                converters[v].crop_scale_yuv444(
                    frame,
                    crop,
                    size,
                    size,
                    &mut yuv[off..off + frame_len],
                    plan.params[v].flip && upright,
                )?
            };
            match mode {
                Some(_) => {
                    for plane in yuv[off..off + frame_len].chunks_exact_mut(s * s) {
                        orientation.apply_in_place(plane, s, s, 1, turned);
                    }
                }
                None => {
                    let rgb = &mut out[off..off + frame_len];
                    converters[v].crop_scale(frame, crop, size, size, rgb, s * 3)?;
                    orientation.apply_in_place(rgb, s, s, 3, turned);
                }
            }
            if view_mode[v].is_some_and(|m| m != mode) {
                return Err(VideoError::decode(
                    &path,
                    format!("frame {j} changes pixel format mid-stream"),
                ));
            }
            view_mode[v] = Some(mode);
            cursor += 1;
        }
        Ok(())
    })?;
    if work == Work::Full {
        for (v, (view, yuv_view)) in out
            .chunks_exact_mut(view_len)
            .zip(yuv.chunks_exact_mut(view_len))
            .enumerate()
        {
            match view_mode[v].flatten() {
                Some(full_range) => {
                    plan.params[v].apply_yuv(yuv_view, upright, full_range, view, s)
                }
                None => plan.params[v].apply(view, s),
            }
        }
    }
    Ok(())
}

fn size_changed(path: &Path, j: usize, w: u32, h: u32, vw: u32, vh: u32) -> VideoError {
    VideoError::decode(
        path,
        format!("frame {j} is {w}x{h}, the video is {vw}x{vh} (size changes mid-stream are not supported)"),
    )
}
