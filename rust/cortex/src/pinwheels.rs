//! Pinwheels as winding numbers of the map's phase around 2 x 2 plaquettes.

use rustfft::num_complex::Complex64;

use crate::error::{CortexError, Result};
use crate::map::{Map, MapData};

/// A pinwheel: a plaquette around which the phase winds by one full turn.
///
/// `x` is the column and `y` the row coordinate in pixels (pixel centres at
/// integers). `charge` is +1 when the phase increases counter-clockwise in
/// the (x, y) plane, as `arg(x + i y)` does around the origin, and -1 when it
/// decreases. In an orientation map (period 180) one turn of phase is half a
/// turn of orientation, so charge +1 is the +1/2 pinwheel of that map.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pinwheel {
    pub x: f64,
    pub y: f64,
    pub charge: i8,
}

/// Every pinwheel of `map`, in row-major order of their plaquettes.
///
/// The charge of the plaquette with corners (row, col) .. (row+1, col+1) is
/// the sum of the wrapped phase differences around it divided by a full turn.
/// Plaquettes that touch a pixel outside the sheet are skipped. A pinwheel of
/// an angle map sits at its plaquette's centre; one of a complex map at the
/// common zero of the bilinear interpolants of Re z and Im z inside it.
///
/// Fails only when the map has no complete plaquette.
pub fn find_pinwheels(map: &Map<'_>) -> Result<Vec<Pinwheel>> {
    Ok(locate_pinwheels(map)?.into_iter().map(|(_, p)| p).collect())
}

/// As [`find_pinwheels`], with the (row, col) of each pinwheel's plaquette.
pub(crate) fn locate_pinwheels(map: &Map<'_>) -> Result<Vec<((usize, usize), Pinwheel)>> {
    let mut found = Vec::new();
    let complete = scan_plaquettes(map, |row, col, charge| {
        let (x, y) = match map.data() {
            MapData::Complex(z) => zero_in_plaquette(z, map.width(), row, col),
            _ => (col as f64 + 0.5, row as f64 + 0.5),
        };
        found.push(((row, col), Pinwheel { x, y, charge }));
    });
    if complete == 0 {
        return Err(no_plaquette(map));
    }
    Ok(found)
}

pub(crate) fn no_plaquette(map: &Map<'_>) -> CortexError {
    CortexError::NothingToAnalyse(format!(
        "no 2 x 2 block of the {} x {} map is free of NaN or infinite values",
        map.height(),
        map.width()
    ))
}

/// Calls `on_pinwheel(row, col, charge)` for every plaquette with a non-zero
/// charge and returns how many plaquettes were complete (all four corners on
/// the sheet).
///
/// Every phase difference is taken once: the horizontal steps of a row serve
/// the plaquettes above and below it, each vertical step the plaquettes to
/// its left and right.
pub(crate) fn scan_plaquettes(map: &Map<'_>, on_pinwheel: impl FnMut(usize, usize, i8)) -> usize {
    #[cfg(target_arch = "x86_64")]
    if stdann_isa::Isa::selected() >= stdann_isa::Isa::Avx2 {
        // SAFETY: the selected set never exceeds what the CPU reported, and
        // AVX2 is the only feature the function is compiled for.
        return unsafe { scan_plaquettes_avx2(map, on_pinwheel) };
    }
    scan_plaquettes_portable(map, on_pinwheel)
}

/// The same loops compiled for AVX2: twice the lanes of the x86-64 baseline
/// (SSE2), chosen at run time so that one build serves every machine.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_plaquettes_avx2(map: &Map<'_>, on_pinwheel: impl FnMut(usize, usize, i8)) -> usize {
    scan_plaquettes_portable(map, on_pinwheel)
}

#[inline(always)]
fn scan_plaquettes_portable(map: &Map<'_>, mut on_pinwheel: impl FnMut(usize, usize, i8)) -> usize {
    let (h, w) = (map.height(), map.width());
    let (mut top_phase, mut bottom_phase) = (vec![0u32; w], vec![0u32; w]);
    let (mut top_valid, mut bottom_valid) = (vec![0u32; w], vec![0u32; w]);
    let mut charges = vec![0i8; w - 1];
    let mut complete = 0usize;
    map.phase_row(0, &mut top_phase, &mut top_valid);
    for row in 0..h - 1 {
        if row > 0 {
            std::mem::swap(&mut top_phase, &mut bottom_phase);
            std::mem::swap(&mut top_valid, &mut bottom_valid);
        }
        map.phase_row(row + 1, &mut bottom_phase, &mut bottom_valid);
        complete += plaquette_row(
            &top_phase,
            &bottom_phase,
            &top_valid,
            &bottom_valid,
            &mut charges,
        );
        // Pinwheels are sparse: skip eight empty plaquettes (one u64) at a time.
        let blocks = charges.chunks_exact(8);
        let tail = blocks.remainder();
        for (k, block) in blocks.enumerate() {
            let bytes: [u8; 8] = std::array::from_fn(|m| block[m] as u8);
            if u64::from_ne_bytes(bytes) != 0 {
                for (m, &c) in block.iter().enumerate() {
                    if c != 0 {
                        on_pinwheel(row, k * 8 + m, c);
                    }
                }
            }
        }
        let start = charges.len() - tail.len();
        for (m, &c) in tail.iter().enumerate() {
            if c != 0 {
                on_pinwheel(row, start + m, c);
            }
        }
    }
    complete
}

/// A phase step (the `u32` difference of two phases) wrapped into
/// [-half turn, half turn) by reading it as `i32`, then divided by 4 (rounded
/// down) so that four of them add up inside `i32`.
#[inline(always)]
fn quarter(step: u32) -> i32 {
    (step as i32) >> 2
}

/// Charges of one row of plaquettes between rows `p0` (top) and `p1`, in
/// one pass with no intermediate arrays.
///
/// The four wrapped steps around a plaquette sum to an exact multiple of a
/// turn (2^32 units), 2^32 times the charge; the quarter steps, each off by
/// less than one unit, sum to within 4 units of 2^30 times it, so rounding to
/// a multiple of 2^30 recovers it. A step of exactly half a turn between two
/// corners has no direction (plus or minus half a turn are the same phase), so
/// a plaquette with one has no defined winding and counts as no pinwheel;
/// quantised maps (directions from an argmax over a few stimuli) hit this
/// often, and reading every such step as -1/2 turn invented charges of one sign.
#[inline(always)]
fn plaquette_row(p0: &[u32], p1: &[u32], v0: &[u32], v1: &[u32], charges: &mut [i8]) -> usize {
    const HALF: u32 = 1 << 31;
    let n = charges.len();
    let (p0, p1, v0, v1) = (&p0[..n + 1], &p1[..n + 1], &v0[..n + 1], &v1[..n + 1]);
    let mut complete = 0u32;
    for j in 0..n {
        // Counter-clockwise in (x, y): right along the top, down the right
        // side, left along the bottom, up the left side.
        let d = [
            p0[j + 1].wrapping_sub(p0[j]),
            p1[j + 1].wrapping_sub(p0[j + 1]),
            p1[j].wrapping_sub(p1[j + 1]),
            p0[j].wrapping_sub(p1[j]),
        ];
        let s = quarter(d[0]) + quarter(d[1]) + quarter(d[2]) + quarter(d[3]);
        let k = (s + (1 << 29)) >> 30;
        let undefined = (d[0] == HALF) | (d[1] == HALF) | (d[2] == HALF) | (d[3] == HALF);
        let ok = v0[j] & v0[j + 1] & v1[j] & v1[j + 1];
        let k = if undefined { 0 } else { k };
        charges[j] = (k & ok.wrapping_neg() as i32) as i8;
        complete += ok;
    }
    complete as usize
}

/// The zero of the bilinear interpolant of `z` inside the plaquette whose
/// top-left corner is (row, col), in map coordinates (x = col, y = row).
///
/// Along each edge the interpolant is linear, so its phase turns by the
/// wrapped difference of the corners: a charged plaquette holds a zero of it.
/// With Re z = a0 + a1 u + a2 v + a3 u v and Im z = b0 + b1 u + b2 v + b3 u v
/// (u, v in [0, 1]), eliminating u leaves A v^2 + B v + C = 0.
fn zero_in_plaquette(z: &[Complex64], width: usize, row: usize, col: usize) -> (f64, f64) {
    let at = |r: usize, c: usize| z[r * width + c];
    let (z00, z10, z01, z11) = (
        at(row, col),
        at(row, col + 1),
        at(row + 1, col),
        at(row + 1, col + 1),
    );
    let d1 = z10 - z00;
    let d2 = z01 - z00;
    let d3 = z11 - z10 - z01 + z00;
    let (a0, a1, a2, a3) = (z00.re, d1.re, d2.re, d3.re);
    let (b0, b1, b2, b3) = (z00.im, d1.im, d2.im, d3.im);
    let qa = b2 * a3 - b3 * a2;
    let qb = b0 * a3 + b2 * a1 - b1 * a2 - b3 * a0;
    let qc = b0 * a1 - b1 * a0;

    let mut roots = [f64::NAN; 2];
    let scale = qa.abs().max(qb.abs()).max(qc.abs());
    if scale == 0.0 {
        // Every corner is zero: the whole plaquette is the zero.
        return (col as f64 + 0.5, row as f64 + 0.5);
    }
    if qa.abs() <= 1e-12 * scale {
        roots[0] = -qc / qb;
    } else {
        let disc = qb * qb - 4.0 * qa * qc;
        let sq = disc.max(0.0).sqrt();
        // The numerically stable pair of roots.
        let q = -0.5 * (qb + sq.copysign(qb));
        roots[0] = q / qa;
        roots[1] = if q != 0.0 { qc / q } else { roots[0] };
    }
    let mut best: Option<(f64, f64, f64)> = None;
    for v in roots {
        if !v.is_finite() {
            continue;
        }
        let (da, db) = (a1 + a3 * v, b1 + b3 * v);
        let u = if da.abs() >= db.abs() {
            -(a0 + a2 * v) / da
        } else {
            -(b0 + b2 * v) / db
        };
        if !u.is_finite() {
            continue;
        }
        let outside = (u - u.clamp(0.0, 1.0)).abs() + (v - v.clamp(0.0, 1.0)).abs();
        if best.is_none_or(|b| outside < b.2) {
            best = Some((u, v, outside));
        }
    }
    let (u, v) = best.map_or((0.5, 0.5), |(u, v, _)| {
        (u.clamp(0.0, 1.0), v.clamp(0.0, 1.0))
    });
    (col as f64 + u, row as f64 + v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_maps::{angles_of, planted};
    use proptest::prelude::*;

    const PLANTED: [(f64, f64, i32); 4] = [
        (10.3, 12.7, 1),
        (30.6, 9.2, -1),
        (21.1, 30.4, 1),
        (40.5, 35.5, -1),
    ];

    #[test]
    fn planted_pinwheels_from_the_complex_map_within_a_tenth_of_a_pixel() {
        let (h, w) = (48, 52);
        let z = planted(h, w, &PLANTED);
        let map = Map::complex(&z, h, w).unwrap();
        let mut found = find_pinwheels(&map).unwrap();
        assert_eq!(found.len(), PLANTED.len());
        for &(x, y, q) in &PLANTED {
            found.sort_by(|a, b| {
                let da = (a.x - x).hypot(a.y - y);
                let db = (b.x - x).hypot(b.y - y);
                da.total_cmp(&db)
            });
            let p = found[0];
            assert_eq!(i32::from(p.charge), q);
            assert!((p.x - x).hypot(p.y - y) < 0.1, "{p:?} vs ({x}, {y})");
        }
    }

    #[test]
    fn planted_pinwheels_from_angles_within_one_plaquette() {
        let (h, w) = (48, 52);
        let z = planted(h, w, &PLANTED);
        for period in [360.0, 180.0] {
            let a = angles_of(&z, period);
            let map = Map::angles_f64(&a, h, w, period).unwrap();
            let found = find_pinwheels(&map).unwrap();
            assert_eq!(found.len(), PLANTED.len());
            for &(x, y, q) in &PLANTED {
                let p = found
                    .iter()
                    .find(|p| (p.x - x).abs() <= 0.5 && (p.y - y).abs() <= 0.5)
                    .unwrap_or_else(|| panic!("no pinwheel at ({x}, {y}): {found:?}"));
                assert_eq!(i32::from(p.charge), q);
            }
        }
    }

    #[test]
    fn a_single_vortex_sits_at_the_plaquette_centre_with_the_right_sign() {
        // arg((x - 0.5) + i (y - 0.5)) on a 2 x 2 map: one +1 pinwheel.
        let a: Vec<f64> = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]
            .iter()
            .map(|&(x, y): &(f64, f64)| (y - 0.5).atan2(x - 0.5).to_degrees())
            .collect();
        let map = Map::angles_f64(&a, 2, 2, 360.0).unwrap();
        assert_eq!(
            find_pinwheels(&map).unwrap(),
            vec![Pinwheel {
                x: 0.5,
                y: 0.5,
                charge: 1
            }]
        );
        let mirrored: Vec<f64> = a.iter().map(|v| -v).collect();
        let map = Map::angles_f64(&mirrored, 2, 2, 360.0).unwrap();
        assert_eq!(find_pinwheels(&map).unwrap()[0].charge, -1);
    }

    #[test]
    fn antipodal_corners_have_no_defined_winding() {
        let a = [0.0f64, 180.0, 180.0, 0.0];
        let map = Map::angles_f64(&a, 2, 2, 360.0).unwrap();
        assert!(find_pinwheels(&map).unwrap().is_empty());
    }

    #[test]
    fn masked_plaquettes_are_skipped_and_all_masked_fails() {
        let (h, w) = (48, 52);
        let z = planted(h, w, &PLANTED);
        let mut a = angles_of(&z, 360.0);
        // Mask one corner of the plaquette that holds the first pinwheel.
        a[12 * w + 10] = f64::NAN;
        let map = Map::angles_f64(&a, h, w, 360.0).unwrap();
        let found = find_pinwheels(&map).unwrap();
        assert_eq!(found.len(), PLANTED.len() - 1);
        let nan = vec![f64::NAN; 16];
        let map = Map::angles_f64(&nan, 4, 4, 360.0).unwrap();
        assert!(matches!(
            find_pinwheels(&map),
            Err(CortexError::NothingToAnalyse(_))
        ));
    }

    #[test]
    fn f32_and_f64_angles_agree() {
        let (h, w) = (48, 52);
        let a = angles_of(&planted(h, w, &PLANTED), 360.0);
        let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
        let p64 = find_pinwheels(&Map::angles_f64(&a, h, w, 360.0).unwrap()).unwrap();
        let p32 = find_pinwheels(&Map::angles_f32(&a32, h, w, 360.0).unwrap()).unwrap();
        assert_eq!(p64, p32);
    }

    /// The winding of the phase along the map's outer boundary, in turns.
    fn boundary_winding(a: &[f64], h: usize, w: usize, period: f64) -> i64 {
        let mut path = Vec::new();
        path.extend((0..w).map(|c| (0, c)));
        path.extend((1..h).map(|r| (r, w - 1)));
        path.extend((0..w - 1).rev().map(|c| (h - 1, c)));
        path.extend((1..h - 1).rev().map(|r| (r, 0)));
        path.push((0, 0));
        let mut total = 0.0;
        for pair in path.windows(2) {
            let d = (a[pair[1].0 * w + pair[1].1] - a[pair[0].0 * w + pair[0].1]) / period;
            total += d - d.round();
        }
        total.round() as i64
    }

    fn arb_map() -> impl Strategy<Value = (usize, usize, Vec<f64>)> {
        (2usize..24, 2usize..24).prop_flat_map(|(h, w)| {
            let value = prop_oneof![
                8 => -720.0f64..720.0,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(f64::NEG_INFINITY),
                1 => prop::num::f64::ANY,
            ];
            (Just(h), Just(w), prop::collection::vec(value, h * w))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_maps_never_panic_and_charges_are_unit(
            (h, w, a) in arb_map(), orientation in any::<bool>()
        ) {
            let period = if orientation { 180.0 } else { 360.0 };
            let map = Map::angles_f64(&a, h, w, period).unwrap();
            if let Ok(found) = find_pinwheels(&map) {
                for p in found {
                    prop_assert!(p.charge == 1 || p.charge == -1);
                    prop_assert!(p.x > 0.0 && p.x < w as f64 && p.y > 0.0 && p.y < h as f64);
                }
            }
            let z: Vec<Complex64> = a.iter().zip(a.iter().rev())
                .map(|(&re, &im)| Complex64::new(re, im)).collect();
            let map = Map::complex(&z, h, w).unwrap();
            if let Ok(found) = find_pinwheels(&map) {
                for p in found {
                    prop_assert!(p.charge == 1 || p.charge == -1);
                    prop_assert!(p.x >= 0.0 && p.x <= w as f64 && p.y >= 0.0 && p.y <= h as f64);
                }
            }
        }

        #[test]
        fn constant_offset_changes_nothing_and_mirroring_flips_charges(
            (h, w, a) in (2usize..20, 2usize..20).prop_flat_map(|(h, w)|
                (Just(h), Just(w), prop::collection::vec(-360.0f64..360.0, h * w))),
            offset in -1000.0f64..1000.0
        ) {
            let base = find_pinwheels(&Map::angles_f64(&a, h, w, 360.0).unwrap()).unwrap();
            let shifted: Vec<f64> = a.iter().map(|v| v + offset).collect();
            let moved = find_pinwheels(&Map::angles_f64(&shifted, h, w, 360.0).unwrap()).unwrap();
            // Shifting can move a phase difference across exactly half a turn
            // only through rounding, which random maps do not hit.
            prop_assert_eq!(&base, &moved);
            // Mirroring x -> w - 1 - x reverses the orientation of every loop.
            let mirrored: Vec<f64> = (0..h * w).map(|i| a[(i / w) * w + (w - 1 - i % w)]).collect();
            let flipped = find_pinwheels(&Map::angles_f64(&mirrored, h, w, 360.0).unwrap()).unwrap();
            let mut expect: Vec<(i64, i64, i8)> = base.iter()
                .map(|p| (((w as f64 - 1.0 - p.x) * 2.0) as i64, (p.y * 2.0) as i64, -p.charge)).collect();
            let mut got: Vec<(i64, i64, i8)> = flipped.iter()
                .map(|p| ((p.x * 2.0) as i64, (p.y * 2.0) as i64, p.charge)).collect();
            expect.sort();
            got.sort();
            prop_assert_eq!(expect, got);
        }

        #[test]
        fn total_charge_is_the_boundary_winding(
            (h, w, a) in (2usize..20, 2usize..20).prop_flat_map(|(h, w)|
                (Just(h), Just(w), prop::collection::vec(-360.0f64..360.0, h * w)))
        ) {
            let found = find_pinwheels(&Map::angles_f64(&a, h, w, 360.0).unwrap()).unwrap();
            let total: i64 = found.iter().map(|p| i64::from(p.charge)).sum();
            prop_assert_eq!(total, boundary_winding(&a, h, w, 360.0));
        }
    }
}
