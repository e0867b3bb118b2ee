#pragma once
// The embedding map's background work: a run's embeddings (stored, or computed with its last
// checkpoint) and their t-SNE or PCA map, on a worker thread with its own project connection.
#include <QObject>
#include <QString>
#include <QVector>

#include <memory>
#include <thread>

namespace medsiam::core {
class CancelToken;
}

namespace medsiam::ui {

struct MapRequest {
    QString projectDir;
    QString runId;
    bool pca = false;
    double perplexity = 30;
    int iterations = 1000;
    bool recomputeEmbeddings = false; ///< even when the run has stored embeddings
};

/// Runs one map computation. Layouts reach the GUI thread through queued signals: intermediate
/// ones at most every 50 ms while t-SNE converges, then the final one, which is also stored in
/// the run (runs/<id>/tsne.npy or pca.npy, where `medsiam-cli report` finds it).
class MapJob : public QObject {
    Q_OBJECT
public:
    explicit MapJob(MapRequest request, QObject* parent = nullptr);
    ~MapJob() override; // cancels and waits
    void start();
    /// Stops t-SNE within one iteration (an embedding pass already begun finishes first).
    void cancel();
    bool running() const { return m_running; }
    const MapRequest& request() const { return m_request; }

Q_SIGNALS:
    /// What the job is doing, in words ("Computing embeddings ...").
    void stage(const QString& text);
    /// An intermediate t-SNE layout: N x 2 for the image ids of `started`.
    void layout(const QVector<float>& xy, int iteration, int iterations, double kl);
    /// The points are known: their image ids, in the order of every layout to come.
    void started(const QVector<qint64>& imageIds, qint64 checkpointStep, int dimensions);
    /// Done, cancelled or failed (`error` in words, empty otherwise). `xy` is the last layout.
    void finished(const QVector<float>& xy, bool cancelled, const QString& error, const QString& summary);

private:
    void work();
    MapRequest m_request;
    std::unique_ptr<core::CancelToken> m_cancel;
    std::thread m_thread;
    bool m_running = false;
};

} // namespace medsiam::ui
