//! The loader's YUV path (crop and resize of the YUV planes, BT.601 to RGB in
//! the float stage) against swscale's own RGB24 output of the same crop.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use stdann_video::augment::ViewParams;
use stdann_video::convert::{CropBox, RgbConverter};

fn smooth_frame(
    format: ffmpeg_next::format::Pixel,
    w: u32,
    h: u32,
    seed: u64,
) -> ffmpeg_next::frame::Video {
    stdann_video::media::init_ffmpeg();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut frame = ffmpeg_next::frame::Video::new(format, w, h);
    for p in 0..frame.planes() {
        let (pw, ph) = (
            frame.plane_width(p) as usize,
            frame.plane_height(p) as usize,
        );
        let stride = frame.stride(p);
        let (fx, fy, phase) = (
            rng.gen_range(0.02..0.1),
            rng.gen_range(0.02..0.1),
            rng.gen::<f64>() * 6.0,
        );
        let data = frame.data_mut(p);
        for y in 0..ph {
            for x in 0..pw {
                let v = 128.0 + 90.0 * ((x as f64 * fx + y as f64 * fy + phase).sin());
                data[y * stride + x] = v as u8;
            }
        }
    }
    frame
}

fn compare(format: ffmpeg_next::format::Pixel, full: bool) {
    let (w, h, size) = (300u32, 128u32, 112usize);
    // At even coordinates: swscale's crops start at whole chroma samples (an
    // odd box would be moved), while the loader's resampler takes the box as
    // it is.
    let crop = CropBox {
        x: 36,
        y: 10,
        w: 180,
        h: 101,
    };
    let frame = smooth_frame(format, w, h, 5);
    let mut conv = RgbConverter::new();
    let mut reference = vec![0u8; size * size * 3];
    conv.crop_scale(
        &frame,
        crop,
        size as u32,
        size as u32,
        &mut reference,
        size * 3,
    )
    .unwrap();
    let mut yuv = vec![0u8; size * size * 3];
    let range = conv
        .crop_scale_yuv444(&frame, crop, size as u32, size as u32, &mut yuv, false)
        .unwrap()
        .expect("an 8-bit planar YUV format takes the YUV path");
    assert_eq!(range, full);
    // The conversion itself: BT.601 in double precision on the same YUV samples.
    let n = size * size;
    let expected: Vec<u8> = (0..n)
        .flat_map(|i| {
            let y = yuv[i] as f64;
            let (u, v) = (yuv[n + i] as f64 - 128.0, yuv[2 * n + i] as f64 - 128.0);
            let (y, u, v) = if full {
                (y, u, v)
            } else {
                (
                    (y - 16.0) * 255.0 / 219.0,
                    u * 255.0 / 224.0,
                    v * 255.0 / 224.0,
                )
            };
            [
                y + 1.402 * v,
                y - 0.344136 * u - 0.714136 * v,
                y + 1.772 * u,
            ]
            .map(|c| c.round().clamp(0.0, 255.0) as u8)
        })
        .collect();
    let mut rgb = vec![0u8; size * size * 3];
    ViewParams::identity(w, h, size as u32).apply_yuv(&mut yuv, false, range, &mut rgb, size);
    let worst = rgb
        .iter()
        .zip(&expected)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert!(worst <= 1, "{format:?}: conversion off by {worst}");
    // Against swscale's RGB24 output of the same crop: swscale's RGB path keeps
    // chroma at half the output width, so edges of colour differ a little.
    let diffs: Vec<i32> = rgb
        .iter()
        .zip(&reference)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .collect();
    let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
    assert!(
        mean < 3.0,
        "{format:?}: mean difference {mean:.2} from swscale's RGB"
    );
}

#[test]
fn yuv_path_matches_swscale_rgb_for_limited_and_full_range() {
    use ffmpeg_next::format::Pixel;
    compare(Pixel::YUV420P, false);
    compare(Pixel::YUV444P, false);
    compare(Pixel::YUVJ420P, true);
    compare(Pixel::YUVJ422P, true);
}

#[test]
fn other_formats_are_left_to_the_rgb_path() {
    let frame = smooth_frame(ffmpeg_next::format::Pixel::NV12, 64, 64, 1);
    let mut yuv = vec![0u8; 32 * 32 * 3];
    let crop = CropBox {
        x: 0,
        y: 0,
        w: 64,
        h: 64,
    };
    assert_eq!(
        RgbConverter::new()
            .crop_scale_yuv444(&frame, crop, 32, 32, &mut yuv, false)
            .unwrap(),
        None
    );
}

#[test]
fn flip_on_yuv_planes_mirrors_the_rgb_output() {
    // Odd and even sizes, wider and narrower than the 16-byte reversal blocks.
    for size in [32usize, 37, 9] {
        let frame = smooth_frame(ffmpeg_next::format::Pixel::YUV420P, 64, 48, 9);
        let crop = CropBox {
            x: 4,
            y: 2,
            w: 50,
            h: 40,
        };
        let mut conv = RgbConverter::new();
        let len = size * size * 3;
        let (mut yuv, mut yuv_mirrored) = (vec![0u8; len], vec![0u8; len]);
        conv.crop_scale_yuv444(&frame, crop, size as u32, size as u32, &mut yuv, false)
            .unwrap();
        conv.crop_scale_yuv444(
            &frame,
            crop,
            size as u32,
            size as u32,
            &mut yuv_mirrored,
            true,
        )
        .unwrap();
        let mut p = ViewParams::identity(64, 48, size as u32);
        let mut plain = vec![0u8; len];
        p.apply_yuv(&mut yuv.clone(), false, false, &mut plain, size);
        p.flip = true;
        // Flipped here, or mirrored while copied out of swscale: the same.
        let (mut flipped, mut mirrored) = (vec![0u8; len], vec![0u8; len]);
        p.apply_yuv(&mut yuv, false, false, &mut flipped, size);
        p.apply_yuv(&mut yuv_mirrored, true, false, &mut mirrored, size);
        assert_eq!(flipped, mirrored, "size {size}");
        for y in 0..size {
            for x in 0..size {
                let a = (y * size + x) * 3;
                let b = (y * size + size - 1 - x) * 3;
                assert_eq!(plain[a..a + 3], flipped[b..b + 3], "size {size}");
            }
        }
    }
}
