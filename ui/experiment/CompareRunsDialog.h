#pragma once
// Train > Compare Runs: the curves of any runs of the project on one plot (loss, kNN, validation
// metrics, collapse monitor; by step, epoch, images seen or training time), a table of their
// settings with the ones that differ highlighted and listed first, their results, and export of
// the figure (PNG, SVG) and the tables (CSV). The numbers come from core (eval/RunComparison).
#include "eval/RunComparison.h"

#include <QDialog>

class QComboBox;
class QLabel;
class QListWidget;
class QTableWidget;

namespace medsiam::core {
class Project;
}

namespace medsiam::ui {

class FigureView;

class CompareRunsDialog : public QDialog {
    Q_OBJECT
public:
    /// `checked`: the runs ticked at first (default: the two most recent).
    CompareRunsDialog(core::Project& project, const QStringList& checked = {}, QWidget* parent = nullptr);
    /// The comparison shown now (for tests).
    const core::Comparison& comparison() const { return m_comparison; }
    QTableWidget* table() const { return m_table; }
    void setCurve(core::CurveMetric metric, core::CurveAxis axis);
    /// Writes compare.png, .svg, compare_table.csv and compare_curves.csv into `dir`; returns them.
    QStringList exportTo(const QString& dir);

private:
    void refresh();
    core::Project& m_project;
    QListWidget* m_runs;
    QComboBox* m_metric;
    QComboBox* m_axis;
    FigureView* m_plot;
    QTableWidget* m_table;
    QLabel* m_note;
    core::Comparison m_comparison;
};

} // namespace medsiam::ui
