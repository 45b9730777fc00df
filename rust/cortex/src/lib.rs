//! stdann-cortex: the cortical sheet side of stdann.
//!
//! Pure Rust, no Python: map topology (winding-number pinwheels, column
//! spacing, pinwheel density) and swap optimisation of unit positions.

pub mod swap;
