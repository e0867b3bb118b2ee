#pragma once
// medsiam-cli export: a run's network (a fine-tuned classifier's selected checkpoint, or a
// pretraining run's backbone) written for other tools (models/WeightExport.h), with its model
// card (train/ModelCard.h) beside it.
#include "models/WeightExport.h"

#include <string>
#include <vector>

namespace medsiam::core {

class Project;

struct RunExportResult {
    std::string weightsPath, cardPath;
    size_t tensors = 0;
    bool hasHead = false;
    std::string architecture; ///< in words
    std::string input;        ///< what the network takes: size and scaling, in words
    std::string loadHint;     ///< one line of Python, when a timm model has this layout
    std::vector<std::string> notes;
};

/// Exports run `runId` of `project` to `outPath` in `format`, and writes model_card.md beside it
/// (<name>.model_card.md when a model_card.md there describes another file). Throws UserError
/// for a run with no weights of its own (a linear probe), no checkpoint yet, a network the
/// format cannot hold, or a file that cannot be written.
RunExportResult exportRun(Project& project, const std::string& runId, ExportFormat format, const std::string& outPath);

} // namespace medsiam::core
