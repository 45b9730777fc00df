//! Temporally consistent augmentation: one set of random parameters per view,
//! applied identically to every frame of it (MoCo v2 / CVRL recipe).
//!
//! Semantics follow torchvision's transforms (RandomResizedCrop, ColorJitter
//! with a random order of its four adjustments, RandomGrayscale, GaussianBlur,
//! RandomHorizontalFlip) applied to a (T, C, H, W) float clip. In particular
//! ColorJitter's contrast pivots on the mean grey of each frame, as
//! torchvision's adjust_contrast does for a batch of images: every frame keeps
//! its own mean luminance, so the jitter neither adds nor amplifies changes of
//! brightness over time (a pivot shared by the whole clip scales them by the
//! contrast factor), and the pivot is found in one pass over a frame that is
//! still in cache.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::convert::CropBox;

#[cfg(target_arch = "x86_64")]
mod fast;

#[derive(Clone, Debug, PartialEq)]
pub struct AugmentConfig {
    /// Output side in pixels (square).
    pub size: u32,
    /// Crop area as a fraction of the frame area.
    pub scale: (f64, f64),
    /// Crop aspect ratio (width / height) range.
    pub ratio: (f64, f64),
    pub flip_p: f64,
    pub jitter_p: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
    pub grayscale_p: f64,
    pub blur_p: f64,
    pub blur_sigma: (f64, f64),
}

impl Default for AugmentConfig {
    /// MoCo v2 defaults at 112 x 112.
    fn default() -> Self {
        AugmentConfig {
            size: 112,
            scale: (0.2, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_p: 0.5,
            jitter_p: 0.8,
            brightness: 0.4,
            contrast: 0.4,
            saturation: 0.4,
            hue: 0.1,
            grayscale_p: 0.2,
            blur_p: 0.5,
            blur_sigma: (0.1, 2.0),
        }
    }
}

impl AugmentConfig {
    /// No augmentation: the whole frame resized to `size`.
    pub fn none(size: u32) -> Self {
        AugmentConfig {
            size,
            scale: (1.0, 1.0),
            ratio: (0.0, f64::INFINITY),
            flip_p: 0.0,
            jitter_p: 0.0,
            brightness: 0.0,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.0,
            grayscale_p: 0.0,
            blur_p: 0.0,
            blur_sigma: (0.1, 2.0),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let in_unit = |p: f64| (0.0..=1.0).contains(&p);
        if self.size == 0 || self.size > 4096 {
            return Err(format!("size must be in 1..=4096, got {}", self.size));
        }
        if !(self.scale.0 > 0.0 && self.scale.0 <= self.scale.1 && self.scale.1 <= 1.0) {
            return Err(format!(
                "scale must satisfy 0 < lo <= hi <= 1, got {:?}",
                self.scale
            ));
        }
        if !(self.ratio.0 >= 0.0 && self.ratio.0 <= self.ratio.1) {
            return Err(format!(
                "ratio must satisfy 0 <= lo <= hi, got {:?}",
                self.ratio
            ));
        }
        for (name, p) in [
            ("flip_p", self.flip_p),
            ("jitter_p", self.jitter_p),
            ("grayscale_p", self.grayscale_p),
            ("blur_p", self.blur_p),
        ] {
            if !in_unit(p) {
                return Err(format!("{name} must be a probability, got {p}"));
            }
        }
        for (name, v) in [
            ("brightness", self.brightness),
            ("contrast", self.contrast),
            ("saturation", self.saturation),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be in [0, 1], got {v}"));
            }
        }
        if !(0.0..=0.5).contains(&self.hue) {
            return Err(format!("hue must be in [0, 0.5], got {}", self.hue));
        }
        if !(self.blur_sigma.0 > 0.0 && self.blur_sigma.0 <= self.blur_sigma.1) {
            return Err(format!(
                "blur_sigma must satisfy 0 < lo <= hi, got {:?}",
                self.blur_sigma
            ));
        }
        Ok(())
    }

    /// Draw the parameters of one view of a `width` x `height` video.
    pub fn sample<R: Rng>(&self, width: u32, height: u32, rng: &mut R) -> ViewParams {
        let crop = self.sample_crop(width, height, rng);
        let flip = rng.gen::<f64>() < self.flip_p;
        let jitter = if rng.gen::<f64>() < self.jitter_p {
            let mut factor = |amount: f64| {
                if amount > 0.0 {
                    rng.gen_range((1.0 - amount).max(0.0)..=1.0 + amount)
                } else {
                    1.0
                }
            };
            let brightness = factor(self.brightness);
            let contrast = factor(self.contrast);
            let saturation = factor(self.saturation);
            let hue = if self.hue > 0.0 {
                rng.gen_range(-self.hue..=self.hue)
            } else {
                0.0
            };
            let mut order = [0u8, 1, 2, 3];
            order.shuffle(rng);
            Some(Jitter {
                brightness: brightness as f32,
                contrast: contrast as f32,
                saturation: saturation as f32,
                hue: hue as f32,
                order,
            })
        } else {
            None
        };
        let grayscale = rng.gen::<f64>() < self.grayscale_p;
        let blur_sigma = if rng.gen::<f64>() < self.blur_p {
            Some(rng.gen_range(self.blur_sigma.0..=self.blur_sigma.1) as f32)
        } else {
            None
        };
        ViewParams {
            crop,
            flip,
            jitter,
            grayscale,
            blur_sigma,
            blur_radius: blur_radius(self.size),
        }
    }

    /// torchvision's RandomResizedCrop.get_params: ten tries at a box of the
    /// drawn area and aspect ratio, else a central crop of clamped aspect.
    fn sample_crop<R: Rng>(&self, width: u32, height: u32, rng: &mut R) -> CropBox {
        let (w_f, h_f) = (width as f64, height as f64);
        let area = w_f * h_f;
        let (log_lo, log_hi) = (self.ratio.0.max(1e-9).ln(), self.ratio.1.min(1e9).ln());
        for _ in 0..10 {
            let target = area * rng.gen_range(self.scale.0..=self.scale.1);
            let aspect = if log_hi > log_lo {
                rng.gen_range(log_lo..=log_hi).exp()
            } else {
                log_lo.exp()
            };
            let w = (target * aspect).sqrt().round() as u32;
            let h = (target / aspect).sqrt().round() as u32;
            if w > 0 && w <= width && h > 0 && h <= height {
                let x = rng.gen_range(0..=width - w);
                let y = rng.gen_range(0..=height - h);
                return CropBox { x, y, w, h };
            }
        }
        let in_ratio = w_f / h_f;
        let (w, h) = if in_ratio < self.ratio.0 {
            (
                width,
                ((w_f / self.ratio.0).round() as u32).clamp(1, height),
            )
        } else if in_ratio > self.ratio.1 {
            (
                ((h_f * self.ratio.1).round() as u32).clamp(1, width),
                height,
            )
        } else {
            (width, height)
        };
        CropBox {
            x: (width - w) / 2,
            y: (height - h) / 2,
            w,
            h,
        }
    }
}

/// MoCo v2 blurs with a kernel of about a tenth of the image side (23 at 224).
fn blur_radius(size: u32) -> usize {
    let k = ((size as f64 * 0.1) as usize) | 1;
    (k / 2).max(1)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
    pub hue: f32,
    /// Order of the adjustments: 0 brightness, 1 contrast, 2 saturation, 3 hue.
    pub order: [u8; 4],
}

/// The random parameters of one view, shared by all its frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewParams {
    pub crop: CropBox,
    pub flip: bool,
    pub jitter: Option<Jitter>,
    pub grayscale: bool,
    pub blur_sigma: Option<f32>,
    pub blur_radius: usize,
}

impl ViewParams {
    /// Parameters that only resize the whole frame.
    pub fn identity(width: u32, height: u32, size: u32) -> Self {
        ViewParams {
            crop: CropBox {
                x: 0,
                y: 0,
                w: width,
                h: height,
            },
            flip: false,
            jitter: None,
            grayscale: false,
            blur_sigma: None,
            blur_radius: blur_radius(size),
        }
    }

    /// MoCo v2's kernel spans a tenth of the image; taps beyond 3 sigma (under
    /// 0.3% of the weight) are dropped, which matters for small sigma.
    fn blur_kernel(&self, size: usize) -> Option<Vec<f32>> {
        self.blur_sigma.map(|sigma| {
            let radius = self
                .blur_radius
                .min((3.0 * sigma).ceil() as usize)
                .min(size.saturating_sub(1))
                .max(1);
            gaussian_kernel(sigma, radius)
        })
    }

    /// Apply flip, colour jitter, grayscale and blur to a view: `frames` holds
    /// T frames of `size` x `size` RGB24, already cropped and scaled.
    pub fn apply(&self, frames: &mut [u8], size: usize) {
        let frame_len = size * size * 3;
        debug_assert_eq!(frames.len() % frame_len, 0);
        if self.flip {
            for frame in frames.chunks_exact_mut(frame_len) {
                flip_horizontal(frame, size);
            }
        }
        if self.jitter.is_none() && !self.grayscale && self.blur_sigma.is_none() {
            return;
        }
        let kernel = self.blur_kernel(size);
        let work = FrameWork {
            jitter: self.jitter,
            grayscale: self.grayscale,
            kernel: kernel.as_deref(),
            size,
        };
        process_view(&work, frames, None);
    }

    /// Apply the view's augmentation to frames given as planar YUV 4:4:4
    /// (`yuv`: T frames of Y, U, V planes of size x size, BT.601, full or
    /// limited range), writing T RGB24 frames to `out`. The conversion to RGB
    /// happens in the float stage, fused with the colour operations. The flip
    /// is done on the YUV planes: `mirrored` says they already are
    /// (`RgbConverter::crop_scale_yuv444` mirrors as it copies), otherwise
    /// `yuv` is flipped here, in place.
    pub fn apply_yuv(
        &self,
        yuv: &mut [u8],
        mirrored: bool,
        full_range: bool,
        out: &mut [u8],
        size: usize,
    ) {
        debug_assert_eq!(yuv.len(), out.len());
        if self.flip && !mirrored {
            for row in yuv.chunks_exact_mut(size) {
                row.reverse();
            }
        }
        let kernel = self.blur_kernel(size);
        let work = FrameWork {
            jitter: self.jitter,
            grayscale: self.grayscale,
            kernel: kernel.as_deref(),
            size,
        };
        process_view(&work, out, Some((&*yuv, full_range)));
    }
}

/// The colour and blur work of one view.
struct FrameWork<'a> {
    jitter: Option<Jitter>,
    grayscale: bool,
    kernel: Option<&'a [f32]>,
    size: usize,
}

// The frame buffer and the blur's scratch are kept per thread: a fresh frame
// buffer would be allocated and zeroed for every view.
thread_local! {
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const {
        std::cell::RefCell::new((Vec::new(), Vec::new()))
    };
}

/// Runs the view with AVX2 and FMA where the processor has them, else with
/// the baseline instruction set (`STDANN_ISA` can narrow the choice; see
/// `stdann_isa`). With AVX2, YUV views without blur take the
/// register-resident path in [`fast`]; the rest take the chunked path (plain
/// Rust loops, which AVX2 only lets the compiler vectorise wider).
fn process_view(work: &FrameWork, frames: &mut [u8], yuv: Option<(&[u8], bool)>) {
    #[cfg(target_arch = "x86_64")]
    {
        let isa = stdann_isa::Isa::selected();
        if isa >= stdann_isa::Isa::Avx2 {
            let npix = work.size * work.size;
            if let Some((planes, full_range)) = yuv {
                if fast::applies(npix, work.kernel.is_some()) {
                    let (jitter, first, second) = split_ops(work);
                    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
                    // SAFETY: the selected set, AVX2 or wider, never exceeds what
                    // the CPU reported; `applies` holds.
                    unsafe {
                        fast::view_yuv(
                            planes,
                            full_range,
                            frames,
                            npix,
                            &jitter,
                            &first,
                            second.as_deref(),
                            &mut scratch.0,
                            isa == stdann_isa::Isa::Avx512,
                        )
                    };
                    SCRATCH.with(|s| *s.borrow_mut() = scratch);
                    return;
                }
            }
            // SAFETY: the selected set (AVX2 and FMA or wider) never exceeds
            // what the CPU reported.
            unsafe { process_view_avx2(work, frames, yuv) };
            return;
        }
    }
    process_view_generic::<false>(work, frames, yuv);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn process_view_avx2(work: &FrameWork, frames: &mut [u8], yuv: Option<(&[u8], bool)>) {
    process_view_generic::<true>(work, frames, yuv);
}

/// Pixels per chunk: three float planes of a chunk stay in L1 while every
/// colour operation runs over them as a straight, vectorised loop.
const CHUNK: usize = 64;

type Chunk = [f32; CHUNK];

/// The view's colour operations in order, split where the contrast pivot is
/// needed: those before it (the first pass over a frame) and, if contrast is
/// applied, those from contrast on (a second pass, over the frame buffer). Op
/// 4 is the grayscale, after every jitter adjustment. Adjustments whose
/// factor leaves the image unchanged are left out.
fn split_ops(work: &FrameWork) -> (Jitter, Vec<u8>, Option<Vec<u8>>) {
    let ops: Vec<u8> = work.jitter.map_or_else(Vec::new, |j| {
        j.order
            .iter()
            .copied()
            .filter(|&op| match op {
                0 => j.brightness != 1.0,
                1 => j.contrast != 1.0,
                2 => j.saturation != 1.0,
                _ => j.hue != 0.0,
            })
            .collect()
    });
    let jitter = work.jitter.unwrap_or(Jitter {
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
        hue: 0.0,
        order: [0, 1, 2, 3],
    });
    let gray = work.grayscale.then_some(4u8);
    let (first, second) = match ops.iter().position(|&o| o == 1) {
        Some(pos) => (
            ops[..pos].to_vec(),
            Some(ops[pos..].iter().copied().chain(gray).collect()),
        ),
        None => (ops.iter().copied().chain(gray).collect(), None),
    };
    (jitter, first, second)
}

/// Frame by frame, chunk by chunk: colour operations run on L1-resident
/// planar chunks. A frame goes through a float frame buffer (which stays in
/// L2) only when it needs the whole frame: the contrast pivot is the mean
/// grey of the frame at the point where contrast comes in the jitter order,
/// and the blur works on whole planes.
#[inline(always)]
fn process_view_generic<const SIMD: bool>(
    work: &FrameWork,
    frames: &mut [u8],
    yuv: Option<(&[u8], bool)>,
) {
    let npix = work.size * work.size;
    let frame_len = npix * 3;
    let source = PixelSource {
        yuv,
        npix,
        frame_len,
    };
    let (jitter, first, second) = split_ops(work);
    let (mut r, mut g, mut b): (Chunk, Chunk, Chunk) = ([0.0; CHUNK], [0.0; CHUNK], [0.0; CHUNK]);
    let buffered = second.is_some() || work.kernel.is_some();
    let mut scratch = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let (planes, tmp) = &mut scratch;
    planes.resize(if buffered { frame_len } else { 0 }, 0.0);
    for (f, frame) in frames.chunks_exact_mut(frame_len).enumerate() {
        let mut sum = 0f64;
        for start in (0..npix).step_by(CHUNK) {
            let n = CHUNK.min(npix - start);
            source.load::<SIMD>(frame, f, start, n, &mut r, &mut g, &mut b);
            apply_ops(&first, &jitter, 0.0, &mut r, &mut g, &mut b);
            if second.is_some() {
                sum += luma_sum(&r, &g, &b, n) as f64;
            }
            if buffered {
                store_planes(planes, npix, start, n, &r, &g, &b);
            } else {
                store_chunk::<SIMD>(&r, &g, &b, &mut frame[start * 3..(start + n) * 3]);
            }
        }
        if let Some(second) = &second {
            let mean = (sum / npix as f64) as f32;
            for start in (0..npix).step_by(CHUNK) {
                let n = CHUNK.min(npix - start);
                load_planes(planes, npix, start, n, &mut r, &mut g, &mut b);
                apply_ops(second, &jitter, mean, &mut r, &mut g, &mut b);
                if work.kernel.is_some() {
                    store_planes(planes, npix, start, n, &r, &g, &b);
                } else {
                    store_chunk::<SIMD>(&r, &g, &b, &mut frame[start * 3..(start + n) * 3]);
                }
            }
        }
        if let Some(kernel) = work.kernel {
            for plane in planes.chunks_exact_mut(npix) {
                blur_plane::<SIMD>(plane, tmp, work.size, kernel);
            }
            for start in (0..npix).step_by(CHUNK) {
                let n = CHUNK.min(npix - start);
                load_planes(planes, npix, start, n, &mut r, &mut g, &mut b);
                store_chunk::<SIMD>(&r, &g, &b, &mut frame[start * 3..(start + n) * 3]);
            }
        }
    }
    SCRATCH.with(|s| *s.borrow_mut() = scratch);
}

/// Sum of the luma of the first n pixels of a chunk, in eight interleaved
/// partial sums so that the loop vectorises (a single running sum is one long
/// chain of dependent additions).
#[inline(always)]
fn luma_sum(r: &Chunk, g: &Chunk, b: &Chunk, n: usize) -> f32 {
    let mut acc = [0f32; 8];
    if n == CHUNK {
        for i in (0..CHUNK).step_by(8) {
            for l in 0..8 {
                acc[l] += luma(r[i + l], g[i + l], b[i + l]);
            }
        }
    } else {
        for i in 0..n {
            acc[i % 8] += luma(r[i], g[i], b[i]);
        }
    }
    acc.iter().sum()
}

/// Pixels start..start+n of a frame's float R, G, B planes (`npix` apart) into chunks.
#[inline(always)]
fn load_planes(
    planes: &[f32],
    npix: usize,
    start: usize,
    n: usize,
    r: &mut Chunk,
    g: &mut Chunk,
    b: &mut Chunk,
) {
    if n == CHUNK {
        // Fixed-size copies compile to vector moves rather than memcpy calls.
        *r = planes[start..start + CHUNK].try_into().unwrap();
        *g = planes[npix + start..npix + start + CHUNK]
            .try_into()
            .unwrap();
        *b = planes[2 * npix + start..2 * npix + start + CHUNK]
            .try_into()
            .unwrap();
        return;
    }
    r[..n].copy_from_slice(&planes[start..start + n]);
    g[..n].copy_from_slice(&planes[npix + start..npix + start + n]);
    b[..n].copy_from_slice(&planes[2 * npix + start..2 * npix + start + n]);
}

/// Chunks back into pixels start..start+n of a frame's float planes.
#[inline(always)]
fn store_planes(
    planes: &mut [f32],
    npix: usize,
    start: usize,
    n: usize,
    r: &Chunk,
    g: &Chunk,
    b: &Chunk,
) {
    if n == CHUNK {
        <&mut Chunk>::try_from(&mut planes[start..start + CHUNK])
            .unwrap()
            .copy_from_slice(r);
        <&mut Chunk>::try_from(&mut planes[npix + start..npix + start + CHUNK])
            .unwrap()
            .copy_from_slice(g);
        <&mut Chunk>::try_from(&mut planes[2 * npix + start..2 * npix + start + CHUNK])
            .unwrap()
            .copy_from_slice(b);
        return;
    }
    planes[start..start + n].copy_from_slice(&r[..n]);
    planes[npix + start..npix + start + n].copy_from_slice(&g[..n]);
    planes[2 * npix + start..2 * npix + start + n].copy_from_slice(&b[..n]);
}

/// Where a view's pixels are read from: its RGB24 frames themselves, or
/// planar YUV 4:4:4 frames (with their range) beside them.
struct PixelSource<'a> {
    yuv: Option<(&'a [u8], bool)>,
    npix: usize,
    frame_len: usize,
}

impl PixelSource<'_> {
    /// Pixels start..start+n of frame `f` (whose RGB24 bytes are `frame`) as
    /// planar floats in [0, 1].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn load<const SIMD: bool>(
        &self,
        frame: &[u8],
        f: usize,
        start: usize,
        n: usize,
        r: &mut Chunk,
        g: &mut Chunk,
        b: &mut Chunk,
    ) {
        match self.yuv {
            Some((planes, full)) => load_chunk_yuv::<SIMD>(
                &planes[f * self.frame_len..],
                self.npix,
                start,
                n,
                full,
                r,
                g,
                b,
            ),
            None => load_chunk::<SIMD>(&frame[start * 3..(start + n) * 3], r, g, b),
        }
    }
}

/// Interleaved RGB bytes (at most CHUNK pixels) to planar floats in [0, 1].
/// Full chunks go through fixed-size arrays, which the compiler turns into
/// vector shuffles; only a frame's last partial chunk takes the scalar loop.
#[inline(always)]
fn load_chunk<const SIMD: bool>(px: &[u8], r: &mut Chunk, g: &mut Chunk, b: &mut Chunk) {
    const S: f32 = 1.0 / 255.0;
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        if let Ok(full) = <&[u8; 3 * CHUNK]>::try_from(px) {
            // SAFETY: SIMD is only true on the path taken after AVX2 was detected.
            unsafe { simd::load_chunk(full, r, g, b) };
            return;
        }
    }
    if let Ok(full) = <&[u8; 3 * CHUNK]>::try_from(px) {
        for i in 0..CHUNK {
            r[i] = full[3 * i] as f32 * S;
            g[i] = full[3 * i + 1] as f32 * S;
            b[i] = full[3 * i + 2] as f32 * S;
        }
        return;
    }
    for (i, p) in px.chunks_exact(3).enumerate() {
        r[i] = p[0] as f32 * S;
        g[i] = p[1] as f32 * S;
        b[i] = p[2] as f32 * S;
    }
}

/// (y0, ys, cs) of a YUV range: Y' = (Y - y0) ys, C' = (C - 128) cs.
fn yuv_range(full_range: bool) -> (f32, f32, f32) {
    if full_range {
        (0.0, 1.0 / 255.0, 1.0 / 255.0)
    } else {
        (16.0, 1.0 / 219.0, 1.0 / 224.0)
    }
}

/// Pixels start..start+n of one frame of planar YUV 4:4:4 (`planes` starts at
/// the frame's Y plane; U and V follow, `npix` apart) to RGB floats in [0, 1],
/// with the BT.601 matrix swscale uses by default, in full or limited range.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn load_chunk_yuv<const SIMD: bool>(
    planes: &[u8],
    npix: usize,
    start: usize,
    n: usize,
    full_range: bool,
    r: &mut Chunk,
    g: &mut Chunk,
    b: &mut Chunk,
) {
    // Y' = (Y - y0) ys, C' = (C - 128) cs, then R = Y' + 1.402 V',
    // G = Y' - 0.344136 U' - 0.714136 V', B = Y' + 1.772 U' (ITU-R BT.601).
    let (y0, ys, cs) = yuv_range(full_range);
    #[inline(always)]
    fn convert(y: u8, u: u8, v: u8, k: (f32, f32, f32)) -> (f32, f32, f32) {
        let (y0, ys, cs) = k;
        let yy = (y as f32 - y0) * ys;
        let uu = (u as f32 - 128.0) * cs;
        let vv = (v as f32 - 128.0) * cs;
        (
            (yy + 1.402 * vv).clamp(0.0, 1.0),
            (yy - 0.344_136 * uu - 0.714_136 * vv).clamp(0.0, 1.0),
            (yy + 1.772 * uu).clamp(0.0, 1.0),
        )
    }
    let k = (y0, ys, cs);
    let y = &planes[start..start + n];
    let u = &planes[npix + start..npix + start + n];
    let v = &planes[2 * npix + start..2 * npix + start + n];
    if let (Ok(y), Ok(u), Ok(v)) = (
        <&[u8; CHUNK]>::try_from(y),
        <&[u8; CHUNK]>::try_from(u),
        <&[u8; CHUNK]>::try_from(v),
    ) {
        #[cfg(target_arch = "x86_64")]
        if SIMD {
            // SAFETY: SIMD is only true on the path taken after AVX2 and FMA were detected.
            unsafe { simd::load_chunk_yuv(y, u, v, full_range, r, g, b) };
            return;
        }
        for i in 0..CHUNK {
            (r[i], g[i], b[i]) = convert(y[i], u[i], v[i], k);
        }
        return;
    }
    for i in 0..n {
        (r[i], g[i], b[i]) = convert(y[i], u[i], v[i], k);
    }
}

/// Planar floats back to interleaved RGB bytes, rounded, for the pixels of `px`.
#[inline(always)]
fn store_chunk<const SIMD: bool>(r: &Chunk, g: &Chunk, b: &Chunk, px: &mut [u8]) {
    #[inline(always)]
    fn to_u8(v: f32) -> u8 {
        (v * 255.0 + 0.5).clamp(0.0, 255.0) as u8
    }
    #[cfg(target_arch = "x86_64")]
    if SIMD {
        if let Ok(full) = <&mut [u8; 3 * CHUNK]>::try_from(&mut *px) {
            // SAFETY: SIMD is only true on the path taken after AVX2 was detected.
            unsafe { simd::store_chunk(r, g, b, full) };
            return;
        }
    }
    if let Ok(full) = <&mut [u8; 3 * CHUNK]>::try_from(&mut *px) {
        for i in 0..CHUNK {
            full[3 * i] = to_u8(r[i]);
            full[3 * i + 1] = to_u8(g[i]);
            full[3 * i + 2] = to_u8(b[i]);
        }
        return;
    }
    for (i, p) in px.chunks_exact_mut(3).enumerate() {
        p[0] = to_u8(r[i]);
        p[1] = to_u8(g[i]);
        p[2] = to_u8(b[i]);
    }
}

/// Apply `ops` in order to a chunk, eight pixels at a time: the eight values
/// of each channel stay in registers through all the operations instead of
/// going back to the chunk after each one.
#[inline(always)]
fn apply_ops(ops: &[u8], j: &Jitter, mean: f32, r: &mut Chunk, g: &mut Chunk, b: &mut Chunk) {
    if ops.is_empty() {
        return;
    }
    for i in (0..CHUNK).step_by(8) {
        let mut r8: [f32; 8] = r[i..i + 8].try_into().unwrap();
        let mut g8: [f32; 8] = g[i..i + 8].try_into().unwrap();
        let mut b8: [f32; 8] = b[i..i + 8].try_into().unwrap();
        for &op in ops {
            apply_op(op, j, mean, &mut r8, &mut g8, &mut b8);
        }
        r[i..i + 8].copy_from_slice(&r8);
        g[i..i + 8].copy_from_slice(&g8);
        b[i..i + 8].copy_from_slice(&b8);
    }
}

/// One operation on equal-length channel slices: 0 brightness, 1 contrast
/// (about `mean`), 2 saturation, 3 hue (the ColorJitter adjustments), 4 grayscale.
#[inline(always)]
fn apply_op(op: u8, j: &Jitter, mean: f32, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    match op {
        0 => {
            for c in [r, g, b] {
                scale_clamped(c, j.brightness);
            }
        }
        1 => {
            for c in [r, g, b] {
                adjust_contrast(c, j.contrast, mean);
            }
        }
        2 => adjust_saturation(r, g, b, j.saturation),
        3 => adjust_hue(r, g, b, j.hue),
        _ => {
            for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
                let y = luma(*r, *g, *b);
                (*r, *g, *b) = (y, y, y);
            }
        }
    }
}

fn flip_horizontal(frame: &mut [u8], size: usize) {
    for row in frame.chunks_exact_mut(size * 3) {
        for x in 0..size / 2 {
            let (a, b) = (x * 3, (size - 1 - x) * 3);
            row.swap(a, b);
            row.swap(a + 1, b + 1);
            row.swap(a + 2, b + 2);
        }
    }
}

/// ITU-R 601 luma, the weights torchvision's rgb_to_grayscale uses.
#[inline(always)]
fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.2989 * r + 0.587 * g + 0.114 * b
}

#[inline(always)]
fn scale_clamped(buf: &mut [f32], factor: f32) {
    for v in buf {
        *v = (*v * factor).clamp(0.0, 1.0);
    }
}

#[inline(always)]
fn adjust_contrast(buf: &mut [f32], factor: f32, mean: f32) {
    let offset = (1.0 - factor) * mean;
    for v in buf {
        *v = (*v * factor + offset).clamp(0.0, 1.0);
    }
}

#[inline(always)]
fn adjust_saturation(r: &mut [f32], g: &mut [f32], b: &mut [f32], factor: f32) {
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let y = (1.0 - factor) * luma(*r, *g, *b);
        *r = (*r * factor + y).clamp(0.0, 1.0);
        *g = (*g * factor + y).clamp(0.0, 1.0);
        *b = (*b * factor + y).clamp(0.0, 1.0);
    }
}

/// Rotate hue in HSV space by `shift` turns, as torchvision's adjust_hue.
///
/// Written without per-pixel branches on the hue sector (the textbook HSV
/// round trip was the slowest colour operation): value and saturation are
/// kept, so the result is min + (max - min) * the piecewise-linear channel
/// profile of the new hue. The textbook version is the reference in the tests.
#[inline(always)]
fn adjust_hue(r: &mut [f32], g: &mut [f32], b: &mut [f32], shift: f32) {
    if shift == 0.0 {
        return;
    }
    let s6 = shift * 6.0;
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let (rv, gv, bv) = (*r, *g, *b);
        let maxc = rv.max(gv).max(bv);
        let minc = rv.min(gv).min(bv);
        let delta = maxc - minc;
        let inv = 1.0 / delta.max(1e-12);
        // Hue in sixths of a turn, from whichever channel is the maximum.
        let h_r = (gv - bv) * inv;
        let h_g = (bv - rv) * inv + 2.0;
        let h_b = (rv - gv) * inv + 4.0;
        let h = if maxc == rv {
            h_r
        } else if maxc == gv {
            h_g
        } else {
            h_b
        };
        // h is in [-1, 5) and |shift| <= half a turn: one wrap suffices (no fmod).
        let h = h + s6;
        let h = h + if h < 0.0 { 6.0 } else { 0.0 } - if h >= 6.0 { 6.0 } else { 0.0 };
        let red = ((h - 3.0).abs() - 1.0).clamp(0.0, 1.0);
        let green = (2.0 - (h - 2.0).abs()).clamp(0.0, 1.0);
        let blue = (2.0 - (h - 4.0).abs()).clamp(0.0, 1.0);
        *r = minc + delta * red;
        *g = minc + delta * green;
        *b = minc + delta * blue;
    }
}

fn gaussian_kernel(sigma: f32, radius: usize) -> Vec<f32> {
    let mut k: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let x = i as f32 - radius as f32;
            (-x * x / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Reflect an out-of-range coordinate back inside 0..n (torchvision pads by reflection).
#[inline(always)]
fn reflect(i: isize, n: isize) -> usize {
    let mut i = i;
    if i < 0 {
        i = -i;
    }
    if i >= n {
        i = 2 * (n - 1) - i;
    }
    i.clamp(0, n - 1) as usize
}

/// Separable Gaussian blur of one size x size plane, in place. Both passes
/// keep a block of outputs in registers across all taps (one load and one
/// multiply-add per tap and vector, one store per block); the block is wide
/// enough (eight vectors) that the multiply-adds of one tap do not wait on
/// each other. Rows are padded by reflection, as torchvision pads. `FMA`
/// fuses each multiply-add (only on the path where the processor has FMA;
/// elsewhere `mul_add` would be a slow library call).
#[inline(always)]
fn blur_plane<const FMA: bool>(plane: &mut [f32], tmp: &mut Vec<f32>, size: usize, kernel: &[f32]) {
    const LANES: usize = 64;
    #[inline(always)]
    fn madd<const FMA: bool>(acc: &mut [f32; LANES], w: f32, src: &[f32; LANES]) {
        for l in 0..LANES {
            acc[l] = if FMA {
                w.mul_add(src[l], acc[l])
            } else {
                acc[l] + w * src[l]
            };
        }
    }
    let r = kernel.len() / 2;
    let n = size as isize;
    let stride = size.next_multiple_of(LANES);
    tmp.clear();
    tmp.resize(stride * size, 0.0);
    // Horizontal pass into tmp (rows `stride` wide, the tail beyond size unused).
    let mut padded = vec![0f32; stride + 2 * r + LANES];
    for y in 0..size {
        let row = &plane[y * size..(y + 1) * size];
        padded[r..r + size].copy_from_slice(row);
        for i in 0..r {
            padded[r - 1 - i] = row[reflect(-(i as isize) - 1, n)];
            padded[r + size + i] = row[reflect(n + i as isize, n)];
        }
        for x0 in (0..size).step_by(LANES) {
            let mut acc = [0f32; LANES];
            for (k, &w) in kernel.iter().enumerate() {
                let src: &[f32; LANES] = padded[x0 + k..x0 + k + LANES].try_into().unwrap();
                madd::<FMA>(&mut acc, w, src);
            }
            tmp[y * stride + x0..y * stride + x0 + LANES].copy_from_slice(&acc);
        }
    }
    // Vertical pass back into the plane.
    let mut rows = vec![0usize; kernel.len()];
    let mut acc_row = vec![0f32; stride];
    for y in 0..size {
        for (k, row) in rows.iter_mut().enumerate() {
            *row = reflect(y as isize + k as isize - r as isize, n) * stride;
        }
        for x0 in (0..stride).step_by(LANES) {
            let mut acc = [0f32; LANES];
            for (&w, &row) in kernel.iter().zip(&rows) {
                let src: &[f32; LANES] = tmp[row + x0..row + x0 + LANES].try_into().unwrap();
                madd::<FMA>(&mut acc, w, src);
            }
            acc_row[x0..x0 + LANES].copy_from_slice(&acc);
        }
        plane[y * size..(y + 1) * size].copy_from_slice(&acc_row[..size]);
    }
}

/// Interleaved RGB24 <-> planar float conversion with byte shuffles: eight
/// pixels (24 bytes) per step. The compiler does not find these shuffles for
/// a stride-3 layout, and conversion was half the cost of a jittered view.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{Chunk, CHUNK};
    use std::arch::x86_64::*;

    /// Byte positions of R, G and B of pixels 0..5 in bytes 0..16, and of
    /// pixels 5..8 in bytes 8..24 (read as a second, overlapping load).
    const LO: [[i8; 16]; 3] = [
        [0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
        [1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
        [2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    ];
    const HI: [[i8; 16]; 3] = [
        [
            -1, -1, -1, -1, -1, -1, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1,
        ],
        [
            -1, -1, -1, -1, -1, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1,
        ],
        [
            -1, -1, -1, -1, -1, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1,
        ],
    ];

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn load_chunk(
        px: &[u8; 3 * CHUNK],
        r: &mut Chunk,
        g: &mut Chunk,
        b: &mut Chunk,
    ) {
        let scale = _mm256_set1_ps(1.0 / 255.0);
        let masks_lo = LO.map(|m| _mm_loadu_si128(m.as_ptr() as *const __m128i));
        let masks_hi = HI.map(|m| _mm_loadu_si128(m.as_ptr() as *const __m128i));
        let outs = [r.as_mut_ptr(), g.as_mut_ptr(), b.as_mut_ptr()];
        for block in 0..CHUNK / 8 {
            let p = px.as_ptr().add(block * 24);
            let lo = _mm_loadu_si128(p as *const __m128i);
            let hi = _mm_loadu_si128(p.add(8) as *const __m128i);
            for c in 0..3 {
                let bytes = _mm_or_si128(
                    _mm_shuffle_epi8(lo, masks_lo[c]),
                    _mm_shuffle_epi8(hi, masks_hi[c]),
                );
                let f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
                _mm256_storeu_ps(outs[c].add(block * 8), _mm256_mul_ps(f, scale));
            }
        }
    }

    /// Planar YUV bytes to RGB floats in [0, 1], eight pixels per step.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn load_chunk_yuv(
        y: &[u8; CHUNK],
        u: &[u8; CHUNK],
        v: &[u8; CHUNK],
        full_range: bool,
        r: &mut Chunk,
        g: &mut Chunk,
        b: &mut Chunk,
    ) {
        let k = super::fast::Yuv::<super::fast::Avx2>::new(full_range);
        for i in (0..CHUNK).step_by(8) {
            let (red, green, blue) = k.rgb(y.as_ptr().add(i), u.as_ptr().add(i), v.as_ptr().add(i));
            _mm256_storeu_ps(r.as_mut_ptr().add(i), red);
            _mm256_storeu_ps(g.as_mut_ptr().add(i), green);
            _mm256_storeu_ps(b.as_mut_ptr().add(i), blue);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn store_chunk(r: &Chunk, g: &Chunk, b: &Chunk, px: &mut [u8; 3 * CHUNK]) {
        let ins = [r.as_ptr(), g.as_ptr(), b.as_ptr()];
        for block in 0..CHUNK / 8 {
            let [r, g, b] = ins.map(|p| _mm256_loadu_ps(p.add(block * 8)));
            store8(r, g, b, &mut px[block * 24..]);
        }
    }

    /// Eight pixels of RGB floats in [0, 1] to 24 interleaved bytes at the
    /// start of `out`, rounded to nearest (ties away, as +0.5 then truncate).
    /// With room for 32 bytes, 8 bytes past the pixels are overwritten too
    /// (the caller writes them next).
    ///
    /// Values are clamped by the saturating packs rather than in float: a
    /// value below 0 truncates to 0 or less and one above 255 stays above
    /// (the float clamp this replaces gave the same bytes, with two more
    /// instructions per channel on the ports the shuffles need).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(super) unsafe fn store8(r: __m256, g: __m256, b: __m256, out: &mut [u8]) {
        // Checked in release builds too: the stores below are raw. One
        // predictable compare per 24 bytes written.
        assert!(out.len() >= 24, "store8 needs 24 bytes, got {}", out.len());
        let to_int = |v| {
            _mm256_cvttps_epi32(_mm256_fmadd_ps(
                v,
                _mm256_set1_ps(255.0),
                _mm256_set1_ps(0.5),
            ))
        };
        // Per 128-bit half: R0..3 G0..3 B0..3 B0..3 (pixels 0..3, then 4..7).
        let rg = _mm256_packus_epi32(to_int(r), to_int(g));
        let bb = _mm256_packus_epi32(to_int(b), to_int(b));
        let bytes = _mm256_packus_epi16(rg, bb);
        // Interleave each half's four pixels into its first 12 bytes, then
        // close the gap between the halves.
        let order = _mm256_setr_epi8(
            0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7,
            11, -1, -1, -1, -1,
        );
        let rgb = _mm256_permutevar8x32_epi32(
            _mm256_shuffle_epi8(bytes, order),
            _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7),
        );
        if out.len() >= 32 {
            _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, rgb);
        } else {
            _mm_storeu_si128(
                out.as_mut_ptr() as *mut __m128i,
                _mm256_castsi256_si128(rgb),
            );
            _mm_storel_epi64(
                out.as_mut_ptr().add(16) as *mut __m128i,
                _mm256_extracti128_si256(rgb, 1),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn crops_lie_inside_the_frame_with_configured_area_and_ratio() {
        let cfg = AugmentConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (w, h) = (320u32, 240u32);
        let mut in_range = 0;
        for _ in 0..2000 {
            let c = cfg.sample_crop(w, h, &mut rng);
            assert!(c.w >= 1 && c.h >= 1 && c.x + c.w <= w && c.y + c.h <= h);
            let frac = (c.w * c.h) as f64 / (w * h) as f64;
            let ratio = c.w as f64 / c.h as f64;
            if (0.18..=1.01).contains(&frac) && (0.72..=1.36).contains(&ratio) {
                in_range += 1;
            }
        }
        assert!(in_range > 1980, "{in_range}");
    }

    #[test]
    fn probabilities_match_the_configuration() {
        let cfg = AugmentConfig::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 20000;
        let (mut flips, mut jit, mut gray, mut blur) = (0, 0, 0, 0);
        for _ in 0..n {
            let p = cfg.sample(320, 240, &mut rng);
            flips += p.flip as usize;
            jit += p.jitter.is_some() as usize;
            gray += p.grayscale as usize;
            blur += p.blur_sigma.is_some() as usize;
            if let Some(j) = p.jitter {
                assert!((0.6..=1.4).contains(&j.brightness));
                assert!((-0.1..=0.1).contains(&j.hue));
                let mut o = j.order;
                o.sort();
                assert_eq!(o, [0, 1, 2, 3]);
            }
        }
        let frac = |k: usize| k as f64 / n as f64;
        assert!((frac(flips) - 0.5).abs() < 0.02);
        assert!((frac(jit) - 0.8).abs() < 0.02);
        assert!((frac(gray) - 0.2).abs() < 0.02);
        assert!((frac(blur) - 0.5).abs() < 0.02);
    }

    #[test]
    fn contrast_pivots_on_the_mean_grey_of_each_frame() {
        // Two frames, dark and bright, each half black and half at its level;
        // contrast 0 maps every pixel of a frame to that frame's mean grey.
        let size = 2;
        let mut frames = [[0u8; 6], [80u8; 6], [0u8; 6], [255u8; 6]].concat();
        let mut p = ViewParams::identity(2, 2, 2);
        p.jitter = Some(Jitter {
            brightness: 1.0,
            contrast: 0.0,
            saturation: 1.0,
            hue: 0.0,
            order: [1, 0, 2, 3],
        });
        p.apply(&mut frames, size);
        assert!(frames[..12].iter().all(|&v| v == 40), "{frames:?}");
        // torchvision's luma weights sum to 0.9999: half of 255 is 127.49.
        assert!(frames[12..].iter().all(|&v| v == 127), "{frames:?}");
    }

    #[test]
    fn flip_mirrors_every_frame() {
        let size = 4;
        let mut frames: Vec<u8> = (0..2 * size * size * 3).map(|i| i as u8).collect();
        let orig = frames.clone();
        let mut p = ViewParams::identity(4, 4, 4);
        p.flip = true;
        p.apply(&mut frames, size);
        for t in 0..2 {
            for y in 0..size {
                for x in 0..size {
                    for c in 0..3 {
                        let a = ((t * size + y) * size + x) * 3 + c;
                        let b = ((t * size + y) * size + (size - 1 - x)) * 3 + c;
                        assert_eq!(frames[a], orig[b]);
                    }
                }
            }
        }
    }

    /// The textbook HSV round trip (torchvision's adjust_hue), the reference.
    fn adjust_hue_reference(buf: &mut [f32], shift: f32) {
        if shift == 0.0 {
            return;
        }
        for px in buf.chunks_exact_mut(3) {
            let (r, g, b) = (px[0], px[1], px[2]);
            let maxc = r.max(g).max(b);
            let minc = r.min(g).min(b);
            let delta = maxc - minc;
            if delta <= 0.0 {
                continue;
            }
            let h = if maxc == r {
                ((g - b) / delta).rem_euclid(6.0)
            } else if maxc == g {
                (b - r) / delta + 2.0
            } else {
                (r - g) / delta + 4.0
            } / 6.0;
            let h = (h + shift).rem_euclid(1.0) * 6.0;
            let s = delta / maxc;
            let v = maxc;
            let i = (h.floor() as i32).rem_euclid(6);
            let f = h - h.floor();
            let p = v * (1.0 - s);
            let q = v * (1.0 - s * f);
            let t = v * (1.0 - s * (1.0 - f));
            let (nr, ng, nb) = match i {
                0 => (v, t, p),
                1 => (q, v, p),
                2 => (p, v, t),
                3 => (p, q, v),
                4 => (t, p, v),
                _ => (v, p, q),
            };
            px[0] = nr;
            px[1] = ng;
            px[2] = nb;
        }
    }

    fn hue_interleaved(buf: &mut [f32], shift: f32) {
        let mut r: Vec<f32> = buf.iter().step_by(3).copied().collect();
        let mut g: Vec<f32> = buf.iter().skip(1).step_by(3).copied().collect();
        let mut b: Vec<f32> = buf.iter().skip(2).step_by(3).copied().collect();
        adjust_hue(&mut r, &mut g, &mut b, shift);
        for (i, px) in buf.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[r[i], g[i], b[i]]);
        }
    }

    #[test]
    fn hue_shift_matches_the_textbook_hsv_round_trip() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut fast: Vec<f32> = (0..30000).map(|_| rng.gen::<f32>()).collect();
        // Include greys and saturated primaries.
        fast[..9].copy_from_slice(&[0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        for shift in [-0.1f32, -0.03, 0.01, 0.07, 0.1, 0.5] {
            let mut a = fast.clone();
            let mut b = fast.clone();
            hue_interleaved(&mut a, shift);
            adjust_hue_reference(&mut b, shift);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y} at shift {shift}");
            }
        }
    }

    #[test]
    fn hue_shift_of_a_full_turn_is_identity_and_grey_is_untouched() {
        let mut buf = vec![0.8f32, 0.2, 0.4, 0.5, 0.5, 0.5];
        let orig = buf.clone();
        hue_interleaved(&mut buf, 0.5);
        assert_ne!(buf[..3], orig[..3]);
        assert_eq!(buf[3..], orig[3..]);
        hue_interleaved(&mut buf, 0.5);
        for (a, b) in buf.iter().zip(&orig) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn blur_preserves_a_constant_image_and_smooths_an_edge() {
        let size = 16;
        let kernel = gaussian_kernel(1.5, 3);
        let mut flat = vec![0.3f32; size * size];
        let mut tmp = vec![0f32; size * size];
        blur_plane::<false>(&mut flat, &mut tmp, size, &kernel);
        assert!(flat.iter().all(|v| (v - 0.3).abs() < 1e-5));
        let mut edge: Vec<f32> = (0..size * size)
            .map(|i| if i % size < size / 2 { 0.0 } else { 1.0 })
            .collect();
        blur_plane::<false>(&mut edge, &mut tmp, size, &kernel);
        let v = edge[size / 2];
        assert!(v > 0.1 && v < 0.9);
        // Symmetric about the edge, and every row the same.
        assert!((edge[size / 2 - 1] + edge[size / 2] - 1.0).abs() < 1e-5);
        assert_eq!(edge[..size], edge[size * 5..size * 6]);
    }

    /// The augmentation written plainly over the whole view, interleaved, one
    /// operation at a time: the reference the chunked, planar code must match.
    fn apply_reference(p: &ViewParams, frames: &mut [u8], size: usize) {
        let frame_len = size * size * 3;
        if p.flip {
            for f in frames.chunks_exact_mut(frame_len) {
                flip_horizontal(f, size);
            }
        }
        let mut v: Vec<f32> = frames.iter().map(|&x| x as f32 / 255.0).collect();
        let luma3 = |px: &[f32]| 0.2989 * px[0] + 0.587 * px[1] + 0.114 * px[2];
        if let Some(j) = p.jitter {
            for op in j.order {
                match op {
                    0 => v
                        .iter_mut()
                        .for_each(|x| *x = (*x * j.brightness).clamp(0.0, 1.0)),
                    1 => {
                        for f in v.chunks_exact_mut(frame_len) {
                            let mean = f.chunks_exact(3).map(|px| luma3(px) as f64).sum::<f64>()
                                / (f.len() / 3) as f64;
                            let mean = mean as f32;
                            f.iter_mut().for_each(|x| {
                                *x = (*x * j.contrast + (1.0 - j.contrast) * mean).clamp(0.0, 1.0)
                            });
                        }
                    }
                    2 => v.chunks_exact_mut(3).for_each(|px| {
                        let y = luma3(px);
                        px.iter_mut().for_each(|x| {
                            *x = (*x * j.saturation + (1.0 - j.saturation) * y).clamp(0.0, 1.0)
                        });
                    }),
                    _ => adjust_hue_reference(&mut v, j.hue),
                }
            }
        }
        if p.grayscale {
            v.chunks_exact_mut(3).for_each(|px| {
                let y = luma3(px);
                px.fill(y);
            });
        }
        if let Some(sigma) = p.blur_sigma {
            let radius = p
                .blur_radius
                .min((3.0 * sigma).ceil() as usize)
                .min(size - 1)
                .max(1);
            let k = gaussian_kernel(sigma, radius);
            let r = radius as isize;
            let n = size as isize;
            for f in v.chunks_exact_mut(frame_len) {
                let src = f.to_vec();
                let mut h = vec![0f32; frame_len];
                for y in 0..size {
                    for x in 0..size {
                        for c in 0..3 {
                            h[(y * size + x) * 3 + c] = (0..k.len())
                                .map(|t| {
                                    let sx = reflect(x as isize + t as isize - r, n);
                                    k[t] * src[(y * size + sx) * 3 + c]
                                })
                                .sum();
                        }
                    }
                }
                for y in 0..size {
                    for x in 0..size {
                        for c in 0..3 {
                            f[(y * size + x) * 3 + c] = (0..k.len())
                                .map(|t| {
                                    let sy = reflect(y as isize + t as isize - r, n);
                                    k[t] * h[(sy * size + x) * 3 + c]
                                })
                                .sum();
                        }
                    }
                }
            }
        }
        for (d, x) in frames.iter_mut().zip(&v) {
            *d = (x * 255.0 + 0.5).clamp(0.0, 255.0) as u8;
        }
    }

    /// The largest difference between two equally long byte images.
    fn worst_difference(a: &[u8], b: &[u8]) -> i32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as i32 - *y as i32).abs())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn portable_and_simd_passes_agree() {
        use rand::Rng;
        let cfg = AugmentConfig {
            jitter_p: 1.0,
            ..AugmentConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for size in [13usize, 16, 37] {
            let frames: Vec<u8> = (0..2 * size * size * 3).map(|_| rng.gen()).collect();
            let mut p = cfg.sample(size as u32, size as u32, &mut rng);
            p.grayscale = size == 16;
            let kernel = p.blur_kernel(size);
            let work = FrameWork {
                jitter: p.jitter,
                grayscale: p.grayscale,
                kernel: kernel.as_deref(),
                size,
            };
            for yuv in [false, true] {
                let source = yuv.then_some((&frames[..], size == 13));
                let mut plain = frames.clone();
                process_view_generic::<false>(&work, &mut plain, source);
                let mut fast = frames.clone();
                process_view(&work, &mut fast, source);
                let worst = worst_difference(&plain, &fast);
                assert!(worst <= 1, "size {size}, yuv {yuv}: differ by {worst}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn register_path_equals_the_chunked_path_bit_for_bit() {
        use rand::Rng;
        use stdann_isa::Isa;
        if !Isa::Avx2.available() {
            eprintln!("skipped: this processor has no AVX2 and FMA, so no register path");
            return;
        }
        let widths: Vec<bool> = [(false, Isa::Avx2), (true, Isa::Avx512)]
            .into_iter()
            .filter(|&(_, isa)| {
                let here = isa.available();
                if !here {
                    eprintln!(
                        "skipped the {} register path: not on this processor",
                        isa.name()
                    );
                }
                here
            })
            .map(|(avx512, _)| avx512)
            .collect();
        let cfg = AugmentConfig {
            jitter_p: 0.9,
            grayscale_p: 0.3,
            ..AugmentConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        // Which operations the trials ran through the register path.
        let mut seen = [false; 5];
        for (trial, size) in [8usize, 16, 24, 112]
            .into_iter()
            .cycle()
            .take(60)
            .enumerate()
        {
            let npix = size * size;
            let yuv: Vec<u8> = (0..3 * 3 * npix).map(|_| rng.gen()).collect();
            let mut p = cfg.sample(size as u32, size as u32, &mut rng);
            p.blur_sigma = None;
            if trial % 7 == 0 {
                // Every adjustment at once, in a drawn order.
                p.jitter = Some(Jitter {
                    brightness: 1.3,
                    contrast: 0.7,
                    saturation: 1.2,
                    hue: -0.08,
                    order: p.jitter.map_or([2, 1, 3, 0], |j| j.order),
                });
            }
            let work = FrameWork {
                jitter: p.jitter,
                grayscale: p.grayscale,
                kernel: None,
                size,
            };
            assert!(fast::applies(npix, false));
            let full_range = trial % 3 == 0;
            let mut chunked = vec![0u8; yuv.len()];
            // SAFETY: AVX2 and FMA were detected above.
            unsafe { process_view_avx2(&work, &mut chunked, Some((&yuv, full_range))) };
            let (jitter, first, second) = split_ops(&work);
            for &avx512 in &widths {
                let mut registers = vec![0u8; yuv.len()];
                let mut planes = Vec::new();
                // SAFETY: AVX2 and FMA were detected above; `applies` holds.
                unsafe {
                    fast::view_yuv(
                        &yuv,
                        full_range,
                        &mut registers,
                        npix,
                        &jitter,
                        &first,
                        second.as_deref(),
                        &mut planes,
                        avx512,
                    )
                };
                assert!(
                    chunked == registers,
                    "trial {trial}, size {size}, AVX-512 {avx512}, {p:?}: differ by up to {}",
                    worst_difference(&chunked, &registers)
                );
            }
            for op in first.iter().chain(second.iter().flatten()) {
                seen[*op as usize] = true;
            }
        }
        assert_eq!(
            seen, [true; 5],
            "brightness, contrast, saturation, hue, grayscale"
        );
    }

    #[test]
    fn chunked_planar_augmentation_matches_the_plain_reference() {
        use rand::Rng;
        let cfg = AugmentConfig {
            jitter_p: 1.0,
            ..AugmentConfig::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        // Sizes that leave partial chunks and partial vector lanes.
        for (trial, size) in [13usize, 20, 37, 64]
            .into_iter()
            .cycle()
            .take(40)
            .enumerate()
        {
            let frames_n = 3;
            let mut frames: Vec<u8> = (0..frames_n * size * size * 3).map(|_| rng.gen()).collect();
            let mut p = cfg.sample(size as u32, size as u32, &mut rng);
            p.blur_radius = blur_radius(size as u32).max(2);
            p.grayscale = trial % 5 == 0;
            if trial % 2 == 0 {
                p.blur_sigma = Some(rng.gen_range(0.1..2.0));
            }
            let mut expected = frames.clone();
            apply_reference(&p, &mut expected, size);
            p.apply(&mut frames, size);
            let worst = worst_difference(&frames, &expected);
            assert!(worst <= 1, "trial {trial}, size {size}: differs by {worst}");
        }
    }
}
