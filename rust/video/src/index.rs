//! The frame index of a video: how many frames the decoder outputs, their
//! presentation timestamps in output order, and where decoding can start.
//!
//! Frame i is the i-th frame, in presentation order, that FFmpeg's decoder
//! outputs when the file is decoded from its start. The index is built from the
//! demuxed packets (fast: no decoding) or, with `full_decode`, from the frames
//! the decoder really outputs (exact for any file; tests check that both agree).
//! Videos whose timestamps cannot identify frames (missing or repeated pts) get
//! a sequential index: their frames are found by counting from the start.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use ffmpeg_next as ffmpeg;
use serde::{Deserialize, Serialize};

use crate::error::{Result, VideoError};
use crate::media::Media;

pub const INDEX_FORMAT_VERSION: u32 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexMode {
    /// Frames are identified by their presentation timestamps; decoding may seek.
    Timestamps,
    /// Frames are identified by counting decoder output from the start of the file.
    Sequential,
}

/// A point where decoding can start: the frame (presentation index) of a
/// keyframe and the timestamp to seek to for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeekPoint {
    pub frame: usize,
    pub seek_ts: i64,
    /// Sequential mode: the content hash of `frame`, which the first frame
    /// decoded after seeking here must have (streams without timestamps).
    #[serde(default)]
    pub hash: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoIndex {
    pub version: u32,
    pub path: PathBuf,
    pub file_size: u64,
    pub mtime_ns: u128,
    pub width: u32,
    pub height: u32,
    pub frame_count: usize,
    pub frame_rate: f64,
    pub time_base: (i32, i32),
    pub codec: String,
    pub container: String,
    pub mode: IndexMode,
    /// Presentation timestamps of frames 0..frame_count (Timestamps mode only), increasing.
    pub pts: Vec<i64>,
    /// Where decoding can start, in increasing frame order: keyframes (Timestamps
    /// mode), or keyframes proven by content hash (Sequential mode).
    pub seek_points: Vec<SeekPoint>,
    /// Whether the index came from a full decode rather than from packets.
    pub full_decode: bool,
    /// How frames are turned to be shown upright; `width` and `height` are
    /// the decoded (coded) size, before turning.
    pub orientation: crate::orient::Orientation,
}

pub(crate) fn file_stamp(path: &Path) -> Result<(u64, u128)> {
    let meta = std::fs::metadata(path).map_err(|e| VideoError::open(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok((meta.len(), mtime))
}

impl VideoIndex {
    /// Scan `path`. Without `full_decode` only the packets are read.
    pub fn scan(path: &Path, full_decode: bool) -> Result<VideoIndex> {
        let (file_size, mtime_ns) = file_stamp(path)?;
        let mut media = Media::open(path, 1)?;
        let mut packets = Vec::new();
        let mut decoded_pts: Vec<Option<i64>> = Vec::new();
        let mut decoded_hashes: Vec<u64> = Vec::new();
        let mut frame = ffmpeg::frame::Video::empty();
        while let Some(packet) = media.next_packet() {
            let info = Media::packet_info(&packet);
            if full_decode {
                // Errors in single packets are what the decoder would also hit in
                // any other reader; they drop frames, which the output order shows.
                let _ = media.decoder.send_packet(&packet);
                while media.decoder.receive_frame(&mut frame).is_ok() {
                    decoded_pts.push(frame_pts(&frame));
                    decoded_hashes.push(frame_hash(&frame));
                }
            }
            packets.push(info);
        }
        if full_decode {
            let _ = media.decoder.send_eof();
            while media.decoder.receive_frame(&mut frame).is_ok() {
                decoded_pts.push(frame_pts(&frame));
                decoded_hashes.push(frame_hash(&frame));
            }
        }

        let tb = media.time_base;
        let mut index = VideoIndex {
            version: INDEX_FORMAT_VERSION,
            path: path.to_path_buf(),
            file_size,
            mtime_ns,
            width: media.width,
            height: media.height,
            frame_count: 0,
            frame_rate: media.frame_rate,
            time_base: (tb.numerator(), tb.denominator()),
            codec: media.codec_name.clone(),
            container: media.format_name.clone(),
            mode: IndexMode::Sequential,
            pts: Vec::new(),
            seek_points: Vec::new(),
            full_decode,
            orientation: media.orientation,
        };

        let frame_packets: Vec<&crate::media::PacketInfo> =
            packets.iter().filter(|p| !p.discard).collect();
        let pts: Option<Vec<i64>> = if full_decode {
            decoded_pts.iter().copied().collect()
        } else {
            frame_packets.iter().map(|p| p.pts).collect()
        };
        index.frame_count = if full_decode {
            decoded_pts.len()
        } else {
            frame_packets.len()
        };
        if index.frame_count == 0 {
            return Err(VideoError::decode(path, "the video stream holds no frames"));
        }

        if let Some(mut pts) = pts {
            let unique: HashSet<i64> = pts.iter().copied().collect();
            // The decoder outputs frames in presentation order, so their
            // timestamps must increase; where they do not, the container's
            // timestamps disagree with the decode order and cannot name frames.
            let monotone_output = !full_decode || pts.windows(2).all(|w| w[0] < w[1]);
            if unique.len() == pts.len() && monotone_output {
                pts.sort_unstable();
                index.seek_points = seek_points(&packets, &pts);
                index.pts = pts;
                index.mode = IndexMode::Timestamps;
            }
        }
        if !full_decode
            && index.mode == IndexMode::Timestamps
            && timestamps_unproven(&media, &packets)
        {
            drop(media);
            if !decoded_prefix_in_timestamp_order(path, PREFIX_CHECK_FRAMES)? {
                return VideoIndex::scan(path, true);
            }
            return Ok(index);
        }
        if index.mode == IndexMode::Sequential {
            if !full_decode {
                // Without usable timestamps the packet count is not proof of the
                // frame count: count what the decoder outputs.
                return VideoIndex::scan(path, true);
            }
            drop(media);
            index.seek_points = verified_seek_points(path, &packets, &decoded_hashes)?;
        }
        Ok(index)
    }

    /// The presentation index of a decoded frame's timestamp (Timestamps mode).
    pub fn frame_of_pts(&self, pts: i64) -> Option<usize> {
        self.pts.binary_search(&pts).ok()
    }

    /// The last seek point at or before `frame`.
    pub fn seek_point_for(&self, frame: usize) -> Option<SeekPoint> {
        let i = self.seek_points.partition_point(|s| s.frame <= frame);
        if i == 0 {
            None
        } else {
            Some(self.seek_points[i - 1])
        }
    }

    /// Whether this index still describes the file on disk (same size and mtime).
    pub fn is_fresh(&self) -> bool {
        matches!(file_stamp(&self.path), Ok((size, mtime)) if size == self.file_size && mtime == self.mtime_ns)
            && self.version == INDEX_FORMAT_VERSION
    }
}

/// Frames decoded by the packet scan's check of a stream whose packets do
/// not show that their timestamps follow the reordering (see
/// [`timestamps_unproven`]): B-frame structures repeat from the first
/// group of pictures on, so a lie shows within the first few.
const PREFIX_CHECK_FRAMES: usize = 64;

/// Whether the packets alone cannot show that their timestamps name the
/// frames the decoder outputs. A codec that may reorder frames (B-frames)
/// gives, in a file with true timestamps, packets whose presentation times
/// go back somewhere in decode order; where they only increase, the stream
/// either does not reorder or its muxer copied decode times into the
/// presentation times (`setts=pts=DTS`, some real MP4 files), and only
/// decoding tells the two apart. (The dts cannot tell: demuxers such as
/// Matroska's derive it from the pts.)
fn timestamps_unproven(media: &Media, packets: &[crate::media::PacketInfo]) -> bool {
    let mut pts = packets.iter().filter(|p| !p.discard).filter_map(|p| p.pts);
    let mut increasing = true;
    if let Some(mut last) = pts.next() {
        for p in pts {
            increasing &= p > last;
            last = p;
        }
    }
    media.codec_may_reorder() && increasing
}

/// Decode the first `limit` frames of `path` and check that the decoder
/// outputs them with strictly increasing timestamps.
fn decoded_prefix_in_timestamp_order(path: &Path, limit: usize) -> Result<bool> {
    let mut media = Media::open(path, 1)?;
    let mut frame = ffmpeg::frame::Video::empty();
    let mut last: Option<i64> = None;
    for _ in 0..limit {
        if !media.next_frame(&mut frame) {
            break;
        }
        match frame_pts(&frame) {
            Some(pts) if last.is_none_or(|l| pts > l) => last = Some(pts),
            _ => return Ok(false),
        }
    }
    Ok(true)
}

pub(crate) fn frame_pts(frame: &ffmpeg::frame::Video) -> Option<i64> {
    frame.pts().or_else(|| frame.timestamp())
}

/// Keyframes as seek points. The seek timestamp is the packet's dts when known
/// (demuxers index by decode time), else its pts. The first frame is always a
/// seek point: decoding from the start of the file reaches every frame.
fn seek_points(packets: &[crate::media::PacketInfo], sorted_pts: &[i64]) -> Vec<SeekPoint> {
    let first_ts = packets
        .iter()
        .filter_map(|p| p.dts.or(p.pts))
        .min()
        .unwrap_or(i64::MIN);
    let mut points = vec![SeekPoint {
        frame: 0,
        seek_ts: first_ts,
        hash: None,
    }];
    for p in packets.iter().filter(|p| p.key && !p.discard) {
        let Some(pts) = p.pts else { continue };
        let Ok(frame) = sorted_pts.binary_search(&pts) else {
            continue;
        };
        if frame == 0 {
            continue;
        }
        points.push(SeekPoint {
            frame,
            seek_ts: p.dts.unwrap_or(pts).min(pts),
            hash: None,
        });
    }
    points.sort_by_key(|s| s.frame);
    points.dedup_by_key(|s| s.frame);
    points
}

/// A 64-bit hash of the visible bytes of a decoded frame's first plane (luma
/// for YUV): identifies frames by content where a stream has no timestamps.
pub(crate) fn frame_hash(frame: &ffmpeg::frame::Video) -> u64 {
    // SAFETY: `frame` wraps a valid, allocated AVFrame for as long as the
    // borrow lives; the reference is only read.
    let raw = unsafe { &*frame.as_ptr() };
    let desc = match crate::convert::pixel_format(raw.format) {
        // SAFETY: av_pix_fmt_desc_get takes any declared format and returns
        // null or a pointer to a static descriptor.
        Some(format) => unsafe { ffmpeg::ffi::av_pix_fmt_desc_get(format) },
        None => std::ptr::null(),
    };
    let step = if desc.is_null() {
        1
    } else {
        // SAFETY: non-null descriptors point to FFmpeg's static table.
        unsafe { (*desc).comp[0].step.max(1) as usize }
    };
    let (w, h, stride) = (
        raw.width.max(0) as usize,
        raw.height.max(0) as usize,
        raw.linesize[0],
    );
    if raw.data[0].is_null() || stride <= 0 {
        return 0;
    }
    // A row never holds more bytes than its stride (a format without a
    // descriptor may pack several pixels into a byte).
    let row_bytes = (w * step).min(stride as usize);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ ((w as u64) << 32 | h as u64);
    for y in 0..h {
        // SAFETY: plane 0 holds `height` rows of `linesize[0]` bytes each, and
        // `row_bytes` <= `linesize[0]`.
        let row =
            unsafe { std::slice::from_raw_parts(raw.data[0].add(y * stride as usize), row_bytes) };
        for chunk in row.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            hash = (hash ^ u64::from_le_bytes(word))
                .wrapping_mul(0x0000_0100_0000_01b3)
                .rotate_left(29);
        }
    }
    hash
}

/// Seek points for a stream without timestamps: seek to each keyframe, decode
/// the first frame that comes out, and find which frame it is by its content
/// hash (unique hashes only). Only points proven this way are kept, so reading
/// from one by counting frames gives the same frames as decoding from the start.
fn verified_seek_points(
    path: &Path,
    packets: &[crate::media::PacketInfo],
    hashes: &[u64],
) -> Result<Vec<SeekPoint>> {
    let mut by_hash: std::collections::HashMap<u64, Option<usize>> = Default::default();
    for (i, &h) in hashes.iter().enumerate() {
        by_hash
            .entry(h)
            .and_modify(|v| *v = None)
            .or_insert(Some(i));
    }
    let mut points = vec![SeekPoint {
        frame: 0,
        seek_ts: i64::MIN,
        hash: None,
    }];
    let mut media = Media::open(path, 1)?;
    let mut frame = ffmpeg::frame::Video::empty();
    for p in packets.iter().skip(1).filter(|p| p.key && !p.discard) {
        let Some(ts) = p.dts.or(p.pts) else { continue };
        if media.seek(ts).is_err() {
            continue;
        }
        let mut first = None;
        let mut fed = 0;
        while first.is_none() && fed < 64 {
            match media.decoder.receive_frame(&mut frame) {
                Ok(()) => first = Some(frame_hash(&frame)),
                Err(_) => match media.next_packet() {
                    Some(packet) => {
                        let _ = media.decoder.send_packet(&packet);
                        fed += 1;
                    }
                    None => {
                        let _ = media.decoder.send_eof();
                        if media.decoder.receive_frame(&mut frame).is_ok() {
                            first = Some(frame_hash(&frame));
                        }
                        break;
                    }
                },
            }
        }
        if let Some(h) = first {
            if let Some(Some(index)) = by_hash.get(&h) {
                points.push(SeekPoint {
                    frame: *index,
                    seek_ts: ts,
                    hash: Some(h),
                });
            }
        }
    }
    points.sort_by_key(|s| s.frame);
    points.dedup_by_key(|s| s.frame);
    // Later frames must not need earlier seeks: keep seek timestamps increasing.
    let mut kept: Vec<SeekPoint> = Vec::with_capacity(points.len());
    for p in points {
        if kept.last().is_none_or(|last| p.seek_ts > last.seek_ts) {
            kept.push(p);
        }
    }
    Ok(kept)
}

/// Where indexes are cached: `$STDANN_CACHE_DIR`, else `$XDG_CACHE_HOME/stdann/index`,
/// else `~/.cache/stdann/index`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STDANN_CACHE_DIR") {
        return PathBuf::from(dir).join("index");
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("stdann").join("index");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("stdann").join("index")
}

/// A cache of indexes on disk, one JSON file per video, keyed by absolute path;
/// an entry is used only while the file's size and mtime are unchanged.
#[derive(Clone, Debug)]
pub struct IndexCache {
    pub dir: PathBuf,
}

impl IndexCache {
    pub fn new(dir: PathBuf) -> Self {
        IndexCache { dir }
    }

    fn entry_path(&self, path: &Path) -> PathBuf {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        // FNV-1a over the path bytes: stable across runs and platforms.
        let mut h: u64 = 0xcbf29ce484222325;
        for b in abs.to_string_lossy().as_bytes() {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        self.dir.join(format!("{h:016x}.json"))
    }

    pub fn load(&self, path: &Path) -> Option<VideoIndex> {
        let text = std::fs::read_to_string(self.entry_path(path)).ok()?;
        let index: VideoIndex = serde_json::from_str(&text).ok()?;
        let same_file = std::fs::canonicalize(&index.path).ok() == std::fs::canonicalize(path).ok();
        (same_file && index.is_fresh()).then_some(index)
    }

    /// Write atomically: a temporary file in the same folder, then a rename.
    pub fn store(&self, index: &VideoIndex) -> Result<()> {
        let target = self.entry_path(&index.path);
        let write_err = |e: std::io::Error| VideoError::Write {
            path: target.clone(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&self.dir).map_err(write_err)?;
        // One temporary file per writer: threads of one process may store
        // the same video's index at once.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = target.with_extension(format!("json.tmp{}-{n}", std::process::id()));
        let text =
            serde_json::to_string(index).map_err(|e| VideoError::InvalidArgument(e.to_string()))?;
        std::fs::write(&tmp, text).map_err(write_err)?;
        std::fs::rename(&tmp, &target).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            write_err(e)
        })?;
        Ok(())
    }

    /// The cached index of `path`, scanning (and caching) it when missing or stale.
    pub fn get_or_scan(&self, path: &Path) -> Result<VideoIndex> {
        self.index(path, false, false)
    }

    /// The index of `path`: from the cache while it is fresh, unless
    /// `refresh` or `full_decode` asks for a new scan (a full decode is exact,
    /// so the index it gives replaces the cached one and later reads use it).
    pub fn index(&self, path: &Path, full_decode: bool, refresh: bool) -> Result<VideoIndex> {
        if !(full_decode || refresh) {
            if let Some(index) = self.load(path) {
                return Ok(index);
            }
        }
        self.scan_and_store(path, full_decode)
    }

    /// Rebuild the index of `path` from a full decode and cache it: what a
    /// reader does when decoding shows that an index built from packets does
    /// not match the file ([`VideoError::IndexMismatch`]).
    pub fn rebuild_exact(&self, path: &Path) -> Result<VideoIndex> {
        self.scan_and_store(path, true)
    }

    fn scan_and_store(&self, path: &Path, full_decode: bool) -> Result<VideoIndex> {
        let mut index = VideoIndex::scan(path, full_decode)?;
        index.path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        // A cache that cannot be written (read-only home) must not stop
        // decoding; it only costs a new scan next time, which the log says.
        if let Err(e) = self.store(&index) {
            log::warn!("the frame index of '{}' is not cached: {e}", path.display());
        }
        Ok(index)
    }
}

/// Read with the index the cache holds for `path`; where decoding shows that
/// an index built from packets does not match the file (its timestamps
/// disagree with the decode order, say), rebuild the index from a full
/// decode (cached for next time) and read again with it.
pub fn with_index<T>(
    cache: &IndexCache,
    path: &Path,
    index: Option<std::sync::Arc<VideoIndex>>,
    mut read: impl FnMut(std::sync::Arc<VideoIndex>) -> Result<T>,
) -> Result<(T, std::sync::Arc<VideoIndex>)> {
    let index = match index {
        Some(index) => index,
        None => std::sync::Arc::new(cache.get_or_scan(path)?),
    };
    match read(std::sync::Arc::clone(&index)) {
        Err(VideoError::IndexMismatch { .. }) if !index.full_decode => {
            let exact = std::sync::Arc::new(cache.rebuild_exact(path)?);
            Ok((read(std::sync::Arc::clone(&exact))?, exact))
        }
        result => result.map(|value| (value, index)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_of(path: &Path) -> VideoIndex {
        VideoIndex {
            version: INDEX_FORMAT_VERSION,
            path: path.to_path_buf(),
            file_size: 0,
            mtime_ns: 0,
            width: 2,
            height: 2,
            frame_count: 1,
            frame_rate: 25.0,
            time_base: (1, 25),
            codec: "h264".into(),
            container: "mp4".into(),
            mode: IndexMode::Timestamps,
            pts: vec![0],
            seek_points: vec![],
            full_decode: false,
            orientation: Default::default(),
        }
    }

    #[test]
    fn threads_storing_the_same_index_at_once_all_succeed() {
        let dir = std::env::temp_dir().join(format!("stdann-index-race-{}", std::process::id()));
        let cache = IndexCache::new(dir.clone());
        let index = index_of(Path::new("/no/such/video.mp4"));
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..50)
                            .map(|_| cache.store(&index))
                            .collect::<Result<Vec<()>>>()
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        });
        let stored = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(stored, 1, "temporary files were left behind");
        std::fs::remove_dir_all(&dir).ok();
    }
}
