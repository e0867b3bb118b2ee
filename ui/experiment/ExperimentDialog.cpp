#include "experiment/ExperimentDialog.h"

#include "experiment/FigureView.h"
#include "report/ComparisonReport.h"

#include "project/Project.h"
#include "system/Runtime.h"
#include "train/Experiment.h"
#include "train/LinearProbe.h"
#include "util/Csv.h"
#include "util/Error.h"
#include "util/Text.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPainter>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTabWidget>
#include <QTableWidget>
#include <QTextEdit>
#include <QVBoxLayout>

namespace medsiam::ui {

// ---- the job

class ExperimentRunJob::Observer : public core::ExperimentObserver {
public:
    explicit Observer(ExperimentRunJob& job) : m_job(job) {}
    void stageStarted(const core::ExperimentStage& s, int index, int total) override
    {
        m_index = index;
        m_total = total;
        m_stage = QString::fromStdString(core::armTitle(s.arm) + ": " + s.stage);
        m_job.reportProgress(double(index) / total, tr("[%1/%2] %3").arg(index + 1).arg(total).arg(m_stage), true);
    }
    void step(const core::StepEvent& e) override
    {
        const double within = e.totalSteps > 0 ? double(e.step) / double(e.totalSteps) : 0;
        m_job.reportProgress((m_index + within) / std::max(1, m_total),
                             tr("[%1/%2] %3, step %4 of %5").arg(m_index + 1).arg(m_total).arg(m_stage).arg(e.step).arg(e.totalSteps));
    }
    void stateChanged(core::JobState state, const std::string& message) override
    {
        if (state == core::JobState::Failed)
            m_last = QString::fromStdString(message);
    }
    static QString tr(const char* s) { return QObject::tr(s); }
    QString m_last;

private:
    ExperimentRunJob& m_job;
    int m_index = 0, m_total = 1;
    QString m_stage;
};

ExperimentRunJob::ExperimentRunJob(QString projectDir, QString experimentId, QObject* parent)
    : BackgroundJob(parent), m_dir(std::move(projectDir)), m_id(std::move(experimentId))
{
}

ExperimentRunJob::~ExperimentRunJob() { stopAndWait(); }

BackgroundJob::Outcome ExperimentRunJob::run()
{
    auto project = core::Project::open(m_dir.toStdString());
    core::ExperimentJob job(*project, m_id.toStdString());
    Observer observer(*this);
    const core::JobState state = job.run(observer, control());
    if (state != core::JobState::Failed)
        writeExperimentFigures(*project, m_id.toStdString());
    return {state, observer.m_last};
}

// ---- the dialog

ExperimentDialog::ExperimentDialog(const QString& projectDir, QWidget* parent) : QDialog(parent), m_dir(projectDir)
{
    setWindowTitle(tr("Transfer Experiment"));
    resize(1200, 820);
    m_list = new QComboBox(this);
    m_pages = new QStackedWidget(this);

    // Page 0: a new experiment.
    auto* form = new QWidget(this);
    auto* f = new QFormLayout(form);
    auto* intro = new QLabel(tr("Does starting SimSiam from a transfer model speed up its learning on these images, does transfer + "
                                "SimSiam beat each alone, and which normalization lets them combine? Five arms run with the same "
                                "images, seed and time: SimSiam from random weights; SimSiam from the transfer model keeping its "
                                "GroupNorm + weight standardization; the same converted to BatchNorm; the transfer model alone; "
                                "random features. Each is then scored with a linear probe (also with 1%, 10% and 100% of the labels) "
                                "and fine-tuned."),
                             form);
    intro->setWordWrap(true);
    f->addRow(intro);
    m_budget = new QSpinBox(form);
    m_budget->setRange(0, 600);
    m_budget->setValue(10);
    m_budget->setSuffix(tr(" min"));
    m_budgetSeconds = new QSpinBox(form);
    m_budgetSeconds->setRange(0, 59);
    m_budgetSeconds->setSuffix(tr(" s"));
    auto* budgetRow = new QHBoxLayout;
    budgetRow->addWidget(m_budget);
    budgetRow->addWidget(m_budgetSeconds);
    budgetRow->addStretch();
    f->addRow(tr("Time per SimSiam arm:"), budgetRow);
    m_source = new QComboBox(form);
    m_source->addItem(tr("A classifier trained here on half of the labels (no download needed)"), "upstream");
    m_source->addItem(tr("A weights file (BiT .npz, timm, torchvision, medsiam)..."), "file");
    m_source->addItem(tr("A run of another medsiam project..."), "project");
    m_sourcePath = new QLineEdit(form);
    m_sourcePath->setPlaceholderText(tr("the file or project folder"));
    m_sourcePath->setEnabled(false);
    auto* browse = new QPushButton(tr("Browse..."), form);
    browse->setEnabled(false);
    auto* sourceRow = new QHBoxLayout;
    sourceRow->addWidget(m_sourcePath, 1);
    sourceRow->addWidget(browse);
    f->addRow(tr("Transfer model:"), m_source);
    f->addRow(QString(), sourceRow);
    m_finetune = new QCheckBox(tr("Also fine-tune every arm (a fifth of the arm's time each)"), form);
    m_finetune->setChecked(true);
    f->addRow(QString(), m_finetune);
    m_fractions = new QLineEdit("1%,10%,100%", form);
    f->addRow(tr("Label efficiency, fractions of the labels:"), m_fractions);
    m_plan = new QLabel(form);
    m_plan->setWordWrap(true);
    f->addRow(m_plan);
    m_startButton = new QPushButton(tr("&Start Experiment"), form);
    m_startButton->setDefault(true);
    f->addRow(QString(), m_startButton);
    m_pages->addWidget(form);

    // Page 1: progress and result.
    auto* result = new QWidget(this);
    auto* r = new QVBoxLayout(result);
    m_progress = new QProgressBar(result);
    m_progress->setRange(0, 1000);
    m_progressText = new QLabel(result);
    m_stopButton = new QPushButton(tr("Sto&p"), result);
    m_resumeButton = new QPushButton(tr("&Resume"), result);
    auto* progressRow = new QHBoxLayout;
    progressRow->addWidget(m_progress, 1);
    progressRow->addWidget(m_stopButton);
    progressRow->addWidget(m_resumeButton);
    r->addLayout(progressRow);
    r->addWidget(m_progressText);
    auto* tabs = new QTabWidget(result);
    m_figure = new FigureView({480, 300}, tabs);
    m_labels = new FigureView({480, 300}, tabs);
    m_table = new QTableWidget(tabs);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    tabs->addTab(m_figure, tr("Convergence"));
    tabs->addTab(m_labels, tr("Label efficiency"));
    tabs->addTab(m_table, tr("Table"));
    r->addWidget(tabs, 3);
    m_finding = new QTextEdit(result);
    m_finding->setReadOnly(true);
    r->addWidget(new QLabel(tr("Finding"), result));
    r->addWidget(m_finding, 1);
    m_pages->addWidget(result);

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Experiment:"), this));
    top->addWidget(m_list, 1);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_pages, 1);
    layout->addWidget(buttons);

    connect(m_source, &QComboBox::currentIndexChanged, this, [this, browse] {
        const bool needsPath = m_source->currentData().toString() != "upstream";
        m_sourcePath->setEnabled(needsPath);
        browse->setEnabled(needsPath);
        updatePlan();
    });
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString kind = m_source->currentData().toString();
        const QString path = kind == "file" ? QFileDialog::getOpenFileName(this, tr("Transfer weights"))
                                            : QFileDialog::getExistingDirectory(this, tr("The other project"));
        if (!path.isEmpty())
            m_sourcePath->setText(path);
    });
    for (QSpinBox* s : {m_budget, m_budgetSeconds})
        connect(s, &QSpinBox::valueChanged, this, &ExperimentDialog::updatePlan);
    connect(m_finetune, &QCheckBox::toggled, this, &ExperimentDialog::updatePlan);
    connect(m_startButton, &QPushButton::clicked, this, [this] { start(); });
    connect(m_stopButton, &QPushButton::clicked, this, [this] {
        if (m_job)
            m_job->cancel();
        m_progressText->setText(tr("Stopping: the running stage writes a checkpoint..."));
    });
    connect(m_resumeButton, &QPushButton::clicked, this, [this] {
        if (!m_shown.isEmpty())
            run(m_shown);
    });
    connect(m_list, &QComboBox::activated, this, [this](int i) {
        const QString id = m_list->itemData(i).toString();
        if (id.isEmpty())
            m_pages->setCurrentIndex(0);
        else
            showExperiment(id);
    });
    refreshList();
    updatePlan();
}

ExperimentDialog::~ExperimentDialog() = default;

void ExperimentDialog::refreshList()
{
    m_list->clear();
    m_list->addItem(tr("New experiment"), QString());
    try {
        auto project = core::Project::open(m_dir.toStdString(), core::ProjectAccess::ReadOnly);
        for (const auto& id : core::listExperiments(*project))
            m_list->addItem(QString::fromStdString(id), QString::fromStdString(id));
    } catch (const std::exception&) {
    }
    if (!m_shown.isEmpty())
        m_list->setCurrentIndex(m_list->findData(m_shown));
}

core::ExperimentConfig ExperimentDialog::configFromForm() const
{
    core::ExperimentConfig c;
    c.armSeconds = m_budget->value() * 60 + m_budgetSeconds->value();
    c.finetune = m_finetune->isChecked();
    const QString kind = m_source->currentData().toString();
    if (kind == "file")
        c.initFile = m_sourcePath->text().trimmed().toStdString();
    else if (kind == "project")
        c.sourceProject = m_sourcePath->text().trimmed().toStdString();
    return c;
}

void ExperimentDialog::updatePlan()
{
    const core::ExperimentConfig c = configFromForm();
    m_plan->setText(tr("About %1 in all on this computer (the probes add seconds each). You can stop it and resume it later.")
                        .arg(QString::fromStdString(core::text::humanDuration(c.plannedSeconds()))));
    m_startButton->setEnabled(c.armSeconds >= 1);
}

bool ExperimentDialog::start()
{
    core::ExperimentConfig c = configFromForm();
    const QString kind = m_source->currentData().toString();
    std::string id;
    try {
        if (kind != "upstream" && c.initFile.empty() && c.sourceProject.empty())
            throw core::UserError(kind == "file" ? "choose the weights file of the transfer model" : "choose the other project's folder");
        c.labelFractions = core::parseLabelFractions(m_fractions->text().toStdString());
        auto project = core::Project::open(m_dir.toStdString());
        id = core::ExperimentJob::create(*project, c, core::machineContext());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Transfer Experiment"), tr("The experiment cannot start: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    m_shown = QString::fromStdString(id);
    refreshList();
    run(m_shown);
    return true;
}

void ExperimentDialog::run(const QString& id)
{
    if (m_job && m_job->running())
        return;
    m_shown = id;
    m_pages->setCurrentIndex(1);
    m_job = std::make_unique<ExperimentRunJob>(m_dir, id);
    connect(m_job.get(), &BackgroundJob::progressChanged, this, [this](double fraction, const QString& text) {
        m_progress->setValue(static_cast<int>(fraction * 1000));
        m_progressText->setText(text);
    });
    connect(m_job.get(), &BackgroundJob::finished, this, [this, id](core::JobState state, const QString& message) {
        showExperiment(id);
        if (state == core::JobState::Failed)
            m_progressText->setText(tr("The experiment failed: %1").arg(message));
        else if (state == core::JobState::Cancelled)
            m_progressText->setText(tr("Stopped. Resume continues with the stages left."));
        Q_EMIT experimentFinished(id, state);
    });
    m_stopButton->setEnabled(true);
    m_resumeButton->setEnabled(false);
    m_job->start();
}

void ExperimentDialog::showExperiment(const QString& id)
{
    m_shown = id;
    m_pages->setCurrentIndex(1);
    m_list->setCurrentIndex(m_list->findData(id));
    try {
        m_figure->setFigure({}, tr("No result yet."));
        m_labels->setFigure({}, tr("No result yet."));
        auto project = core::Project::open(m_dir.toStdString(), core::ProjectAccess::ReadOnly);
        const auto result = core::summarizeExperiment(*project, id.toStdString());
        QStringList lines;
        for (const auto& s : result.finding)
            lines << QString::fromStdString(s);
        m_finding->setPlainText(lines.join("\n\n"));
        int done = 0;
        for (const auto& s : result.stages)
            done += s.state != "pending" && s.state != "running";
        const bool running = m_job && m_job->running();
        m_progress->setValue(result.stages.empty() ? 0 : done * 1000 / static_cast<int>(result.stages.size()));
        if (!running)
            m_progressText->setText(result.complete ? tr("Finished: %1 stages.").arg(result.stages.size())
                                                    : tr("%1 of %2 stages done; Resume continues.").arg(done).arg(result.stages.size()));
        m_stopButton->setEnabled(running);
        m_resumeButton->setEnabled(!running && !result.complete);
        const auto table = core::readCsv(core::experimentDir(*project, id.toStdString()) + "/table.csv");
        m_table->clear();
        m_table->setColumnCount(static_cast<int>(table.header.size()));
        m_table->setRowCount(static_cast<int>(table.rows.size()));
        QStringList header;
        for (const auto& h : table.header)
            header << QString::fromStdString(h);
        m_table->setHorizontalHeaderLabels(header);
        for (size_t i = 0; i < table.rows.size(); ++i)
            for (size_t j = 0; j < table.rows[i].size(); ++j)
                m_table->setItem(static_cast<int>(i), static_cast<int>(j), new QTableWidgetItem(QString::fromStdString(table.rows[i][j])));
        m_table->resizeColumnsToContents();
        // Read once here (with the result); the figures paint from these.
        auto arms = std::make_shared<const std::vector<core::ExperimentArmCurves>>(result.arms);
        m_figure->setFigure([arms](QPainter& p, const QRectF& area) { drawExperimentCurves(p, area, *arms); });
        m_labels->setFigure([arms](QPainter& p, const QRectF& area) { drawLabelEfficiency(p, area, *arms); });
    } catch (const std::exception& e) {
        m_finding->setPlainText(QString::fromUtf8(e.what()));
    }
}

QString ExperimentDialog::findingText() const { return m_finding->toPlainText(); }

} // namespace medsiam::ui
