#include "train/TrainConfig.h"

#include "train/JobEvents.h"
#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <cmath>

namespace medsiam::core {

namespace {

// Reads a value when the configuration has it (older runs may lack newer keys).
template <typename T>
void readIf(const nlohmann::json& j, const char* key, T& out)
{
    if (j.contains(key))
        j.at(key).get_to(out);
}

// Reads a run's config.json: checks that it is valid JSON for `job`, reads the model, then lets
// `fill` read the job's own keys. JSON and type errors become UserErrors in plain words.
template <typename Fill>
void readRunConfig(const std::string& text, const char* job, const char* what, ModelConfig& model, const Fill& fill)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw UserError(std::string("run configuration is not valid JSON: ") + e.what());
    }
    if (!j.is_object() || j.value("job", "") != job || !j.contains("model"))
        throw UserError(std::string("run configuration is not a ") + what + " configuration");
    try {
        model = ModelConfig::fromJson(j["model"].dump());
        fill(j);
    } catch (const UserError&) {
        throw;
    } catch (const std::exception& e) {
        throw UserError(std::string("run configuration: ") + e.what());
    }
}

} // namespace

const char* toString(JobState state)
{
    switch (state) {
    case JobState::Queued: return "queued";
    case JobState::Running: return "running";
    case JobState::Cancelling: return "cancelling";
    case JobState::Cancelled: return "cancelled";
    case JobState::Completed: return "completed";
    case JobState::Failed: return "failed";
    }
    return "?";
}

std::string PretrainConfig::toJson() const
{
    nlohmann::ordered_json j;
    j["job"] = "simsiam-pretrain";
    j["model"] = nlohmann::json::parse(model.toJson());
    j["init_weights"] = initWeights;
    j["steps"] = steps;
    j["budget_seconds"] = budgetSeconds;
    j["batch"] = batch;
    j["input_size"] = inputSize;
    j["base_lr"] = baseLr;
    j["momentum"] = momentum;
    j["weight_decay"] = weightDecay;
    j["warmup_steps"] = warmupSteps;
    j["fixed_predictor_lr"] = fixedPredictorLr;
    j["stop_gradient"] = stopGradient;
    j["seed"] = seed;
    j["bf16"] = bf16;
    j["cuda"] = cuda;
    j["checkpoint_every"] = checkpointEvery;
    j["monitor_every"] = monitorEvery;
    j["monitor_at_start"] = monitorAtStart;
    j["subset"] = subset;
    j["augment"] = nlohmann::json::parse(augment.toJson());
    return j.dump(1);
}

double PretrainConfig::healthyOutputStd() const { return 1.0 / std::sqrt(double(model.heads.projectorDim)); }

PretrainConfig PretrainConfig::fromJson(const std::string& text)
{
    PretrainConfig c;
    readRunConfig(text, "simsiam-pretrain", "SimSiam pretraining", c.model, [&](const nlohmann::json& j) {
        readIf(j, "init_weights", c.initWeights);
        readIf(j, "steps", c.steps);
        readIf(j, "budget_seconds", c.budgetSeconds);
        readIf(j, "batch", c.batch);
        readIf(j, "input_size", c.inputSize);
        readIf(j, "base_lr", c.baseLr);
        readIf(j, "momentum", c.momentum);
        readIf(j, "weight_decay", c.weightDecay);
        readIf(j, "warmup_steps", c.warmupSteps);
        readIf(j, "fixed_predictor_lr", c.fixedPredictorLr);
        readIf(j, "stop_gradient", c.stopGradient);
        readIf(j, "seed", c.seed);
        readIf(j, "bf16", c.bf16);
        readIf(j, "cuda", c.cuda);
        readIf(j, "checkpoint_every", c.checkpointEvery);
        readIf(j, "monitor_every", c.monitorEvery);
        readIf(j, "monitor_at_start", c.monitorAtStart);
        readIf(j, "subset", c.subset);
        if (j.contains("augment"))
            c.augment = AugmentConfig::fromJson(j["augment"].dump());
    });
    if ((c.steps < 1 && c.budgetSeconds <= 0) || c.steps < 0 || c.budgetSeconds < 0 || c.batch < 2 || c.inputSize < 16 ||
        c.baseLr <= 0 || c.checkpointEvery < 1)
        throw UserError("run configuration: steps >= 1 (or a time budget), batch >= 2, input size >= 16 px, lr > 0 and "
                        "checkpoint_every >= 1 are needed");
    return c;
}

HyperRule bitHyperRule(int64_t examples, int rows, int columns)
{
    HyperRule r;
    if (examples < 20000) {
        r.warmupSteps = 100;
        r.decaySteps = {200, 300, 400};
        r.totalSteps = 500;
    } else if (examples < 500000) {
        r.warmupSteps = 500;
        r.decaySteps = {3000, 6000, 9000};
        r.totalSteps = 10000;
    } else {
        r.warmupSteps = 500;
        r.decaySteps = {6000, 12000, 18000};
        r.totalSteps = 20000;
    }
    r.mixupAlpha = examples >= 20000 ? 0.1 : 0.0;
    const bool small = int64_t(rows) * columns < 96 * 96;
    r.resize = small ? 160 : 512;
    r.crop = small ? 128 : 480;
    return r;
}

std::string FinetuneConfig::toJson() const
{
    nlohmann::ordered_json j;
    j["job"] = "finetune";
    j["model"] = nlohmann::json::parse(model.toJson());
    j["init_weights"] = initWeights;
    j["recipe"] = recipe;
    j["steps"] = steps;
    j["budget_seconds"] = budgetSeconds;
    j["optimizer"] = optimizer;
    j["schedule"] = schedule;
    j["warmup_fraction"] = warmupFraction;
    j["batch"] = batch;
    j["micro_batch"] = microBatch;
    j["resize"] = resize;
    j["crop"] = crop;
    j["lr"] = lr;
    j["momentum"] = momentum;
    j["weight_decay"] = weightDecay;
    j["mixup_alpha"] = mixupAlpha;
    j["class_weighted"] = classWeighted;
    j["balanced_sampler"] = balancedSampler;
    j["subset"] = subset;
    j["seed"] = seed;
    j["bf16"] = bf16;
    j["cuda"] = cuda;
    j["checkpoint_every"] = checkpointEvery;
    j["eval_every"] = evalEvery;
    j["validations"] = validations;
    j["label_smoothing"] = labelSmoothing;
    if (augment)
        j["augment"] = nlohmann::json::parse(augment->toJson());
    return j.dump(1);
}

FinetuneConfig FinetuneConfig::fromJson(const std::string& text)
{
    FinetuneConfig c;
    readRunConfig(text, "finetune", "fine-tuning", c.model, [&](const nlohmann::json& j) {
        readIf(j, "init_weights", c.initWeights);
        readIf(j, "recipe", c.recipe);
        readIf(j, "steps", c.steps);
        readIf(j, "budget_seconds", c.budgetSeconds);
        readIf(j, "optimizer", c.optimizer);
        readIf(j, "schedule", c.schedule);
        readIf(j, "warmup_fraction", c.warmupFraction);
        readIf(j, "batch", c.batch);
        readIf(j, "micro_batch", c.microBatch);
        readIf(j, "resize", c.resize);
        readIf(j, "crop", c.crop);
        readIf(j, "lr", c.lr);
        readIf(j, "momentum", c.momentum);
        readIf(j, "weight_decay", c.weightDecay);
        readIf(j, "mixup_alpha", c.mixupAlpha);
        readIf(j, "class_weighted", c.classWeighted);
        readIf(j, "balanced_sampler", c.balancedSampler);
        readIf(j, "subset", c.subset);
        readIf(j, "seed", c.seed);
        readIf(j, "bf16", c.bf16);
        readIf(j, "cuda", c.cuda);
        readIf(j, "checkpoint_every", c.checkpointEvery);
        readIf(j, "eval_every", c.evalEvery);
        readIf(j, "validations", c.validations);
        readIf(j, "label_smoothing", c.labelSmoothing);
        if (j.contains("augment") && !j["augment"].is_null())
            c.augment = AugmentConfig::fromJson(j["augment"].dump());
    });
    if (c.recipe != kRecipeHyperRule && c.recipe != kRecipeAdamW)
        throw UserError("run configuration: unknown recipe '" + c.recipe + "' (hyperrule or adamw)");
    if (c.optimizer != "sgd" && c.optimizer != "adamw")
        throw UserError("run configuration: unknown optimizer '" + c.optimizer + "' (sgd or adamw)");
    if (c.schedule != "steps" && c.schedule != "cosine")
        throw UserError("run configuration: unknown schedule '" + c.schedule + "' (steps or cosine)");
    if (c.budgetSeconds < 0 || c.validations < 1 || c.warmupFraction < 0 || c.warmupFraction >= 1 || c.labelSmoothing < 0 ||
        c.labelSmoothing >= 1)
        throw UserError("run configuration: budget_seconds >= 0, validations >= 1, 0 <= warmup_fraction < 1 and "
                        "0 <= label_smoothing < 1 are needed");
    if (c.steps < 0 || c.batch < 1 || c.microBatch < 1 || c.lr <= 0 || c.checkpointEvery < 1 || c.resize < 0 || c.crop < 0 ||
        (c.crop && c.resize && c.crop > c.resize))
        throw UserError("run configuration: steps >= 0, batch and micro-batch >= 1, lr > 0, checkpoint_every >= 1 and "
                        "crop <= resize are needed");
    if (c.model.backbone.numClasses < 2)
        throw UserError("run configuration: fine-tuning needs a classification head of at least two classes");
    return c;
}

bool inSubset(int64_t imageId, const std::string& subset)
{
    if (subset.empty())
        return true;
    uint64_t x = uint64_t(imageId) + 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (subset == "a") == ((x & 1) == 0);
}

InputNormalization PretrainConfig::normalization() const
{
    return inputNormalizationFor(model.backbone);
}

} // namespace medsiam::core
