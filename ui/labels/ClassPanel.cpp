#include "labels/ClassPanel.h"

#include "project/Project.h"
#include "project/ProjectSession.h"
#include "util/Error.h"

#include <QColorDialog>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <set>

namespace medsiam::ui {

namespace {

QIcon swatch(const QColor& c)
{
    QPixmap pm(14, 14);
    pm.fill(c);
    return QIcon(pm);
}

} // namespace

ClassPanel::ClassPanel(ProjectSession& session, QWidget* parent) : QWidget(parent), m_session(session)
{
    m_table = new QTableWidget(0, 3, this);
    m_table->setHorizontalHeaderLabels({tr("Class"), tr("Key"), tr("Images")});
    m_table->horizontalHeader()->setStretchLastSection(false);
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setFocusPolicy(Qt::NoFocus); // keys 0-9 stay with the browser
    m_table->setToolTip(tr("Press a class's key, or double-click the class, to label the selected images"));
    connect(m_table, &QTableWidget::cellDoubleClicked, this, [this](int row) {
        if (row >= 0 && row < static_cast<int>(m_session.classes().size()))
            Q_EMIT classActivated(m_session.classes()[row].id);
    });
    m_unlabeled = new QLabel(this);
    auto* edit = new QPushButton(tr("Edit classes..."), this);
    edit->setFocusPolicy(Qt::NoFocus);
    edit->setEnabled(!m_session.readOnly());
    connect(edit, &QPushButton::clicked, this, &ClassPanel::editSchemaRequested);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    layout->addWidget(m_table, 1);
    auto* row = new QHBoxLayout;
    row->addWidget(m_unlabeled, 1);
    row->addWidget(edit);
    layout->addLayout(row);
    connect(&session, &ProjectSession::classesChanged, this, &ClassPanel::refill);
    connect(&session, &ProjectSession::labelsChanged, this, &ClassPanel::updateCounts);
    refill();
}

void ClassPanel::refill()
{
    const auto& classes = m_session.classes();
    m_table->setRowCount(static_cast<int>(classes.size()));
    for (int i = 0; i < static_cast<int>(classes.size()); ++i) {
        auto* name = new QTableWidgetItem(swatch(m_session.classColor(classes[i].id)), QString::fromStdString(classes[i].name));
        m_table->setItem(i, 0, name);
        m_table->setItem(i, 1, new QTableWidgetItem(QString::fromStdString(classes[i].shortcut)));
        auto* count = new QTableWidgetItem;
        count->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_table->setItem(i, 2, count);
    }
    updateCounts();
}

void ClassPanel::updateCounts()
{
    const auto& classes = m_session.classes();
    for (int i = 0; i < static_cast<int>(classes.size()) && i < m_table->rowCount(); ++i)
        m_table->item(i, 2)->setText(QString::number(m_session.labeledCount(classes[i].id)));
    m_unlabeled->setText(tr("Unlabeled: %1").arg(m_session.unlabeledCount()));
}

ClassSchemaDialog::ClassSchemaDialog(ProjectSession& session, QWidget* parent) : QDialog(parent), m_session(session)
{
    setWindowTitle(tr("Classes"));
    m_table = new QTableWidget(0, 3, this);
    m_table->setHorizontalHeaderLabels({tr("Name"), tr("Colour"), tr("Key")});
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_table->verticalHeader()->hide();
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    for (const auto& c : session.classes())
        addRow(c.id, QString::fromStdString(c.name), session.classColor(c.id), QString::fromStdString(c.shortcut));
    auto* add = new QPushButton(tr("Add class"), this);
    connect(add, &QPushButton::clicked, this, [this] {
        std::set<QString> keys;
        for (int r = 0; r < m_table->rowCount(); ++r)
            keys.insert(static_cast<QComboBox*>(m_table->cellWidget(r, 2))->currentText());
        QString key;
        for (int k = 1; k <= 9 && key.isEmpty(); ++k)
            if (!keys.count(QString::number(k)))
                key = QString::number(k);
        addRow(-1, tr("class %1").arg(m_table->rowCount() + 1), defaultClassColor(m_table->rowCount()), key);
        m_table->editItem(m_table->item(m_table->rowCount() - 1, 0));
    });
    auto* remove = new QPushButton(tr("Remove"), this);
    connect(remove, &QPushButton::clicked, this, &ClassSchemaDialog::removeSelected);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* side = new QVBoxLayout;
    side->addWidget(add);
    side->addWidget(remove);
    side->addStretch(1);
    auto* top = new QHBoxLayout;
    top->addWidget(m_table, 1);
    top->addLayout(side);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(buttons);
    resize(460, 320);
}

void ClassSchemaDialog::addRow(qint64 id, const QString& name, const QColor& color, const QString& shortcut)
{
    const int r = m_table->rowCount();
    m_table->insertRow(r);
    auto* nameItem = new QTableWidgetItem(name);
    nameItem->setData(Qt::UserRole, id);
    m_table->setItem(r, 0, nameItem);
    auto* colour = new QPushButton(m_table);
    colour->setIcon(swatch(color));
    colour->setText(color.name());
    colour->setProperty("colour", color);
    connect(colour, &QPushButton::clicked, this, [this, colour] {
        const QColor c = QColorDialog::getColor(colour->property("colour").value<QColor>(), this, tr("Class colour"));
        if (c.isValid()) {
            colour->setProperty("colour", c);
            colour->setIcon(swatch(c));
            colour->setText(c.name());
        }
    });
    m_table->setCellWidget(r, 1, colour);
    auto* key = new QComboBox(m_table);
    key->addItem(QString());
    for (const std::string& k : core::classKeys())
        key->addItem(QString::fromStdString(k));
    key->setCurrentText(shortcut);
    m_table->setCellWidget(r, 2, key);
}

void ClassSchemaDialog::removeSelected()
{
    const int r = m_table->currentRow();
    if (r < 0)
        return;
    const qint64 id = m_table->item(r, 0)->data(Qt::UserRole).toLongLong();
    if (id > 0) {
        const int64_t n = m_session.labeledCount(id);
        if (n > 0 && QMessageBox::question(this, tr("Remove class"),
                                           tr("%1 labeled '%2'. Removing the class removes these labels, and "
                                              "the label history cannot be undone past this point. Remove it?")
                                               .arg(n == 1 ? tr("1 image is") : tr("%1 images are").arg(n), m_table->item(r, 0)->text())) != QMessageBox::Yes)
            return;
        m_removed.push_back(id);
    }
    m_table->removeRow(r);
}

void ClassSchemaDialog::accept()
{
    // Check the whole table first, so that nothing is half-applied.
    std::set<QString> names, keys;
    for (int r = 0; r < m_table->rowCount(); ++r) {
        const QString name = m_table->item(r, 0)->text().trimmed();
        const QString key = static_cast<QComboBox*>(m_table->cellWidget(r, 2))->currentText();
        if (name.isEmpty()) {
            QMessageBox::warning(this, tr("Classes"), tr("Row %1 has no name.").arg(r + 1));
            return;
        }
        if (!names.insert(name.toLower()).second) {
            QMessageBox::warning(this, tr("Classes"), tr("Two classes are named '%1'.").arg(name));
            return;
        }
        if (!key.isEmpty() && !keys.insert(key).second) {
            QMessageBox::warning(this, tr("Classes"), tr("Key %1 is given to two classes.").arg(key));
            return;
        }
    }
    try {
        for (qint64 id : m_removed)
            m_session.removeClass(id);
        std::vector<core::ClassInfo> schema;
        for (int r = 0; r < m_table->rowCount(); ++r) {
            core::ClassInfo info;
            info.id = m_table->item(r, 0)->data(Qt::UserRole).toLongLong();
            info.name = m_table->item(r, 0)->text().trimmed().toStdString();
            info.color = m_table->cellWidget(r, 1)->property("colour").value<QColor>().name().toStdString();
            info.shortcut = static_cast<QComboBox*>(m_table->cellWidget(r, 2))->currentText().toStdString();
            schema.push_back(std::move(info));
        }
        m_session.project().updateClasses(schema); // one transaction: a failure changes nothing
        m_session.reload();
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, tr("Classes"), QString::fromStdString(e.what()));
        m_session.reload();
        return;
    }
    QDialog::accept();
}

} // namespace medsiam::ui
