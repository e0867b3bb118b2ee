#pragma once
// Embeddings: the backbone features (pre-logits) of every image of a project under a run's last
// checkpoint, stored as runs/<id>/embeddings.npy (N x D float32) and runs/<id>/embedding_ids.npy
// (N int64 image ids), and indexed in project.sqlite with the checkpoint step.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

struct EmbeddingSet {
    std::string runId;
    int64_t checkpointStep = 0;
    int inputSize = 0;
    std::vector<int64_t> imageIds; ///< image-id order, one per row
    at::Tensor vectors;            ///< N x D float32
};

/// Computes the embeddings of every cached image with the run's last checkpoint (eval mode, no
/// augmentation, at `inputSize` px), stores them and returns them. Throws UserError.
EmbeddingSet computeEmbeddings(Project& project, const std::string& runId, int inputSize, bool bf16 = false);

/// The stored embeddings of a run; throws UserError when there are none (run `embed` first).
EmbeddingSet loadEmbeddings(Project& project, const std::string& runId);

/// The network input size a run was trained at, the size its embeddings are best computed at: a
/// SimSiam run's input size, a fine-tuned run's crop (evaluationSize: the BiT-HyperRule's when the
/// run left it open); 64 for any other run.
int runInputSize(Project& project, const std::string& runId);

/// Every image's split and class name ("" when none), by image id, for CSV exports.
std::map<int64_t, std::pair<std::string, std::string>> splitAndClassById(Project& project);

/// Writes a CSV: image_id, split, class, then one column per dimension (no patient data).
void writeEmbeddingsCsv(Project& project, const EmbeddingSet& set, const std::string& path);

} // namespace medsiam::core
