//! Temporally consistent augmentation: one set of random parameters per view,
//! applied identically to every frame of it (MoCo v2 / CVRL recipe).
//!
//! Semantics follow torchvision's transforms (RandomResizedCrop, ColorJitter
//! with a random order of its four adjustments, RandomGrayscale, GaussianBlur,
//! RandomHorizontalFlip) applied to a (T, C, H, W) float clip. In particular
//! ColorJitter's contrast pivots on the mean grey of each frame, as
//! torchvision's adjust_contrast does for a batch of images: every frame keeps
//! its own mean luminance, so the jitter neither adds nor amplifies changes of
//! brightness over time (a pivot shared by the whole clip scales them by the
//! contrast factor), and the pivot is found in one pass over a frame that is
//! still in cache.
//!
//! One module per stage: `config` draws a view's [`ViewParams`] from an
//! [`AugmentConfig`]; `params` applies them (flip in `flip`); `view`
//! picks the kernel set and runs the colour and blur stage, chunk by chunk
//! over the pixels of `pixels` (byte shuffles in `simd`), or, for YUV
//! views without blur on AVX2, in the registers of `fast`; `colour`
//! defines the colour operations ([`ColourOp`]) and `blur` the Gaussian blur.

mod blur;
mod colour;
mod config;
#[cfg(target_arch = "x86_64")]
mod fast;
mod flip;
mod params;
mod pixels;
#[cfg(target_arch = "x86_64")]
mod simd;
mod view;

pub use colour::{ColourOp, UnknownColourOp};
pub use config::AugmentConfig;
pub use params::{Jitter, ViewParams};
