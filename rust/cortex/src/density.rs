//! Pinwheel density: pinwheels per column spacing squared, and the nearest
//! neighbour distances of the pinwheels.

use crate::error::{CortexError, Result};
use crate::map::Map;
use crate::pinwheels::{locate_pinwheels, Pinwheel};
use crate::spacing::{column_spacing, ColumnSpacing};

/// How much of the map to analyse and how large its pixels are.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DensityOptions {
    /// Plaquettes with a corner closer than this many pixels (Chebyshev
    /// distance) to the map's edge or to a pixel off the sheet are left out,
    /// with their pinwheels: near a border the phase is least reliable.
    pub margin_px: usize,
    /// Pixel size in millimetres, for Lambda and the area in mm.
    pub pixel_mm: Option<f64>,
}

/// Distances from each analysed pinwheel to its nearest analysed neighbour,
/// in pixels; NaN where there is none. Kaschube et al. (2010) compare these,
/// in units of Lambda, across species.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NearestNeighbours {
    pub any_sign: Vec<f64>,
    pub same_sign: Vec<f64>,
    pub opposite_sign: Vec<f64>,
}

/// Pinwheels per Lambda^2 over the analysed part of a map.
#[derive(Clone, Debug, PartialEq)]
pub struct PinwheelDensity {
    /// The pinwheels inside the analysed area.
    pub pinwheels: Vec<Pinwheel>,
    pub n_plus: usize,
    pub n_minus: usize,
    /// The analysed area in square pixels: one per analysed plaquette.
    pub area_px: f64,
    /// Lambda and the spectrum it came from (of the whole map).
    pub spacing: ColumnSpacing,
    /// Pinwheels of both signs per Lambda^2: pi for a random field with a
    /// thin ring spectrum, about pi in cat, tree shrew and galago V1.
    pub density: f64,
    pub density_plus: f64,
    pub density_minus: f64,
    pub nearest: NearestNeighbours,
    pub pixel_mm: Option<f64>,
}

impl PinwheelDensity {
    pub fn n_total(&self) -> usize {
        self.n_plus + self.n_minus
    }

    /// The analysed area in units of Lambda^2 (hypercolumns).
    pub fn area_in_columns(&self) -> f64 {
        self.area_px / self.spacing.wavelength_px.powi(2)
    }

    pub fn wavelength_mm(&self) -> Option<f64> {
        self.pixel_mm.map(|mm| self.spacing.wavelength_mm(mm))
    }

    pub fn area_mm2(&self) -> Option<f64> {
        self.pixel_mm.map(|mm| self.area_px * mm * mm)
    }
}

/// Pinwheel density of `map`: pinwheels (by sign and in total) per Lambda^2
/// over the analysed area, with Lambda from [`column_spacing`].
pub fn pinwheel_density(map: &Map<'_>, options: &DensityOptions) -> Result<PinwheelDensity> {
    if let Some(mm) = options.pixel_mm {
        if !(mm.is_finite() && mm > 0.0) {
            return Err(CortexError::InvalidMap(format!(
                "the pixel size must be a positive number of millimetres, got {mm}"
            )));
        }
    }
    let located = locate_pinwheels(map)?;
    let spacing = column_spacing(map)?;
    let (h, w) = (map.height(), map.width());
    let inside = analysed_pixels(map, options.margin_px);
    let plaquette_inside = |r: usize, c: usize| {
        inside[r * w + c]
            && inside[r * w + c + 1]
            && inside[(r + 1) * w + c]
            && inside[(r + 1) * w + c + 1]
    };
    let mut area = 0usize;
    for r in 0..h - 1 {
        area += (0..w - 1).filter(|&c| plaquette_inside(r, c)).count();
    }
    if area == 0 {
        return Err(CortexError::NothingToAnalyse(format!(
            "a margin of {} px leaves none of the {h} x {w} map",
            options.margin_px
        )));
    }
    let pinwheels: Vec<Pinwheel> = located
        .into_iter()
        .filter(|&((r, c), _)| plaquette_inside(r, c))
        .map(|(_, p)| p)
        .collect();
    let n_plus = pinwheels.iter().filter(|p| p.charge > 0).count();
    let n_minus = pinwheels.len() - n_plus;
    let columns = area as f64 / spacing.wavelength_px.powi(2);
    let nearest = nearest_neighbours(&pinwheels);
    Ok(PinwheelDensity {
        n_plus,
        n_minus,
        area_px: area as f64,
        density: (n_plus + n_minus) as f64 / columns,
        density_plus: n_plus as f64 / columns,
        density_minus: n_minus as f64 / columns,
        spacing,
        nearest,
        pinwheels,
        pixel_mm: options.pixel_mm,
    })
}

/// Pixels on the sheet whose whole (2 margin + 1)^2 neighbourhood is on the
/// sheet and inside the map: an erosion done as a row pass then a column
/// pass, each counting off-sheet pixels in a sliding window.
fn analysed_pixels(map: &Map<'_>, margin: usize) -> Vec<bool> {
    let (h, w) = (map.height(), map.width());
    let valid: Vec<bool> = (0..h * w).map(|i| map.is_valid(i)).collect();
    if margin == 0 {
        return valid;
    }
    let erode = |line: &[bool]| -> Vec<bool> {
        let n = line.len();
        let mut prefix = vec![0usize; n + 1];
        for (i, &ok) in line.iter().enumerate() {
            prefix[i + 1] = prefix[i] + usize::from(!ok);
        }
        (0..n)
            .map(|i| i >= margin && i + margin < n && prefix[i + margin + 1] == prefix[i - margin])
            .collect()
    };
    let mut rows = vec![false; h * w];
    for r in 0..h {
        rows[r * w..(r + 1) * w].copy_from_slice(&erode(&valid[r * w..(r + 1) * w]));
    }
    let mut out = vec![false; h * w];
    for c in 0..w {
        let column: Vec<bool> = (0..h).map(|r| rows[r * w + c]).collect();
        for (r, ok) in erode(&column).into_iter().enumerate() {
            out[r * w + c] = ok;
        }
    }
    out
}

/// Nearest neighbours with a uniform grid of about one pinwheel per cell: each
/// pinwheel searches rings of cells outward and stops once the nearest cell of
/// the next ring is further than both its best distances, so the cost grows
/// with the number of pinwheels, not its square.
fn nearest_neighbours(pinwheels: &[Pinwheel]) -> NearestNeighbours {
    let n = pinwheels.len();
    let mut same = vec![f64::INFINITY; n];
    let mut opposite = vec![f64::INFINITY; n];
    if n > 1 {
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in pinwheels {
            (x0, x1, y0, y1) = (x0.min(p.x), x1.max(p.x), y0.min(p.y), y1.max(p.y));
        }
        let extent = (x1 - x0).max(y1 - y0).max(1e-9);
        let cell = (((x1 - x0).max(1e-9) * (y1 - y0).max(1e-9)) / n as f64)
            .sqrt()
            .max(extent / 4096.0);
        let gx = ((x1 - x0) / cell) as usize + 1;
        let gy = ((y1 - y0) / cell) as usize + 1;
        let cell_of = |p: &Pinwheel| {
            let cx = (((p.x - x0) / cell) as usize).min(gx - 1);
            let cy = (((p.y - y0) / cell) as usize).min(gy - 1);
            (cx, cy)
        };
        // Compressed buckets: start[c]..start[c + 1] index into `members`.
        let mut start = vec![0usize; gx * gy + 1];
        for p in pinwheels {
            let (cx, cy) = cell_of(p);
            start[cy * gx + cx + 1] += 1;
        }
        for c in 0..gx * gy {
            start[c + 1] += start[c];
        }
        let mut fill = start.clone();
        let mut members = vec![0usize; n];
        for (i, p) in pinwheels.iter().enumerate() {
            let (cx, cy) = cell_of(p);
            members[fill[cy * gx + cx]] = i;
            fill[cy * gx + cx] += 1;
        }
        let plus = pinwheels.iter().filter(|p| p.charge > 0).count();
        let minus = n - plus;
        for (i, p) in pinwheels.iter().enumerate() {
            let (cx, cy) = (cell_of(p).0 as isize, cell_of(p).1 as isize);
            // A sign with no other pinwheel has no neighbour to wait for.
            let (n_same, n_opposite) = if p.charge > 0 {
                (plus - 1, minus)
            } else {
                (minus - 1, plus)
            };
            let max_ring = gx.max(gy) as isize;
            for r in 0..=max_ring {
                // Every cell of ring r is at least (r - 1) cells away.
                let needed = |best: f64, count: usize| if count > 0 { best } else { 0.0 };
                let bound = needed(same[i], n_same).max(needed(opposite[i], n_opposite));
                if r > 0 && (r - 1) as f64 * cell > bound {
                    break;
                }
                for dy in -r..=r {
                    let y = cy + dy;
                    if y < 0 || y >= gy as isize {
                        continue;
                    }
                    let step = if dy.abs() == r { 1 } else { 2 * r.max(1) };
                    let mut dx = -r;
                    while dx <= r {
                        let x = cx + dx;
                        if x >= 0 && x < gx as isize {
                            let c = y as usize * gx + x as usize;
                            for &j in &members[start[c]..start[c + 1]] {
                                if j == i {
                                    continue;
                                }
                                let q = pinwheels[j];
                                let d = (q.x - p.x).hypot(q.y - p.y);
                                let slot = if p.charge == q.charge {
                                    &mut same[i]
                                } else {
                                    &mut opposite[i]
                                };
                                *slot = slot.min(d);
                            }
                        }
                        dx += step;
                    }
                }
            }
        }
    }
    let none_to_nan = |v: Vec<f64>| -> Vec<f64> {
        v.into_iter()
            .map(|d| if d.is_finite() { d } else { f64::NAN })
            .collect()
    };
    let any_sign = same.iter().zip(&opposite).map(|(a, b)| a.min(*b)).collect();
    NearestNeighbours {
        any_sign: none_to_nan(any_sign),
        same_sign: none_to_nan(same),
        opposite_sign: none_to_nan(opposite),
    }
}

/// Pinwheels per Lambda^2 around each pixel of a map, for figures of how
/// the density varies across the sheet.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalDensity {
    pub height: usize,
    pub width: usize,
    /// Row-major; NaN off the analysed area (and where the window holds
    /// almost none of it).
    pub values: Vec<f64>,
    /// Width of the Gaussian window in pixels.
    pub sigma_px: f64,
    /// The global density and its parts, for reference.
    pub global: PinwheelDensity,
}

/// Local pinwheel density: the Gaussian-weighted number of pinwheels over the
/// Gaussian-weighted analysed area, in units of Lambda^2, with a window of
/// `window_columns` Lambda (sigma). Weighting the area as well as the count
/// keeps the estimate unbiased next to borders and masked regions; a window
/// much wider than the map gives the global density everywhere.
pub fn local_pinwheel_density(
    map: &Map<'_>,
    options: &DensityOptions,
    window_columns: f64,
) -> Result<LocalDensity> {
    if !(window_columns.is_finite() && window_columns > 0.0) {
        return Err(CortexError::InvalidMap(format!(
            "the window must be a positive number of column spacings, got {window_columns}"
        )));
    }
    let global = pinwheel_density(map, options)?;
    let (h, w) = (map.height(), map.width());
    let inside = analysed_pixels(map, options.margin_px);
    // Each analysed plaquette (area 1) and each pinwheel (count 1) is shared
    // between the four pixels around it by bilinear weights.
    let mut area = vec![0.0f64; h * w];
    let mut count = vec![0.0f64; h * w];
    for r in 0..h - 1 {
        for c in 0..w - 1 {
            let corners = [
                r * w + c,
                r * w + c + 1,
                (r + 1) * w + c,
                (r + 1) * w + c + 1,
            ];
            if corners.iter().all(|&i| inside[i]) {
                for i in corners {
                    area[i] += 0.25;
                }
            }
        }
    }
    for p in &global.pinwheels {
        let (c, r) = (
            p.x.floor().clamp(0.0, (w - 2) as f64),
            p.y.floor().clamp(0.0, (h - 2) as f64),
        );
        let (u, v) = ((p.x - c).clamp(0.0, 1.0), (p.y - r).clamp(0.0, 1.0));
        let (r, c) = (r as usize, c as usize);
        count[r * w + c] += (1.0 - u) * (1.0 - v);
        count[r * w + c + 1] += u * (1.0 - v);
        count[(r + 1) * w + c] += (1.0 - u) * v;
        count[(r + 1) * w + c + 1] += u * v;
    }
    let sigma_px = window_columns * global.spacing.wavelength_px;
    let kernel = gaussian_kernel(sigma_px, h.max(w));
    let area = blur(&area, h, w, &kernel);
    let count = blur(&count, h, w, &kernel);
    let columns_per_px = global.spacing.wavelength_px.powi(2);
    // Below a hundredth of the kernel's weight on one plaquette the ratio is noise.
    let floor = 0.01 * kernel[0] * kernel[0];
    let values = area
        .iter()
        .zip(&count)
        .zip(&inside)
        .map(|((&a, &n), &on)| {
            if on && a > floor {
                n / a * columns_per_px
            } else {
                f64::NAN
            }
        })
        .collect();
    Ok(LocalDensity {
        height: h,
        width: w,
        values,
        sigma_px,
        global,
    })
}

/// Half of a normalised Gaussian (centre first), truncated at 4 sigma or
/// the map's size.
fn gaussian_kernel(sigma: f64, size: usize) -> Vec<f64> {
    let radius = ((4.0 * sigma).ceil() as usize).min(size);
    let mut k: Vec<f64> = (0..=radius)
        .map(|d| (-0.5 * (d as f64 / sigma).powi(2)).exp())
        .collect();
    let total = k[0] + 2.0 * k[1..].iter().sum::<f64>();
    k.iter_mut().for_each(|v| *v /= total);
    k
}

/// Separable blur with zeros outside the map; rows in parallel.
fn blur(image: &[f64], h: usize, w: usize, half: &[f64]) -> Vec<f64> {
    use rayon::prelude::*;
    let line = |src: &[f64], dst: &mut [f64]| {
        let n = src.len();
        for (i, out) in dst.iter_mut().enumerate() {
            let mut acc = half[0] * src[i];
            for (d, &k) in half.iter().enumerate().skip(1) {
                if i >= d {
                    acc += k * src[i - d];
                }
                if i + d < n {
                    acc += k * src[i + d];
                }
            }
            *out = acc;
        }
    };
    let mut rows = vec![0.0; h * w];
    rows.par_chunks_mut(w)
        .zip(image.par_chunks(w))
        .for_each(|(dst, src)| line(src, dst));
    // Columns as rows of the transpose.
    let mut t = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            t[c * h + r] = rows[r * w + c];
        }
    }
    let mut tb = vec![0.0; h * w];
    tb.par_chunks_mut(h)
        .zip(t.par_chunks(h))
        .for_each(|(dst, src)| line(src, dst));
    let mut out = vec![0.0; h * w];
    for r in 0..h {
        for c in 0..w {
            out[r * w + c] = tb[c * h + r];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_maps::{angles_of, planted, ring_field};
    use std::f64::consts::PI;

    #[test]
    fn ring_fields_have_pi_pinwheels_per_column_spacing_squared() {
        // For an isotropic complex Gaussian field the density of zeros is
        // <k^2> / (4 pi); on a thin ring k = 2 pi / Lambda that is pi / Lambda^2.
        let (size, lambda) = (256, 16.0);
        for period in [360.0, 180.0] {
            let mut densities = Vec::new();
            for seed in 0..6 {
                let z = ring_field(size, lambda, 100 + seed);
                let a = angles_of(&z, period);
                let map = Map::angles_f64(&a, size, size, period).unwrap();
                let d = pinwheel_density(&map, &DensityOptions::default()).unwrap();
                assert!((d.spacing.wavelength_px / lambda - 1.0).abs() < 0.03);
                assert_eq!(d.area_px, (255 * 255) as f64);
                assert!((d.density - d.density_plus - d.density_minus).abs() < 1e-12);
                densities.push(d.density);
            }
            let mean = densities.iter().sum::<f64>() / densities.len() as f64;
            assert!((mean / PI - 1.0).abs() < 0.03, "period {period}: {mean}");
        }
    }

    #[test]
    fn margin_shrinks_the_area_and_keeps_inner_pinwheels() {
        let (h, w) = (40, 40);
        let z = planted(h, w, &[(5.5, 5.5, 1), (20.3, 19.6, -1), (33.2, 21.7, 1)]);
        let a = angles_of(&z, 360.0);
        let map = Map::angles_f64(&a, h, w, 360.0).unwrap();
        let all = pinwheel_density(&map, &DensityOptions::default()).unwrap();
        assert_eq!((all.n_plus, all.n_minus), (2, 1));
        let opts = DensityOptions {
            margin_px: 8,
            pixel_mm: Some(0.1),
        };
        let inner = pinwheel_density(&map, &opts).unwrap();
        // Corners 8..=31 remain: 23 x 23 plaquettes.
        assert_eq!(inner.area_px, 23.0 * 23.0);
        assert_eq!((inner.n_plus, inner.n_minus), (0, 1));
        assert!((inner.area_mm2().unwrap() - 5.29).abs() < 1e-9);
        let too_wide = DensityOptions {
            margin_px: 20,
            pixel_mm: None,
        };
        assert!(matches!(
            pinwheel_density(&map, &too_wide),
            Err(CortexError::NothingToAnalyse(_))
        ));
    }

    #[test]
    fn nearest_neighbours_match_brute_force() {
        let z = ring_field(128, 12.0, 7);
        let map = Map::complex(&z, 128, 128).unwrap();
        let d = pinwheel_density(&map, &DensityOptions::default()).unwrap();
        let p = &d.pinwheels;
        assert!(p.len() > 50);
        for i in 0..p.len() {
            let (mut same, mut opp) = (f64::INFINITY, f64::INFINITY);
            for j in 0..p.len() {
                if i != j {
                    let dist = (p[i].x - p[j].x).hypot(p[i].y - p[j].y);
                    if p[i].charge == p[j].charge {
                        same = same.min(dist);
                    } else {
                        opp = opp.min(dist);
                    }
                }
            }
            assert_eq!(d.nearest.same_sign[i], same);
            assert_eq!(d.nearest.opposite_sign[i], opp);
            assert_eq!(d.nearest.any_sign[i], same.min(opp));
        }
        let lone = nearest_neighbours(&p[..1]);
        assert!(lone.any_sign[0].is_nan());
        // One sign only, in two far-apart clusters: the grid search must still
        // find each one's nearest, and no opposite-sign neighbour.
        let mut one_sign: Vec<Pinwheel> = p.iter().copied().filter(|q| q.charge > 0).collect();
        for q in one_sign.iter_mut().skip(5) {
            q.x += 5000.0;
        }
        let nn = nearest_neighbours(&one_sign);
        for (i, a) in one_sign.iter().enumerate() {
            let best = one_sign
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| (a.x - b.x).hypot(a.y - b.y))
                .fold(f64::INFINITY, f64::min);
            assert_eq!(nn.same_sign[i], best);
            assert!(nn.opposite_sign[i].is_nan());
        }
    }

    #[test]
    fn bad_pixel_size_is_refused() {
        let a = [0.0f64, 90.0, 270.0, 180.0];
        let map = Map::angles_f64(&a, 2, 2, 360.0).unwrap();
        let opts = DensityOptions {
            margin_px: 0,
            pixel_mm: Some(-1.0),
        };
        assert!(matches!(
            pinwheel_density(&map, &opts),
            Err(CortexError::InvalidMap(_))
        ));
    }

    #[test]
    fn a_window_wider_than_the_map_gives_the_global_density_everywhere() {
        let z = ring_field(64, 10.0, 9);
        let map = Map::complex(&z, 64, 64).unwrap();
        let local = local_pinwheel_density(&map, &DensityOptions::default(), 100.0).unwrap();
        assert_eq!(local.values.len(), 64 * 64);
        for &v in &local.values {
            assert!((v / local.global.density - 1.0).abs() < 0.01, "{v}");
        }
    }

    #[test]
    fn local_density_of_a_ring_field_averages_to_pi_and_is_nan_off_the_sheet() {
        let size = 256;
        let z = ring_field(size, 16.0, 12);
        let mut a = angles_of(&z, 360.0);
        for v in a.iter_mut().take(40 * size) {
            *v = f64::NAN;
        }
        let map = Map::angles_f64(&a, size, size, 360.0).unwrap();
        let local = local_pinwheel_density(&map, &DensityOptions::default(), 1.0).unwrap();
        // Off the sheet there is no local density.
        assert!(local.values[5 * size + 100].is_nan());
        let inner: Vec<f64> = (80..220)
            .flat_map(|r| (40..220).map(move |c| (r, c)))
            .map(|(r, c)| local.values[r * size + c])
            .collect();
        let mean = inner.iter().sum::<f64>() / inner.len() as f64;
        assert!((mean / PI - 1.0).abs() < 0.1, "{mean}");
        assert!(matches!(
            local_pinwheel_density(&map, &DensityOptions::default(), 0.0),
            Err(CortexError::InvalidMap(_))
        ));
    }
}
