#include "map/MapJob.h"

#include "project/Project.h"

#include <chrono>

namespace medsiam::ui {

MapJob::MapJob(QString projectDir, core::MapRequest request, QObject* parent)
    : BackgroundJob(parent), m_dir(std::move(projectDir)), m_request(std::move(request))
{
}

MapJob::~MapJob() { stopAndWait(); }

BackgroundJob::Outcome MapJob::run()
{
    auto project = core::Project::open(m_dir.toStdString());
    auto lastSent = std::chrono::steady_clock::time_point{};
    using Kind = core::MapEvent::Kind;
    const core::MapResult r = core::computeMap(
        *project, m_request,
        [&](const core::MapEvent& e) {
            switch (e.kind) {
            case Kind::ComputingEmbeddings:
                post([this, size = e.inputSize] { Q_EMIT stage(tr("Computing embeddings with the run's last checkpoint at %1 px ...").arg(size)); });
                break;
            case Kind::EmbeddingsReady: {
                const QVector<qint64> ids(e.embeddings->imageIds.begin(), e.embeddings->imageIds.end());
                post([this, ids, step = e.embeddings->checkpointStep, dims = int(e.embeddings->dims)] { Q_EMIT started(ids, step, dims); });
                break;
            }
            case Kind::Neighbours:
                post([this] { Q_EMIT stage(tr("t-SNE: finding neighbours ...")); });
                break;
            case Kind::Layout: {
                const auto now = std::chrono::steady_clock::now();
                if (now - lastSent < std::chrono::milliseconds(50))
                    return;
                lastSent = now;
                const QVector<float> xy(e.layout, e.layout + 2 * e.points);
                post([this, xy, it = e.iteration, n = e.iterations, kl = e.kl] { Q_EMIT layout(xy, it, n, kl); });
                break;
            }
            }
        },
        &cancelToken());
    m_final = QVector<float>(r.layout.begin(), r.layout.end());
    return {r.cancelled ? State::Cancelled : State::Completed, QString::fromStdString(r.summary())};
}

} // namespace medsiam::ui
