#include "labels/LabelTableDialog.h"

#include "labels/LabelTableBox.h"
#include "project/Importer.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "util/Error.h"

#include <QDialogButtonBox>
#include <QMessageBox>
#include <QPushButton>
#include <QUndoStack>
#include <QVBoxLayout>

namespace medsiam::ui {

LabelTableDialog::LabelTableDialog(ProjectSession& session, QWidget* parent) : QDialog(parent), m_session(session)
{
    setWindowTitle(tr("Import labels from a table"));
    m_table = new LabelTableBox(tr("Label table (CSV)"), session.project(), this);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    buttons->addButton(tr("Apply labels"), QDialogButtonBox::AcceptRole);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_table, 1);
    layout->addWidget(buttons);
    resize(640, 420);
}

void LabelTableDialog::accept()
{
    const auto options = m_table->options();
    if (!options) {
        QMessageBox::information(this, windowTitle(), tr("Choose a CSV file first."));
        return;
    }
    core::LabelImportResult r;
    try {
        r = core::applyLabelCsv(m_session.project(), *options);
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, windowTitle(), QString::fromStdString(e.what()));
        return;
    }
    // A table's labels are not one undoable step; earlier steps may now replay over them.
    m_session.undoStack()->clear();
    m_session.reload();
    m_result = tr("%1 of %2 rows matched (by %3): %4 images labeled, %5 given a split.")
                   .arg(r.matchedRows)
                   .arg(r.rows)
                   .arg(QString::fromLatin1(core::labelKeyKindName(r.keyKind)))
                   .arg(r.imagesLabeled)
                   .arg(r.imagesSplit);
    if (!r.unmatchedKeys.empty())
        m_result += tr(" %1 keys match no image (first: %2); they are listed in the project's import issues.")
                        .arg(r.unmatchedKeys.size())
                        .arg(QString::fromStdString(r.unmatchedKeys.front()));
    if (!r.rowProblems.empty())
        m_result += tr(" %1 rows have problems (first: %2).").arg(r.rowProblems.size()).arg(QString::fromStdString(r.rowProblems.front()));
    QDialog::accept();
}

} // namespace medsiam::ui
