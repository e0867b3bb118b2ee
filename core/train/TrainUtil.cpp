#include "train/TrainUtil.h"

#include "io/TensorFile.h"
#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/JobEvents.h"
#include "train/TrainConfig.h"
#include "util/Error.h"
#include "train/PretrainJob.h"
#include "util/AtomicFile.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace medsiam::core {

namespace fs = std::filesystem;

Sgd::Sgd(NetworkImpl& net, double momentum, double weightDecay) : m_momentum(momentum), m_weightDecay(weightDecay)
{
    for (const auto& p : net.named_parameters(true))
        m_params.emplace_back(p.key(), p.value());
}

void Sgd::zeroGrad()
{
    for (auto& [name, p] : m_params)
        if (p.grad().defined())
            p.mutable_grad() = at::Tensor();
}

void Sgd::step(const std::function<double(const std::string&)>& lrFor)
{
    torch::NoGradGuard guard;
    for (auto& [name, p] : m_params) {
        if (!p.grad().defined())
            continue;
        auto d = p.grad();
        if (m_weightDecay != 0)
            d = d.add(p, m_weightDecay);
        auto it = m_buffers.find(name);
        if (it == m_buffers.end())
            it = m_buffers.emplace(name, d.clone()).first;
        else
            it->second.mul_(m_momentum).add_(d);
        p.add_(it->second, -lrFor(name));
    }
}

std::vector<std::pair<std::string, at::Tensor>> Sgd::state() const
{
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (const auto& [name, p] : m_params) {
        auto it = m_buffers.find(name);
        if (it != m_buffers.end())
            out.emplace_back(name + ".momentum", it->second);
    }
    return out;
}

void Sgd::load(const std::vector<std::pair<std::string, at::Tensor>>& state)
{
    const std::string suffix = ".momentum";
    for (const auto& [key, t] : state) {
        if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        const std::string name = key.substr(0, key.size() - suffix.size());
        for (const auto& [pname, p] : m_params)
            if (pname == name)
                m_buffers[name] = t.to(p.device()).clone();
    }
}

void useChannelsLast(NetworkImpl& net)
{
    torch::NoGradGuard guard;
    for (auto& p : net.parameters(true))
        if (p.dim() == 4 && p.is_cuda())
            p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
}

at::Tensor toDevice(const at::Tensor& batch, const at::Device& device)
{
    if (!device.is_cuda())
        return batch;
    return batch.to(device, /*non_blocking=*/false).contiguous(at::MemoryFormat::ChannelsLast);
}

std::string currentErrorMessage()
{
    try {
        throw;
    } catch (const c10::Error& e) {
        return std::string("LibTorch: ") + e.what_without_backtrace();
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an unknown error";
    }
}

void checkInitWeights(const ModelConfig& model, const std::string& path, bool skipHead)
{
    Network probe(model);
    WeightImportOptions options;
    options.skipHead = skipHead;
    const auto report = importBackboneWeights(probe->backbone(), readTensorFile(path), options, false);
    if (!report.matches())
        throw UserError("'" + path + "' does not fit " + model.backbone.name + ":" + report.problemText());
}

int64_t checkpointStep(Project& project, const std::string& runId)
{
    const RunStore store(project);
    return store.hasCheckpoint(runId) ? readCheckpoint(store.checkpointPath(runId)).state.step : 0;
}

JobOutcome cancelledAfter(int64_t step)
{
    return {JobState::Cancelled, "stopped after step " + std::to_string(step) + ", with its checkpoint",
            "{\"steps_done\": " + std::to_string(step) + "}"};
}

JobState runRecorded(Project& project, const std::string& runId, const std::string& kind, const std::string& configJson,
                     JobObserver& observer, const std::function<JobOutcome()>& body)
{
    // Held until the run's record says how it ended: while it is held the run is live, and a
    // second job of the same run (another process, or a second window) is refused.
    const auto owner = RunStore(project).lock(runId);
    JobOutcome outcome;
    try {
        project.recordRun({runId, kind, toString(JobState::Running), "", configJson, "{}", "", ""});
        observer.stateChanged(JobState::Running, "");
        outcome = body();
    } catch (...) {
        const std::string message = currentErrorMessage();
        outcome = {JobState::Failed, message, nlohmann::json({{"error", message}}).dump()};
    }
    try {
        project.recordRun({runId, kind, toString(outcome.state), "", configJson, outcome.summaryJson, "", ""});
    } catch (...) {
        // The run's files are written; a record that cannot be updated is reported, not thrown.
        outcome = {JobState::Failed, "the run's record could not be updated: " + currentErrorMessage(), outcome.summaryJson};
    }
    observer.stateChanged(outcome.state, outcome.message);
    return outcome.state;
}

Network startNetwork(const ModelConfig& model, uint64_t seed, const std::string& checkpointPath, const std::string& initWeights,
                     bool skipHead, const at::Device& device, JobObserver& observer, TrainingState& state)
{
    at::manual_seed(static_cast<int64_t>(seed)); // reproducible random init
    Network net(model);
    if (fs::exists(checkpointPath)) {
        CheckpointContents ck = readCheckpoint(checkpointPath);
        if (ck.config.toJson() != model.toJson())
            throw UserError("the checkpoint '" + checkpointPath + "' describes another model than its run's config.json");
        loadNetworkState(*net, ck.file);
        state = std::move(ck.state);
    } else if (!initWeights.empty()) {
        WeightImportOptions options;
        options.skipHead = skipHead;
        for (const auto& n : loadBackboneWeights(net->backbone(), initWeights, options).notes)
            observer.warning("initial weights: " + n);
    }
    net->to(device);
    if (device.is_cuda())
        useChannelsLast(*net);
    net->train();
    return net;
}

void saveTrainingCheckpoint(const std::string& path, NetworkImpl& net, const Sgd& sgd, int64_t stepsDone, int64_t epoch,
                            JobObserver& observer)
{
    TrainingState s;
    s.step = stepsDone;
    s.epoch = epoch;
    s.optimizer = sgd.state();
    saveCheckpoint(path, net, s);
    observer.checkpointSaved(path, stepsDone);
}

StepTimer::StepTimer(int64_t firstStep, int64_t totalSteps)
    : m_firstStep(firstStep), m_totalSteps(totalSteps), m_loopStart(std::chrono::steady_clock::now()), m_stepStart(m_loopStart)
{
}

StepEvent StepTimer::done(int64_t step, int images) const
{
    const auto now = std::chrono::steady_clock::now();
    const double stepSeconds = std::chrono::duration<double>(now - m_stepStart).count();
    const double elapsed = std::chrono::duration<double>(now - m_loopStart).count();
    StepEvent e;
    e.step = step + 1;
    e.totalSteps = m_totalSteps;
    e.imagesPerSecond = images / stepSeconds;
    e.etaSeconds = elapsed / double(step + 1 - m_firstStep) * double(m_totalSteps - step - 1);
    return e;
}

MetricsRecord stepRecord(const StepEvent& e)
{
    MetricsRecord r;
    r.type = MetricsRecord::Type::Step;
    r.step = e.step;
    r.epoch = e.epoch;
    r.loss = e.loss;
    r.lr = e.lr;
    r.imagesPerSecond = e.imagesPerSecond;
    r.collapseStd = e.collapseHealthy > 0 ? e.collapseStd : -1;
    return r;
}

void checkLoss(double loss, int64_t step)
{
    if (!std::isfinite(loss))
        throw UserError("the loss became " + std::to_string(loss) + " at step " + std::to_string(step + 1) +
                        "; lower the learning rate");
}

} // namespace medsiam::core
