//! The commands of the binary, each a short function over the library.

pub mod check;
#[cfg(feature = "emulator")]
pub mod demo;
