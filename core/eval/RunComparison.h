#pragma once
// Runs side by side: their curves (loss, kNN monitor, validation metrics, collapse monitor) on a
// common x axis, a table of their settings with what differs marked, and their final metrics.
// Read from the runs' own files (config.json, metrics.jsonl, summary.json): the one place that
// turns them into comparable numbers for `medsiam-cli compare`, the desktop app's Compare Runs
// and the transfer experiment's report. No LibTorch, no Qt.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// What a curve plots.
enum class CurveMetric {
    Loss,                 ///< training loss per step
    KnnBalancedAccuracy,  ///< SimSiam's kNN monitor
    KnnAccuracy,
    ValBalancedAccuracy,  ///< a classifier's validations
    ValAuc,
    CollapseStd,          ///< SimSiam's output std (healthy near 1/sqrt(d))
};
/// What the x axis counts.
enum class CurveAxis { Step, Epoch, Images, Seconds };

/// "loss", "knn_balanced_accuracy", "knn_accuracy", "val_balanced_accuracy", "val_auc", "collapse".
const char* toString(CurveMetric metric);
/// "step", "epoch", "images", "seconds".
const char* toString(CurveAxis axis);
/// Words for a plot's axis: "kNN balanced accuracy (val)", "wall time (s)".
std::string describe(CurveMetric metric);
std::string describe(CurveAxis axis);
/// Throw UserError listing the accepted spellings.
CurveMetric parseCurveMetric(const std::string& text);
CurveAxis parseCurveAxis(const std::string& text);
std::vector<CurveMetric> allCurveMetrics();
std::vector<CurveAxis> allCurveAxes();

struct CurvePoint {
    int64_t step = 0;
    double epoch = 0;    ///< fractional: steps x batch / images per epoch
    double images = 0;   ///< images seen: steps x batch
    double seconds = -1; ///< training time; -1 when the run did not record it (older runs)
    double value = 0;
    double x(CurveAxis axis) const;
};

struct ComparedRun {
    std::string id, kind, state, label; ///< label: the id, or its name in an experiment
    std::map<std::string, std::string> settings; ///< config.json flattened ("model.backbone.norm" -> "gn_ws")
    std::map<std::string, double> finals;        ///< final metrics by name (finalMetricNames)
    std::map<CurveMetric, std::vector<CurvePoint>> curves;
};

struct Comparison {
    std::vector<ComparedRun> runs;
    std::vector<std::string> settingKeys; ///< every key of any run, sorted
    std::vector<std::string> differing;   ///< the keys whose values are not the same in every run
    bool differs(const std::string& key) const;
    /// Whether any run has this curve (with seconds when the axis is Seconds).
    bool hasCurve(CurveMetric metric, CurveAxis axis) const;

    /// The table as CSV: one row per setting (differing ones first, marked), then one per final
    /// metric; one column per run.
    std::string tableCsv() const;
    /// Every point of every run's curves: run, metric, step, epoch, images, seconds, value.
    std::string curvesCsv() const;
};

/// The names of the final metrics, in display order: steps, seconds, final loss, kNN accuracy
/// and balanced accuracy, val and test ROC AUC, balanced accuracy and accuracy.
std::vector<std::string> finalMetricNames();

/// Reads the runs (in the given order). Throws UserError for an unknown run id, naming it.
Comparison compareRuns(Project& project, const std::vector<std::string>& runIds);

} // namespace medsiam::core
