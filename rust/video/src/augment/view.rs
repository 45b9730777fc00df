//! The colour and blur stage of one view: the choice of kernel set and path,
//! and the chunked path (planar float chunks that stay in L1).

use super::blur::blur_plane;
use super::colour::{apply_ops, luma, split_ops};
#[cfg(target_arch = "x86_64")]
use super::fast;
use super::params::Jitter;
use super::pixels::{load_planes, store_chunk, store_planes, Chunk, PixelSource, CHUNK};

/// The colour and blur work of one view.
pub(super) struct FrameWork<'a> {
    pub(super) jitter: Option<Jitter>,
    pub(super) grayscale: bool,
    pub(super) kernel: Option<&'a [f32]>,
    pub(super) size: usize,
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
pub(super) fn process_view(work: &FrameWork, frames: &mut [u8], yuv: Option<(&[u8], bool)>) {
    #[cfg(target_arch = "x86_64")]
    {
        let isa = stdann_isa::Isa::selected();
        if isa >= stdann_isa::Isa::Avx2 {
            let npix = work.size * work.size;
            if let Some((planes, full_range)) = yuv {
                if fast::applies(npix, work.kernel.is_some()) {
                    let (jitter, first, second) = split_ops(work.jitter, work.grayscale);
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
    let (jitter, first, second) = split_ops(work.jitter, work.grayscale);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::blur::{gaussian_kernel, reflect};
    use crate::augment::colour::tests::adjust_hue_reference;
    use crate::augment::colour::ColourOp;
    use crate::augment::config::blur_radius;
    use crate::augment::flip::flip_horizontal;
    use crate::augment::{AugmentConfig, ViewParams};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

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
                    ColourOp::Brightness => v
                        .iter_mut()
                        .for_each(|x| *x = (*x * j.brightness).clamp(0.0, 1.0)),
                    ColourOp::Contrast => {
                        for f in v.chunks_exact_mut(frame_len) {
                            let mean = f.chunks_exact(3).map(|px| luma3(px) as f64).sum::<f64>()
                                / (f.len() / 3) as f64;
                            let mean = mean as f32;
                            f.iter_mut().for_each(|x| {
                                *x = (*x * j.contrast + (1.0 - j.contrast) * mean).clamp(0.0, 1.0)
                            });
                        }
                    }
                    ColourOp::Saturation => v.chunks_exact_mut(3).for_each(|px| {
                        let y = luma3(px);
                        px.iter_mut().for_each(|x| {
                            *x = (*x * j.saturation + (1.0 - j.saturation) * y).clamp(0.0, 1.0)
                        });
                    }),
                    ColourOp::Hue => adjust_hue_reference(&mut v, j.hue),
                    ColourOp::Grayscale => unreachable!("a jitter order holds no grayscale"),
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
                    order: p.jitter.map_or(
                        [
                            ColourOp::Saturation,
                            ColourOp::Contrast,
                            ColourOp::Hue,
                            ColourOp::Brightness,
                        ],
                        |j| j.order,
                    ),
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
            let (jitter, first, second) = split_ops(work.jitter, work.grayscale);
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
