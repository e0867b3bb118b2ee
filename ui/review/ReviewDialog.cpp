#include "review/ReviewDialog.h"

#include "common/Count.h"
#include "data/ImageCache.h"
#include "analysis/Predict.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunChoice.h"
#include "results/GradCamTask.h"
#include "review/ReviewJob.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFutureWatcher>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>
#include <QUndoStack>
#include <QVBoxLayout>
#include <QtConcurrent>

namespace medsiam::ui {

namespace {

constexpr int kImageSide = 320;

QString percent(double p) { return QString::number(p, 'f', 2); }

} // namespace

ReviewDialog::ReviewDialog(ProjectSession& session, QWidget* parent)
    : QDialog(parent), m_session(session), m_explainer(std::make_shared<GradCamSource>(session.dir()))
{
    setWindowTitle(tr("Review Predictions"));
    setObjectName(QStringLiteral("reviewDialog"));
    m_run = new QComboBox(this);
    m_run->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_run->setToolTip(tr("The classifier whose predictions are reviewed (fine-tuned runs)"));
    m_predict = new QPushButton(tr("&Predict Unlabeled"), this);
    m_predict->setToolTip(tr("Classify every unlabeled image with this classifier, on a worker thread"));
    m_retrain = new QPushButton(tr("&Retrain and Refresh"), this);
    m_retrain->setToolTip(tr("Train the next classifier from this one with the labels given so far (same recipe and time "
                             "budget), then classify the unlabeled images again"));
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->hide();

    m_queue = new QListWidget(this);
    m_queue->setFocusPolicy(Qt::NoFocus); // digits and Enter are the dialog's keys, not the list's search
    m_queue->setMinimumWidth(280);
    m_image = new QLabel(this);
    m_image->setMinimumSize(kImageSide, kImageSide);
    m_image->setAlignment(Qt::AlignCenter);
    m_image->setStyleSheet(QStringLiteral("QLabel { background: #202020; }"));
    m_caption = new QLabel(this);
    m_caption->setWordWrap(true);
    m_probabilities = new QLabel(this);
    m_probabilities->setWordWrap(true);
    m_probabilities->setTextFormat(Qt::RichText);
    m_showCam = new QCheckBox(tr("Show &Grad-CAM (what drove the prediction)"), this);
    m_showCam->setChecked(true);

    m_accept = new QPushButton(tr("Accept (Enter)"), this);
    m_accept->setToolTip(tr("Label the image with the predicted class"));
    m_skip = new QPushButton(tr("Skip (→)"), this);
    m_undo = new QPushButton(tr("Undo (Ctrl+Z)"), this);
    m_classButtons = new QHBoxLayout;

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Classifier:"), this));
    top->addWidget(m_run);
    top->addWidget(m_predict);
    top->addWidget(m_retrain);
    top->addStretch(1);
    auto* right = new QVBoxLayout;
    right->addWidget(m_image, 1);
    right->addWidget(m_showCam);
    right->addWidget(m_probabilities);
    right->addWidget(m_caption);
    auto* middle = new QHBoxLayout;
    middle->addWidget(m_queue);
    middle->addLayout(right, 1);
    auto* keys = new QHBoxLayout;
    keys->addWidget(m_accept);
    keys->addLayout(m_classButtons);
    keys->addStretch(1);
    keys->addWidget(m_skip);
    keys->addWidget(m_undo);
    auto* close = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(close, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_status);
    layout->addWidget(m_progress);
    layout->addLayout(middle, 1);
    layout->addLayout(keys);
    layout->addWidget(close);

    connect(m_run, QOverload<int>::of(&QComboBox::activated), this, [this] { loadQueue(); });
    connect(m_predict, &QPushButton::clicked, this, &ReviewDialog::predictUnlabeled);
    connect(m_retrain, &QPushButton::clicked, this, &ReviewDialog::retrain);
    connect(m_queue, &QListWidget::currentRowChanged, this, [this] { showCurrent(); });
    connect(m_showCam, &QCheckBox::toggled, this, [this] { showCurrent(); });
    connect(m_accept, &QPushButton::clicked, this, &ReviewDialog::acceptCurrent);
    connect(m_skip, &QPushButton::clicked, this, &ReviewDialog::moveOn);
    connect(m_undo, &QPushButton::clicked, this, [this] { m_session.undoStack()->undo(); });
    for (const QKeySequence& k : {QKeySequence(Qt::Key_Return), QKeySequence(Qt::Key_Enter), QKeySequence(Qt::Key_Space)})
        connect(new QShortcut(k, this), &QShortcut::activated, this, &ReviewDialog::acceptCurrent);
    connect(new QShortcut(QKeySequence(Qt::Key_Right), this), &QShortcut::activated, this, &ReviewDialog::moveOn);
    connect(new QShortcut(QKeySequence(Qt::Key_Down), this), &QShortcut::activated, this, &ReviewDialog::moveOn);
    connect(new QShortcut(QKeySequence(Qt::Key_Up), this), &QShortcut::activated, this, [this] {
        m_queue->setCurrentRow(std::max(0, m_queue->currentRow() - 1));
    });
    connect(new QShortcut(QKeySequence(Qt::Key_Left), this), &QShortcut::activated, this, [this] {
        m_queue->setCurrentRow(std::max(0, m_queue->currentRow() - 1));
    });
    connect(new QShortcut(QKeySequence::Undo, this), &QShortcut::activated, this, [this] { m_session.undoStack()->undo(); });
    connect(new QShortcut(QKeySequence::Redo, this), &QShortcut::activated, this, [this] { m_session.undoStack()->redo(); });
    for (const auto& key : core::classKeys())
        connect(new QShortcut(QKeySequence(QString::fromStdString(key)), this), &QShortcut::activated, this,
                [this, k = QString::fromStdString(key)] { labelCurrent(k); });

    connect(&m_session, &ProjectSession::labelsChanged, this, [this] {
        updateMarks();
        updateButtons();
    });
    connect(&m_session, &ProjectSession::classesChanged, this, [this] {
        rebuildClassButtons();
        loadQueue();
    });
    connect(m_session.undoStack(), &QUndoStack::indexChanged, this, &ReviewDialog::updateButtons);
    rebuildClassButtons();
    refillRuns();
    loadQueue();
    resize(900, 640);
}

ReviewDialog::~ReviewDialog() = default; // the job (if any) cancels and waits; a Grad-CAM still computing keeps its own state

void ReviewDialog::showEvent(QShowEvent* event)
{
    QDialog::showEvent(event);
    if (!m_shownOnce) {
        m_shownOnce = true;
        return;
    }
    refillRuns(); // runs trained meanwhile
}

QString ReviewDialog::currentRun() const { return m_run->currentData().toString(); }

bool ReviewDialog::selectRun(const QString& runId)
{
    refillRuns();
    if (!chooseByData(m_run, runId))
        return false;
    loadQueue();
    return true;
}

void ReviewDialog::refillRuns()
{
    fillRunChoice(m_run, m_session.project(),
                  [&](const core::RunRecord& r) { return r.kind == "finetune" && hasCheckpoint(m_session.project(), r); });
}

void ReviewDialog::rebuildClassButtons()
{
    while (QLayoutItem* item = m_classButtons->takeAt(0)) {
        delete item->widget();
        delete item;
    }
    for (const auto& c : m_session.classes()) {
        const QString key = QString::fromStdString(c.shortcut);
        auto* b = new QPushButton(key.isEmpty() ? QString::fromStdString(c.name) : tr("%1 (%2)").arg(QString::fromStdString(c.name), key), this);
        b->setToolTip(tr("Label the image %1").arg(QString::fromStdString(c.name)));
        b->setStyleSheet(QStringLiteral("QPushButton { border-left: 6px solid %1; padding: 4px 8px; }").arg(QString::fromStdString(c.color)));
        const int64_t id = c.id;
        connect(b, &QPushButton::clicked, this, [this, id] {
            for (const auto& k : m_session.classes())
                if (k.id == id)
                    labelCurrent(QString::fromStdString(k.shortcut.empty() ? std::string("#") + std::to_string(id) : k.shortcut));
        });
        m_classButtons->addWidget(b);
    }
}

void ReviewDialog::loadQueue()
{
    const qint64 keep = currentImageId();
    m_items.clear();
    m_queue->clear();
    const QString run = currentRun();
    if (run.isEmpty()) {
        m_status->setText(tr("No classifier yet: train one (Train > Train a Classifier), then review its predictions here."));
        m_session.showPredictions({});
        showCurrent();
        updateButtons();
        return;
    }
    m_items = core::reviewQueue(m_session.project(), run.toStdString());
    m_session.showPredictions(run);
    const auto& classes = m_session.classes();
    for (size_t i = 0; i < m_items.size(); ++i) {
        const auto& it = m_items[i];
        const QString cls = it.predicted >= 0 && it.predicted < static_cast<int>(classes.size())
                                ? QString::fromStdString(classes[static_cast<size_t>(it.predicted)].name)
                                : QString::number(it.predicted);
        auto* item = new QListWidgetItem(tr("%1. image %2 · %3 %4")
                                             .arg(i + 1)
                                             .arg(it.imageId)
                                             .arg(cls, percent(it.probabilities[static_cast<size_t>(it.predicted)])));
        item->setData(Qt::UserRole + 1, tr("margin %1 between the two likeliest classes").arg(percent(it.margin)));
        item->setData(Qt::UserRole, QVariant::fromValue<qint64>(it.imageId));
        m_queue->addItem(item);
    }
    const int64_t unlabeled = m_session.unlabeledCount();
    if (m_items.empty())
        m_status->setText(unlabeled == 0 ? tr("Every image has a label: nothing to review.")
                                         : tr("Run %1 has not classified the %2 yet: Predict Unlabeled.")
                                               .arg(run, countOf(unlabeled, tr("unlabeled image"), tr("unlabeled images"))));
    else
        m_status->setText(tr("%1 by run %2, least certain first. Enter accepts the prediction as the label, a class key "
                             "corrects it, → skips, Ctrl+Z undoes.")
                              .arg(countOf(qint64(m_items.size()), tr("unlabeled image"), tr("unlabeled images")), run) +
                          (qint64(m_items.size()) < unlabeled
                               ? tr(" %1 not classified by this run yet: Predict Unlabeled to add them.")
                                     .arg(countOf(unlabeled - qint64(m_items.size()), tr("image is"), tr("images are")))
                               : QString()));
    updateMarks();
    int row = 0;
    for (int i = 0; i < m_queue->count(); ++i)
        if (m_queue->item(i)->data(Qt::UserRole).toLongLong() == keep)
            row = i;
    if (m_queue->count() > 0)
        m_queue->setCurrentRow(row);
    showCurrent();
    updateButtons();
}

void ReviewDialog::updateMarks()
{
    for (int i = 0; i < m_queue->count(); ++i) {
        QListWidgetItem* item = m_queue->item(i);
        const int row = m_session.rowOf(item->data(Qt::UserRole).toLongLong());
        const int64_t classId = row >= 0 ? m_session.rows()[static_cast<size_t>(row)].classId : -1;
        QFont f = item->font();
        f.setStrikeOut(classId > 0);
        item->setFont(f);
        item->setForeground(classId > 0 ? QBrush(Qt::gray) : QBrush());
        item->setToolTip(item->data(Qt::UserRole + 1).toString() + QLatin1Char('\n') +
                         (classId > 0 ? tr("labeled %1").arg(m_session.className(classId)) : tr("not labeled yet")));
    }
    if (m_queue->currentRow() >= 0)
        showCurrent();
}

qint64 ReviewDialog::currentImageId() const
{
    const auto* item = m_queue->currentItem();
    return item ? item->data(Qt::UserRole).toLongLong() : -1;
}

void ReviewDialog::showCurrent()
{
    const qint64 id = currentImageId();
    const int at = m_queue->currentRow();
    if (id < 0 || at < 0 || at >= static_cast<int>(m_items.size())) {
        m_image->clear();
        m_probabilities->clear();
        m_caption->clear();
        return;
    }
    const auto& it = m_items[static_cast<size_t>(at)];
    QStringList lines;
    const auto& classes = m_session.classes();
    for (size_t c = 0; c < it.probabilities.size() && c < classes.size(); ++c) {
        const QString name = QString::fromStdString(classes[c].name).toHtmlEscaped();
        const QString text = tr("%1: %2").arg(name, percent(it.probabilities[c]));
        lines << (static_cast<int>(c) == it.predicted ? QStringLiteral("<b>%1</b>").arg(text) : text);
    }
    const int row = m_session.rowOf(id);
    const int64_t labeled = row >= 0 ? m_session.rows()[static_cast<size_t>(row)].classId : -1;
    m_probabilities->setText(tr("Image %1 · %2 · margin %3%4")
                                 .arg(id)
                                 .arg(lines.join(QStringLiteral(" · ")), percent(it.margin),
                                      labeled > 0 ? tr(" · labeled <b>%1</b>").arg(m_session.className(labeled).toHtmlEscaped()) : QString()));
    // The image at once from the cache; its Grad-CAM when computed.
    if (const auto cache = m_session.cache()) {
        const int64_t index = cache->indexOf(id);
        if (index >= 0) {
            const auto& e = cache->entries()[static_cast<size_t>(index)];
            const int side = cache->side();
            const QImage square(cache->pixels(static_cast<size_t>(index)), side, side, side * e.channels,
                                e.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8);
            const QRect content = e.content.width > 0 ? QRect(e.content.x, e.content.y, e.content.width, e.content.height) : square.rect();
            m_image->setPixmap(QPixmap::fromImage(square.copy(content)).scaled(kImageSide, kImageSide, Qt::KeepAspectRatio, Qt::SmoothTransformation));
        }
    }
    m_caption->setText(m_showCam->isChecked() ? tr("Computing the Grad-CAM ...") : QString());
    if (m_showCam->isChecked())
        explainCurrent();
}

void ReviewDialog::explainCurrent()
{
    const qint64 id = currentImageId();
    const QString run = currentRun();
    const int request = ++m_request;
    auto state = m_explainer;
    auto* watcher = new QFutureWatcher<GradCamOutcome>(this);
    connect(watcher, &QFutureWatcher<GradCamOutcome>::finished, this, [this, watcher, request] {
        const GradCamOutcome out = watcher->result();
        watcher->deleteLater();
        if (request != m_request || out.imageId != currentImageId() || !m_showCam->isChecked())
            return; // another image is shown by now
        if (!out.overlay.isNull())
            m_image->setPixmap(QPixmap::fromImage(out.overlay).scaled(kImageSide, kImageSide, Qt::KeepAspectRatio, Qt::SmoothTransformation));
        m_caption->setText(out.caption);
    });
    watcher->setFuture(QtConcurrent::run([state, run, id] { return explainImage(*state, run, id); }));
}

void ReviewDialog::moveOn()
{
    // The next image without a label, after the current one (then from the start).
    const int n = m_queue->count();
    const int from = m_queue->currentRow();
    for (int step = 1; step <= n; ++step) {
        const int i = (from + step) % n;
        const int row = m_session.rowOf(m_queue->item(i)->data(Qt::UserRole).toLongLong());
        if (row >= 0 && m_session.rows()[static_cast<size_t>(row)].classId <= 0) {
            m_queue->setCurrentRow(i);
            return;
        }
    }
    if (n > 0)
        m_status->setText(tr("Every image of the queue has a label now. Retrain and Refresh trains the next classifier with them."));
}

void ReviewDialog::acceptCurrent()
{
    const int at = m_queue->currentRow();
    if (at < 0 || at >= static_cast<int>(m_items.size()) || m_session.readOnly())
        return;
    const int predicted = m_items[static_cast<size_t>(at)].predicted;
    if (predicted < 0 || predicted >= static_cast<int>(m_session.classes().size()))
        return;
    const auto& c = m_session.classes()[static_cast<size_t>(predicted)];
    try {
        m_session.labelImages({currentImageId()}, c.id);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, windowTitle(), tr("The label was not saved: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    moveOn();
}

void ReviewDialog::labelCurrent(const QString& key)
{
    if (currentImageId() < 0 || m_session.readOnly())
        return;
    const core::ClassInfo* c = m_session.classForShortcut(key);
    if (!c && key.startsWith(QLatin1Char('#'))) // a class without a key, from its button
        c = m_session.classById(key.mid(1).toLongLong());
    if (!c)
        return;
    try {
        m_session.labelImages({currentImageId()}, c->id);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, windowTitle(), tr("The label was not saved: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    moveOn();
}

void ReviewDialog::updateButtons()
{
    const bool writable = !m_session.readOnly();
    const bool idle = !busy();
    const bool hasRun = !currentRun().isEmpty();
    m_run->setEnabled(idle);
    m_predict->setEnabled(writable && idle && hasRun);
    m_retrain->setEnabled(writable && idle && hasRun);
    const bool item = currentImageId() >= 0;
    m_accept->setEnabled(writable && item);
    m_skip->setEnabled(item);
    m_undo->setEnabled(writable && m_session.undoStack()->canUndo());
    for (int i = 0; i < m_classButtons->count(); ++i)
        if (QWidget* w = m_classButtons->itemAt(i)->widget())
            w->setEnabled(writable && item);
    if (!writable)
        m_status->setText(tr("The project is open read-only: reopen it for editing (File menu) to label or predict."));
}

bool ReviewDialog::busy() const { return m_job && m_job->running(); }
QString ReviewDialog::statusText() const { return m_status->text(); }
QString ReviewDialog::captionText() const { return m_caption->text(); }

QVector<qint64> ReviewDialog::queueIds() const
{
    QVector<qint64> ids;
    for (const auto& i : m_items)
        ids.push_back(i.imageId);
    return ids;
}

QVector<double> ReviewDialog::queueMargins() const
{
    QVector<double> m;
    for (const auto& i : m_items)
        m.push_back(i.margin);
    return m;
}

void ReviewDialog::predictUnlabeled() { startJob(int(ReviewJob::Mode::Predict)); }
void ReviewDialog::retrain() { startJob(int(ReviewJob::Mode::RetrainThenPredict)); }

void ReviewDialog::startJob(int mode)
{
    if (busy() || currentRun().isEmpty() || m_session.readOnly())
        return;
    m_job = std::make_unique<ReviewJob>(m_session.dir(), currentRun(), ReviewJob::Mode(mode));
    connect(m_job.get(), &BackgroundJob::progressChanged, this, [this](double f, const QString& text) {
        m_progress->setValue(f < 0 ? 0 : int(f * 1000));
        if (!text.isEmpty())
            m_status->setText(text);
    });
    connect(m_job.get(), &ReviewJob::runCreated, this, [this] { Q_EMIT runsChanged(); });
    connect(m_job.get(), &BackgroundJob::finished, this, [this](core::JobState state, const QString& message) {
        m_progress->hide();
        const QString run = m_job->classifierRun();
        if (state == core::JobState::Completed) {
            refillRuns();
            chooseByData(m_run, run);
            loadQueue(); // its status says what is listed
            Q_EMIT runsChanged();
        } else {
            m_status->setText(message);
        }
        updateButtons();
    });
    m_progress->setValue(0);
    m_progress->show();
    m_job->start();
    updateButtons();
}

} // namespace medsiam::ui
