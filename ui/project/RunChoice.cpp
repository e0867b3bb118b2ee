#include "project/RunChoice.h"

#include "project/Project.h"

#include <QComboBox>
#include <QFileInfo>
#include <QSignalBlocker>

#include <algorithm>

namespace medsiam::ui {

void fillRunChoice(QComboBox* box, core::Project& project, const std::function<bool(const core::RunRecord&)>& accept)
{
    const QString keep = box->currentData().toString();
    const QSignalBlocker block(box);
    box->clear();
    auto runs = project.runs();
    std::reverse(runs.begin(), runs.end()); // newest first
    for (const auto& r : runs)
        if (accept(r)) {
            const QString id = QString::fromStdString(r.id);
            box->addItem(QObject::tr("%1 (%2, %3)").arg(id, QString::fromStdString(r.kind), QString::fromStdString(r.state)), id);
        }
    const int at = box->findData(keep);
    box->setCurrentIndex(at >= 0 ? at : 0);
}

bool chooseByData(QComboBox* box, const QString& value)
{
    const int at = box->findData(value);
    if (at >= 0)
        box->setCurrentIndex(at);
    return at >= 0;
}

bool hasCheckpoint(core::Project& project, const core::RunRecord& run)
{
    return QFileInfo::exists(QString::fromStdString(core::runCheckpointPath(project, run.id)));
}

} // namespace medsiam::ui
