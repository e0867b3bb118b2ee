#pragma once
// Embeddings: the backbone features (pre-logits) of every image of a project under a run's last
// checkpoint (LibTorch), stored by the run store (RunStore::saveEmbeddings).
#include "project/RunStore.h"

#include <cstdint>
#include <map>
#include <string>

namespace medsiam::core {

/// Computes the embeddings of every cached image with the run's last checkpoint (eval mode, no
/// augmentation, at `inputSize` px), stores them and returns them. Throws UserError.
EmbeddingSet computeEmbeddings(Project& project, const std::string& runId, int inputSize, bool bf16 = false);

/// The network input size a run was trained at, the size its embeddings are best computed at: a
/// SimSiam run's input size, a fine-tuned run's crop (evaluationSize: the BiT-HyperRule's when the
/// run left it open); 64 for any other run.
int runInputSize(Project& project, const std::string& runId);

/// Every image's split and class name ("" when none), by image id, for CSV exports.
std::map<int64_t, std::pair<std::string, std::string>> splitAndClassById(Project& project);

/// Writes a CSV: image_id, split, class, then one column per dimension (no patient data).
void writeEmbeddingsCsv(Project& project, const EmbeddingSet& set, const std::string& path);

} // namespace medsiam::core
