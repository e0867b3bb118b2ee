#pragma once
// "Train a Classifier": the guided path for someone who is not a machine-learning expert, and
// the one place that decides it, for the desktop app's dialog and `medsiam-cli train-classifier`.
//
//   1. assessClassifierReadiness: what the project has (labeled images per class and split,
//      patients) and whether that is enough, with what is missing in words;
//   2. ClassifierPlan: a time budget and a mode: "quick" fine-tunes only; "best" first runs
//      SimSiam on every image outside val and test, labeled or not, then fine-tunes from it;
//   3. runClassifierChain: the runs of the plan, one after the other, with one progress fraction;
//   4. plainWordsResult: the result as a sentence ("On 156 test images this model finds 82% of
//      malignant and 79% of benign cases (ROC AUC 0.88).").
// The runs are ordinary runs of the project: the expert views show, compare and continue them.
#include "train/JobEvents.h"
#include "train/RunRequest.h"
#include "train/RunSummary.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// Fewer labeled training images than this in a class is too few to learn it.
constexpr int64_t kMinTrainImagesPerClass = 10;
/// Fewer labeled test (or validation) images than this in a class makes its numbers unreliable.
constexpr int64_t kFewEvalImagesPerClass = 10;

struct ClassifierReadiness {
    struct ClassCount {
        std::string name;
        int64_t train = 0, val = 0, test = 0, noSplit = 0;
        int64_t labeled() const { return train + val + test + noSplit; }
    };
    std::vector<ClassCount> classes; ///< in class order
    int64_t images = 0, labeled = 0, unlabeled = 0;
    int64_t patients = 0;            ///< distinct patients among the images (0: the sources name none)
    int64_t withPatient = 0;         ///< images whose source names a patient
    int64_t leakingPatients = 0;     ///< patients with images in more than one split
    /// What stops a classifier from being trained, each a sentence saying what to do.
    std::vector<std::string> missing;
    /// What weakens the result without stopping it (no validation images, few test images, ...).
    std::vector<std::string> cautions;
    bool ready() const { return missing.empty(); }
    int64_t splitTotal(const char* split) const;
};

ClassifierReadiness assessClassifierReadiness(Project& project);

enum class ClassifierMode { Quick, Best };
/// "quick" or "best"; nullopt otherwise.
std::optional<ClassifierMode> parseClassifierMode(const std::string& text);
const char* toString(ClassifierMode mode);

struct ClassifierPlan {
    ClassifierMode mode = ClassifierMode::Best;
    double budgetSeconds = 600; ///< the whole chain
    std::optional<bool> bf16;   ///< unset: the run builders' default
    bool cuda = false;
    std::optional<uint64_t> seed;
    /// "best": the share of the budget SimSiam gets (the rest fine-tunes); 0 for "quick".
    double pretrainSeconds() const;
    double finetuneSeconds() const;
    /// Throws UserError for a budget under a minute ("best" needs two) or over 30 days.
    void validate() const;
};

/// The chain's events: every event of the runs it trains, plus where the chain as a whole is.
class ClassifierChainObserver : public JobObserver {
public:
    /// A run of the chain begins: "simsiam" or "finetune", with its run id.
    virtual void stageStarted(const std::string& stage, const std::string& runId) {}
    /// The whole chain's progress, 0..1, with a line saying what it does now.
    virtual void progress(double fraction, const std::string& text) {}
};

struct ClassifierChainResult {
    JobState state = JobState::Failed;
    std::string message;                 ///< why it stopped or failed; "" when it completed
    std::string pretrainRun, finetuneRun; ///< the runs it made ("" when not reached)
};

/// Trains the plan: checks readiness first (the missing items are the failure's message), then
/// runs SimSiam ("best") and the fine-tune from it. Cancelling through `control` stops the run in
/// progress with its checkpoint (it can be continued from the training panel).
ClassifierChainResult runClassifierChain(Project& project, const ClassifierPlan& plan, const RunContext& context,
                                         ClassifierChainObserver& observer, JobControl& control);

/// A classifier's result as a sentence, on its test images (else its validation images):
/// "On 624 test images this model finds 82% of pneumonia and 79% of normal cases (ROC AUC 0.88)."
/// Empty when the summary has neither.
std::string plainWordsResult(const FinetuneSummary& summary);

} // namespace medsiam::core
