#pragma once
// The linear probe: a frozen backbone, its features of the labeled images extracted once, and a
// multinomial logistic regression (L-BFGS, L2 chosen on val) on top. Seconds on a CPU.
#include "eval/Metrics.h"
#include "models/ModelConfig.h"
#include "train/JobEvents.h"

#include <string>
#include <vector>

namespace medsiam::core {

class Project;

struct ProbeConfig {
    std::string sourceRun;   ///< a pretraining run whose last checkpoint gives the backbone; or
    ModelConfig model;       ///< (without sourceRun) the backbone to probe: random init or initWeights
    std::string initWeights;
    int inputSize = 64;
    bool bf16 = false;
    bool classWeighted = true; ///< weight the loss by inverse class frequency
    std::vector<double> l2Grid{1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    uint64_t seed = 0;
    std::string toJson() const;
};

struct ProbeResult {
    std::string runId;
    double chosenL2 = 0;
    ClassificationMetrics val, test;
    bool hasVal = false, hasTest = false;
    double seconds = 0;
    std::vector<std::string> classNames;
};

/// Runs the probe as a run of its own ("probe-..."), storing per-image val/test probabilities in
/// the project and summary.json in runs/<id>/. Throws UserError when the project lacks labeled
/// train images of two classes, or the source run has no checkpoint.
ProbeResult runLinearProbe(Project& project, const ProbeConfig& config, JobObserver& observer);

} // namespace medsiam::core
