#include "map/MapPanel.h"

#include "common/Count.h"
#include "map/EmbeddingMapView.h"
#include "map/MapJob.h"
#include "project/RunStore.h"
#include "map/SuggestionsDialog.h"
#include "analysis/Suggestions.h"
#include "util/Error.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunChoice.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>
#include <QFutureWatcher>
#include <QtConcurrent>

#include <algorithm>

namespace medsiam::ui {

MapPanel::MapPanel(ProjectSession& session, QWidget* parent) : QWidget(parent), m_session(session)
{
    m_run = new QComboBox(this);
    m_run->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_run->setToolTip(tr("A pretraining or fine-tuning run: its last checkpoint gives every image's embedding"));
    m_method = new QComboBox(this);
    m_method->addItem(tr("t-SNE"));
    m_method->addItem(tr("PCA"));
    m_method->setToolTip(tr("t-SNE keeps neighbours together; PCA is instant and keeps global distances"));
    m_perplexity = new QDoubleSpinBox(this);
    m_perplexity->setRange(2, 200);
    m_perplexity->setValue(30);
    m_perplexity->setDecimals(0);
    m_perplexity->setPrefix(tr("perplexity "));
    m_perplexity->setToolTip(tr("About how many neighbours each image keeps close (t-SNE)"));
    m_recompute = new QCheckBox(tr("Recompute embeddings"), this);
    m_recompute->setToolTip(tr("Embed every image again with the run's last checkpoint, even when embeddings are stored"));
    m_compute = new QPushButton(tr("Compute Map"), this);
    m_suggest = new QPushButton(tr("Suggest Labels..."), this);
    m_suggest->setToolTip(tr("A class for each unlabeled image from its labeled neighbours in this run's embedding space"));
    m_status = new QLabel(this);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_view = new EmbeddingMapView(session, this);

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Run:"), this));
    bar->addWidget(m_run, 1);
    bar->addWidget(m_method);
    bar->addWidget(m_perplexity);
    bar->addWidget(m_recompute);
    bar->addWidget(m_compute);
    bar->addWidget(m_suggest);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addWidget(m_view, 1);
    layout->addWidget(m_status);

    connect(m_compute, &QPushButton::clicked, this, [this] {
        if (computing())
            cancel();
        else
            compute(m_method->currentIndex() == 1);
    });
    connect(m_suggest, &QPushButton::clicked, this, &MapPanel::suggestLabels);
    connect(m_method, &QComboBox::currentIndexChanged, this, [this] {
        m_perplexity->setEnabled(m_method->currentIndex() == 0);
        if (!computing())
            showStoredMap();
    });
    connect(m_run, &QComboBox::currentIndexChanged, this, [this] {
        if (!computing())
            showStoredMap();
    });
    connect(m_view, &EmbeddingMapView::imageActivated, this, &MapPanel::imageActivated);
    connect(m_view, &EmbeddingMapView::selectionChanged, this, &MapPanel::selectionChanged);
    connect(&m_session, &ProjectSession::catalogueReloaded, this, &MapPanel::refreshRuns);
    refreshRuns();
}

MapPanel::~MapPanel() = default; // the job cancels and joins its thread

void MapPanel::showEvent(QShowEvent* event)
{
    QWidget::showEvent(event);
    if (!computing())
        refreshRuns(); // runs made by medsiam-cli meanwhile
}

void MapPanel::refreshRuns()
{
    core::Project& project = m_session.project();
    fillRunChoice(m_run, project, [&](const core::RunRecord& r) { return hasCheckpoint(project, r); });
    if (!computing())
        showStoredMap();
    updateButtons();
}

bool MapPanel::selectRun(const QString& runId) { return chooseByData(m_run, runId); }

QString MapPanel::currentRun() const { return m_run->currentData().toString(); }

bool MapPanel::computing() const { return m_job && m_job->running(); }

void MapPanel::setPerplexity(double p) { m_perplexity->setValue(p); }

QString MapPanel::statusText() const { return m_status->text(); }

void MapPanel::setStatus(const QString& text) { m_status->setText(text); }

void MapPanel::updateButtons()
{
    const bool busy = computing();
    m_compute->setText(busy ? tr("Cancel") : tr("Compute Map"));
    m_compute->setEnabled(busy || (m_run->count() > 0 && !m_session.readOnly()));
    m_run->setEnabled(!busy);
    m_method->setEnabled(!busy);
    m_perplexity->setEnabled(!busy && m_method->currentIndex() == 0);
    m_recompute->setEnabled(!busy);
    m_suggest->setEnabled(!busy && !m_suggesting && m_run->count() > 0 && !m_session.readOnly());
}

namespace {
struct SuggestionOutcome {
    std::vector<core::LabelSuggestion> suggestions;
    core::SuggestionCheck check;
    QString error;
};
} // namespace

bool MapPanel::suggestLabels()
{
    if (computing() || m_suggesting || m_run->count() == 0) {
        setStatus(m_run->count() == 0 ? tr("No run with a checkpoint: pretrain or fine-tune a model first.")
                                      : tr("Wait for the computation to finish first."));
        return false;
    }
    m_suggesting = true;
    updateButtons();
    setStatus(tr("Suggesting labels from the neighbours of each unlabeled image ..."));
    const QString dir = m_session.dir(), run = currentRun();
    auto* watcher = new QFutureWatcher<SuggestionOutcome>(this);
    connect(watcher, &QFutureWatcher<SuggestionOutcome>::finished, this, [this, watcher] {
        const SuggestionOutcome out = watcher->result();
        watcher->deleteLater();
        m_suggesting = false;
        updateButtons();
        if (!out.error.isEmpty()) {
            setStatus(out.error);
            Q_EMIT suggestionsDone();
            return;
        }
        if (out.suggestions.empty()) {
            setStatus(tr("Every image of this run's embeddings is labeled: nothing to suggest."));
            Q_EMIT suggestionsDone();
            return;
        }
        setStatus(tr("%1 ready.").arg(countOf(qint64(out.suggestions.size()), tr("suggestion"), tr("suggestions"))));
        SuggestionsDialog d(m_session, out.suggestions, out.check, this);
        const int result = d.exec();
        const QVector<qint64> chosen = d.chosenImages();
        if (result == SuggestionsDialog::SelectOnMap) {
            m_view->setSelectedImageIds(chosen);
            m_view->setFocus();
            setStatus(tr("%1 selected: review them, and press a class key to label the selection.")
                         .arg(countOf(chosen.size(), tr("suggested image"), tr("suggested images"))));
        } else if (result == SuggestionsDialog::Applied) {
            setStatus(tr("%1 accepted; Edit > Undo takes them back.").arg(countOf(chosen.size(), tr("suggested label"), tr("suggested labels"))));
        }
        Q_EMIT suggestionsDone();
    });
    watcher->setFuture(QtConcurrent::run([dir, run]() -> SuggestionOutcome {
        SuggestionOutcome out;
        try {
            auto project = core::Project::open(dir.toStdString());
            core::RunStore store(*project);
            if (!store.hasEmbeddings(run.toStdString())) {
                out.error = tr("Run %1 has no stored embeddings yet: press Compute Map first (it stores them).").arg(run);
                return out;
            }
            const core::EmbeddingSet set = store.loadEmbeddings(run.toStdString());
            out.suggestions = core::suggestLabels(*project, set);
            try {
                out.check = core::checkSuggestions(*project, set);
            } catch (const core::UserError&) {
                // too few labels to hold some back: the suggestions stand without the check
            }
        } catch (const std::exception& e) {
            out.error = tr("No suggestions: %1").arg(QString::fromStdString(e.what()));
        }
        return out;
    }));
    return true;
}

void MapPanel::showStoredMap()
{
    m_view->clear();
    if (m_run->count() == 0) {
        m_view->setPlaceholder(tr("No run with a checkpoint yet.\nPretrain or fine-tune a model (medsiam-cli pretrain / finetune), "
                                  "then compute its map here."));
        setStatus(QString());
        return;
    }
    m_view->setPlaceholder(tr("No %1 map of this run yet: press Compute Map.").arg(m_method->currentText()));
    setStatus(QString());
    try {
        const auto map = core::RunStore(m_session.project()).loadMap(currentRun().toStdString(), m_method->currentIndex() == 1);
        if (!map)
            return;
        if (map->stale) {
            setStatus(tr("The stored map does not match the stored embeddings (they were computed again): compute the map again."));
            return;
        }
        const QVector<qint64> idv(map->imageIds.begin(), map->imageIds.end());
        m_view->setMap(idv, QVector<float>(map->layout.begin(), map->layout.end()));
        setStatus(tr("Stored %1 map of %2.").arg(m_method->currentText(), countOf(qint64(idv.size()), tr("image"), tr("images"))));
    } catch (const std::exception& e) {
        setStatus(tr("The stored map cannot be read: %1").arg(QString::fromStdString(e.what())));
    }
}

bool MapPanel::compute(bool pca)
{
    if (computing()) {
        setStatus(tr("A map is being computed: cancel it first."));
        return false;
    }
    if (m_run->count() == 0) {
        setStatus(tr("No run with a checkpoint: pretrain or fine-tune a model first."));
        return false;
    }
    const QSignalBlocker block(m_method);
    m_method->setCurrentIndex(pca ? 1 : 0);
    core::MapRequest r;
    r.runId = currentRun().toStdString();
    r.pca = pca;
    r.perplexity = m_perplexity->value();
    r.recomputeEmbeddings = m_recompute->isChecked();
    m_job = std::make_unique<MapJob>(m_session.dir(), r);
    m_jobIds.clear();
    connect(m_job.get(), &MapJob::stage, this, &MapPanel::setStatus);
    connect(m_job.get(), &MapJob::started, this, [this](const QVector<qint64>& ids, qint64 step, int dims) {
        m_jobIds = ids;
        m_view->clear();
        m_view->setPlaceholder(tr("Starting ..."));
        setStatus(tr("%1, %2-dimensional embeddings of checkpoint step %3").arg(countOf(qint64(ids.size()), tr("image"), tr("images"))).arg(dims).arg(step));
    });
    connect(m_job.get(), &MapJob::layout, this, [this](const QVector<float>& xy, int iteration, int iterations, double kl) {
        if (m_view->pointCount() == 0)
            m_view->setMap(m_jobIds, xy);
        else
            m_view->updatePositions(xy);
        QString text = tr("t-SNE iteration %1 of %2").arg(iteration).arg(iterations);
        if (kl >= 0)
            text += tr(", KL %1").arg(kl, 0, 'f', 3);
        setStatus(text);
        Q_EMIT layoutShown(iteration, iterations);
    });
    connect(m_job.get(), &MapJob::finished, this, [this](core::JobState state, const QString& message) {
        const QVector<float>& xy = m_job->finalLayout();
        const bool failed = state == core::JobState::Failed, cancelled = state == core::JobState::Cancelled;
        if (!failed && !xy.isEmpty()) {
            if (m_view->pointCount() == 0)
                m_view->setMap(m_jobIds, xy);
            else
                m_view->updatePositions(xy);
        }
        if (failed) {
            m_view->setPlaceholder(tr("No map: %1").arg(message));
            setStatus(tr("The map could not be computed: %1").arg(message));
        } else if (cancelled) {
            setStatus(tr("Cancelled; showing the layout reached (not stored). %1").arg(message));
        } else {
            setStatus(message + tr(". Stored in the run."));
        }
        updateButtons();
        Q_EMIT computationFinished(cancelled, failed ? message : QString());
    });
    setStatus(tr("Loading embeddings ..."));
    m_job->start();
    updateButtons();
    return true;
}

void MapPanel::cancel()
{
    if (m_job)
        m_job->cancel();
}

} // namespace medsiam::ui
