#include "splits/SplitsDialog.h"

#include "project/ProjectSession.h"
#include "project/Splits.h"
#include "util/Error.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include <map>

namespace medsiam::ui {

SplitsDialog::SplitsDialog(ProjectSession& session, QWidget* parent) : QDialog(parent), m_session(session)
{
    setWindowTitle(tr("Train / validation / test splits"));
    m_mode = new QComboBox(this);
    m_mode->addItem(tr("Grouped by patient (no patient in two splits)"), int(core::SplitMode::Patient));
    m_mode->addItem(tr("Stratified by class (per image)"), int(core::SplitMode::Stratified));
    m_mode->addItem(tr("Random (per image)"), int(core::SplitMode::Random));
    auto* fractions = new QHBoxLayout;
    const char* names[3] = {"train", "val", "test"};
    const double defaults[3] = {0.7, 0.15, 0.15};
    for (int i = 0; i < 3; ++i) {
        m_fractions[i] = new QDoubleSpinBox(this);
        m_fractions[i]->setRange(0, 1);
        m_fractions[i]->setSingleStep(0.05);
        m_fractions[i]->setDecimals(2);
        m_fractions[i]->setValue(defaults[i]);
        fractions->addWidget(new QLabel(QString::fromLatin1(names[i]), this));
        fractions->addWidget(m_fractions[i]);
    }
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, 1 << 30);
    auto* form = new QFormLayout;
    form->addRow(tr("Mode:"), m_mode);
    form->addRow(tr("Fractions:"), fractions);
    form->addRow(tr("Seed:"), m_seed);
    auto* preview = new QPushButton(tr("Preview"), this);
    connect(preview, &QPushButton::clicked, this, &SplitsDialog::plan);
    m_table = new QTableWidget(this);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_leakage = new QLabel(this);
    m_leakage->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel, this);
    m_apply = buttons->addButton(tr("Apply splits"), QDialogButtonBox::AcceptRole);
    m_apply->setEnabled(false);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(preview, 0, Qt::AlignLeft);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_leakage);
    layout->addWidget(buttons);

    // The current splits and their leakage, before anything is planned.
    std::vector<std::string> current;
    for (const auto& r : session.rows())
        current.push_back(r.split);
    showCounts(current, false);
    resize(560, 420);
}

std::vector<core::TrainingItem> SplitsDialog::items() const
{
    std::map<int64_t, int> classIndex;
    for (size_t c = 0; c < m_session.classes().size(); ++c)
        classIndex[m_session.classes()[c].id] = static_cast<int>(c);
    std::vector<core::TrainingItem> out;
    out.reserve(m_session.rows().size());
    for (const auto& r : m_session.rows()) {
        core::TrainingItem item;
        item.imageId = r.imageId;
        item.classIndex = r.classId > 0 && classIndex.count(r.classId) ? classIndex[r.classId] : -1;
        item.split = r.split;
        item.patientId = r.patientId;
        out.push_back(std::move(item));
    }
    return out;
}

bool SplitsDialog::plan()
{
    core::SplitOptions o;
    o.mode = static_cast<core::SplitMode>(m_mode->currentData().toInt());
    for (int i = 0; i < 3; ++i)
        o.fractions[i] = m_fractions[i]->value();
    o.seed = static_cast<uint64_t>(m_seed->value());
    try {
        o.validate();
        m_plan = core::planSplits(items(), o);
    } catch (const core::UserError& e) {
        m_leakage->setStyleSheet(QStringLiteral("color: #b00000; font-weight: bold"));
        m_leakage->setText(tr("Cannot plan: %1").arg(QString::fromStdString(e.what())));
        m_plan.clear();
        m_apply->setEnabled(false);
        return false;
    }
    showCounts(m_plan, true);
    return true;
}

void SplitsDialog::showCounts(const std::vector<std::string>& splits, bool planned)
{
    // Rows: classes and unlabeled; columns: train, val, test, none.
    const auto& rows = m_session.rows();
    const auto& classes = m_session.classes();
    std::map<int64_t, int> rowOfClass;
    QStringList rowNames;
    for (const auto& c : classes) {
        rowOfClass[c.id] = rowNames.size();
        rowNames << QString::fromStdString(c.name);
    }
    const int unlabeledRow = rowNames.size();
    rowNames << tr("(unlabeled)") << tr("all");
    const QStringList cols = {tr("class"), QStringLiteral("train"), QStringLiteral("val"), QStringLiteral("test"), tr("no split")};
    std::vector<std::array<int, 4>> counts(rowNames.size(), {0, 0, 0, 0});
    std::vector<core::TrainingItem> items;
    for (size_t i = 0; i < rows.size() && i < splits.size(); ++i) {
        const std::string& s = splits[i];
        const int col = s == "train" ? 0 : s == "val" ? 1 : s == "test" ? 2 : 3;
        const int r = rows[i].classId > 0 && rowOfClass.count(rows[i].classId) ? rowOfClass[rows[i].classId] : unlabeledRow;
        ++counts[r][col];
        ++counts.back()[col];
        core::TrainingItem item;
        item.imageId = rows[i].imageId;
        item.split = s;
        item.patientId = rows[i].patientId;
        items.push_back(item);
    }
    m_table->clear();
    m_table->setColumnCount(cols.size());
    m_table->setHorizontalHeaderLabels(cols);
    m_table->setRowCount(rowNames.size());
    for (int r = 0; r < rowNames.size(); ++r) {
        m_table->setItem(r, 0, new QTableWidgetItem(rowNames[r]));
        for (int c = 0; c < 4; ++c) {
            auto* it = new QTableWidgetItem(QString::number(counts[r][c]));
            it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            m_table->setItem(r, c + 1, it);
        }
    }
    m_table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    const core::LeakageReport leak = core::checkLeakage(items);
    const QString what = planned ? tr("This plan") : tr("The current splits");
    if (leak.leakingPatients.empty()) {
        m_leakage->setStyleSheet(QString());
        m_leakage->setText(tr("%1: no patient has images in two splits (%2 patients checked).").arg(what).arg(leak.patientsChecked));
    } else {
        QStringList some;
        for (size_t i = 0; i < leak.leakingPatients.size() && i < 5; ++i)
            some << QString::fromStdString(leak.leakingPatients[i]);
        m_leakage->setStyleSheet(QStringLiteral("color: #b00000; font-weight: bold"));
        m_leakage->setText(tr("Warning: %1 put %2 of %3 patients in more than one split (%4%5). Their images would be "
                              "seen in training and scored in testing; use the patient-grouped mode.")
                               .arg(what)
                               .arg(leak.leakingPatients.size())
                               .arg(leak.patientsChecked)
                               .arg(some.join(QStringLiteral(", ")))
                               .arg(leak.leakingPatients.size() > 5 ? QStringLiteral(", ...") : QString()));
    }
    m_apply->setEnabled(planned && !m_plan.empty());
}

void SplitsDialog::accept()
{
    if (m_plan.empty() && !plan())
        return;
    const auto& rows = m_session.rows();
    std::vector<std::pair<int64_t, std::string>> assignments;
    assignments.reserve(rows.size());
    // The plan follows items(), which follows rows().
    for (size_t i = 0; i < rows.size() && i < m_plan.size(); ++i)
        assignments.emplace_back(rows[i].imageId, m_plan[i]);
    try {
        m_session.project().replaceSplits(assignments);
        m_session.reload();
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, tr("Splits"), QString::fromStdString(e.what()));
        return;
    }
    QDialog::accept();
}

} // namespace medsiam::ui
