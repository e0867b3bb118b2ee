#include "eval/Metrics.h"

#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>

namespace medsiam::core {

double rocAuc(const std::vector<int>& positive, const std::vector<float>& scores)
{
    const size_t n = scores.size();
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
    // Average ranks (1-based) over runs of equal scores.
    double rankSumPositive = 0;
    int64_t nPos = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && scores[order[j + 1]] == scores[order[i]])
            ++j;
        const double rank = (double(i + 1) + double(j + 1)) / 2.0;
        for (size_t k = i; k <= j; ++k)
            if (positive[order[k]]) {
                rankSumPositive += rank;
                ++nPos;
            }
        i = j + 1;
    }
    const int64_t nNeg = static_cast<int64_t>(n) - nPos;
    if (nPos == 0 || nNeg == 0)
        return std::numeric_limits<double>::quiet_NaN();
    return (rankSumPositive - double(nPos) * double(nPos + 1) / 2.0) / (double(nPos) * double(nNeg));
}

ClassificationMetrics computeMetrics(const std::vector<int>& truth, const std::vector<float>& probabilities, int numClasses)
{
    if (numClasses < 2)
        throw UserError("metrics need at least two classes");
    if (probabilities.size() != truth.size() * static_cast<size_t>(numClasses))
        throw UserError("metrics: " + std::to_string(truth.size()) + " labels but " + std::to_string(probabilities.size()) +
                        " scores for " + std::to_string(numClasses) + " classes");
    ClassificationMetrics m;
    m.numClasses = numClasses;
    m.samples = static_cast<int64_t>(truth.size());
    m.confusion.assign(numClasses, std::vector<int64_t>(numClasses, 0));
    int64_t correct = 0;
    for (size_t i = 0; i < truth.size(); ++i) {
        if (truth[i] < 0 || truth[i] >= numClasses)
            throw UserError("metrics: label " + std::to_string(truth[i]) + " is out of range");
        const float* p = &probabilities[i * numClasses];
        const int pred = static_cast<int>(std::max_element(p, p + numClasses) - p);
        ++m.confusion[truth[i]][pred];
        correct += pred == truth[i];
    }
    m.accuracy = truth.empty() ? 0 : double(correct) / double(truth.size());
    double recallSum = 0;
    int present = 0;
    double aucSum = 0;
    int aucClasses = 0;
    for (int c = 0; c < numClasses; ++c) {
        int64_t tp = m.confusion[c][c], support = 0, predicted = 0;
        for (int k = 0; k < numClasses; ++k) {
            support += m.confusion[c][k];
            predicted += m.confusion[k][c];
        }
        const double precision = predicted ? double(tp) / double(predicted) : 0.0;
        const double recall = support ? double(tp) / double(support) : 0.0;
        m.support.push_back(support);
        m.precision.push_back(precision);
        m.recall.push_back(recall);
        m.f1.push_back(precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0);
        if (support) {
            recallSum += recall;
            ++present;
        }
        std::vector<int> positive(truth.size());
        std::vector<float> scores(truth.size());
        for (size_t i = 0; i < truth.size(); ++i) {
            positive[i] = truth[i] == c;
            scores[i] = probabilities[i * numClasses + c];
        }
        const double auc = rocAuc(positive, scores);
        m.auc.push_back(auc);
        if (!std::isnan(auc) && (numClasses > 2 || c == 1)) {
            aucSum += auc;
            ++aucClasses;
        }
    }
    m.balancedAccuracy = present ? recallSum / present : 0.0;
    m.macroAuc = aucClasses ? aucSum / aucClasses : std::numeric_limits<double>::quiet_NaN();
    return m;
}

std::string ClassificationMetrics::toJson() const
{
    auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
    nlohmann::ordered_json j;
    j["samples"] = samples;
    j["accuracy"] = accuracy;
    j["balanced_accuracy"] = balancedAccuracy;
    j["macro_auc"] = num(macroAuc);
    nlohmann::json aucs = nlohmann::json::array();
    for (double a : auc)
        aucs.push_back(num(a));
    j["precision"] = precision;
    j["recall"] = recall;
    j["f1"] = f1;
    j["auc"] = aucs;
    j["support"] = support;
    j["confusion"] = confusion;
    return j.dump();
}

ClassificationMetrics ClassificationMetrics::fromJson(const std::string& text)
{
    ClassificationMetrics m;
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (!j.is_object())
        return m;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto num = [&](const nlohmann::json& v) { return v.is_number() ? v.get<double>() : nan; };
    m.samples = j.value("samples", int64_t(0));
    m.accuracy = j.contains("accuracy") ? num(j["accuracy"]) : 0.0;
    m.balancedAccuracy = j.contains("balanced_accuracy") ? num(j["balanced_accuracy"]) : 0.0;
    m.macroAuc = j.contains("macro_auc") ? num(j["macro_auc"]) : nan;
    auto list = [&](const char* key, std::vector<double>& out) {
        if (j.contains(key) && j[key].is_array())
            for (const auto& v : j[key])
                out.push_back(num(v));
    };
    list("precision", m.precision);
    list("recall", m.recall);
    list("f1", m.f1);
    list("auc", m.auc);
    if (j.contains("support") && j["support"].is_array())
        for (const auto& v : j["support"])
            m.support.push_back(v.is_number_integer() ? v.get<int64_t>() : 0);
    if (j.contains("confusion") && j["confusion"].is_array())
        for (const auto& row : j["confusion"]) {
            std::vector<int64_t> r;
            if (row.is_array())
                for (const auto& v : row)
                    r.push_back(v.is_number_integer() ? v.get<int64_t>() : 0);
            m.confusion.push_back(std::move(r));
        }
    m.numClasses = static_cast<int>(m.support.size());
    return m;
}

std::vector<std::string> qualityWarnings(const ClassificationMetrics& m, const std::string& split,
                                         const std::vector<std::string>& classNames)
{
    std::vector<std::string> out;
    if (m.samples <= 0 || m.numClasses < 2 || m.confusion.size() != static_cast<size_t>(m.numClasses))
        return out;
    std::vector<int64_t> predicted(static_cast<size_t>(m.numClasses), 0);
    for (const auto& row : m.confusion)
        for (size_t k = 0; k < row.size() && k < predicted.size(); ++k)
            predicted[k] += row[k];
    const auto top = std::max_element(predicted.begin(), predicted.end());
    const size_t k = static_cast<size_t>(top - predicted.begin());
    const double share = double(*top) / double(m.samples);
    const std::string name = k < classNames.size() ? "'" + classNames[k] + "'" : "class " + std::to_string(k);
    char buf[512];
    if (share >= 0.95) {
        std::snprintf(buf, sizeof buf,
                      "the classifier predicts %s for %.0f%% of the %s images: it has not learned to tell the classes apart, and its "
                      "accuracy mostly says how common %s is. Try a longer budget, balanced classes (the adamw recipe "
                      "balances them), or more labeled images of the other classes.",
                      name.c_str(), 100 * share, split.c_str(), name.c_str());
        out.push_back(buf);
    }
    const double chance = 1.0 / m.numClasses;
    if (m.balancedAccuracy < chance + 0.05) {
        std::snprintf(buf, sizeof buf,
                      "its %s balanced accuracy %.3f is within 0.05 of chance (%.3f): the classifier is no better than "
                      "guessing. Try a longer budget, another starting point (a SimSiam run, BiT weights), or check the "
                      "labels.",
                      split.c_str(), m.balancedAccuracy, chance);
        out.push_back(buf);
    }
    return out;
}

std::vector<std::string> classifierWarnings(const std::map<std::string, ClassificationMetrics>& bySplit,
                                            const std::vector<std::string>& classNames)
{
    if (bySplit.empty())
        return {};
    const auto judged = bySplit.count("val") ? bySplit.find("val") : bySplit.count("test") ? bySplit.find("test") : bySplit.begin();
    return qualityWarnings(judged->second, judged->first == "val" ? "validation" : judged->first, classNames);
}

} // namespace medsiam::core
