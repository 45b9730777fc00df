//! The clip loader's batches: which video each sample came from, and epochs
//! started part-way through, on videos the FFmpeg command line encodes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use stdann_video::augment::AugmentConfig;
use stdann_video::clip::Work;
use stdann_video::loader::{ClipLoader, LoaderConfig, NextError};
use stdann_video::sampling::ClipSpec;

fn encode(dir: &Path, name: &str, source: &str) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-y", "-v", "error", "-f", "lavfi", "-i", source])
        .args(["-frames:v", "30", "-c:v", "libx264", "-g", "8"])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .expect("the ffmpeg command is installed by make setup");
    assert!(status.success(), "ffmpeg failed for {name}");
    out
}

fn tempdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stdann-loader-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(dir: &Path, augment: AugmentConfig, threads: usize) -> LoaderConfig {
    LoaderConfig {
        spec: ClipSpec {
            frames: 4,
            stride: 2,
            views: 2,
        },
        augment,
        batch_size: 2,
        threads,
        prefetch: 3,
        seed: 7,
        rank: 0,
        world_size: 1,
        work: Work::Full,
        cache_dir: Some(dir.join("cache")),
        autorotate: true,
    }
}

/// (number, clips, videos) of every batch from `start` to the end of `epoch`.
fn run(loader: &ClipLoader, epoch: u64, start: usize) -> Vec<(usize, Vec<u8>, Vec<usize>)> {
    loader.start_epoch(epoch, start);
    let mut batches = Vec::new();
    loop {
        match loader.next_batch(Duration::from_secs(1)) {
            Ok(Some(b)) => batches.push((b.number, b.data, b.videos)),
            Ok(None) => return batches,
            Err(NextError::Timeout) => continue,
            Err(NextError::Failed(e)) => panic!("batch failed: {e}"),
        }
    }
}

#[test]
fn an_epoch_started_at_batch_k_is_the_tail_of_the_whole_epoch() {
    let dir = tempdir("resume");
    let mut paths = vec![
        encode(&dir, "a.mp4", "testsrc2=size=96x64:rate=25"),
        encode(&dir, "b.mp4", "smptebars=size=80x64:rate=25"),
        encode(&dir, "c.mp4", "mandelbrot=size=64x64:rate=25"),
    ];
    let bad = dir.join("bad.mp4");
    std::fs::write(&bad, "not a video\n".repeat(50)).unwrap();
    paths.extend([paths[0].clone(), bad.clone(), paths[1].clone()]);
    paths.extend([paths[2].clone(), bad, paths[0].clone()]);
    let loader = ClipLoader::new(paths.clone(), config(&dir, AugmentConfig::default(), 2)).unwrap();
    assert_eq!(loader.batches_per_epoch(), 4);
    for epoch in [0, 3] {
        let whole = run(&loader, epoch, 0);
        assert_eq!(whole.len(), 4);
        for (n, (number, _, videos)) in whole.iter().enumerate() {
            assert_eq!(*number, n);
            assert_eq!(videos.len(), 2);
            assert!(videos.iter().all(|&v| v < paths.len() && v != 4 && v != 7));
        }
        for start in 1..=4 {
            // A fresh loader as a resumed run has one; the same loader restarted.
            let fresh =
                ClipLoader::new(paths.clone(), config(&dir, AugmentConfig::default(), 1)).unwrap();
            for tail in [run(&fresh, epoch, start), run(&loader, epoch, start)] {
                assert_eq!(tail.len(), 4 - start);
                for (got, want) in tail.iter().zip(&whole[start..]) {
                    assert_eq!(got.0, want.0);
                    assert!(got.1 == want.1, "epoch {epoch} batch {} differs", want.0);
                    assert_eq!(got.2, want.2);
                }
            }
        }
    }
    assert!(run(&loader, 0, 9).is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn each_sample_names_the_video_it_was_cut_from() {
    let dir = tempdir("ids");
    let colours: [[u8; 3]; 5] = [
        [200, 40, 40],
        [40, 200, 40],
        [40, 40, 200],
        [200, 200, 40],
        [128, 128, 128],
    ];
    let mut paths: Vec<PathBuf> = colours
        .iter()
        .enumerate()
        .map(|(k, [r, g, b])| {
            let source = format!("color=c=0x{r:02x}{g:02x}{b:02x}:size=64x48:rate=25");
            encode(&dir, &format!("colour{k}.mp4"), &source)
        })
        .collect();
    let bad = dir.join("broken.mp4");
    std::fs::write(&bad, b"\x00\x00\x00\x18ftypmp42 truncated").unwrap();
    paths.insert(2, bad.clone());
    // The colour of path i (None for the broken file).
    let colour_of = |i: usize| match i {
        2 => None,
        i if i < 2 => Some(colours[i]),
        i => Some(colours[i - 1]),
    };
    let paths = [paths.clone(), paths].concat();
    let loader = ClipLoader::new(paths.clone(), config(&dir, AugmentConfig::none(16), 2)).unwrap();
    let sample = 2 * 4 * 16 * 16 * 3;
    let mut seen = std::collections::HashSet::new();
    for epoch in 0..3 {
        for (_, clips, videos) in run(&loader, epoch, 0) {
            for (b, &video) in videos.iter().enumerate() {
                let want = colour_of(video % 6).expect("the broken file is never reported");
                let pixels = &clips[b * sample..(b + 1) * sample];
                for (c, &level) in want.iter().enumerate() {
                    let mean = pixels
                        .iter()
                        .skip(c)
                        .step_by(3)
                        .map(|&p| p as f64)
                        .sum::<f64>()
                        / (sample / 3) as f64;
                    assert!(
                        (mean - level as f64).abs() < 6.0,
                        "sample {b} of video {video}: channel {c} is {mean}, want {level}"
                    );
                }
                seen.insert(video);
            }
        }
    }
    // Replacements took the broken file's places, and it is named as skipped.
    assert!(!seen.contains(&2) && !seen.contains(&8));
    let skipped = loader.skipped();
    assert_eq!(skipped.len(), 2);
    assert!(skipped.iter().all(|(p, _)| p == &bad));
    std::fs::remove_dir_all(&dir).ok();
}
