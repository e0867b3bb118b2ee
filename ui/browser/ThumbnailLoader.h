#pragma once
#include "jobs/BackgroundJob.h"

#include <QCache>
#include <QImage>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace medsiam::ui {

/// Makes thumbnails off the GUI thread and keeps the most recent ones in a bounded LRU.
/// The view asks for what is on screen plus a prefetch margin; each request replaces the
/// previous queue, so fast scrolling over 100k images decodes only what was actually shown
/// (or about to be), never the rows scrolled past. A BackgroundJob that runs from construction
/// to destruction, serving its queue.
class ThumbnailLoader : public BackgroundJob {
    Q_OBJECT
public:
    /// Turns an image id into a thumbnail at most `size` pixels on its long side. Runs on the
    /// loader's thread; must be thread-safe. A null image means "cannot be shown".
    using Source = std::function<QImage(int64_t imageId, int size)>;

    ThumbnailLoader(Source source, int size, int capacity, QObject* parent = nullptr);
    ~ThumbnailLoader() override;

    /// The cached thumbnail (a null QImage when it cannot be shown), or nullptr when it is not
    /// cached (then call request()). Valid until the next call into the loader.
    const QImage* cached(int64_t imageId);
    /// Replaces the queue with these ids, in order (first decoded first). Cached ids are skipped.
    void request(const std::vector<int64_t>& imageIds);
    /// Drops every cached thumbnail and the queue (the cache changed under us).
    void reset(Source source);

    int size() const { return m_size; }
    int capacity() const { return m_capacity; }
    int cachedCount() const { return m_lru.size(); }
    /// Thumbnails made since construction (for tests and the status bar).
    int64_t decodeCount() const { return m_decodes.load(); }
    /// True while requests are queued or being decoded.
    bool busy() const;

Q_SIGNALS:
    /// A thumbnail is ready (queued to the GUI thread).
    void thumbnailReady(qint64 imageId);

protected:
    Outcome run() override;
    void onCancel() override;

private:
    void deliver(qint64 imageId, const QImage& image);
    Source m_source;
    const int m_size;
    const int m_capacity;
    QCache<qint64, QImage> m_lru; // GUI thread only
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::vector<int64_t> m_queue; // guarded by m_mutex, next to decode at the front
    size_t m_next = 0;
    bool m_working = false;
    bool m_stop = false;
    uint64_t m_generation = 0;
    std::atomic<int64_t> m_decodes{0};
};

} // namespace medsiam::ui
