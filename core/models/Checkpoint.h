#pragma once
// medsiam's checkpoint: one safetensors file (readable by Python's safetensors too) holding
//   model.<name>       every parameter and buffer of the network, bit for bit
//   optimizer.<name>   optimizer state (e.g. SGD momentum buffers), by parameter name
//   rng.cpu, rng.cuda  the random generators' states
// and, in the header's __metadata__, format = "medsiam-checkpoint", version, the model
// configuration (JSON), step, epoch and job-specific JSON. Written atomically.
#include "io/TensorFile.h"
#include "models/ModelConfig.h"
#include "models/Network.h"

#include <string>
#include <utility>
#include <vector>

namespace medsiam::core {

struct TrainingState {
    int64_t step = 0;
    int64_t epoch = 0;
    std::vector<std::pair<std::string, torch::Tensor>> optimizer;
    torch::Tensor rngCpu, rngCuda;   ///< undefined: not recorded
    std::string extraJson = "{}";    ///< job-specific state (schedule, run id, ...)
};

/// Records the CPU (and, when present, CUDA) generator states into `state`.
void captureRng(TrainingState& state);
/// Restores the generator states recorded in `state`; those not recorded are left alone.
void restoreRng(const TrainingState& state);

/// Writes `network` and `state` to `path` atomically: temp file, fsync, rename.
void saveCheckpoint(const std::string& path, NetworkImpl& network, const TrainingState& state);

bool isMedsiamCheckpoint(const TensorFile& file);

struct CheckpointContents {
    ModelConfig config;
    TrainingState state;
    TensorFile file;
};
/// Reads a medsiam checkpoint; throws UserError when it is not one or is damaged.
CheckpointContents readCheckpoint(const std::string& path);

/// Copies every model.* tensor of `file` into `network`, exactly. Throws UserError listing
/// missing, unexpected or mis-shaped tensors.
void loadNetworkState(NetworkImpl& network, const TensorFile& file);

/// Builds the network a checkpoint describes and loads its weights (and its state when asked).
Network loadNetwork(const std::string& path, TrainingState* state = nullptr);

} // namespace medsiam::core
