#include "training/NewRunDialog.h"

#include "data/Augment.h"
#include "data/ImageCache.h"
#include "models/ModelConfig.h"
#include "project/Project.h"
#include "project/ProjectSession.h"
#include "project/RunChoice.h"
#include "system/Runtime.h"
#include "train/FinetuneJob.h"
#include "train/PretrainJob.h"
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
    m_backbone->setCurrentIndex(std::max(0, m_backbone->findData(QStringLiteral("bit-nano"))));
    m_norm = new QComboBox(this);
    m_norm->addItem(tr("GroupNorm + weight standardization (BiT)"), QStringLiteral("gn_ws"));
    m_norm->addItem(tr("BatchNorm + weight standardization (Lu, Jha and Huo)"), QStringLiteral("bn_ws"));
    m_norm->addItem(tr("BatchNorm"), QStringLiteral("bn"));
    m_norm->setToolTip(tr("BiT's GroupNorm, or BatchNorm as SimSiam expects: the paper's key comparison"));

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

    m_steps = new QSpinBox(this);
    m_steps->setRange(pre ? 1 : 0, 100000000);
    m_steps->setValue(pre ? 300 : 0);
    if (!pre)
        m_steps->setSpecialValueText(tr("BiT-HyperRule"));
    m_batch = new QSpinBox(this);
    m_batch->setRange(2, 65536);
    m_batch->setValue(pre ? 64 : 512);
    m_size = new QSpinBox(this);
    m_size->setRange(pre ? 16 : 0, 4096);
    m_size->setValue(pre ? 64 : 0);
    m_size->setSuffix(tr(" px"));
    if (!pre)
        m_size->setSpecialValueText(tr("BiT-HyperRule"));
    m_lr = new QDoubleSpinBox(this);
    m_lr->setDecimals(5);
    m_lr->setRange(1e-5, 100);
    m_lr->setSingleStep(pre ? 0.01 : 0.001);
    m_lr->setValue(pre ? 0.05 : 0.003);
    m_lr->setToolTip(pre ? tr("Base learning rate: lr = base x batch / 256, with cosine decay")
                         : tr("Learning rate at batch 512, scaled linearly with the batch"));
    m_seed = new QSpinBox(this);
    m_seed->setRange(0, 2147483647);
    m_bf16 = new QCheckBox(tr("bf16 autocast (CPUs with AVX512-BF16, or CUDA)"), this);
    m_cuda = new QCheckBox(tr("Train on the GPU"), this);
    const bool cuda = core::runtimeInfo().cudaAvailable;
    m_cuda->setEnabled(cuda);
    m_cuda->setToolTip(cuda ? QString() : tr("No CUDA device is available to this LibTorch"));

    auto* form = new QFormLayout;
    form->addRow(tr("Backbone:"), m_backbone);
    form->addRow(tr("Normalization:"), m_norm);
    form->addRow(tr("Start from:"), m_init);
    form->addRow(QString(), initRow);
    form->addRow(tr("Steps:"), m_steps);
    form->addRow(pre ? tr("Batch:") : tr("Effective batch:"), m_batch);
    form->addRow(pre ? tr("Input size:") : tr("Crop size:"), m_size);
    form->addRow(pre ? tr("Base learning rate:") : tr("Learning rate:"), m_lr);
    form->addRow(tr("Seed:"), m_seed);
    form->addRow(QString(), m_bf16);
    form->addRow(QString(), m_cuda);
    if (pre) {
        m_stopGradient = new QCheckBox(tr("Stop-gradient (SimSiam; switch off only to watch collapse happen)"), this);
        m_stopGradient->setChecked(true);
        form->addRow(QString(), m_stopGradient);
    } else {
        m_classWeighted = new QCheckBox(tr("Weight the loss by inverse class frequency"), this);
        m_balanced = new QCheckBox(tr("Draw every class equally often"), this);
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
    m_summary = new QLabel(pre ? tr("Trains without labels on the %n image(s) outside the val and test splits.", nullptr, int(pool))
                               : tr("Trains a %1-class classifier on the %n labeled train image(s), then evaluates on val and test.",
                                    nullptr, int(pool))
                                     .arg(session.classes().size()),
                           this);
    m_summary->setWordWrap(true);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Start"));
    connect(buttons, &QDialogButtonBox::accepted, this, &NewRunDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_summary);
    layout->addLayout(form);
    layout->addWidget(buttons);
    connect(m_backbone, &QComboBox::currentIndexChanged, this, &NewRunDialog::updateNormChoices);
    updateNormChoices();
}

void NewRunDialog::updateNormChoices()
{
    const auto b = core::backbonePreset(m_backbone->currentData().toString().toStdString());
    const bool v2 = b.arch == core::BackboneArch::ResNetV2;
    m_norm->setEnabled(v2);
    m_norm->setCurrentIndex(std::max(0, m_norm->findData(QString::fromLatin1(v2 ? core::toString(b.norm) : "bn"))));
}

core::ModelConfig NewRunDialog::model() const
{
    core::ModelConfig m;
    m.backbone = core::backbonePreset(m_backbone->currentData().toString().toStdString());
    if (m.backbone.arch == core::BackboneArch::ResNetV2)
        m.backbone.norm = core::parseBackboneNorm(m_norm->currentData().toString().toStdString());
    m.backbone.inChannels = 1;
    if (const auto cache = m_session.cache())
        for (const auto& e : cache->entries())
            if (e.channels == 3) {
                m.backbone.inChannels = 3;
                break;
            }
    m.heads = core::defaultHeads(m.backbone);
    return m;
}

std::string NewRunDialog::initWeights() const
{
    const QString choice = m_init->currentData().toString();
    if (choice == QLatin1String("file")) {
        const QString f = m_initFile->text().trimmed();
        if (f.isEmpty())
            throw core::UserError("choose the weights file to start from, or start from random initialization");
        if (!QFileInfo(f).isFile())
            throw core::UserError("the weights file '" + f.toStdString() + "' does not exist");
        return f.toStdString();
    }
    if (choice.startsWith(QLatin1String("run:")))
        return core::lastCheckpoint(m_session.project(), choice.mid(4).toStdString());
    return {};
}

void NewRunDialog::accept()
{
    m_error.clear();
    try {
        core::Project& project = m_session.project();
        if (m_session.rows().empty())
            throw core::UserError("the project has no images yet: import some first");
        if (m_kind == Kind::Pretrain) {
            core::PretrainConfig c;
            c.model = model();
            c.model.simsiamHeads = true;
            c.initWeights = initWeights();
            c.steps = m_steps->value();
            c.batch = m_batch->value();
            c.inputSize = m_size->value();
            c.baseLr = m_lr->value();
            c.seed = static_cast<uint64_t>(m_seed->value());
            c.bf16 = m_bf16->isChecked();
            c.cuda = m_cuda->isChecked();
            c.stopGradient = m_stopGradient->isChecked();
            c.checkpointEvery = std::min<int64_t>(50, c.steps);
            c.augment = core::AugmentConfig::fromJson(project.setting("augment", "{}"));
            int64_t pool = 0;
            for (const auto& r : m_session.rows())
                pool += r.split != "val" && r.split != "test";
            if (pool < c.batch)
                throw core::UserError("SimSiam needs at least one full batch: " + std::to_string(pool) +
                                      " images outside val and test, batch " + std::to_string(c.batch));
            m_runId = QString::fromStdString(core::PretrainJob::create(project, c));
        } else {
            core::FinetuneConfig c;
            c.model = model();
            c.model.backbone.numClasses = static_cast<int>(m_session.classes().size());
            if (c.model.backbone.numClasses < 2)
                throw core::UserError("the project has " + std::to_string(c.model.backbone.numClasses) +
                                      " classes; fine-tuning needs labeled images of at least two (Label > Edit Classes)");
            c.initWeights = initWeights();
            c.steps = m_steps->value();
            c.batch = m_batch->value();
            c.microBatch = std::min(c.batch, 64);
            c.crop = m_size->value();
            c.lr = m_lr->value();
            c.seed = static_cast<uint64_t>(m_seed->value());
            c.bf16 = m_bf16->isChecked();
            c.cuda = m_cuda->isChecked();
            c.classWeighted = m_classWeighted->isChecked();
            c.balancedSampler = m_balanced->isChecked();
            m_runId = QString::fromStdString(core::FinetuneJob::create(project, c));
        }
    } catch (const std::exception& e) {
        m_error = QString::fromStdString(e.what());
        QMessageBox::warning(this, tr("Cannot start the run"), m_error);
        return;
    }
    QDialog::accept();
}

} // namespace medsiam::ui
