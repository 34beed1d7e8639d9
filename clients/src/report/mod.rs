//! The comparison's report: the typed result of `mayfly compare` ([`Report`]: one [`Row`]
//! per build and connection count, [`Ratio`]s, the [`Settings`] it ran with), and its
//! renderers. [`crate::compare`] produces a report; the renderers only read one:
//!
//! - [`table`]: the report's two tables as cells of text, the one place figures are
//!   formatted (counts with [`mod@format`], which the legend and the verdict use too);
//! - [`markdown`]: those tables as Markdown (report.md, and what `mayfly compare` prints);
//! - [`svg`]: the chart (report.svg);
//! - [`html`]: one self-contained page with the chart and the tables (report.html).
//!
//! Nothing here imports `compare`, and the renderers do not read each other's output.

pub mod format;
pub mod html;
pub mod legend;
pub mod markdown;
mod model;
pub mod models;
pub mod svg;
pub mod table;
pub mod verdict;

pub use crate::fairness::Fairness;
pub use model::{Meta, Partial, Ratio, Report, Row, Settings, Verdict, SCHEMA_VERSION};
