#pragma once
// How medsiam-cli prints a classifier's results: finetune, probe, evaluate and runs share it.
#include "eval/Metrics.h"
#include "train/RunSummary.h"

#include <string>
#include <vector>

namespace medsiam::cli {

/// A split's metrics: one summary line, then precision, recall and F1 per class.
void printMetrics(const char* indent, const std::string& split, const core::ClassificationMetrics& m,
                  const std::vector<std::string>& classNames);
/// A finished classifier run: which checkpoint was chosen, its val and test metrics (per class
/// when `perClass`), and the warnings when the numbers flatter it, next to them.
void printClassifierResults(const char* indent, const core::FinetuneSummary& summary, bool perClass = true);

} // namespace medsiam::cli
