//! Transcoding a video into the training format: H.264 in MP4, short side at
//! most `short_side`, a keyframe at least every `keyframe_interval` frames, no
//! B-frames and x264's fastdecode tuning, so that random clip access decodes
//! few frames. Every decoded source frame becomes one output frame, in order:
//! frame i of the prepared file is frame i of the source.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use crate::error::{Result, VideoError};
use crate::media::{describe, Media};

#[derive(Clone, Debug)]
pub struct PrepareOptions {
    pub short_side: u32,
    pub keyframe_interval: u32,
    /// x264 constant rate factor (lower is better quality).
    pub crf: u32,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            short_side: 128,
            keyframe_interval: 32,
            crf: 20,
        }
    }
}

/// Output size: the short side scaled down to `short_side` (never up), both sides even.
pub fn output_size(width: u32, height: u32, short_side: u32) -> (u32, u32) {
    let short = width.min(height);
    let scale = if short > short_side {
        short_side as f64 / short as f64
    } else {
        1.0
    };
    let even = |v: f64| ((v / 2.0 + 1e-9).floor() as u32 * 2).max(2);
    (even(width as f64 * scale), even(height as f64 * scale))
}

/// Transcode `src` to `dst` (written to a temporary file, then renamed, so a
/// killed run never leaves a half-written `dst`). Returns the frame count.
pub fn prepare_video(src: &Path, dst: &Path, opts: &PrepareOptions) -> Result<usize> {
    if opts.short_side < 2 || opts.keyframe_interval == 0 {
        return Err(VideoError::InvalidArgument(
            "short_side must be at least 2 and keyframe_interval positive".into(),
        ));
    }
    let mut media = Media::open(src, 1)?;
    let (out_w, out_h) = output_size(media.width, media.height, opts.short_side);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| write_error(dst, e))?;
    }
    let tmp = dst.with_file_name(format!(
        ".{}.partial-{}",
        dst.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = encode(&mut media, &tmp, out_w, out_h, opts);
    match result {
        Ok(frames) => {
            std::fs::rename(&tmp, dst).map_err(|e| write_error(dst, e))?;
            Ok(frames)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> VideoError {
    VideoError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn encode(
    media: &mut Media,
    tmp: &Path,
    out_w: u32,
    out_h: u32,
    opts: &PrepareOptions,
) -> Result<usize> {
    let werr = |e: ffmpeg::Error| write_error(tmp, describe(e));
    let codec = ffmpeg::encoder::find_by_name("libx264")
        .or_else(|| ffmpeg::encoder::find(ffmpeg::codec::Id::H264))
        .ok_or_else(|| write_error(tmp, "the system FFmpeg has no H.264 encoder"))?;
    let mut octx = ffmpeg::format::output_as(&tmp, "mp4").map_err(werr)?;
    let global_header = octx
        .format()
        .flags()
        .contains(ffmpeg::format::Flags::GLOBAL_HEADER);

    // A constant frame rate numbers the frames; sources without one get 25 fps.
    let rate = if media.frame_rate > 0.0 {
        let r = unsafe { ffmpeg::ffi::av_d2q(media.frame_rate, 120_000) };
        ffmpeg::Rational::new(r.num, r.den)
    } else {
        ffmpeg::Rational::new(25, 1)
    };
    let time_base = rate.invert();

    let mut enc = ffmpeg::codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(werr)?;
    enc.set_width(out_w);
    enc.set_height(out_h);
    enc.set_format(ffmpeg::format::Pixel::YUV420P);
    enc.set_time_base(time_base);
    enc.set_frame_rate(Some(rate));
    enc.set_gop(opts.keyframe_interval);
    enc.set_max_b_frames(0);
    if global_header {
        enc.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
    }
    let mut dict = ffmpeg::Dictionary::new();
    dict.set("preset", "veryfast");
    dict.set("tune", "fastdecode");
    dict.set("crf", &opts.crf.to_string());
    let keyint = opts.keyframe_interval.to_string();
    dict.set(
        "x264-params",
        &format!("keyint={keyint}:min-keyint=1:bframes=0"),
    );
    let mut encoder = enc.open_with(dict).map_err(werr)?;
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
    let ost_tb = octx.stream(0).map(|s| s.time_base()).unwrap_or(time_base);

    let mut scaler: Option<(
        ffmpeg::format::Pixel,
        u32,
        u32,
        ffmpeg::software::scaling::Context,
    )> = None;
    let mut decoded = ffmpeg::frame::Video::empty();
    let mut scaled = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUV420P, out_w, out_h);
    let mut count: usize = 0;
    let src = media.path.clone();

    let write_packets = |encoder: &mut ffmpeg::encoder::Video,
                         octx: &mut ffmpeg::format::context::Output|
     -> Result<()> {
        let mut packet = ffmpeg::Packet::empty();
        while encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            packet.rescale_ts(time_base, ost_tb);
            packet.write_interleaved(octx).map_err(werr)?;
        }
        Ok(())
    };

    let mut on_frame = |decoded: &ffmpeg::frame::Video,
                        encoder: &mut ffmpeg::encoder::Video,
                        octx: &mut ffmpeg::format::context::Output,
                        count: &mut usize|
     -> Result<()> {
        let (fmt, w, h) = (decoded.format(), decoded.width(), decoded.height());
        let stale = !matches!(&scaler, Some((f, sw, sh, _)) if *f == fmt && *sw == w && *sh == h);
        if stale {
            let ctx = ffmpeg::software::scaling::Context::get(
                fmt,
                w,
                h,
                ffmpeg::format::Pixel::YUV420P,
                out_w,
                out_h,
                ffmpeg::software::scaling::Flags::AREA,
            )
            .map_err(|e| VideoError::decode(&src, describe(e)))?;
            scaler = Some((fmt, w, h, ctx));
        }
        let ctx = &mut scaler.as_mut().expect("scaler was just set").3;
        ctx.run(decoded, &mut scaled)
            .map_err(|e| VideoError::decode(&src, describe(e)))?;
        scaled.set_pts(Some(*count as i64));
        encoder.send_frame(&scaled).map_err(werr)?;
        *count += 1;
        write_packets(encoder, octx)
    };

    while let Some(packet) = media.next_packet() {
        let _ = media.decoder.send_packet(&packet);
        while media.decoder.receive_frame(&mut decoded).is_ok() {
            on_frame(&decoded, &mut encoder, &mut octx, &mut count)?;
        }
    }
    let _ = media.decoder.send_eof();
    while media.decoder.receive_frame(&mut decoded).is_ok() {
        on_frame(&decoded, &mut encoder, &mut octx, &mut count)?;
    }
    if count == 0 {
        return Err(VideoError::decode(&media.path, "no frame could be decoded"));
    }
    encoder.send_eof().map_err(werr)?;
    let mut packet = ffmpeg::Packet::empty();
    while encoder.receive_packet(&mut packet).is_ok() {
        packet.set_stream(0);
        packet.rescale_ts(time_base, ost_tb);
        packet.write_interleaved(&mut octx).map_err(werr)?;
    }
    octx.write_trailer().map_err(werr)?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::output_size;

    #[test]
    fn output_keeps_aspect_with_even_sides_and_never_upscales() {
        assert_eq!(output_size(640, 272, 128), (300, 128));
        assert_eq!(output_size(272, 640, 128), (128, 300));
        assert_eq!(output_size(176, 144, 128), (156, 128));
        assert_eq!(output_size(100, 60, 128), (100, 60));
        assert_eq!(output_size(101, 61, 128), (100, 60));
    }
}
