#pragma once
// The import options shared by `import` and `pacs get`: declared, read and reported in one place.
#include "ArgParser.h"

#include "project/Importer.h"

#include <memory>

namespace medsiam::core {
class Project;
}

namespace medsiam::cli {

/// --size, --axis, --slices, the label table options, --keep-duplicates, --file-timeout, --threads.
void addImportOptions(ArgParser& p);
/// The options those flags give (sources left empty); throws UsageError for bad values.
core::ImportOptions importOptionsFrom(const ArgParser& p);
/// Opens --project, creating it at --size when it does not exist.
std::unique_ptr<core::Project> openProjectForImport(const ArgParser& p);
/// "Processed 12 files in 0.4 s ...", the labels applied, and where the issues are.
void printImportSummary(const core::ImportSummary& summary, core::Project& project, const core::ImportOptions& options);

} // namespace medsiam::cli
