#include "training/TrainClassifierDialog.h"

#include "common/Count.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunStore.h"
#include "system/Runtime.h"
#include "train/RunSummary.h"
#include "util/Error.h"


#include <QCloseEvent>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace medsiam::ui {

namespace {

QString bullets(const std::vector<std::string>& lines)
{
    QString out;
    for (const auto& l : lines)
        out += QStringLiteral("<li>%1</li>").arg(QString::fromStdString(l).toHtmlEscaped());
    return out.isEmpty() ? QString() : QStringLiteral("<ul style=\"margin-left:-20px\">%1</ul>").arg(out);
}

constexpr const char* kBudgetKey = "trainClassifier/minutes";
constexpr const char* kModeKey = "trainClassifier/mode";

} // namespace

// ---- the job

class ClassifierChainJob::Observer : public core::ClassifierChainObserver {
public:
    explicit Observer(ClassifierChainJob* job) : m_job(job) {}
    void stageStarted(const std::string& stage, const std::string& runId) override
    {
        m_job->post([job = m_job, s = QString::fromStdString(stage), r = QString::fromStdString(runId)] { Q_EMIT job->stageStarted(s, r); });
    }
    void progress(double fraction, const std::string& text) override
    {
        m_job->reportProgress(fraction, QString::fromStdString(text), fraction >= 1);
    }

private:
    ClassifierChainJob* m_job;
};

ClassifierChainJob::ClassifierChainJob(QString projectDir, core::ClassifierPlan plan, QObject* parent)
    : BackgroundJob(parent), m_dir(std::move(projectDir)), m_plan(plan)
{
}

ClassifierChainJob::~ClassifierChainJob() { stopAndWait(); }

BackgroundJob::Outcome ClassifierChainJob::run()
{
    auto project = core::Project::open(m_dir.toStdString());
    Observer observer(this);
    m_result = core::runClassifierChain(*project, m_plan, core::machineContext(), observer, control());
    return {m_result.state, QString::fromStdString(m_result.message)};
}

// ---- the dialog

TrainClassifierDialog::TrainClassifierDialog(ProjectSession& session, QWidget* parent) : QDialog(parent), m_session(session)
{
    setWindowTitle(tr("Train a Classifier"));
    auto* intro = new QLabel(tr("medsiam learns to tell your classes apart from the images you labeled, checks itself on "
                                "images it did not learn from, and tells you how well it does."),
                             this);
    intro->setWordWrap(true);

    auto* haveBox = new QGroupBox(tr("What the project has"), this);
    m_counts = new QTableWidget(0, 4, haveBox);
    m_counts->setHorizontalHeaderLabels({tr("Class"), tr("To learn from"), tr("To choose the model"), tr("To test it")});
    m_counts->horizontalHeaderItem(1)->setToolTip(tr("Labeled images in the training split"));
    m_counts->horizontalHeaderItem(2)->setToolTip(tr("Labeled images in the validation split"));
    m_counts->horizontalHeaderItem(3)->setToolTip(tr("Labeled images in the test split: the result is measured on these"));
    m_counts->verticalHeader()->hide();
    m_counts->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_counts->setSelectionMode(QAbstractItemView::NoSelection);
    m_counts->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_facts = new QLabel(haveBox);
    m_facts->setWordWrap(true);
    m_missing = new QLabel(haveBox);
    m_missing->setWordWrap(true);
    m_missing->setStyleSheet(QStringLiteral("color:#b00000"));
    m_cautions = new QLabel(haveBox);
    m_cautions->setWordWrap(true);
    m_cautions->setStyleSheet(QStringLiteral("color:#8a5a00"));
    auto* haveLayout = new QVBoxLayout(haveBox);
    haveLayout->addWidget(m_counts);
    haveLayout->addWidget(m_facts);
    haveLayout->addWidget(m_missing);
    haveLayout->addWidget(m_cautions);

    auto* howBox = new QGroupBox(tr("How"), this);
    QSettings settings;
    m_budget = new QSpinBox(howBox);
    m_budget->setRange(1, 30 * 24 * 60);
    m_budget->setSuffix(tr(" min"));
    m_budget->setValue(settings.value(QLatin1String(kBudgetKey), 10).toInt());
    m_budget->setToolTip(tr("Training stops within this time, checking on the test images included"));
    m_estimate = new QLabel(howBox);
    m_estimate->setWordWrap(true);
    m_quick = new QRadioButton(howBox);
    m_best = new QRadioButton(howBox);
    m_quick->setToolTip(tr("Fine-tuning only: the network learns from the labeled images"));
    m_best->setToolTip(tr("SimSiam self-supervised learning on every image first, then fine-tuning from what it learnt: "
                          "worth it when many images are unlabeled"));
    (settings.value(QLatin1String(kModeKey)).toString() == QLatin1String("quick") ? m_quick : m_best)->setChecked(true);
    auto* howLayout = new QFormLayout(howBox);
    auto* budgetRow = new QHBoxLayout;
    budgetRow->addWidget(m_budget);
    budgetRow->addWidget(m_estimate, 1);
    howLayout->addRow(tr("Time:"), budgetRow);
    howLayout->addRow(m_quick);
    howLayout->addRow(m_best);
    connect(m_budget, &QSpinBox::valueChanged, this, &TrainClassifierDialog::updateEstimate);

    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 100);
    m_progress->setValue(0);
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    m_result = new QLabel(this);
    m_result->setWordWrap(true);
    m_result->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_result->setTextFormat(Qt::RichText);
    m_result->setAlignment(Qt::AlignTop | Qt::AlignLeft);

    m_advanced = new QPushButton(tr("Advanced..."), this);
    m_advanced->setToolTip(tr("The expert dialogs: every setting of SimSiam pretraining and fine-tuning"));
    m_train = new QPushButton(tr("Train"), this);
    m_train->setDefault(true);
    m_stop = new QPushButton(tr("Stop"), this);
    m_stop->setEnabled(false);
    m_stop->setToolTip(tr("Stop after the current step; the run keeps a checkpoint and can be continued from Training Runs"));
    m_showResults = new QPushButton(tr("Show the Results"), this);
    m_showResults->setEnabled(false);
    m_showResults->setToolTip(tr("The confusion matrix, the curves and the images behind each number"));
    m_close = new QPushButton(tr("Close"), this);
    connect(m_advanced, &QPushButton::clicked, this, [this] {
        Q_EMIT advancedRequested();
        QDialog::reject();
    });
    connect(m_train, &QPushButton::clicked, this, &TrainClassifierDialog::start);
    connect(m_stop, &QPushButton::clicked, this, &TrainClassifierDialog::stop);
    connect(m_showResults, &QPushButton::clicked, this, [this] { Q_EMIT showResultsRequested(m_classifierRun); });
    connect(m_close, &QPushButton::clicked, this, &TrainClassifierDialog::reject);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_advanced);
    buttons->addStretch(1);
    buttons->addWidget(m_train);
    buttons->addWidget(m_stop);
    buttons->addWidget(m_showResults);
    buttons->addWidget(m_close);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addWidget(haveBox);
    layout->addWidget(howBox);
    layout->addWidget(m_progress);
    layout->addWidget(m_status);
    layout->addWidget(m_result, 1);
    layout->addLayout(buttons);
    resize(640, 640);
    showReadiness();
    updateEstimate();
}

TrainClassifierDialog::~TrainClassifierDialog() = default;

void TrainClassifierDialog::showReadiness()
{
    m_ready = core::assessClassifierReadiness(m_session.project());
    m_counts->setRowCount(0);
    for (const auto& c : m_ready.classes) {
        const int r = m_counts->rowCount();
        m_counts->insertRow(r);
        m_counts->setItem(r, 0, new QTableWidgetItem(QString::fromStdString(c.name)));
        int col = 1;
        for (int64_t n : {c.train, c.val, c.test}) {
            auto* item = new QTableWidgetItem(QString::number(n));
            item->setTextAlignment(Qt::AlignCenter);
            m_counts->setItem(r, col++, item);
        }
    }
    // As tall as its rows (up to six, then it scrolls), so the dialog has no empty table area.
    const int shown = std::clamp(m_counts->rowCount(), 1, 6);
    m_counts->setFixedHeight(m_counts->horizontalHeader()->sizeHint().height() + shown * m_counts->verticalHeader()->defaultSectionSize() +
                             2 * m_counts->frameWidth());
    QString facts = tr("%1 in all, %2 labeled, %3 not labeled")
                        .arg(countOf(m_ready.images, tr("image"), tr("images")))
                        .arg(m_ready.labeled)
                        .arg(m_ready.unlabeled);
    if (m_ready.withPatient == m_ready.images && m_ready.patients > 0)
        facts += tr(", from %1").arg(countOf(m_ready.patients, tr("patient"), tr("patients")));
    else if (m_ready.withPatient > 0)
        facts += tr("; %1 of them name a patient (%2)")
                     .arg(m_ready.withPatient)
                     .arg(countOf(m_ready.patients, tr("patient"), tr("patients")));
    m_facts->setText(facts + QLatin1Char('.'));
    m_missing->setText(m_ready.missing.empty() ? QString() : tr("<b>Not enough yet:</b>%1").arg(bullets(m_ready.missing)));
    m_missing->setVisible(!m_ready.missing.empty());
    m_cautions->setText(m_ready.cautions.empty() ? QString() : tr("<b>Good to know:</b>%1").arg(bullets(m_ready.cautions)));
    m_cautions->setVisible(!m_ready.cautions.empty());
    m_quick->setText(tr("Quick: learn from the %1 only").arg(countOf(m_ready.splitTotal("train"), tr("labeled training image"),
                                                                      tr("labeled training images"))));
    m_best->setText(tr("Best: first learn what the images look like from all of them, labeled or not, then learn the classes"));
    m_train->setEnabled(m_ready.ready() && !running() && !m_session.readOnly());
    m_train->setToolTip(m_ready.ready() ? QString() : tr("Label more images first (see above)"));
}

void TrainClassifierDialog::updateEstimate()
{
    const int minutes = m_budget->value();
    m_estimate->setText(tr("The classifier is ready in about %1 on this computer.").arg(countOf(minutes, tr("minute"), tr("minutes"))));
}

QString TrainClassifierDialog::readinessText() const
{
    return m_facts->text() + QLatin1Char('\n') + m_missing->text() + QLatin1Char('\n') + m_cautions->text();
}

QString TrainClassifierDialog::resultText() const { return m_result->text(); }

bool TrainClassifierDialog::running() const { return m_job && m_job->running(); }

bool TrainClassifierDialog::start()
{
    if (running())
        return false;
    showReadiness();
    if (!m_ready.ready()) {
        QString why;
        for (const auto& m : m_ready.missing)
            why += QString::fromStdString(m) + QLatin1Char('\n');
        QMessageBox::information(this, tr("Not enough labeled images yet"), why.trimmed());
        return false;
    }
    core::ClassifierPlan plan;
    plan.mode = m_quick->isChecked() ? core::ClassifierMode::Quick : core::ClassifierMode::Best;
    plan.budgetSeconds = 60.0 * m_budget->value();
    try {
        plan.validate();
    } catch (const core::UserError& e) {
        QMessageBox::warning(this, tr("Cannot train"), QString::fromStdString(e.what()));
        return false;
    }
    QSettings settings;
    settings.setValue(QLatin1String(kBudgetKey), m_budget->value());
    settings.setValue(QLatin1String(kModeKey), QString::fromLatin1(core::toString(plan.mode)));
    m_classifierRun.clear();
    m_result->clear();
    m_progress->setValue(0);
    m_status->setText(tr("Starting ..."));
    m_job = std::make_unique<ClassifierChainJob>(m_session.dir(), plan);
    connect(m_job.get(), &BackgroundJob::progressChanged, this, [this](double fraction, const QString& text) {
        if (fraction >= 0)
            m_progress->setValue(int(std::lround(100 * fraction)));
        m_status->setText(text.isEmpty() ? QString() : text.left(1).toUpper() + text.mid(1));
    });
    connect(m_job.get(), &ClassifierChainJob::stageStarted, this, [this](const QString& stage, const QString& run) {
        if (stage == QLatin1String("finetune"))
            m_classifierRun = run;
        Q_EMIT runCreated(run);
    });
    connect(m_job.get(), &BackgroundJob::finished, this, &TrainClassifierDialog::onFinished);
    for (QWidget* w : std::initializer_list<QWidget*>{m_budget, m_quick, m_best, m_advanced, m_train, m_showResults})
        w->setEnabled(false);
    m_stop->setEnabled(true);
    m_job->start();
    return true;
}

void TrainClassifierDialog::stop()
{
    if (!running())
        return;
    m_job->cancel();
    m_stop->setEnabled(false);
    m_status->setText(tr("Stopping after the current step ..."));
}

void TrainClassifierDialog::onFinished(core::JobState state, const QString& message)
{
    const core::ClassifierChainResult result = m_job->result();
    m_classifierRun = QString::fromStdString(result.finetuneRun);
    for (QWidget* w : std::initializer_list<QWidget*>{m_budget, m_quick, m_best, m_advanced})
        w->setEnabled(true);
    m_stop->setEnabled(false);
    showReadiness();
    QString html;
    if (state == core::JobState::Completed) {
        m_progress->setValue(100);
        m_status->setText(tr("Done."));
        const auto summary = core::FinetuneSummary::read(core::RunStore(m_session.project()).readSummary(result.finetuneRun));
        html = QStringLiteral("<p><b>%1</b></p>").arg(QString::fromStdString(core::plainWordsResult(summary)).toHtmlEscaped());
        if (!summary.warnings.empty())
            html += tr("<p style=\"color:#b00000\"><b>Warning:</b></p>%1").arg(bullets(summary.warnings));
        html += tr("<p>Where to look next: <i>Show the Results</i> opens the confusion matrix, which says which classes are "
                   "mistaken for which, with the images behind each cell; the embedding map (Data &gt; Embedding Map) shows "
                   "the images the model finds hard to tell apart. The classifier is run %1 in Training Runs.</p>")
                    .arg(m_classifierRun.toHtmlEscaped());
        m_showResults->setEnabled(true);
    } else if (state == core::JobState::Cancelled) {
        const QString run = QString::fromStdString(result.finetuneRun.empty() ? result.pretrainRun : result.finetuneRun);
        m_status->setText(tr("Stopped."));
        html = tr("<p>Stopped before the classifier was finished. Run %1 kept a checkpoint: Continue in Training Runs takes "
                  "it up, or press Train to start again.</p>")
                   .arg(run.toHtmlEscaped());
    } else {
        m_status->setText(tr("Training failed."));
        html = tr("<p style=\"color:#b00000\"><b>Training failed:</b> %1</p>").arg(message.toHtmlEscaped());
    }
    m_result->setText(html);
    Q_EMIT finished(QString::fromLatin1(core::toString(state)), m_classifierRun);
}

void TrainClassifierDialog::reject()
{
    if (running()) {
        if (QMessageBox::question(this, tr("Training"), tr("Stop training? The run keeps a checkpoint and can be continued."),
                                  QMessageBox::Yes | QMessageBox::No, QMessageBox::No) != QMessageBox::Yes)
            return;
        m_job.reset(); // cancels and waits: the run writes its checkpoint
    }
    QDialog::reject();
}

void TrainClassifierDialog::closeEvent(QCloseEvent* event)
{
    if (running()) {
        event->ignore();
        reject();
        return;
    }
    QDialog::closeEvent(event);
}

} // namespace medsiam::ui
