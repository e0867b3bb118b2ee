#pragma once
#include "io/ImageDecoder.h"
#include "project/Database.h"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace medsiam::core {

/// One catalogue row: a 2-D item (a frame, slice or archive entry) of a source file.
struct ImageRecord {
    int64_t id = 0;
    std::string sourcePath;   ///< absolute path of the source file
    std::string relativePath; ///< path relative to the folder it was imported from
    ImageMeta meta;
    int frameIndex = 0;
    std::string contentHash;
};

/// Counts for `medsiam-cli info` and the GUI's project panel.
struct ProjectSummary {
    std::string path;
    int cacheResolution = 0;
    int64_t images = 0;
    int64_t sourceFiles = 0;
    int64_t patients = 0;
    int64_t labeled = 0;
    int64_t cacheBytes = 0;
    std::vector<std::pair<std::string, int64_t>> byFormat;
    std::vector<std::pair<std::string, int64_t>> byModality;
    std::vector<std::pair<std::string, int64_t>> byClass; ///< in class order, "(unlabeled)" last
    std::vector<std::pair<std::string, int64_t>> bySplit; ///< train, val, test, "(none)"
    int64_t issues = 0;
    std::vector<std::pair<std::string, int64_t>> issuesByReason; ///< most frequent first
};

/// An image as training sees it: its class (index into classes(), -1 unlabeled) and split.
struct TrainingItem {
    int64_t imageId = 0;
    int classIndex = -1;
    std::string split; ///< "train", "val", "test" or empty
    std::string patientId; ///< empty when the source has none
};

/// A training run in the project's index (its files live in runs/<id>/).
struct RunRecord {
    std::string id, kind, state, parent, config, summary, createdAt, updatedAt;
};

/// One image's class probabilities from a run.
struct PredictionRecord {
    int64_t imageId = 0;
    std::string split;
    int truth = -1;
    std::vector<float> probabilities;
};

/// One image as the browser lists it: where it comes from, its facts, class and split.
struct CatalogueRow {
    int64_t imageId = 0;
    std::string sourcePath, relativePath, format, modality, patientId, sopUid;
    int frameIndex = 0;
    int frameCount = 1;
    int rows = 0;
    int columns = 0;
    int sliceAxis = -1;
    int64_t classId = -1; ///< -1: unlabeled
    std::string split;    ///< "train", "val", "test" or empty
};

struct ClassInfo {
    int64_t id = 0;
    std::string name;
    std::string color;
    std::string shortcut;
};

/// A medsiam project: a folder holding project.sqlite (the catalogue: images, classes,
/// labels, splits, import issues, cache index) and cache/ (decoded uint8 images).
/// Every write is its own committed transaction unless a caller groups writes in one.
/// A Project object is used from one thread at a time.
class Project {
public:
    static constexpr int kSchemaVersion = 4;
    static constexpr int kDefaultCacheResolution = 256;

    /// Creates the folder and an empty catalogue. Throws UserError if a project is already there.
    static std::unique_ptr<Project> create(const std::string& dir, int cacheResolution = kDefaultCacheResolution);
    /// Opens an existing project, migrating its schema forward. Throws UserError when `dir`
    /// holds no project or one written by a newer medsiam.
    static std::unique_ptr<Project> open(const std::string& dir);
    /// Opens when present, else creates.
    static std::unique_ptr<Project> openOrCreate(const std::string& dir, int cacheResolution = kDefaultCacheResolution);
    static bool exists(const std::string& dir);

    const std::string& dir() const { return m_dir; }
    std::string cacheDir() const;
    Database& db() { return *m_db; }
    int cacheResolution();

    std::string setting(const std::string& key, const std::string& fallback = {});
    void setSetting(const std::string& key, const std::string& value);

    /// Inserts a catalogue row (no transaction of its own) and returns its id.
    int64_t insertImage(const ImageRecord& record);
    /// The id of the class with this name, created (at the end of the class order) when new.
    int64_t ensureClass(const std::string& name);
    std::vector<ClassInfo> classes();
    /// Every image with its class index and split, in image-id order (the training cache's order).
    std::vector<TrainingItem> trainingItems();
    /// The median source image size (rows x columns by area) of the catalogue; {0, 0} when empty.
    std::pair<int, int> medianImageSize();
    /// Replaces every image's split in one transaction ("" removes it).
    void replaceSplits(const std::vector<std::pair<int64_t, std::string>>& assignments);
    /// Inserts or updates (state, summary) a run.
    void recordRun(const RunRecord& run);
    std::vector<RunRecord> runs();
    /// One run's record; nullopt when the project has no run of that id.
    std::optional<RunRecord> run(const std::string& runId);
    /// Replaces a run's stored predictions, in one transaction.
    void storePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions);
    /// A run's stored predictions in image-id order (empty when it has none).
    std::vector<PredictionRecord> predictions(const std::string& runId);
    /// The ids of the runs that have stored predictions.
    std::set<std::string> runsWithPredictions();
    /// Sets or replaces an image's label. `source` says where it came from (csv, npz, folder, user).
    void setLabel(int64_t imageId, int64_t classId, const std::string& source);
    void clearLabel(int64_t imageId);
    /// Sets (classId > 0) or clears (classId <= 0) many images' labels in one transaction.
    void setLabels(const std::vector<std::pair<int64_t, int64_t>>& labels, const std::string& source);
    /// Every image with its facts, class and split, in image-id order.
    std::vector<CatalogueRow> catalogue();
    /// Labeled images per class id.
    std::map<int64_t, int64_t> labelCounts();
    /// Renames a class and sets its colour and shortcut. Throws UserError for an empty or taken
    /// name, or a shortcut another class uses.
    void updateClass(const ClassInfo& info);
    /// Deletes a class and its labels in one transaction; returns how many labels went with it.
    int64_t removeClass(int64_t classId);
    /// Sets an image's split: "train", "val" or "test".
    void setSplit(int64_t imageId, const std::string& split);
    void recordIssue(const std::string& path, const std::string& reason);
    void clearIssue(const std::string& path);
    std::vector<std::pair<std::string, std::string>> issues();

    ProjectSummary summary();

private:
    Project(std::string dir, std::unique_ptr<Database> db);
    void migrate();
    std::string m_dir;
    std::unique_ptr<Database> m_db;
};

/// Writes every labeled image to a CSV that applyLabelCsv() reads back (key column "image",
/// relative paths with "#frame" for multi-frame files; label; split; patient_id; sop_uid).
/// Returns the rows written. Throws UserError when the file cannot be written.
size_t exportLabelCsv(Project& project, const std::string& path);

/// Normalises a user's split name ("Training", "valid", ...) to train/val/test; empty if unknown.
std::string normaliseSplit(const std::string& value);

/// runs/<id> of a project.
std::string runDir(const Project& project, const std::string& runId);
/// runs/<id>/checkpoints/last.safetensors, whether or not it exists yet.
std::string runCheckpointPath(const Project& project, const std::string& runId);
/// Throws UserError ("no run ...") unless runs/<id>/config.json exists.
void requireRun(const Project& project, const std::string& runId);
/// The run's last checkpoint; throws UserError when the run or its checkpoint does not exist.
std::string lastCheckpoint(const Project& project, const std::string& runId);

} // namespace medsiam::core
