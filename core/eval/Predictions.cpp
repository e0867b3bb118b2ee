#include "eval/Predictions.h"

#include "util/AtomicFile.h"
#include "util/Csv.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace medsiam::core {

int predictedClass(const std::vector<float>& probabilities)
{
    if (probabilities.empty())
        return -1;
    return static_cast<int>(std::max_element(probabilities.begin(), probabilities.end()) - probabilities.begin());
}

double predictionMargin(const std::vector<float>& probabilities)
{
    if (probabilities.empty())
        return 0;
    if (probabilities.size() == 1)
        return 1;
    float first = -1, second = -1;
    for (float p : probabilities) {
        if (p > first) {
            second = first;
            first = p;
        } else if (p > second) {
            second = p;
        }
    }
    return double(first) - double(second);
}

double predictionEntropy(const std::vector<float>& probabilities)
{
    double h = 0;
    for (float p : probabilities)
        if (p > 0)
            h -= double(p) * std::log(double(p));
    return h;
}

void scorePrediction(ClassifiedImage& image)
{
    image.predicted = predictedClass(image.probabilities);
    image.margin = predictionMargin(image.probabilities);
    image.entropy = predictionEntropy(image.probabilities);
}

size_t PredictionSet::classified() const
{
    return static_cast<size_t>(std::count_if(images.begin(), images.end(), [](const ClassifiedImage& i) { return i.predicted >= 0; }));
}

std::vector<int64_t> PredictionSet::perClass() const
{
    std::vector<int64_t> counts(classNames.size(), 0);
    for (const auto& i : images)
        if (i.predicted >= 0 && static_cast<size_t>(i.predicted) < counts.size())
            ++counts[static_cast<size_t>(i.predicted)];
    return counts;
}

std::string predictionsCsv(const PredictionSet& predictions, bool identify)
{
    const auto& names = predictions.classNames;
    auto className = [&](int c) { return c >= 0 && static_cast<size_t>(c) < names.size() ? names[static_cast<size_t>(c)] : std::string(); };
    std::string csv = "id";
    if (identify)
        csv += ",path,sop_instance_uid";
    csv += ",split,label,predicted";
    for (const auto& n : names)
        csv += "," + csvField("p_" + n);
    csv += ",margin,entropy,problem\n";
    char buf[32];
    for (const auto& i : predictions.images) {
        csv += csvField(i.id);
        if (identify)
            csv += "," + csvField(i.path) + "," + csvField(i.sopUid);
        csv += "," + csvField(i.split) + "," + csvField(className(i.truth)) + "," + csvField(className(i.predicted));
        for (size_t c = 0; c < names.size(); ++c) {
            csv += ",";
            if (c < i.probabilities.size()) {
                std::snprintf(buf, sizeof buf, "%.6f", double(i.probabilities[c]));
                csv += buf;
            }
        }
        if (i.predicted >= 0) {
            std::snprintf(buf, sizeof buf, ",%.6f,%.6f", i.margin, i.entropy);
            csv += buf;
        } else {
            csv += ",,";
        }
        csv += "," + csvField(i.problem) + "\n";
    }
    return csv;
}

void writePredictionsCsv(const std::string& path, const PredictionSet& predictions, bool identify)
{
    writeFileAtomically(path, predictionsCsv(predictions, identify));
}


} // namespace medsiam::core
