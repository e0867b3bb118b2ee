#include "pacs/PacsImport.h"

#include "project/Project.h"

#include <filesystem>

namespace medsiam::core {

std::string projectPacsFolder(const Project& project)
{
    return (std::filesystem::path(project.dir()) / "pacs").string();
}

PacsImportResult retrieveIntoProject(Project& project, PacsClient& client, const std::vector<SeriesRef>& series,
                                     const RetrieveOptions& options, ImportOptions importOptions,
                                     const RetrieveCallbacks& callbacks, ImportObserver* observer)
{
    PacsImportResult result;
    const std::optional<LabelCsvOptions> labels = importOptions.labels;
    if (labels)
        checkLabelCsv(*labels); // a bad table is refused before anything travels
    importOptions.labels.reset();
    RetrieveCallbacks cb = callbacks;
    cb.seriesFinished = [&](const SeriesRef& ref, const std::string& folder) {
        ImportOptions o = importOptions;
        o.sources = {folder};
        addImportSummary(result.import, importSources(project, o, observer));
        if (callbacks.seriesFinished)
            callbacks.seriesFinished(ref, folder);
    };
    result.retrieve = client.retrieve(series, projectPacsFolder(project), options, cb);
    if (labels && result.import.filesFound > 0)
        result.import.labels = applyLabelCsv(project, *labels);
    return result;
}

} // namespace medsiam::core
