//! The prefetching clip engine: worker threads build whole batches ahead of
//! the consumer, at most `prefetch` batches in flight (bounded memory), and
//! hand them over in order. Every random choice is a function of (seed,
//! epoch, sample position), so the batches do not depend on the thread count,
//! and an epoch started at batch k yields exactly batches k, k+1, ... of the
//! epoch run from its start (how a run resumes mid-epoch).
//!
//! A video that cannot be opened or decoded is skipped: recorded once with
//! its reason, never tried again, and its sample is drawn from another video.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::augment::AugmentConfig;
use crate::clip::{fill_sample, plan_sample, SampleScratch, Work};
use crate::decode::FrameReader;
use crate::error::{Result, VideoError};
use crate::index::{with_index, IndexCache, VideoIndex};
use crate::orient::Orientation;
use crate::sampling::ClipSpec;

/// Attempts per sample at finding a usable video before the batch fails.
const MAX_ATTEMPTS: usize = 16;

#[derive(Clone, Debug)]
pub struct LoaderConfig {
    pub spec: ClipSpec,
    pub augment: AugmentConfig,
    pub batch_size: usize,
    pub threads: usize,
    /// Batches built ahead of the consumer (bounds memory).
    pub prefetch: usize,
    pub seed: u64,
    pub rank: usize,
    pub world_size: usize,
    pub work: Work,
    pub cache_dir: Option<PathBuf>,
    /// Turn frames upright as the video's display matrix asks (phone videos).
    pub autorotate: bool,
}

impl LoaderConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VideoError::InvalidArgument(m));
        if self.spec.frames == 0 || self.spec.stride == 0 || self.spec.views == 0 {
            return bad("frames, stride and views must be positive".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be positive".into());
        }
        if self.threads == 0 || self.prefetch == 0 {
            return bad("threads and prefetch must be positive".into());
        }
        if self.world_size == 0 || self.rank >= self.world_size {
            return bad(format!(
                "rank {} is not in 0..world_size {}",
                self.rank, self.world_size
            ));
        }
        self.augment.validate().map_err(VideoError::InvalidArgument)
    }

    /// Bytes of one batch: B x V x T x S x S x 3.
    pub fn batch_bytes(&self) -> usize {
        let s = self.augment.size as usize;
        self.batch_size * self.spec.views * self.spec.frames * s * s * 3
    }
}

/// Batch buffers handed back by the consumer once it is done with them, so
/// that a worker fills a buffer whose pages are already mapped instead of
/// allocating and zeroing a fresh one for every batch. Holds at most `cap`.
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
    len: usize,
    cap: usize,
}

impl BufferPool {
    pub fn new(len: usize, cap: usize) -> BufferPool {
        BufferPool {
            free: Mutex::new(Vec::new()),
            len,
            cap,
        }
    }

    /// A buffer of the batch length: a returned one (holding an old batch,
    /// which the worker overwrites entirely) or a new zeroed one.
    pub fn take(&self) -> Vec<u8> {
        let recycled = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        recycled.unwrap_or_else(|| vec![0u8; self.len])
    }

    /// Hand a buffer back; dropped if it is not a batch buffer or the pool is full.
    pub fn give(&self, buffer: Vec<u8>) {
        if buffer.len() != self.len {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < self.cap {
            free.push(buffer);
        }
    }

    pub fn len_free(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// A finished batch, (B, V, T, S, S, 3) uint8, in order of `number`.
pub struct Batch {
    /// Position of the batch in its epoch.
    pub number: usize,
    /// Empty for decode-only loaders.
    pub data: Vec<u8>,
    /// For each sample, the index into the loader's paths of the video it was
    /// cut from: the video actually used, after any replacement of a bad one.
    pub videos: Vec<usize>,
}

#[derive(Default)]
struct Queue {
    epoch: u64,
    total: usize,
    next_claim: usize,
    next_yield: usize,
    ready: BTreeMap<usize, Result<Batch>>,
    running: bool,
}

struct Shared {
    paths: Vec<PathBuf>,
    config: LoaderConfig,
    cache: IndexCache,
    queue: Mutex<Queue>,
    changed: Condvar,
    stop: AtomicBool,
    indexes: Mutex<HashMap<usize, Arc<VideoIndex>>>,
    bad: Mutex<HashSet<usize>>,
    skipped: Mutex<Vec<(PathBuf, String)>>,
    /// This rank's videos for the current epoch, in sampling order.
    order: Mutex<Arc<Vec<usize>>>,
    pool: Arc<BufferPool>,
}

pub struct ClipLoader {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

/// SplitMix64 finaliser: independent seeds from (seed, stream numbers).
fn mix(values: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for &v in values {
        h ^= v
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(h << 6)
            .wrapping_add(h >> 2);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h = z ^ (z >> 31);
    }
    h
}

impl ClipLoader {
    pub fn new(paths: Vec<PathBuf>, config: LoaderConfig) -> Result<ClipLoader> {
        config.validate()?;
        if paths.is_empty() {
            return Err(VideoError::InvalidArgument("no videos given".into()));
        }
        let cache = IndexCache::new(
            config
                .cache_dir
                .clone()
                .unwrap_or_else(crate::index::default_cache_dir),
        );
        let pool = Arc::new(BufferPool::new(
            config.batch_bytes(),
            config.prefetch + config.threads + 2,
        ));
        let shared = Arc::new(Shared {
            paths,
            config,
            cache,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            indexes: Mutex::new(HashMap::new()),
            bad: Mutex::new(HashSet::new()),
            skipped: Mutex::new(Vec::new()),
            order: Mutex::new(Arc::new(Vec::new())),
            pool,
        });
        let workers = (0..shared.config.threads)
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("stdann-clips-{i}"))
                    .spawn(move || worker(s))
                    .expect("spawning a loader thread")
            })
            .collect();
        Ok(ClipLoader { shared, workers })
    }

    /// Where consumers hand finished batch buffers back for reuse.
    pub fn pool(&self) -> Arc<BufferPool> {
        Arc::clone(&self.shared.pool)
    }

    /// Videos of this rank per epoch: every rank gets the same count, so that
    /// distributed ranks take the same number of steps.
    pub fn shard_len(&self) -> usize {
        self.shared.paths.len() / self.shared.config.world_size
    }

    /// Batches per epoch (the last partial batch is dropped).
    pub fn batches_per_epoch(&self) -> usize {
        self.shard_len() / self.shared.config.batch_size
    }

    /// Start producing the batches of `epoch` from batch `start_batch` on
    /// (0 for the whole epoch), abandoning any epoch under way. A start past
    /// the last batch gives an epoch with nothing left in it.
    pub fn start_epoch(&self, epoch: u64, start_batch: usize) {
        let cfg = &self.shared.config;
        let mut all: Vec<usize> = (0..self.shared.paths.len()).collect();
        all.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(&[
            cfg.seed, epoch, 0x5348,
        ])));
        let shard: Vec<usize> = all
            .into_iter()
            .skip(cfg.rank)
            .step_by(cfg.world_size)
            .take(self.shard_len())
            .collect();
        *self.shared.order.lock().unwrap() = Arc::new(shard);
        let total = self.batches_per_epoch();
        let start = start_batch.min(total);
        let mut q = self.shared.queue.lock().unwrap();
        *q = Queue {
            epoch,
            total,
            next_claim: start,
            next_yield: start,
            ready: BTreeMap::new(),
            running: true,
        };
        drop(q);
        self.shared.changed.notify_all();
    }

    /// The next batch of the epoch, waiting at most `timeout`. `Ok(None)` at
    /// the end of the epoch; `Err(Timeout)` lets the caller check for Ctrl-C.
    pub fn next_batch(&self, timeout: Duration) -> std::result::Result<Option<Batch>, NextError> {
        let mut q = self.shared.queue.lock().unwrap();
        loop {
            if !q.running || q.next_yield >= q.total {
                q.running = false;
                return Ok(None);
            }
            let want = q.next_yield;
            if let Some(result) = q.ready.remove(&want) {
                q.next_yield += 1;
                drop(q);
                self.shared.changed.notify_all();
                return result.map(Some).map_err(NextError::Failed);
            }
            let (guard, waited) = self.shared.changed.wait_timeout(q, timeout).unwrap();
            q = guard;
            if waited.timed_out() && !q.ready.contains_key(&want) {
                return Err(NextError::Timeout);
            }
        }
    }

    pub fn skipped(&self) -> Vec<(PathBuf, String)> {
        self.skipped_since(0)
    }

    /// The skipped videos from the `start`-th on (the list only grows).
    pub fn skipped_since(&self, start: usize) -> Vec<(PathBuf, String)> {
        let skipped = self.shared.skipped.lock().unwrap();
        skipped.get(start..).map_or_else(Vec::new, <[_]>::to_vec)
    }

    /// Stop the workers and wait for them; safe to call more than once.
    pub fn close(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let mut q = self.shared.queue.lock().unwrap();
            q.running = false;
            q.ready.clear();
        }
        self.shared.changed.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl Drop for ClipLoader {
    fn drop(&mut self) {
        self.close();
    }
}

#[derive(Debug)]
pub enum NextError {
    Timeout,
    Failed(VideoError),
}

fn worker(shared: Arc<Shared>) {
    let mut scratch = SampleScratch::default();
    loop {
        // Claim the next batch once it fits in the prefetch window.
        let (number, epoch) = {
            let mut q = shared.queue.lock().unwrap();
            loop {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                if q.running
                    && q.next_claim < q.total
                    && q.next_claim < q.next_yield + shared.config.prefetch
                {
                    break;
                }
                q = shared.changed.wait(q).unwrap();
            }
            q.next_claim += 1;
            (q.next_claim - 1, q.epoch)
        };
        let order = Arc::clone(&shared.order.lock().unwrap());
        // A panic outside the per-sample guard still ends as an error for this
        // batch, so the consumer is never left waiting for a batch that died.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            build_batch(&shared, &order, epoch, number, &mut scratch)
        }))
        .unwrap_or_else(|_| {
            scratch = SampleScratch::default();
            Err(VideoError::Internal(format!(
                "a worker panicked while building batch {number}"
            )))
        });
        let mut q = shared.queue.lock().unwrap();
        // Drop batches of an epoch that was abandoned meanwhile.
        if q.epoch == epoch && q.running && number >= q.next_yield {
            q.ready.insert(
                number,
                result.map(|(data, videos)| Batch {
                    number,
                    data,
                    videos,
                }),
            );
        }
        drop(q);
        shared.changed.notify_all();
    }
}

fn build_batch(
    shared: &Shared,
    order: &[usize],
    epoch: u64,
    number: usize,
    scratch: &mut SampleScratch,
) -> Result<(Vec<u8>, Vec<usize>)> {
    let cfg = &shared.config;
    let sample_len = cfg.batch_bytes() / cfg.batch_size;
    let mut data = if cfg.work == Work::Full {
        shared.pool.take()
    } else {
        Vec::new()
    };
    // Decode-only batches hand nothing over; their samples go here.
    let mut discarded = Vec::new();
    let mut videos = Vec::with_capacity(cfg.batch_size);
    for b in 0..cfg.batch_size {
        if shared.stop.load(Ordering::SeqCst) {
            return Err(VideoError::Internal(format!(
                "the loader stopped while building batch {number}"
            )));
        }
        let position = number * cfg.batch_size + b;
        let out: &mut [u8] = if cfg.work == Work::Full {
            &mut data[b * sample_len..(b + 1) * sample_len]
        } else {
            discarded.resize(sample_len, 0);
            &mut discarded
        };
        videos.push(build_sample(shared, order, epoch, position, scratch, out)?);
    }
    Ok((data, videos))
}

/// Fill `out` with sample `position` of `epoch`; returns the index of the
/// video it was cut from.
fn build_sample(
    shared: &Shared,
    order: &[usize],
    epoch: u64,
    position: usize,
    scratch: &mut SampleScratch,
    out: &mut [u8],
) -> Result<usize> {
    let cfg = &shared.config;
    for attempt in 0..MAX_ATTEMPTS {
        let mut rng =
            ChaCha8Rng::seed_from_u64(mix(&[cfg.seed, epoch, position as u64, attempt as u64]));
        // The first attempt uses the video at this position; later ones draw
        // a replacement from this rank's videos.
        let video = if attempt == 0 {
            order[position]
        } else {
            order[rng.gen_range(0..order.len())]
        };
        if shared.bad.lock().unwrap().contains(&video) {
            continue;
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let path = &shared.paths[video];
            let cached = shared.indexes.lock().unwrap().get(&video).cloned();
            // A sample read with an index that turned out wrong is drawn again
            // from the same random state with the rebuilt one.
            let (_, index) = with_index(&shared.cache, path, cached.clone(), |index| {
                let mut rng = rng.clone();
                let mut reader = FrameReader::open(path, Arc::clone(&index))?;
                let orientation = if cfg.autorotate {
                    index.orientation
                } else {
                    Orientation::IDENTITY
                };
                let (width, height) = orientation.display_size(index.width, index.height);
                let plan = plan_sample(
                    &cfg.spec,
                    &cfg.augment,
                    index.frame_count,
                    width,
                    height,
                    &mut rng,
                );
                fill_sample(
                    &mut reader,
                    &cfg.spec,
                    cfg.augment.size,
                    &plan,
                    orientation,
                    cfg.work,
                    scratch,
                    out,
                )
            })?;
            // Kept for the next sample: the first index, or a rebuilt one.
            if !cached.is_some_and(|c| Arc::ptr_eq(&c, &index)) {
                shared.indexes.lock().unwrap().insert(video, index);
            }
            Ok::<(), VideoError>(())
        }));
        let reason = match outcome {
            Ok(Ok(())) => return Ok(video),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!(
                "internal error while decoding '{}'",
                shared.paths[video].display()
            ),
        };
        scratch.converters.clear();
        if shared.bad.lock().unwrap().insert(video) {
            shared
                .skipped
                .lock()
                .unwrap()
                .push((shared.paths[video].clone(), reason));
        }
    }
    Err(VideoError::NoUsableVideo(format!(
        "none found for sample {position} after {MAX_ATTEMPTS} attempts \
         ({} of {} videos skipped so far)",
        shared.bad.lock().unwrap().len(),
        shared.paths.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::BufferPool;

    #[test]
    fn pool_recycles_batch_buffers_up_to_its_capacity() {
        let pool = BufferPool::new(4, 2);
        let mut a = pool.take();
        assert_eq!(a, vec![0; 4]);
        a[0] = 7;
        pool.give(a);
        // The recycled buffer comes back as it was left.
        assert_eq!(pool.take()[0], 7);
        for _ in 0..3 {
            pool.give(vec![1; 4]);
        }
        pool.give(vec![1; 5]);
        assert_eq!(pool.len_free(), 2);
    }
}
