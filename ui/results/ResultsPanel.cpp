#include "results/ResultsPanel.h"

#include "common/Count.h"
#include "results/GradCamTask.h"
#include "eval/Metrics.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunChoice.h"
#include "project/RunStore.h"
#include "train/RunSummary.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QFutureWatcher>
#include <QPixmap>
#include <QtConcurrent>

#include <mutex>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

namespace medsiam::ui {


namespace {

int argmax(const std::vector<float>& p) { return static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin()); }

QString number(double v) { return std::isfinite(v) ? QString::number(v, 'f', 3) : QStringLiteral("–"); }

} // namespace

ResultsPanel::ResultsPanel(ProjectSession& session, QWidget* parent) : QWidget(parent), m_session(session)
{
    m_run = new QComboBox(this);
    m_run->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_split = new QComboBox(this);
    m_summary = new QLabel(this);
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_model = new QLabel(this);
    m_model->setWordWrap(true);
    m_warning = new QLabel(this);
    m_warning->setWordWrap(true);
    m_warning->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_warning->setStyleSheet(QStringLiteral("QLabel { background: #fff3cd; color: #664d03; border: 1px solid #e0b000; padding: 6px; }"));
    m_warning->hide();
    m_perClass = new QTableWidget(this);
    m_perClass->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_perClass->verticalHeader()->hide();
    m_confusion = new QTableWidget(this);
    m_confusion->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_confusion->setSelectionMode(QAbstractItemView::SingleSelection);
    m_confusion->setToolTip(tr("Rows: the true class; columns: the predicted class. Click a cell to list its images."));
    m_cellTitle = new QLabel(tr("Click a cell of the confusion matrix to list its images."), this);
    m_cellTitle->setWordWrap(true);
    m_images = new QListWidget(this);
    m_images->setToolTip(tr("Double-click (or Enter) to view the image; selecting it shows its Grad-CAM below"));
    m_cam = new QLabel(this);
    m_cam->setAlignment(Qt::AlignCenter);
    m_cam->setMinimumSize(160, 160);
    m_camCaption = new QLabel(tr("Select an image of a cell to see what drove its prediction (Grad-CAM)."), this);
    m_camCaption->setWordWrap(true);
    m_explainer = std::make_shared<GradCamSource>(session.dir());

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Run:"), this));
    bar->addWidget(m_run, 1);
    bar->addWidget(new QLabel(tr("Split:"), this));
    bar->addWidget(m_split);
    auto* left = new QWidget(this);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(m_summary);
    leftLayout->addWidget(m_model);
    leftLayout->addWidget(m_warning);
    leftLayout->addWidget(m_perClass, 1);
    auto* right = new QWidget(this);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(m_cellTitle);
    rightLayout->addWidget(m_images, 1);
    auto* camRow = new QHBoxLayout;
    camRow->addWidget(m_cam);
    camRow->addWidget(m_camCaption, 1);
    rightLayout->addLayout(camRow);
    auto* split = new QSplitter(this);
    split->addWidget(left);
    split->addWidget(m_confusion);
    split->addWidget(right);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 2);
    split->setStretchFactor(2, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(split, 1);

    connect(m_run, &QComboBox::currentIndexChanged, this, &ResultsPanel::loadRun);
    connect(m_split, &QComboBox::currentIndexChanged, this, &ResultsPanel::showSplit);
    connect(m_confusion, &QTableWidget::cellClicked, this, &ResultsPanel::showCell);
    connect(m_images, &QListWidget::itemActivated, this, [this](QListWidgetItem* item) {
        Q_EMIT imageActivated(item->data(Qt::UserRole).toLongLong());
    });
    connect(m_images, &QListWidget::currentItemChanged, this, [this](QListWidgetItem* item) {
        if (item)
            explain(item->data(Qt::UserRole).toLongLong());
    });
    refreshRuns();
}

ResultsPanel::~ResultsPanel() = default; // a Grad-CAM still computing finishes on its own copy of the state

QPixmap ResultsPanel::camPixmap() const { return m_cam->pixmap(); }

QString ResultsPanel::camCaption() const { return m_camCaption->text(); }

void ResultsPanel::explain(qint64 imageId)
{
    const int request = ++m_request;
    const QString run = currentRun();
    m_camCaption->setText(tr("Computing the Grad-CAM of image %1 ...").arg(imageId));
    auto state = m_explainer;
    auto* watcher = new QFutureWatcher<GradCamOutcome>(this);
    connect(watcher, &QFutureWatcher<GradCamOutcome>::finished, this, [this, watcher, request] {
        const GradCamOutcome out = watcher->result();
        watcher->deleteLater();
        if (request != m_request)
            return; // superseded by a newer selection
        m_cam->setPixmap(out.overlay.isNull() ? QPixmap() : QPixmap::fromImage(out.overlay).scaled(160, 160, Qt::KeepAspectRatio, Qt::SmoothTransformation));
        m_camCaption->setText(out.caption);
        Q_EMIT explained(out.imageId);
    });
    watcher->setFuture(QtConcurrent::run([state, run, imageId] { return explainImage(*state, run, imageId); }));
}

void ResultsPanel::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    refreshRuns(); // runs evaluated meanwhile (here or by medsiam-cli)
}

void ResultsPanel::refreshRuns()
{
    const auto withPredictions = m_session.project().runsWithPredictions();
    fillRunChoice(m_run, m_session.project(), [&](const core::RunRecord& r) { return withPredictions.count(r.id) > 0; });
    loadRun();
}

bool ResultsPanel::selectRun(const QString& runId) { return chooseByData(m_run, runId); }

bool ResultsPanel::selectSplit(const QString& split) { return chooseByData(m_split, split); }

QString ResultsPanel::currentRun() const { return m_run->currentData().toString(); }

QString ResultsPanel::summaryText() const { return m_summary->text(); }
QString ResultsPanel::modelText() const { return m_model->text(); }
QString ResultsPanel::warningText() const { return m_warning->isHidden() ? QString() : m_warning->text(); }

void ResultsPanel::loadRun()
{
    m_predictions.clear();
    m_classNames.clear();
    const QString keepSplit = m_split->currentData().toString();
    {
        const QSignalBlocker block(m_split);
        m_split->clear();
        if (!currentRun().isEmpty()) {
            m_predictions = m_session.project().predictions(currentRun().toStdString());
            for (const auto& c : m_session.project().classes())
                m_classNames.push_back(c.name);
            std::set<std::string> splits;
            for (const auto& p : m_predictions)
                if (p.truth >= 0)
                    splits.insert(p.split);
            for (const char* s : {"test", "val", "train"}) // the held-out split first
                if (splits.count(s))
                    m_split->addItem(QString::fromLatin1(s), QString::fromLatin1(s));
        }
        const int at = m_split->findData(keepSplit);
        m_split->setCurrentIndex(at >= 0 ? at : 0);
    }
    showSplit();
}

std::optional<core::ClassificationMetrics> ResultsPanel::metricsOf(const std::string& split) const
{
    const int k = static_cast<int>(m_classNames.size());
    std::vector<int> truth;
    std::vector<float> probs;
    for (const auto& p : m_predictions)
        if (p.split == split && p.truth >= 0 && p.truth < k && static_cast<int>(p.probabilities.size()) == k) {
            truth.push_back(p.truth);
            probs.insert(probs.end(), p.probabilities.begin(), p.probabilities.end());
        }
    if (truth.empty() || k < 2)
        return std::nullopt;
    return core::computeMetrics(truth, probs, k);
}

void ResultsPanel::showVerdict(const std::string& split, const core::ClassificationMetrics& shown)
{
    // Which checkpoint: from the run's summary (older runs and probes say less).
    const auto summary = core::FinetuneSummary::read(core::RunStore(m_session.project()).readSummary(currentRun().toStdString()));
    m_model->setText(summary.val || summary.test ? tr("Model: %1.").arg(QString::fromStdString(summary.selectionText())) : QString());
    // The warnings follow the validation predictions, as on the command line; without labeled
    // validation images, the split shown.
    std::map<std::string, core::ClassificationMetrics> bySplit{{split, shown}};
    if (split != "val")
        if (const auto val = metricsOf("val"))
            bySplit.emplace("val", *val);
    const auto warnings = core::classifierWarnings(bySplit, m_classNames);
    QStringList lines;
    for (const auto& w : warnings)
        lines << tr("Warning: %1").arg(QString::fromStdString(w));
    if (!lines.isEmpty()) {
        m_warning->setText(lines.join(QStringLiteral("\n\n")));
        m_warning->show();
    }
}

void ResultsPanel::showSplit()
{
    m_perClass->clear();
    m_perClass->setRowCount(0);
    m_confusion->clear();
    m_confusion->setRowCount(0);
    m_confusion->setColumnCount(0);
    m_images->clear();
    m_cam->clear();
    m_cellTitle->setText(tr("Click a cell of the confusion matrix to list its images."));
    m_model->clear();
    m_warning->clear();
    m_warning->hide();
    if (m_run->count() == 0) {
        m_summary->setText(tr("No classification results yet: fine-tune a classifier (Train > New Fine-tuning); its "
                              "predictions on val and test appear here."));
        return;
    }
    const std::string split = m_split->currentData().toString().toStdString();
    const int k = static_cast<int>(m_classNames.size());
    const auto metrics = metricsOf(split);
    if (!metrics) {
        m_summary->setText(tr("Run %1 has no predictions of labeled images that match the project's %2 classes: the classes "
                              "changed since it was evaluated. Fine-tune a new run with the current classes.")
                               .arg(currentRun())
                               .arg(k));
        return;
    }
    const core::ClassificationMetrics& m = *metrics;
    showVerdict(split, m);
    m_summary->setText(tr("%1: %2 images · accuracy %3 · balanced accuracy %4 · ROC AUC %5")
                           .arg(QString::fromStdString(split))
                           .arg(m.samples)
                           .arg(number(m.accuracy), number(m.balancedAccuracy), number(m.macroAuc)));
    const QStringList heads = {tr("Class"), tr("Precision"), tr("Recall"), tr("F1"), tr("AUC"), tr("Images")};
    m_perClass->setColumnCount(heads.size());
    m_perClass->setHorizontalHeaderLabels(heads);
    m_perClass->setRowCount(k);
    QStringList names;
    for (int c = 0; c < k; ++c) {
        names << QString::fromStdString(m_classNames[static_cast<size_t>(c)]);
        const QStringList cells = {names.back(), number(m.precision[c]), number(m.recall[c]), number(m.f1[c]),
                                   number(c < static_cast<int>(m.auc.size()) ? m.auc[c] : NAN), QString::number(m.support[c])};
        for (int j = 0; j < cells.size(); ++j)
            m_perClass->setItem(c, j, new QTableWidgetItem(cells[j]));
    }
    m_perClass->resizeColumnsToContents();
    m_confusion->setRowCount(k);
    m_confusion->setColumnCount(k);
    QStringList truthNames, predNames;
    for (const auto& n : names) {
        truthNames << tr("true %1").arg(n);
        predNames << tr("predicted %1").arg(n);
    }
    m_confusion->setVerticalHeaderLabels(truthNames);
    m_confusion->setHorizontalHeaderLabels(predNames);
    for (int t = 0; t < k; ++t) {
        int64_t rowTotal = 0;
        for (int p = 0; p < k; ++p)
            rowTotal += m.confusion[t][p];
        for (int p = 0; p < k; ++p) {
            const int64_t n = m.confusion[t][p];
            const double share = rowTotal > 0 ? double(n) / double(rowTotal) : 0;
            auto* item = new QTableWidgetItem(rowTotal > 0 ? tr("%1\n%2%").arg(n).arg(std::lround(100 * share)) : QString::number(n));
            item->setTextAlignment(Qt::AlignCenter);
            // Right answers green, errors red, by the share of the true class.
            const QColor base = t == p ? QColor(44, 160, 44) : QColor(214, 39, 40);
            QColor shade = base;
            shade.setAlphaF(0.12 + 0.6 * share);
            item->setBackground(shade);
            item->setToolTip(tr("%1 %2 predicted %3").arg(countOf(n, names[t] + tr(" image"), names[t] + tr(" images")), names[p]));
            m_confusion->setItem(t, p, item);
        }
    }
    m_confusion->resizeColumnsToContents();
    m_confusion->resizeRowsToContents();
}

void ResultsPanel::showCell(int truth, int predicted)
{
    m_images->clear();
    const std::string split = m_split->currentData().toString().toStdString();
    const int k = static_cast<int>(m_classNames.size());
    if (truth < 0 || predicted < 0 || truth >= k || predicted >= k)
        return;
    std::vector<const core::PredictionRecord*> cell;
    for (const auto& p : m_predictions)
        if (p.split == split && p.truth == truth && static_cast<int>(p.probabilities.size()) == k && argmax(p.probabilities) == predicted)
            cell.push_back(&p);
    std::stable_sort(cell.begin(), cell.end(), [predicted](const auto* a, const auto* b) {
        return a->probabilities[static_cast<size_t>(predicted)] > b->probabilities[static_cast<size_t>(predicted)];
    });
    const QString t = QString::fromStdString(m_classNames[static_cast<size_t>(truth)]);
    const QString p = QString::fromStdString(m_classNames[static_cast<size_t>(predicted)]);
    m_cellTitle->setText(truth == predicted ? tr("%1 predicted right, most confident first:").arg(countOf(qint64(cell.size()), t + tr(" image"), t + tr(" images")))
                                            : tr("%1 predicted %2, most confident first:").arg(countOf(qint64(cell.size()), t + tr(" image"), t + tr(" images")), p));
    for (const auto* r : cell) {
        QString text = tr("image %1 · p(%2) = %3").arg(r->imageId).arg(p).arg(r->probabilities[static_cast<size_t>(predicted)], 0, 'f', 3);
        const int row = m_session.rowOf(r->imageId);
        if (row >= 0) {
            const auto& cr = m_session.rows()[static_cast<size_t>(row)];
            text += QStringLiteral(" · ") + QFileInfo(QString::fromStdString(cr.relativePath.empty() ? cr.sourcePath : cr.relativePath)).fileName();
            if (cr.frameCount > 1)
                text += tr(" [%1]").arg(cr.frameIndex);
            // The label may have been corrected since the run was evaluated.
            const QString now = cr.classId > 0 ? m_session.className(cr.classId) : tr("unlabeled");
            if (now != t)
                text += tr(" · now labeled %1").arg(now);
        }
        auto* item = new QListWidgetItem(text, m_images);
        item->setData(Qt::UserRole, qint64(r->imageId));
    }
}

} // namespace medsiam::ui
