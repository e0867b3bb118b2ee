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
    /// Label efficiency: also fit the probe on these fractions of the labeled train images (a
    /// stratified draw, at least one image per class), each scored on test (val when there is no
    /// test). Fractions below 1 are drawn `fewLabelDraws` times, to show the spread.
    std::vector<double> labelFractions;
    int fewLabelDraws = 5;
    std::string toJson() const;
};

/// One label fraction of the label-efficiency probe: a result per draw, and their mean and
/// standard deviation.
struct LabelEfficiencyPoint {
    double fraction = 1;
    int64_t labels = 0;                       ///< labeled train images per draw
    std::string split;                        ///< what was scored: "test" (or "val")
    std::vector<double> auc, balancedAccuracy; ///< one per draw
    double aucMean = 0, aucSd = 0, balancedAccuracyMean = 0, balancedAccuracySd = 0;
};

struct ProbeResult {
    std::string runId;
    double chosenL2 = 0;
    ClassificationMetrics val, test;
    bool hasVal = false, hasTest = false;
    double seconds = 0;
    std::vector<std::string> classNames;
    /// Weighted kNN (train bank, val queries) on the same features, as the SimSiam monitor
    /// computes it, so a backbone that is not pretrained here can be set beside pretraining curves.
    bool hasKnn = false;
    double knnAccuracy = 0, knnBalancedAccuracy = 0;
    std::vector<LabelEfficiencyPoint> labelEfficiency;
};

/// The stratified draw of a label fraction: `count` train positions (indices into `labels`) with
/// every class present at least once and the rest shared in proportion; deterministic in `seed`.
/// Throws UserError when the fraction is not in (0, 1].
std::vector<size_t> drawLabelFraction(const std::vector<int>& labels, int numClasses, double fraction, uint64_t seed);

/// Parses "0.01,0.1,1" or "1%,10%,100%"; throws UserError naming the bad item.
std::vector<double> parseLabelFractions(const std::string& text);

class ProcessGroup;

/// Runs the probe as a run of its own ("probe-..."), storing per-image val/test probabilities in
/// the project and summary.json in runs/<id>/. Throws UserError when the project lacks labeled
/// train images of two classes, or the source run has no checkpoint. With a data-parallel
/// `group`, every rank extracts its share of the features (the costly part); rank 0 alone fits
/// the probe and makes and writes the run, and the others return an empty result.
ProbeResult runLinearProbe(Project& project, const ProbeConfig& config, JobObserver& observer, ProcessGroup* group = nullptr);

} // namespace medsiam::core
