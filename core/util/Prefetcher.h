#pragma once
// Makes the next item of a sequence on one background thread while the caller works on the
// current one: a training loop asks for step s's batch, then for step s+1's to be made ahead,
// and the host's share of making a batch overlaps the step's compute.
//
// What an item holds must depend only on its key (a batch is seeded by its step), so a loop
// with and without prefetching computes the same thing; `make` is never called twice at once,
// so it may keep caches of its own (an epoch's shuffled order).
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace medsiam::core {

template<class T>
class Prefetcher {
public:
    using Make = std::function<T(int64_t key)>;

    /// `enabled` false: take() makes every item when asked, on the caller's thread, and ahead()
    /// does nothing (the same items, one after another).
    explicit Prefetcher(Make make, bool enabled = true) : m_make(std::move(make)), m_enabled(enabled)
    {
        if (m_enabled)
            m_worker = std::thread([this] { work(); });
    }
    ~Prefetcher()
    {
        if (!m_enabled)
            return;
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_quit = true;
        }
        m_wake.notify_all();
        m_worker.join(); // waits for an item in the making; it is dropped
    }
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;

    /// Starts making `key`'s item in the background, unless it is already made or in the making.
    /// An item made earlier for another key is dropped.
    void ahead(int64_t key)
    {
        if (!m_enabled)
            return;
        std::unique_lock<std::mutex> lock(m_mutex);
        if (m_key == key && (m_busy || m_wanted || m_item || m_error))
            return;
        m_done.wait(lock, [this] { return !m_busy; });
        clear();
        m_key = key;
        m_wanted = true;
        m_wake.notify_all();
    }

    /// `key`'s item: the one made ahead when it was asked for (waiting for it to finish), else
    /// made now. An error thrown while making it is thrown here, where it would have been
    /// thrown without prefetching.
    T take(int64_t key)
    {
        if (m_enabled) {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_done.wait(lock, [this] { return !m_busy && !m_wanted; });
            if (m_key == key && (m_item || m_error)) {
                std::exception_ptr error = std::exchange(m_error, nullptr);
                std::optional<T> item = std::exchange(m_item, std::nullopt);
                m_key = kNone;
                if (error)
                    std::rethrow_exception(error);
                return std::move(*item);
            }
            clear();
        }
        return m_make(key);
    }

    /// Whether `key`'s item was made (or is in the making) ahead of its take(); for tests.
    bool madeAhead(int64_t key)
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_enabled && m_key == key && (m_busy || m_wanted || m_item || m_error);
    }

private:
    static constexpr int64_t kNone = INT64_MIN;

    void clear()
    {
        m_item.reset();
        m_error = nullptr;
        m_key = kNone;
    }

    void work()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        for (;;) {
            m_wake.wait(lock, [this] { return m_quit || m_wanted; });
            if (m_quit)
                return;
            m_wanted = false;
            m_busy = true;
            const int64_t key = m_key;
            lock.unlock();
            std::optional<T> item;
            std::exception_ptr error;
            try {
                item.emplace(m_make(key));
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            m_busy = false;
            m_item = std::move(item);
            m_error = error;
            m_done.notify_all();
        }
    }

    Make m_make;
    const bool m_enabled;
    std::thread m_worker;
    std::mutex m_mutex;
    std::condition_variable m_wake, m_done;
    int64_t m_key = kNone;
    bool m_wanted = false, m_busy = false, m_quit = false;
    std::optional<T> m_item;
    std::exception_ptr m_error;
};

} // namespace medsiam::core
