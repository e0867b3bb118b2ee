#pragma once
// The embedding map panel: pick a run and a method, compute (or show the stored) map, explore it.
#include <QVector>
#include <QWidget>

#include <memory>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;

namespace medsiam::ui {

class EmbeddingMapView;
class MapJob;
class ProjectSession;

/// Shows a run's stored t-SNE or PCA map when it has one, and computes a new one on a worker
/// thread on request: the run's embeddings (stored, or computed with its last checkpoint), then
/// the map, animated while t-SNE converges. The GUI thread only draws. Cancel stops t-SNE within
/// one iteration and keeps the layout reached.
class MapPanel : public QWidget {
    Q_OBJECT
public:
    explicit MapPanel(ProjectSession& session, QWidget* parent = nullptr);
    ~MapPanel() override;

    EmbeddingMapView* view() const { return m_view; }
    /// Re-reads the project's runs (those with a checkpoint), keeping the chosen one if it remains.
    void refreshRuns();
    /// Chooses a run by id; false when it is not listed.
    bool selectRun(const QString& runId);
    QString currentRun() const;
    /// Starts a map of the current run (t-SNE unless `pca`); false (with the reason in the status
    /// line) when no run is chosen or a computation is already running.
    bool compute(bool pca = false);
    void cancel();
    bool computing() const;
    void setPerplexity(double p);
    QString statusText() const;
    /// Computes label suggestions for the unlabeled images from the run's stored embeddings (on a
    /// worker thread) and opens the suggestions dialog; false when it cannot start.
    bool suggestLabels();

Q_SIGNALS:
    void imageActivated(qint64 imageId);
    void selectionChanged(int count);
    /// An intermediate t-SNE layout was drawn (the map animating as it converges).
    void layoutShown(int iteration, int iterations);
    /// A computation ended (done, cancelled or failed); `error` is empty unless it failed.
    void computationFinished(bool cancelled, const QString& error);
    /// The suggestions dialog closed (or the suggestions failed, with the reason in the status).
    void suggestionsDone();

protected:
    void showEvent(QShowEvent* event) override;

private:
    void showStoredMap();
    void setStatus(const QString& text);
    void updateButtons();

    ProjectSession& m_session;
    QComboBox* m_run;
    QComboBox* m_method;
    QDoubleSpinBox* m_perplexity;
    QCheckBox* m_recompute;
    QPushButton* m_compute;
    QPushButton* m_suggest;
    bool m_suggesting = false;
    QLabel* m_status;
    EmbeddingMapView* m_view;
    std::unique_ptr<MapJob> m_job;
    QVector<qint64> m_jobIds;
};

} // namespace medsiam::ui
