//! Transcoding a video into the training format of [`crate::encode`], short
//! side at most `short_side`. Every decoded source frame becomes one output
//! frame, in order: frame i of the prepared file is frame i of the source.
//! Frames are turned upright as the source's display matrix asks (unless
//! `autorotate` is off): the prepared file carries no display matrix.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use crate::encode::{frame_rate, make_writable, ColourTags, EncodeOptions, H264Writer};
use crate::error::{Result, VideoError};
use crate::media::{describe, Media};
use crate::orient::Orientation;

#[derive(Clone, Debug)]
pub struct PrepareOptions {
    /// The short side is scaled down to this, never up.
    pub short_side: u32,
    pub encode: EncodeOptions,
    /// Turn frames upright as the source's display matrix asks.
    pub autorotate: bool,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            short_side: 128,
            encode: EncodeOptions::default(),
            autorotate: true,
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
    if opts.short_side < 2 {
        return Err(VideoError::InvalidArgument(format!(
            "short_side must be at least 2, got {}",
            opts.short_side
        )));
    }
    opts.encode.validate()?;
    let mut media = Media::open(src, 1)?;
    let orientation = if opts.autorotate {
        media.orientation
    } else {
        Orientation::IDENTITY
    };
    // Scaled in the source's orientation, then turned.
    let (scaled_w, scaled_h) = output_size(media.width, media.height, opts.short_side);
    let (out_w, out_h) = orientation.display_size(scaled_w, scaled_h);
    // A constant frame rate numbers the frames; sources without one get 25 fps.
    let rate = frame_rate(media.frame_rate).unwrap_or_else(|| ffmpeg::Rational::new(25, 1));
    // The samples keep the source's colour matrix (swscale changes size and
    // chroma layout only), so the stream claims none.
    let mut writer =
        H264Writer::create(dst, out_w, out_h, rate, &opts.encode, ColourTags::Untagged)?;
    transcode(&mut media, &mut writer, orientation)?;
    if writer.frames() == 0 {
        return Err(VideoError::decode(&media.path, "no frame could be decoded"));
    }
    writer.finish()
}

/// Decode every frame of `media`, scale it to the writer's size (before
/// `orientation` turns it) and write it turned.
fn transcode(media: &mut Media, writer: &mut H264Writer, orientation: Orientation) -> Result<()> {
    let (out_w, out_h) = orientation.display_size(writer.width(), writer.height());
    let mut turned = ffmpeg::frame::Video::new(
        ffmpeg::format::Pixel::YUV420P,
        writer.width(),
        writer.height(),
    );
    let mut packed = Vec::new();
    let mut scratch = Vec::new();
    let mut scaler: Option<(
        ffmpeg::format::Pixel,
        u32,
        u32,
        ffmpeg::software::scaling::Context,
    )> = None;
    let mut decoded = ffmpeg::frame::Video::empty();
    let mut scaled = ffmpeg::frame::Video::new(ffmpeg::format::Pixel::YUV420P, out_w, out_h);
    let src = media.path.clone();

    let mut on_frame = |decoded: &ffmpeg::frame::Video, writer: &mut H264Writer| -> Result<()> {
        let (w, h) = (decoded.width(), decoded.height());
        let fmt = crate::convert::frame_pixel_format(decoded).ok_or_else(|| {
            // SAFETY: `decoded` wraps a valid AVFrame; only its format is read.
            let raw = unsafe { (*decoded.as_ptr()).format };
            VideoError::decode(&src, crate::convert::unknown_pixel_format(raw))
        })?;
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
        make_writable(&mut scaled, writer.path())?;
        ctx.run(decoded, &mut scaled)
            .map_err(|e| VideoError::decode(&src, describe(e)))?;
        if orientation.is_identity() {
            return writer.write(&mut scaled);
        }
        make_writable(&mut turned, writer.path())?;
        for plane in 0..3 {
            let (w, h) = (scaled.plane_width(plane), scaled.plane_height(plane));
            let (w, h) = (w as usize, h as usize);
            packed.clear();
            let stride = scaled.stride(plane);
            for row in scaled.data(plane).chunks(stride).take(h) {
                packed.extend_from_slice(&row[..w]);
            }
            orientation.apply_in_place(&mut packed, w, h, 1, &mut scratch);
            let (tw, _) = orientation.display_size(w as u32, h as u32);
            let tw = tw as usize;
            let stride = turned.stride(plane);
            for (dst, src) in turned
                .data_mut(plane)
                .chunks_mut(stride)
                .zip(packed.chunks_exact(tw))
            {
                dst[..tw].copy_from_slice(src);
            }
        }
        writer.write(&mut turned)
    };

    while let Some(packet) = media.next_packet() {
        let _ = media.decoder.send_packet(&packet);
        while media.decoder.receive_frame(&mut decoded).is_ok() {
            on_frame(&decoded, writer)?;
        }
    }
    let _ = media.decoder.send_eof();
    while media.decoder.receive_frame(&mut decoded).is_ok() {
        on_frame(&decoded, writer)?;
    }
    Ok(())
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
