//! Maps with known answers for the tests: planted pinwheels and complex
//! Gaussian random fields with a thin ring spectrum.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustfft::num_complex::Complex64;
use rustfft::FftPlanner;

/// `prod_k (w - z_k)` or its conjugate factor for charge -1, at `w = x + i y`:
/// zeros exactly at the planted points, with the planted windings.
pub fn planted(h: usize, w: usize, points: &[(f64, f64, i32)]) -> Vec<Complex64> {
    let mut z = vec![Complex64::new(1.0, 0.0); h * w];
    for r in 0..h {
        for c in 0..w {
            for &(x, y, q) in points {
                let f = Complex64::new(c as f64 - x, r as f64 - y);
                z[r * w + c] *= if q > 0 { f } else { f.conj() };
            }
        }
    }
    z
}

/// The preference of a complex map as angles in degrees of the given period
/// (halved for orientation maps).
pub fn angles_of(z: &[Complex64], period: f64) -> Vec<f64> {
    z.iter()
        .map(|v| v.im.atan2(v.re).to_degrees() * period / 360.0)
        .collect()
}

/// A periodic complex Gaussian random field on `size` x `size` pixels whose
/// power lies on the lattice frequencies within half a bin of `size / lambda`.
pub fn ring_field(size: usize, lambda: f64, seed: u64) -> Vec<Complex64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let k0 = size as f64 / lambda;
    let mut normal = || {
        // Box-Muller.
        let u: f64 = rng.gen_range(f64::EPSILON..1.0);
        let v: f64 = rng.gen();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut grid = vec![Complex64::new(0.0, 0.0); size * size];
    for a in 0..size {
        let fa = if a <= size / 2 {
            a as f64
        } else {
            a as f64 - size as f64
        };
        for b in 0..size {
            let fb = if b <= size / 2 {
                b as f64
            } else {
                b as f64 - size as f64
            };
            if (fa.hypot(fb) - k0).abs() <= 0.5 {
                grid[a * size + b] = Complex64::new(normal(), normal());
            }
        }
    }
    let fft = FftPlanner::<f64>::new().plan_fft_inverse(size);
    fft.process(&mut grid);
    let mut out = vec![Complex64::new(0.0, 0.0); size * size];
    for r in 0..size {
        for c in 0..size {
            out[c * size + r] = grid[r * size + c];
        }
    }
    fft.process(&mut out);
    out
}
