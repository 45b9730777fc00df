//! write_video: RGB frames in, the same frames out of the decoder (within
//! H.264 loss), in order; bad arguments refused with the file named.

use std::path::PathBuf;

use stdann_video::encode::{write_video, EncodeOptions};
use stdann_video::{decode_frames_with_index, VideoError, VideoIndex};

const T: usize = 12;
const H: usize = 32;
const W: usize = 48;

/// Frame i: a horizontal ramp whose level rises by 10 per frame.
fn ramp() -> Vec<u8> {
    let mut frames = vec![0u8; T * H * W * 3];
    for (p, px) in frames.chunks_exact_mut(3).enumerate() {
        let (i, x) = (p / (H * W), p % W);
        px.copy_from_slice(&[(40 + 10 * i + x) as u8, (30 + 10 * i) as u8, 90]);
    }
    frames
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stdann-encode-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn written_frames_decode_in_order_within_h264_loss() {
    let dir = tempdir("roundtrip");
    let path = dir.join("ramp.mp4");
    let source = ramp();
    let opts = EncodeOptions {
        keyframe_interval: 4,
        crf: 10,
    };
    assert_eq!(
        write_video(&path, &source, T, H as u32, W as u32, 25.0, &opts).unwrap(),
        T
    );
    let index = VideoIndex::scan(&path, true).unwrap();
    assert_eq!((index.frame_count, index.width, index.height), (T, 48, 32));
    // A keyframe at least every 4 frames (x264 may add more).
    let mut keys: Vec<usize> = index.seek_points.iter().map(|s| s.frame).collect();
    keys.push(T);
    assert_eq!(keys[0], 0);
    assert!(keys.windows(2).all(|k| k[1] - k[0] <= 4), "{keys:?}");
    let all: Vec<i64> = (0..T as i64).collect();
    let (decoded, _, _) = decode_frames_with_index(&path, index, &all, true).unwrap();
    let frame = H * W * 3;
    for i in 0..T {
        let got = &decoded[i * frame..(i + 1) * frame];
        let want = &source[i * frame..(i + 1) * frame];
        let error = got
            .iter()
            .zip(want)
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .sum::<f64>()
            / frame as f64;
        // Neighbouring frames differ by 6.7 levels on average.
        assert!(error < 2.0, "frame {i}: mean error {error}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_name_the_file_and_write_nothing() {
    let dir = tempdir("bad");
    let path = dir.join("out.mp4");
    let frames = ramp();
    let opts = EncodeOptions::default();
    let (h, w) = (H as u32, W as u32);
    for (result, words) in [
        (
            write_video(&path, &frames, T, h, w - 1, 25.0, &opts),
            "even",
        ),
        (
            write_video(&path, &frames, T, h + 1, w, 25.0, &opts),
            "even",
        ),
        (
            write_video(&path, &frames, 0, h, w, 25.0, &opts),
            "no frames",
        ),
        (
            write_video(&path, &frames, T - 1, h, w, 25.0, &opts),
            "bytes",
        ),
        (write_video(&path, &frames, T, h, w, 0.0, &opts), "fps"),
        (write_video(&path, &frames, T, h, w, f64::NAN, &opts), "fps"),
        (
            write_video(
                &path,
                &frames,
                T,
                h,
                w,
                25.0,
                &EncodeOptions {
                    keyframe_interval: 0,
                    crf: 20,
                },
            ),
            "keyframe_interval",
        ),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, VideoError::InvalidArgument(_)), "{err}");
        let message = err.to_string();
        assert!(message.contains(&*path.to_string_lossy()), "{message}");
        assert!(message.contains(words), "{message}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).ok();
}
