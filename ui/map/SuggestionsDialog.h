#pragma once
// Label suggestions from a run's embeddings: how good they are, and accepting the confident ones.
#include "analysis/Suggestions.h"

#include <QDialog>
#include <QVector>

#include <vector>

class QDoubleSpinBox;
class QLabel;
class QPushButton;

namespace medsiam::ui {

class ProjectSession;

/// Shows the suggestions for the unlabeled images (the class of their labeled nearest neighbours
/// in embedding space) with the check on held-back labels, and a confidence threshold. Accept
/// labels the images at or above it as one undoable step; Select on Map selects them for review.
class SuggestionsDialog : public QDialog {
    Q_OBJECT
public:
    enum Outcome { Applied = 2, SelectOnMap = 3 };
    SuggestionsDialog(ProjectSession& session, std::vector<core::LabelSuggestion> suggestions, const core::SuggestionCheck& check,
                      QWidget* parent = nullptr);

    QDoubleSpinBox* threshold() const { return m_threshold; }
    /// The images at or above the threshold.
    QVector<qint64> chosenImages() const;
    QString summaryText() const;
    QString chosenText() const;
    /// Labels the chosen images with their suggested classes (one undoable step) and closes
    /// with Applied.
    void applyChosen();
    /// Closes with SelectOnMap.
    void selectChosen();

private:
    void updateChosen();

    ProjectSession& m_session;
    std::vector<core::LabelSuggestion> m_suggestions;
    QLabel* m_summary;
    QDoubleSpinBox* m_threshold;
    QLabel* m_chosen;
    QPushButton* m_apply;
    QPushButton* m_select;
};

} // namespace medsiam::ui
