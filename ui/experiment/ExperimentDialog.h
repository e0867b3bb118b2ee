#pragma once
// Train > New Experiment: the transfer experiment (core/train/Experiment) from the desktop app.
// The form says what will run and how long it takes; the experiment runs on a worker thread with
// one progress bar and can be stopped (and resumed later, from the list); its result shows the
// figure (kNN balanced accuracy by epoch and by training time, one curve per arm), the
// label-efficiency plot, the finding in sentences and the table.
#include "jobs/BackgroundJob.h"
#include "train/Experiment.h"

#include <QDialog>

#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;
class QTableWidget;
class QTextEdit;


namespace medsiam::ui {

class FigureView;

/// Runs (or resumes) an experiment on a worker thread.
class ExperimentRunJob : public BackgroundJob {
    Q_OBJECT
public:
    ExperimentRunJob(QString projectDir, QString experimentId, QObject* parent = nullptr);
    ~ExperimentRunJob() override;
    QString experimentId() const { return m_id; }

protected:
    Outcome run() override;

private:
    class Observer;
    QString m_dir, m_id;
};

class ExperimentDialog : public QDialog {
    Q_OBJECT
public:
    ExperimentDialog(const QString& projectDir, QWidget* parent = nullptr);
    ~ExperimentDialog() override;
    /// Shows a stored experiment's result (or its progress so far).
    void showExperiment(const QString& id);
    /// Starts a new experiment with the form's settings; false (with the reason shown) when refused.
    bool start();
    /// For tests: the form's fields and the job.
    QSpinBox* budgetMinutes() const { return m_budget; }
    QSpinBox* budgetSeconds() const { return m_budgetSeconds; }
    QCheckBox* finetune() const { return m_finetune; }
    ExperimentRunJob* job() const { return m_job.get(); }
    QString findingText() const;

Q_SIGNALS:
    void experimentFinished(const QString& id, medsiam::core::JobState state);

private:
    /// The form's settings (one place for the plan shown and the experiment started).
    core::ExperimentConfig configFromForm() const;
    void updatePlan();
    void run(const QString& id);
    void refreshList();
    QString m_dir;
    QComboBox* m_list;
    QStackedWidget* m_pages;
    QSpinBox* m_budget;
    QSpinBox* m_budgetSeconds;
    QComboBox* m_source;
    QLineEdit* m_sourcePath;
    QCheckBox* m_finetune;
    QLineEdit* m_fractions;
    QLabel* m_plan;
    QPushButton* m_startButton;
    QProgressBar* m_progress;
    QLabel* m_progressText;
    QPushButton* m_stopButton;
    QPushButton* m_resumeButton;
    FigureView* m_figure;
    FigureView* m_labels;
    QTextEdit* m_finding;
    QTableWidget* m_table;
    std::unique_ptr<ExperimentRunJob> m_job;
    QString m_shown;
};

} // namespace medsiam::ui
