// The parts of the guided classifier path that need no LibTorch: readiness, the plan and the
// result in words (ClassifierChain.h).
#include "train/ClassifierChain.h"

#include "project/Project.h"
#include "project/Splits.h"
#include "util/Error.h"

#include <cmath>
#include <set>
#include <sstream>

namespace medsiam::core {

namespace {

std::string percent(double fraction)
{
    return std::to_string(static_cast<int>(std::lround(fraction * 100))) + "%";
}

std::string fixed(double v, int digits)
{
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(digits);
    s << v;
    return s.str();
}

std::string quoted(const std::string& name) { return "\u201c" + name + "\u201d"; }

} // namespace

int64_t ClassifierReadiness::splitTotal(const char* split) const
{
    const std::string s = split;
    int64_t n = 0;
    for (const auto& c : classes)
        n += s == "train" ? c.train : s == "val" ? c.val : s == "test" ? c.test : c.noSplit;
    return n;
}

ClassifierReadiness assessClassifierReadiness(Project& project)
{
    ClassifierReadiness r;
    for (const auto& c : project.classes())
        r.classes.push_back({c.name});
    const std::vector<TrainingItem> items = project.trainingItems();
    std::set<std::string> patients;
    for (const TrainingItem& it : items) {
        ++r.images;
        if (!it.patientId.empty()) {
            patients.insert(it.patientId);
            ++r.withPatient;
        }
        if (it.classIndex < 0 || it.classIndex >= static_cast<int>(r.classes.size())) {
            ++r.unlabeled;
            continue;
        }
        ++r.labeled;
        auto& c = r.classes[static_cast<size_t>(it.classIndex)];
        (it.split == "train" ? c.train : it.split == "val" ? c.val : it.split == "test" ? c.test : c.noSplit)++;
    }
    r.patients = static_cast<int64_t>(patients.size());
    r.leakingPatients = static_cast<int64_t>(checkLeakage(items).leakingPatients.size());

    // What stops training.
    if (r.images == 0) {
        r.missing.push_back("The project has no images yet: import a folder first (File > Import).");
        return r;
    }
    std::vector<const ClassifierReadiness::ClassCount*> taught;
    for (const auto& c : r.classes)
        if (c.labeled() > 0)
            taught.push_back(&c);
    if (taught.size() < 2) {
        r.missing.push_back("A classifier needs labeled images of at least two classes; " +
                            std::string(taught.empty() ? "no image is labeled yet" : "only " + quoted(taught[0]->name) + " has any") +
                            ". Label some images of each class (select them and press the class's key).");
        return r;
    }
    const int64_t noSplit = r.splitTotal("");
    if (r.splitTotal("train") == 0) {
        r.missing.push_back("None of the " + std::to_string(r.labeled) +
                            " labeled images is in the training split. Give the images splits (Data > Splits).");
        return r;
    }
    for (const auto* c : taught)
        if (c->train < kMinTrainImagesPerClass)
            r.missing.push_back("Class " + quoted(c->name) + " has " + std::to_string(c->train) +
                                " labeled training image" + (c->train == 1 ? "" : "s") + "; label at least " +
                                std::to_string(kMinTrainImagesPerClass) + " (" +
                                std::to_string(kMinTrainImagesPerClass - c->train) + " more) in the training split.");

    // What weakens the result.
    if (noSplit > 0)
        r.cautions.push_back(std::to_string(noSplit) + " labeled image" + (noSplit == 1 ? " has" : "s have") +
                             " no split and will not be used; Data > Splits assigns them.");
    if (r.splitTotal("val") == 0)
        r.cautions.push_back("No labeled validation images: the model cannot be chosen by its validation score. "
                             "Data > Splits can set some aside.");
    if (r.splitTotal("test") == 0)
        r.cautions.push_back("No labeled test images: the result can only be measured on the validation images, "
                             "which also chose the model, so it will look better than it is.");
    else
        for (const auto* c : taught)
            if (c->test < kFewEvalImagesPerClass)
                r.cautions.push_back("Only " + std::to_string(c->test) + " test image" + (c->test == 1 ? "" : "s") + " of " +
                                     quoted(c->name) + ": its result rests on very few cases.");
    if (r.leakingPatients > 0)
        r.cautions.push_back(std::to_string(r.leakingPatients) + " patient" + (r.leakingPatients == 1 ? " has" : "s have") +
                             " images in more than one split, which makes the test result look better than it is; "
                             "Data > Splits can split by patient.");
    return r;
}

std::optional<ClassifierMode> parseClassifierMode(const std::string& text)
{
    if (text == "quick")
        return ClassifierMode::Quick;
    if (text == "best")
        return ClassifierMode::Best;
    return std::nullopt;
}

const char* toString(ClassifierMode mode) { return mode == ClassifierMode::Quick ? "quick" : "best"; }

double ClassifierPlan::pretrainSeconds() const { return mode == ClassifierMode::Best ? budgetSeconds * 0.6 : 0; }

double ClassifierPlan::finetuneSeconds() const { return budgetSeconds - pretrainSeconds(); }

void ClassifierPlan::validate() const
{
    const double least = mode == ClassifierMode::Best ? 120 : 60;
    if (!(budgetSeconds >= least))
        throw UserError(std::string("the time budget of a \"") + toString(mode) + "\" classifier is at least " +
                        (mode == ClassifierMode::Best ? "2 minutes (SimSiam, then the fine-tune)" : "1 minute"));
    if (budgetSeconds > 30.0 * 24 * 3600)
        throw UserError("the time budget is at most 30 days");
}

std::string plainWordsResult(const FinetuneSummary& summary)
{
    const bool onTest = summary.test && summary.test->samples > 0;
    const std::optional<ClassificationMetrics>& m = onTest ? summary.test : summary.val;
    if (!m || m->samples == 0)
        return {};
    std::vector<std::string> parts;
    for (size_t k = 0; k < m->recall.size(); ++k) {
        if (k < m->support.size() && m->support[k] == 0)
            continue; // a class without cases in this split
        const std::string name = k < summary.classes.size() ? summary.classes[k] : "class " + std::to_string(k);
        parts.push_back(percent(m->recall[k]) + " of " + name);
    }
    std::string list;
    for (size_t i = 0; i < parts.size(); ++i)
        list += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
    std::string out = "On " + std::to_string(m->samples) + (onTest ? " test" : " validation") + " image" +
                      (m->samples == 1 ? "" : "s") + " this model finds " + list + " cases";
    if (std::isfinite(m->macroAuc))
        out += " (ROC AUC " + fixed(m->macroAuc, 2) + ")";
    out += ".";
    if (!onTest)
        out += " These are the validation images that chose the model: expect somewhat less on new images.";
    return out;
}

} // namespace medsiam::core
