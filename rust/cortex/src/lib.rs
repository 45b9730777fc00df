//! stdann-cortex: the cortical sheet side of stdann.
//!
//! Pure Rust, no Python: map topology (winding-number pinwheels, column
//! spacing, pinwheel density) and swap optimisation of unit positions.
//!
//! A map is a 2D grid of preferred angles (degrees, with a period: 360 for
//! direction maps, 180 for orientation maps) or of complex vector sums `z`
//! whose argument is the preference. Pixel `(row, col)` sits at `x = col`,
//! `y = row`; NaN or infinite values mark pixels outside the sheet.

mod density;
mod error;
mod map;
mod pinwheels;
mod spacing;
pub mod swap;

#[cfg(test)]
mod test_maps;

pub use density::{
    local_pinwheel_density, pinwheel_density, DensityOptions, LocalDensity, NearestNeighbours,
    PinwheelDensity,
};
pub use error::{CortexError, Result};
pub use map::{Map, MapData};
pub use pinwheels::{find_pinwheels, Pinwheel};
pub use rustfft::num_complex::Complex64;
pub use spacing::{column_spacing, ColumnSpacing};
