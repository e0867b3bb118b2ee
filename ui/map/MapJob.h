#pragma once
// The embedding map's background work: core::computeMap (a run's embeddings, stored or computed
// with its last checkpoint, and their t-SNE or PCA map) on a worker thread.
#include "analysis/Maps.h"
#include "jobs/BackgroundJob.h"

#include <QString>
#include <QVector>

namespace medsiam::ui {

/// Layouts reach the GUI thread through queued signals: intermediate ones at most every 50 ms
/// while t-SNE converges; the final one is stored in the run (where `medsiam-cli report` finds
/// it) and given by layout() once finished.
class MapJob : public BackgroundJob {
    Q_OBJECT
public:
    MapJob(QString projectDir, core::MapRequest request, QObject* parent = nullptr);
    ~MapJob() override; // cancels and waits
    const core::MapRequest& request() const { return m_request; }
    /// Once finished: the last layout reached (N x 2, for the image ids of started()).
    const QVector<float>& finalLayout() const { return m_final; }

Q_SIGNALS:
    /// What the job is doing, in words ("Computing embeddings ...").
    void stage(const QString& text);
    /// The points are known: their image ids, in the order of every layout to come.
    void started(const QVector<qint64>& imageIds, qint64 checkpointStep, int dimensions);
    /// An intermediate t-SNE layout.
    void layout(const QVector<float>& xy, int iteration, int iterations, double kl);

protected:
    Outcome run() override;

private:
    QString m_dir;
    core::MapRequest m_request;
    QVector<float> m_final; ///< written by run(), read after finished()
};

} // namespace medsiam::ui
