#pragma once
// Classification metrics, computed the way scikit-learn defines them (see docs/TRAINING.md).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medsiam::core {

struct ClassificationMetrics {
    int numClasses = 0;
    int64_t samples = 0;
    double accuracy = 0;
    /// Mean recall over the classes that occur in the truth (a class without true samples is
    /// left out, as scikit-learn's balanced_accuracy_score does).
    double balancedAccuracy = 0;
    /// One-vs-rest ROC AUC averaged over the classes that have both positives and negatives
    /// (binary: the AUC of class 1); ties count one half. NaN when no class qualifies.
    double macroAuc = 0;
    std::vector<double> precision, recall, f1, auc; ///< per class; precision is 0 without predictions
    std::vector<int64_t> support;                   ///< true samples per class
    std::vector<std::vector<int64_t>> confusion;    ///< [truth][prediction]

    /// One JSON object (for metrics.jsonl and summary.json).
    std::string toJson() const;
    /// Reads what toJson() wrote; missing fields stay at their defaults (NaN AUC when null).
    static ClassificationMetrics fromJson(const std::string& json);
};

/// `probabilities` holds numClasses scores per sample, row-major; the prediction is the arg-max.
/// Throws UserError on inconsistent sizes or labels out of range.
ClassificationMetrics computeMetrics(const std::vector<int>& truth, const std::vector<float>& probabilities, int numClasses);

/// Plain-words warnings for a classifier whose numbers flatter it, each with what to try: one
/// that predicts a single class for 95% or more of the images of `split`, and one whose balanced
/// accuracy is within 0.05 of chance (1 / classes). Empty when neither holds (or no samples).
/// `classNames` may be empty (then classes are numbered).
std::vector<std::string> qualityWarnings(const ClassificationMetrics& metrics, const std::string& split,
                                         const std::vector<std::string>& classNames);

/// The warnings of a classifier evaluated on several splits ("val", "test", ...): judged on val,
/// as model selection is; without labeled validation images on test, else on the first split.
std::vector<std::string> classifierWarnings(const std::map<std::string, ClassificationMetrics>& bySplit,
                                            const std::vector<std::string>& classNames);

/// ROC AUC of scores for a binary truth (1 positive, 0 negative), with ties counted one half
/// (Mann-Whitney U with average ranks). NaN when either class is absent.
double rocAuc(const std::vector<int>& positive, const std::vector<float>& scores);

} // namespace medsiam::core
