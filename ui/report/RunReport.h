#pragma once
// A run's report as files: PNG and SVG plots (loss and monitor curves, confusion matrices, ROC
// curves, the t-SNE map by label) and CSVs (per-image predictions, map coordinates), drawn with
// QPainter (offscreen). Contains image ids, splits and classes only, never patient data.
#include <string>
#include <vector>

namespace medsiam::core {
class Project;
}

namespace medsiam::ui {

/// Writes the report of `runId` into `outDir` and returns the files written. Needs a
/// QGuiApplication (the offscreen platform is enough). Throws core::UserError.
std::vector<std::string> writeRunReport(core::Project& project, const std::string& runId, const std::string& outDir);

} // namespace medsiam::ui
