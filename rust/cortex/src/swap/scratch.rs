//! The buffers a window works in, kept per thread, and how the window
//! matrices are laid out in them.

/// Buffers of one window, kept per thread: windows of 500 units need about
/// 2 MB, and fresh allocations of that size would page-fault on every window.
///
/// Every buffer is fully overwritten for each window (padding included), so
/// none is cleared between windows.
#[derive(Default)]
pub(super) struct Scratch {
    /// Responses of the window's units, `kp` rows of `stride` (zero rows past k).
    pub(super) zw: Vec<f32>,
    /// The same, transposed into panels of NR units: panel p holds `stride`
    /// rows of the NR responses of units p*NR.., to one stimulus per row.
    pub(super) zt: Vec<f32>,
    /// The same again in blocks of MR units (SIMD path): block b holds
    /// `stride` rows of the MR responses of units b*MR.., to one stimulus per row.
    pub(super) za: Vec<f32>,
    /// Correlations r, `kp` x `kp` in rows `ld` values apart (see
    /// `leading_dimension`): row u holds the correlations of local unit
    /// u with the units at each slot, as of the time given by `synced[u]`; zero
    /// past k. When the window starts, slot order is unit order.
    pub(super) r: Vec<f32>,
    /// Proximities D, `kp` x `kp` in rows `ld` values apart, rows and columns
    /// in slot order.
    pub(super) d: Vec<f32>,
    pub(super) xs: Vec<f32>,
    pub(super) ys: Vec<f32>,
    /// Accepted swaps of the window, in order: the column permutations that a
    /// row of r that was brought up to date at time t still has to undergo.
    pub(super) log: Vec<(u32, u32)>,
    /// `synced[u]` is how many entries of `log` row u of r has undergone.
    pub(super) synced: Vec<u32>,
}

#[cfg(test)]
impl Scratch {
    /// Copies of the window matrices r and D of side `kp`, as the steps see
    /// them, from rows `ld` values apart into rows `kp` values apart.
    pub(super) fn matrices(&mut self, (kp, ld): (usize, usize)) -> (Vec<f32>, Vec<f32>) {
        let compact =
            |m: &[f32]| -> Vec<f32> { m.chunks(ld).flat_map(|row| &row[..kp]).copied().collect() };
        (
            compact(aligned(&mut self.r, kp * ld)),
            compact(aligned(&mut self.d, kp * ld)),
        )
    }
}

thread_local! {
    pub(super) static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// The first `n` values of `buf`, growing it if needed; old contents are kept.
pub(super) fn sized(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if buf.len() < n {
        buf.resize(n, 0.0);
    }
    &mut buf[..n]
}

/// `n` values of `buf` that start on a 64-byte boundary, growing it if
/// needed; the same buffer and `n` always give the same values. Rows of the
/// window matrices start a multiple of 64 bytes apart, so every 16-lane
/// store of the AVX-512 path fills exactly one cache line instead of two halves.
pub(super) fn aligned(buf: &mut Vec<f32>, n: usize) -> &mut [f32] {
    const LANES: usize = 64 / std::mem::size_of::<f32>();
    if buf.len() < n + LANES - 1 {
        buf.resize(n + LANES - 1, 0.0);
    }
    let offset = buf.as_ptr().align_offset(64).min(LANES - 1);
    &mut buf[offset..offset + n]
}

/// The distance in values between rows of window matrices of side `kp`: kp
/// rounded up to an odd number of 64-byte lines. With rows a power of two
/// lines apart (512 values: 32 lines), the 16 rows a block of the set-up
/// writes, where it lies and transposed, fall into two of the 64 sets of the
/// first-level cache and evict each other; an odd number of lines spreads
/// them over all sets (500-unit windows: 528 instead of 512; the largest
/// of the changes that took the set-up from 244 to about 230 us, see
/// benches/README.md).
pub(super) fn leading_dimension(kp: usize) -> usize {
    const LINE: usize = 64 / std::mem::size_of::<f32>();
    (kp.div_ceil(LINE) | 1) * LINE
}
