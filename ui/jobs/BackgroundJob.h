#pragma once
// Background work of the desktop app, in the spirit of QGIS's QgsTask: the work runs on a thread
// of its own, reports progress, and finishes once, on the GUI thread, with a typed state.
#include "train/JobEvents.h"

#include <QMetaType>
#include <QObject>
#include <QString>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace medsiam::ui {

/// Subclasses implement run(), which executes on the job's worker thread: it may read its own
/// members (set before start()), must not touch widgets, talks to the GUI thread only through
/// post() and reportProgress(), checks cancelRequested() between units of work, and returns how
/// it ended. onFinished() then runs on the GUI thread, just before finished() is emitted.
///
/// Lifetime: deleting a job cancels it and waits for its thread; a subclass calls stopAndWait()
/// first thing in its own destructor, so that run() never outlives the members it uses. Nothing
/// a job queued is delivered after it is gone (every queued functor is bound to the job).
class BackgroundJob : public QObject {
    Q_OBJECT
public:
    using State = core::JobState;
    struct Outcome {
        State state = State::Completed;
        QString message; ///< why it failed, or what it did
    };

    explicit BackgroundJob(QObject* parent = nullptr);
    ~BackgroundJob() override;

    /// Starts run() on a new worker thread (once).
    void start();
    /// Asks run() to stop at its next check (also resumes a paused job).
    void cancel();
    /// From start() until finished() has been emitted.
    bool running() const { return m_running; }
    /// Queued before start(), Running until it ends, then how it ended.
    State state() const { return m_state; }
    /// The last outcome's message.
    QString message() const { return m_message; }

Q_SIGNALS:
    /// Progress of the work (0..1, or -1 when unknown) with a line of text; at most 20 a second.
    void progressChanged(double fraction, const QString& text);
    /// The work ended: Completed, Cancelled or Failed, with its message.
    void finished(medsiam::core::JobState state, const QString& message);

protected:
    /// The work, on the worker thread. An exception ends the job as Failed with its message.
    virtual Outcome run() = 0;
    /// On the GUI thread, once run() has returned and before finished() is emitted.
    virtual void onFinished(const Outcome& outcome) {}
    /// Called (on the caller's thread) when the job is asked to stop: a run() that sleeps on a
    /// condition of its own wakes up here.
    virtual void onCancel() {}
    /// Cancel, pause and resume as the training jobs of core see them.
    core::JobControl& control() { return *m_control; }
    const core::JobControl& control() const { return *m_control; }
    const core::CancelToken& cancelToken() const { return m_control->token(); }
    bool cancelRequested() const { return m_control->cancelled(); }
    /// Runs `f` on the GUI thread, unless the job has been deleted by then.
    void post(std::function<void()> f);
    /// Reports progress to the GUI thread, throttled to 20 a second (a `force`d report, such as
    /// the last one, always goes).
    void reportProgress(double fraction, const QString& text, bool force = false);
    /// Cancels and joins the worker thread. Subclasses call it first in their destructor.
    void stopAndWait();

private:
    std::unique_ptr<core::JobControl> m_control;
    std::thread m_thread;
    bool m_running = false;
    State m_state = State::Queued;
    QString m_message;
    std::mutex m_progressMutex;
    std::chrono::steady_clock::time_point m_lastProgress{};
};

} // namespace medsiam::ui

Q_DECLARE_METATYPE(medsiam::core::JobState)
