#pragma once
#include "project/Project.h"

#include <QDialog>

#include <string>
#include <vector>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace medsiam::ui {

class ProjectSession;

/// Assigns train/val/test splits: random, stratified by class, or grouped by patient (no
/// patient in two splits), with fractions and a seed. The plan is previewed per split and class
/// and checked for patient leakage before it is applied; the current splits are checked when
/// the dialog opens, so a leak made elsewhere (a CSV, per-image splitting) is shown at once.
class SplitsDialog : public QDialog {
    Q_OBJECT
public:
    explicit SplitsDialog(ProjectSession& session, QWidget* parent = nullptr);
    QComboBox* modeBox() const { return m_mode; }
    QDoubleSpinBox* fractionBox(int split) const { return m_fractions[split]; }
    QLabel* leakageLabel() const { return m_leakage; }
    QTableWidget* previewTable() const { return m_table; }
    /// Replans from the options shown; false (with the reason shown) when they are invalid.
    bool plan();
    /// Writes the planned splits to the project (one transaction).
    void accept() override;

private:
    std::vector<core::TrainingItem> items() const;
    void showCounts(const std::vector<std::string>& splits, bool planned);
    ProjectSession& m_session;
    QComboBox* m_mode;
    QDoubleSpinBox* m_fractions[3];
    QSpinBox* m_seed;
    QTableWidget* m_table;
    QLabel* m_leakage;
    QPushButton* m_apply;
    std::vector<std::string> m_plan;
};

} // namespace medsiam::ui
