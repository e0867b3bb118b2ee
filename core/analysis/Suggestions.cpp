#include "analysis/Suggestions.h"

#include "project/Project.h"
#include "train/Features.h"
#include "util/Error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <map>

namespace medsiam::core {

namespace {

struct Split {
    std::vector<int64_t> bankRows, queryRows;
    std::vector<int> bankLabels, queryLabels;
};

std::vector<std::pair<int, double>> vote(const EmbeddingSet& set, const Split& s, int numClasses, int k)
{
    const at::Tensor all = at::from_blob(const_cast<float*>(set.vectors.data()), {set.count(), set.dims}, at::kFloat);
    auto rows = [&](const std::vector<int64_t>& r) { return all.index_select(0, at::tensor(r, at::kLong)); };
    const auto scores = knnScores(rows(s.bankRows), s.bankLabels, rows(s.queryRows), numClasses, k);
    std::vector<std::pair<int, double>> out;
    for (size_t q = 0; q < s.queryRows.size(); ++q) {
        const float* p = &scores[q * static_cast<size_t>(numClasses)];
        const int best = static_cast<int>(std::max_element(p, p + numClasses) - p);
        out.emplace_back(best, p[best]);
    }
    return out;
}

} // namespace

std::vector<LabelSuggestion> suggestLabels(Project& project, const EmbeddingSet& set, int k)
{
    std::map<int64_t, int> label;
    for (const auto& item : project.trainingItems())
        label[item.imageId] = item.classIndex;
    const int numClasses = static_cast<int>(project.classes().size());
    Split s;
    for (size_t i = 0; i < set.imageIds.size(); ++i) {
        const int c = label.count(set.imageIds[i]) ? label[set.imageIds[i]] : -1;
        if (c >= 0) {
            s.bankRows.push_back(static_cast<int64_t>(i));
            s.bankLabels.push_back(c);
        } else {
            s.queryRows.push_back(static_cast<int64_t>(i));
        }
    }
    if (s.bankRows.empty() || numClasses < 1)
        throw UserError("label suggestions need some labeled images to learn from; label a few first");
    std::vector<LabelSuggestion> out;
    if (s.queryRows.empty())
        return out;
    const auto votes = vote(set, s, numClasses, k);
    for (size_t q = 0; q < s.queryRows.size(); ++q)
        out.push_back({set.imageIds[static_cast<size_t>(s.queryRows[q])], votes[q].first, votes[q].second});
    return out;
}

SuggestionCheck checkSuggestions(Project& project, const EmbeddingSet& set, int k, int fold)
{
    std::map<int64_t, int> label;
    for (const auto& item : project.trainingItems())
        label[item.imageId] = item.classIndex;
    const int numClasses = static_cast<int>(project.classes().size());
    Split s;
    int64_t labeled = 0;
    for (size_t i = 0; i < set.imageIds.size(); ++i) {
        const int c = label.count(set.imageIds[i]) ? label[set.imageIds[i]] : -1;
        if (c < 0)
            continue;
        if (labeled++ % fold == 0) {
            s.queryRows.push_back(static_cast<int64_t>(i));
            s.queryLabels.push_back(c);
        } else {
            s.bankRows.push_back(static_cast<int64_t>(i));
            s.bankLabels.push_back(c);
        }
    }
    if (s.bankRows.empty() || s.queryRows.empty())
        throw UserError("checking suggestions needs at least " + std::to_string(fold) + " labeled images");
    std::vector<int64_t> counts(static_cast<size_t>(numClasses), 0);
    for (int c : s.bankLabels)
        ++counts[static_cast<size_t>(c)];
    const int majority = static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    const auto votes = vote(set, s, numClasses, k);
    SuggestionCheck r;
    r.heldBack = static_cast<int64_t>(s.queryRows.size());
    int64_t right = 0, majorityRight = 0;
    for (size_t q = 0; q < votes.size(); ++q) {
        right += votes[q].first == s.queryLabels[q];
        majorityRight += majority == s.queryLabels[q];
    }
    r.accuracy = double(right) / double(r.heldBack);
    r.majorityAccuracy = double(majorityRight) / double(r.heldBack);
    return r;
}

} // namespace medsiam::core
