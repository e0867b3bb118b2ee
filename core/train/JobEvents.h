#pragma once
// What a running job tells the GUI and the CLI. Observers are called on the job's thread; the
// GUI's adapter turns them into queued signals. No LibTorch here.
#include "eval/Metrics.h"
#include "util/CancelToken.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace medsiam::core {

enum class JobState { Queued, Running, Cancelling, Cancelled, Completed, Failed };
const char* toString(JobState state);

struct StepEvent {
    int64_t step = 0;       ///< steps done (1-based)
    int64_t totalSteps = 0;
    int64_t epoch = 0;
    double loss = 0;
    double lr = 0;
    double imagesPerSecond = 0;
    double etaSeconds = 0;
    double collapseStd = 0;     ///< std of the L2-normalized projections, averaged over channels
    double collapseHealthy = 0; ///< 1 / sqrt(dim): what a healthy run stays near
    double runSeconds = -1;     ///< training time since the run began (RunLength::runSeconds)
};

struct MonitorEvent {
    int64_t step = 0;
    int64_t epoch = 0;
    double knnAccuracy = 0;
    double knnBalancedAccuracy = 0;
    int64_t bank = 0;    ///< labeled train images used as neighbours
    int64_t queries = 0; ///< labeled val images classified
};

/// Metrics of a classifier on a split, during or after fine-tuning.
struct EvalEvent {
    int64_t step = 0;
    std::string split; ///< "val" or "test"
    ClassificationMetrics metrics;
};

class JobObserver {
public:
    virtual ~JobObserver() = default;
    virtual void stateChanged(JobState state, const std::string& message) {}
    virtual void step(const StepEvent& event) {}
    virtual void monitor(const MonitorEvent& event) {}
    virtual void evaluation(const EvalEvent& event) {}
    /// e.g. the collapse monitor firing.
    virtual void warning(const std::string& message) {}
    virtual void checkpointSaved(const std::string& path, int64_t step) {}
};

/// Cancel (cooperative, checked between batches) and pause/resume, from any thread.
class JobControl {
public:
    void cancel()
    {
        m_cancel.requestStop();
        resume();
    }
    bool cancelled() const { return m_cancel.stopRequested(); }
    void pause() { m_paused = true; }
    void resume()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_paused = false;
        }
        m_cv.notify_all();
    }
    bool paused() const { return m_paused; }
    /// Called by the job between batches: blocks while paused (until resumed or cancelled).
    void waitWhilePaused()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_cv.wait(lock, [&] { return !m_paused || cancelled(); });
    }
    CancelToken& token() { return m_cancel; }

private:
    CancelToken m_cancel;
    std::atomic<bool> m_paused{false};
    std::mutex m_mutex;
    std::condition_variable m_cv;
};

} // namespace medsiam::core
