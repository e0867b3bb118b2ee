#pragma once
// The dialog that starts a training run: SimSiam pretraining or fine-tuning of a classifier.
#include <QDialog>
#include <QString>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace medsiam::core {
struct ModelConfig;
struct PretrainConfig;
struct FinetuneConfig;
} // namespace medsiam::core

namespace medsiam::ui {

class ProjectSession;

/// Collects a run's settings with the CLI's defaults (medsiam-cli pretrain / finetune), checks
/// them, and on OK creates the run in the project (runs/<id>/config.json and its record). A
/// setting the engine refuses is explained and the dialog stays open with every field kept.
class NewRunDialog : public QDialog {
    Q_OBJECT
public:
    enum class Kind { Pretrain, Finetune };
    NewRunDialog(ProjectSession& session, Kind kind, QWidget* parent = nullptr);

    Kind kind() const { return m_kind; }
    /// The id of the run created on OK.
    QString runId() const { return m_runId; }
    /// The last refusal, in words (empty when none).
    QString lastError() const { return m_error; }

    // The fields, for tests and for presets.
    QComboBox* backbone() const { return m_backbone; }
    QComboBox* norm() const { return m_norm; }
    QComboBox* init() const { return m_init; }
    QLineEdit* initFile() const { return m_initFile; }
    QSpinBox* steps() const { return m_steps; }
    QSpinBox* batch() const { return m_batch; }
    QSpinBox* inputSize() const { return m_size; }
    QDoubleSpinBox* learningRate() const { return m_lr; }

    void accept() override;

private:
    core::ModelConfig model() const;
    std::string initWeights() const;
    void updateNormChoices();

    ProjectSession& m_session;
    Kind m_kind;
    QComboBox* m_backbone;
    QComboBox* m_norm;
    QComboBox* m_init;
    QLineEdit* m_initFile;
    QSpinBox* m_steps;
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
    QString m_runId;
    QString m_error;
};

} // namespace medsiam::ui
