#pragma once
// Retrieving from a PACS into a project: the files go to the project's PACS folder (one layout,
// pacsSeriesFolder) and each series is imported with the folder importer as soon as it has
// arrived, so the images appear while the rest is still travelling. Importing again skips what
// is there, as for any folder.
#include "pacs/PacsClient.h"
#include "project/Importer.h"

#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class CancelToken;
class Project;

/// <project>/pacs: where the files retrieved into a project are kept.
std::string projectPacsFolder(const Project& project);

struct PacsImportResult {
    RetrieveSummary retrieve;
    ImportSummary import; ///< summed over the series imported
};

/// Retrieves `series` with `client` into projectPacsFolder(project) and imports each series'
/// folder after it (complete or not: what arrived is imported). `importOptions` gives everything
/// but the sources (slicing, threads, duplicates, a label table, applied once at the end).
/// client.cancel() (from any thread) stops the retrieve; the series being imported then is
/// imported whole, and the import of what arrived ends the call. Throws what
/// PacsClient::retrieve and importSources throw, after importing what arrived.
PacsImportResult retrieveIntoProject(Project& project, PacsClient& client, const std::vector<SeriesRef>& series,
                                     const RetrieveOptions& options, ImportOptions importOptions,
                                     const RetrieveCallbacks& callbacks = {}, ImportObserver* observer = nullptr);

} // namespace medsiam::core
