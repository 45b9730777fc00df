//! `stdann-pinwheels`: batch pinwheel analysis of map files.
//!
//! Every input map yields one output record (JSON lines or CSV) with its
//! pinwheels by sign, column spacing Lambda, density per Lambda^2 and
//! analysed area. A map that cannot be analysed yields an error record that
//! names the file and the reason, and the run goes on.

mod inputs;
mod npy;
mod record;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::Record;

const EXAMPLES: &str = "\
Examples:
  stdann-pinwheels maps/                       every .npy and .npz file in maps/
  stdann-pinwheels 'runs/*/mt_direction.npy'   a glob (quoted: expanded here, sorted)
  stdann-pinwheels --period 180 v1_orientation.npy
  stdann-pinwheels --key direction --pixel-mm 0.05 --format csv maps/*.npz > density.csv
  stdann-pinwheels --positions --jobs 2 map.npy

Maps are 2-D arrays of preferred angles in degrees (NaN outside the sheet) or
complex vector sums whose argument is the preference. Exit status: 0 when
every map was analysed, 1 when some failed (their records carry the error),
2 for usage errors.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header line, then one comma-separated row per map.
    Csv,
}

/// Pinwheels, column spacing and pinwheel density of direction and
/// orientation maps stored as NumPy .npy / .npz files.
#[derive(Debug, Parser)]
#[command(name = "stdann-pinwheels", version, after_help = EXAMPLES)]
struct Args {
    /// Map files (.npy, .npz), folders (their .npy and .npz files) or glob patterns.
    #[arg(required = true, value_name = "MAP")]
    inputs: Vec<String>,

    /// Period of the angles in degrees: 360 for direction maps, 180 for orientation maps.
    #[arg(long, default_value = "360", value_parser = ["360", "180"])]
    period: String,

    /// Pixel size in millimetres; adds Lambda and the area in mm.
    #[arg(long, value_name = "MM", value_parser = positive_mm)]
    pixel_mm: Option<f64>,

    /// Name of the array to analyse inside .npz archives (needed when one holds several).
    #[arg(long)]
    key: Option<String>,

    /// Leave out plaquettes within this many pixels of the map's edge or a NaN pixel.
    #[arg(long, default_value_t = 0, value_name = "PX")]
    margin_px: usize,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,

    /// List every pinwheel (x, y, charge) in each record.
    #[arg(long)]
    positions: bool,

    /// Maps analysed at once (default: all cores).
    #[arg(long, short = 'j', value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
}

fn positive_mm(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("'{text}' is not a positive number of millimetres")),
    }
}

fn main() {
    let args = Args::parse();
    std::process::exit(run(&args));
}

fn run(args: &Args) -> i32 {
    let period: f64 = args.period.parse().expect("clap allows only 360 or 180");
    let inputs = inputs::expand(&args.inputs);
    if inputs.is_empty() {
        eprintln!("stdann-pinwheels: no map files found in {:?}", args.inputs);
        return 2;
    }
    let jobs = args
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .min(inputs.len());
    let settings = record::Settings {
        period,
        pixel_mm: args.pixel_mm,
        key: args.key.clone(),
        margin_px: args.margin_px,
        positions: args.positions,
    };

    let progress = if std::io::stderr().is_terminal() {
        let bar =
            ProgressBar::with_draw_target(Some(inputs.len() as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} maps  {elapsed} ({eta} left)")
                .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut write_ok = true;
    let next = AtomicUsize::new(0);
    let (sender, receiver) = mpsc::channel::<(usize, Record)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, inputs, settings) = (&next, &inputs, &settings);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(input) = inputs.get(i) else { break };
                if sender.send((i, record::analyse(input, settings))).is_err() {
                    break;
                }
            });
        }
        drop(sender);

        // Records are written in input order whatever order they finish in.
        if args.format == Format::Csv {
            write_ok &= writeln!(out, "{}", record::csv_header(args.positions)).is_ok();
        }
        let mut pending = std::collections::BTreeMap::new();
        let mut written = 0usize;
        for (i, rec) in receiver {
            pending.insert(i, rec);
            while let Some(rec) = pending.remove(&written) {
                if let Some(err) = &rec.error {
                    failed += 1;
                    progress.suspend(|| eprintln!("stdann-pinwheels: '{}': {err}", rec.path));
                }
                let line = match args.format {
                    Format::Jsonl => rec.to_json(),
                    Format::Csv => rec.to_csv(args.positions),
                };
                write_ok &= writeln!(out, "{line}").is_ok();
                written += 1;
                progress.inc(1);
            }
        }
    });
    progress.finish_and_clear();
    write_ok &= out.flush().is_ok();
    if !write_ok {
        eprintln!("stdann-pinwheels: could not write the output");
        return 1;
    }
    i32::from(failed > 0)
}

/// The inputs named on the command line, as the CLI will read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A file to read.
    File(PathBuf),
    /// An argument that named nothing readable (a glob with no match, a
    /// folder that cannot be listed): reported as an error record.
    Missing { name: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn arguments_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn period_and_pixel_size_are_checked_at_parse_time() {
        assert!(Args::try_parse_from(["stdann-pinwheels", "--period", "90", "m.npy"]).is_err());
        assert!(Args::try_parse_from(["stdann-pinwheels", "--pixel-mm", "-1", "m.npy"]).is_err());
        assert!(Args::try_parse_from(["stdann-pinwheels", "--jobs", "0", "m.npy"]).is_err());
        assert!(Args::try_parse_from(["stdann-pinwheels"]).is_err());
        let a = Args::try_parse_from(["stdann-pinwheels", "--period", "180", "m.npy"]).unwrap();
        assert_eq!(a.period, "180");
        assert_eq!(a.format, Format::Jsonl);
    }
}
