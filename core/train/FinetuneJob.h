#pragma once
// Supervised training of a classifier as a resumable job (fine-tuning by the HyperRule or the
// AdamW recipe, or upstream training of a transfer source): runs/<id>/ as for pretraining, plus
// the checkpoint with the best validation score, and per-image val/test probabilities of the
// selected checkpoint stored in the project.
#include "train/Budget.h"
#include "train/JobEvents.h"
#include "train/TrainConfig.h"

#include <string>
#include <vector>

namespace medsiam::core {

class Project;
class ProcessGroup;

/// The schedule a fine-tuning run follows: the HyperRule's (scaled to `steps` when set), or the
/// AdamW recipe's cosine; in fractions of the run, so that a budget can size it.
struct FinetuneSchedule {
    int64_t totalSteps = 0;  ///< 0: a budgeted run that has not measured its speed yet
    LrSchedule lr;
    double mixupAlpha = 0;
    int resize = 0, crop = 0;
    AugmentConfig augment;   ///< the training views
};
FinetuneSchedule finetuneSchedule(const FinetuneConfig& config, int64_t examples, int rows, int columns, int cacheSide);

/// Epochs of an AdamW-recipe run given neither steps nor a budget.
constexpr int kAdamWDefaultEpochs = 30;

/// How a classifier is chosen among its checkpoints: ROC AUC for two classes, balanced accuracy
/// otherwise (NaN AUC counts as worst).
double selectionScore(const ClassificationMetrics& validation);
/// "val_auc" or "val_balanced_accuracy": what selectionScore measures for `classes` classes.
const char* selectionMetricName(int classes);

class FinetuneJob {
public:
    /// Creates a new run, as PretrainJob::create does.
    static std::string create(Project& project, const FinetuneConfig& config, bool checkWeights = true);
    FinetuneJob(Project& project, std::string runId);
    const FinetuneConfig& config() const { return m_config; }
    const std::string& id() const { return m_id; }
    int64_t resumeStep() const;
    /// Trains (continuing from the last checkpoint when there is one), keeping the checkpoint
    /// with the best validation score, then evaluates the selected one (the best, or the last
    /// when it scores as well) on val and test and stores its predictions. Never throws;
    /// failures end in JobState::Failed.
    JobState run(JobObserver& observer, JobControl& control);

    /// Trains data-parallel as one rank of `group`, as PretrainJob::setGroup describes: each rank
    /// takes batch / N of every step's batch (in micro-batches of at most --micro-batch), the
    /// gradients are averaged, and rank 0 alone validates, keeps the best checkpoint, evaluates
    /// and writes the run.
    void setGroup(ProcessGroup* group, int localRank = 0)
    {
        m_group = group;
        m_localRank = localRank;
    }

private:
    Project& m_project;
    std::string m_id;
    FinetuneConfig m_config;
    ProcessGroup* m_group = nullptr;
    int m_localRank = 0;
};

/// The configuration of the next round of an active-learning loop: run `runId`'s settings
/// (recipe, budget, augmentation, seed) started from its selected checkpoint, head included,
/// and planned afresh for the labels the project has now. Throws UserError when the run is
/// not a fine-tuned classifier or has no checkpoint.
FinetuneConfig retrainConfig(Project& project, const std::string& runId);

/// The input size a fine-tuned run evaluates at (its crop).
int evaluationSize(Project& project, const std::string& runId);

/// Evaluates a fine-tuned run's selected checkpoint on val and test (for example after labels
/// were corrected) and replaces its stored predictions. Throws UserError.
std::vector<EvalEvent> evaluateRun(Project& project, const std::string& runId, bool bf16 = false);

} // namespace medsiam::core
