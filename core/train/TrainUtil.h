#pragma once
// Pieces shared by the training jobs (LibTorch).
#include "models/Checkpoint.h"
#include "models/Network.h"
#include "project/RunStore.h"
#include "train/JobEvents.h"

#include <ATen/core/Tensor.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace medsiam::core {

class RunLength;

class Project;
class ProcessGroup;

/// An optimizer whose state is kept by parameter name, so that checkpoints carry it
/// ("<parameter>.<buffer>" keys in the checkpoint's optimizer section).
class Optimizer {
public:
    virtual ~Optimizer() = default;
    void zeroGrad();
    /// `lrFor` gives each parameter's learning rate by name.
    virtual void step(const std::function<double(const std::string&)>& lrFor) = 0;
    virtual std::vector<std::pair<std::string, at::Tensor>> state() const = 0;
    virtual void load(const std::vector<std::pair<std::string, at::Tensor>>& state) = 0;

protected:
    explicit Optimizer(NetworkImpl& net);
    /// The state tensors under `key` ("<parameter>.<suffix>") moved to their parameter's device.
    void loadBuffers(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& suffix,
                     std::map<std::string, at::Tensor>& into) const;
    std::vector<std::pair<std::string, at::Tensor>> m_params;
};

/// SGD with momentum and weight decay, PyTorch's update rule (dampening 0, no Nesterov).
class Sgd : public Optimizer {
public:
    Sgd(NetworkImpl& net, double momentum, double weightDecay);
    void step(const std::function<double(const std::string&)>& lrFor) override;
    std::vector<std::pair<std::string, at::Tensor>> state() const override;
    void load(const std::vector<std::pair<std::string, at::Tensor>>& state) override;

private:
    double m_momentum, m_weightDecay;
    std::map<std::string, at::Tensor> m_buffers;
};

/// AdamW (Loshchilov and Hutter, 2019), PyTorch's update rule (betas 0.9 and 0.999, eps 1e-8),
/// with decoupled weight decay on the weights of convolutions and linear layers only: norm
/// scales and biases (1-D parameters) are not decayed.
class AdamW : public Optimizer {
public:
    AdamW(NetworkImpl& net, double weightDecay);
    void step(const std::function<double(const std::string&)>& lrFor) override;
    std::vector<std::pair<std::string, at::Tensor>> state() const override;
    void load(const std::vector<std::pair<std::string, at::Tensor>>& state) override;

private:
    double m_weightDecay;
    int64_t m_step = 0;
    std::map<std::string, at::Tensor> m_first, m_second;
};

/// "sgd" or "adamw", as a run's config names it; throws UserError for another name.
std::unique_ptr<Optimizer> makeOptimizer(const std::string& name, NetworkImpl& net, double momentum, double weightDecay);

/// On CUDA: 4-D weights in channels-last layout (faster convolutions with bf16 on tensor cores).
void useChannelsLast(NetworkImpl& net);
/// Moves a batch to the device, channels-last on CUDA.
at::Tensor toDevice(const at::Tensor& batch, const at::Device& device);

/// The message of the exception being handled, for a job that ends in Failed: a UserError's or
/// any std::exception's text, LibTorch's errors without their C++ backtrace. Call in a catch.
std::string currentErrorMessage();

/// Whether `e` says an allocator ran out of memory: CUDA's ("CUDA out of memory"), the CPU
/// allocator's ("can't allocate memory" in LibTorch 1.13, "not enough memory" in 2.x), or
/// std::bad_alloc.
bool isOutOfMemory(const std::exception& e);

/// After a pass over `failed` samples ran out of memory: the largest count below it for which
/// `tryPass(n)` (a forward and backward over n samples that changes nothing that is kept) runs,
/// found to within an eighth: halving from failed / 2 until a pass fits, then bisecting towards
/// the smallest that did not. 0 when not even one sample fits. Errors other than running out of
/// memory pass through.
int largestFittingBatch(int failed, const std::function<void(int n)>& tryPass);

/// The message of a step that ran out of memory on `device` with `failed` images per `what`:
/// with `fits` the largest count that fits (largestFittingBatch), `fix(fits)`; with fits 0, that
/// not even one image fits; with fits -1 (not searched: on the CPU, where a pass at a new size
/// under memory pressure can crash inside oneDNN instead of failing), `fix(failed / 2)` to try.
std::string outOfMemoryMessage(const std::string& device, const std::string& what, int failed, int fits,
                               const std::function<std::string(int)>& fix);

/// A training step on this rank ran out of memory on `device` with `failed` images per `what`
/// ("view", "micro-batch"): drops the gradients and the memory the pass held, and throws
/// UserError with outOfMemoryMessage. On a GPU it first finds the largest count that fits with
/// largestFittingBatch, `tryPass(n)` being a forward and backward over n images on this rank
/// alone (BatchNorm stops synchronising; the gradients are dropped after each); on the CPU it
/// names half to try. `fix(n)` says what setting gets to n; `group` (or nullptr) names the rank.
[[noreturn]] void endOutOfMemory(NetworkImpl& net, Optimizer& optimizer, const ProcessGroup* group, const at::Device& device,
                                 const std::string& what, int failed, const std::function<void(int n)>& tryPass,
                                 const std::function<std::string(int)>& fix);

/// Throws UserError unless the weight file fits the model's backbone. Checked on a throwaway
/// network before a run exists: a mismatch is the user's to fix.
void checkInitWeights(const ModelConfig& model, const std::string& path, bool skipHead);

/// The step of the run's last checkpoint, 0 when it has none yet.
int64_t checkpointStep(Project& project, const std::string& runId);

/// How a training job's body ended: the state, the observer's message and the run's summary JSON.
struct JobOutcome {
    JobState state = JobState::Completed;
    std::string message;
    std::string summaryJson = "{}";
    std::string configJson;  ///< the run's config when the job changed it (a budget's plan); "" otherwise
};

/// The outcome of a job cancelled after `step` steps, its checkpoint saved: resumable.
JobOutcome cancelledAfter(int64_t step);

/// Runs a training job's body with its run record kept current: Running before, the body's
/// outcome after; an exception ends it as Failed with its message. The observer hears each
/// state. Returns the final state. Holds the run's lock throughout; throws UserError (and
/// changes nothing) when another job is training the run.
JobState runRecorded(Project& project, const std::string& runId, const std::string& kind, const std::string& configJson,
                     JobObserver& observer, const std::function<JobOutcome()>& body);

/// runRecorded for one rank of a data-parallel run (`group` nullptr: alone): rank 0 records the
/// run as runRecorded does; the others run `body` without a record (rank 0's is the run's) and
/// tell the observer how they ended.
JobState runAsRank(ProcessGroup* group, Project& project, const std::string& runId, const std::string& kind,
                   const std::string& configJson, JobObserver& observer, const std::function<JobOutcome()>& body);

/// Over which images a data-parallel run's BatchNorm layers normalize, so that they see what one
/// process would: one process normalizes each forward pass over a micro-batch of `microBatch`
/// images of the `batch` (pretraining: microBatch = batch), a rank over its own micro-batches of
/// its share (batch / world).
enum class BatchNormSpan {
    Own,    ///< each rank's own micro-batch: they are one process's (the share divides into them)
    Group,  ///< the group's (synchronised BatchNorm): one process normalizes over the whole batch
    Differs ///< neither matches one process: each rank's own, with a warning
};
BatchNormSpan batchNormSpan(int batch, int world, int microBatch);

/// Every rank takes rank 0's parameters and buffers.
void broadcastWeights(ProcessGroup& group, NetworkImpl& net);

/// At the start of a data-parallel run: every rank takes rank 0's parameters and buffers, and
/// the BatchNorm layers normalize as batchNormSpan says (synchronised over the group, or each
/// rank's own; rank 0 warns when that differs from one process).
void startTogether(ProcessGroup& group, NetworkImpl& net, int batch, int microBatch, JobObserver& observer);

/// After a rank's backward pass: the gradients and `loss` averaged over the ranks (the whole
/// batch's, from equal shares); returns the averaged loss.
double averageOverRanks(ProcessGroup& group, NetworkImpl& net, double loss);

/// A run's network, ready to train on `device`: random from `seed`, then either resumed from
/// the run's checkpoint (which must describe the same model; its step and optimizer state go
/// to `state`) or, for a new run, started from `initWeights` (notes go to the observer).
Network startNetwork(const ModelConfig& model, uint64_t seed, const std::string& checkpointPath, const std::string& initWeights,
                     bool skipHead, const at::Device& device, JobObserver& observer, TrainingState& state);

/// Writes the network and optimizer after `stepsDone` steps to the run's checkpoint and tells the
/// observer.
void saveTrainingCheckpoint(const std::string& path, NetworkImpl& net, const Optimizer& optimizer, int64_t stepsDone, int64_t epoch,
                            JobObserver& observer, const std::string& extraJson = "{}");

/// The event of step `step` (0-based), just done in `seconds` with `images` images: its number,
/// the run's total, images per second and the time left (a budget's remainder, else the steps
/// left at this step's pace); the job adds the rest.
StepEvent timedStep(const RunLength& length, int64_t step, int images, double seconds);

/// The metrics.jsonl record of a training step.
MetricsRecord stepRecord(const StepEvent& event);

/// Throws UserError, suggesting a lower learning rate, when step `step`'s loss is not finite.
void checkLoss(double loss, int64_t step);


} // namespace medsiam::core
