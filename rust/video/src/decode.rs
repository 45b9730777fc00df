//! Frame-exact random access: deliver the frames asked for, by index, by
//! seeking to the keyframe before them and decoding forward.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use crate::error::{Result, VideoError};
use crate::index::{frame_pts, IndexMode, VideoIndex};
use crate::media::Media;

/// A video opened for random access by frame index.
pub struct FrameReader {
    pub index: std::sync::Arc<VideoIndex>,
    media: Media,
    frame: ffmpeg::frame::Video,
    /// Presentation index of the last frame the decoder output, if decoding is under way.
    position: Option<usize>,
    /// Timestamp of the last frame the decoder output since the last seek or
    /// restart: the next one must be larger.
    last_pts: Option<i64>,
}

impl FrameReader {
    pub fn open(path: &Path, index: impl Into<std::sync::Arc<VideoIndex>>) -> Result<FrameReader> {
        let index = index.into();
        let media = Media::open(path, 1)?;
        Ok(FrameReader {
            index,
            media,
            frame: ffmpeg::frame::Video::empty(),
            position: None,
            last_pts: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.media.path
    }

    fn check_range(&self, wanted: &[usize]) -> Result<()> {
        if let Some(&bad) = wanted.iter().find(|&&i| i >= self.index.frame_count) {
            return Err(VideoError::IndexOutOfRange {
                path: self.media.path.clone(),
                index: bad as i64,
                frame_count: self.index.frame_count,
            });
        }
        Ok(())
    }

    /// Decode the frames in `wanted` (sorted ascending, duplicates allowed) and
    /// call `deliver(frame_index, frame)` once per distinct index, in order.
    pub fn read<F>(&mut self, wanted: &[usize], mut deliver: F) -> Result<()>
    where
        F: FnMut(usize, &ffmpeg::frame::Video) -> Result<()>,
    {
        debug_assert!(wanted.windows(2).all(|w| w[0] <= w[1]));
        self.check_range(wanted)?;
        let mut targets: Vec<usize> = wanted.to_vec();
        targets.dedup();
        if targets.is_empty() {
            return Ok(());
        }
        // A pixel format the bindings do not declare is refused here, where
        // the file is known, before any conversion sees the frame.
        let path = self.media.path.clone();
        let mut checked = |j: usize, frame: &ffmpeg::frame::Video| {
            // SAFETY: `frame` wraps a valid AVFrame; only its format is read.
            let raw = unsafe { (*frame.as_ptr()).format };
            if crate::convert::pixel_format(raw).is_none() {
                return Err(VideoError::decode(
                    &path,
                    crate::convert::unknown_pixel_format(raw),
                ));
            }
            deliver(j, frame)
        };
        match self.index.mode {
            IndexMode::Timestamps => self.read_by_timestamps(&targets, &mut checked),
            IndexMode::Sequential => self.read_sequentially(&targets, &mut checked),
        }
    }

    fn read_by_timestamps<F>(&mut self, targets: &[usize], deliver: &mut F) -> Result<()>
    where
        F: FnMut(usize, &ffmpeg::frame::Video) -> Result<()>,
    {
        let mut next = 0; // position in targets
        let mut retried_from_start = false;
        self.start_for(targets[next])?;
        loop {
            // Feed the decoder until it outputs a frame or the data ends.
            let got = self.decode_next()?;
            if !got {
                let missing = targets[next];
                return Err(VideoError::IndexMismatch {
                    path: self.media.path.clone(),
                    reason: format!(
                        "frame {missing} was not produced by the decoder (the file ended after frame {:?})",
                        self.position
                    ),
                });
            }
            let pts = frame_pts(&self.frame);
            if let Some(pts) = pts {
                if let Some(last) = self.last_pts.filter(|&last| pts <= last) {
                    return Err(VideoError::IndexMismatch {
                        path: self.media.path.clone(),
                        reason: format!(
                            "the decoder output a frame with timestamp {pts} after one with {last} \
                             (the container's timestamps disagree with the decode order)"
                        ),
                    });
                }
                self.last_pts = Some(pts);
            }
            let Some(j) = pts
                .and_then(|pts| self.index.frame_of_pts(pts))
                .or_else(|| self.position.map(|p| p + 1))
            else {
                continue;
            };
            self.position = Some(j);
            if j < targets[next] {
                continue;
            }
            if j > targets[next] {
                // The seek landed after the wanted frame, or the decoder dropped
                // it: decode from the very start once before giving up.
                if retried_from_start {
                    return Err(VideoError::IndexMismatch {
                        path: self.media.path.clone(),
                        reason: format!(
                            "frame {} was not produced by the decoder (next frame was {j})",
                            targets[next]
                        ),
                    });
                }
                retried_from_start = true;
                self.media.restart()?;
                self.position = None;
                self.last_pts = None;
                continue;
            }
            deliver(j, &self.frame)?;
            next += 1;
            if next == targets.len() {
                return Ok(());
            }
            // Seek ahead when a keyframe lies between here and the next target.
            let seek = self.index.seek_point_for(targets[next]);
            if let Some(sp) = seek {
                if sp.frame > j + 1 {
                    self.seek_to(sp.seek_ts)?;
                }
            }
        }
    }

    /// Streams without timestamps: frames are counted, in decoder output
    /// order, from a verified seek point or from the start of the file.
    /// `position` None means the file is at its start with nothing decoded.
    fn read_sequentially<F>(&mut self, targets: &[usize], deliver: &mut F) -> Result<()>
    where
        F: FnMut(usize, &ffmpeg::frame::Video) -> Result<()>,
    {
        let mut next = 0;
        while next < targets.len() {
            let target = targets[next];
            let need_back = self.position.is_some_and(|p| p >= target);
            // Whether self.frame already holds frame `position`, not yet looked at.
            let mut in_hand = false;
            match self
                .index
                .seek_point_for(target)
                .filter(|s| s.hash.is_some())
            {
                Some(sp) if need_back || self.position.is_none_or(|p| sp.frame > p + 1) => {
                    in_hand = self.seek_verified(sp)?;
                }
                _ if need_back => {
                    self.media.restart()?;
                    self.position = None;
                }
                _ => {}
            }
            loop {
                if !in_hand {
                    if !self.decode_next()? {
                        return Err(VideoError::decode(
                            &self.media.path,
                            format!("frame {target} was not produced by the decoder"),
                        ));
                    }
                    self.position = Some(self.position.map_or(0, |p| p + 1));
                }
                in_hand = false;
                let j = self.position.expect("set above");
                if j == target {
                    deliver(j, &self.frame)?;
                    while next < targets.len() && targets[next] == j {
                        next += 1;
                    }
                    break;
                }
            }
        }
        Ok(())
    }

    /// Seek to a keyframe of a stream without timestamps and check, by content
    /// hash, that the first frame out is the one the index proved it to be.
    /// On success self.frame holds that frame; otherwise decoding restarts
    /// from the beginning of the file.
    fn seek_verified(&mut self, sp: crate::index::SeekPoint) -> Result<bool> {
        self.seek_to(sp.seek_ts)?;
        if self.decode_next()? && Some(crate::index::frame_hash(&self.frame)) == sp.hash {
            self.position = Some(sp.frame);
            return Ok(true);
        }
        self.media.restart()?;
        self.position = None;
        Ok(false)
    }

    /// Position the demuxer so that decoding reaches `target` soonest.
    fn start_for(&mut self, target: usize) -> Result<()> {
        if let Some(p) = self.position {
            let seek = self.index.seek_point_for(target);
            // Keep decoding forward when no keyframe lies between here and the target.
            if p < target && seek.is_none_or(|sp| sp.frame <= p + 1) {
                return Ok(());
            }
        }
        match self.index.seek_point_for(target) {
            Some(sp) if sp.frame > 0 => self.seek_to(sp.seek_ts),
            _ => {
                self.media.restart()?;
                self.position = None;
                self.last_pts = None;
                Ok(())
            }
        }
    }

    fn seek_to(&mut self, ts: i64) -> Result<()> {
        self.media.seek(ts)?;
        self.position = None;
        self.last_pts = None;
        Ok(())
    }

    /// Decode until one frame is available in `self.frame`; false at the end of the stream.
    fn decode_next(&mut self) -> Result<bool> {
        Ok(self.media.next_frame(&mut self.frame))
    }
}
