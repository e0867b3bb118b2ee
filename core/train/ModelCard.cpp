#include "train/ModelCard.h"

#include "project/Project.h"
#include "project/RunStore.h"
#include "train/RunSummary.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>

namespace medsiam::core {

namespace {

std::string today()
{
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

std::string fixed(double v, int digits = 3)
{
    if (std::isnan(v))
        return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

std::string metricsRow(const char* split, const ClassificationMetrics& m)
{
    return std::string("| ") + split + " | " + std::to_string(m.samples) + " | " + fixed(m.macroAuc) + " | " +
           fixed(m.balancedAccuracy) + " | " + fixed(m.accuracy) + " |\n";
}

} // namespace

std::string modelCard(Project& project, const std::string& runId, const ModelCardInfo& info)
{
    RunStore store(project);
    const auto run = store.find(runId);
    std::string md = "# Model card: " + info.weightsFile + "\n\n";
    md += "Exported by medsiam on " + (info.date.empty() ? today() : info.date) + " from run `" + runId + "`";
    if (run && !run->title.empty())
        md += " (\"" + run->title + "\")";
    md += ", a " + (run ? run->kind : std::string("?")) + " run";
    if (run)
        md += " that " + std::string(run->state == "completed" ? "completed" : "is " + run->state);
    md += ".\n\n";
    md += "- Weights: `" + info.weightsFile + "` (" + info.format + " naming)\n";
    md += "- Network: " + info.architecture + "\n";
    if (!info.input.empty())
        md += "- Input: " + info.input + "\n";
    if (!info.loadHint.empty())
        md += "- Load: `" + info.loadHint + "` (docs/MODELS.md)\n";
    if (!info.notes.empty())
        md += "- Note: " + info.notes + "\n";

    // Data: labeled images per class and split, as the project holds them now.
    const auto classes = project.classes();
    const char* splits[] = {"train", "val", "test", ""};
    std::map<std::pair<int, std::string>, int64_t> counts;
    int64_t unlabeled = 0;
    for (const auto& item : project.trainingItems()) {
        if (item.classIndex < 0)
            ++unlabeled;
        else
            ++counts[{item.classIndex, item.split}];
    }
    md += "\n## Data\n\nLabeled images per class and split in the project at export (images, not patients; no patient "
          "identifiers are recorded here).\n\n| class | train | val | test | no split |\n|---|---|---|---|---|\n";
    for (size_t c = 0; c < classes.size(); ++c) {
        md += "| " + classes[c].name;
        for (const char* s : splits)
            md += " | " + std::to_string(counts[{static_cast<int>(c), s}]);
        md += " |\n";
    }
    md += "\n" + std::to_string(unlabeled) + " more images carry no label" +
          std::string(run && run->kind == "simsiam-pretrain" ? " (self-supervised pretraining uses them too)." : ".") + "\n";

    // Training settings, as the run recorded them.
    md += "\n## Training\n\n";
    const auto config = nlohmann::json::parse(store.exists(runId) ? store.readConfig(runId) : "{}", nullptr, false);
    if (config.is_object()) {
        md += "| setting | value |\n|---|---|\n";
        for (const auto& [key, value] : config.items()) {
            if (key == "augment" || value.is_object())
                continue; // nested detail stays in the run's config.json
            md += "| " + key + " | " + (value.is_string() ? value.get<std::string>() : value.dump()) + " |\n";
        }
        md += "\nThe full configuration is the run's config.json.\n";
    }

    // Results of the selected checkpoint.
    md += "\n## Results\n\n";
    const auto summary = FinetuneSummary::read(store.exists(runId) ? store.readSummary(runId) : "{}");
    if (summary.val || summary.test) {
        md += "Model: " + summary.selectionText() + ".\n\n| split | images | ROC AUC | balanced accuracy | accuracy |\n|---|---|---|---|---|\n";
        if (summary.val)
            md += metricsRow("val", *summary.val);
        if (summary.test)
            md += metricsRow("test", *summary.test);
        for (const auto& w : summary.warnings)
            md += "\n**Warning:** " + w + "\n";
    } else {
        md += "This run has no classification results: it is a backbone (features) to fine-tune or probe, not a classifier.\n";
    }

    md += "\n## Intended use\n\n"
          "A research model, trained on the images listed above and tested only on their held-out split. It is not a "
          "medical device and not validated for diagnosis: results on images from other scanners, sites, protocols or "
          "patient groups can be much worse. Check it on your own labeled data before relying on it, and keep a person "
          "in the loop for every decision about a patient.\n";
    return md;
}

} // namespace medsiam::core
