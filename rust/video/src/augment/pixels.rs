//! A view's pixels between bytes and planar float chunks: RGB24 and planar
//! YUV 4:4:4 (converted to RGB here) in, RGB24 out, and the float frame
//! buffer in between.

#[cfg(target_arch = "x86_64")]
use super::simd;

/// Pixels per chunk: three float planes of a chunk stay in L1 while every
/// colour operation runs over them as a straight, vectorised loop.
pub(super) const CHUNK: usize = 64;

pub(super) type Chunk = [f32; CHUNK];

/// Pixels start..start+n of a frame's float R, G, B planes (`npix` apart) into chunks.
#[inline(always)]
pub(super) fn load_planes(
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
pub(super) fn store_planes(
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
pub(super) struct PixelSource<'a> {
    pub(super) yuv: Option<(&'a [u8], bool)>,
    pub(super) npix: usize,
    pub(super) frame_len: usize,
}

impl PixelSource<'_> {
    /// Pixels start..start+n of frame `f` (whose RGB24 bytes are `frame`) as
    /// planar floats in [0, 1].
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn load<const SIMD: bool>(
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
pub(super) fn load_chunk<const SIMD: bool>(px: &[u8], r: &mut Chunk, g: &mut Chunk, b: &mut Chunk) {
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
pub(super) fn yuv_range(full_range: bool) -> (f32, f32, f32) {
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
pub(super) fn load_chunk_yuv<const SIMD: bool>(
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
pub(super) fn store_chunk<const SIMD: bool>(r: &Chunk, g: &Chunk, b: &Chunk, px: &mut [u8]) {
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
