#pragma once
// The one owner of a project's training runs on disk: runs/<id>/ and its files, and their rows
// in the project's index. No LibTorch.
//
//   runs/<id>/config.json          the run's settings (TrainConfig.h), written once
//   runs/<id>/metrics.jsonl        one MetricsRecord per line, appended as the run goes
//   runs/<id>/summary.json         how it ended (written atomically)
//   runs/<id>/notes.json           the user's name and notes for the run (describe)
//   runs/<id>/checkpoints/last.safetensors, best.safetensors   (models/Checkpoint.h)
//   runs/<id>/embeddings.npy, embedding_ids.npy                 features of every image
//   runs/<id>/tsne.npy, pca.npy    2-D maps of the embeddings, rows as embedding_ids.npy
//   runs/<id>/run.lock             held while a job trains the run
#include "eval/Metrics.h"
#include "project/Project.h"

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

/// One line of a run's metrics.jsonl: a training step, a kNN monitor, an evaluation or a step of
/// a linear probe's search. The one place that spells their JSON.
struct MetricsRecord {
    enum class Type { Step, Monitor, Eval, ProbeL2, Unknown };
    Type type = Type::Unknown;
    int64_t step = 0;       ///< steps done when it was recorded
    int64_t epoch = 0;
    double seconds = -1;    ///< training time since the run began (resumes add up); -1: not recorded
    // Step
    double loss = 0, lr = 0, imagesPerSecond = 0;
    double collapseStd = -1; ///< SimSiam's output std; -1 for other runs
    double mixupLambda = 1;
    // Monitor (weighted kNN on the backbone's features)
    double knnAccuracy = 0, knnBalancedAccuracy = 0;
    int64_t bank = 0, queries = 0;
    // Eval (and ProbeL2's validation)
    std::string split;            ///< "val" or "test"
    ClassificationMetrics metrics;
    double l2 = 0;                ///< ProbeL2

    std::string toJson() const;
    /// Parses one line; nullopt for a line that is not a record (one cut short by a kill).
    static std::optional<MetricsRecord> fromJson(const std::string& line);
};

/// A run's stored embeddings: the backbone's features of every image (rows in image-id order).
struct EmbeddingSet {
    std::string runId;
    int64_t checkpointStep = 0;
    int inputSize = 0;
    std::vector<int64_t> imageIds; ///< one per row
    std::vector<float> vectors;    ///< count() x dims, row-major
    int64_t dims = 0;
    int64_t count() const { return static_cast<int64_t>(imageIds.size()); }
};

/// A run's stored 2-D map: one (x, y) row per image of its embeddings.
struct StoredMap {
    std::vector<int64_t> imageIds; ///< one per row
    std::vector<float> layout;     ///< N x 2
    /// The map's rows no longer match the stored embeddings (they were computed again since);
    /// imageIds and layout are then empty.
    bool stale = false;
};

/// Appends records to a run's metrics.jsonl. Opened for a run that goes on from `resumeStep`,
/// it first drops the records after that step (and any line cut short by a kill), so that a
/// resumed run repeats none and skips none.
class MetricsLog {
public:
    MetricsLog(const std::string& path, int64_t resumeStep);
    /// Writes one record and flushes it. Throws UserError (DiskFullError) when it cannot.
    void append(const MetricsRecord& record);

private:
    std::string m_path;
    std::ofstream m_out;
};

class RunStore {
public:
    explicit RunStore(Project& project) : m_project(project) {}

    // ---- where things are
    std::string dir(const std::string& runId) const;
    std::string configPath(const std::string& runId) const;
    std::string metricsPath(const std::string& runId) const;
    std::string summaryPath(const std::string& runId) const;
    /// notes.json: the name and notes the user gave the run (also in the index).
    std::string notesPath(const std::string& runId) const;
    /// checkpoints/last.safetensors (the latest state, to resume from) or best.safetensors (the
    /// one with the best validation score, for a classifier), whether or not it exists yet.
    std::string checkpointPath(const std::string& runId, bool best = false) const;
    std::string embeddingsPath(const std::string& runId) const;
    std::string embeddingIdsPath(const std::string& runId) const;
    /// tsne.npy, or pca.npy with `pca`.
    std::string mapPath(const std::string& runId, bool pca) const;

    // ---- a run's life
    /// Creates a run: a new id "<prefix>-YYYYMMDD-HHMMSS" (with a suffix when taken), its folder,
    /// config.json and a queued row of `kind` in the index. Returns the id.
    std::string create(const std::string& prefix, const std::string& kind, const std::string& configJson,
                       const std::string& parent = {});
    /// Throws UserError ("no run ...") unless the run exists.
    void require(const std::string& runId) const;
    bool exists(const std::string& runId) const;
    std::string readConfig(const std::string& runId) const;
    /// Replaces config.json (atomically): a budgeted run records the steps it plans.
    void writeConfig(const std::string& runId, const std::string& json);
    /// The checkpoint to continue from; throws UserError when the run has none yet.
    std::string lastCheckpoint(const std::string& runId) const;
    /// The checkpoint to use a classifier with: the one with the best validation score when the
    /// run kept one and chose it (summary.json says which), else the last. Throws UserError when
    /// the run has no checkpoint yet.
    std::string selectedCheckpoint(const std::string& runId) const;
    bool hasCheckpoint(const std::string& runId) const;
    void writeSummary(const std::string& runId, const std::string& json);
    /// summary.json, or "{}" when the run has not ended.
    std::string readSummary(const std::string& runId) const;
    /// Every record of metrics.jsonl, in order (lines being written are passed over).
    std::vector<MetricsRecord> readMetrics(const std::string& runId) const;
    MetricsLog openMetrics(const std::string& runId, int64_t resumeStep) const;
    /// Deletes a run: its folder, its row, its predictions and embeddings. Runs started from it
    /// keep their own weights and are unaffected. Refuses (UserError) while the run trains.
    void remove(const std::string& runId);
    /// Names a run and keeps notes on it (both may be empty). The id, the folder and every
    /// reference to the run stay as they are. Throws UserError for an unknown run or a title
    /// over 200 characters or with a line break.
    void describe(const std::string& runId, const std::string& title, const std::string& note);

    // ---- the index
    /// Every run. A run recorded as running (or stopping) whose training process is gone (it was
    /// killed, or the computer went down) is reported as "interrupted": it can be resumed.
    std::vector<RunRecord> list();
    /// One run's record (with the same correction); nullopt when there is no such run.
    std::optional<RunRecord> find(const std::string& runId);
    /// Held by a job while it trains the run (runs/<id>/run.lock): one job at a time per run,
    /// across processes. Throws UserError naming the holder when the run is training.
    std::shared_ptr<FileLock> lock(const std::string& runId);

    // ---- embeddings and maps
    void saveEmbeddings(const EmbeddingSet& set);
    /// The stored embeddings; throws UserError when there are none (or they are damaged).
    EmbeddingSet loadEmbeddings(const std::string& runId) const;
    bool hasEmbeddings(const std::string& runId) const;
    /// Stores an N x 2 layout (x, y per row) as the run's t-SNE or PCA map.
    void saveMap(const std::string& runId, bool pca, const std::vector<float>& layout) const;
    /// The stored map with the image id of each row; nullopt when there is none. Throws
    /// UserError when the map or the embeddings' ids cannot be read.
    std::optional<StoredMap> loadMap(const std::string& runId, bool pca) const;

private:
    Project& m_project;
};

} // namespace medsiam::core
