#pragma once
// Classification results of a fine-tuned run: metrics, the confusion matrix, and the images
// behind each cell, most confident first, for review.
#include <QWidget>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

class QComboBox;
class QLabel;
class QListWidget;
class QTableWidget;

namespace medsiam::core {
struct PredictionRecord;
struct ClassificationMetrics;
}

namespace medsiam::ui {

class ProjectSession;
struct GradCamSource;

/// Reads a run's stored predictions (written when fine-tuning ends, or by `medsiam-cli evaluate`)
/// and shows one split at a time: accuracy, balanced accuracy and ROC AUC; precision, recall, F1
/// and AUC per class; the confusion matrix (rows: truth, columns: prediction, shaded by the
/// share of the row). Clicking a cell lists its images by the predicted class's probability;
/// activating one shows it (imageActivated).
class ResultsPanel : public QWidget {
    Q_OBJECT
public:
    explicit ResultsPanel(ProjectSession& session, QWidget* parent = nullptr);
    ~ResultsPanel() override;

    void refreshRuns();
    bool selectRun(const QString& runId);
    bool selectSplit(const QString& split);
    QString currentRun() const;
    QString summaryText() const;
    /// Which checkpoint the run's numbers come from, and the warnings when they flatter the
    /// classifier (one class predicted for nearly every image, balanced accuracy near chance):
    /// empty when there is nothing to warn about.
    QString modelText() const;
    QString warningText() const;
    QTableWidget* confusion() const { return m_confusion; }
    QTableWidget* perClass() const { return m_perClass; }
    QListWidget* cellImages() const { return m_images; }
    /// Lists the images of confusion cell (truth, predicted).
    void showCell(int truth, int predicted);
    /// The Grad-CAM pane: the overlay shown (null while none) and its caption.
    QPixmap camPixmap() const;
    QString camCaption() const;

Q_SIGNALS:
    void imageActivated(qint64 imageId);
    /// A Grad-CAM overlay (or its failure, in the caption) was shown for an image.
    void explained(qint64 imageId);

protected:
    void showEvent(QShowEvent* event) override;

private:
    void loadRun();
    void showSplit();
    void showVerdict(const std::string& split, const core::ClassificationMetrics& shown);
    /// The metrics of the stored predictions of labeled images of `split` (none when there are
    /// none that match the project's classes).
    std::optional<core::ClassificationMetrics> metricsOf(const std::string& split) const;
    /// Computes the Grad-CAM of an image under the current run on a worker thread; a newer
    /// request supersedes one still running.
    void explain(qint64 imageId);

    ProjectSession& m_session;
    QComboBox* m_run;
    QComboBox* m_split;
    QLabel* m_summary;
    QLabel* m_model;
    QLabel* m_warning;
    QTableWidget* m_perClass;
    QTableWidget* m_confusion;
    QLabel* m_cellTitle;
    QListWidget* m_images;
    QLabel* m_cam;
    QLabel* m_camCaption;
    std::shared_ptr<GradCamSource> m_explainer;
    int m_request = 0;
    std::vector<core::PredictionRecord> m_predictions;
    std::vector<std::string> m_classNames;
};

} // namespace medsiam::ui
