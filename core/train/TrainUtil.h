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
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// SGD with momentum and weight decay, PyTorch's update rule (dampening 0, no Nesterov), with the
/// momentum buffers kept by parameter name so that checkpoints carry them. Parameters listed in
/// `frozen` are left alone.
class Sgd {
public:
    Sgd(NetworkImpl& net, double momentum, double weightDecay);
    void zeroGrad();
    /// `lrFor` gives each parameter's learning rate by name.
    void step(const std::function<double(const std::string&)>& lrFor);
    std::vector<std::pair<std::string, at::Tensor>> state() const;
    void load(const std::vector<std::pair<std::string, at::Tensor>>& state);

private:
    double m_momentum, m_weightDecay;
    std::vector<std::pair<std::string, at::Tensor>> m_params;
    std::map<std::string, at::Tensor> m_buffers;
};

/// On CUDA: 4-D weights in channels-last layout (faster convolutions with bf16 on tensor cores).
void useChannelsLast(NetworkImpl& net);
/// Moves a batch to the device, channels-last on CUDA.
at::Tensor toDevice(const at::Tensor& batch, const at::Device& device);

/// The message of the exception being handled, for a job that ends in Failed: a UserError's or
/// any std::exception's text, LibTorch's errors without their C++ backtrace. Call in a catch.
std::string currentErrorMessage();

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
};

/// The outcome of a job cancelled after `step` steps, its checkpoint saved: resumable.
JobOutcome cancelledAfter(int64_t step);

/// Runs a training job's body with its run record kept current: Running before, the body's
/// outcome after; an exception ends it as Failed with its message. The observer hears each
/// state. Returns the final state. Holds the run's lock throughout; throws UserError (and
/// changes nothing) when another job is training the run.
JobState runRecorded(Project& project, const std::string& runId, const std::string& kind, const std::string& configJson,
                     JobObserver& observer, const std::function<JobOutcome()>& body);

/// A run's network, ready to train on `device`: random from `seed`, then either resumed from
/// the run's checkpoint (which must describe the same model; its step and optimizer state go
/// to `state`) or, for a new run, started from `initWeights` (notes go to the observer).
Network startNetwork(const ModelConfig& model, uint64_t seed, const std::string& checkpointPath, const std::string& initWeights,
                     bool skipHead, const at::Device& device, JobObserver& observer, TrainingState& state);

/// Writes the network and optimizer after `stepsDone` steps to the run's checkpoint and tells the
/// observer.
void saveTrainingCheckpoint(const std::string& path, NetworkImpl& net, const Sgd& sgd, int64_t stepsDone, int64_t epoch,
                            JobObserver& observer);

/// Times a training loop: the rate of the step just done and the time left, from the steps done
/// since the loop (re)started at `firstStep`. Make it just before the loop.
class StepTimer {
public:
    StepTimer(int64_t firstStep, int64_t totalSteps);
    /// A step begins.
    void start() { m_stepStart = std::chrono::steady_clock::now(); }
    /// The event of step `step` (0-based), just done with `images` images: its number, the total,
    /// images per second and the ETA are set; the job adds the rest.
    StepEvent done(int64_t step, int images) const;

private:
    int64_t m_firstStep, m_totalSteps;
    std::chrono::steady_clock::time_point m_loopStart, m_stepStart;
};

/// The metrics.jsonl record of a training step.
MetricsRecord stepRecord(const StepEvent& event);

/// Throws UserError, suggesting a lower learning rate, when step `step`'s loss is not finite.
void checkLoss(double loss, int64_t step);


} // namespace medsiam::core
