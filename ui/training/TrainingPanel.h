#pragma once
// The training panel: start pretraining or fine-tuning, watch its curves live, pause or cancel;
// and look back at any run's curves.
#include "training/TrainingJob.h"

#include <QVector>
#include <QWidget>

#include <map>
#include <memory>

class QChart;
class QChartView;
class QComboBox;
class QLabel;
class QLineSeries;
class QProgressBar;
class QPushButton;
class QValueAxis;

namespace medsiam::ui {

class ProjectSession;

/// One run at a time trains, on a worker thread (TrainingJob); the GUI thread only draws.
/// Three charts: the training loss; SimSiam's collapse monitor (the output std against the
/// healthy 1/sqrt(d)); the monitors (kNN accuracy and balanced accuracy while pretraining,
/// validation balanced accuracy and ROC AUC while fine-tuning). A finished run's curves are read
/// from its metrics.jsonl.
class TrainingPanel : public QWidget {
    Q_OBJECT
public:
    explicit TrainingPanel(ProjectSession& session, QWidget* parent = nullptr);
    ~TrainingPanel() override; // a running job is cancelled (it writes a checkpoint) and joined

    /// Opens the new-run dialog; on Start, trains the run it created. False when cancelled,
    /// refused, or while another run trains.
    bool newRun(TrainingJob::Kind kind);
    /// Trains an existing run (new, or continuing a stopped one from its checkpoint).
    bool startRun(const QString& runId, TrainingJob::Kind kind);
    bool training() const { return m_job && m_job->running(); }
    void setPaused(bool paused);
    void cancel();
    void refreshRuns();
    bool selectRun(const QString& runId);
    /// Deletes a run (asking first, unless `ask` is false); false when refused or declined.
    bool deleteRun(const QString& runId, bool ask = true);
    /// Opens the run's Name and Notes dialog; true when the user changed them.
    bool describeRun(const QString& runId);
    /// The run chooser (its items name each run as runLabel does).
    QComboBox* runChooser() const { return m_run; }
    QString currentRun() const;
    QString statusText() const;
    /// Points drawn in a curve ("loss", "collapse", "knn accuracy", "val balanced accuracy", ...).
    int curvePoints(const QString& name) const;

Q_SIGNALS:
    /// A run ended: its id and "completed", "cancelled" or "failed".
    void runFinished(const QString& runId, const QString& state);
    /// A run was deleted (the map and results panels drop it).
    void runDeleted(const QString& runId);
    /// A run was given a name or notes (the other panels' choosers show them).
    void runDescribed(const QString& runId);

private:
    void clearCurves();
    void loadHistory();
    void addPoints(const QVector<CurvePoint>& points);
    void updateButtons();
    /// The run list's labels, with "running" or "paused" for the run this window trains.
    void refreshRunLabels();
    QLineSeries* series(CurvePoint::Kind kind) const;

    ProjectSession& m_session;
    QComboBox* m_run;
    QPushButton* m_newPretrain;
    QPushButton* m_newFinetune;
    QPushButton* m_continue;
    QPushButton* m_pause;
    QPushButton* m_cancel;
    QPushButton* m_delete;
    QPushButton* m_describe;
    QLabel* m_status;
    QProgressBar* m_progress;
    QChartView* m_lossView;
    QChartView* m_collapseView;
    QChartView* m_monitorView;
    std::map<int, QLineSeries*> m_series;
    QLineSeries* m_healthy;
    std::unique_ptr<TrainingJob> m_job;
};

} // namespace medsiam::ui
