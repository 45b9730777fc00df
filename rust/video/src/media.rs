//! Opening a video with FFmpeg and reading its packets and frames safely.
//!
//! ffmpeg-next's packet iterator retries forever on read errors, which hangs on
//! some broken files; everything here reads packets one at a time and bounds
//! every retry.

use std::path::{Path, PathBuf};
use std::sync::Once;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::ffi;

use crate::error::{Result, VideoError};

/// Reading stops after this many consecutive demuxer errors (truncated or corrupt data).
const MAX_CONSECUTIVE_READ_ERRORS: usize = 64;

static INIT: Once = Once::new();

/// Initialise FFmpeg once per process and keep its logging quiet: errors are
/// reported through typed results that name the file, not on stderr.
pub fn init_ffmpeg() {
    INIT.call_once(|| {
        let _ = ffmpeg::init();
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Quiet);
    });
}

/// Checks that fail fast with a clear reason before FFmpeg sees the path.
pub(crate) fn check_readable_file(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VideoError::open(path, "no such file"),
        std::io::ErrorKind::PermissionDenied => VideoError::open(path, "permission denied"),
        _ => VideoError::open(path, e),
    })?;
    if meta.is_dir() {
        return Err(VideoError::open(path, "is a directory, not a video file"));
    }
    if meta.len() == 0 {
        return Err(VideoError::open(path, "file is empty (zero bytes)"));
    }
    std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => VideoError::open(path, "permission denied"),
        _ => VideoError::open(path, e),
    })?;
    Ok(meta.len())
}

pub(crate) fn describe(err: ffmpeg::Error) -> String {
    match err {
        ffmpeg::Error::InvalidData => {
            "invalid data found when processing input (not a video, or corrupt)".into()
        }
        ffmpeg::Error::DecoderNotFound => "no decoder for this codec in the system FFmpeg".into(),
        ffmpeg::Error::StreamNotFound => "no stream found".into(),
        other => other.to_string(),
    }
}

/// One packet of the video stream, as the demuxer delivered it.
pub(crate) struct PacketInfo {
    pub pts: Option<i64>,
    pub dts: Option<i64>,
    pub key: bool,
    pub discard: bool,
}

/// An open input with its best video stream and a decoder for it.
pub struct Media {
    pub path: PathBuf,
    pub input: ffmpeg::format::context::Input,
    pub stream_index: usize,
    pub time_base: ffmpeg::Rational,
    pub decoder: ffmpeg::decoder::Video,
    pub codec_name: String,
    pub format_name: String,
    pub frame_rate: f64,
    pub width: u32,
    pub height: u32,
    /// How frames are turned to be shown upright (the stream's display matrix).
    pub orientation: crate::orient::Orientation,
    /// Set once the demuxer reached the end of the file or gave up on errors.
    pub exhausted: bool,
    /// True until the first packet is read or a seek is made: the file is at its start.
    untouched: bool,
    threads: usize,
}

impl Media {
    /// Open `path` and its best video stream. `threads` is the decoder's thread
    /// count (1 keeps decoding on the calling thread; 0 lets FFmpeg choose).
    pub fn open(path: &Path, threads: usize) -> Result<Media> {
        init_ffmpeg();
        check_readable_file(path)?;
        let input = ffmpeg::format::input(&path).map_err(|e| {
            let reason = describe(e);
            let reason = if reason.contains("invalid data") && is_probably_truncated_mp4(path) {
                "moov atom not found (file truncated?)".to_string()
            } else {
                reason
            };
            VideoError::open(path, reason)
        })?;
        let format_name = input.format().name().to_string();
        let (stream_index, time_base, parameters, frame_rate, orientation) = {
            let stream = input
                .streams()
                .filter(|s| s.parameters().medium() == ffmpeg::media::Type::Video)
                .filter(|s| {
                    !s.disposition()
                        .contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC)
                })
                .max_by_key(|s| {
                    // Prefer the stream FFmpeg itself would pick.
                    // SAFETY: the stream's codec parameters are owned by the
                    // open input and valid while it lives; only read.
                    unsafe {
                        (*s.parameters().as_ptr()).width as i64
                            * (*s.parameters().as_ptr()).height as i64
                    }
                })
                .ok_or_else(|| VideoError::NoVideoStream {
                    path: path.to_path_buf(),
                })?;
            let rate = stream.avg_frame_rate();
            let rate = if rate.numerator() > 0 && rate.denominator() > 0 {
                rate
            } else {
                stream.rate()
            };
            let fps = if rate.denominator() > 0 {
                rate.numerator() as f64 / rate.denominator() as f64
            } else {
                0.0
            };
            let orientation = stream
                .side_data()
                .find(|d| d.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix)
                .and_then(|d| display_matrix(d.data()))
                .map(|m| crate::orient::Orientation::from_display_matrix(&m))
                .unwrap_or_default();
            (
                stream.index(),
                stream.time_base(),
                stream.parameters(),
                fps,
                orientation,
            )
        };
        let decoder = open_decoder(path, parameters, time_base, threads)?;
        let codec_name = decoder
            .codec()
            .map(|c| c.name().to_string())
            .unwrap_or_else(|| "unknown".into());
        let (width, height) = (decoder.width(), decoder.height());
        if width == 0 || height == 0 {
            return Err(VideoError::decode(path, "video stream has no frame size"));
        }
        Ok(Media {
            path: path.to_path_buf(),
            input,
            stream_index,
            time_base,
            decoder,
            codec_name,
            format_name,
            frame_rate,
            width,
            height,
            orientation,
            exhausted: false,
            untouched: true,
            threads,
        })
    }

    /// Read the next packet of the video stream; `None` at the end of the data.
    pub fn next_packet(&mut self) -> Option<ffmpeg::Packet> {
        self.untouched = false;
        if self.exhausted {
            return None;
        }
        let mut errors = 0;
        loop {
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    errors = 0;
                    if packet.stream() == self.stream_index {
                        return Some(packet);
                    }
                }
                Err(ffmpeg::Error::Eof) => break,
                Err(_) => {
                    errors += 1;
                    if errors > MAX_CONSECUTIVE_READ_ERRORS {
                        break;
                    }
                }
            }
        }
        self.exhausted = true;
        None
    }

    /// Decode until the decoder outputs a frame into `frame`; false at the
    /// end of the stream. A corrupt packet loses its frame, as in every
    /// decoder, and decoding goes on.
    pub fn next_frame(&mut self, frame: &mut ffmpeg::frame::Video) -> bool {
        loop {
            match self.decoder.receive_frame(frame) {
                Ok(()) => return true,
                Err(ffmpeg::Error::Eof) => return false,
                Err(_) => {}
            }
            match self.next_packet() {
                Some(packet) => {
                    let _ = self.decoder.send_packet(&packet);
                }
                None => {
                    let _ = self.decoder.send_eof();
                    return self.decoder.receive_frame(frame).is_ok();
                }
            }
        }
    }

    pub(crate) fn packet_info(packet: &ffmpeg::Packet) -> PacketInfo {
        use ffmpeg::packet::Ref;
        // SAFETY: `packet` wraps a valid AVPacket for the borrow; only read.
        let flags = unsafe { (*packet.as_ptr()).flags };
        PacketInfo {
            pts: packet.pts(),
            dts: packet.dts(),
            key: flags & ffi::AV_PKT_FLAG_KEY != 0,
            discard: flags & ffi::AV_PKT_FLAG_DISCARD != 0,
        }
    }

    /// Whether the codec may output frames in another order than it decodes
    /// them (B-frames): FFmpeg's descriptor of the codec says so.
    pub fn codec_may_reorder(&self) -> bool {
        // SAFETY: avcodec_descriptor_get takes any codec id and returns null
        // or a pointer to a static descriptor, which is only read.
        unsafe {
            let desc = ffi::avcodec_descriptor_get(self.decoder.id().into());
            !desc.is_null() && (*desc).props & ffi::AV_CODEC_PROP_REORDER != 0
        }
    }

    /// Seek so that the next packets start at the keyframe at or before `ts`
    /// (stream time base), and drop everything buffered in the decoder.
    pub fn seek(&mut self, ts: i64) -> Result<()> {
        self.untouched = false;
        // SAFETY: `input` is an open format context owned by `self`, and
        // `stream_index` is one of its streams.
        let ret = unsafe {
            ffi::av_seek_frame(
                self.input.as_mut_ptr(),
                self.stream_index as i32,
                ts,
                ffi::AVSEEK_FLAG_BACKWARD,
            )
        };
        if ret < 0 {
            return Err(VideoError::decode(
                &self.path,
                format!("seek failed: {}", describe(ffmpeg::Error::from(ret))),
            ));
        }
        self.decoder.flush();
        self.exhausted = false;
        Ok(())
    }

    /// Go back to the very start of the file: reopen it, which no container
    /// can get wrong (nothing to do while nothing has been read).
    pub fn restart(&mut self) -> Result<()> {
        if self.untouched {
            return Ok(());
        }
        let fresh = Media::open(&self.path, self.threads)?;
        *self = fresh;
        Ok(())
    }
}

/// The nine values of a display matrix (native-endian 32-bit integers), or
/// None when the side data is not one.
fn display_matrix(data: &[u8]) -> Option<[i32; 9]> {
    if data.len() < 36 {
        return None;
    }
    let mut m = [0i32; 9];
    for (k, v) in m.iter_mut().enumerate() {
        *v = i32::from_ne_bytes(data[4 * k..4 * k + 4].try_into().ok()?);
    }
    Some(m)
}

fn open_decoder(
    path: &Path,
    parameters: ffmpeg::codec::Parameters,
    time_base: ffmpeg::Rational,
    threads: usize,
) -> Result<ffmpeg::decoder::Video> {
    let mut ctx = ffmpeg::codec::context::Context::from_parameters(parameters)
        .map_err(|e| VideoError::decode(path, describe(e)))?;
    // SAFETY: `ctx` owns a valid, not yet opened codec context; setting a
    // plain field before opening is what FFmpeg's API expects.
    unsafe {
        (*ctx.as_mut_ptr()).pkt_timebase = time_base.into();
    }
    if threads != 1 {
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
    } else {
        ctx.set_threading(ffmpeg::codec::threading::Config {
            kind: ffmpeg::codec::threading::Type::None,
            count: 1,
            ..Default::default()
        });
    }
    ctx.decoder()
        .video()
        .map_err(|e| VideoError::decode(path, describe(e)))
}

/// A .mp4/.mov whose header box is present but whose moov box is missing:
/// FFmpeg only says "invalid data"; this names the likely cause.
fn is_probably_truncated_mp4(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    match std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) => &head[4..8] == b"ftyp",
        Err(_) => false,
    }
}
