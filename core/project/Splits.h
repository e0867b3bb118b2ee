#pragma once
// Train/val/test splits: random, stratified by class, or grouped by patient so that no patient's
// images land in two splits (the leakage that per-image splitting of multi-image patients causes).
#include "project/Project.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

enum class SplitMode { Random, Stratified, Patient };
/// "random", "stratified", "patient"; throws UserError for anything else.
SplitMode parseSplitMode(const std::string& text);

struct SplitOptions {
    SplitMode mode = SplitMode::Patient;
    std::array<double, 3> fractions{0.7, 0.15, 0.15}; ///< train, val, test; must sum to 1
    uint64_t seed = 0;
    void validate() const;
};

/// A split for every item (same order): "train", "val" or "test". Deterministic for a seed.
/// Patient mode keeps each patient's images together (items without a patient id are their own
/// group) and balances classes across splits as far as whole patients allow; stratified mode
/// splits each class by the fractions.
std::vector<std::string> planSplits(const std::vector<TrainingItem>& items, const SplitOptions& options);

struct LeakageReport {
    int64_t patientsChecked = 0;
    std::vector<std::string> leakingPatients; ///< patients with images in more than one split
};
/// Patients whose images lie in more than one split.
LeakageReport checkLeakage(const std::vector<TrainingItem>& items);

} // namespace medsiam::core
