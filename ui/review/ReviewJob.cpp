#include "review/ReviewJob.h"

#include "analysis/Predict.h"
#include "common/Count.h"
#include "project/Project.h"
#include "train/FinetuneJob.h"
#include "util/Error.h"

namespace medsiam::ui {

namespace {

/// Step progress of the retraining run, as a fraction of the round's first part.
class RetrainObserver : public core::JobObserver {
public:
    explicit RetrainObserver(std::function<void(double, const QString&)> report) : m_report(std::move(report)) {}
    void step(const core::StepEvent& e) override
    {
        if (e.totalSteps > 0)
            m_report(0.9 * double(e.step) / double(e.totalSteps),
                     QObject::tr("Training the next classifier: step %1 of %2").arg(e.step).arg(e.totalSteps));
    }

private:
    std::function<void(double, const QString&)> m_report;
};

} // namespace

ReviewJob::ReviewJob(QString projectDir, QString runId, Mode mode, QObject* parent)
    : BackgroundJob(parent), m_dir(std::move(projectDir)), m_run(runId), m_classifier(std::move(runId)), m_mode(mode)
{
}

ReviewJob::~ReviewJob() { stopAndWait(); }

BackgroundJob::Outcome ReviewJob::run()
{
    auto project = core::Project::open(m_dir.toStdString());
    double from = 0;
    if (m_mode == Mode::RetrainThenPredict) {
        reportProgress(0, tr("Preparing the next round from %1 ...").arg(m_run), true);
        const core::FinetuneConfig config = core::retrainConfig(*project, m_run.toStdString());
        const QString id = QString::fromStdString(core::FinetuneJob::create(*project, config));
        post([this, id] { Q_EMIT runCreated(id); });
        RetrainObserver observer([this](double f, const QString& text) { reportProgress(f, text); });
        const core::JobState state = core::FinetuneJob(*project, id.toStdString()).run(observer, control());
        if (state == core::JobState::Cancelled || cancelRequested())
            return {State::Cancelled, tr("Retraining stopped; run %1 can be resumed from the Training Runs panel.").arg(id)};
        if (state != core::JobState::Completed)
            return {State::Failed, tr("Retraining run %1 did not complete (%2); the Training Runs panel has its log.")
                                       .arg(id, QString::fromLatin1(core::toString(state)))};
        m_classifier = id; // read on the GUI thread once the job has finished
        from = 0.9;
    }
    core::PredictOptions options;
    options.cancel = &cancelToken();
    options.progress = [&](size_t done, size_t total) {
        reportProgress(from + (1 - from) * double(done) / double(std::max<size_t>(1, total)),
                       tr("Classifying the unlabeled images: %1 of %2").arg(done).arg(total));
    };
    core::PredictionSet set;
    try {
        set = core::predictProject(*project, m_classifier.toStdString(), options);
    } catch (const core::UserError&) {
        if (cancelRequested())
            return {State::Cancelled, tr("Prediction stopped; nothing was stored.")};
        throw;
    }
    reportProgress(1, {}, true);
    return {State::Completed, tr("%1 classified by %2.").arg(countOf(qint64(set.classified()), tr("unlabeled image"), tr("unlabeled images")),
                                                              m_classifier)};
}

} // namespace medsiam::ui
