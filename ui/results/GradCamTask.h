#pragma once
// Grad-CAM of one image for the desktop app, computed off the GUI thread: the results panel and
// the review queue share it. A GradCamSource keeps the last run's network loaded between images.
#include <QImage>
#include <QString>

#include <memory>
#include <mutex>

namespace medsiam::core {
class RunExplainer;
}

namespace medsiam::ui {

/// One project's explainer, loaded for the last run asked about. Any thread; one at a time.
struct GradCamSource {
    explicit GradCamSource(QString dir);
    ~GradCamSource();
    std::mutex mutex;
    QString projectDir, runId;
    std::unique_ptr<core::RunExplainer> loaded; ///< for runId
};

struct GradCamOutcome {
    qint64 imageId = 0;
    QImage overlay;  ///< the heatmap over the network's input; null when it failed
    QImage base;     ///< the network's input alone
    QString caption; ///< what is shown, or why nothing is
};

/// Explains `imageId` under `runId` (the predicted class, the map autoStage picks). Blocking;
/// run it on a worker thread (QtConcurrent). Never throws: a failure is the caption.
GradCamOutcome explainImage(GradCamSource& source, const QString& runId, qint64 imageId);

} // namespace medsiam::ui
