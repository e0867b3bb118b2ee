#pragma once
// Train > Train a Classifier: the guided path, in plain words, for someone who is not a
// machine-learning expert. It says what the project has and whether that is enough, offers a time
// budget and "quick" or "best", trains the chain as one job with one progress bar, and gives the
// result as a sentence with its warnings and where to look next. The expert dialogs stay behind
// "Advanced". The decisions are core's (train/ClassifierChain.h), shared with
// `medsiam-cli train-classifier`.
#include "jobs/BackgroundJob.h"
#include "train/ClassifierChain.h"

#include <QDialog>

#include <memory>

class QLabel;
class QProgressBar;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTableWidget;

namespace medsiam::ui {

class ProjectSession;

/// runClassifierChain on a worker thread, with its own project connection.
class ClassifierChainJob : public BackgroundJob {
    Q_OBJECT
public:
    ClassifierChainJob(QString projectDir, core::ClassifierPlan plan, QObject* parent = nullptr);
    ~ClassifierChainJob() override;
    /// Once finished: the runs it made and how it ended.
    const core::ClassifierChainResult& result() const { return m_result; }

Q_SIGNALS:
    /// A run of the chain began ("simsiam" or "finetune").
    void stageStarted(const QString& stage, const QString& runId);

protected:
    Outcome run() override;

private:
    class Observer;
    QString m_dir;
    core::ClassifierPlan m_plan;
    core::ClassifierChainResult m_result;
};

class TrainClassifierDialog : public QDialog {
    Q_OBJECT
public:
    explicit TrainClassifierDialog(ProjectSession& session, QWidget* parent = nullptr);
    ~TrainClassifierDialog() override;

    /// Starts the chain with the dialog's settings; false (with the reason shown) when the
    /// project is not ready or the settings are refused.
    bool start();
    bool running() const;
    /// Asks the chain to stop after the current step (the run keeps its checkpoint).
    void stop();

    // For tests and screenshots.
    QSpinBox* budget() const { return m_budget; }
    QRadioButton* quick() const { return m_quick; }
    QRadioButton* best() const { return m_best; }
    QProgressBar* progress() const { return m_progress; }
    QPushButton* trainButton() const { return m_train; }
    QTableWidget* countsTable() const { return m_counts; }
    QString readinessText() const;
    /// The result in plain words, its warnings and where to look next ("" until a run ends).
    QString resultText() const;
    /// The classifier run the last chain made ("" before).
    QString classifierRun() const { return m_classifierRun; }

Q_SIGNALS:
    /// The chain ended: "completed", "cancelled" or "failed", with the classifier run (if any).
    void finished(const QString& state, const QString& classifierRun);
    /// A run of the chain was created (the training panel lists it).
    void runCreated(const QString& runId);
    /// The user asked for the expert dialogs.
    void advancedRequested();
    /// "Show the results" was pressed for this classifier run.
    void showResultsRequested(const QString& runId);

protected:
    void reject() override;
    void closeEvent(QCloseEvent* event) override;

private:
    void showReadiness();
    void updateEstimate();
    void onFinished(core::JobState state, const QString& message);

    ProjectSession& m_session;
    core::ClassifierReadiness m_ready;
    QTableWidget* m_counts;
    QLabel* m_facts;
    QLabel* m_missing;
    QLabel* m_cautions;
    QSpinBox* m_budget;
    QLabel* m_estimate;
    QRadioButton* m_quick;
    QRadioButton* m_best;
    QPushButton* m_train;
    QPushButton* m_stop;
    QPushButton* m_advanced;
    QPushButton* m_showResults;
    QPushButton* m_close;
    QProgressBar* m_progress;
    QLabel* m_status;
    QLabel* m_result;
    QString m_classifierRun;
    std::unique_ptr<ClassifierChainJob> m_job;
};

} // namespace medsiam::ui
