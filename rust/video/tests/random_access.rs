//! Random access against a full decode, on videos the FFmpeg command line
//! encodes from its test source: every frame fetched by seeking must equal the
//! frame at the same position of a decode from the start.

use std::path::{Path, PathBuf};
use std::process::Command;

use stdann_video::index::with_index;
use stdann_video::{decode_frames_with_index, IndexCache, IndexMode, VideoError, VideoIndex};

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

/// Copy the video stream of `src` into `name`, with extra bitstream arguments.
fn remux(dir: &Path, src: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-i"])
        .arg(src)
        .args(["-c", "copy"])
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
    check_random_access_with(path, fast, exact);
}

/// Frames fetched in a scattered order with `fast` equal those of a decode
/// of every frame from the start with `exact`.
fn check_random_access_with(path: &Path, fast: VideoIndex, exact: VideoIndex) {
    let n = exact.frame_count as i64;
    let all: Vec<i64> = (0..n).collect();
    let (sequential, w, h) = decode_frames_with_index(path, exact.clone(), &all, true).unwrap();
    let frame = (w * h * 3) as usize;
    let picks: Vec<i64> = vec![n - 1, 0, 23, 24, 11, 11, 37, 1, n - 2, 12];
    let (random, _, _) = decode_frames_with_index(path, fast, &picks, true).unwrap();
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
    let err = decode_frames_with_index(&good, index, &[50], true).unwrap_err();
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

/// H.264 with B-frames whose container gives every packet pts = dts (what
/// `setts=pts=DTS` makes, and some real MP4 files are): the decoder reorders
/// the frames, so their timestamps come out not increasing.
fn lying_timestamps(dir: &Path, container: &str) -> (PathBuf, PathBuf) {
    let honest = encode(
        dir,
        &format!("honest.{container}"),
        &[
            "-c:v",
            "libx264",
            "-bf",
            "3",
            "-x264-params",
            "b-adapt=0",
            "-g",
            "12",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let lying = remux(
        dir,
        &honest,
        &format!("lying.{container}"),
        &["-bsf:v", "setts=pts=DTS"],
    );
    (honest, lying)
}

#[test]
fn timestamps_that_disagree_with_the_decode_order_index_like_none() {
    let dir = tempdir("lying");
    for container in ["mkv", "mp4"] {
        let (honest, lying) = lying_timestamps(&dir, container);
        let fast = VideoIndex::scan(&lying, false).unwrap();
        let exact = VideoIndex::scan(&lying, true).unwrap();
        assert_eq!(fast.mode, IndexMode::Sequential, "{container}");
        assert_eq!(exact.mode, IndexMode::Sequential, "{container}");
        assert_eq!(fast.frame_count, exact.frame_count, "{container}");
        assert!(
            fast.seek_points.len() > 1,
            "{container}: no verified seek points"
        );
        check_random_access_with(&lying, fast.clone(), exact);
        // Frame i is the i-th frame the decoder outputs: the honest file's
        // frames in their order, less those of any packets the lying file's
        // edit list marks as discarded.
        let honest_index = VideoIndex::scan(&honest, false).unwrap();
        assert_eq!(honest_index.mode, IndexMode::Timestamps, "{container}");
        let m = honest_index.frame_count as i64;
        let n = fast.frame_count;
        assert!(n as i64 > m - 4, "{container}: {n} of {m} frames");
        let (got, w, h) =
            decode_frames_with_index(&lying, fast, &(0..n as i64).collect::<Vec<_>>(), true)
                .unwrap();
        let (expected, _, _) =
            decode_frames_with_index(&honest, honest_index, &(0..m).collect::<Vec<_>>(), true)
                .unwrap();
        let frame = (w * h * 3) as usize;
        let mut k = 0;
        for i in 0..n {
            let mine = &got[i * frame..(i + 1) * frame];
            while k < m as usize && mine != &expected[k * frame..(k + 1) * frame] {
                k += 1;
            }
            assert!(
                k < m as usize,
                "{container}: frame {i} is not a later frame of the honest file"
            );
            k += 1;
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_reader_that_sees_timestamps_go_back_rebuilds_the_index_from_a_full_decode() {
    let dir = tempdir("goback");
    let (honest, lying) = lying_timestamps(&dir, "mkv");
    // The index a packet scan made before it checked decoding: the packets'
    // timestamps (0, 40, 80, ... ms, pts = dts) taken as presentation times.
    let exact = VideoIndex::scan(&lying, true).unwrap();
    let n = exact.frame_count;
    let mut wrong = exact.clone();
    wrong.mode = IndexMode::Timestamps;
    wrong.pts = (0..n as i64).map(|i| i * 40).collect();
    wrong.full_decode = false;
    wrong.seek_points.truncate(1);
    wrong.seek_points[0].hash = None;
    let all: Vec<i64> = (0..n as i64).collect();
    let err = decode_frames_with_index(&lying, wrong.clone(), &all, true).unwrap_err();
    assert!(matches!(err, VideoError::IndexMismatch { .. }), "{err}");
    assert!(err.to_string().contains("lying.mkv"), "{err}");

    // Read forward past the reordered frames, the reader sees a timestamp
    // go back, and says so.
    let err =
        decode_frames_with_index(&lying, wrong.clone(), &[0, n as i64 - 1], true).unwrap_err();
    assert!(
        matches!(&err, VideoError::IndexMismatch { reason, .. } if reason.contains("disagree with the decode order")),
        "{err}"
    );

    let cache = IndexCache::new(dir.join("cache"));
    let (frames, used) = with_index(&cache, &lying, Some(wrong.into()), |index| {
        decode_frames_with_index(&lying, index, &all, true)
    })
    .unwrap();
    assert_eq!(used.mode, IndexMode::Sequential);
    assert!(used.full_decode);
    // The rebuilt index is cached for the next reader.
    assert_eq!(
        cache.get_or_scan(&lying).unwrap().mode,
        IndexMode::Sequential
    );
    let honest_index = VideoIndex::scan(&honest, false).unwrap();
    let (expected, _, _) = decode_frames_with_index(&honest, honest_index, &all, true).unwrap();
    assert!(frames.0 == expected, "the rebuilt index gives other frames");
    std::fs::remove_dir_all(&dir).ok();
}
