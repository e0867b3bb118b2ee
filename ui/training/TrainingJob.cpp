#include "training/TrainingJob.h"

#include "project/Project.h"
#include "train/FinetuneJob.h"
#include "train/JobEvents.h"
#include "train/PretrainJob.h"

#include <QVector>

#include <chrono>
#include <cmath>
#include <mutex>

namespace medsiam::ui {

/// Called on the worker thread. Points gather under a mutex and go to the GUI thread at most
/// every 100 ms, so that a fast run does not flood the event queue.
class TrainingJob::Observer : public core::JobObserver {
public:
    explicit Observer(TrainingJob* job) : m_job(job) {}

    void step(const core::StepEvent& e) override
    {
        add({CurvePoint::Loss, double(e.step), e.loss});
        if (e.collapseHealthy > 0) {
            add({CurvePoint::Collapse, double(e.step), e.collapseStd});
            if (!m_healthySent) {
                m_healthySent = true;
                m_job->post([job = m_job, h = e.collapseHealthy] { Q_EMIT job->healthyCollapse(h); });
            }
        }
        const auto now = std::chrono::steady_clock::now();
        if (e.step < e.totalSteps && now - m_last < std::chrono::milliseconds(100))
            return;
        m_last = now;
        QString text = TrainingJob::tr("step %1 of %2 · loss %3 · lr %4 · %5 img/s")
                           .arg(e.step)
                           .arg(e.totalSteps)
                           .arg(e.loss, 0, 'f', 4)
                           .arg(e.lr, 0, 'g', 3)
                           .arg(e.imagesPerSecond, 0, 'f', 0);
        if (e.collapseHealthy > 0)
            text += TrainingJob::tr(" · output std %1 (healthy %2)").arg(e.collapseStd, 0, 'f', 3).arg(e.collapseHealthy, 0, 'f', 3);
        flush();
        m_job->post([job = m_job, e, text] { Q_EMIT job->stepProgress(e.step, e.totalSteps, e.imagesPerSecond, e.etaSeconds, text); });
    }
    void monitor(const core::MonitorEvent& e) override
    {
        add({CurvePoint::KnnAccuracy, double(e.step), e.knnAccuracy});
        add({CurvePoint::KnnBalanced, double(e.step), e.knnBalancedAccuracy});
        flush();
    }
    void evaluation(const core::EvalEvent& e) override
    {
        if (e.split != "val")
            return;
        add({CurvePoint::ValBalanced, double(e.step), e.metrics.balancedAccuracy});
        if (std::isfinite(e.metrics.macroAuc))
            add({CurvePoint::ValAuc, double(e.step), e.metrics.macroAuc});
        flush();
    }
    void stateChanged(core::JobState state, const std::string& message) override
    {
        if (state == core::JobState::Running)
            m_job->post([job = m_job] { Q_EMIT job->trainingStarted(); });
        std::lock_guard<std::mutex> lock(m_mutex);
        if (!message.empty())
            m_message = message;
    }
    QString lastMessage()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return QString::fromStdString(m_message);
    }
    void warning(const std::string& message) override
    {
        m_job->post([job = m_job, m = QString::fromStdString(message)] { Q_EMIT job->warning(m); });
    }
    void flush()
    {
        QVector<CurvePoint> batch;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            batch.swap(m_pending);
        }
        if (!batch.isEmpty())
            m_job->post([job = m_job, batch] { Q_EMIT job->points(batch); });
    }

private:
    void add(const CurvePoint& p)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_pending.push_back(p);
    }
    TrainingJob* m_job;
    std::mutex m_mutex;
    QVector<CurvePoint> m_pending;
    std::string m_message;
    std::chrono::steady_clock::time_point m_last{};
    bool m_healthySent = false;
};

TrainingJob::TrainingJob(QString projectDir, QString runId, Kind kind, QObject* parent)
    : BackgroundJob(parent), m_dir(std::move(projectDir)), m_runId(std::move(runId)), m_kind(kind),
      m_observer(std::make_unique<Observer>(this))
{
    qRegisterMetaType<CurvePoint>();
    qRegisterMetaType<QVector<CurvePoint>>();
    connect(this, &TrainingJob::trainingStarted, this, [this] { m_started = true; }); // first: before any listener
}

TrainingJob::~TrainingJob() { stopAndWait(); }

void TrainingJob::setPaused(bool paused)
{
    if (paused)
        control().pause();
    else
        control().resume();
}

bool TrainingJob::paused() const { return control().paused(); }

BackgroundJob::Outcome TrainingJob::run()
{
    auto project = core::Project::open(m_dir.toStdString());
    const std::string id = m_runId.toStdString();
    core::JobState state;
    if (m_kind == Kind::Pretrain) {
        core::PretrainJob job(*project, id);
        state = job.run(*m_observer, control());
    } else {
        core::FinetuneJob job(*project, id);
        state = job.run(*m_observer, control());
    }
    m_observer->flush();
    return {state, m_observer->lastMessage()};
}

} // namespace medsiam::ui
