//! The cores' log records (an index cache that cannot be written, say) reach
//! Python's `logging`, under the Rust module's name with dots
//! (`stdann_video.index`).
//!
//! Records are queued and handed to Python by the thread that next holds the
//! GIL inside a binding (every binding call goes through [`crate::guard`]),
//! never by the thread that wrote them: a loader's worker thread that took
//! the GIL to log could wait forever on a main thread joining it, and PyO3
//! parks for good any thread that asks for the GIL during interpreter exit.

use std::sync::Mutex;

use pyo3::prelude::*;

/// Records kept while no binding call hands them over; older ones beyond
/// this are dropped (and counted) rather than growing without bound.
const MAX_QUEUED: usize = 1000;

struct Queued {
    level: log::Level,
    target: String,
    message: String,
}

#[derive(Default)]
struct Queue {
    records: Vec<Queued>,
    dropped: usize,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    records: Vec::new(),
    dropped: 0,
});

struct QueueLogger;

static LOGGER: QueueLogger = QueueLogger;

impl log::Log for QueueLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut queue = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
        if queue.records.len() >= MAX_QUEUED {
            queue.dropped += 1;
            return;
        }
        queue.records.push(Queued {
            level: record.level(),
            target: record.target().replace("::", "."),
            message: record.args().to_string(),
        });
    }

    fn flush(&self) {}
}

/// Route the `log` crate's records into the queue (once per process).
pub fn init() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Hand the queued records to Python's `logging`. Errors of the logging
/// machinery itself are not the caller's: they are dropped.
pub fn hand_over(py: Python<'_>) {
    let (records, dropped) = {
        let mut queue = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
        if queue.records.is_empty() && queue.dropped == 0 {
            return;
        }
        let dropped = std::mem::take(&mut queue.dropped);
        (std::mem::take(&mut queue.records), dropped)
    };
    let Ok(logging) = py.import("logging") else {
        return;
    };
    let emit = |target: &str, level: u8, message: &str| {
        if let Ok(logger) = logging.call_method1("getLogger", (target,)) {
            let _ = logger.call_method1("log", (level, message));
        }
    };
    for r in &records {
        let level = match r.level {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            log::Level::Info => 20,
            log::Level::Debug => 10,
            log::Level::Trace => 5,
        };
        emit(&r.target, level, &r.message);
    }
    if dropped > 0 {
        emit(
            "stdann",
            30,
            &format!("{dropped} log records of the native code were dropped (too many queued)"),
        );
    }
}
