#include "project/NewProjectDialog.h"

#include "project/Project.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>

namespace medsiam::ui {

NewProjectDialog::NewProjectDialog(QWidget* parent) : QDialog(parent)
{
    setWindowTitle(tr("New project"));
    m_folder = new QLineEdit(this);
    m_folder->setPlaceholderText(tr("an empty or new folder, e.g. ~/studies/chest.medsiam"));
    auto* browse = new QPushButton(tr("Choose..."), this);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getExistingDirectory(this, tr("Folder for the new project"));
        if (!f.isEmpty())
            m_folder->setText(f);
    });
    auto* row = new QHBoxLayout;
    row->addWidget(m_folder, 1);
    row->addWidget(browse);
    m_resolution = new QSpinBox(this);
    m_resolution->setRange(16, 4096);
    m_resolution->setSingleStep(32);
    m_resolution->setValue(core::Project::kDefaultCacheResolution);
    m_resolution->setSuffix(tr(" px"));
    m_resolution->setToolTip(tr("Side of the square images kept for browsing and training"));
    auto* form = new QFormLayout(this);
    form->addRow(tr("Project folder:"), row);
    form->addRow(tr("Cache resolution:"), m_resolution);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    form->addRow(buttons);
    resize(520, 0);
}

QString NewProjectDialog::folder() const
{
    QString f = m_folder->text().trimmed();
    if (f.startsWith(QLatin1String("~/")))
        f = QDir::homePath() + f.mid(1);
    return f;
}

int NewProjectDialog::cacheResolution() const { return m_resolution->value(); }

void NewProjectDialog::accept()
{
    if (folder().isEmpty()) {
        QMessageBox::information(this, windowTitle(), tr("Choose a folder for the project."));
        return;
    }
    if (core::Project::exists(folder().toStdString())) {
        QMessageBox::information(this, windowTitle(), tr("'%1' already holds a medsiam project; open it with File > Open Project.").arg(folder()));
        return;
    }
    QDialog::accept();
}

} // namespace medsiam::ui
