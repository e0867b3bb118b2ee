#include "browser/ThumbnailLoader.h"


namespace medsiam::ui {

ThumbnailLoader::ThumbnailLoader(Source source, int size, int capacity, QObject* parent)
    : BackgroundJob(parent), m_source(std::move(source)), m_size(size), m_capacity(capacity), m_lru(capacity)
{
    start();
}

ThumbnailLoader::~ThumbnailLoader() { stopAndWait(); }

void ThumbnailLoader::onCancel()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
}

const QImage* ThumbnailLoader::cached(int64_t imageId)
{
    return m_lru.object(imageId); // also marks it most recently used
}

void ThumbnailLoader::request(const std::vector<int64_t>& imageIds)
{
    std::vector<int64_t> wanted;
    wanted.reserve(imageIds.size());
    for (int64_t id : imageIds)
        if (!m_lru.contains(id))
            wanted.push_back(id);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_queue = std::move(wanted);
        m_next = 0;
    }
    m_wake.notify_all();
}

void ThumbnailLoader::reset(Source source)
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_queue.clear();
        m_next = 0;
        m_source = std::move(source);
        ++m_generation;
    }
    m_lru.clear();
}

bool ThumbnailLoader::busy() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_working || m_next < m_queue.size();
}

BackgroundJob::Outcome ThumbnailLoader::run()
{
    for (;;) {
        int64_t id = 0;
        Source source;
        uint64_t generation = 0;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_working = false;
            m_wake.wait(lock, [this] { return m_stop || m_next < m_queue.size(); });
            if (m_stop)
                return {State::Cancelled, QString()};
            id = m_queue[m_next++];
            source = m_source;
            generation = m_generation;
            m_working = true;
        }
        QImage image = source ? source(id, m_size) : QImage();
        ++m_decodes;
        post([this, id, image, generation] {
            {
                std::lock_guard<std::mutex> lock(m_mutex);
                if (generation != m_generation)
                    return; // made from a cache that has since been replaced
            }
            deliver(id, image);
        });
    }
}

void ThumbnailLoader::deliver(qint64 imageId, const QImage& image)
{
    m_lru.insert(imageId, new QImage(image));
    Q_EMIT thumbnailReady(imageId);
}

} // namespace medsiam::ui
