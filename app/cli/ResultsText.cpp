#include "ResultsText.h"

#include <cstdio>

namespace medsiam::cli {

namespace {

void printLine(const char* indent, const std::string& split, const core::ClassificationMetrics& m)
{
    std::printf("%s%-5s %5lld images  accuracy %.3f  balanced accuracy %.3f  ROC AUC %.3f\n", indent, split.c_str(),
                static_cast<long long>(m.samples), m.accuracy, m.balancedAccuracy, m.macroAuc);
}

} // namespace

void printMetrics(const char* indent, const std::string& split, const core::ClassificationMetrics& m,
                  const std::vector<std::string>& classNames)
{
    printLine(indent, split, m);
    for (int k = 0; k < m.numClasses; ++k)
        std::printf("%s      %-14s precision %.3f  recall %.3f  F1 %.3f  (%lld)\n", indent,
                    k < static_cast<int>(classNames.size()) ? classNames[static_cast<size_t>(k)].c_str() : "?", m.precision[k],
                    m.recall[k], m.f1[k], static_cast<long long>(m.support[k]));
}

void printClassifierResults(const char* indent, const core::FinetuneSummary& summary, bool perClass)
{
    std::printf("%smodel: %s\n", indent, summary.selectionText().c_str());
    const std::string inner = std::string(indent) + "  ";
    for (const auto& [split, m] : {std::pair{"val", &summary.val}, std::pair{"test", &summary.test}}) {
        if (!*m)
            continue;
        if (perClass)
            printMetrics(inner.c_str(), split, **m, summary.classes);
        else
            printLine(inner.c_str(), split, **m);
    }
    for (const auto& w : summary.warnings)
        std::printf("%sWARNING: %s\n", indent, w.c_str());
}

} // namespace medsiam::cli
