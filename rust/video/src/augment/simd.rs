//! Interleaved RGB24 <-> planar float conversion with byte shuffles: eight
//! pixels (24 bytes) per step. The compiler does not find these shuffles for
//! a stride-3 layout, and conversion was half the cost of a jittered view.

use std::arch::x86_64::*;

use super::fast::{Avx2, Yuv};
use super::pixels::{Chunk, CHUNK};

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
pub(super) unsafe fn load_chunk(px: &[u8; 3 * CHUNK], r: &mut Chunk, g: &mut Chunk, b: &mut Chunk) {
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
    let k = Yuv::<Avx2>::new(full_range);
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
        0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1, 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11,
        -1, -1, -1, -1,
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
