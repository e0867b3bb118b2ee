// medsiam-cli split: train/val/test splits, grouped by patient by default, with a leakage check.
#include "ArgParser.h"
#include "Commands.h"

#include "project/Project.h"
#include "project/Splits.h"
#include "util/Error.h"
#include "util/Text.h"

#include <cstdio>
#include <map>

namespace medsiam::cli {

namespace {
void printCounts(const std::vector<core::TrainingItem>& items, const std::vector<core::ClassInfo>& classes)
{
    std::map<std::string, std::map<int, int64_t>> counts;
    for (const auto& it : items)
        ++counts[it.split.empty() ? "(none)" : it.split][it.classIndex];
    for (const char* split : {"train", "val", "test", "(none)"}) {
        if (!counts.count(split))
            continue;
        int64_t total = 0;
        for (const auto& [c, n] : counts[split])
            total += n;
        std::printf("  %-7s %7lld images:", split, static_cast<long long>(total));
        for (const auto& [c, n] : counts[split])
            std::printf("  %s %lld", c < 0 ? "(unlabeled)" : classes[static_cast<size_t>(c)].name.c_str(), static_cast<long long>(n));
        std::printf("\n");
    }
}
} // namespace

int runSplit(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli split PROJECT [--mode patient|stratified|random] [--fractions T,V,T] [--seed N] [--check]",
                "Assigns every image to train, val or test. The default keeps each patient's images in one split\n"
                "(per-image splitting of multi-image patients leaks them into the test set) and balances classes\n"
                "as far as whole patients allow. --check only reports the current splits and any leakage.");
    p.positional("PROJECT", "project folder")
        .option("mode", "MODE", "patient (grouped by patient id), stratified (by class) or random", "patient")
        .option("fractions", "T,V,T", "train, val and test fractions", "0.7,0.15,0.15")
        .option("seed", "N", "random seed", "0")
        .flag("check", "report the current splits and patient leakage; change nothing");
    if (!p.parse(args))
        return 0;
    auto project = core::Project::open(p.value("PROJECT"));
    const auto classes = project->classes();
    auto items = project->trainingItems();
    if (!p.has("check")) {
        core::SplitOptions o;
        o.mode = core::parseSplitMode(p.value("mode"));
        const auto parts = core::text::split(p.value("fractions"), ',');
        if (parts.size() != 3)
            throw UsageError("--fractions takes three numbers: train,val,test");
        for (size_t i = 0; i < 3; ++i)
            if (!core::text::parseDouble(parts[i], o.fractions[i]))
                throw UsageError("--fractions: '" + parts[i] + "' is not a number");
        o.seed = static_cast<uint64_t>(p.intValue("seed", 0, 2147483647));
        const auto plan = core::planSplits(items, o);
        std::vector<std::pair<int64_t, std::string>> assignments;
        for (size_t i = 0; i < items.size(); ++i) {
            assignments.emplace_back(items[i].imageId, plan[i]);
            items[i].split = plan[i];
        }
        project->replaceSplits(assignments);
        std::printf("new %s splits (seed %llu):\n", p.value("mode").c_str(), static_cast<unsigned long long>(o.seed));
    } else {
        std::printf("current splits:\n");
    }
    printCounts(items, classes);
    const auto leak = core::checkLeakage(items);
    if (leak.patientsChecked == 0) {
        std::printf("leakage check: no patient ids in this project; images cannot be grouped by patient\n");
    } else if (leak.leakingPatients.empty()) {
        std::printf("leakage check: %lld patients, none in more than one split\n", static_cast<long long>(leak.patientsChecked));
    } else {
        std::printf("leakage check: WARNING: %zu of %lld patients have images in more than one split:",
                    leak.leakingPatients.size(), static_cast<long long>(leak.patientsChecked));
        for (size_t i = 0; i < leak.leakingPatients.size() && i < 10; ++i)
            std::printf(" %s", leak.leakingPatients[i].c_str());
        std::printf("%s\n", leak.leakingPatients.size() > 10 ? " ..." : "");
        return p.has("check") ? 1 : 0;
    }
    return 0;
}

} // namespace medsiam::cli
