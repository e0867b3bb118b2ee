#pragma once
// Figures of runs side by side (Compare Runs, `medsiam-cli compare`) and of a transfer experiment
// (its kNN curves by epoch and by training time, one per arm, and its label-efficiency plot).
// The numbers come from core (eval/RunComparison, train/Experiment's files); this draws them.
#include "eval/RunComparison.h"
#include "train/Experiment.h"

#include <QRectF>

#include <string>
#include <vector>

class QPainter;

namespace medsiam::core {
class Project;
}

namespace medsiam::ui {

/// One curve per run of `metric` against `axis`, in `area`.
void drawComparison(QPainter& p, const QRectF& area, const core::Comparison& comparison, core::CurveMetric metric, core::CurveAxis axis);

/// dir/name.png and .svg of drawComparison, plus dir/<name>_table.csv and dir/<name>_curves.csv.
/// Returns the files written.
std::vector<std::string> writeComparison(const core::Comparison& comparison, core::CurveMetric metric, core::CurveAxis axis,
                                         const std::string& dir, const std::string& name = "compare");

/// An experiment's figure from its arms (core::experimentCurves, read once): kNN balanced
/// accuracy against epoch and against training time, one curve per SimSiam arm, the arms without
/// SimSiam as dashed levels.
void drawExperimentCurves(QPainter& p, const QRectF& area, const std::vector<core::ExperimentArmCurves>& arms);
/// Linear-probe test ROC AUC against the fraction of train labels (log scale), mean +- sd per arm.
void drawLabelEfficiency(QPainter& p, const QRectF& area, const std::vector<core::ExperimentArmCurves>& arms);

/// figure.png|svg and label_efficiency.png|svg in the experiment's folder; returns them.
std::vector<std::string> writeExperimentFigures(core::Project& project, const std::string& experimentId);

} // namespace medsiam::ui
