//! Crop and resize of 8-bit planes with an antialiased bilinear (triangle)
//! filter, the filter torchvision's `resize(antialias=True)` and PIL use:
//! each output sample averages the input samples under a tent as wide as
//! the output spacing (never narrower than the input spacing), with the taps
//! confined to the crop box, as when a crop is cut out and then resized.
//!
//! This replaces swscale on the loader's path for the moderate scale factors
//! of training crops (at most 2 in either direction; crops of a prepared
//! video, short side 128, resized to 112 are reduced at most about 1.5-fold),
//! where it is faster: 353 -> 256 us per 16-frame view in
//! `cargo bench -p stdann-video`. Larger reductions go to swscale.
//!
//! Two passes with bytes in between, as in PIL (which runs them in the other
//! order): vertical into a row of bytes, then horizontal.
//! The vertical pass weights rows in 16-bit fixed point (Q15 weights on
//! samples scaled by 128, accumulated with 7 fractional bits); the
//! horizontal pass gathers each output's taps with a byte shuffle and sums
//! them with Q14 weights in 32 bits. The portable code does exactly the same
//! integer arithmetic as the SIMD code, so the two agree bit for bit.

/// The largest scale factor (input spacing / output spacing) handled here.
pub const MAX_SCALE: f64 = 2.0;

/// The most taps an output sample has at `MAX_SCALE`: a tent of half-width
/// 2 covers at most 4 input samples, plus one for where it falls.
const MAX_TAPS: usize = 5;
/// Taps are stored padded to this (two groups of four for the shuffles).
const TAP_SLOTS: usize = 8;

/// The filter along one axis: for output i, taps `first[i]..first[i] + taps`
/// of the input with weights `weights[i * TAP_SLOTS..][..taps]` summing to one.
#[derive(Clone, Debug)]
struct Axis {
    first: Vec<usize>,
    taps: usize,
    weights: Vec<f64>,
}

impl Axis {
    /// The tents for `out` samples over the input interval [lo, lo + len)
    /// (in input samples), taps limited to `bounds` (start, end).
    fn new(lo: f64, len: f64, bounds: (usize, usize), out: usize) -> Axis {
        let scale = len / out as f64;
        let support = scale.max(1.0);
        let mut first = Vec::with_capacity(out);
        let mut weights = vec![0.0; out * TAP_SLOTS];
        let mut taps = 1;
        for i in 0..out {
            let center = lo + (i as f64 + 0.5) * scale;
            let a = ((center - support + 0.5).floor() as isize).max(bounds.0 as isize) as usize;
            let b = ((center + support + 0.5).floor() as isize).min(bounds.1 as isize) as usize;
            // A tent that falls outside the bounds (never for boxes inside
            // the frame) takes the nearest sample.
            let (a, b) = if b > a {
                (a, b.min(a + MAX_TAPS))
            } else {
                let near =
                    (center.floor() as isize).clamp(bounds.0 as isize, bounds.1 as isize - 1);
                (near as usize, near as usize + 1)
            };
            let w = &mut weights[i * TAP_SLOTS..i * TAP_SLOTS + (b - a)];
            for (k, wk) in w.iter_mut().enumerate() {
                let t = ((a + k) as f64 + 0.5 - center) / support;
                *wk = (1.0 - t.abs()).max(0.0);
            }
            let sum: f64 = w.iter().sum();
            if sum > 0.0 {
                w.iter_mut().for_each(|wk| *wk /= sum);
            } else {
                w.iter_mut().for_each(|wk| *wk = 1.0 / (b - a) as f64);
            }
            first.push(a);
            taps = taps.max(b - a);
        }
        Axis {
            first,
            taps,
            weights,
        }
    }

    /// The weights of output i in fixed point with `one` as 1.0, rounded so
    /// that they sum to exactly `one` (the largest weight takes the error),
    /// each at most `max`.
    fn fixed(&self, i: usize, one: i64, max: i64) -> [i64; TAP_SLOTS] {
        let w = &self.weights[i * TAP_SLOTS..(i + 1) * TAP_SLOTS];
        let mut q: [i64; TAP_SLOTS] = std::array::from_fn(|k| (w[k] * one as f64).round() as i64);
        let err = one - q.iter().sum::<i64>();
        let big = (0..TAP_SLOTS)
            .max_by(|&a, &b| w[a].total_cmp(&w[b]))
            .unwrap_or(0);
        q[big] = (q[big] + err).min(max);
        q
    }
}

/// The input samples an interval [lo, lo + len) of an axis of `n` samples
/// touches: (first, end), at least one, inside the axis.
fn bounds(lo: f64, len: f64, n: usize) -> (usize, usize) {
    let a = (lo.floor().max(0.0) as usize).min(n - 1);
    let b = ((lo + len).ceil() as usize).clamp(a + 1, n);
    (a, b)
}

/// One plane of 8-bit samples: `height` rows of `width`, `stride` bytes apart.
#[derive(Clone, Copy, Debug)]
pub struct PlaneRef<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
}

/// A region of a plane in its own samples (fractional for subsampled chroma).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// Eight outputs of the horizontal pass that the shuffle path serves: their
/// taps all lie in the 16 bytes at `base` of the vertical pass's row.
#[derive(Clone, Copy)]
struct Group {
    base: usize,
    /// Byte of the 16 for each tap slot of each output (0x80: none).
    shuffle: [[u8; 32]; 2],
    /// Q14 weights, per output the pairs (w0, w2), (w1, w3), (w4, w6), (w5, w7).
    weights: [[i16; 16]; 4],
}

/// What the filters depend on: the region, the output size and the plane size.
type FilterKey = (Region, (usize, usize), (usize, usize));

/// The filters of one (region, output size) pair, with the rows of the
/// vertical pass; rebuilt when the region or size changes (once per view).
pub struct PlaneResampler {
    key: Option<FilterKey>,
    /// Input columns x0..x0 + span are filtered by the vertical pass.
    x0: usize,
    span: usize,
    rows: Axis,
    row_weights: Vec<[u16; TAP_SLOTS]>,
    cols: Axis,
    col_weights: Vec<[i32; TAP_SLOTS]>,
    /// Groups of eight outputs (None: scalar) and the outputs past the last group.
    groups: Vec<Option<Group>>,
    /// One row of the vertical pass, padded for 16-byte reads past its end.
    row: Vec<u8>,
    /// Whether the AVX2 kernels run (the portable code otherwise).
    simd: bool,
}

impl Default for PlaneResampler {
    fn default() -> Self {
        Self::new()
    }
}

impl PlaneResampler {
    pub fn new() -> Self {
        let empty = Axis {
            first: Vec::new(),
            taps: 1,
            weights: Vec::new(),
        };
        PlaneResampler {
            key: None,
            x0: 0,
            span: 0,
            rows: empty.clone(),
            row_weights: Vec::new(),
            cols: empty,
            col_weights: Vec::new(),
            groups: Vec::new(),
            row: Vec::new(),
            simd: simd_available(),
        }
    }

    /// Whether resizing `region` to `out_w` x `out_h` is within this
    /// resampler's scale range.
    pub fn handles(region: Region, out_w: usize, out_h: usize) -> bool {
        region.w / out_w as f64 <= MAX_SCALE && region.h / out_h as f64 <= MAX_SCALE
    }

    fn prepare(&mut self, plane: &PlaneRef, region: Region, out_w: usize, out_h: usize) {
        let key = Some((region, (out_w, out_h), (plane.width, plane.height)));
        if self.key == key {
            return;
        }
        let xb = bounds(region.x, region.w, plane.width);
        let yb = bounds(region.y, region.h, plane.height);
        self.rows = Axis::new(region.y, region.h, yb, out_h);
        self.cols = Axis::new(region.x, region.w, xb, out_w);
        self.row_weights = (0..out_h)
            .map(|i| self.rows.fixed(i, ROW_ONE, ROW_MAX).map(|w| w as u16))
            .collect();
        self.col_weights = (0..out_w)
            .map(|i| self.cols.fixed(i, 1 << 14, 1 << 14).map(|w| w as i32))
            .collect();
        self.x0 = xb.0;
        self.span = xb.1 - xb.0;
        let taps = self.cols.taps;
        self.groups = (0..out_w / 8)
            .map(|g| {
                let outs = g * 8..g * 8 + 8;
                let base = outs.clone().map(|i| self.cols.first[i]).min()? - self.x0;
                let end = outs.clone().map(|i| self.cols.first[i]).max()? - self.x0 + taps;
                if end - base > 16 {
                    return None;
                }
                let mut group = Group {
                    base,
                    shuffle: [[0x80; 32]; 2],
                    weights: [[0; 16]; 4],
                };
                for (j, i) in outs.enumerate() {
                    let w = self.col_weights[i];
                    for k in 0..taps {
                        let half = k / 4;
                        group.shuffle[half][j * 4 + k % 4] =
                            (self.cols.first[i] - self.x0 - base + k) as u8;
                    }
                    for (pair, (a, b)) in [(0, 2), (1, 3), (4, 6), (5, 7)].into_iter().enumerate() {
                        group.weights[pair][2 * j] = w[a] as i16;
                        group.weights[pair][2 * j + 1] = w[b] as i16;
                    }
                }
                Some(group)
            })
            .collect();
        self.row.clear();
        self.row.resize(self.span + 32, 0);
        self.key = key;
    }

    /// Resize `region` of `plane` to `out_w` x `out_h` into `out` (rows
    /// `out_stride` apart). The caller checks [`Self::handles`].
    pub fn resize(
        &mut self,
        plane: &PlaneRef,
        region: Region,
        out_w: usize,
        out_h: usize,
        out: &mut [u8],
        out_stride: usize,
    ) {
        debug_assert!(Self::handles(region, out_w, out_h));
        self.prepare(plane, region, out_w, out_h);
        let simd = self.simd;
        let mut row = std::mem::take(&mut self.row);
        for oy in 0..out_h {
            let first = self.rows.first[oy];
            let taps: [&[u8]; TAP_SLOTS] = std::array::from_fn(|k| {
                // Taps past the last row have weight 0; read any valid row.
                let y = (first + k).min(plane.height - 1);
                &plane.data[y * plane.stride + self.x0..y * plane.stride + self.x0 + self.span]
            });
            let weights = &self.row_weights[oy];
            let n = self.rows.taps;
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: `simd` is set only when the selected set, never wider than
                // what the CPU reported, includes AVX2.
                done = unsafe { avx2::vertical(&taps[..n], &weights[..n], &mut row[..self.span]) };
            }
            vertical_scalar(&taps[..n], &weights[..n], &mut row[done..self.span], done);
            let dst = &mut out[oy * out_stride..oy * out_stride + out_w];
            #[cfg(target_arch = "x86_64")]
            if simd {
                // SAFETY: AVX2 was detected; base + 16 <= span + 32 = row.len().
                unsafe { avx2::horizontal(&self.groups, self.cols.taps, &row, dst) };
            }
            for (g, group) in self.groups.iter().enumerate() {
                if group.is_none() || !simd {
                    self.horizontal_scalar(&row, g * 8..g * 8 + 8, dst);
                }
            }
            self.horizontal_scalar(&row, self.groups.len() * 8..out_w, dst);
        }
        self.row = row;
    }

    fn horizontal_scalar(&self, row: &[u8], outs: std::ops::Range<usize>, dst: &mut [u8]) {
        for i in outs {
            let at = self.cols.first[i] - self.x0;
            let w = &self.col_weights[i];
            let s: i32 = (0..self.cols.taps).map(|k| row[at + k] as i32 * w[k]).sum();
            dst[i] = ((s + (1 << 13)) >> 14).clamp(0, 255) as u8;
        }
    }
}

/// 1.0 for the weights of the vertical pass (Q15), and the largest weight
/// (a 16-bit signed lane holds at most 1.0 - 2^-15; an identity row still
/// comes out exact after the final rounding).
const ROW_ONE: i64 = 1 << 15;
const ROW_MAX: i64 = (1 << 15) - 1;

/// Vertical pass for columns `offset..offset + out.len()` of the tap rows:
/// sum over taps of the rounded (128 v w) >> 15 (pmulhrsw) with signed
/// saturation, then (sum + 64) >> 7.
fn vertical_scalar(taps: &[&[u8]], weights: &[u16], out: &mut [u8], offset: usize) {
    for (x, o) in out.iter_mut().enumerate() {
        let mut acc = 0i16;
        for (row, &w) in taps.iter().zip(weights) {
            let v = row[offset + x] as i32 * 128;
            acc = acc.saturating_add(((v * w as i32 + (1 << 14)) >> 15) as i16);
        }
        *o = (acc.saturating_add(64) >> 7).min(255) as u8;
    }
}

fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // AVX2 is all the kernels need; STDANN_ISA=portable turns them off.
        stdann_isa::Isa::selected() >= stdann_isa::Isa::Avx2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Group;
    use std::arch::x86_64::*;

    /// The vertical pass over all columns when there are at least 16 (the
    /// last block overlaps the one before it; its columns are computed
    /// twice, to the same values); returns how many columns were done.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn vertical(taps: &[&[u8]], weights: &[u16], out: &mut [u8]) -> usize {
        let n = out.len();
        let mut w = [_mm256_setzero_si256(); super::TAP_SLOTS];
        for (wk, &v) in w.iter_mut().zip(weights) {
            *wk = _mm256_set1_epi16(v as i16);
        }
        let w = &w[..taps.len()];
        if n >= 32 {
            let mut x = 0;
            loop {
                let at = x.min(n - 32);
                let (lo, hi) = (zero_lanes(), zero_lanes());
                let (lo, hi) = taps.iter().zip(w).fold((lo, hi), |(lo, hi), (row, &w)| {
                    // SAFETY: at + 32 <= n <= row.len().
                    let v = _mm256_loadu_si256(row.as_ptr().add(at) as *const __m256i);
                    weigh(lo, hi, v, w)
                });
                _mm256_storeu_si256(out.as_mut_ptr().add(at) as *mut __m256i, finish(lo, hi));
                x += 32;
                if x >= n {
                    break;
                }
            }
            n
        } else if n >= 16 {
            for at in [0, n - 16] {
                let (lo, hi) =
                    taps.iter()
                        .zip(w)
                        .fold((zero_lanes(), zero_lanes()), |(lo, hi), (row, &w)| {
                            // SAFETY: at + 16 <= n <= row.len().
                            let v = _mm256_castsi128_si256(_mm_loadu_si128(
                                row.as_ptr().add(at) as *const __m128i
                            ));
                            weigh(lo, hi, v, w)
                        });
                _mm_storeu_si128(
                    out.as_mut_ptr().add(at) as *mut __m128i,
                    _mm256_castsi256_si128(finish(lo, hi)),
                );
            }
            n
        } else {
            0
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn zero_lanes() -> __m256i {
        _mm256_setzero_si256()
    }

    /// Add one tap row's weighted bytes `v` to the 16-bit sums of its low
    /// and high bytes (per 128-bit half).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn weigh(lo: __m256i, hi: __m256i, v: __m256i, w: __m256i) -> (__m256i, __m256i) {
        // Each byte into a 16-bit lane, times 128 (v << 8, then >> 1).
        let zero = _mm256_setzero_si256();
        let lo_v = _mm256_srli_epi16(_mm256_unpacklo_epi8(zero, v), 1);
        let hi_v = _mm256_srli_epi16(_mm256_unpackhi_epi8(zero, v), 1);
        (
            _mm256_adds_epi16(lo, _mm256_mulhrs_epi16(lo_v, w)),
            _mm256_adds_epi16(hi, _mm256_mulhrs_epi16(hi_v, w)),
        )
    }

    /// Round the sums to bytes. The unpacks and the pack work within 128-bit
    /// halves alike, so the columns come back in order.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn finish(lo: __m256i, hi: __m256i) -> __m256i {
        let half = _mm256_set1_epi16(64);
        let lo = _mm256_srli_epi16(_mm256_adds_epi16(lo, half), 7);
        let hi = _mm256_srli_epi16(_mm256_adds_epi16(hi, half), 7);
        _mm256_packus_epi16(lo, hi)
    }

    /// The horizontal pass for the groups of eight outputs that have a
    /// shuffle (the rest are left to the portable code).
    ///
    /// # Safety
    /// AVX2; `row` has 16 bytes from every group's base; `dst` has 8 bytes
    /// per group.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn horizontal(
        groups: &[Option<Group>],
        taps: usize,
        row: &[u8],
        dst: &mut [u8],
    ) {
        for (g, group) in groups.iter().enumerate() {
            if let Some(group) = group {
                horizontal8(group, taps, row, &mut dst[g * 8..g * 8 + 8]);
            }
        }
    }

    /// Eight outputs of the horizontal pass.
    ///
    /// # Safety
    /// AVX2; `row` has 16 bytes from `group.base`; `dst` has 8 bytes.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn horizontal8(group: &Group, taps: usize, row: &[u8], dst: &mut [u8]) {
        debug_assert!(group.base + 16 <= row.len() && dst.len() == 8);
        let src = _mm256_broadcastsi128_si256(_mm_loadu_si128(
            row.as_ptr().add(group.base) as *const __m128i
        ));
        let low_bytes = _mm256_set1_epi16(0xff);
        let load = |a: &[i16; 16]| _mm256_loadu_si256(a.as_ptr() as *const __m256i);
        let mut sum = _mm256_setzero_si256();
        for half in 0..taps.div_ceil(4) {
            let mask = _mm256_loadu_si256(group.shuffle[half].as_ptr() as *const __m256i);
            // Each 32-bit lane: the output's four tap bytes b0 b1 b2 b3.
            let d = _mm256_shuffle_epi8(src, mask);
            let even = _mm256_and_si256(d, low_bytes); // (b0, b2) as 16-bit
            let odd = _mm256_srli_epi16(d, 8); // (b1, b3)
            sum = _mm256_add_epi32(sum, _mm256_madd_epi16(even, load(&group.weights[2 * half])));
            sum = _mm256_add_epi32(
                sum,
                _mm256_madd_epi16(odd, load(&group.weights[2 * half + 1])),
            );
        }
        let v = _mm256_srai_epi32(_mm256_add_epi32(sum, _mm256_set1_epi32(1 << 13)), 14);
        // Clamp and narrow to bytes: 8 x i32 -> 8 x u8.
        let w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64(dst.as_mut_ptr() as *mut __m128i, _mm_packus_epi16(w, w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The same filter in floating point, rounded once at the end.
    fn reference(plane: &PlaneRef, region: Region, out_w: usize, out_h: usize) -> Vec<f64> {
        let rows = Axis::new(
            region.y,
            region.h,
            bounds(region.y, region.h, plane.height),
            out_h,
        );
        let cols = Axis::new(
            region.x,
            region.w,
            bounds(region.x, region.w, plane.width),
            out_w,
        );
        let mut out = vec![0.0; out_w * out_h];
        for oy in 0..out_h {
            for ox in 0..out_w {
                let mut s = 0.0;
                for ky in 0..rows.taps {
                    let y = (rows.first[oy] + ky).min(plane.height - 1);
                    let wy = rows.weights[oy * TAP_SLOTS + ky];
                    for kx in 0..cols.taps {
                        let x = (cols.first[ox] + kx).min(plane.width - 1);
                        let wx = cols.weights[ox * TAP_SLOTS + kx];
                        s += wy * wx * plane.data[y * plane.stride + x] as f64;
                    }
                }
                out[oy * out_w + ox] = s;
            }
        }
        out
    }

    fn random_plane(rng: &mut ChaCha8Rng, h: usize, stride: usize) -> Vec<u8> {
        (0..stride * h).map(|_| rng.gen()).collect()
    }

    #[test]
    fn tents_sum_to_one_and_stay_inside_the_box() {
        for (lo, len, out) in [
            (0.0f64, 100.0f64, 112),
            (3.0, 57.0, 112),
            (10.5, 30.5, 56),
            (0.0, 224.0, 112),
        ] {
            let bounds = (lo.floor() as usize, (lo + len).ceil() as usize);
            let axis = Axis::new(lo, len, bounds, out);
            for i in 0..out {
                let w = &axis.weights[i * TAP_SLOTS..(i + 1) * TAP_SLOTS];
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(axis.first[i] >= bounds.0);
                let used = w.iter().rposition(|&v| v > 0.0).unwrap() + 1;
                assert!(axis.first[i] + used <= bounds.1);
                for q in [
                    axis.fixed(i, 1 << 14, 1 << 14),
                    axis.fixed(i, ROW_ONE, ROW_MAX),
                ] {
                    assert!(q.iter().all(|&v| v >= 0));
                }
                assert_eq!(axis.fixed(i, 1 << 14, 1 << 14).iter().sum::<i64>(), 1 << 14);
            }
        }
    }

    #[test]
    fn identity_size_returns_the_crop_exactly() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (w, h, stride) = (150, 90, 160);
        let data = random_plane(&mut rng, h, stride);
        let plane = PlaneRef {
            data: &data,
            stride,
            width: w,
            height: h,
        };
        let region = Region {
            x: 7.0,
            y: 5.0,
            w: 112.0,
            h: 64.0,
        };
        let mut out = vec![0u8; 112 * 64];
        PlaneResampler::new().resize(&plane, region, 112, 64, &mut out, 112);
        for y in 0..64 {
            assert_eq!(
                &out[y * 112..(y + 1) * 112],
                &data[(y + 5) * stride + 7..][..112]
            );
        }
    }

    #[test]
    fn matches_the_float_filter_and_the_scalar_path() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut worst = 0.0f64;
        let mut simd_groups = 0;
        for trial in 0..200 {
            let (w, h) = (rng.gen_range(8..200), rng.gen_range(8..160));
            let stride = w + rng.gen_range(0..40);
            let data = random_plane(&mut rng, h, stride);
            let plane = PlaneRef {
                data: &data,
                stride,
                width: w,
                height: h,
            };
            let (out_w, out_h) = (rng.gen_range(1..130), rng.gen_range(1..130));
            let rw = rng.gen_range(1.0..(w as f64).min(2.0 * out_w as f64));
            let rh = rng.gen_range(1.0..(h as f64).min(2.0 * out_h as f64));
            let region = Region {
                x: if trial % 2 == 0 {
                    rng.gen_range(0..=(w - rw.ceil() as usize)) as f64
                } else {
                    rng.gen_range(0.0..w as f64 - rw)
                },
                y: rng.gen_range(0.0..h as f64 - rh),
                w: rw,
                h: rh,
            };
            assert!(PlaneResampler::handles(region, out_w, out_h));
            let mut out = vec![0u8; out_w * out_h];
            let mut r = PlaneResampler::new();
            r.resize(&plane, region, out_w, out_h, &mut out, out_w);
            let expected = reference(&plane, region, out_w, out_h);
            for (a, e) in out.iter().zip(&expected) {
                worst = worst.max((*a as f64 - e).abs());
            }
            // The portable code gives the same bytes.
            let mut scalar = vec![0u8; out_w * out_h];
            r.simd = false;
            r.resize(&plane, region, out_w, out_h, &mut scalar, out_w);
            assert_eq!(out, scalar, "trial {trial}");
            simd_groups += r.groups.iter().filter(|g| g.is_some()).count();
        }
        assert!(
            simd_groups > 1000,
            "{simd_groups} groups on the shuffle path"
        );
        // Two roundings to bytes (after each pass) and fixed-point weights.
        println!("worst difference from the float filter: {worst}");
        assert!(
            worst <= 1.0,
            "worst difference from the float filter: {worst}"
        );
    }
}
