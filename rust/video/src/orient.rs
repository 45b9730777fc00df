//! Display orientation: the quarter turns and mirrors a video's display
//! matrix asks for (phone videos shot upright carry `rotate=90`).
//!
//! FFmpeg's display matrix maps a source pixel (x, y), y pointing down, to
//! x' = a x + c y, y' = b x + d y (`a = m[0]`, `b = m[1]`, `c = m[3]`,
//! `d = m[4]`): that is how FFmpeg's command line turns a video for display
//! (the tests check it against the command line), `av_display_rotation_get`
//! reads its counterclockwise angle, and `av_display_rotation_set` writes a
//! clockwise one.
//! Each of the eight symmetries of a rectangle is, here, an optional
//! transpose followed by optional mirrors of the x and y axes. A matrix whose
//! angle is not a multiple of 90 degrees is taken to the nearest quarter turn.

use serde::{Deserialize, Serialize};

use crate::convert::CropBox;

/// How a decoded frame is turned to be shown upright.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Orientation {
    /// Swap the axes first: source pixel (x, y) goes to (y, x).
    pub transpose: bool,
    /// Then mirror the x axis (left-right).
    pub flip_x: bool,
    /// Then mirror the y axis (top-bottom).
    pub flip_y: bool,
}

impl Orientation {
    pub const IDENTITY: Orientation = Orientation {
        transpose: false,
        flip_x: false,
        flip_y: false,
    };

    /// The orientation of an FFmpeg display matrix (nine native-endian
    /// 32-bit values, 16.16 fixed point in the 2x2 part that matters).
    pub fn from_display_matrix(m: &[i32; 9]) -> Orientation {
        let (a, b, c, d) = (m[0] as i64, m[1] as i64, m[3] as i64, m[4] as i64);
        if a.abs() + d.abs() >= b.abs() + c.abs() {
            Orientation {
                transpose: false,
                flip_x: a < 0,
                flip_y: d < 0,
            }
        } else {
            Orientation {
                transpose: true,
                flip_x: c < 0,
                flip_y: b < 0,
            }
        }
    }

    pub fn is_identity(&self) -> bool {
        *self == Orientation::IDENTITY
    }

    /// Whether the orientation mirrors the picture (a reflection, not a turn).
    pub fn mirrored(&self) -> bool {
        self.transpose ^ self.flip_x ^ self.flip_y
    }

    /// The counterclockwise turn, in degrees 0, 90, 180 or 270, as FFmpeg's
    /// `av_display_rotation_get` gives it (normalised); for a mirrored
    /// orientation, the turn that follows a left-right mirror.
    pub fn rotation_ccw(&self) -> u32 {
        // Undo a left-right mirror first, so that what is left is a turn.
        let t = if self.mirrored() {
            self.then(Orientation {
                transpose: false,
                flip_x: true,
                flip_y: false,
            })
        } else {
            *self
        };
        match (t.transpose, t.flip_x, t.flip_y) {
            (false, false, false) => 0,
            (true, false, true) => 90,
            (false, true, true) => 180,
            (true, true, false) => 270,
            _ => unreachable!("a turn has an even number of reflections"),
        }
    }

    /// `self`, then `next`.
    pub fn then(&self, next: Orientation) -> Orientation {
        // A point goes (x, y) -> self -> next; write both as signed axis maps.
        let map = |o: &Orientation, (x, y): (i32, i32)| {
            let (u, v) = if o.transpose { (y, x) } else { (x, y) };
            (if o.flip_x { -u } else { u }, if o.flip_y { -v } else { v })
        };
        // Images of the unit vectors determine the composite.
        let ex = map(&next, map(self, (1, 0)));
        let transpose = ex.0 == 0;
        let ey = map(&next, map(self, (0, 1)));
        let (sx, sy) = if transpose {
            (ey.0, ex.1)
        } else {
            (ex.0, ey.1)
        };
        Orientation {
            transpose,
            flip_x: sx < 0,
            flip_y: sy < 0,
        }
    }

    /// The displayed size of a `width` x `height` frame.
    pub fn display_size(&self, width: u32, height: u32) -> (u32, u32) {
        if self.transpose {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// The box of a `width` x `height` source frame that is shown as `shown`
    /// (a box of the displayed frame).
    pub fn source_box(&self, shown: CropBox, width: u32, height: u32) -> CropBox {
        let (dw, dh) = self.display_size(width, height);
        // Undo the mirrors in display coordinates, then the transpose.
        let x = if self.flip_x {
            dw - shown.x - shown.w
        } else {
            shown.x
        };
        let y = if self.flip_y {
            dh - shown.y - shown.h
        } else {
            shown.y
        };
        if self.transpose {
            CropBox {
                x: y,
                y: x,
                w: shown.h,
                h: shown.w,
            }
        } else {
            CropBox {
                x,
                y,
                w: shown.w,
                h: shown.h,
            }
        }
    }

    /// Write the displayed picture of `src` (`width` x `height` pixels of
    /// `channels` bytes, rows packed) to `dst` (the displayed size, rows packed).
    pub fn apply(&self, src: &[u8], width: usize, height: usize, channels: usize, dst: &mut [u8]) {
        assert_eq!(src.len(), width * height * channels, "source size");
        assert_eq!(dst.len(), src.len(), "destination size");
        let (dw, dh) = if self.transpose {
            (height, width)
        } else {
            (width, height)
        };
        for y in 0..height {
            for x in 0..width {
                let (u, v) = if self.transpose { (y, x) } else { (x, y) };
                let u = if self.flip_x { dw - 1 - u } else { u };
                let v = if self.flip_y { dh - 1 - v } else { v };
                let from = (y * width + x) * channels;
                let to = (v * dw + u) * channels;
                dst[to..to + channels].copy_from_slice(&src[from..from + channels]);
            }
        }
    }

    /// [`Orientation::apply`] in place, through `scratch`.
    pub fn apply_in_place(
        &self,
        pixels: &mut [u8],
        width: usize,
        height: usize,
        channels: usize,
        scratch: &mut Vec<u8>,
    ) {
        if self.is_identity() {
            return;
        }
        scratch.clear();
        scratch.extend_from_slice(pixels);
        self.apply(scratch, width, height, channels, pixels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffmpeg_next::ffi;

    fn all() -> Vec<Orientation> {
        (0..8)
            .map(|k| Orientation {
                transpose: k & 1 != 0,
                flip_x: k & 2 != 0,
                flip_y: k & 4 != 0,
            })
            .collect()
    }

    /// FFmpeg's matrix of a clockwise turn, then optionally a left-right mirror.
    fn matrix(cw_degrees: f64, hflip: bool) -> [i32; 9] {
        let mut m = [0i32; 9];
        // SAFETY: both functions write the nine values of `m` and read nothing else.
        unsafe {
            ffi::av_display_rotation_set(m.as_mut_ptr(), cw_degrees);
            ffi::av_display_matrix_flip(m.as_mut_ptr(), hflip as i32, 0);
        }
        m
    }

    /// A 3 x 2 picture whose pixels are their own numbers:
    /// 0 1 2
    /// 3 4 5
    fn picture() -> Vec<u8> {
        (0..6).collect()
    }

    #[test]
    fn ffmpeg_rotation_matrices_turn_counterclockwise_as_ffmpeg_says() {
        let shown = |m: [i32; 9]| {
            let o = Orientation::from_display_matrix(&m);
            let (w, h) = o.display_size(3, 2);
            let mut out = vec![0; 6];
            o.apply(&picture(), 3, 2, 1, &mut out);
            (o, w, h, out)
        };
        // A quarter turn counterclockwise: the right column comes on top.
        let (o, w, h, out) = shown(matrix(-90.0, false));
        assert_eq!((w, h, out), (2, 3, vec![2, 5, 1, 4, 0, 3]));
        assert_eq!((o.rotation_ccw(), o.mirrored()), (90, false));
        let (o, _, _, out) = shown(matrix(180.0, false));
        assert_eq!(out, vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(o.rotation_ccw(), 180);
        // Clockwise (what a phone's `rotate=90` tag means): the left column on top.
        let (o, w, h, out) = shown(matrix(90.0, false));
        assert_eq!((w, h, out), (2, 3, vec![3, 0, 4, 1, 5, 2]));
        assert_eq!(o.rotation_ccw(), 270);
        let (o, _, _, out) = shown(matrix(0.0, false));
        assert!(o.is_identity());
        assert_eq!(out, picture());
        // A mirror: left and right trade places.
        let (o, _, _, out) = shown(matrix(0.0, true));
        assert_eq!(out, vec![2, 1, 0, 5, 4, 3]);
        assert_eq!((o.rotation_ccw(), o.mirrored()), (0, true));
        // Near a quarter turn counts as one.
        assert_eq!(
            Orientation::from_display_matrix(&matrix(-88.0, false)).rotation_ccw(),
            90
        );
        // Every angle FFmpeg reports comes back.
        for deg in [0, 90, 180, 270] {
            for flip in [false, true] {
                let o = Orientation::from_display_matrix(&matrix(deg as f64, flip));
                assert_eq!(o.mirrored(), flip);
                let m = matrix(deg as f64, flip);
                // SAFETY: reads the nine values of `m`.
                let got = unsafe { ffi::av_display_rotation_get(m.as_ptr()) };
                let want = (got.round() as i32).rem_euclid(360) as u32;
                if !flip {
                    assert_eq!(o.rotation_ccw(), want, "{deg}");
                }
            }
        }
    }

    #[test]
    fn source_boxes_show_what_the_displayed_box_holds() {
        // A 5 x 3 picture, every crop of its displayed form: the crop of the
        // displayed picture equals the displayed crop of the source box.
        let (w, h) = (5usize, 3usize);
        let src: Vec<u8> = (0..(w * h) as u8).collect();
        for o in all() {
            let (dw, dh) = o.display_size(w as u32, h as u32);
            let mut shown = vec![0; w * h];
            o.apply(&src, w, h, 1, &mut shown);
            for (x, y, cw, ch) in [(0, 0, dw, dh), (1, 0, 2, 2), (0, 1, 1, 2), (2, 1, 1, 1)] {
                if x + cw > dw || y + ch > dh {
                    continue;
                }
                let crop = |pic: &[u8], pw: u32, b: CropBox| -> Vec<u8> {
                    (b.y..b.y + b.h)
                        .flat_map(|yy| (b.x..b.x + b.w).map(move |xx| (xx, yy)))
                        .map(|(xx, yy)| pic[(yy * pw + xx) as usize])
                        .collect()
                };
                let want = crop(&shown, dw, CropBox { x, y, w: cw, h: ch });
                let b = o.source_box(CropBox { x, y, w: cw, h: ch }, w as u32, h as u32);
                let part = crop(&src, w as u32, b);
                let mut got = vec![0; part.len()];
                o.apply(&part, b.w as usize, b.h as usize, 1, &mut got);
                assert_eq!(got, want, "{o:?} box {x},{y},{cw},{ch}");
            }
        }
    }

    #[test]
    fn composition_is_applying_one_after_the_other() {
        let (w, h) = (4usize, 3usize);
        let src: Vec<u8> = (0..(w * h * 2) as u8).collect();
        for a in all() {
            for b in all() {
                let mut once = vec![0; src.len()];
                let mut twice = vec![0; src.len()];
                a.apply(&src, w, h, 2, &mut once);
                let (aw, ah) = a.display_size(w as u32, h as u32);
                b.apply(&once, aw as usize, ah as usize, 2, &mut twice);
                let mut direct = vec![0; src.len()];
                a.then(b).apply(&src, w, h, 2, &mut direct);
                assert_eq!(direct, twice, "{a:?} then {b:?}");
            }
        }
    }
}
