#include "project/Splits.h"

#include "util/Error.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace medsiam::core {

namespace {
const char* kNames[3] = {"train", "val", "test"};
}

SplitMode parseSplitMode(const std::string& text)
{
    if (text == "random")
        return SplitMode::Random;
    if (text == "stratified")
        return SplitMode::Stratified;
    if (text == "patient")
        return SplitMode::Patient;
    throw UserError("unknown split mode '" + text + "': use random, stratified or patient");
}

void SplitOptions::validate() const
{
    double sum = 0;
    for (double f : fractions) {
        if (f < 0 || f > 1)
            throw UserError("split fractions must lie between 0 and 1");
        sum += f;
    }
    if (std::abs(sum - 1.0) > 1e-6)
        throw UserError("split fractions must add up to 1 (train + val + test), not " + std::to_string(sum));
}

std::vector<std::string> planSplits(const std::vector<TrainingItem>& items, const SplitOptions& o)
{
    o.validate();
    std::vector<std::string> out(items.size());
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + 17);
    // Groups: one per patient (patient mode) or one per item; each carries its class counts.
    std::vector<std::vector<size_t>> groups;
    if (o.mode == SplitMode::Patient) {
        std::map<std::string, size_t> byPatient;
        for (size_t i = 0; i < items.size(); ++i) {
            if (items[i].patientId.empty()) {
                groups.push_back({i});
                continue;
            }
            auto [it, added] = byPatient.emplace(items[i].patientId, groups.size());
            if (added)
                groups.emplace_back();
            groups[it->second].push_back(i);
        }
    } else {
        for (size_t i = 0; i < items.size(); ++i)
            groups.push_back({i});
    }
    std::shuffle(groups.begin(), groups.end(), rng);

    if (o.mode == SplitMode::Random) {
        // Exact counts: the first round(f_train * N) shuffled items to train, and so on.
        const size_t n = groups.size();
        const size_t nTrain = static_cast<size_t>(std::llround(o.fractions[0] * n));
        const size_t nVal = std::min(n - nTrain, static_cast<size_t>(std::llround(o.fractions[1] * n)));
        for (size_t g = 0; g < n; ++g)
            out[groups[g][0]] = kNames[g < nTrain ? 0 : g < nTrain + nVal ? 1 : 2];
        return out;
    }
    // Stratified and patient modes: place groups (largest first) where they most reduce the
    // shortfall against the target counts, per class and overall.
    int classes = 0;
    for (const auto& it : items)
        classes = std::max(classes, it.classIndex + 2); // slot 0: unlabeled
    auto slot = [&](size_t i) { return items[i].classIndex + 1; };
    std::vector<double> classTotal(static_cast<size_t>(classes), 0);
    for (size_t i = 0; i < items.size(); ++i)
        classTotal[static_cast<size_t>(slot(i))] += 1;
    std::stable_sort(groups.begin(), groups.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
    std::vector<std::vector<double>> have(3, std::vector<double>(static_cast<size_t>(classes), 0));
    std::vector<double> haveAll(3, 0);
    for (const auto& g : groups) {
        std::vector<double> counts(static_cast<size_t>(classes), 0);
        for (size_t i : g)
            counts[static_cast<size_t>(slot(i))] += 1;
        int best = 0;
        double bestScore = -1e300;
        for (int s = 0; s < 3; ++s) {
            if (o.fractions[static_cast<size_t>(s)] <= 0)
                continue;
            // Shortfall after placing this group here (negative: overshoot), summed over classes.
            double score = 0;
            for (int c = 0; c < classes; ++c) {
                if (counts[static_cast<size_t>(c)] == 0)
                    continue;
                const double target = o.fractions[static_cast<size_t>(s)] * classTotal[static_cast<size_t>(c)];
                score += (target - have[static_cast<size_t>(s)][static_cast<size_t>(c)]) / std::max(1.0, target);
            }
            score += (o.fractions[static_cast<size_t>(s)] * double(items.size()) - haveAll[static_cast<size_t>(s)]) /
                     std::max(1.0, o.fractions[static_cast<size_t>(s)] * double(items.size()));
            if (score > bestScore) {
                bestScore = score;
                best = s;
            }
        }
        for (size_t i : g) {
            out[i] = kNames[best];
            have[static_cast<size_t>(best)][static_cast<size_t>(slot(i))] += 1;
            haveAll[static_cast<size_t>(best)] += 1;
        }
    }
    return out;
}

LeakageReport checkLeakage(const std::vector<TrainingItem>& items)
{
    std::map<std::string, std::set<std::string>> splitsOf;
    for (const auto& it : items)
        if (!it.patientId.empty() && !it.split.empty())
            splitsOf[it.patientId].insert(it.split);
    LeakageReport r;
    r.patientsChecked = static_cast<int64_t>(splitsOf.size());
    for (const auto& [patient, splits] : splitsOf)
        if (splits.size() > 1)
            r.leakingPatients.push_back(patient);
    return r;
}

} // namespace medsiam::core
