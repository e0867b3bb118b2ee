#include "results/GradCamTask.h"

#include "analysis/GradCam.h"
#include "project/Project.h"

#include <QObject>

namespace medsiam::ui {

namespace {

QImage toQImage(const core::Image8& o)
{
    return QImage(o.pixels.data(), o.width, o.height, o.width * o.channels, o.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8)
        .copy();
}

} // namespace

GradCamSource::GradCamSource(QString dir) : projectDir(std::move(dir)) {}
GradCamSource::~GradCamSource() = default;

GradCamOutcome explainImage(GradCamSource& source, const QString& runId, qint64 imageId)
{
    GradCamOutcome out;
    out.imageId = imageId;
    std::lock_guard<std::mutex> lock(source.mutex);
    try {
        auto project = core::Project::open(source.projectDir.toStdString(), core::ProjectAccess::ReadOnly);
        if (!source.loaded || source.runId != runId) {
            source.loaded.reset();
            source.loaded = std::make_unique<core::RunExplainer>(*project, runId.toStdString());
            source.runId = runId;
        }
        const auto e = source.loaded->explain(imageId, -1, -1);
        const auto classes = project->classes();
        out.overlay = toQImage(e.overlay);
        out.base = toQImage(e.base);
        const int c = e.cam.classIndex;
        const QString name = c < static_cast<int>(classes.size()) ? QString::fromStdString(classes[static_cast<size_t>(c)].name) : QString::number(c);
        out.caption = QObject::tr("Image %1: Grad-CAM of %2 (p = %3) at %4 px, from the %5 (%6 x %6 cells). Warm colours "
                                  "drove the prediction.")
                          .arg(imageId)
                          .arg(name)
                          .arg(e.cam.probabilities[static_cast<size_t>(c)], 0, 'f', 3)
                          .arg(e.size)
                          .arg(e.stage == 0 ? QObject::tr("final map") : QObject::tr("map of stage %1").arg(e.stage))
                          .arg(e.cells);
    } catch (const std::exception& e) {
        out.caption = QObject::tr("No Grad-CAM for image %1: %2").arg(imageId).arg(QString::fromStdString(e.what()));
    }
    return out;
}

} // namespace medsiam::ui
