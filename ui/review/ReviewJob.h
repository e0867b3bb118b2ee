#pragma once
// The review queue's background work: classify the unlabeled images with a fine-tuned run
// (core::predictProject, stored under the run), or first train the next round from that run
// (core::retrainConfig: its recipe and budget, from its selected checkpoint) and classify with
// the new classifier.
#include "jobs/BackgroundJob.h"

#include <QString>

namespace medsiam::ui {

class ReviewJob : public BackgroundJob {
    Q_OBJECT
public:
    enum class Mode { Predict, RetrainThenPredict };
    ReviewJob(QString projectDir, QString runId, Mode mode, QObject* parent = nullptr);
    ~ReviewJob() override; // cancels and waits
    Mode mode() const { return m_mode; }
    /// The run given; after a retrain, the new run (known once started).
    QString classifierRun() const { return m_classifier; }

Q_SIGNALS:
    /// A retrain created its run (the training panel can list it).
    void runCreated(const QString& runId);

protected:
    Outcome run() override;

private:
    QString m_dir, m_run, m_classifier;
    Mode m_mode;
};

} // namespace medsiam::ui
