//! Pixel conversion: whole frames to RGB with swscale, or a crop box of the
//! decoded frame scaled straight to the output size (no full-size RGB frame
//! is ever made on that path): planar 8-bit YUV by [`crate::resample`] where
//! the scale is within its range, everything else by swscale.

use std::ptr;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::ffi;

use crate::error::{Result, VideoError};
use crate::resample::{PlaneRef, PlaneResampler, Region};

/// A crop box in source pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropBox {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A reusable swscale context producing packed RGB24.
pub struct RgbConverter {
    ctx: *mut ffi::SwsContext,
    /// Full-frame RGB copy for pixel formats whose planes cannot be offset.
    staging: Vec<u8>,
    /// swscale's SIMD paths write whole blocks of pixels and can run past the
    /// end of a row whose width is not a multiple of the block: it renders into
    /// this padded buffer, and rows are copied out from there.
    padded: Vec<u8>,
    /// One chroma row repeated to the full output width.
    wide: Vec<u8>,
    /// Resamplers for luma and for chroma (both chroma planes share one).
    resamplers: [PlaneResampler; 2],
}

// The context is only used by the thread that owns the converter.
unsafe impl Send for RgbConverter {}

impl Default for RgbConverter {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RgbConverter {
    fn drop(&mut self) {
        if !self.ctx.is_null() {
            unsafe { ffi::sws_freeContext(self.ctx) };
        }
    }
}

struct Planes {
    data: [*const u8; 4],
    linesize: [i32; 4],
    format: ffi::AVPixelFormat,
    width: i32,
    height: i32,
}

impl Planes {
    /// The planes of a decoded frame.
    fn of(frame: &ffmpeg::frame::Video) -> Result<Planes> {
        let raw = unsafe { &*frame.as_ptr() };
        if raw.width <= 0 || raw.height <= 0 || raw.data[0].is_null() {
            return Err(VideoError::InvalidArgument(
                "decoded frame has no pixels".into(),
            ));
        }
        Ok(Planes {
            data: raw.data.map(|p| p as *const u8)[..4]
                .try_into()
                .expect("four planes"),
            linesize: raw.linesize[..4].try_into().expect("four planes"),
            // The frame was decoded by the FFmpeg these bindings describe.
            format: unsafe { std::mem::transmute::<i32, ffi::AVPixelFormat>(raw.format) },
            width: raw.width,
            height: raw.height,
        })
    }
}

impl RgbConverter {
    pub fn new() -> Self {
        RgbConverter {
            ctx: ptr::null_mut(),
            staging: Vec::new(),
            padded: Vec::new(),
            wide: Vec::new(),
            resamplers: Default::default(),
        }
    }

    /// Convert the whole frame to RGB24, (H, W, 3) row-major into `out`.
    pub fn frame_to_rgb(&mut self, frame: &ffmpeg::frame::Video, out: &mut [u8]) -> Result<()> {
        let (w, h) = (frame.width(), frame.height());
        self.crop_scale(
            frame,
            CropBox { x: 0, y: 0, w, h },
            w,
            h,
            out,
            w as usize * 3,
        )
    }

    /// Scale the crop box of `frame` to `out_w` x `out_h` RGB24 into `out`
    /// (rows `stride` bytes apart).
    pub fn crop_scale(
        &mut self,
        frame: &ffmpeg::frame::Video,
        crop: CropBox,
        out_w: u32,
        out_h: u32,
        out: &mut [u8],
        stride: usize,
    ) -> Result<()> {
        let planes = Planes::of(frame)?;
        if offsettable(planes.format) {
            return self.scale_planes(&planes, crop, out_w, out_h, out, stride);
        }
        // Palette, bitstream or hardware formats: make a full RGB copy first.
        let (fw, fh) = (planes.width as u32, planes.height as u32);
        let mut staging = std::mem::take(&mut self.staging);
        staging.resize(fw as usize * fh as usize * 3, 0);
        let full = CropBox {
            x: 0,
            y: 0,
            w: fw,
            h: fh,
        };
        let result = self
            .scale_planes(&planes, full, fw, fh, &mut staging, fw as usize * 3)
            .and_then(|()| {
                let rgb = Planes {
                    data: [staging.as_ptr(), ptr::null(), ptr::null(), ptr::null()],
                    linesize: [fw as i32 * 3, 0, 0, 0],
                    format: ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
                    width: fw as i32,
                    height: fh as i32,
                };
                self.scale_planes(&rgb, crop, out_w, out_h, out, stride)
            });
        self.staging = staging;
        result
    }

    /// Scale to RGB24 and copy the rows into `out`, `stride` bytes apart.
    fn scale_planes(
        &mut self,
        src: &Planes,
        crop: CropBox,
        out_w: u32,
        out_h: u32,
        out: &mut [u8],
        stride: usize,
    ) -> Result<()> {
        let row = out_w as usize * 3;
        if out.len() < stride * (out_h as usize - 1) + row {
            return Err(VideoError::InvalidArgument(
                "output buffer too small".into(),
            ));
        }
        let (padded_stride, _) = self.render(
            src,
            crop,
            out_w,
            out_h,
            ffi::AVPixelFormat::AV_PIX_FMT_RGB24,
        )?;
        for y in 0..out_h as usize {
            out[y * stride..y * stride + row]
                .copy_from_slice(&self.padded[y * padded_stride..y * padded_stride + row]);
        }
        Ok(())
    }

    /// Scale the crop box of an 8-bit planar YUV frame (4:2:0, 4:2:2 or 4:4:4)
    /// to `out_w` x `out_h` YUV 4:4:4 in the same range, planes Y, U, V one
    /// after the other in `out`. Returns whether the range is full (JPEG) or
    /// limited (MPEG), or None for other pixel formats. Converting to RGB is
    /// left to the caller's float stage: swscale's RGB output was the costlier
    /// half of its work. The planes are resized by [`crate::resample`] when
    /// neither side is reduced more than twofold, else by swscale.
    ///
    /// 4:2:0 sources are scaled to 4:2:0 and each chroma sample then covers
    /// its 2 x 2 output pixels, as swscale's own RGB output repeats chroma
    /// across pairs of pixels: scaling chroma to the full output size cost as
    /// much as the luma and added nothing the 4:2:0 source has.
    ///
    /// With `mirror` every row is written right to left (a horizontal flip,
    /// free here because the rows are copied out of the scaler's buffer anyway).
    pub fn crop_scale_yuv444(
        &mut self,
        frame: &ffmpeg::frame::Video,
        crop: CropBox,
        out_w: u32,
        out_h: u32,
        out: &mut [u8],
        mirror: bool,
    ) -> Result<Option<bool>> {
        use ffi::AVPixelFormat::*;
        let src = Planes::of(frame)?;
        let format = src.format;
        let (dst, full_range) = match format {
            AV_PIX_FMT_YUV420P => (AV_PIX_FMT_YUV420P, false),
            AV_PIX_FMT_YUVJ420P => (AV_PIX_FMT_YUVJ420P, true),
            AV_PIX_FMT_YUV422P | AV_PIX_FMT_YUV444P => (AV_PIX_FMT_YUV444P, false),
            AV_PIX_FMT_YUVJ422P | AV_PIX_FMT_YUVJ444P => (AV_PIX_FMT_YUVJ444P, true),
            _ => return Ok(None),
        };
        let half = matches!(dst, AV_PIX_FMT_YUV420P | AV_PIX_FMT_YUVJ420P);
        let plane = out_w as usize * out_h as usize;
        if out.len() != 3 * plane {
            return Err(VideoError::InvalidArgument(
                "output buffer has the wrong size".into(),
            ));
        }
        let (padded_stride, padded_plane) = match self.resample(&src, crop, out_w, out_h, half) {
            Some(layout) => layout,
            None => self.render(&src, crop, out_w, out_h, dst)?,
        };
        let w = out_w as usize;
        let mut wide = std::mem::take(&mut self.wide);
        wide.resize(w, 0);
        for p in 0..3 {
            for y in 0..out_h as usize {
                let row = &mut out[p * plane + y * w..p * plane + (y + 1) * w];
                if p == 0 || !half {
                    let from = p * padded_plane + y * padded_stride;
                    let src = &self.padded[from..from + w];
                    if mirror {
                        copy_reversed(src, row);
                    } else {
                        row.copy_from_slice(src);
                    }
                } else {
                    let from = p * padded_plane + y / 2 * padded_stride;
                    let chroma = &self.padded[from..from + w.div_ceil(2)];
                    if mirror {
                        // Repeat first, then reverse: for odd widths the pairs
                        // do not line up with the mirrored row.
                        repeat_pairs(chroma, &mut wide);
                        copy_reversed(&wide, row);
                    } else {
                        repeat_pairs(chroma, row);
                    }
                }
            }
        }
        self.wide = wide;
        Ok(Some(full_range))
    }

    /// Resize the crop box of an 8-bit planar YUV frame with the resampler
    /// of [`crate::resample`] into `self.padded`, laid out as [`Self::render`]
    /// lays out planar YUV (chroma at half size when `half`). None when the
    /// scale factors are beyond the resampler's range (swscale takes those)
    /// or the planes are stored bottom up.
    fn resample(
        &mut self,
        src: &Planes,
        crop: CropBox,
        out_w: u32,
        out_h: u32,
        half: bool,
    ) -> Option<(usize, usize)> {
        let desc = unsafe { ffi::av_pix_fmt_desc_get(src.format) };
        if desc.is_null() || src.linesize[..3].iter().any(|&l| l <= 0) {
            return None;
        }
        let (sw, sh) = unsafe { ((*desc).log2_chroma_w, (*desc).log2_chroma_h) };
        let (out_w, out_h) = (out_w as usize, out_h as usize);
        let (width, height) = (src.width as usize, src.height as usize);
        let x = crop.x.min(src.width as u32 - 1);
        let y = crop.y.min(src.height as u32 - 1);
        let luma = Region {
            x: x as f64,
            y: y as f64,
            w: crop.w.min(src.width as u32 - x).max(1) as f64,
            h: crop.h.min(src.height as u32 - y).max(1) as f64,
        };
        let (cx, cy) = ((1u32 << sw) as f64, (1u32 << sh) as f64);
        let chroma = Region {
            x: luma.x / cx,
            y: luma.y / cy,
            w: luma.w / cx,
            h: luma.h / cy,
        };
        let (chroma_w, chroma_h) = if half {
            (out_w.div_ceil(2), out_h.div_ceil(2))
        } else {
            (out_w, out_h)
        };
        if !PlaneResampler::handles(luma, out_w, out_h)
            || !PlaneResampler::handles(chroma, chroma_w, chroma_h)
        {
            return None;
        }
        let padded_stride = (out_w + 64).next_multiple_of(64);
        let padded_plane = padded_stride * (out_h + 1);
        self.padded.resize(padded_plane * 3, 0);
        for p in 0..3 {
            let (w, h) = if p == 0 {
                (width, height)
            } else {
                (width.div_ceil(1 << sw), height.div_ceil(1 << sh))
            };
            let stride = src.linesize[p] as usize;
            // SAFETY: a decoded plane holds h rows of `stride` bytes, the
            // last at least w long.
            let data = unsafe { std::slice::from_raw_parts(src.data[p], stride * (h - 1) + w) };
            let plane = PlaneRef {
                data,
                stride,
                width: w,
                height: h,
            };
            let out = &mut self.padded[p * padded_plane..(p + 1) * padded_plane];
            if p == 0 {
                self.resamplers[0].resize(&plane, luma, out_w, out_h, out, padded_stride);
            } else {
                self.resamplers[1].resize(&plane, chroma, chroma_w, chroma_h, out, padded_stride);
            }
        }
        Some((padded_stride, padded_plane))
    }

    /// Run swscale from the crop box of `src` into `self.padded`, in
    /// `dst_format` (RGB24, or planar YUV with one plane after another, each
    /// with the room of a full-size plane).
    /// Returns the padded row stride and plane size.
    fn render(
        &mut self,
        src: &Planes,
        crop: CropBox,
        out_w: u32,
        out_h: u32,
        dst_format: ffi::AVPixelFormat,
    ) -> Result<(usize, usize)> {
        let desc = unsafe { ffi::av_pix_fmt_desc_get(src.format) };
        if desc.is_null() {
            return Err(VideoError::InvalidArgument("unknown pixel format".into()));
        }
        let desc = unsafe { &*desc };
        // Chroma planes can only be entered at whole chroma samples.
        let cw = 1u32 << desc.log2_chroma_w;
        let ch = 1u32 << desc.log2_chroma_h;
        let x = crop.x / cw * cw;
        let y = crop.y / ch * ch;
        let w = crop.w.min(src.width as u32 - x).max(1);
        let h = crop.h.min(src.height as u32 - y).max(1);
        let mut data = [ptr::null::<u8>(); 4];
        let is_rgb = desc.flags & ffi::AV_PIX_FMT_FLAG_RGB as u64 != 0;
        for (p, slot) in data.iter_mut().enumerate() {
            if src.data[p].is_null() {
                continue;
            }
            // Bytes per pixel in this plane, and whether it holds subsampled chroma.
            let mut step = 0i32;
            let mut chroma = false;
            for (c, comp) in desc
                .comp
                .iter()
                .enumerate()
                .take(desc.nb_components as usize)
            {
                if comp.plane as usize == p {
                    step = step.max(comp.step);
                    chroma |= !is_rgb && (c == 1 || c == 2);
                }
            }
            let (px, py) = if chroma {
                (x >> desc.log2_chroma_w, y >> desc.log2_chroma_h)
            } else {
                (x, y)
            };
            let offset = py as isize * src.linesize[p] as isize + px as isize * step as isize;
            *slot = unsafe { src.data[p].offset(offset) };
        }
        let flags = ffi::SWS_BILINEAR;
        self.ctx = unsafe {
            ffi::sws_getCachedContext(
                self.ctx,
                w as i32,
                h as i32,
                src.format,
                out_w as i32,
                out_h as i32,
                dst_format,
                flags,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if self.ctx.is_null() {
            return Err(VideoError::InvalidArgument(format!(
                "swscale cannot convert {w}x{h} to {out_w}x{out_h}"
            )));
        }
        let planar = dst_format != ffi::AVPixelFormat::AV_PIX_FMT_RGB24;
        let (planes, row) = if planar {
            (3, out_w as usize)
        } else {
            (1, out_w as usize * 3)
        };
        let padded_stride = (row + 64).next_multiple_of(64);
        let padded_plane = padded_stride * (out_h as usize + 1);
        self.padded.resize(padded_plane * planes, 0);
        let base = self.padded.as_mut_ptr();
        let mut dst = [ptr::null_mut(); 4];
        let mut dst_stride = [0i32; 4];
        for p in 0..planes {
            dst[p] = unsafe { base.add(p * padded_plane) };
            dst_stride[p] = padded_stride as i32;
        }
        let rows = unsafe {
            ffi::sws_scale(
                self.ctx,
                data.as_ptr(),
                src.linesize.as_ptr(),
                0,
                h as i32,
                dst.as_ptr(),
                dst_stride.as_ptr(),
            )
        };
        if rows <= 0 {
            return Err(VideoError::InvalidArgument(
                "swscale produced no rows".into(),
            ));
        }
        Ok((padded_stride, padded_plane))
    }
}

/// out[x] = half[x / 2]: each byte of `half` written twice.
fn repeat_pairs(half: &[u8], out: &mut [u8]) {
    debug_assert_eq!(half.len(), out.len().div_ceil(2));
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        while done + 16 <= out.len() / 2 {
            // SAFETY: SSE2 is part of x86_64; 16 bytes are read from
            // half[done..] and 32 written to out[2 * done..], both in bounds.
            unsafe {
                let c = _mm_loadu_si128(half.as_ptr().add(done) as *const __m128i);
                let dst = out.as_mut_ptr().add(2 * done) as *mut __m128i;
                _mm_storeu_si128(dst, _mm_unpacklo_epi8(c, c));
                _mm_storeu_si128(dst.add(1), _mm_unpackhi_epi8(c, c));
            }
            done += 16;
        }
    }
    for (x, v) in out[2 * done..].iter_mut().enumerate() {
        *v = half[done + x / 2];
    }
}

/// out[x] = src[n - 1 - x].
fn copy_reversed(src: &[u8], out: &mut [u8]) {
    let n = src.len();
    assert_eq!(n, out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("ssse3") {
        // SAFETY: SSSE3 was just detected.
        done = unsafe { copy_reversed_ssse3(src, out) };
    }
    for x in done..n {
        out[n - 1 - x] = src[x];
    }
}

/// Reverse whole blocks of 16 bytes from the start of `src` into the end of
/// `out`; returns how many bytes were done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "ssse3")]
unsafe fn copy_reversed_ssse3(src: &[u8], out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let n = src.len();
    let reverse = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    let mut x = 0;
    while x + 16 <= n {
        // SAFETY: bytes x..x + 16 of src and n - x - 16..n - x of out are in bounds.
        let v = _mm_loadu_si128(src.as_ptr().add(x) as *const __m128i);
        _mm_storeu_si128(
            out.as_mut_ptr().add(n - x - 16) as *mut __m128i,
            _mm_shuffle_epi8(v, reverse),
        );
        x += 16;
    }
    x
}

fn offsettable(format: ffi::AVPixelFormat) -> bool {
    let desc = unsafe { ffi::av_pix_fmt_desc_get(format) };
    if desc.is_null() {
        return false;
    }
    let flags = unsafe { (*desc).flags };
    let bad = (ffi::AV_PIX_FMT_FLAG_PAL
        | ffi::AV_PIX_FMT_FLAG_BITSTREAM
        | ffi::AV_PIX_FMT_FLAG_HWACCEL) as u64;
    flags & bad == 0
}
