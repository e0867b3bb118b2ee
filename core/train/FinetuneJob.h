#pragma once
// Supervised training of a classifier as a resumable job (fine-tuning with BiT-HyperRule
// defaults, or upstream training of a transfer source): runs/<id>/ as for pretraining, plus
// per-image val/test probabilities stored in the project.
#include "train/JobEvents.h"
#include "train/TrainConfig.h"

#include <string>

namespace medsiam::core {

class Project;

/// The schedule a fine-tuning run follows: the HyperRule's, scaled to `steps` when set.
struct FinetuneSchedule {
    int64_t totalSteps = 0, warmupSteps = 0;
    std::vector<int64_t> decaySteps;
    double mixupAlpha = 0;
    int resize = 0, crop = 0;
    double lr(double baseLr, int64_t step) const; ///< linear warmup, then x0.1 at each decay
};
FinetuneSchedule finetuneSchedule(const FinetuneConfig& config, int64_t examples, int rows, int columns, int cacheSide);

class FinetuneJob {
public:
    /// Creates a new run, as PretrainJob::create does.
    static std::string create(Project& project, const FinetuneConfig& config, bool checkWeights = true);
    FinetuneJob(Project& project, std::string runId);
    const FinetuneConfig& config() const { return m_config; }
    const std::string& id() const { return m_id; }
    int64_t resumeStep() const;
    /// Trains (continuing from the last checkpoint when there is one), then evaluates on val and
    /// test and stores the predictions. Never throws; failures end in JobState::Failed.
    JobState run(JobObserver& observer, JobControl& control);

private:
    Project& m_project;
    std::string m_id;
    FinetuneConfig m_config;
};

/// The input size a fine-tuned run evaluates at (its crop).
int evaluationSize(Project& project, const std::string& runId);

/// Evaluates a fine-tuned run's last checkpoint on val and test (for example after labels were
/// corrected) and replaces its stored predictions. Throws UserError.
std::vector<EvalEvent> evaluateRun(Project& project, const std::string& runId, bool bf16 = false);

} // namespace medsiam::core
