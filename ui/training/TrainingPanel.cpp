#include "training/TrainingPanel.h"
#include "common/Count.h"
#include "train/RunSummary.h"

#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "util/Error.h"
#include "project/RunChoice.h"
#include "train/TrainConfig.h"
#include "training/NewRunDialog.h"
#include "training/RunNotesDialog.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QValueAxis>
#include <QVBoxLayout>


#include <algorithm>
#include <cmath>

namespace medsiam::ui {

namespace {

struct CurveInfo {
    CurvePoint::Kind kind;
    const char* name;
    int chart; // 0 loss, 1 collapse, 2 monitors
    QColor colour;
};

const CurveInfo kCurves[] = {
    {CurvePoint::Loss, "loss", 0, QColor(31, 119, 180)},
    {CurvePoint::Collapse, "output std", 1, QColor(148, 103, 189)},
    {CurvePoint::KnnAccuracy, "kNN accuracy", 2, QColor(44, 160, 44)},
    {CurvePoint::KnnBalanced, "kNN balanced accuracy", 2, QColor(255, 127, 14)},
    {CurvePoint::ValBalanced, "val balanced accuracy", 2, QColor(214, 39, 40)},
    {CurvePoint::ValAuc, "val ROC AUC", 2, QColor(23, 190, 207)},
};

QChartView* makeChart(const QString& title, QWidget* parent)
{
    auto* chart = new QChart;
    chart->setTitle(title);
    chart->legend()->setAlignment(Qt::AlignBottom);
    chart->setMargins(QMargins(4, 4, 4, 4));
    auto* x = new QValueAxis;
    x->setTitleText(QObject::tr("step"));
    x->setLabelFormat(QStringLiteral("%d"));
    auto* y = new QValueAxis;
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    auto* view = new QChartView(chart, parent);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumSize(260, 200);
    return view;
}

void attach(QChart* chart, QLineSeries* s)
{
    chart->addSeries(s);
    for (QAbstractAxis* a : chart->axes())
        s->attachAxis(a);
}

enum class YRange { Data, FromZero, Unit };

/// Fits a chart's axes to its series: to the data with 5% headroom, from zero (the collapse
/// monitor: a collapse halves the std, which a zoomed axis would hide), or [0, 1] (metrics).
void fitAxes(QChart* chart, YRange range)
{
    double x1 = 1, y0 = std::numeric_limits<double>::max(), y1 = -y0;
    for (QAbstractSeries* a : chart->series()) {
        auto* s = static_cast<QLineSeries*>(a);
        for (const QPointF& p : s->points()) {
            x1 = std::max(x1, p.x());
            y0 = std::min(y0, p.y());
            y1 = std::max(y1, p.y());
        }
    }
    auto* x = static_cast<QValueAxis*>(chart->axes(Qt::Horizontal).first());
    auto* y = static_cast<QValueAxis*>(chart->axes(Qt::Vertical).first());
    x->setRange(0, x1);
    // Ticks on round steps (1, 2 or 5 x 10^k), about five across, starting at 0.
    const double raw = x1 / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double nice = raw / mag < 1.5 ? 1 : raw / mag < 3.5 ? 2 : raw / mag < 7.5 ? 5 : 10;
    x->setTickType(QValueAxis::TicksDynamic);
    x->setTickAnchor(0);
    x->setTickInterval(std::max(1.0, nice * mag));
    if (range == YRange::Unit) {
        y->setRange(0, 1);
    } else if (range == YRange::FromZero && y0 <= y1) {
        y->setRange(0, std::max(y1, 1e-6) * 1.15);
    } else if (y0 <= y1) {
        const double pad = std::max(1e-6, (y1 - y0) * 0.05);
        y->setRange(y0 - pad, y1 + pad);
    }
}

} // namespace

TrainingPanel::TrainingPanel(ProjectSession& session, QWidget* parent) : QWidget(parent), m_session(session)
{
    m_run = new QComboBox(this);
    m_run->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_newPretrain = new QPushButton(tr("New Pretraining..."), this);
    m_newPretrain->setToolTip(tr("SimSiam self-supervised pretraining: no labels needed"));
    m_newFinetune = new QPushButton(tr("New Fine-tuning..."), this);
    m_newFinetune->setToolTip(tr("Train a classifier on the labeled images (BiT-HyperRule defaults)"));
    m_continue = new QPushButton(tr("Continue"), this);
    m_continue->setToolTip(tr("Continue a stopped run from its last checkpoint"));
    m_pause = new QPushButton(tr("Pause"), this);
    m_pause->setCheckable(true);
    m_cancel = new QPushButton(tr("Stop"), this);
    m_cancel->setToolTip(tr("Stop after the current step; a checkpoint is written and Continue resumes"));
    m_describe = new QPushButton(tr("Name && Notes..."), this);
    m_describe->setToolTip(tr("Give the run a name and keep notes on it"));
    m_delete = new QPushButton(tr("Delete..."), this);
    m_delete->setToolTip(tr("Delete the run: its folder, checkpoints, curves, predictions and maps"));
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_progress = new QProgressBar(this);
    m_progress->setTextVisible(true);
    m_progress->setMaximumWidth(260);

    m_lossView = makeChart(tr("Training loss"), this);
    m_collapseView = makeChart(tr("Collapse monitor"), this);
    m_monitorView = makeChart(tr("Monitors"), this);
    QChartView* views[] = {m_lossView, m_collapseView, m_monitorView};
    m_healthy = new QLineSeries(this); // first, so that the std curve is drawn over it
    m_healthy->setName(tr("healthy (1/√d)"));
    m_healthy->setPen(QPen(QColor(120, 120, 120), 1.5, Qt::DashLine));
    attach(m_collapseView->chart(), m_healthy);
    for (const auto& c : kCurves) {
        auto* s = new QLineSeries(this);
        s->setName(tr(c.name));
        s->setColor(c.colour);
        attach(views[c.chart]->chart(), s);
        m_series[c.kind] = s;
    }

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Run:"), this));
    bar->addWidget(m_run, 1);
    bar->addWidget(m_newPretrain);
    bar->addWidget(m_newFinetune);
    bar->addWidget(m_continue);
    bar->addWidget(m_pause);
    bar->addWidget(m_cancel);
    bar->addWidget(m_describe);
    bar->addWidget(m_delete);
    auto* charts = new QHBoxLayout;
    for (QChartView* v : views)
        charts->addWidget(v, 1);
    auto* foot = new QHBoxLayout;
    foot->addWidget(m_status, 1);
    foot->addWidget(m_progress);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addLayout(charts, 1);
    layout->addLayout(foot);

    connect(m_newPretrain, &QPushButton::clicked, this, [this] { newRun(TrainingJob::Kind::Pretrain); });
    connect(m_newFinetune, &QPushButton::clicked, this, [this] { newRun(TrainingJob::Kind::Finetune); });
    connect(m_continue, &QPushButton::clicked, this, [this] {
        if (const auto r = core::RunStore(m_session.project()).find(currentRun().toStdString()))
            startRun(currentRun(), r->kind == "finetune" ? TrainingJob::Kind::Finetune : TrainingJob::Kind::Pretrain);
    });
    connect(m_delete, &QPushButton::clicked, this, [this] { deleteRun(currentRun()); });
    connect(m_describe, &QPushButton::clicked, this, [this] { describeRun(currentRun()); });
    connect(m_pause, &QPushButton::toggled, this, &TrainingPanel::setPaused);
    connect(m_cancel, &QPushButton::clicked, this, &TrainingPanel::cancel);
    connect(m_run, &QComboBox::currentIndexChanged, this, [this] {
        loadHistory();
        updateButtons();
    });
    refreshRuns();
}

TrainingPanel::~TrainingPanel() = default;

QLineSeries* TrainingPanel::series(CurvePoint::Kind kind) const { return m_series.at(kind); }

int TrainingPanel::curvePoints(const QString& name) const
{
    if (name == QLatin1String("healthy"))
        return static_cast<int>(m_healthy->count());
    for (const auto& c : kCurves)
        if (name == QLatin1String(c.name))
            return static_cast<int>(series(c.kind)->count());
    return -1;
}

void TrainingPanel::refreshRuns()
{
    fillRunChoice(m_run, m_session.project(), [](const core::RunRecord& r) { return r.kind == "simsiam-pretrain" || r.kind == "finetune"; });
    refreshRunLabels(); // the run this window trains: running or paused, whatever its record says yet
    loadHistory();
    updateButtons();
}

bool TrainingPanel::selectRun(const QString& runId) { return chooseByData(m_run, runId); }

QString TrainingPanel::currentRun() const { return m_run->currentData().toString(); }

QString TrainingPanel::statusText() const { return m_status->text(); }

void TrainingPanel::clearCurves()
{
    for (auto& [kind, s] : m_series)
        s->clear();
    m_healthy->clear();
}

void TrainingPanel::loadHistory()
{
    clearCurves();
    const QString run = currentRun();
    if (run.isEmpty()) {
        m_status->setText(tr("No training run yet: start one with New Pretraining (no labels needed) or New Fine-tuning."));
        m_progress->setValue(0);
        return;
    }
    QVector<CurvePoint> points;
    using Type = core::MetricsRecord::Type;
    for (const auto& r : core::RunStore(m_session.project()).readMetrics(run.toStdString())) {
        const double step = double(r.step);
        if (r.type == Type::Step) {
            points.push_back({CurvePoint::Loss, step, r.loss});
            if (r.collapseStd >= 0)
                points.push_back({CurvePoint::Collapse, step, r.collapseStd});
        } else if (r.type == Type::Monitor) {
            points.push_back({CurvePoint::KnnAccuracy, step, r.knnAccuracy});
            points.push_back({CurvePoint::KnnBalanced, step, r.knnBalancedAccuracy});
        } else if (r.type == Type::Eval && r.split == "val") {
            points.push_back({CurvePoint::ValBalanced, step, r.metrics.balancedAccuracy});
            points.push_back({CurvePoint::ValAuc, step, r.metrics.macroAuc});
        }
    }
    addPoints(points);
    if (!training() || m_job->runId() != run) {
        if (const auto r = core::RunStore(m_session.project()).find(run.toStdString())) {
            m_status->setText(tr("Run %1: %2, %3 recorded.")
                                  .arg(run, QString::fromStdString(r->state),
                                       countOf(curvePoints(QStringLiteral("loss")), tr("step"), tr("steps"))));
            m_progress->setValue(r->state == "completed" ? m_progress->maximum() : 0);
        }
    }
}

void TrainingPanel::addPoints(const QVector<CurvePoint>& points)
{
    std::map<int, QList<QPointF>> add;
    for (const auto& p : points) {
        QLineSeries* s = series(p.kind);
        auto& pending = add[p.kind];
        if (pending.isEmpty()) {
            // A continued run goes on from its checkpoint: the points drawn beyond it are
            // trained again, so they give way to the new ones.
            int keep = s->count();
            while (keep > 0 && s->at(keep - 1).x() >= p.step)
                --keep;
            if (keep < s->count())
                s->removePoints(keep, s->count() - keep);
        }
        const double last = pending.isEmpty() ? (s->count() > 0 ? s->at(s->count() - 1).x() : -1) : pending.back().x();
        if (p.step > last && std::isfinite(p.value))
            pending.push_back(QPointF(p.step, p.value));
    }
    for (auto& [kind, list] : add)
        if (!list.isEmpty())
            series(static_cast<CurvePoint::Kind>(kind))->append(list);
    // The healthy level spans the collapse curve.
    QLineSeries* collapse = series(CurvePoint::Collapse);
    if (collapse->count() > 0 && m_healthy->count() == 2)
        m_healthy->replace(1, QPointF(collapse->at(collapse->count() - 1).x(), m_healthy->at(1).y()));
    if (collapse->count() > 0 && m_healthy->count() == 0) {
        // A recorded run: the level its configuration gives.
        const auto r = core::RunStore(m_session.project()).find(currentRun().toStdString());
        if (r && r->kind == "simsiam-pretrain") {
            const double level = core::PretrainConfig::fromJson(r->config).healthyOutputStd();
            m_healthy->append({QPointF(0, level), QPointF(collapse->at(collapse->count() - 1).x(), level)});
        }
    }
    fitAxes(m_lossView->chart(), YRange::Data);
    fitAxes(m_collapseView->chart(), YRange::FromZero);
    fitAxes(m_monitorView->chart(), YRange::Unit);
    for (const auto& c : kCurves) // only the curves this run has, in the legends
        series(c.kind)->setVisible(series(c.kind)->count() > 0);
    m_healthy->setVisible(m_healthy->count() > 0);
}

bool TrainingPanel::newRun(TrainingJob::Kind kind)
{
    if (training()) {
        QMessageBox::information(this, tr("A run is training"), tr("Let the running run finish, or stop it, first."));
        return false;
    }
    NewRunDialog d(m_session, kind == TrainingJob::Kind::Pretrain ? NewRunDialog::Kind::Pretrain : NewRunDialog::Kind::Finetune, this);
    if (d.exec() != QDialog::Accepted)
        return false;
    return startRun(d.runId(), kind);
}

bool TrainingPanel::startRun(const QString& runId, TrainingJob::Kind kind)
{
    if (training())
        return false;
    m_job = std::make_unique<TrainingJob>(m_session.dir(), runId, kind);
    connect(m_job.get(), &TrainingJob::points, this, [this](const QVector<CurvePoint>& p) {
        if (m_job && currentRun() == m_job->runId())
            addPoints(p);
    });
    connect(m_job.get(), &TrainingJob::healthyCollapse, this, [this](double level) {
        if (m_job && currentRun() == m_job->runId() && m_healthy->count() == 0)
            m_healthy->append({QPointF(0, level), QPointF(1, level)});
    });
    connect(m_job.get(), &TrainingJob::trainingStarted, this, [this] {
        refreshRunLabels(); // the record now says "running"
    });
    connect(m_job.get(), &TrainingJob::stepProgress, this, [this](qint64 step, qint64 total, double, double eta, const QString& text) {
        if (!m_job || currentRun() != m_job->runId())
            return;
        m_progress->setRange(0, int(std::min<qint64>(total, 1 << 30)));
        m_progress->setValue(int(step));
        QString t = text;
        if (step < total && eta > 0)
            t += tr(" · about %1 left").arg(eta >= 90 ? tr("%1 min").arg(std::lround(eta / 60)) : tr("%1 s").arg(std::lround(eta)));
        m_status->setText(t);
    });
    connect(m_job.get(), &TrainingJob::warning, this, [this](const QString& w) { m_status->setText(tr("Warning: %1").arg(w)); });
    connect(m_job.get(), &TrainingJob::finished, this, [this](core::JobState state, const QString& message) {
        const QString run = m_job->runId();
        m_pause->setChecked(false);
        refreshRuns(); // the run's state in the list
        selectRun(run);
        QString text;
        switch (state) {
        case core::JobState::Completed: {
            text = tr("Run %1 completed.").arg(run);
            // A classifier: which checkpoint, its test numbers, and what flatters them.
            const auto summary = core::FinetuneSummary::read(core::RunStore(m_session.project()).readSummary(run.toStdString()));
            if (summary.test)
                text += tr(" Model: %1; test accuracy %2, balanced accuracy %3, ROC AUC %4.")
                            .arg(QString::fromStdString(summary.selectionText()))
                            .arg(summary.test->accuracy, 0, 'f', 3)
                            .arg(summary.test->balancedAccuracy, 0, 'f', 3)
                            .arg(summary.test->macroAuc, 0, 'f', 3);
            for (const auto& w : summary.warnings)
                text += tr("\nWarning: %1").arg(QString::fromStdString(w));
            break;
        }
        case core::JobState::Cancelled:
            text = message.isEmpty() ? tr("Run %1 stopped before its first step. Press Continue to start it again.").arg(run)
                                     : tr("Run %1 %2. Press Continue to go on from there.").arg(run, message);
            break;
        default:
            text = tr("Run %1 failed: %2").arg(run, message);
        }
        m_status->setText(text);
        updateButtons();
        Q_EMIT runFinished(run, QString::fromLatin1(core::toString(state)));
    });
    refreshRuns();
    selectRun(runId);
    // A continued run's curves so far stay; the job's points replace those after its checkpoint.
    loadHistory();
    m_status->setText(tr("Run %1: starting (loading the images) ...").arg(runId));
    m_progress->setRange(0, 0); // busy until the first step
    m_job->start();
    refreshRunLabels(); // "starting" until its first step: its record still says queued
    updateButtons();
    return true;
}

void TrainingPanel::setPaused(bool paused)
{
    if (!training())
        return;
    m_job->setPaused(paused);
    if (m_pause->isChecked() != paused)
        m_pause->setChecked(paused);
    m_pause->setText(paused ? tr("Resume") : tr("Pause"));
    if (paused)
        m_status->setText(tr("Run %1 paused after the current step.").arg(m_job->runId()));
    refreshRunLabels();
}

void TrainingPanel::cancel()
{
    if (!training())
        return;
    m_job->cancel();
    m_status->setText(tr("Stopping run %1 after the current step ...").arg(m_job->runId()));
}

void TrainingPanel::updateButtons()
{
    const bool busy = training();
    const bool writable = !m_session.readOnly();
    m_newPretrain->setEnabled(!busy && writable);
    m_newFinetune->setEnabled(!busy && writable);
    m_pause->setEnabled(busy);
    m_cancel->setEnabled(busy);
    if (!busy)
        m_pause->setText(tr("Pause"));
    bool resumable = false;
    bool exists = false;
    if (!busy && writable)
        if (const auto r = core::RunStore(m_session.project()).find(currentRun().toStdString())) {
            exists = true;
            resumable = r->state == "cancelled" || r->state == "failed" || r->state == "queued" || r->state == "interrupted";
        }
    m_continue->setEnabled(resumable);
    m_delete->setEnabled(exists);
    m_describe->setEnabled(writable && !currentRun().isEmpty());
}

void TrainingPanel::refreshRunLabels()
{
    core::RunStore store(m_session.project());
    for (int i = 0; i < m_run->count(); ++i) {
        const QString id = m_run->itemData(i).toString();
        const auto r = store.find(id.toStdString());
        if (!r)
            continue;
        QString state;
        if (training() && m_job->runId() == id)
            state = m_job->paused() ? tr("paused") : m_job->trainingHasStarted() ? tr("running") : tr("starting");
        m_run->setItemText(i, runLabel(*r, state));
    }
}

bool TrainingPanel::describeRun(const QString& runId)
{
    if (runId.isEmpty() || m_session.readOnly())
        return false;
    RunNotesDialog d(m_session, runId, this);
    if (d.exec() != QDialog::Accepted)
        return false;
    refreshRuns();
    selectRun(runId);
    refreshRunLabels();
    Q_EMIT runDescribed(runId);
    return true;
}

bool TrainingPanel::deleteRun(const QString& runId, bool ask)
{
    if (runId.isEmpty())
        return false;
    if (training() && m_job->runId() == runId) {
        QMessageBox::information(this, tr("The run is training"), tr("Stop run %1 before deleting it.").arg(runId));
        return false;
    }
    if (ask && QMessageBox::question(this, tr("Delete run"),
                                     tr("Delete run %1? Its checkpoints, curves, predictions and maps are removed for good; "
                                        "runs started from it keep their own weights.")
                                         .arg(runId),
                                     QMessageBox::Yes | QMessageBox::No, QMessageBox::No) != QMessageBox::Yes)
        return false;
    try {
        core::RunStore(m_session.project()).remove(runId.toStdString());
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, tr("Cannot delete the run"), QString::fromStdString(e.what()));
        return false;
    }
    m_status->setText(tr("Run %1 deleted.").arg(runId));
    refreshRuns();
    Q_EMIT runDeleted(runId);
    return true;
}

} // namespace medsiam::ui
