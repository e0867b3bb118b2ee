#include "train/LinearProbe.h"

#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/Features.h"
#include "train/PretrainJob.h"
#include "train/TrainUtil.h"
#include "train/TrainConfig.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/optim/lbfgs.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <numeric>

namespace medsiam::core {

std::string ProbeConfig::toJson() const
{
    nlohmann::ordered_json j;
    j["job"] = "linear-probe";
    j["source_run"] = sourceRun;
    j["model"] = nlohmann::json::parse(model.toJson());
    j["init_weights"] = initWeights;
    j["input_size"] = inputSize;
    j["bf16"] = bf16;
    j["class_weighted"] = classWeighted;
    j["l2_grid"] = l2Grid;
    j["seed"] = seed;
    return j.dump(1);
}

namespace {

struct Fit {
    at::Tensor weight, bias;
};

Fit fitLogistic(const at::Tensor& x, const at::Tensor& y, int numClasses, double l2, const at::Tensor& classWeights)
{
    auto w = at::zeros({x.size(1), numClasses}).requires_grad_(true);
    auto b = at::zeros({numClasses}).requires_grad_(true);
    torch::optim::LBFGS opt({w, b}, torch::optim::LBFGSOptions(1.0).max_iter(300).line_search_fn("strong_wolfe"));
    auto closure = [&]() -> at::Tensor {
        opt.zero_grad();
        auto logits = at::matmul(x, w) + b;
        auto loss = at::nll_loss(at::log_softmax(logits, 1), y, classWeights) + 0.5 * l2 * w.pow(2).sum();
        loss.backward();
        return loss;
    };
    opt.step(closure);
    return {w.detach(), b.detach()};
}

std::vector<float> probabilities(const Fit& f, const at::Tensor& x)
{
    torch::NoGradGuard guard;
    auto p = at::softmax(at::matmul(x, f.weight) + f.bias, 1).contiguous();
    return std::vector<float>(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
}

} // namespace

ProbeResult runLinearProbe(Project& project, const ProbeConfig& config, JobObserver& observer)
{
    const auto t0 = std::chrono::steady_clock::now();
    ProbeResult result;
    ImageSet data(project);
    result.classNames = data.classNames();
    const int numClasses = static_cast<int>(result.classNames.size());
    const auto trainIdx = data.indices("train", true), valIdx = data.indices("val", true), testIdx = data.indices("test", true);
    std::vector<int> trainY;
    std::vector<int> seen(static_cast<size_t>(std::max(numClasses, 1)), 0);
    for (auto i : trainIdx) {
        trainY.push_back(data.classOf(i));
        seen[static_cast<size_t>(data.classOf(i))] = 1;
    }
    if (numClasses < 2 || std::accumulate(seen.begin(), seen.end(), 0) < 2)
        throw UserError("the linear probe needs labeled train images of at least two classes");

    // The backbone.
    ModelConfig model = config.model;
    std::string parent;
    Network net(nullptr);
    if (!config.sourceRun.empty()) {
        net = loadNetwork(RunStore(project).lastCheckpoint(config.sourceRun));
        model = net->config();
        parent = config.sourceRun;
    } else {
        at::manual_seed(static_cast<int64_t>(config.seed));
        net = Network(model);
        if (!config.initWeights.empty())
            loadBackboneWeights(net->backbone(), config.initWeights);
    }
    if (model.backbone.inChannels == 1 && project.naturalChannels() == 3)
        throw UserError("the project holds colour images but the backbone takes 1 channel");

    // The probe's own run, recorded as it goes (a failure ends it as failed, with its reason).
    RunStore store(project);
    ProbeConfig stored = config;
    stored.model = model;
    const std::string id = store.create("probe", "linear-probe", stored.toJson(), parent);
    result.runId = id;
    const JobState state = runRecorded(project, id, "linear-probe", stored.toJson(), observer, [&]() -> JobOutcome {
        const auto norm = inputNormalizationFor(model.backbone);
        auto features = [&](const std::vector<int64_t>& idx) {
            return extractFeatures(*net, data.cache(), idx, config.inputSize, norm, config.bf16);
        };
        auto xTrain = features(trainIdx);
        const auto mean = xTrain.mean(0, true), sd = xTrain.std(0, false, true).clamp_min(1e-6);
        auto standardize = [&](const at::Tensor& x) { return (x - mean) / sd; };
        xTrain = standardize(xTrain);
        const auto xVal = standardize(features(valIdx)), xTest = standardize(features(testIdx));
        const auto yTrain = at::tensor(std::vector<int64_t>(trainY.begin(), trainY.end()), at::kLong);
        auto classWeights = at::ones({numClasses});
        if (config.classWeighted) {
            auto counts = at::bincount(yTrain, {}, numClasses).to(at::kFloat);
            classWeights = at::where(counts > 0, double(trainY.size()) / (numClasses * counts.clamp_min(1)), at::zeros_like(counts));
        }
        std::vector<int> valY, testY;
        for (auto i : valIdx)
            valY.push_back(data.classOf(i));
        for (auto i : testIdx)
            testY.push_back(data.classOf(i));

        MetricsLog log = store.openMetrics(id, 0);
        Fit best;
        double bestScore = -1;
        result.hasVal = !valIdx.empty();
        result.hasTest = !testIdx.empty();
        const std::vector<double> grid = result.hasVal ? config.l2Grid : std::vector<double>{1e-2};
        for (double l2 : grid) {
            Fit f = fitLogistic(xTrain, yTrain, numClasses, l2, classWeights);
            double score = 0;
            if (result.hasVal) {
                MetricsRecord r;
                r.type = MetricsRecord::Type::ProbeL2;
                r.l2 = l2;
                r.metrics = computeMetrics(valY, probabilities(f, xVal), numClasses);
                score = r.metrics.balancedAccuracy;
                log.append(r);
            }
            if (score > bestScore) {
                bestScore = score;
                best = f;
                result.chosenL2 = l2;
            }
        }
        std::vector<PredictionRecord> predictions;
        auto predict = [&](const std::vector<int64_t>& idx, const at::Tensor& x, const std::vector<int>& y, const char* split) {
            const auto p = probabilities(best, x);
            for (size_t i = 0; i < idx.size(); ++i)
                predictions.push_back({data.items()[static_cast<size_t>(idx[i])].imageId, split, y[i],
                                       std::vector<float>(p.begin() + static_cast<std::ptrdiff_t>(i * numClasses),
                                                          p.begin() + static_cast<std::ptrdiff_t>((i + 1) * numClasses))});
            return computeMetrics(y, p, numClasses);
        };
        if (result.hasVal)
            result.val = predict(valIdx, xVal, valY, "val");
        if (result.hasTest)
            result.test = predict(testIdx, xTest, testY, "test");
        project.storePredictions(id, predictions);
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        nlohmann::ordered_json summary = {{"l2", result.chosenL2}, {"train_images", trainIdx.size()}, {"seconds", result.seconds},
                                          {"classes", result.classNames}};
        if (result.hasVal)
            summary["val"] = nlohmann::json::parse(result.val.toJson());
        if (result.hasTest)
            summary["test"] = nlohmann::json::parse(result.test.toJson());
        store.writeSummary(id, summary.dump(1));
        return {JobState::Completed, "", summary.dump(), ""};
    });
    if (state != JobState::Completed) {
        const auto record = store.find(id);
        const auto j = nlohmann::json::parse(record ? record->summary : "{}", nullptr, false);
        throw UserError("the linear probe failed: " + (j.is_object() ? j.value("error", std::string("see its run ") + id) : id));
    }
    return result;
}

} // namespace medsiam::core
