//! Cost of each augmentation step on one 16 x 112 x 112 view, in microseconds
//! per view (best of several repeats, so that other load on the machine
//! inflates the numbers as little as possible). Run: `cargo bench -p stdann-video`;
//! `cargo bench -p stdann-video -- NAME` runs only the cases whose name contains NAME.

use std::hint::black_box;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stdann_video::augment::{ColourOp, Jitter, ViewParams};
use stdann_video::convert::{CropBox, RgbConverter};

const SIZE: usize = 112;
const FRAMES: usize = 16;

fn best_us(params: &ViewParams, view: &[u8]) -> f64 {
    let mut best = f64::INFINITY;
    let mut buf = view.to_vec();
    for _ in 0..7 {
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            buf.copy_from_slice(view);
            params.apply(black_box(&mut buf), SIZE);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / reps as f64);
    }
    best
}

/// The loader's path for planar YUV sources: RGB conversion in the float stage.
fn best_us_yuv(params: &ViewParams, view: &[u8]) -> f64 {
    let mut best = f64::INFINITY;
    let mut yuv = view.to_vec();
    let mut out = vec![0u8; view.len()];
    for _ in 0..7 {
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            yuv.copy_from_slice(view);
            params.apply_yuv(black_box(&mut yuv), false, false, &mut out, SIZE);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / reps as f64);
    }
    best
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let view: Vec<u8> = (0..FRAMES * SIZE * SIZE * 3).map(|_| rng.gen()).collect();
    let base = ViewParams::identity(SIZE as u32, SIZE as u32, SIZE as u32);
    let jitter = |b: f32, c: f32, s: f32, h: f32| Jitter {
        brightness: b,
        contrast: c,
        saturation: s,
        hue: h,
        order: [
            ColourOp::Hue,
            ColourOp::Contrast,
            ColourOp::Brightness,
            ColourOp::Saturation,
        ],
    };
    let cases: Vec<(&str, ViewParams)> = vec![
        ("copy only (identity)", base),
        ("flip", ViewParams { flip: true, ..base }),
        (
            "brightness",
            ViewParams {
                jitter: Some(jitter(1.3, 1.0, 1.0, 0.0)),
                ..base
            },
        ),
        (
            "contrast",
            ViewParams {
                jitter: Some(jitter(1.0, 0.7, 1.0, 0.0)),
                ..base
            },
        ),
        (
            "saturation",
            ViewParams {
                jitter: Some(jitter(1.0, 1.0, 1.2, 0.0)),
                ..base
            },
        ),
        (
            "hue",
            ViewParams {
                jitter: Some(jitter(1.0, 1.0, 1.0, 0.05)),
                ..base
            },
        ),
        (
            "brightness + contrast + saturation",
            ViewParams {
                jitter: Some(jitter(1.3, 0.7, 1.2, 0.0)),
                ..base
            },
        ),
        (
            "full colour jitter",
            ViewParams {
                jitter: Some(jitter(1.3, 0.7, 1.2, 0.05)),
                ..base
            },
        ),
        (
            "grayscale",
            ViewParams {
                grayscale: true,
                ..base
            },
        ),
        (
            "blur sigma 1",
            ViewParams {
                blur_sigma: Some(1.0),
                ..base
            },
        ),
        (
            "blur sigma 2",
            ViewParams {
                blur_sigma: Some(2.0),
                ..base
            },
        ),
        (
            "jitter + grayscale + blur 2 + flip",
            ViewParams {
                flip: true,
                jitter: Some(jitter(1.3, 0.7, 1.2, 0.05)),
                grayscale: true,
                blur_sigma: Some(2.0),
                ..base
            },
        ),
    ];
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wanted("crop+scale") {
        crop_scale_costs(&mut rng);
    }
    println!("augmentation of one {FRAMES} x {SIZE} x {SIZE} view, best of 7 x 20 runs");
    println!("{:<36} {:>12} {:>12}", "", "from RGB24", "from YUV");
    for (name, params) in cases.into_iter().filter(|(name, _)| wanted(name)) {
        println!(
            "{name:<36} {:>9.1} us {:>9.1} us",
            best_us(&params, &view),
            best_us_yuv(&params, &view)
        );
    }
}

/// Crop, scale and convert to RGB of one 300 x 128 YUV 4:2:0 frame (the
/// prepared format) to 112 x 112: the same box every time (swscale's context
/// is reused) and a new box every 16 frames (a new context per view).
fn crop_scale_costs(rng: &mut ChaCha8Rng) {
    stdann_video::media::init_ffmpeg();
    let mut frame = ffmpeg_next::frame::Video::new(ffmpeg_next::format::Pixel::YUV420P, 300, 128);
    for p in 0..3 {
        for v in frame.data_mut(p) {
            *v = rng.gen();
        }
    }
    let mut out = vec![0u8; SIZE * SIZE * 3];
    let boxes: Vec<CropBox> = (0..64)
        .map(|_| {
            let w = rng.gen_range(60..=128u32);
            let h = rng.gen_range(60..=128u32);
            CropBox {
                x: rng.gen_range(0..=300 - w),
                y: rng.gen_range(0..=128 - h),
                w,
                h,
            }
        })
        .collect();
    let mut yuv = vec![0u8; SIZE * SIZE * 3];
    for (name, per_view, to_yuv) in [
        ("RGB24, same box every frame", false, false),
        ("RGB24, new box every 16 frames", true, false),
        ("YUV 4:4:4, same box every frame", false, true),
        ("YUV 4:4:4, new box every 16 frames", true, true),
    ] {
        let mut conv = RgbConverter::new();
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for i in 0..1024 {
                let b = if per_view {
                    boxes[(i / FRAMES) % boxes.len()]
                } else {
                    boxes[0]
                };
                if to_yuv {
                    conv.crop_scale_yuv444(&frame, b, SIZE as u32, SIZE as u32, &mut yuv, false)
                        .unwrap();
                } else {
                    conv.crop_scale(&frame, b, SIZE as u32, SIZE as u32, &mut out, SIZE * 3)
                        .unwrap();
                }
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e6 / 1024.0 * FRAMES as f64);
        }
        println!("crop+scale to {name:<36} {best:>9.1} us per {FRAMES}-frame view");
    }
}
