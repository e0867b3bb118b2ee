#include "training/TrainingJob.h"

#include "project/Project.h"
#include "train/FinetuneJob.h"
#include "train/JobEvents.h"
#include "train/PretrainJob.h"

#include <QMetaObject>
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
                QMetaObject::invokeMethod(m_job, [job = m_job, h = e.collapseHealthy] { Q_EMIT job->healthyCollapse(h); }, Qt::QueuedConnection);
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
        QMetaObject::invokeMethod(
            m_job, [job = m_job, e, text] { Q_EMIT job->progress(e.step, e.totalSteps, e.imagesPerSecond, e.etaSeconds, text); },
            Qt::QueuedConnection);
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
    void stateChanged(core::JobState, const std::string& message) override
    {
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
        QMetaObject::invokeMethod(m_job, [job = m_job, m = QString::fromStdString(message)] { Q_EMIT job->warning(m); }, Qt::QueuedConnection);
    }
    void flush()
    {
        QVector<CurvePoint> batch;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            batch.swap(m_pending);
        }
        if (!batch.isEmpty())
            QMetaObject::invokeMethod(m_job, [job = m_job, batch] { Q_EMIT job->points(batch); }, Qt::QueuedConnection);
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
    : QObject(parent), m_dir(std::move(projectDir)), m_runId(std::move(runId)), m_kind(kind),
      m_control(std::make_unique<core::JobControl>()), m_observer(std::make_unique<Observer>(this))
{
    qRegisterMetaType<CurvePoint>();
    qRegisterMetaType<QVector<CurvePoint>>();
}

TrainingJob::~TrainingJob()
{
    cancel();
    if (m_thread.joinable())
        m_thread.join();
}

void TrainingJob::cancel() { m_control->cancel(); }

void TrainingJob::setPaused(bool paused)
{
    if (paused)
        m_control->pause();
    else
        m_control->resume();
}

bool TrainingJob::paused() const { return m_control->paused(); }

void TrainingJob::start()
{
    if (m_running)
        return;
    m_running = true;
    m_thread = std::thread([this] {
        core::JobState state = core::JobState::Failed;
        QString message;
        try {
            auto project = core::Project::open(m_dir.toStdString());
            const std::string id = m_runId.toStdString();
            if (m_kind == Kind::Pretrain) {
                core::PretrainJob job(*project, id);
                state = job.run(*m_observer, *m_control);
            } else {
                core::FinetuneJob job(*project, id);
                state = job.run(*m_observer, *m_control);
            }
            message = m_observer->lastMessage();
        } catch (const std::exception& e) {
            message = QString::fromStdString(e.what());
        }
        m_observer->flush();
        QMetaObject::invokeMethod(
            this,
            [this, state, message] {
                m_thread.join();
                m_running = false;
                Q_EMIT finished(QString::fromLatin1(core::toString(state)), message);
            },
            Qt::QueuedConnection);
    });
}

} // namespace medsiam::ui
