#pragma once
// What a finished classifier run's summary.json says, read once for every place that shows it
// (medsiam-cli finetune and runs, the report, the desktop app): the selected checkpoint, its val
// and test metrics, and the honest-results warnings. No LibTorch.
#include "eval/Metrics.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

struct FinetuneSummary {
    std::optional<ClassificationMetrics> val, test; ///< of the selected checkpoint
    std::optional<ClassificationMetrics> testLast;  ///< of the last one, when another was selected
    std::vector<std::string> classes;
    std::string selected = "last";                  ///< "best" or "last"
    std::string metric;                             ///< "val_auc" or "val_balanced_accuracy"
    int64_t selectedStep = 0, stepsDone = 0;
    std::string recipe;
    double budgetSeconds = 0, seconds = 0;
    double probeL2 = -1;                            ///< a linear probe's chosen L2 (-1: not a probe)
    /// qualityWarnings of the val metrics (of test when there is no val), recomputed on reading
    /// so that runs written by older versions are judged by the same rule.
    std::vector<std::string> warnings;

    /// Reads a finetune run's (or a probe's) summary.json; missing parts stay empty.
    static FinetuneSummary read(const std::string& json);
    /// "the checkpoint with the best validation ROC AUC (step 340 of 420)", or "the last
    /// checkpoint (step 420)", or "a linear probe on frozen features (L2 0.01)".
    std::string selectionText() const;
};

} // namespace medsiam::core
