#include "train/RunSummary.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace medsiam::core {

FinetuneSummary FinetuneSummary::read(const std::string& text)
{
    FinetuneSummary s;
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object())
        return s;
    auto metrics = [&](const char* key) -> std::optional<ClassificationMetrics> {
        if (!j.contains(key) || !j[key].is_object())
            return std::nullopt;
        return ClassificationMetrics::fromJson(j[key].dump());
    };
    s.val = metrics("val");
    s.test = metrics("test");
    s.testLast = metrics("test_last");
    if (j.contains("classes") && j["classes"].is_array())
        for (const auto& c : j["classes"])
            if (c.is_string())
                s.classes.push_back(c.get<std::string>());
    s.stepsDone = j.value("steps_done", int64_t(0));
    s.selectedStep = s.stepsDone;
    if (j.contains("selected") && j["selected"].is_object()) {
        const auto& sel = j["selected"];
        s.selected = sel.value("checkpoint", std::string("last"));
        s.metric = sel.value("metric", std::string());
        s.selectedStep = sel.value("step", s.stepsDone);
    }
    s.recipe = j.value("recipe", std::string());
    s.budgetSeconds = j.value("budget_seconds", 0.0);
    s.seconds = j.value("seconds", 0.0);
    if (j.contains("l2") && j["l2"].is_number())
        s.probeL2 = j["l2"].get<double>();
    std::map<std::string, ClassificationMetrics> bySplit;
    if (s.val)
        bySplit.emplace("val", *s.val);
    if (s.test)
        bySplit.emplace("test", *s.test);
    s.warnings = classifierWarnings(bySplit, s.classes);
    return s;
}

std::string FinetuneSummary::selectionText() const
{
    if (probeL2 >= 0) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "a linear probe on frozen features (L2 %g)", probeL2);
        return buf;
    }
    if (selected == "best")
        return "the checkpoint with the best validation " +
               std::string(metric == "val_auc" ? "ROC AUC" : "balanced accuracy") + " (step " + std::to_string(selectedStep) +
               " of " + std::to_string(stepsDone) + ")";
    return "the last checkpoint (step " + std::to_string(stepsDone) + ")";
}

} // namespace medsiam::core
