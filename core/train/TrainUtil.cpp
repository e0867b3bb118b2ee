#include "train/TrainUtil.h"

#include "system/Runtime.h"
#include "train/Distributed.h"
#include "train/Budget.h"

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

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <new>

namespace medsiam::core {

namespace fs = std::filesystem;

Optimizer::Optimizer(NetworkImpl& net)
{
    for (const auto& p : net.named_parameters(true))
        m_params.emplace_back(p.key(), p.value());
}

void Optimizer::zeroGrad()
{
    for (auto& [name, p] : m_params)
        if (p.grad().defined())
            p.mutable_grad() = at::Tensor();
}

void Optimizer::loadBuffers(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& suffix,
                            std::map<std::string, at::Tensor>& into) const
{
    for (const auto& [key, t] : state) {
        if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        const std::string name = key.substr(0, key.size() - suffix.size());
        for (const auto& [pname, p] : m_params)
            if (pname == name)
                into[name] = t.to(p.device()).clone();
    }
}

Sgd::Sgd(NetworkImpl& net, double momentum, double weightDecay) : Optimizer(net), m_momentum(momentum), m_weightDecay(weightDecay) {}

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

void Sgd::load(const std::vector<std::pair<std::string, at::Tensor>>& state) { loadBuffers(state, ".momentum", m_buffers); }

AdamW::AdamW(NetworkImpl& net, double weightDecay) : Optimizer(net), m_weightDecay(weightDecay) {}

void AdamW::step(const std::function<double(const std::string&)>& lrFor)
{
    constexpr double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
    torch::NoGradGuard guard;
    ++m_step;
    const double correction1 = 1 - std::pow(beta1, double(m_step));
    const double correction2 = 1 - std::pow(beta2, double(m_step));
    for (auto& [name, p] : m_params) {
        if (!p.grad().defined())
            continue;
        const auto g = p.grad();
        const double lr = lrFor(name);
        if (m_weightDecay != 0 && p.dim() > 1)
            p.mul_(1 - lr * m_weightDecay);
        auto first = m_first.find(name);
        if (first == m_first.end()) {
            first = m_first.emplace(name, at::zeros_like(p)).first;
            m_second.emplace(name, at::zeros_like(p));
        }
        auto& m = first->second;
        auto& v = m_second.at(name);
        m.mul_(beta1).add_(g, 1 - beta1);
        v.mul_(beta2).addcmul_(g, g, 1 - beta2);
        const auto denom = (v / correction2).sqrt_().add_(eps);
        p.addcdiv_(m, denom, -lr / correction1);
    }
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const
{
    std::vector<std::pair<std::string, at::Tensor>> out;
    out.emplace_back("adamw.step", at::full({1}, static_cast<double>(m_step), at::kDouble));
    for (const auto& [name, p] : m_params) {
        auto it = m_first.find(name);
        if (it == m_first.end())
            continue;
        out.emplace_back(name + ".exp_avg", it->second);
        out.emplace_back(name + ".exp_avg_sq", m_second.at(name));
    }
    return out;
}

void AdamW::load(const std::vector<std::pair<std::string, at::Tensor>>& state)
{
    for (const auto& [key, t] : state)
        if (key == "adamw.step")
            m_step = static_cast<int64_t>(t.to(at::kDouble).item<double>());
    loadBuffers(state, ".exp_avg", m_first);
    loadBuffers(state, ".exp_avg_sq", m_second);
    // A moment without its partner (a damaged or hand-made checkpoint) starts again at zero.
    for (auto it = m_first.begin(); it != m_first.end();)
        if (!m_second.count(it->first))
            it = m_first.erase(it);
        else
            ++it;
    for (auto it = m_second.begin(); it != m_second.end();)
        if (!m_first.count(it->first))
            it = m_second.erase(it);
        else
            ++it;
}

std::unique_ptr<Optimizer> makeOptimizer(const std::string& name, NetworkImpl& net, double momentum, double weightDecay)
{
    if (name == "sgd")
        return std::make_unique<Sgd>(net, momentum, weightDecay);
    if (name == "adamw")
        return std::make_unique<AdamW>(net, weightDecay);
    throw UserError("unknown optimizer '" + name + "': use sgd or adamw");
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

bool isOutOfMemory(const std::exception& e)
{
    if (dynamic_cast<const std::bad_alloc*>(&e))
        return true;
    std::string text = e.what();
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    // CUDA's caching allocator; the CPU allocator in LibTorch 1.13 and 2.x; errno's ENOMEM text.
    for (const char* phrase : {"out of memory", "not enough memory", "can't allocate memory", "cannot allocate memory"})
        if (text.find(phrase) != std::string::npos)
            return true;
    return false;
}

int largestFittingBatch(int failed, const std::function<void(int n)>& tryPass)
{
    const auto fits = [&](int n) {
        releaseFreeMemory(); // what the last pass held goes back to the system
        try {
            tryPass(n);
            return true;
        } catch (const std::exception& e) {
            if (!isOutOfMemory(e))
                throw;
            return false;
        }
    };
    int bad = std::max(1, failed), good = 0;
    for (int n = bad / 2; n >= 1; n /= 2) {
        if (fits(n)) {
            good = n;
            break;
        }
        bad = n;
    }
    if (good == 0)
        return 0;
    while (bad - good > std::max(1, good / 8)) {
        const int mid = good + (bad - good) / 2;
        (fits(mid) ? good : bad) = mid;
    }
    return good;
}

std::string outOfMemoryMessage(const std::string& device, const std::string& what, int failed, int fits,
                               const std::function<std::string(int)>& fix)
{
    std::string m = "out of memory on " + device + " with " + std::to_string(failed) + " images per " + what;
    if (fits < 0)
        return m + "; fewer need less memory, try " + std::to_string(std::max(1, failed / 2)) + ": " + fix(std::max(1, failed / 2));
    if (fits == 0)
        return m + "; not even one image fits: use a smaller model or input size, or another device";
    return m + "; the largest that fits is " + std::to_string(fits) + ": " + fix(fits);
}

void endOutOfMemory(NetworkImpl& net, Optimizer& optimizer, const ProcessGroup* group, const at::Device& device, const std::string& what,
                    int failed, const std::function<void(int n)>& tryPass, const std::function<std::string(int)>& fix)
{
    optimizer.zeroGrad();
    releaseFreeMemory(); // what the failed pass held (kept by configureAllocator)
    if (group)
        net.synchroniseBatchNorm(nullptr);
    const int fits = !device.is_cuda() ? -1 : largestFittingBatch(failed, [&](int n) {
        tryPass(n);
        optimizer.zeroGrad();
    });
    const int world = group ? group->size() : 1;
    const std::string where =
        device.str() + (world > 1 ? " (rank " + std::to_string(group->rank()) + " of " + std::to_string(world) + ")" : "");
    throw UserError(outOfMemoryMessage(where, what, failed, fits, fix));
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
            "{\"steps_done\": " + std::to_string(step) + "}", ""};
}

JobState runRecorded(Project& project, const std::string& runId, const std::string& kind, const std::string& configJson,
                     JobObserver& observer, const std::function<JobOutcome()>& body)
{
    // Held until the run's record says how it ended: while it is held the run is live, and a
    // second job of the same run (another process, or a second window) is refused.
    const auto owner = RunStore(project).lock(runId);
    JobOutcome outcome;
    try {
        project.recordRun({runId, kind, toString(JobState::Running), "", configJson, "{}", "", "", "", ""});
        observer.stateChanged(JobState::Running, "");
        outcome = body();
    } catch (...) {
        const std::string message = currentErrorMessage();
        outcome = {JobState::Failed, message, nlohmann::json({{"error", message}}).dump(), ""};
    }
    try {
        if (!outcome.configJson.empty())
            RunStore(project).writeConfig(runId, outcome.configJson);
        project.recordRun({runId, kind, toString(outcome.state), "",
                           outcome.configJson.empty() ? configJson : outcome.configJson, outcome.summaryJson, "", "", "", ""});
    } catch (...) {
        // The run's files are written; a record that cannot be updated is reported, not thrown.
        outcome = {JobState::Failed, "the run's record could not be updated: " + currentErrorMessage(), outcome.summaryJson, ""};
    }
    observer.stateChanged(outcome.state, outcome.message);
    return outcome.state;
}

JobState runAsRank(ProcessGroup* group, Project& project, const std::string& runId, const std::string& kind,
                   const std::string& configJson, JobObserver& observer, const std::function<JobOutcome()>& body)
{
    if (!group || group->rank() == 0)
        return runRecorded(project, runId, kind, configJson, observer, body);
    JobOutcome outcome;
    try {
        outcome = body();
    } catch (...) {
        outcome = {JobState::Failed, currentErrorMessage(), "{}", ""};
    }
    observer.stateChanged(outcome.state, outcome.message);
    return outcome.state;
}

BatchNormSpan batchNormSpan(int batch, int world, int microBatch)
{
    const int share = batch / std::max(1, world);
    if (world <= 1 || share % microBatch == 0)
        return BatchNormSpan::Own;
    if (microBatch >= batch)
        return BatchNormSpan::Group;
    return BatchNormSpan::Differs;
}

namespace {

/// Synchronised BatchNorm's sums over the group.
class GroupStatsSum : public BatchStatsSum {
public:
    explicit GroupStatsSum(ProcessGroup& group) : m_group(group) {}
    void sum(std::vector<at::Tensor>& tensors) const override { m_group.allreduceSumInPlace(tensors, "an all-reduce of BatchNorm statistics"); }

private:
    ProcessGroup& m_group;
};

} // namespace

void broadcastWeights(ProcessGroup& group, NetworkImpl& net)
{
    std::vector<at::Tensor> state = net.parameters();
    for (const auto& b : net.buffers())
        state.push_back(b);
    group.broadcast(state, 0);
}

void startTogether(ProcessGroup& group, NetworkImpl& net, int batch, int microBatch, JobObserver& observer)
{
    broadcastWeights(group, net);
    const BatchNormSpan span = batchNormSpan(batch, group.size(), microBatch);
    if (span == BatchNormSpan::Group) {
        net.synchroniseBatchNorm(std::make_shared<GroupStatsSum>(group));
        return;
    }
    const int share = batch / group.size();
    if (span == BatchNormSpan::Differs && net.synchroniseBatchNorm(nullptr) > 0 && group.rank() == 0)
        observer.warning("BatchNorm normalizes over each process's micro-batches of up to " + std::to_string(std::min(share, microBatch)) +
                         " images, one process's over " + std::to_string(microBatch) +
                         ": the weights differ from one process's run; a micro-batch that divides the share (" + std::to_string(share) +
                         ") or holds the whole batch (" + std::to_string(batch) + ") makes them agree");
}

double averageOverRanks(ProcessGroup& group, NetworkImpl& net, double loss)
{
    std::vector<at::Tensor> tensors;
    for (const auto& p : net.parameters())
        if (p.grad().defined())
            tensors.push_back(p.grad());
    at::Tensor lossValue = at::full({1}, float(loss)); // in the gradients' bucket: one all-reduce
    tensors.push_back(lossValue);
    group.allreduceMean(tensors);
    return lossValue.item<double>();
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

void saveTrainingCheckpoint(const std::string& path, NetworkImpl& net, const Optimizer& optimizer, int64_t stepsDone, int64_t epoch,
                            JobObserver& observer, const std::string& extraJson)
{
    TrainingState s;
    s.step = stepsDone;
    s.epoch = epoch;
    s.optimizer = optimizer.state();
    s.extraJson = extraJson;
    saveCheckpoint(path, net, s);
    observer.checkpointSaved(path, stepsDone);
}

StepEvent timedStep(const RunLength& length, int64_t step, int images, double seconds)
{
    StepEvent e;
    e.step = step + 1;
    e.totalSteps = length.totalSteps();
    e.imagesPerSecond = images / seconds;
    e.runSeconds = length.runSeconds();
    e.etaSeconds = length.budgeted() ? std::max(0.0, length.budgetSeconds() - length.elapsedSeconds())
                                     : seconds * double(length.totalSteps() - step - 1);
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
    r.seconds = e.runSeconds;
    return r;
}

void checkLoss(double loss, int64_t step)
{
    if (!std::isfinite(loss))
        throw UserError("the loss became " + std::to_string(loss) + " at step " + std::to_string(step + 1) +
                        "; lower the learning rate");
}

} // namespace medsiam::core
