//! The report's files: report.json, report.md, report.svg and report.html.

use std::path::Path;

use super::options::CompareError;
use crate::report::{html, markdown, svg, Report};

/// Writes report.json, report.md, report.svg and report.html into `dir`.
pub(super) fn write_files(rep: &Report, dir: &Path) -> Result<(), CompareError> {
    std::fs::create_dir_all(dir).map_err(|source| CompareError::CreateDir {
        dir: dir.display().to_string(),
        source,
    })?;
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(rep)?)?;
    std::fs::write(dir.join("report.md"), markdown::render(rep))?;
    std::fs::write(dir.join("report.svg"), svg::render(rep))?;
    std::fs::write(dir.join("report.html"), html::render(rep))?;
    Ok(())
}
