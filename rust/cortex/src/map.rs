//! Maps on a grid: preferred angles with a period, or complex vector sums.

use rustfft::num_complex::Complex64;

use crate::error::{CortexError, Result};

/// The values of a map, row-major, borrowed from the caller.
#[derive(Clone, Copy, Debug)]
pub enum MapData<'a> {
    /// Preferred angle in degrees, single precision.
    AnglesF32(&'a [f32]),
    /// Preferred angle in degrees, double precision.
    AnglesF64(&'a [f64]),
    /// Vector sum of responses: `arg z` is the preference (already in the
    /// map's phase, i.e. doubled for orientation), `|z|` the selectivity.
    Complex(&'a [Complex64]),
}

/// A map of `height` x `width` pixels with the period of its angles.
#[derive(Clone, Copy, Debug)]
pub struct Map<'a> {
    data: MapData<'a>,
    height: usize,
    width: usize,
    period: f64,
}

/// One full turn of phase in the fixed-point units of [`Map::phase_row`]:
/// phases are kept as `u32` fractions of a turn so that wrapping a phase
/// difference is an exact integer wrap, with no rounding to disagree about.
pub(crate) const TURN: f64 = 4_294_967_296.0;

impl<'a> Map<'a> {
    /// An angle map in degrees with period 360 (direction) or 180
    /// (orientation); any positive finite period is accepted.
    pub fn angles_f64(data: &'a [f64], height: usize, width: usize, period: f64) -> Result<Self> {
        Self::new(MapData::AnglesF64(data), data.len(), height, width, period)
    }

    /// As [`Map::angles_f64`], for single-precision angles.
    pub fn angles_f32(data: &'a [f32], height: usize, width: usize, period: f64) -> Result<Self> {
        Self::new(MapData::AnglesF32(data), data.len(), height, width, period)
    }

    /// A complex map. Its period is nominal (360): the winding of `arg z` is
    /// counted as it is, and the caller decides what one turn of it means.
    pub fn complex(data: &'a [Complex64], height: usize, width: usize) -> Result<Self> {
        Self::new(MapData::Complex(data), data.len(), height, width, 360.0)
    }

    fn new(
        data: MapData<'a>,
        len: usize,
        height: usize,
        width: usize,
        period: f64,
    ) -> Result<Self> {
        if height < 2 || width < 2 {
            return Err(CortexError::InvalidMap(format!(
                "a map needs at least 2 x 2 pixels, got {height} x {width}"
            )));
        }
        if height.checked_mul(width) != Some(len) {
            return Err(CortexError::InvalidMap(format!(
                "{len} values do not fill {height} x {width} pixels"
            )));
        }
        if !(period.is_finite() && period > 0.0) {
            return Err(CortexError::InvalidMap(format!(
                "the period must be a positive number of degrees (360 for direction, 180 for orientation), got {period}"
            )));
        }
        Ok(Self {
            data,
            height,
            width,
            period,
        })
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn period(&self) -> f64 {
        self.period
    }

    pub fn data(&self) -> MapData<'a> {
        self.data
    }

    /// Whether pixel `index` (row-major) is on the sheet.
    pub fn is_valid(&self, index: usize) -> bool {
        match self.data {
            MapData::AnglesF32(d) => d[index].is_finite(),
            MapData::AnglesF64(d) => d[index].is_finite(),
            MapData::Complex(d) => d[index].re.is_finite() && d[index].im.is_finite(),
        }
    }

    /// Row `row` as phases in fractions of a turn (`u32`, see [`TURN`]) and
    /// a validity flag per pixel (1 on the sheet, 0 outside). Invalid pixels
    /// get an arbitrary phase; the caller masks them without branching.
    #[inline(always)]
    pub(crate) fn phase_row(&self, row: usize, phase: &mut [u32], valid: &mut [u32]) {
        let start = row * self.width;
        let scale = TURN / self.period;
        match self.data {
            MapData::AnglesF32(d) => {
                let src = &d[start..start + self.width];
                angles_to_turns(src.iter().map(|&a| f64::from(a)), scale, phase, valid);
            }
            MapData::AnglesF64(d) => {
                let src = &d[start..start + self.width];
                angles_to_turns(src.iter().copied(), scale, phase, valid);
            }
            MapData::Complex(d) => {
                let src = &d[start..start + self.width];
                for ((p, v), z) in phase.iter_mut().zip(valid.iter_mut()).zip(src) {
                    let ok = z.re.is_finite() && z.im.is_finite();
                    let turns = z.im.atan2(z.re) * (0.5 / std::f64::consts::PI);
                    *p = if ok { wrap_to_turn(turns * TURN) } else { 0 };
                    *v = u32::from(ok);
                }
            }
        }
    }

    /// The map as unit complex numbers `exp(i phase)` (the normalised map
    /// whose spectrum gives the column spacing), 0 outside the sheet and
    /// where `z = 0`.
    pub(crate) fn unit_phasor(&self, index: usize) -> Option<Complex64> {
        let to_phasor = |a: f64| {
            let t = std::f64::consts::TAU * a / self.period;
            Complex64::new(t.cos(), t.sin())
        };
        match self.data {
            MapData::AnglesF32(d) => d[index].is_finite().then(|| to_phasor(f64::from(d[index]))),
            MapData::AnglesF64(d) => d[index].is_finite().then(|| to_phasor(d[index])),
            MapData::Complex(d) => {
                let z = d[index];
                if !(z.re.is_finite() && z.im.is_finite()) {
                    return None;
                }
                let r = z.norm();
                Some(if r > 0.0 {
                    z / r
                } else {
                    Complex64::new(0.0, 0.0)
                })
            }
        }
    }
}

/// 1.5 * 2^52: adding it to |x| < 2^51 leaves round(x) in the low bits of
/// the mantissa, so the low 32 bits of the sum's representation are round(x)
/// modulo 2^32, a phase wrapped to one turn. Unlike `floor` (a library call
/// on baseline x86-64) or a saturating `as` cast, this vectorises.
const ROUNDING_BIAS: f64 = 6_755_399_441_055_744.0;

/// Angles times `scale` (fixed-point units per degree) as wrapped phases,
/// with validity flags (a comparison that is false for NaN and infinities).
#[inline(always)]
fn angles_to_turns(
    angles: impl Iterator<Item = f64> + Clone,
    scale: f64,
    phase: &mut [u32],
    valid: &mut [u32],
) {
    let mut far = false;
    for ((p, v), a) in phase.iter_mut().zip(valid.iter_mut()).zip(angles.clone()) {
        let x = a * scale;
        *p = (x + ROUNDING_BIAS).to_bits() as u32;
        *v = u32::from(a.abs() < f64::INFINITY);
        far |= x.abs() >= 2f64.powi(50);
    }
    // Angles more than 2^18 turns from zero are rare; wrap them the slow way.
    if far {
        for ((p, v), a) in phase.iter_mut().zip(valid.iter()).zip(angles) {
            if *v == 1 {
                *p = wrap_to_turn(a * scale);
            }
        }
    }
}

/// A phase in fixed-point units (any real) wrapped to one turn; `as`
/// saturates NaN and infinities instead of panicking.
fn wrap_to_turn(units: f64) -> u32 {
    (units - TURN * (units / TURN).floor()) as u64 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_periods_are_checked() {
        let d = [0.0f64; 6];
        assert!(Map::angles_f64(&d, 2, 3, 360.0).is_ok());
        assert!(matches!(
            Map::angles_f64(&d, 3, 3, 360.0),
            Err(CortexError::InvalidMap(_))
        ));
        assert!(Map::angles_f64(&d, 1, 6, 360.0).is_err());
        assert!(Map::angles_f64(&d, 2, 3, 0.0).is_err());
        assert!(Map::angles_f64(&d, 2, 3, f64::NAN).is_err());
        assert!(Map::angles_f64(&d, 2, 3, -180.0).is_err());
    }

    #[test]
    fn phases_are_fractions_of_a_turn() {
        // 90 degrees of a direction map is a quarter turn; of an orientation
        // map (period 180) half a turn; -90 wraps to three quarters.
        let d = [90.0f64, -90.0, 360.0, f64::NAN];
        let m = Map::angles_f64(&d, 2, 2, 360.0).unwrap();
        let (mut p, mut v) = ([0u32; 2], [0u32; 2]);
        m.phase_row(0, &mut p, &mut v);
        assert_eq!(p, [1 << 30, 3 << 30]);
        m.phase_row(1, &mut p, &mut v);
        assert_eq!((p, v), ([0, 0], [1, 0]));
        let m = Map::angles_f64(&d, 2, 2, 180.0).unwrap();
        m.phase_row(0, &mut p, &mut v);
        assert_eq!(p, [1 << 31, 1 << 31]);
        // Far from zero the slow path must agree with the fast one.
        let far = [1e12 * 360.0 + 90.0, 4e15];
        let m = Map::angles_f64(&far, 1, 2, 360.0);
        assert!(m.is_err(), "a 1 x 2 map has no plaquette");
        let far4 = [far[0], far[1], 90.0, 0.0];
        let m = Map::angles_f64(&far4, 2, 2, 360.0).unwrap();
        m.phase_row(0, &mut p, &mut v);
        assert_eq!(p[0], 1 << 30);
        assert_eq!(v, [1, 1]);
    }
}
