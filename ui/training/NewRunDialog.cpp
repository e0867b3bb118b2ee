#include "training/NewRunDialog.h"

#include "common/Count.h"
#include "models/ModelConfig.h"
#include "training/WeightCheckJob.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunChoice.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"
#include "train/PretrainJob.h"
#include "train/RunRequest.h"
#include "train/TrainConfig.h"
#include "util/Error.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QProgressBar>
#include <QSettings>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>

namespace medsiam::ui {

NewRunDialog::NewRunDialog(ProjectSession& session, Kind kind, QWidget* parent) : QDialog(parent), m_session(session), m_kind(kind)
{
    const bool pre = kind == Kind::Pretrain;
    setWindowTitle(pre ? tr("New SimSiam Pretraining") : tr("New Fine-tuning"));
    m_backbone = new QComboBox(this);
    for (const auto& p : core::backbonePresets()) {
        m_backbone->addItem(QString::fromStdString(p.name), QString::fromStdString(p.name));
        m_backbone->setItemData(m_backbone->count() - 1, QString::fromStdString(p.description), Qt::ToolTipRole);
    }
    m_backbone->setCurrentIndex(std::max(0, m_backbone->findData(QString::fromLatin1(core::kDefaultBackbone))));
    m_norm = new QComboBox(this);
    m_norm->addItem(tr("GroupNorm + weight standardization (BiT)"), QStringLiteral("gn_ws"));
    m_norm->addItem(tr("BatchNorm + weight standardization (Lu, Jha and Huo)"), QStringLiteral("bn_ws"));
    m_norm->addItem(tr("BatchNorm"), QStringLiteral("bn"));
    m_norm->setToolTip(tr("How the network keeps its numbers in range. GroupNorm + weight standardization (as in BiT) works "
                          "with the small batches a workstation holds and suits BiT weights; BatchNorm is the classic way "
                          "and needs large batches. Which works better on your images is what New Experiment compares."));

    m_init = new QComboBox(this);
    m_init->addItem(tr("Random initialization"), QString());
    m_init->addItem(tr("Weights file (BiT .npz, timm or torchvision, medsiam checkpoint)"), QStringLiteral("file"));
    auto runs = session.project().runs();
    std::reverse(runs.begin(), runs.end()); // newest first
    for (const auto& r : runs)
        if (hasCheckpoint(session.project(), r))
            m_init->addItem(tr("Run %1 (%2)").arg(QString::fromStdString(r.id), QString::fromStdString(r.kind)),
                            QStringLiteral("run:") + QString::fromStdString(r.id));
    m_initFile = new QLineEdit(this);
    m_initFile->setPlaceholderText(tr("path to the weights"));
    auto* browse = new QPushButton(tr("Browse..."), this);
    auto* initRow = new QHBoxLayout;
    initRow->addWidget(m_initFile, 1);
    initRow->addWidget(browse);
    auto updateInit = [this, browse] {
        const bool file = m_init->currentData().toString() == QLatin1String("file");
        m_initFile->setEnabled(file);
        browse->setEnabled(file);
    };
    connect(m_init, &QComboBox::currentIndexChanged, this, updateInit);
    updateInit();
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Initial weights"), QString(),
                                                       tr("Weights (*.npz *.pt *.pth *.bin *.safetensors);;All files (*)"));
        if (!f.isEmpty())
            m_initFile->setText(f);
    });

    // The defaults are core's (the configurations' own), as the CLI's are.
    const core::PretrainConfig pd;
    const core::FinetuneConfig fd;
    // How long: a time budget (the schedule is sized to end within it) or a number of steps.
    m_length = new QComboBox(this);
    m_length->addItem(tr("Train for a time budget"), QStringLiteral("budget"));
    m_length->addItem(tr("Train for a number of steps"), QStringLiteral("steps"));
    m_budget = new QSpinBox(this);
    m_budget->setRange(1, 30 * 24 * 60);
    m_budget->setValue(kDefaultBudgetMinutes);
    m_budget->setSuffix(tr(" min"));
    m_budget->setToolTip(tr("The whole run, evaluation included, ends within this time: its speed is measured on the first "
                            "steps and its schedule sized to fit"));
    m_steps = new QSpinBox(this);
    m_steps->setRange(pre ? 1 : 0, 100000000);
    m_steps->setValue(pre ? int(pd.steps) : int(fd.steps));
    if (!pre)
        m_steps->setSpecialValueText(tr("by the recipe"));
    const auto updateLength = [this] {
        const bool budget = m_length->currentData().toString() == QLatin1String("budget");
        m_budget->setEnabled(budget);
        m_steps->setEnabled(!budget);
    };
    connect(m_length, &QComboBox::currentIndexChanged, this, updateLength);
    // Editing one of the two chooses it.
    connect(m_steps, &QSpinBox::valueChanged, this, [this] { m_length->setCurrentIndex(m_length->findData(QStringLiteral("steps"))); });
    connect(m_budget, &QSpinBox::valueChanged, this, [this] { m_length->setCurrentIndex(m_length->findData(QStringLiteral("budget"))); });
    updateLength();
    m_batch = new QSpinBox(this);
    m_batch->setRange(1, 65536);
    m_batch->setValue(pre ? pd.batch : fd.batch);
    m_size = new QSpinBox(this);
    m_size->setRange(pre ? 16 : 0, 4096);
    m_size->setValue(pre ? pd.inputSize : fd.crop);
    m_size->setSuffix(tr(" px"));
    if (!pre)
        m_size->setSpecialValueText(tr("by the recipe"));
    m_lr = new QDoubleSpinBox(this);
    m_lr->setDecimals(5);
    m_lr->setRange(1e-5, 100);
    m_lr->setSingleStep(pre ? 0.01 : 0.001);
    m_lr->setValue(pre ? pd.baseLr : fd.lr);
    m_lr->setToolTip(pre ? tr("How large a correction each step makes: too large and learning goes astray, too small and "
                              "it crawls. Base learning rate: lr = base x batch / 256, lowered gradually to the end.")
                         : tr("How large a correction each step makes: too large and learning goes astray, too small and "
                              "it crawls. Left as it is, the recipe's own: AdamW 0.002, or BiT-HyperRule's 0.003 at "
                              "batch 512 (scaled with the batch)."));
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, 2147483647);
    m_bf16 = new QCheckBox(tr("bf16 autocast (on by default where the CPU has AVX512-BF16)"), this);
    m_bf16->setChecked(core::machineContext().cpuBf16);
    m_cuda = new QCheckBox(tr("Train on the GPU"), this);
    const bool cuda = core::runtimeInfo().cudaAvailable;
    m_cuda->setEnabled(cuda);
    m_cuda->setToolTip(cuda ? QString() : tr("No CUDA device is available to this LibTorch"));

    // What each setting means, in plain words (docs/USER_GUIDE.md, section 10).
    m_backbone->setToolTip(tr("The network's size and shape. Larger ones can learn more but train more slowly; the "
                              "tiny ones are for trying things out. Hover over an entry for its description."));
    m_init->setToolTip(pre ? tr("Where the network starts. BiT weights (learned from millions of everyday photographs) "
                                "usually learn faster than random ones; a previous run continues from what it learned.")
                           : tr("Where the classifier starts. A completed SimSiam run (learned from these very images, "
                                "without labels) or BiT weights usually beat random ones, most of all with few labels."));
    m_length->setToolTip(tr("Give a time and medsiam sizes the training to end within it, or give the number of steps "
                            "(one step learns from one batch of images)."));
    m_steps->setToolTip(pre ? tr("How many batches of images to learn from.")
                            : tr("How many batches of images to learn from; \"by the recipe\" lets BiT-HyperRule choose from "
                                 "the number of labeled images (its schedule for small, medium and large datasets)."));
    m_batch->setToolTip(tr("How many images are looked at together in one step. Larger batches are steadier but need more "
                           "memory; a fine-tune's effective batch is gathered in smaller pieces when memory is short."));
    m_size->setToolTip(pre ? tr("The side, in pixels, of the image pieces the network sees. Larger sees finer detail, "
                                "and is slower.")
                           : tr("The side, in pixels, of the images the classifier sees; \"by the recipe\" follows "
                                "BiT-HyperRule (from the project's image size)."));
    m_seed->setToolTip(tr("Fixes the random choices (the order of images, the alterations), so that a run can be "
                          "repeated exactly. Change it to see how much results vary by chance."));
    m_bf16->setToolTip(tr("Computes in a shorter number format: several times faster on CPUs that support it, with "
                          "the same results for practical purposes."));
    if (cuda)
        m_cuda->setToolTip(tr("Trains on the graphics card: much faster for the larger networks."));

    auto* form = new QFormLayout;
    form->addRow(tr("Backbone:"), m_backbone);
    form->addRow(tr("Normalization:"), m_norm);
    form->addRow(tr("Start from:"), m_init);
    form->addRow(QString(), initRow);
    form->addRow(tr("Length:"), m_length);
    form->addRow(tr("Time budget:"), m_budget);
    form->addRow(tr("Steps:"), m_steps);
    if (!pre) {
        m_recipe = new QLabel(this);
        m_recipe->setWordWrap(true);
        form->addRow(tr("Recipe:"), m_recipe);
        connect(m_init, &QComboBox::currentIndexChanged, this, &NewRunDialog::updateRecipe);
        connect(m_initFile, &QLineEdit::editingFinished, this, &NewRunDialog::updateRecipe);
        updateRecipe();
    }
    form->addRow(pre ? tr("Batch:") : tr("Effective batch:"), m_batch);
    form->addRow(pre ? tr("Input size:") : tr("Crop size:"), m_size);
    form->addRow(pre ? tr("Base learning rate:") : tr("Learning rate:"), m_lr);
    form->addRow(tr("Seed:"), m_seed);
    form->addRow(QString(), m_bf16);
    form->addRow(QString(), m_cuda);
    if (pre) {
        m_stopGradient = new QCheckBox(tr("Stop-gradient (SimSiam; switch off only to watch collapse happen)"), this);
        m_stopGradient->setChecked(true);
        m_stopGradient->setToolTip(tr("SimSiam shows the network two altered copies of each image and teaches it that they "
                                      "are the same. Stop-gradient is what keeps it from the shortcut of giving every image "
                                      "the same answer (collapse); the collapse monitor in Training Runs warns when that "
                                      "happens. Leave it on."));
        form->addRow(QString(), m_stopGradient);
    } else {
        m_classWeighted = new QCheckBox(tr("Weight the loss by inverse class frequency"), this);
        m_balanced = new QCheckBox(tr("Draw every class equally often"), this);
        m_classWeighted->setToolTip(tr("Counts a mistake on a rare class as much as all the mistakes on a common one, so the "
                                       "classifier does not learn to answer the common class always."));
        m_balanced->setToolTip(tr("Shows the classifier the images of each class equally often, however many each has."));
        form->addRow(QString(), m_classWeighted);
        form->addRow(QString(), m_balanced);
    }

    // What the run will train on, from the catalogue.
    int64_t pool = 0;
    for (const auto& r : session.rows()) {
        if (pre)
            pool += r.split != "val" && r.split != "test";
        else
            pool += r.split == "train" && r.classId > 0;
    }
    m_summary = new QLabel(pre ? tr("Trains without labels on the %1 outside the val and test splits.")
                                     .arg(countOf(pool, tr("image"), tr("images")))
                               : tr("Trains a %1-class classifier on the %2, then evaluates on val and test.")
                                     .arg(session.classes().size())
                                     .arg(countOf(pool, tr("labeled train image"), tr("labeled train images"))),
                           this);
    m_summary->setWordWrap(true);

    m_checkLabel = new QLabel(this);
    m_checkLabel->setWordWrap(true);
    m_checkLabel->hide();
    m_checkBusy = new QProgressBar(this);
    m_checkBusy->setRange(0, 0);
    m_checkBusy->hide();
    auto* buttons = m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Start"));
    connect(buttons, &QDialogButtonBox::accepted, this, &NewRunDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_summary);
    layout->addLayout(form);
    layout->addWidget(m_checkLabel);
    layout->addWidget(m_checkBusy);
    layout->addWidget(buttons);
    connect(m_backbone, &QComboBox::currentIndexChanged, this, &NewRunDialog::updateNormChoices);
    updateNormChoices();
    m_initial = {m_backbone->currentData().toString(), m_norm->currentData().toString(), m_steps->value(), m_batch->value(),
                 m_size->value(), m_seed->value(), m_lr->value()};
    // core's defaults are what a request is measured against (above); the fields start from the
    // values used last time, and a classifier from the project's newest SimSiam run.
    auto* defaults = buttons->addButton(QDialogButtonBox::RestoreDefaults);
    defaults->setToolTip(tr("Back to medsiam's defaults"));
    connect(defaults, &QPushButton::clicked, this, &NewRunDialog::restoreDefaults);
    restoreLastValues();
    chooseStart();
}

QString NewRunDialog::settingsGroup() const
{
    return m_kind == Kind::Pretrain ? QStringLiteral("newRunDialog/pretrain") : QStringLiteral("newRunDialog/finetune");
}

void NewRunDialog::restoreLastValues()
{
    QSettings settings;
    settings.beginGroup(settingsGroup());
    if (!settings.contains(QStringLiteral("batch")))
        return; // first use: core's defaults
    auto choose = [](QComboBox* box, const QVariant& data) {
        const int at = box->findData(data);
        if (at >= 0)
            box->setCurrentIndex(at);
    };
    choose(m_backbone, settings.value(QStringLiteral("backbone")));
    if (m_norm->isEnabled())
        choose(m_norm, settings.value(QStringLiteral("norm")));
    m_budget->setValue(settings.value(QStringLiteral("budget"), m_budget->value()).toInt());
    m_steps->setValue(settings.value(QStringLiteral("steps"), m_steps->value()).toInt());
    choose(m_length, settings.value(QStringLiteral("length"))); // after the two, which choose it when edited
    m_batch->setValue(settings.value(QStringLiteral("batch"), m_batch->value()).toInt());
    m_size->setValue(settings.value(QStringLiteral("size"), m_size->value()).toInt());
    m_lr->setValue(settings.value(QStringLiteral("lr"), m_lr->value()).toDouble());
    m_seed->setValue(settings.value(QStringLiteral("seed"), m_seed->value()).toInt());
    m_bf16->setChecked(settings.value(QStringLiteral("bf16"), m_bf16->isChecked()).toBool());
    if (m_cuda->isEnabled())
        m_cuda->setChecked(settings.value(QStringLiteral("cuda"), false).toBool());
    if (m_stopGradient)
        m_stopGradient->setChecked(settings.value(QStringLiteral("stopGradient"), true).toBool());
    if (m_classWeighted)
        m_classWeighted->setChecked(settings.value(QStringLiteral("classWeighted"), false).toBool());
    if (m_balanced)
        m_balanced->setChecked(settings.value(QStringLiteral("balanced"), false).toBool());
    // A start that is still there: a weights file that exists, or a run of this project.
    const QString init = settings.value(QStringLiteral("init")).toString();
    const QString file = settings.value(QStringLiteral("initFile")).toString();
    if (init == QLatin1String("file") && QFileInfo(file).isFile()) {
        choose(m_init, init);
        m_initFile->setText(file);
    } else if (init.startsWith(QLatin1String("run:"))) {
        choose(m_init, init);
    }
    if (m_recipe)
        updateRecipe();
}

void NewRunDialog::chooseStart()
{
    if (m_kind != Kind::Finetune)
        return;
    if (const auto run = core::suggestedFinetuneStart(m_session.project())) {
        const int at = m_init->findData(QStringLiteral("run:") + QString::fromStdString(*run));
        if (at >= 0) {
            m_init->setCurrentIndex(at);
            m_init->setToolTip(tr("The project's newest completed SimSiam run: its features were learnt from these images"));
        }
    }
}

void NewRunDialog::rememberValues() const
{
    QSettings settings;
    settings.beginGroup(settingsGroup());
    settings.setValue(QStringLiteral("backbone"), m_backbone->currentData());
    settings.setValue(QStringLiteral("norm"), m_norm->currentData());
    settings.setValue(QStringLiteral("length"), m_length->currentData());
    settings.setValue(QStringLiteral("budget"), m_budget->value());
    settings.setValue(QStringLiteral("steps"), m_steps->value());
    settings.setValue(QStringLiteral("batch"), m_batch->value());
    settings.setValue(QStringLiteral("size"), m_size->value());
    settings.setValue(QStringLiteral("lr"), m_lr->value());
    settings.setValue(QStringLiteral("seed"), m_seed->value());
    settings.setValue(QStringLiteral("bf16"), m_bf16->isChecked());
    settings.setValue(QStringLiteral("cuda"), m_cuda->isChecked());
    if (m_stopGradient)
        settings.setValue(QStringLiteral("stopGradient"), m_stopGradient->isChecked());
    if (m_classWeighted)
        settings.setValue(QStringLiteral("classWeighted"), m_classWeighted->isChecked());
    if (m_balanced)
        settings.setValue(QStringLiteral("balanced"), m_balanced->isChecked());
    settings.setValue(QStringLiteral("init"), m_init->currentData());
    settings.setValue(QStringLiteral("initFile"), m_initFile->text());
}

void NewRunDialog::restoreDefaults()
{
    m_backbone->setCurrentIndex(std::max(0, m_backbone->findData(m_initial.backbone)));
    if (m_norm->isEnabled())
        m_norm->setCurrentIndex(std::max(0, m_norm->findData(m_initial.norm)));
    m_budget->setValue(kDefaultBudgetMinutes);
    m_steps->setValue(m_initial.steps);
    m_length->setCurrentIndex(m_length->findData(QStringLiteral("budget")));
    m_batch->setValue(m_initial.batch);
    m_size->setValue(m_initial.size);
    m_lr->setValue(m_initial.lr);
    m_seed->setValue(m_initial.seed);
    m_bf16->setChecked(core::machineContext().cpuBf16);
    m_cuda->setChecked(false);
    if (m_stopGradient)
        m_stopGradient->setChecked(true);
    if (m_classWeighted)
        m_classWeighted->setChecked(false);
    if (m_balanced)
        m_balanced->setChecked(false);
    m_init->setCurrentIndex(0);
    chooseStart();
}

NewRunDialog::~NewRunDialog() = default;

void NewRunDialog::updateNormChoices()
{
    const auto b = core::backbonePreset(m_backbone->currentData().toString().toStdString());
    const bool v2 = b.arch == core::BackboneArch::ResNetV2;
    m_norm->setEnabled(v2);
    m_norm->setCurrentIndex(std::max(0, m_norm->findData(QString::fromLatin1(v2 ? core::toString(b.norm) : "bn"))));
}

void NewRunDialog::updateRecipe()
{
    const QString choice = m_init->currentData().toString();
    // A file is judged by its header only (a medsiam checkpoint or other weights): cheap.
    const std::string weights = choice == QLatin1String("file") ? m_initFile->text().trimmed().toStdString() : std::string();
    const bool hyperRule = core::recipeFor(weights) == core::kRecipeHyperRule;
    m_recipe->setText(hyperRule ? tr("BiT-HyperRule: SGD with momentum, step decays and MixUp, for ImageNet-class weights")
                                : tr("AdamW with a cosine schedule, augmentation and class balancing, for random init or a "
                                     "medsiam run (docs/TRAINING.md)"));
}

core::RunRequest NewRunDialog::request() const
{
    core::RunRequest r;
    if (m_backbone->currentData().toString() != m_initial.backbone)
        r.backbone = m_backbone->currentData().toString().toStdString();
    if (m_norm->isEnabled() && m_norm->currentData().toString() != m_initial.norm)
        r.norm = m_norm->currentData().toString().toStdString();
    const QString choice = m_init->currentData().toString();
    if (choice == QLatin1String("file"))
        r.initFile = m_initFile->text().trimmed().toStdString();
    else if (choice.startsWith(QLatin1String("run:")))
        r.initRun = choice.mid(4).toStdString();
    if (m_length->currentData().toString() == QLatin1String("budget"))
        r.budgetSeconds = 60.0 * m_budget->value();
    else if (m_steps->value() != m_initial.steps)
        r.steps = m_steps->value();
    if (m_batch->value() != m_initial.batch)
        r.batch = m_batch->value();
    if (m_size->value() != m_initial.size)
        r.inputSize = m_size->value();
    if (m_lr->value() != m_initial.lr)
        r.lr = m_lr->value();
    if (m_seed->value() != m_initial.seed)
        r.seed = static_cast<uint64_t>(m_seed->value());
    if (m_bf16->isChecked() != core::machineContext().cpuBf16 || m_cuda->isChecked())
        r.bf16 = m_bf16->isChecked();
    r.cuda = m_cuda->isChecked();
    if (m_stopGradient)
        r.noStopGradient = !m_stopGradient->isChecked();
    if (m_classWeighted)
        r.classWeighted = m_classWeighted->isChecked();
    if (m_balanced)
        r.balancedSampler = m_balanced->isChecked();
    return r;
}

bool NewRunDialog::checking() const { return m_check && m_check->running(); }

void NewRunDialog::refuse(const QString& message)
{
    m_error = message;
    QMessageBox::warning(this, tr("Cannot start the run"), m_error);
}

void NewRunDialog::accept()
{
    if (checking())
        return;
    m_error.clear();
    m_pretrain.reset();
    m_finetune.reset();
    const core::RunContext context = core::machineContext();
    std::string weights;
    const core::ModelConfig* model = nullptr;
    if (m_kind == Kind::Pretrain) {
        auto built = core::buildPretrain(m_session.project(), request(), context);
        if (!built.ok())
            return refuse(QString::fromStdString(built.message()));
        m_pretrain = *built.config;
        weights = m_pretrain->initWeights;
        model = &m_pretrain->model;
    } else {
        auto built = core::buildFinetune(m_session.project(), request(), context);
        if (!built.ok())
            return refuse(QString::fromStdString(built.message()));
        m_finetune = *built.config;
        weights = m_finetune->initWeights;
        model = &m_finetune->model;
    }
    if (weights.empty())
        return createRun();
    // Off the GUI thread: the file is read whole and fitted to a network.
    m_check = std::make_unique<WeightCheckJob>(*model, weights, m_kind == Kind::Finetune);
    connect(m_check.get(), &BackgroundJob::finished, this, &NewRunDialog::weightsChecked);
    const QFileInfo info(QString::fromStdString(weights));
    m_checkLabel->setText(tr("Checking the weights in %1 (%2 MB) against %3 ...")
                              .arg(info.fileName())
                              .arg(double(info.size()) / (1 << 20), 0, 'f', 1)
                              .arg(QString::fromStdString(model->backbone.name)));
    m_checkLabel->show();
    m_checkBusy->show();
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(false);
    m_check->start();
}

void NewRunDialog::weightsChecked(core::JobState state, const QString& message)
{
    m_checkBusy->hide();
    m_checkLabel->hide();
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(true);
    if (m_closeAfterCheck) {
        QDialog::reject();
        return;
    }
    if (state != core::JobState::Completed)
        return refuse(message);
    createRun();
}

void NewRunDialog::createRun()
{
    try {
        const std::string id = m_pretrain ? core::PretrainJob::create(m_session.project(), *m_pretrain, false)
                                          : core::FinetuneJob::create(m_session.project(), *m_finetune, false);
        m_runId = QString::fromStdString(id);
    } catch (const std::exception& e) {
        return refuse(QString::fromStdString(e.what()));
    }
    rememberValues();
    QDialog::accept();
}

void NewRunDialog::reject()
{
    if (checking()) {
        // The check cannot be interrupted mid-file; the dialog closes as soon as it is done.
        m_closeAfterCheck = true;
        m_checkLabel->setText(tr("Closing once the weights file has been read ..."));
        return;
    }
    QDialog::reject();
}

} // namespace medsiam::ui
