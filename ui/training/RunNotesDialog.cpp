#include "training/RunNotesDialog.h"

#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "util/Error.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QVBoxLayout>

namespace medsiam::ui {

RunNotesDialog::RunNotesDialog(ProjectSession& session, const QString& runId, QWidget* parent)
    : QDialog(parent), m_session(session), m_runId(runId)
{
    setWindowTitle(tr("Name and Notes of Run %1").arg(runId));
    const auto record = core::RunStore(session.project()).find(runId.toStdString());
    m_title = new QLineEdit(record ? QString::fromStdString(record->title) : QString(), this);
    m_title->setPlaceholderText(tr("a name to know the run by, e.g. \"BiT start, 10 minutes\""));
    m_title->setMaxLength(200);
    m_notes = new QPlainTextEdit(record ? QString::fromStdString(record->note) : QString(), this);
    m_notes->setPlaceholderText(tr("what you tried and what you saw"));
    auto* form = new QFormLayout;
    form->addRow(tr("Name:"), m_title);
    form->addRow(tr("Notes:"), m_notes);
    auto* id = new QLabel(tr("The run keeps its id (%1) and its folder; other runs started from it are unaffected.").arg(runId), this);
    id->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &RunNotesDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(id);
    layout->addWidget(buttons);
    resize(480, 300);
}

void RunNotesDialog::accept()
{
    try {
        core::RunStore(m_session.project()).describe(m_runId.toStdString(), m_title->text().toStdString(),
                                                     m_notes->toPlainText().toStdString());
    } catch (const core::UserError& e) {
        m_error = QString::fromStdString(e.what());
        QMessageBox::warning(this, tr("Cannot keep the name"), m_error);
        return;
    }
    m_error.clear();
    QDialog::accept();
}

} // namespace medsiam::ui
