#pragma once
// Label suggestions: for each unlabeled image, the class of its labeled nearest neighbours in
// embedding space (cosine similarity, k neighbours weighted by exp(similarity / 0.1)) and a
// confidence (the winning class's share of the weight). Exact search by matrix products.
#include "project/RunStore.h"

#include <string>
#include <vector>

namespace medsiam::core {

struct LabelSuggestion {
    int64_t imageId = 0;
    int classIndex = -1;
    double confidence = 0;
};

/// Suggestions for every image of `set` without a label. Throws UserError when no image is
/// labeled.
std::vector<LabelSuggestion> suggestLabels(Project& project, const EmbeddingSet& set, int k = 10);

struct SuggestionCheck {
    int64_t heldBack = 0;
    double accuracy = 0;         ///< of the suggestions for the held-back images
    double majorityAccuracy = 0; ///< of always guessing the most frequent remaining class
};

/// Hides every `fold`-th labeled image, suggests labels for them from the rest, and compares with
/// their true labels and with a majority-class guess.
SuggestionCheck checkSuggestions(Project& project, const EmbeddingSet& set, int k = 10, int fold = 5);

} // namespace medsiam::core
