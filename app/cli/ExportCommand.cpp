// medsiam-cli export (run by medsiam-cli-engine): a run's network for Python and other tools.
#include "ArgParser.h"
#include "Commands.h"

#include "project/Project.h"
#include "system/Runtime.h"
#include "analysis/Predict.h"
#include "train/RunExport.h"
#include "util/Error.h"

#include <cstdio>

namespace medsiam::cli {

int runExport(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli export (PROJECT/runs/RUN | PROJECT RUN) --format timm|bit-npz --out FILE",
                "Writes a run's network for other tools: a fine-tuned classifier's selected checkpoint (backbone and\n"
                "head) or a pretraining run's backbone, in timm's state-dict naming as safetensors (--format timm) or\n"
                "in the official BiT .npz naming (--format bit-npz, GroupNorm networks). A model card (model_card.md:\n"
                "data counts per class and split, training settings, the selected checkpoint's metrics, date and\n"
                "intended use) is written beside it. medsiam reads its own exports back bit for bit (--init FILE).\n"
                "docs/MODELS.md shows the lines of Python that load them.");
    p.positional("RUN", "a run folder (PROJECT/runs/RUN), or the project followed by the run id", true, true);
    p.option("format", "NAME", "timm (safetensors) or bit-npz", "timm").option("out", "FILE", "the file to write");
    if (!p.parse(args))
        return 0;
    const auto format = core::parseExportFormat(p.value("format"));
    if (!format)
        throw UsageError("--format must be timm or bit-npz, got '" + p.value("format") + "'");
    if (!p.has("out"))
        throw UsageError("--out FILE is required (e.g. --out classifier" + std::string(core::exportExtension(*format)) + ")");
    const auto runArgs = p.values("RUN");
    std::string projectDir, runId;
    if (runArgs.size() == 1)
        std::tie(projectDir, runId) = core::projectOfRunDir(runArgs[0]);
    else if (runArgs.size() == 2)
        projectDir = runArgs[0], runId = runArgs[1];
    else
        throw UsageError("name one run: a run folder, or the project and the run id");
    core::configureThreads(1);
    auto project = core::Project::open(projectDir, core::ProjectAccess::ReadOnly);
    const auto r = core::exportRun(*project, runId, *format, p.value("out"));
    std::printf("wrote %s: %zu tensors in %s naming, %s\n", r.weightsPath.c_str(), r.tensors, core::exportFormatName(*format),
                r.architecture.c_str());
    std::printf("input: %s\n", r.input.c_str());
    for (const auto& n : r.notes)
        std::printf("note: %s\n", n.c_str());
    if (!r.loadHint.empty())
        std::printf("load in Python: %s\n", r.loadHint.c_str());
    std::printf("model card: %s\n", r.cardPath.c_str());
    return 0;
}

} // namespace medsiam::cli
