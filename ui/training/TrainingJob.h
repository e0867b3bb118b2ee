#pragma once
// A pretraining or fine-tuning run of the open project, trained on a worker thread with its own
// project connection (the BackgroundJob pattern), reporting to the GUI thread through signals.
#include "jobs/BackgroundJob.h"

#include <QString>
#include <QVector>

namespace medsiam::ui {

/// One point of a run's curves, as the job reports it or as metrics.jsonl holds it.
struct CurvePoint {
    enum Kind { Loss, Collapse, KnnAccuracy, KnnBalanced, ValBalanced, ValAuc };
    Kind kind;
    double step;
    double value;
};

class TrainingJob : public BackgroundJob {
    Q_OBJECT
public:
    enum class Kind { Pretrain, Finetune };
    /// The run must exist (created with PretrainJob::create or FinetuneJob::create); an unfinished
    /// one continues from its last checkpoint.
    TrainingJob(QString projectDir, QString runId, Kind kind, QObject* parent = nullptr);
    ~TrainingJob() override; // cancels (a checkpoint is written) and waits
    void setPaused(bool paused);
    bool paused() const;
    QString runId() const { return m_runId; }
    /// True once trainingStarted() has been emitted (the images are loaded, the run is training).
    bool trainingHasStarted() const { return m_started; }

Q_SIGNALS:
    /// The run is training (its record says so): the first step is on its way.
    void trainingStarted();
    /// At most every 100 ms (and always for the last step): progress and the latest numbers.
    void stepProgress(qint64 step, qint64 totalSteps, double imagesPerSecond, double etaSeconds, const QString& text);
    /// New curve points (queued in batches).
    void points(const QVector<medsiam::ui::CurvePoint>& points);
    /// The collapse monitor's healthy level (1 / sqrt(dim)), once known.
    void healthyCollapse(double level);
    void warning(const QString& text);

protected:
    Outcome run() override;

private:
    class Observer;
    QString m_dir, m_runId;
    Kind m_kind;
    std::unique_ptr<Observer> m_observer;
    bool m_started = false;
};

} // namespace medsiam::ui

Q_DECLARE_METATYPE(medsiam::ui::CurvePoint)
