//! Random access against a full decode, on videos the FFmpeg command line
//! encodes from its test source: every frame fetched by seeking must equal the
//! frame at the same position of a decode from the start.

use std::path::{Path, PathBuf};
use std::process::Command;

use stdann_video::{decode_frames_with_index, IndexMode, VideoError, VideoIndex};

fn encode(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i"])
        .arg("testsrc2=size=96x64:rate=25")
        .args(["-frames:v", "50"])
        .args(args)
        .arg(&out)
        .status()
        .expect("the ffmpeg command is installed by make setup");
    assert!(status.success(), "ffmpeg failed for {name}");
    out
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stdann-video-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check_random_access(path: &Path) {
    let fast = VideoIndex::scan(path, false).unwrap();
    let exact = VideoIndex::scan(path, true).unwrap();
    assert_eq!(fast.frame_count, exact.frame_count, "{}", path.display());
    assert_eq!(fast.frame_count, 50);
    let all: Vec<i64> = (0..50).collect();
    let (sequential, w, h) = decode_frames_with_index(path, exact.clone(), &all).unwrap();
    let frame = (w * h * 3) as usize;
    let picks: Vec<i64> = vec![49, 0, 23, 24, 11, 11, 37, 1, 48, 12];
    let (random, _, _) = decode_frames_with_index(path, fast, &picks).unwrap();
    for (k, &i) in picks.iter().enumerate() {
        let i = i as usize;
        assert_eq!(
            &random[k * frame..(k + 1) * frame],
            &sequential[i * frame..(i + 1) * frame],
            "{}: frame {i}",
            path.display()
        );
    }
}

#[test]
fn seeking_gives_the_frames_of_a_full_decode() {
    let dir = tempdir("seek");
    for (name, args) in [
        (
            "h264.mp4",
            vec![
                "-c:v", "libx264", "-bf", "3", "-g", "10", "-pix_fmt", "yuv420p",
            ],
        ),
        (
            "vp9.webm",
            vec!["-c:v", "libvpx-vp9", "-g", "10", "-deadline", "realtime"],
        ),
        (
            "mpeg4_bframes.avi",
            vec!["-c:v", "mpeg4", "-bf", "2", "-g", "10"],
        ),
        ("mjpeg.mkv", vec!["-c:v", "mjpeg"]),
    ] {
        check_random_access(&encode(&dir, name, &args));
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn avi_with_b_frames_gets_hash_verified_seek_points() {
    let dir = tempdir("avi");
    let path = encode(&dir, "b.avi", &["-c:v", "mpeg4", "-bf", "2", "-g", "10"]);
    let index = VideoIndex::scan(&path, false).unwrap();
    assert_eq!(index.mode, IndexMode::Sequential);
    assert!(index.seek_points.len() > 1);
    assert!(index.seek_points.iter().skip(1).all(|s| s.hash.is_some()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_files_give_errors_that_name_them() {
    let dir = tempdir("bad");
    let empty = dir.join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.join("text.mkv");
    std::fs::write(&text, "not a video\n".repeat(50)).unwrap();
    for path in [&empty, &text, &dir, &dir.join("missing.mp4")] {
        let err = VideoIndex::scan(path, false).unwrap_err();
        assert!(matches!(err, VideoError::Open { .. }), "{err}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
    let good = encode(&dir, "ok.mp4", &["-c:v", "libx264"]);
    let index = VideoIndex::scan(&good, false).unwrap();
    let err = decode_frames_with_index(&good, index, &[50]).unwrap_err();
    assert!(matches!(
        err,
        VideoError::IndexOutOfRange {
            index: 50,
            frame_count: 50,
            ..
        }
    ));
    std::fs::remove_dir_all(&dir).ok();
}
