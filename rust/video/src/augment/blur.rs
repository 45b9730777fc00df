//! The Gaussian blur: torchvision's GaussianBlur on whole float planes.

pub(super) fn gaussian_kernel(sigma: f32, radius: usize) -> Vec<f32> {
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
pub(super) fn reflect(i: isize, n: isize) -> usize {
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
pub(super) fn blur_plane<const FMA: bool>(
    plane: &mut [f32],
    tmp: &mut Vec<f32>,
    size: usize,
    kernel: &[f32],
) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
