//! The horizontal flip, of RGB24 frames and of planar frames.

/// Mirror each row of `size` x `size` RGB24 frames.
pub(super) fn flip_horizontal(frame: &mut [u8], size: usize) {
    for row in frame.chunks_exact_mut(size * 3) {
        for x in 0..size / 2 {
            let (a, b) = (x * 3, (size - 1 - x) * 3);
            row.swap(a, b);
            row.swap(a + 1, b + 1);
            row.swap(a + 2, b + 2);
        }
    }
}

/// Mirror each row of planes `size` pixels wide (YUV 4:4:4: one byte a pixel).
pub(super) fn flip_planes(planes: &mut [u8], size: usize) {
    for row in planes.chunks_exact_mut(size) {
        row.reverse();
    }
}
