#pragma once
#include <atomic>

namespace medsiam::core {

/// A cooperative stop request shared between the thread that asks and the job that checks.
/// Any thread may call requestStop(); long-running work polls stopRequested() between units
/// of work (a file, a batch) and returns early, keeping what it has finished.
class CancelToken {
public:
    void requestStop() noexcept { m_stop.store(true, std::memory_order_relaxed); }
    bool stopRequested() const noexcept { return m_stop.load(std::memory_order_relaxed); }
    void reset() noexcept { m_stop.store(false, std::memory_order_relaxed); }

private:
    std::atomic<bool> m_stop{false};
};

} // namespace medsiam::core
