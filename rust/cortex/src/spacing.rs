//! Column spacing Lambda from the radially averaged power spectrum.

use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

use crate::error::{CortexError, Result};
use crate::map::Map;
use crate::pinwheels::no_plaquette;

/// The column spacing of a map and the spectrum it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSpacing {
    /// Lambda, the typical distance between columns of the same preference, in pixels.
    pub wavelength_px: f64,
    /// Spatial frequency of each spectrum bin, in cycles per pixel.
    pub frequencies: Vec<f64>,
    /// Mean power of the normalised map in each ring of frequencies.
    pub power: Vec<f64>,
}

impl ColumnSpacing {
    /// Lambda in millimetres for pixels of `pixel_mm` millimetres.
    pub fn wavelength_mm(&self, pixel_mm: f64) -> f64 {
        self.wavelength_px * pixel_mm
    }
}

/// Lambda of `map` from the peak of the radially averaged power spectrum of
/// its normalised complex form `exp(i phase)`.
///
/// The map is normalised so that selectivity does not weigh the spectrum,
/// its mean over the sheet is removed, and pixels outside the sheet are
/// zero. It is zero-padded to a square power-of-two grid so that every ring
/// of the spectrum has the same width, 1 / size cycles per pixel, whatever
/// the map's shape. The peak is read from a smooth fit rather than the
/// largest bin, as Kaschube et al. (Science 2010) and Stevens et al. (J
/// Neurosci 2013) do: a parabola fitted to the log power over the bins
/// above half the maximum (a Gaussian peak), weighted by their power.
pub fn column_spacing(map: &Map<'_>) -> Result<ColumnSpacing> {
    let (h, w) = (map.height(), map.width());
    let size = h.max(w).next_power_of_two();
    // The square grid of a long, thin map is mostly padding and could exhaust
    // memory (2 x 50,000 would ask for over 100 GiB): such maps are refused.
    if size > 512 && size * size > 64 * h * w {
        return Err(CortexError::InvalidMap(format!(
            "the {h} x {w} map is too elongated for a column spacing (its square \
             spectrum grid would be {size} x {size}); crop it to a squarer region"
        )));
    }

    let mut grid = vec![Complex64::new(0.0, 0.0); size * size];
    let mut sum = Complex64::new(0.0, 0.0);
    let mut on_sheet = 0usize;
    for r in 0..h {
        for c in 0..w {
            if let Some(p) = map.unit_phasor(r * w + c) {
                grid[r * size + c] = p;
                sum += p;
                on_sheet += 1;
            }
        }
    }
    if on_sheet == 0 {
        return Err(no_plaquette(map));
    }
    let mean = sum / on_sheet as f64;
    let mut variance = 0.0;
    for r in 0..h {
        for c in 0..w {
            if map.is_valid(r * w + c) {
                grid[r * size + c] -= mean;
                variance += grid[r * size + c].norm_sqr();
            }
        }
    }
    // What is left of a constant map after removing its mean is rounding.
    if variance <= 1e-20 * on_sheet as f64 {
        return Err(no_structure(h, w));
    }

    let fft = FftPlanner::<f64>::new().plan_fft_forward(size);
    let mut scratch = vec![Complex64::new(0.0, 0.0); fft.get_inplace_scratch_len()];
    // Rows below the map are zero and stay zero under the row transform.
    fft.process_with_scratch(&mut grid[..h * size], &mut scratch);
    let mut columns = vec![Complex64::new(0.0, 0.0); size * size];
    for r in 0..size {
        for c in 0..size {
            columns[c * size + r] = grid[r * size + c];
        }
    }
    fft.process_with_scratch(&mut columns, &mut scratch);

    let bins = size / 2 + 1;
    let mut total = vec![0.0f64; bins];
    let mut count = vec![0usize; bins];
    for a in 0..size {
        let fa = a.min(size - a) as f64;
        for b in 0..size {
            let fb = b.min(size - b) as f64;
            // Small integers: the plain square root is exact enough and, unlike
            // `hypot`, not a library call.
            let bin = ((fa * fa + fb * fb).sqrt() + 0.5) as usize;
            if bin < bins {
                total[bin] += columns[a * size + b].norm_sqr();
                count[bin] += 1;
            }
        }
    }
    let power: Vec<f64> = total
        .iter()
        .zip(&count)
        .map(|(&t, &n)| if n > 0 { t / n as f64 } else { 0.0 })
        .collect();
    let frequencies = (0..bins).map(|b| b as f64 / size as f64).collect();
    let peak_bin = fit_peak(&power).ok_or_else(|| no_structure(h, w))?;
    Ok(ColumnSpacing {
        wavelength_px: size as f64 / peak_bin,
        frequencies,
        power,
    })
}

fn no_structure(h: usize, w: usize) -> CortexError {
    CortexError::NoSpectralPeak(format!(
        "the {h} x {w} map has no spatial structure (constant, or a single pixel on the sheet)"
    ))
}

/// The sub-bin position of the spectrum's peak, ignoring the mean (bin 0).
fn fit_peak(power: &[f64]) -> Option<f64> {
    let (top, &pmax) = power
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    if !(pmax > 0.0 && pmax.is_finite()) {
        return None;
    }
    let last = power.len() - 1;
    let mut lo = top.saturating_sub(1).max(1);
    let mut hi = (top + 1).min(last);
    while lo > 1 && power[lo - 1] >= 0.5 * pmax {
        lo -= 1;
    }
    while hi < last && power[hi + 1] >= 0.5 * pmax {
        hi += 1;
    }
    let window: Vec<(f64, f64)> = (lo..=hi)
        .filter(|&b| power[b] > 0.0)
        .map(|b| ((b as f64) - top as f64, power[b]))
        .collect();
    let centroid = {
        let weight: f64 = window.iter().map(|p| p.1).sum();
        top as f64 + window.iter().map(|p| p.0 * p.1).sum::<f64>() / weight
    };
    if window.len() < 3 {
        return Some(centroid);
    }
    // Weighted least squares of ln P = c0 + c1 t + c2 t^2.
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for &(t, p) in &window {
        let basis = [1.0, t, t * t];
        let y = p.ln();
        for i in 0..3 {
            v[i] += p * basis[i] * y;
            for j in 0..3 {
                m[i][j] += p * basis[i] * basis[j];
            }
        }
    }
    let c = solve3(m, v)?;
    let vertex = -c[1] / (2.0 * c[2]);
    let inside = vertex >= (lo as f64 - top as f64) && vertex <= (hi as f64 - top as f64);
    if c[2] < 0.0 && inside && vertex.is_finite() {
        Some(top as f64 + vertex)
    } else {
        Some(centroid)
    }
}

/// Cramer's rule for a 3 x 3 system; None when it is singular.
fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> Option<[f64; 3]> {
    let det = |a: [[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det(m);
    if d.abs() < 1e-300 || !d.is_finite() {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = v[i];
        }
        *o = det(mk) / d;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_maps::{angles_of, ring_field};

    #[test]
    fn a_plane_wave_has_its_own_wavelength() {
        // exp(i 2 pi x / 16) on 64 x 64: every column of the map is 16 px apart.
        let (h, w) = (64, 64);
        let a: Vec<f64> = (0..h * w).map(|i| (i % w) as f64 * 360.0 / 16.0).collect();
        let s = column_spacing(&Map::angles_f64(&a, h, w, 360.0).unwrap()).unwrap();
        assert!((s.wavelength_px - 16.0).abs() < 0.05, "{}", s.wavelength_px);
        assert_eq!(s.frequencies.len(), 33);
        assert!((s.wavelength_mm(0.05) - 0.8).abs() < 0.01);
    }

    #[test]
    fn ring_fields_give_their_wavelength_within_three_percent() {
        for (size, lambda, seed) in [(256, 16.0, 1), (256, 21.3, 2), (200, 12.5, 3)] {
            let z = ring_field(size, lambda, seed);
            let s = column_spacing(&Map::complex(&z, size, size).unwrap()).unwrap();
            assert!(
                (s.wavelength_px / lambda - 1.0).abs() < 0.03,
                "size {size}: {} vs {lambda}",
                s.wavelength_px
            );
            let a = angles_of(&z, 180.0);
            let s = column_spacing(&Map::angles_f64(&a, size, size, 180.0).unwrap()).unwrap();
            assert!((s.wavelength_px / lambda - 1.0).abs() < 0.03);
        }
    }

    #[test]
    fn a_masked_border_does_not_move_the_peak() {
        let size = 256;
        let z = ring_field(size, 16.0, 4);
        let mut a = angles_of(&z, 360.0);
        for r in 0..size {
            for c in 0..size {
                let (dx, dy) = (c as f64 - 128.0, r as f64 - 128.0);
                if dx.hypot(dy) > 110.0 {
                    a[r * size + c] = f64::NAN;
                }
            }
        }
        let s = column_spacing(&Map::angles_f64(&a, size, size, 360.0).unwrap()).unwrap();
        assert!(
            (s.wavelength_px / 16.0 - 1.0).abs() < 0.03,
            "{}",
            s.wavelength_px
        );
    }

    #[test]
    fn very_elongated_maps_are_refused_not_padded_to_a_huge_square() {
        let data: Vec<f64> = (0..2 * 50_000).map(|i| (i % 360) as f64).collect();
        let map = Map::angles_f64(&data, 2, 50_000, 360.0).unwrap();
        let err = column_spacing(&map).unwrap_err();
        assert!(
            matches!(&err, CortexError::InvalidMap(m) if m.contains("elongated")),
            "{err}"
        );
    }

    #[test]
    fn constant_and_empty_maps_have_no_spacing() {
        let a = vec![42.0f64; 64];
        assert!(matches!(
            column_spacing(&Map::angles_f64(&a, 8, 8, 360.0).unwrap()),
            Err(CortexError::NoSpectralPeak(_))
        ));
        let a = vec![f64::NAN; 64];
        assert!(matches!(
            column_spacing(&Map::angles_f64(&a, 8, 8, 360.0).unwrap()),
            Err(CortexError::NothingToAnalyse(_))
        ));
    }

    #[test]
    fn a_gaussian_peak_is_found_between_bins() {
        let power: Vec<f64> = (0..40)
            .map(|b| (-((b as f64 - 12.3) / 2.0).powi(2) / 2.0).exp())
            .collect();
        assert!((fit_peak(&power).unwrap() - 12.3).abs() < 1e-9);
    }
}
