//! Which kernel set the SIMD code of stdann runs: the widest the processor
//! has, or a narrower one forced with the environment variable `STDANN_ISA`
//! (`portable`, `avx2` or `avx512`), read once per process.
//!
//! The variable only narrows: asking for a set the processor lacks would be
//! undefined behaviour, so such a request runs the widest set it does have,
//! and says so once on stderr. Forcing a set is for comparing kernels and
//! measuring them; results can differ in the last bits between the portable
//! and the vector kernels (fused multiply-adds round differently), never
//! between AVX2 and AVX-512.

use std::sync::OnceLock;

/// A kernel set, narrowest first: `Isa::Avx2 < Isa::Avx512`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust for the x86-64 baseline (or any other architecture).
    Portable,
    /// AVX2 with FMA.
    Avx2,
    /// AVX-512F and AVX-512BW, with AVX2 and FMA.
    Avx512,
}

/// The environment variable that narrows the kernel set.
pub const ENV: &str = "STDANN_ISA";

impl Isa {
    /// Every set, narrowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// The name `STDANN_ISA` takes for this set.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The set a `STDANN_ISA` value names (case and surrounding blanks ignored).
    pub fn parse(value: &str) -> Option<Isa> {
        let value = value.trim().to_ascii_lowercase();
        Isa::ALL.into_iter().find(|isa| isa.name() == value)
    }

    /// The widest set this processor runs.
    pub fn detected() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                if has!("avx512f") && has!("avx512bw") {
                    return Isa::Avx512;
                }
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Whether this processor runs this set.
    pub fn available(self) -> bool {
        self <= Isa::detected()
    }

    /// The set the kernels use: `STDANN_ISA` if set, capped to what the
    /// processor runs; the widest it runs otherwise. Read once.
    pub fn selected() -> Isa {
        static SELECTED: OnceLock<Isa> = OnceLock::new();
        *SELECTED.get_or_init(|| {
            let requested = std::env::var(ENV).ok();
            let (isa, note) = resolve(requested.as_deref(), Isa::detected());
            if let Some(note) = note {
                eprintln!("{note}");
            }
            isa
        })
    }
}

/// The set to run for a `STDANN_ISA` value on a processor whose widest set is
/// `detected`, and a note when the value could not be followed.
pub fn resolve(requested: Option<&str>, detected: Isa) -> (Isa, Option<String>) {
    let Some(value) = requested.filter(|v| !v.trim().is_empty()) else {
        return (detected, None);
    };
    match Isa::parse(value) {
        None => (
            detected,
            Some(format!(
                "{ENV}={value:?} is not one of portable, avx2, avx512: using {}",
                detected.name()
            )),
        ),
        Some(isa) if isa > detected => (
            detected,
            Some(format!(
                "{ENV}={value} asks for kernels this processor cannot run: using {}",
                detected.name()
            )),
        ),
        Some(isa) => (isa, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_is_narrowest_first() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse4"), None);
        assert!(Isa::Portable < Isa::Avx2 && Isa::Avx2 < Isa::Avx512);
    }

    #[test]
    fn a_request_only_narrows_and_bad_values_are_reported() {
        assert_eq!(resolve(None, Isa::Avx512), (Isa::Avx512, None));
        assert_eq!(resolve(Some(""), Isa::Avx2), (Isa::Avx2, None));
        assert_eq!(
            resolve(Some("portable"), Isa::Avx512),
            (Isa::Portable, None)
        );
        assert_eq!(resolve(Some("avx2"), Isa::Avx512), (Isa::Avx2, None));
        let (isa, note) = resolve(Some("avx512"), Isa::Avx2);
        assert_eq!(isa, Isa::Avx2);
        assert!(note.unwrap().contains("cannot run: using avx2"));
        let (isa, note) = resolve(Some("neon"), Isa::Portable);
        assert_eq!(isa, Isa::Portable);
        assert!(note.unwrap().contains("\"neon\" is not one of"));
    }

    #[test]
    fn the_selected_set_runs_here() {
        assert!(Isa::selected().available());
        assert!(Isa::detected().available());
    }
}
