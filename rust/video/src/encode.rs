//! Writing the training format: H.264 (libx264, yuv420p) in MP4 with no
//! B-frames, a keyframe at least every `keyframe_interval` frames and x264's
//! fastdecode tuning, so that random clip access decodes few frames. Frames
//! are numbered from zero in the order written, at a constant frame rate:
//! frame i of the file is the i-th frame given.
//!
//! Files are written to a temporary file beside the destination and renamed
//! over it once complete, so a failed or killed write never leaves a
//! half-written destination.
//!
//! [`H264Writer`] is shared by [`crate::prepare`] (transcoding) and
//! [`write_video`] (raw RGB frames).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ffmpeg_next as ffmpeg;

use crate::error::{Result, VideoError};
use crate::media::{describe, init_ffmpeg};

/// Largest numerator and denominator of a frame rate as a fraction.
const MAX_RATE_TERM: i32 = 120_000;

/// Encoder settings of the training format.
#[derive(Clone, Debug)]
pub struct EncodeOptions {
    /// Most frames from one keyframe to the next.
    pub keyframe_interval: u32,
    /// x264 constant rate factor, 0 (lossless) to 51 (lower is better quality).
    pub crf: u32,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            keyframe_interval: 32,
            crf: 20,
        }
    }
}

impl EncodeOptions {
    pub fn validate(&self) -> Result<()> {
        if self.keyframe_interval == 0 || self.crf > 51 {
            return Err(VideoError::InvalidArgument(format!(
                "keyframe_interval must be positive and crf in 0..=51, got {} and {}",
                self.keyframe_interval, self.crf
            )));
        }
        Ok(())
    }
}

/// How the stream describes its colours to decoders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColourTags {
    /// Nothing written: the samples are the source's, in whatever matrix it used.
    Untagged,
    /// BT.601 matrix, limited range: what swscale makes of RGB by default.
    Bt601Limited,
}

/// `fps` as a fraction with terms up to 120000, or None if it is not a
/// positive finite number that such a fraction holds to within 0.1%.
pub fn frame_rate(fps: f64) -> Option<ffmpeg::Rational> {
    if !(fps.is_finite() && fps > 0.0) {
        return None;
    }
    // SAFETY: av_d2q is a pure function of two plain values; it reads and
    // writes no memory of ours.
    let r = unsafe { ffmpeg::ffi::av_d2q(fps, MAX_RATE_TERM) };
    // av_d2q can exceed the bound for tiny values (1e-7 gives 1/10000000).
    let terms = (1..=MAX_RATE_TERM).contains(&r.num) && (1..=MAX_RATE_TERM).contains(&r.den);
    let close = (r.num as f64 / r.den as f64 - fps).abs() <= 1e-3 * fps;
    (terms && close).then(|| ffmpeg::Rational::new(r.num, r.den))
}

pub(crate) fn write_error(path: &Path, reason: impl std::fmt::Display) -> VideoError {
    VideoError::Write {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A temporary path beside `dst`, unique within this process and across processes.
fn temporary_path(dst: &Path) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = dst
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    dst.with_file_name(format!(
        ".{name}.partial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The muxer and encoder while a file is being written.
struct Open {
    octx: ffmpeg::format::context::Output,
    encoder: ffmpeg::encoder::Video,
    time_base: ffmpeg::Rational,
    stream_time_base: ffmpeg::Rational,
}

/// An H.264 file being written. Frames go in with [`H264Writer::write`];
/// [`H264Writer::finish`] completes the file and moves it into place. A writer
/// dropped before that removes its temporary file.
pub struct H264Writer {
    dst: PathBuf,
    tmp: PathBuf,
    width: u32,
    height: u32,
    frames: usize,
    open: Option<Open>,
    done: bool,
}

impl H264Writer {
    /// Start writing `dst` (its folder is created if missing): frames of
    /// `width` x `height` (both even) at `rate` frames per second.
    pub fn create(
        dst: &Path,
        width: u32,
        height: u32,
        rate: ffmpeg::Rational,
        opts: &EncodeOptions,
        colour: ColourTags,
    ) -> Result<H264Writer> {
        opts.validate()?;
        init_ffmpeg();
        if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| write_error(dst, e))?;
        }
        let mut writer = H264Writer {
            dst: dst.to_path_buf(),
            tmp: temporary_path(dst),
            width,
            height,
            frames: 0,
            open: None,
            done: false,
        };
        // Any error from here on drops `writer`, which removes the temporary file.
        writer.open = Some(writer.open_encoder(rate, opts, colour)?);
        Ok(writer)
    }

    fn open_encoder(
        &self,
        rate: ffmpeg::Rational,
        opts: &EncodeOptions,
        colour: ColourTags,
    ) -> Result<Open> {
        let werr = |e: ffmpeg::Error| write_error(&self.dst, describe(e));
        let codec = ffmpeg::encoder::find_by_name("libx264")
            .or_else(|| ffmpeg::encoder::find(ffmpeg::codec::Id::H264))
            .ok_or_else(|| write_error(&self.dst, "the system FFmpeg has no H.264 encoder"))?;
        // MP4 whatever the file is called (the temporary name has no extension to go by).
        let mut octx = ffmpeg::format::output_as(&self.tmp, "mp4").map_err(werr)?;
        let global_header = octx
            .format()
            .flags()
            .contains(ffmpeg::format::Flags::GLOBAL_HEADER);
        let time_base = rate.invert();

        let mut enc = ffmpeg::codec::context::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(werr)?;
        enc.set_width(self.width);
        enc.set_height(self.height);
        enc.set_format(ffmpeg::format::Pixel::YUV420P);
        enc.set_time_base(time_base);
        enc.set_frame_rate(Some(rate));
        enc.set_gop(opts.keyframe_interval);
        enc.set_max_b_frames(0);
        if colour == ColourTags::Bt601Limited {
            enc.set_colorspace(ffmpeg::color::Space::SMPTE170M);
            enc.set_color_range(ffmpeg::color::Range::MPEG);
        }
        if global_header {
            enc.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
        }
        let mut dict = ffmpeg::Dictionary::new();
        dict.set("preset", "veryfast");
        dict.set("tune", "fastdecode");
        dict.set("crf", &opts.crf.to_string());
        let keyint = opts.keyframe_interval;
        dict.set(
            "x264-params",
            &format!("keyint={keyint}:min-keyint=1:bframes=0"),
        );
        let encoder = enc.open_with(dict).map_err(werr)?;
        {
            let mut ost = octx.add_stream(codec).map_err(werr)?;
            ost.set_parameters(&encoder);
            ost.set_time_base(time_base);
        }
        // Frames are numbered from zero with no gaps, so no edit list is needed;
        // FFmpeg 5.1's edit list would mark the last frame as discarded.
        let mut header = ffmpeg::Dictionary::new();
        header.set("use_editlist", "0");
        header.set("movflags", "+faststart");
        octx.write_header_with(header).map_err(werr)?;
        let stream_time_base = octx.stream(0).map(|s| s.time_base()).unwrap_or(time_base);
        Ok(Open {
            octx,
            encoder,
            time_base,
            stream_time_base,
        })
    }

    /// The file this writer completes.
    pub fn path(&self) -> &Path {
        &self.dst
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Frames written so far.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Encode the next frame: YUV420P of the writer's size. The encoder may
    /// keep a reference to its buffers; see [`make_writable`] before reusing it.
    pub fn write(&mut self, frame: &mut ffmpeg::frame::Video) -> Result<()> {
        let (w, h) = (self.width, self.height);
        let format = crate::convert::frame_pixel_format(frame);
        if format != Some(ffmpeg::format::Pixel::YUV420P)
            || frame.width() != w
            || frame.height() != h
        {
            return Err(VideoError::InvalidArgument(format!(
                "cannot write '{}': a frame of {:?} {}x{} given to a {w}x{h} YUV420P stream",
                self.dst.display(),
                format,
                frame.width(),
                frame.height()
            )));
        }
        let dst = &self.dst;
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| write_error(dst, "already finished"))?;
        frame.set_pts(Some(self.frames as i64));
        open.encoder
            .send_frame(frame)
            .map_err(|e| write_error(dst, describe(e)))?;
        self.frames += 1;
        open.write_packets(dst)
    }

    /// Flush the encoder, complete the file and move it to its destination;
    /// returns the frame count. A file without frames is an error.
    pub fn finish(mut self) -> Result<usize> {
        let Some(mut open) = self.open.take() else {
            return Err(write_error(&self.dst, "already finished"));
        };
        if self.frames == 0 {
            return Err(write_error(&self.dst, "no frames to write"));
        }
        let werr = |e: ffmpeg::Error| write_error(&self.dst, describe(e));
        open.encoder.send_eof().map_err(werr)?;
        open.write_packets(&self.dst)?;
        open.octx.write_trailer().map_err(werr)?;
        // Close the file before it is renamed into place.
        drop(open);
        std::fs::rename(&self.tmp, &self.dst).map_err(|e| write_error(&self.dst, e))?;
        self.done = true;
        Ok(self.frames)
    }
}

impl Open {
    fn write_packets(&mut self, dst: &Path) -> Result<()> {
        let mut packet = ffmpeg::Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            // Each packet is one frame lasting one tick of the time base; said
            // so, the last frame has a length too, and with it the stream's
            // duration and average frame rate come out right.
            if packet.duration() == 0 {
                packet.set_duration(1);
            }
            packet.rescale_ts(self.time_base, self.stream_time_base);
            packet
                .write_interleaved(&mut self.octx)
                .map_err(|e| write_error(dst, describe(e)))?;
        }
        Ok(())
    }
}

impl Drop for H264Writer {
    fn drop(&mut self) {
        drop(self.open.take());
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Give `frame` buffers of its own before it is filled again: the encoder
/// may still hold a reference to the buffers of the last frame sent.
pub fn make_writable(frame: &mut ffmpeg::frame::Video, path: &Path) -> Result<()> {
    // SAFETY: `frame` owns a valid AVFrame for the duration of the call, and
    // av_frame_make_writable only replaces its buffers by fresh ones (copying
    // the data) when they are shared.
    let ret = unsafe { ffmpeg::ffi::av_frame_make_writable(frame.as_mut_ptr()) };
    if ret < 0 {
        return Err(write_error(path, describe(ffmpeg::Error::from(ret))));
    }
    Ok(())
}

/// Write `count` RGB24 frames of `height` x `width`, packed (T, H, W, 3) in
/// `frames`, to `dst` as H.264 at `fps` frames per second (BT.601, limited
/// range); returns the frame count. Width and height must be even (4:2:0
/// chroma).
pub fn write_video(
    dst: &Path,
    frames: &[u8],
    count: usize,
    height: u32,
    width: u32,
    fps: f64,
    opts: &EncodeOptions,
) -> Result<usize> {
    let bad = |reason: String| {
        Err(VideoError::InvalidArgument(format!(
            "cannot write '{}': {reason}",
            dst.display()
        )))
    };
    if count == 0 {
        return bad("no frames given".into());
    }
    if width == 0 || height == 0 || width % 2 == 1 || height % 2 == 1 {
        return bad(format!(
            "frames are {width}x{height}; H.264 in yuv420p needs a positive, even width and height"
        ));
    }
    let frame_bytes = width as usize * height as usize * 3;
    match count.checked_mul(frame_bytes) {
        Some(n) if n == frames.len() => {}
        _ => {
            return bad(format!(
                "{} bytes given for {count} RGB frames of {width}x{height}",
                frames.len()
            ))
        }
    }
    let Some(rate) = frame_rate(fps) else {
        return bad(format!(
            "fps must be a positive frame rate (a fraction with terms up to {MAX_RATE_TERM}), got {fps}"
        ));
    };
    if let Err(VideoError::InvalidArgument(reason)) = opts.validate() {
        return bad(reason);
    }

    let mut writer = H264Writer::create(dst, width, height, rate, opts, ColourTags::Bt601Limited)?;
    let format_error = |e: ffmpeg::Error| write_error(dst, describe(e));
    let mut scaler = ffmpeg::software::scaling::Context::get(
        ffmpeg::format::Pixel::RGB24,
        width,
        height,
        ffmpeg::format::Pixel::YUV420P,
        width,
        height,
        ffmpeg::software::scaling::Flags::BILINEAR | ffmpeg::software::scaling::Flags::ACCURATE_RND,
    )
    .map_err(format_error)?;
    let mut rgb = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::RGB24, width, height);
    let mut yuv = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUV420P, width, height);
    let row = width as usize * 3;
    for source in frames.chunks_exact(frame_bytes) {
        let stride = rgb.stride(0);
        let plane = rgb.data_mut(0);
        for (y, line) in source.chunks_exact(row).enumerate() {
            plane[y * stride..y * stride + row].copy_from_slice(line);
        }
        make_writable(&mut yuv, dst)?;
        scaler.run(&rgb, &mut yuv).map_err(format_error)?;
        writer.write(&mut yuv)?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates_become_close_fractions() {
        let r = frame_rate(25.0).unwrap();
        assert_eq!((r.numerator(), r.denominator()), (25, 1));
        let r = frame_rate(30_000.0 / 1001.0).unwrap();
        assert_eq!((r.numerator(), r.denominator()), (30_000, 1001));
        let r = frame_rate(12.5).unwrap();
        assert_eq!((r.numerator(), r.denominator()), (25, 2));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-7, 1e9] {
            assert!(frame_rate(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn temporary_paths_sit_beside_the_destination_and_differ() {
        let dst = Path::new("/data/out/clip.mp4");
        let (a, b) = (temporary_path(dst), temporary_path(dst));
        assert_eq!(a.parent(), dst.parent());
        assert_ne!(a, b);
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".clip.mp4.partial-"));
    }
}
