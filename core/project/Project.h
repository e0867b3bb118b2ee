#pragma once
#include "data/ImageCache.h"
#include "io/ImageDecoder.h"
#include "project/Database.h"
#include "util/Error.h"
#include "util/FileLock.h"

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
    int64_t issues = 0;   ///< files not imported
    int64_t warnings = 0; ///< files imported with a warning
    std::vector<std::pair<std::string, int64_t>> issuesByReason; ///< most frequent first
};

/// An image as training sees it: its class (index into classes(), -1 unlabeled) and split.
struct TrainingItem {
    int64_t imageId = 0;
    int classIndex = -1;
    std::string split; ///< "train", "val", "test" or empty
    std::string patientId; ///< empty when the source has none
};

/// An import issue is an error (the file was not imported) or a warning (it was, but the user
/// should know something about it).
enum class IssueSeverity { Error, Warning };

/// A training run in the project's index (its files live in runs/<id>/).
struct RunRecord {
    std::string id, kind, state, parent, config, summary, createdAt, updatedAt;
    std::string title; ///< a name the user gave the run ("" none); the id stays the run's key
    std::string note;  ///< the user's notes on the run
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
    std::string contentHash; ///< of the source file (ContentHash.h)
};

struct ClassInfo {
    int64_t id = 0;
    std::string name;
    std::string color;
    std::string shortcut;
};

/// The labeling keys a class may have: "1".."9" and "0".
std::vector<std::string> classKeys();

/// Gives each class of `classes` whose index is in `fresh` (classes that have never been
/// configured) a free key, and returns how many got one. A class named by one digit gets that
/// digit when it is free (classes "0" and "1" get keys 0 and 1, not 1 and 2); the others the
/// first free of 1..9, then 0. Keys of the other classes are kept; a class gets no key when all
/// ten are taken.
size_t assignDefaultKeys(std::vector<ClassInfo>& classes, const std::vector<size_t>& fresh);

/// How a project is opened. One process at a time may write to a project (it holds the
/// project's lock, project.lock); any number may read it meanwhile.
enum class ProjectAccess { ReadWrite, ReadOnly };

/// Another program is writing to the project; owner() says which.
class ProjectBusyError : public UserError {
public:
    ProjectBusyError(const std::string& message, LockOwner owner) : UserError(message), m_owner(std::move(owner)) {}
    const LockOwner& owner() const { return m_owner; }

private:
    LockOwner m_owner;
};

/// project.sqlite is empty, not a database or damaged. Nothing was changed; the project's
/// backups (listBackups) can restore it.
class DamagedProjectError : public UserError {
public:
    using UserError::UserError;
};

/// A medsiam project: a folder holding project.sqlite (the catalogue: images, classes,
/// labels, splits, import issues, cache index) and cache/ (decoded uint8 images).
/// Every write is its own committed transaction unless a caller groups writes in one.
/// A Project object is used from one thread at a time.
class Project {
public:
    static constexpr int kSchemaVersion = 6;
    static constexpr int kDefaultCacheResolution = 256;

    /// Creates the folder and an empty catalogue, holding the write lock. Throws UserError if a
    /// project is already there, ProjectBusyError if another program is creating it.
    static std::unique_ptr<Project> create(const std::string& dir, int cacheResolution = kDefaultCacheResolution);
    /// Opens an existing project. For writing it takes the project's lock (ProjectBusyError
    /// naming the holder when another program has it), checks the catalogue and keeps a backup
    /// of it (see ProjectBackup.h), and migrates its schema forward. Read-only, nothing in the
    /// folder is changed. Throws UserError when `dir` holds no project or one written by a newer
    /// medsiam, DamagedProjectError when its catalogue is empty or damaged.
    static std::unique_ptr<Project> open(const std::string& dir, ProjectAccess access = ProjectAccess::ReadWrite);
    /// The last writer of a process to close the project leaves a backup of the catalogue when it
    /// changed (see ProjectBackup.h).
    ~Project();
    Project(const Project&) = delete;
    Project& operator=(const Project&) = delete;
    /// Opens when present, else creates.
    static std::unique_ptr<Project> openOrCreate(const std::string& dir, int cacheResolution = kDefaultCacheResolution);
    static bool exists(const std::string& dir);
    /// The program writing to the project now, another one or this one; nullopt when none is.
    static std::optional<LockOwner> writer(const std::string& dir);

    const std::string& dir() const { return m_dir; }
    bool readOnly() const { return !m_lock; }
    std::string cacheDir() const;
    Database& db() { return *m_db; }
    int cacheResolution();
    /// 3 when any cached image is in colour, else 1: the input channels a network needs.
    int naturalChannels();

    std::string setting(const std::string& key, const std::string& fallback = {});
    void setSetting(const std::string& key, const std::string& value);

    /// Inserts a catalogue row (no transaction of its own) and returns its id.
    int64_t insertImage(const ImageRecord& record);
    /// The index of the cache at `side`, in image-id order.
    std::vector<CacheEntry> cacheEntries(int side);
    /// The cache at `side` with its index (memory-mapped). Throws UserError when it is missing
    /// or damaged.
    std::unique_ptr<ImageCache> openCache(int side);
    /// Where the committed part of the cache file at `side` ends: past its last indexed image.
    /// Read it inside the transaction that appends, so that offsets are handed out one writer
    /// at a time.
    int64_t cacheEnd(int side);
    /// Records where an image's pixels are in the cache at `side` (no transaction of its own).
    void insertCacheEntry(int side, const CacheEntry& entry);
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
    /// Every run as its row records it (RunStore::list() also tells which are still live).
    std::vector<RunRecord> runs();
    /// One run's row; nullopt when the project has no run of that id.
    std::optional<RunRecord> run(const std::string& runId);
    /// Sets the name and the notes the user gave a run (RunStore::describe checks them).
    void describeRun(const std::string& runId, const std::string& title, const std::string& note);
    /// Deletes a run's row, its predictions and its embeddings row (one transaction).
    void deleteRun(const std::string& runId);
    /// Records that a run's embeddings (RunStore) were computed at `checkpointStep`.
    void recordEmbeddings(const std::string& runId, int64_t checkpointStep, int64_t count, int64_t dims, int inputSize);
    /// The checkpoint step and input size of a run's stored embeddings; nullopt when it has none.
    std::optional<std::pair<int64_t, int>> embeddingsInfo(const std::string& runId);
    /// Replaces a run's stored predictions, in one transaction.
    void storePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions);
    /// Adds a run's predictions of these images, replacing what it had stored for them and
    /// keeping the rest (one transaction).
    void mergePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions);
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
    /// Applies a whole class table in one transaction (a failure changes nothing): names,
    /// colours and keys, which two classes may swap; a class with id <= 0 is created.
    void updateClasses(const std::vector<ClassInfo>& classes);
    /// Deletes a class and its labels in one transaction; returns how many labels went with it.
    int64_t removeClass(int64_t classId);
    /// Sets an image's split: "train", "val" or "test".
    void setSplit(int64_t imageId, const std::string& split);
    void recordIssue(const std::string& path, const std::string& reason, IssueSeverity severity = IssueSeverity::Error);
    void clearIssue(const std::string& path);
    /// The files that were not imported, with their reasons, by path.
    std::vector<std::pair<std::string, std::string>> issues();
    /// The files that were imported with a warning, by path.
    std::vector<std::pair<std::string, std::string>> warnings();

    ProjectSummary summary();

private:
    Project(std::string dir, std::unique_ptr<Database> db, std::shared_ptr<FileLock> lock);
    void migrate();
    void writePredictions(const std::string& runId, const std::vector<PredictionRecord>& predictions, bool replaceAll);
    std::string m_dir;
    std::shared_ptr<FileLock> m_lock; ///< null when read-only; released after the database closes
    std::unique_ptr<Database> m_db;
};

/// The path of a project's catalogue database, project.sqlite.
std::string projectDatabasePath(const std::string& dir);
/// Takes a project's write lock for this process (shared by its connections), or throws
/// ProjectBusyError naming the program that holds it.
std::shared_ptr<FileLock> lockProjectForWriting(const std::string& dir);

/// Writes every labeled image to a CSV that applyLabelCsv() reads back (key column "image",
/// relative paths with "#frame" for multi-frame files; label; split; patient_id; sop_uid).
/// Returns the rows written. Throws UserError when the file cannot be written.
size_t exportLabelCsv(Project& project, const std::string& path);

/// Normalises a user's split name ("Training", "valid", ...) to train/val/test; empty if unknown.
std::string normaliseSplit(const std::string& value);


} // namespace medsiam::core
