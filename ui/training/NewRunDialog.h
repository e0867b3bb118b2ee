#pragma once
// The dialog that starts a training run: SimSiam pretraining or fine-tuning of a classifier.
#include "train/RunRequest.h"

#include <QDialog>
#include <QString>

#include <optional>
#include <memory>

class QCheckBox;
class QDialogButtonBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;

class QProgressBar;

namespace medsiam::core {
enum class JobState;
} // namespace medsiam::core

namespace medsiam::ui {

class ProjectSession;
class WeightCheckJob;

/// Collects a run's settings, starting from core's defaults (those of medsiam-cli pretrain /
/// finetune), and hands what the user changed to core's run builders (RunRequest.h), which
/// refuse what the CLI refuses, in the same words. A weights file to start from is checked
/// against the network on a worker thread (a BiT-R50x1 file is ~100 MB), with the dialog
/// responsive meanwhile; on success the run is created in the project (runs/<id>/config.json
/// and its record). A refused setting is explained and the dialog stays open with every field
/// kept. The fields start from the values last used for this kind of run (QSettings); a
/// fine-tune starts from the project's newest completed SimSiam run when it has one
/// (core::suggestedFinetuneStart). Restore Defaults brings back core's defaults.
class NewRunDialog : public QDialog {
    Q_OBJECT
public:
    enum class Kind { Pretrain, Finetune };
    NewRunDialog(ProjectSession& session, Kind kind, QWidget* parent = nullptr);
    ~NewRunDialog() override;

    Kind kind() const { return m_kind; }
    /// The id of the run created on OK.
    QString runId() const { return m_runId; }
    /// The last refusal, in words (empty when none).
    QString lastError() const { return m_error; }
    /// True while the weights file is being checked (the run is created once it fits).
    bool checking() const;

    // The fields, for tests and for presets.
    QComboBox* backbone() const { return m_backbone; }
    QComboBox* norm() const { return m_norm; }
    QComboBox* init() const { return m_init; }
    QLineEdit* initFile() const { return m_initFile; }
    QComboBox* length() const { return m_length; }
    /// The time budget in minutes (used when length() says "budget", the default).
    QSpinBox* budget() const { return m_budget; }
    QSpinBox* steps() const { return m_steps; }
    /// Fine-tuning: the recipe the chosen starting point gets.
    QLabel* recipe() const { return m_recipe; }
    static constexpr int kDefaultBudgetMinutes = 10;
    QSpinBox* batch() const { return m_batch; }
    QSpinBox* inputSize() const { return m_size; }
    QDoubleSpinBox* learningRate() const { return m_lr; }

    void accept() override;
    void reject() override;

private:
    /// The dialog's fields as a request: what differs from the values the dialog started with.
    core::RunRequest request() const;
    void updateNormChoices();
    QString settingsGroup() const;
    void restoreLastValues();
    void rememberValues() const;
    void restoreDefaults();
    /// A classifier's starting point: the project's newest completed SimSiam run, when there is one.
    void chooseStart();
    void updateRecipe();
    void refuse(const QString& message);
    /// Creates the run from the built configuration (after its weights were checked).
    void createRun();
    void weightsChecked(core::JobState state, const QString& message);

    ProjectSession& m_session;
    Kind m_kind;
    QComboBox* m_backbone;
    QComboBox* m_norm;
    QComboBox* m_init;
    QLineEdit* m_initFile;
    QComboBox* m_length;
    QSpinBox* m_budget;
    QSpinBox* m_steps;
    QLabel* m_recipe = nullptr;
    QSpinBox* m_batch;
    QSpinBox* m_size;
    QDoubleSpinBox* m_lr;
    QSpinBox* m_seed;
    QCheckBox* m_bf16;
    QCheckBox* m_cuda;
    QCheckBox* m_stopGradient = nullptr;  // pretraining
    QCheckBox* m_classWeighted = nullptr; // fine-tuning
    QCheckBox* m_balanced = nullptr;
    QLabel* m_summary;
    QLabel* m_checkLabel;
    QDialogButtonBox* m_buttons;
    QProgressBar* m_checkBusy;
    QString m_runId;
    QString m_error;
    std::unique_ptr<WeightCheckJob> m_check;
    bool m_closeAfterCheck = false;
    struct Initial {
        QString backbone, norm;
        int steps, batch, size, seed;
        double lr;
    } m_initial;
    // The configuration built on accept, kept while its weights are checked.
    std::optional<core::PretrainConfig> m_pretrain;
    std::optional<core::FinetuneConfig> m_finetune;
};

} // namespace medsiam::ui
