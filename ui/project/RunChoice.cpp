#include "project/RunChoice.h"

#include "project/Project.h"
#include "project/RunStore.h"

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
    auto runs = core::RunStore(project).list();
    std::reverse(runs.begin(), runs.end()); // newest first
    for (const auto& r : runs)
        if (accept(r)) {
            box->addItem(runLabel(r), QString::fromStdString(r.id));
            if (!r.note.empty())
                box->setItemData(box->count() - 1, QString::fromStdString(r.note), Qt::ToolTipRole);
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

QString runLabel(const core::RunRecord& run, const QString& state)
{
    const QString kind = run.kind == "simsiam-pretrain" ? QObject::tr("SimSiam")
                       : run.kind == "finetune"         ? QObject::tr("classifier")
                       : run.kind == "linear-probe"     ? QObject::tr("linear probe")
                                                        : QString::fromStdString(run.kind);
    const QString shown = state.isEmpty() ? QString::fromStdString(run.state) : state;
    if (!run.title.empty()) // the user's name first; the id stays, to tell runs apart
        return QObject::tr("%1 \u2014 %2 (%3, %4)").arg(QString::fromStdString(run.title), QString::fromStdString(run.id), kind, shown);
    return QObject::tr("%1 (%2, %3)").arg(QString::fromStdString(run.id), kind, shown);
}

bool hasCheckpoint(core::Project& project, const core::RunRecord& run) { return core::RunStore(project).hasCheckpoint(run.id); }

} // namespace medsiam::ui
