#include "jobs/BackgroundJob.h"

#include <QMetaObject>

namespace medsiam::ui {

BackgroundJob::BackgroundJob(QObject* parent) : QObject(parent), m_control(std::make_unique<core::JobControl>())
{
    qRegisterMetaType<core::JobState>();
}

BackgroundJob::~BackgroundJob() { stopAndWait(); }

void BackgroundJob::stopAndWait()
{
    cancel();
    if (m_thread.joinable())
        m_thread.join();
}

void BackgroundJob::cancel()
{
    m_control->cancel();
    onCancel();
}

void BackgroundJob::post(std::function<void()> f) { QMetaObject::invokeMethod(this, std::move(f), Qt::QueuedConnection); }

void BackgroundJob::reportProgress(double fraction, const QString& text, bool force)
{
    {
        std::lock_guard<std::mutex> lock(m_progressMutex);
        const auto now = std::chrono::steady_clock::now();
        if (!force && now - m_lastProgress < std::chrono::milliseconds(50))
            return;
        m_lastProgress = now;
    }
    post([this, fraction, text] { Q_EMIT progressChanged(fraction, text); });
}

void BackgroundJob::start()
{
    if (m_running || m_thread.joinable())
        return;
    m_running = true;
    m_state = State::Running;
    m_thread = std::thread([this] {
        Outcome outcome;
        try {
            outcome = run();
        } catch (const std::exception& e) {
            outcome = {State::Failed, QString::fromStdString(e.what())};
        } catch (...) {
            outcome = {State::Failed, tr("the work failed with an unknown error")};
        }
        post([this, outcome] {
            m_thread.join();
            m_running = false;
            m_state = outcome.state;
            m_message = outcome.message;
            onFinished(outcome);
            Q_EMIT finished(outcome.state, outcome.message);
        });
    });
}

} // namespace medsiam::ui
