#include "labels/LabelTableBox.h"

#include "project/Importer.h"
#include "project/Project.h"
#include "util/Csv.h"
#include "util/Error.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTableWidget>

namespace medsiam::ui {

LabelTableBox::LabelTableBox(const QString& title, core::Project& project, QWidget* parent) : QGroupBox(title, parent), m_project(project)
{
    auto* form = new QFormLayout(this);
    m_path = new QLineEdit(this);
    m_path->setPlaceholderText(tr("a CSV with one row per image: a key column and a label and/or split column"));
    auto* browse = new QPushButton(tr("Browse..."), this);
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Label table"), QString(), tr("CSV files (*.csv *.txt);;All files (*)"));
        if (!f.isEmpty())
            m_path->setText(f);
    });
    connect(m_path, &QLineEdit::editingFinished, this, &LabelTableBox::reloadColumns);
    connect(m_path, &QLineEdit::textChanged, this, [this] {
        if (QFileInfo(m_path->text()).isFile())
            reloadColumns();
    });
    auto* fileRow = new QHBoxLayout;
    fileRow->addWidget(m_path, 1);
    fileRow->addWidget(browse);
    form->addRow(tr("File:"), fileRow);
    m_keyColumn = new QComboBox(this);
    m_labelColumn = new QComboBox(this);
    m_splitColumn = new QComboBox(this);
    m_keyKind = new QComboBox(this);
    m_keyKind->addItem(tr("detect"), int(core::LabelKeyKind::Auto));
    m_keyKind->addItem(tr("relative path"), int(core::LabelKeyKind::RelativePath));
    m_keyKind->addItem(tr("file name"), int(core::LabelKeyKind::FileName));
    m_keyKind->addItem(tr("DICOM SOPInstanceUID"), int(core::LabelKeyKind::SopInstanceUid));
    m_keyKind->addItem(tr("DICOM PatientID (labels every image of the patient)"), int(core::LabelKeyKind::PatientId));
    auto* columns = new QHBoxLayout;
    columns->addWidget(new QLabel(tr("key"), this));
    columns->addWidget(m_keyColumn, 1);
    columns->addWidget(new QLabel(tr("label"), this));
    columns->addWidget(m_labelColumn, 1);
    columns->addWidget(new QLabel(tr("split"), this));
    columns->addWidget(m_splitColumn, 1);
    form->addRow(tr("Columns:"), columns);
    form->addRow(tr("Keys are:"), m_keyKind);
    for (QComboBox* c : {m_keyColumn, m_labelColumn, m_splitColumn, m_keyKind})
        connect(c, QOverload<int>::of(&QComboBox::activated), this, &LabelTableBox::updatePreview);
    m_preview = new QTableWidget(0, 2, this);
    m_preview->setHorizontalHeaderLabels({tr("Key"), tr("Match")});
    m_preview->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_preview->verticalHeader()->hide();
    m_preview->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_preview->setMaximumHeight(140);
    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    form->addRow(m_summary);
    form->addRow(m_preview);
}

LabelTableBox::~LabelTableBox() = default;

void LabelTableBox::setSources(const std::vector<std::string>& sources)
{
    m_sources = sources;
    updatePreview();
}

std::optional<core::LabelCsvOptions> LabelTableBox::options() const
{
    if (m_path->text().trimmed().isEmpty())
        return std::nullopt;
    core::LabelCsvOptions o;
    o.csvPath = m_path->text().trimmed().toStdString();
    o.keyColumn = m_keyColumn->currentData().toString().toStdString();
    o.labelColumn = m_labelColumn->currentData().toString().toStdString();
    o.splitColumn = m_splitColumn->currentData().toString().toStdString();
    o.keyKind = static_cast<core::LabelKeyKind>(m_keyKind->currentData().toInt());
    return o;
}

void LabelTableBox::reloadColumns()
{
    const QString path = m_path->text().trimmed();
    for (QComboBox* c : {m_keyColumn, m_labelColumn, m_splitColumn})
        c->clear();
    m_preview->setRowCount(0);
    m_summary->clear();
    if (path.isEmpty())
        return;
    try {
        const core::CsvTable csv = core::readCsv(path.toStdString());
        m_labelColumn->addItem(tr("(none)"), QString());
        m_splitColumn->addItem(tr("(none)"), QString());
        for (const auto& h : csv.header) {
            const QString name = QString::fromStdString(h);
            m_keyColumn->addItem(name, name);
            m_labelColumn->addItem(name, name);
            m_splitColumn->addItem(name, name);
        }
        // Likely roles by name, so that a typical table needs no clicks.
        auto pick = [](QComboBox* box, std::initializer_list<const char*> names) {
            for (const char* n : names)
                for (int i = 0; i < box->count(); ++i)
                    if (box->itemData(i).toString().compare(QLatin1String(n), Qt::CaseInsensitive) == 0) {
                        box->setCurrentIndex(i);
                        return;
                    }
        };
        pick(m_keyColumn, {"image", "path", "file", "filename", "image_id", "sop_uid", "sopinstanceuid", "patient_id", "patientid"});
        pick(m_labelColumn, {"label", "class", "diagnosis", "dx", "finding", "target"});
        pick(m_splitColumn, {"split", "fold", "set", "subset"});
    } catch (const core::UserError& e) {
        m_summary->setText(tr("Cannot read this table: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    updatePreview();
}

void LabelTableBox::updatePreview()
{
    const std::optional<core::LabelCsvOptions> o = options();
    if (!o || m_keyColumn->count() == 0) {
        m_preview->setRowCount(0);
        return;
    }
    try {
        const core::LabelCsvPreview p = core::previewLabelCsv(*o, m_sources, &m_project);
        const int kind = m_keyKind->findData(int(p.keyKind));
        const QString kindText = kind >= 0 ? m_keyKind->itemText(kind) : QString::fromLatin1(core::labelKeyKindName(p.keyKind));
        m_summary->setText(tr("%1 of %2 rows match (keys read as %3). %4")
                               .arg(p.matchedRows)
                               .arg(p.rows)
                               .arg(kindText)
                               .arg(QString::fromStdString(p.note))
                               .trimmed());
        m_preview->setRowCount(0);
        auto add = [this](const std::string& key, bool matched) {
            const int r = m_preview->rowCount();
            m_preview->insertRow(r);
            m_preview->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(key)));
            auto* m = new QTableWidgetItem(matched ? tr("matched") : tr("no such image"));
            m->setForeground(matched ? QColor(0, 128, 0) : QColor(190, 0, 0));
            m_preview->setItem(r, 1, m);
        };
        for (const auto& k : p.unmatchedKeys)
            add(k, false);
        for (const auto& k : p.matchedKeys)
            add(k, true);
    } catch (const core::UserError& e) {
        m_summary->setText(QString::fromStdString(e.what()));
        m_preview->setRowCount(0);
    }
}

} // namespace medsiam::ui
