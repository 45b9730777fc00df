//! The colour operations: ColorJitter's four adjustments and the grayscale,
//! each defined once over planar float channels in [0, 1]. The chunked path
//! runs these definitions; the register path in [`super::fast`] keeps a
//! vectorised copy of each, held to these bit for bit by the test
//! `view::tests::register_path_equals_the_chunked_path_bit_for_bit`.

use std::fmt;

use super::params::Jitter;
use super::pixels::{Chunk, CHUNK};

/// One colour operation: ColorJitter's four adjustments (torchvision's
/// adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue) and
/// RandomGrayscale's conversion. The codes are those of a jitter order as
/// the Python binding takes it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColourOp {
    Brightness = 0,
    Contrast = 1,
    Saturation = 2,
    Hue = 3,
    /// Not part of a jitter order: the grayscale comes after every adjustment.
    Grayscale = 4,
}

impl ColourOp {
    /// ColorJitter's adjustments in their code order; a jitter order is a
    /// permutation of these.
    pub const ADJUSTMENTS: [ColourOp; 4] = [
        ColourOp::Brightness,
        ColourOp::Contrast,
        ColourOp::Saturation,
        ColourOp::Hue,
    ];

    /// Whether the operation with the factors of `j` changes an image (an
    /// adjustment by a factor of 1, or a hue shift of 0, is left out).
    fn changes_image(self, j: &Jitter) -> bool {
        match self {
            ColourOp::Brightness => j.brightness != 1.0,
            ColourOp::Contrast => j.contrast != 1.0,
            ColourOp::Saturation => j.saturation != 1.0,
            ColourOp::Hue => j.hue != 0.0,
            ColourOp::Grayscale => true,
        }
    }
}

/// A code that names no [`ColourOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownColourOp(pub u8);

impl fmt::Display for UnknownColourOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is no colour operation (0 brightness, 1 contrast, 2 saturation, 3 hue, 4 grayscale)",
            self.0
        )
    }
}

impl std::error::Error for UnknownColourOp {}

impl TryFrom<u8> for ColourOp {
    type Error = UnknownColourOp;

    fn try_from(code: u8) -> Result<Self, UnknownColourOp> {
        match code {
            0 => Ok(ColourOp::Brightness),
            1 => Ok(ColourOp::Contrast),
            2 => Ok(ColourOp::Saturation),
            3 => Ok(ColourOp::Hue),
            4 => Ok(ColourOp::Grayscale),
            other => Err(UnknownColourOp(other)),
        }
    }
}

/// The view's colour operations in order, split where the contrast pivot is
/// needed: those before it (the first pass over a frame) and, if contrast is
/// applied, those from contrast on (a second pass, over the frame buffer).
/// The grayscale comes after every jitter adjustment. Adjustments whose
/// factor leaves the image unchanged are left out.
pub(super) fn split_ops(
    jitter: Option<Jitter>,
    grayscale: bool,
) -> (Jitter, Vec<ColourOp>, Option<Vec<ColourOp>>) {
    let ops: Vec<ColourOp> = jitter.map_or_else(Vec::new, |j| {
        j.order
            .iter()
            .copied()
            .filter(|op| op.changes_image(&j))
            .collect()
    });
    let jitter = jitter.unwrap_or(Jitter {
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
        hue: 0.0,
        order: ColourOp::ADJUSTMENTS,
    });
    let gray = grayscale.then_some(ColourOp::Grayscale);
    let (first, second) = match ops.iter().position(|&o| o == ColourOp::Contrast) {
        Some(pos) => (
            ops[..pos].to_vec(),
            Some(ops[pos..].iter().copied().chain(gray).collect()),
        ),
        None => (ops.iter().copied().chain(gray).collect(), None),
    };
    (jitter, first, second)
}

/// Apply `ops` in order to a chunk, eight pixels at a time: the eight values
/// of each channel stay in registers through all the operations instead of
/// going back to the chunk after each one.
#[inline(always)]
pub(super) fn apply_ops(
    ops: &[ColourOp],
    j: &Jitter,
    mean: f32,
    r: &mut Chunk,
    g: &mut Chunk,
    b: &mut Chunk,
) {
    if ops.is_empty() {
        return;
    }
    for i in (0..CHUNK).step_by(8) {
        let mut r8: [f32; 8] = r[i..i + 8].try_into().unwrap();
        let mut g8: [f32; 8] = g[i..i + 8].try_into().unwrap();
        let mut b8: [f32; 8] = b[i..i + 8].try_into().unwrap();
        for &op in ops {
            apply_op(op, j, mean, &mut r8, &mut g8, &mut b8);
        }
        r[i..i + 8].copy_from_slice(&r8);
        g[i..i + 8].copy_from_slice(&g8);
        b[i..i + 8].copy_from_slice(&b8);
    }
}

/// One operation on equal-length channel slices (contrast pivots on `mean`).
#[inline(always)]
fn apply_op(op: ColourOp, j: &Jitter, mean: f32, r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    match op {
        ColourOp::Brightness => {
            for c in [r, g, b] {
                scale_clamped(c, j.brightness);
            }
        }
        ColourOp::Contrast => {
            for c in [r, g, b] {
                adjust_contrast(c, j.contrast, mean);
            }
        }
        ColourOp::Saturation => adjust_saturation(r, g, b, j.saturation),
        ColourOp::Hue => adjust_hue(r, g, b, j.hue),
        ColourOp::Grayscale => to_grayscale(r, g, b),
    }
}

/// ITU-R 601 luma, the weights torchvision's rgb_to_grayscale uses.
#[inline(always)]
pub(super) fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.2989 * r + 0.587 * g + 0.114 * b
}

#[inline(always)]
fn to_grayscale(r: &mut [f32], g: &mut [f32], b: &mut [f32]) {
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let y = luma(*r, *g, *b);
        (*r, *g, *b) = (y, y, y);
    }
}

#[inline(always)]
fn scale_clamped(buf: &mut [f32], factor: f32) {
    for v in buf {
        *v = (*v * factor).clamp(0.0, 1.0);
    }
}

#[inline(always)]
fn adjust_contrast(buf: &mut [f32], factor: f32, mean: f32) {
    let offset = (1.0 - factor) * mean;
    for v in buf {
        *v = (*v * factor + offset).clamp(0.0, 1.0);
    }
}

#[inline(always)]
fn adjust_saturation(r: &mut [f32], g: &mut [f32], b: &mut [f32], factor: f32) {
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let y = (1.0 - factor) * luma(*r, *g, *b);
        *r = (*r * factor + y).clamp(0.0, 1.0);
        *g = (*g * factor + y).clamp(0.0, 1.0);
        *b = (*b * factor + y).clamp(0.0, 1.0);
    }
}

/// Rotate hue in HSV space by `shift` turns, as torchvision's adjust_hue.
///
/// Written without per-pixel branches on the hue sector (the textbook HSV
/// round trip was the slowest colour operation): value and saturation are
/// kept, so the result is min + (max - min) * the piecewise-linear channel
/// profile of the new hue. The textbook version is the reference in the tests.
#[inline(always)]
fn adjust_hue(r: &mut [f32], g: &mut [f32], b: &mut [f32], shift: f32) {
    if shift == 0.0 {
        return;
    }
    let s6 = shift * 6.0;
    for ((r, g), b) in r.iter_mut().zip(g.iter_mut()).zip(b.iter_mut()) {
        let (rv, gv, bv) = (*r, *g, *b);
        let maxc = rv.max(gv).max(bv);
        let minc = rv.min(gv).min(bv);
        let delta = maxc - minc;
        let inv = 1.0 / delta.max(1e-12);
        // Hue in sixths of a turn, from whichever channel is the maximum.
        let h_r = (gv - bv) * inv;
        let h_g = (bv - rv) * inv + 2.0;
        let h_b = (rv - gv) * inv + 4.0;
        let h = if maxc == rv {
            h_r
        } else if maxc == gv {
            h_g
        } else {
            h_b
        };
        // h is in [-1, 5) and |shift| <= half a turn: one wrap suffices (no fmod).
        let h = h + s6;
        let h = h + if h < 0.0 { 6.0 } else { 0.0 } - if h >= 6.0 { 6.0 } else { 0.0 };
        let red = ((h - 3.0).abs() - 1.0).clamp(0.0, 1.0);
        let green = (2.0 - (h - 2.0).abs()).clamp(0.0, 1.0);
        let blue = (2.0 - (h - 4.0).abs()).clamp(0.0, 1.0);
        *r = minc + delta * red;
        *g = minc + delta * green;
        *b = minc + delta * blue;
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// The textbook HSV round trip (torchvision's adjust_hue), the reference.
    pub(in crate::augment) fn adjust_hue_reference(buf: &mut [f32], shift: f32) {
        if shift == 0.0 {
            return;
        }
        for px in buf.chunks_exact_mut(3) {
            let (r, g, b) = (px[0], px[1], px[2]);
            let maxc = r.max(g).max(b);
            let minc = r.min(g).min(b);
            let delta = maxc - minc;
            if delta <= 0.0 {
                continue;
            }
            let h = if maxc == r {
                ((g - b) / delta).rem_euclid(6.0)
            } else if maxc == g {
                (b - r) / delta + 2.0
            } else {
                (r - g) / delta + 4.0
            } / 6.0;
            let h = (h + shift).rem_euclid(1.0) * 6.0;
            let s = delta / maxc;
            let v = maxc;
            let i = (h.floor() as i32).rem_euclid(6);
            let f = h - h.floor();
            let p = v * (1.0 - s);
            let q = v * (1.0 - s * f);
            let t = v * (1.0 - s * (1.0 - f));
            let (nr, ng, nb) = match i {
                0 => (v, t, p),
                1 => (q, v, p),
                2 => (p, v, t),
                3 => (p, q, v),
                4 => (t, p, v),
                _ => (v, p, q),
            };
            px[0] = nr;
            px[1] = ng;
            px[2] = nb;
        }
    }

    fn hue_interleaved(buf: &mut [f32], shift: f32) {
        let mut r: Vec<f32> = buf.iter().step_by(3).copied().collect();
        let mut g: Vec<f32> = buf.iter().skip(1).step_by(3).copied().collect();
        let mut b: Vec<f32> = buf.iter().skip(2).step_by(3).copied().collect();
        adjust_hue(&mut r, &mut g, &mut b, shift);
        for (i, px) in buf.chunks_exact_mut(3).enumerate() {
            px.copy_from_slice(&[r[i], g[i], b[i]]);
        }
    }

    #[test]
    fn hue_shift_matches_the_textbook_hsv_round_trip() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut fast: Vec<f32> = (0..30000).map(|_| rng.gen::<f32>()).collect();
        // Include greys and saturated primaries.
        fast[..9].copy_from_slice(&[0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        for shift in [-0.1f32, -0.03, 0.01, 0.07, 0.1, 0.5] {
            let mut a = fast.clone();
            let mut b = fast.clone();
            hue_interleaved(&mut a, shift);
            adjust_hue_reference(&mut b, shift);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y} at shift {shift}");
            }
        }
    }

    #[test]
    fn hue_shift_of_a_full_turn_is_identity_and_grey_is_untouched() {
        let mut buf = vec![0.8f32, 0.2, 0.4, 0.5, 0.5, 0.5];
        let orig = buf.clone();
        hue_interleaved(&mut buf, 0.5);
        assert_ne!(buf[..3], orig[..3]);
        assert_eq!(buf[3..], orig[3..]);
        hue_interleaved(&mut buf, 0.5);
        for (a, b) in buf.iter().zip(&orig) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn codes_name_the_operations_and_unknown_codes_are_refused() {
        for op in [ColourOp::ADJUSTMENTS.as_slice(), &[ColourOp::Grayscale]].concat() {
            assert_eq!(ColourOp::try_from(op as u8), Ok(op));
        }
        for code in 5..=u8::MAX {
            assert_eq!(ColourOp::try_from(code), Err(UnknownColourOp(code)));
        }
        let message = ColourOp::try_from(7).unwrap_err().to_string();
        assert!(message.starts_with("7 is no colour operation"), "{message}");
    }

    #[test]
    fn ops_split_at_contrast_with_grayscale_last_and_no_ops_left_out_wrongly() {
        use ColourOp::*;
        let j = Jitter {
            brightness: 1.2,
            contrast: 0.8,
            saturation: 1.0,
            hue: 0.05,
            order: [Hue, Saturation, Contrast, Brightness],
        };
        // Saturation by 1 changes nothing and is left out.
        let (_, first, second) = split_ops(Some(j), true);
        assert_eq!(first, [Hue]);
        assert_eq!(second, Some(vec![Contrast, Brightness, Grayscale]));
        let no_contrast = Jitter { contrast: 1.0, ..j };
        let (_, first, second) = split_ops(Some(no_contrast), false);
        assert_eq!(first, [Hue, Brightness]);
        assert_eq!(second, None);
        let (identity, first, second) = split_ops(None, false);
        assert!(first.is_empty() && second.is_none());
        assert_eq!(identity.order, ColourOp::ADJUSTMENTS);
    }
}
