#include "map/MapJob.h"

#include "analysis/Embeddings.h"
#include "analysis/MapStore.h"
#include "analysis/Tsne.h"
#include "project/Project.h"
#include "util/CancelToken.h"
#include "util/Error.h"

#include <QMetaObject>

#include <chrono>

namespace medsiam::ui {

MapJob::MapJob(MapRequest request, QObject* parent)
    : QObject(parent), m_request(std::move(request)), m_cancel(std::make_unique<core::CancelToken>())
{
}

MapJob::~MapJob()
{
    cancel();
    if (m_thread.joinable())
        m_thread.join();
}

void MapJob::cancel() { m_cancel->requestStop(); }

void MapJob::start()
{
    if (m_running)
        return;
    m_running = true;
    m_thread = std::thread([this] { work(); });
}

void MapJob::work()
{
    // Signals are emitted on the GUI thread, from functors bound to this object: once the job is
    // gone, nothing it queued is delivered.
    auto post = [this](auto f) { QMetaObject::invokeMethod(this, std::move(f), Qt::QueuedConnection); };
    QVector<float> last;
    QString error, summary;
    bool cancelled = false;
    try {
        auto project = core::Project::open(m_request.projectDir.toStdString());
        const std::string run = m_request.runId.toStdString();
        core::EmbeddingSet set;
        bool stored = false;
        if (!m_request.recomputeEmbeddings) {
            try {
                set = core::loadEmbeddings(*project, run);
                stored = true;
            } catch (const core::UserError&) {
            }
        }
        if (!stored) {
            const int size = core::runInputSize(*project, run);
            post([this, size] { Q_EMIT stage(tr("Computing embeddings with the run's last checkpoint at %1 px ...").arg(size)); });
            set = core::computeEmbeddings(*project, run, size);
        }
        const QVector<qint64> ids(set.imageIds.begin(), set.imageIds.end());
        const qint64 step = set.checkpointStep;
        const int dims = static_cast<int>(set.vectors.size(1));
        post([this, ids, step, dims] { Q_EMIT started(ids, step, dims); });
        if (m_cancel->stopRequested()) {
            cancelled = true;
        } else if (m_request.pca) {
            const auto xy = core::pcaMap(set.vectors);
            last = QVector<float>(xy.begin(), xy.end());
            core::saveMapLayout(*project, run, true, xy);
            summary = tr("PCA map of %n image(s)", nullptr, int(ids.size()));
        } else {
            post([this] { Q_EMIT stage(tr("t-SNE: finding neighbours ...")); });
            core::TsneConfig c;
            c.perplexity = m_request.perplexity;
            c.iterations = m_request.iterations;
            c.progressEvery = 5;
            auto lastSent = std::chrono::steady_clock::time_point{};
            const auto r = core::runTsne(
                set.vectors, c,
                [&](const core::TsneProgress& p) {
                    const auto now = std::chrono::steady_clock::now();
                    if (now - lastSent < std::chrono::milliseconds(50))
                        return;
                    lastSent = now;
                    QVector<float> xy(p.layout, p.layout + 2 * p.points);
                    post([this, xy, it = p.iteration, n = p.iterations, kl = p.kl] { Q_EMIT layout(xy, it, n, kl); });
                },
                m_cancel.get());
            last = QVector<float>(r.layout.begin(), r.layout.end());
            cancelled = r.cancelled;
            if (!cancelled)
                core::saveMapLayout(*project, run, false, r.layout);
            summary = tr("t-SNE of %n image(s), %1 iterations in %2 s, KL %3", nullptr, int(ids.size()))
                          .arg(r.iterations)
                          .arg(r.seconds, 0, 'f', 1)
                          .arg(r.kl, 0, 'f', 3);
        }
    } catch (const std::exception& e) {
        error = QString::fromStdString(e.what());
    }
    post([this, last, cancelled, error, summary] {
        m_thread.join();
        m_running = false;
        Q_EMIT finished(last, cancelled, error, summary);
    });
}

} // namespace medsiam::ui
