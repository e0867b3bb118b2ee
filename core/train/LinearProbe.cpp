#include "train/LinearProbe.h"

#include "models/Checkpoint.h"
#include "models/WeightImport.h"
#include "project/Project.h"
#include "project/RunStore.h"
#include "train/Distributed.h"
#include "train/Features.h"
#include "train/PretrainJob.h"
#include "train/TrainUtil.h"
#include "train/TrainConfig.h"
#include "util/AtomicFile.h"
#include "util/Error.h"
#include "util/Text.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/optim/lbfgs.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <fstream>
#include <functional>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

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
    if (!labelFractions.empty()) {
        j["label_fractions"] = labelFractions;
        j["few_label_draws"] = fewLabelDraws;
    }
    return j.dump(1);
}

std::vector<size_t> drawLabelFraction(const std::vector<int>& labels, int numClasses, double fraction, uint64_t seed)
{
    if (!(fraction > 0 && fraction <= 1))
        throw UserError("a label fraction is above 0 and at most 1 (100%), not " + text::formatNumber(fraction));
    std::vector<std::vector<size_t>> byClass(static_cast<size_t>(std::max(numClasses, 1)));
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] >= 0 && labels[i] < numClasses)
            byClass[static_cast<size_t>(labels[i])].push_back(i);
    if (fraction >= 1) {
        std::vector<size_t> all(labels.size());
        std::iota(all.begin(), all.end(), size_t(0));
        return all;
    }
    std::mt19937_64 rng(seed * 7919ull + 17);
    std::vector<size_t> out;
    for (auto& members : byClass) {
        if (members.empty())
            continue;
        std::shuffle(members.begin(), members.end(), rng);
        // The class's share of the draw, at least one image.
        const size_t take = std::clamp<size_t>(static_cast<size_t>(std::llround(fraction * double(members.size()))), 1, members.size());
        out.insert(out.end(), members.begin(), members.begin() + static_cast<std::ptrdiff_t>(take));
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<double> parseLabelFractions(const std::string& text)
{
    std::vector<double> out;
    for (const auto& raw : text::split(text, ',')) {
        std::string item = text::trim(raw);
        if (item.empty())
            continue;
        bool percent = false;
        if (item.back() == '%') {
            percent = true;
            item.pop_back();
        }
        double v = 0;
        try {
            size_t used = 0;
            v = std::stod(item, &used);
            if (used != item.size())
                throw std::invalid_argument(item);
        } catch (const std::exception&) {
            throw UserError("label fractions are numbers such as 0.01,0.1,1 or 1%,10%,100%; \"" + raw + "\" is not one");
        }
        if (percent)
            v /= 100;
        if (!(v > 0 && v <= 1))
            throw UserError("a label fraction is above 0 and at most 1 (100%); \"" + raw + "\" is not");
        out.push_back(v);
    }
    if (out.empty())
        throw UserError("no label fraction given (e.g. 1%,10%,100%)");
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
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

ProbeResult runLinearProbe(Project& project, const ProbeConfig& config, JobObserver& observer, ProcessGroup* group)
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
    const auto norm = inputNormalizationFor(model.backbone);
    auto features = [&](const std::vector<int64_t>& idx) {
        return extractFeaturesTogether(group, *net, data.cache(), idx, config.inputSize, norm, config.bf16);
    };
    if (group) {
        broadcastWeights(*group, *net);
        if (group->rank() != 0) { // its share of the features, in rank 0's order; rank 0 does the rest
            features(trainIdx);
            features(valIdx);
            features(testIdx);
            return result;
        }
    }

    // The probe's own run, recorded as it goes (a failure ends it as failed, with its reason).
    RunStore store(project);
    ProbeConfig stored = config;
    stored.model = model;
    const std::string id = store.create("probe", "linear-probe", stored.toJson(), parent);
    result.runId = id;
    const JobState state = runRecorded(project, id, "linear-probe", stored.toJson(), observer, [&]() -> JobOutcome {
        const auto xTrainRaw = features(trainIdx);
        const auto xValRaw = features(valIdx);
        const auto mean = xTrainRaw.mean(0, true), sd = xTrainRaw.std(0, false, true).clamp_min(1e-6);
        auto standardize = [&](const at::Tensor& x) { return (x - mean) / sd; };
        const auto xTrain = standardize(xTrainRaw);
        const auto xVal = standardize(xValRaw), xTest = standardize(features(testIdx));
        const auto yTrain = at::tensor(std::vector<int64_t>(trainY.begin(), trainY.end()), at::kLong);
        std::vector<int> valY, testY;
        for (auto i : valIdx)
            valY.push_back(data.classOf(i));
        for (auto i : testIdx)
            testY.push_back(data.classOf(i));

        MetricsLog log = store.openMetrics(id, 0);
        result.hasVal = !valIdx.empty();
        result.hasTest = !testIdx.empty();
        // The probe on (x, y): classes weighted as asked, the L2 of the grid with the best val
        // balanced accuracy (without val, one L2); `onL2` sees each candidate's val metrics.
        auto fitChosen = [&](const at::Tensor& x, const at::Tensor& y, double* chosenL2,
                             const std::function<void(double, const ClassificationMetrics&)>& onL2) {
            auto weights = at::ones({numClasses});
            if (config.classWeighted) {
                auto counts = at::bincount(y, {}, numClasses).to(at::kFloat);
                weights = at::where(counts > 0, double(y.size(0)) / (numClasses * counts.clamp_min(1)), at::zeros_like(counts));
            }
            Fit best;
            double bestScore = -1;
            for (double l2 : result.hasVal ? config.l2Grid : std::vector<double>{1e-2}) {
                Fit f = fitLogistic(x, y, numClasses, l2, weights);
                double score = 0;
                if (result.hasVal) {
                    const auto m = computeMetrics(valY, probabilities(f, xVal), numClasses);
                    score = m.balancedAccuracy;
                    if (onL2)
                        onL2(l2, m);
                }
                if (score > bestScore) {
                    bestScore = score;
                    best = f;
                    if (chosenL2)
                        *chosenL2 = l2;
                }
            }
            return best;
        };
        const Fit best = fitChosen(xTrain, yTrain, &result.chosenL2, [&](double l2, const ClassificationMetrics& m) {
            MetricsRecord r;
            r.type = MetricsRecord::Type::ProbeL2;
            r.l2 = l2;
            r.metrics = m;
            log.append(r);
        });
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

        // The kNN monitor's measure on the same features (raw, as the monitor sees them).
        if (result.hasVal) {
            std::vector<int> bankLabels(trainY.begin(), trainY.end());
            const auto knn = computeMetrics(valY, knnScores(xTrainRaw, bankLabels, xValRaw, numClasses), numClasses);
            result.hasKnn = true;
            result.knnAccuracy = knn.accuracy;
            result.knnBalancedAccuracy = knn.balancedAccuracy;
        }

        // Label efficiency: the same probe on stratified fractions of the train labels.
        const bool scoreTest = result.hasTest;
        const auto& xScore = scoreTest ? xTest : xVal;
        const auto& yScore = scoreTest ? testY : valY;
        for (double fraction : config.labelFractions) {
            if (!scoreTest && !result.hasVal)
                break;
            LabelEfficiencyPoint point;
            point.fraction = fraction;
            point.split = scoreTest ? "test" : "val";
            if (fraction >= 1) { // every label: the probe above
                const auto& m = scoreTest ? result.test : result.val;
                point.labels = static_cast<int64_t>(trainY.size());
                point.auc.push_back(m.macroAuc);
                point.balancedAccuracy.push_back(m.balancedAccuracy);
            }
            for (int d = 0; fraction < 1 && d < std::max(1, config.fewLabelDraws); ++d) {
                const auto pick = drawLabelFraction(trainY, numClasses, fraction, config.seed * 1000 + uint64_t(d));
                const auto rowIdx = at::tensor(std::vector<int64_t>(pick.begin(), pick.end()), at::kLong);
                const Fit chosen = fitChosen(xTrain.index_select(0, rowIdx), yTrain.index_select(0, rowIdx), nullptr, {});
                const auto m = computeMetrics(yScore, probabilities(chosen, xScore), numClasses);
                point.labels = static_cast<int64_t>(pick.size());
                point.auc.push_back(m.macroAuc);
                point.balancedAccuracy.push_back(m.balancedAccuracy);
            }
            auto meanSd = [](const std::vector<double>& v, double& mean, double& sd) {
                mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
                double ss = 0;
                for (double x : v)
                    ss += (x - mean) * (x - mean);
                sd = v.size() > 1 ? std::sqrt(ss / double(v.size() - 1)) : 0;
            };
            meanSd(point.auc, point.aucMean, point.aucSd);
            meanSd(point.balancedAccuracy, point.balancedAccuracyMean, point.balancedAccuracySd);
            result.labelEfficiency.push_back(point);
        }
        result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        nlohmann::ordered_json summary = {{"l2", result.chosenL2}, {"train_images", trainIdx.size()}, {"seconds", result.seconds},
                                          {"classes", result.classNames}};
        if (result.hasVal)
            summary["val"] = nlohmann::json::parse(result.val.toJson());
        if (result.hasTest)
            summary["test"] = nlohmann::json::parse(result.test.toJson());
        if (result.hasKnn)
            summary["knn"] = {{"accuracy", result.knnAccuracy}, {"balanced_accuracy", result.knnBalancedAccuracy}};
        if (!result.labelEfficiency.empty()) {
            auto& list = summary["label_efficiency"] = nlohmann::ordered_json::array();
            for (const auto& pt : result.labelEfficiency)
                list.push_back({{"fraction", pt.fraction}, {"labels", pt.labels}, {"split", pt.split},
                                {"auc", pt.auc}, {"balanced_accuracy", pt.balancedAccuracy},
                                {"auc_mean", pt.aucMean}, {"auc_sd", pt.aucSd},
                                {"balanced_accuracy_mean", pt.balancedAccuracyMean}, {"balanced_accuracy_sd", pt.balancedAccuracySd}});
        }
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
