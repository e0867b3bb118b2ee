#include "experiment/CompareRunsDialog.h"

#include "experiment/FigureView.h"
#include "report/ComparisonReport.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "util/Error.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace medsiam::ui {

CompareRunsDialog::CompareRunsDialog(core::Project& project, const QStringList& checked, QWidget* parent)
    : QDialog(parent), m_project(project)
{
    setWindowTitle(tr("Compare Runs"));
    resize(1100, 760);
    m_runs = new QListWidget(this);
    m_runs->setToolTip(tr("Tick the runs to compare"));
    auto runs = core::RunStore(project).list();
    std::sort(runs.begin(), runs.end(), [](const core::RunRecord& a, const core::RunRecord& b) { return a.createdAt > b.createdAt; });
    int n = 0;
    for (const auto& r : runs) {
        auto* item = new QListWidgetItem(QString::fromStdString(r.id + "  (" + r.kind + ", " + r.state + ")"), m_runs);
        item->setData(Qt::UserRole, QString::fromStdString(r.id));
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        const bool on = checked.isEmpty() ? n < 2 : checked.contains(QString::fromStdString(r.id));
        item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
        ++n;
    }
    m_metric = new QComboBox(this);
    for (auto m : core::allCurveMetrics())
        m_metric->addItem(QString::fromStdString(core::describe(m)), static_cast<int>(m));
    m_metric->setCurrentIndex(m_metric->findData(static_cast<int>(core::CurveMetric::KnnBalancedAccuracy)));
    m_axis = new QComboBox(this);
    for (auto a : core::allCurveAxes())
        m_axis->addItem(QString::fromStdString(core::describe(a)), static_cast<int>(a));
    m_plot = new FigureView({520, 320}, this);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    m_table = new QTableWidget(this);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Curve:"), this));
    controls->addWidget(m_metric, 1);
    controls->addWidget(new QLabel(tr("x axis:"), this));
    controls->addWidget(m_axis, 1);
    auto* left = new QWidget(this);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(new QLabel(tr("Runs"), this));
    leftLayout->addWidget(m_runs);
    auto* right = new QWidget(this);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addLayout(controls);
    rightLayout->addWidget(m_plot, 3);
    rightLayout->addWidget(m_note);
    rightLayout->addWidget(new QLabel(tr("Settings (those that differ are highlighted and listed first) and results"), this));
    rightLayout->addWidget(m_table, 2);
    auto* split = new QSplitter(this);
    split->addWidget(left);
    split->addWidget(right);
    split->setStretchFactor(1, 3);
    split->setSizes({280, 820});
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    QPushButton* exportButton = buttons->addButton(tr("&Export Figure and Tables..."), QDialogButtonBox::ActionRole);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(exportButton, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Export the comparison into"));
        if (dir.isEmpty())
            return;
        try {
            const QStringList files = exportTo(dir);
            QMessageBox::information(this, tr("Export"), tr("Written:\n%1").arg(files.join('\n')));
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Export"), QString::fromUtf8(e.what()));
        }
    });
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split, 1);
    layout->addWidget(buttons);

    connect(m_runs, &QListWidget::itemChanged, this, &CompareRunsDialog::refresh);
    connect(m_metric, &QComboBox::currentIndexChanged, this, &CompareRunsDialog::refresh);
    connect(m_axis, &QComboBox::currentIndexChanged, this, &CompareRunsDialog::refresh);
    refresh();
}

void CompareRunsDialog::setCurve(core::CurveMetric metric, core::CurveAxis axis)
{
    m_metric->setCurrentIndex(m_metric->findData(static_cast<int>(metric)));
    m_axis->setCurrentIndex(m_axis->findData(static_cast<int>(axis)));
}

QStringList CompareRunsDialog::exportTo(const QString& dir)
{
    QStringList out;
    const auto metric = static_cast<core::CurveMetric>(m_metric->currentData().toInt());
    const auto axis = static_cast<core::CurveAxis>(m_axis->currentData().toInt());
    for (const auto& f : writeComparison(m_comparison, metric, axis, dir.toStdString()))
        out << QString::fromStdString(f);
    return out;
}

void CompareRunsDialog::refresh()
{
    std::vector<std::string> ids;
    for (int i = 0; i < m_runs->count(); ++i)
        if (m_runs->item(i)->checkState() == Qt::Checked)
            ids.push_back(m_runs->item(i)->data(Qt::UserRole).toString().toStdString());
    m_comparison = {};
    m_note->clear();
    try {
        if (!ids.empty())
            m_comparison = core::compareRuns(m_project, ids);
    } catch (const std::exception& e) {
        m_note->setText(QString::fromUtf8(e.what()));
    }
    const auto metric = static_cast<core::CurveMetric>(m_metric->currentData().toInt());
    const auto axis = static_cast<core::CurveAxis>(m_axis->currentData().toInt());
    if (m_comparison.runs.empty())
        m_plot->setFigure({}, tr("Tick the runs to compare."));
    else
        m_plot->setFigure([this, metric, axis](QPainter& p, const QRectF& area) { drawComparison(p, area, m_comparison, metric, axis); });
    if (!m_comparison.runs.empty() && !m_comparison.hasCurve(metric, axis))
        m_note->setText(tr("None of these runs has a curve of %1%2.")
                            .arg(QString::fromStdString(core::describe(metric)))
                            .arg(axis == core::CurveAxis::Seconds ? tr(" with training times (runs from older versions have none)") : QString()));

    // The table: differing settings first (highlighted), then the rest, then the results.
    std::vector<std::string> rows;
    for (const auto& k : m_comparison.differing)
        rows.push_back(k);
    for (const auto& k : m_comparison.settingKeys)
        if (!m_comparison.differs(k) && k != "run")
            rows.push_back(k);
    std::vector<std::string> results;
    for (const auto& name : core::finalMetricNames())
        for (const auto& r : m_comparison.runs)
            if (r.finals.count(name)) {
                results.push_back(name);
                break;
            }
    m_table->clear();
    m_table->setColumnCount(static_cast<int>(m_comparison.runs.size()));
    m_table->setRowCount(static_cast<int>(rows.size() + results.size()));
    QStringList header, vertical;
    for (const auto& r : m_comparison.runs)
        header << QString::fromStdString(r.label);
    m_table->setHorizontalHeaderLabels(header);
    const QColor highlight(255, 236, 153);
    int row = 0;
    for (const auto& k : rows) {
        vertical << QString::fromStdString(k);
        const bool differs = m_comparison.differs(k);
        for (size_t c = 0; c < m_comparison.runs.size(); ++c) {
            const auto& s = m_comparison.runs[c].settings;
            const auto it = s.find(k);
            auto* item = new QTableWidgetItem(it == s.end() ? QString("-") : QString::fromStdString(it->second));
            if (differs) {
                item->setBackground(highlight);
                QFont f = item->font();
                f.setBold(true);
                item->setFont(f);
            }
            m_table->setItem(row, static_cast<int>(c), item);
        }
        ++row;
    }
    for (const auto& name : results) {
        vertical << QString::fromStdString("result: " + name);
        for (size_t c = 0; c < m_comparison.runs.size(); ++c) {
            const auto& f = m_comparison.runs[c].finals;
            const auto it = f.find(name);
            m_table->setItem(row, static_cast<int>(c),
                             new QTableWidgetItem(it == f.end() ? QString("-") : QString::number(it->second, 'g', 4)));
        }
        ++row;
    }
    m_table->setVerticalHeaderLabels(vertical);
    m_table->resizeColumnsToContents();
    // Long values (weight paths) are cut to a readable width; the whole value is the tooltip.
    for (int c = 0; c < m_table->columnCount(); ++c) {
        m_table->setColumnWidth(c, std::min(m_table->columnWidth(c), 240));
        for (int r = 0; r < m_table->rowCount(); ++r)
            if (auto* item = m_table->item(r, c))
                item->setToolTip(item->text());
    }
}

} // namespace medsiam::ui
