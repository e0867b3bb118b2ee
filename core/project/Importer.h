#pragma once
#include "io/ImageDecoder.h"
#include "util/CancelToken.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// How a label CSV names images.
enum class LabelKeyKind {
    Auto,           ///< whichever of the kinds below matches most keys
    RelativePath,   ///< path relative to the imported folder, e.g. "case01/img3.dcm"
    FileName,       ///< file name only
    SopInstanceUid, ///< DICOM SOPInstanceUID
    PatientId,      ///< DICOM PatientID: labels every image of the patient
};
const char* labelKeyKindName(LabelKeyKind kind);
/// Parses "auto", "path", "filename", "sop", "patient"; nullopt otherwise.
std::optional<LabelKeyKind> parseLabelKeyKind(const std::string& text);

struct LabelCsvOptions {
    std::string csvPath;
    std::string keyColumn;
    std::string labelColumn;
    std::string splitColumn; ///< optional
    LabelKeyKind keyKind = LabelKeyKind::Auto;
};

/// What applying a label CSV did. Every row that changed nothing is accounted for.
struct LabelImportResult {
    LabelKeyKind keyKind = LabelKeyKind::Auto; ///< the kind used (resolved when Auto)
    size_t rows = 0;
    size_t matchedRows = 0;
    size_t imagesLabeled = 0;
    size_t imagesSplit = 0;
    std::vector<std::string> unmatchedKeys; ///< keys that match no image (also stored as import issues)
    std::vector<std::string> rowProblems;   ///< "line 7: unknown split 'foo'", ...
};

/// Reads a CSV and labels the project's images by it. Each unmatched key and each bad row is
/// recorded in import_issues as "<csv>:<line>". Throws UserError for a missing column or an
/// unreadable file, before changing anything. One transaction.
LabelImportResult applyLabelCsv(Project& project, const LabelCsvOptions& options);

/// What a label CSV would match before it is applied, for an import dialog's preview.
struct LabelCsvPreview {
    LabelKeyKind keyKind = LabelKeyKind::Auto; ///< the kind that would be used
    size_t rows = 0;
    size_t matchedRows = 0;
    std::vector<std::string> matchedKeys;   ///< the first few
    std::vector<std::string> unmatchedKeys; ///< the first few
    std::string note; ///< e.g. why SOP/patient keys cannot be checked before the import
};

/// Matches a label CSV's keys against the files under `sources` (relative paths and file
/// names, before any decoding) and against images already in `project` (all key kinds).
/// Throws the UserError checkLabelCsv() throws. Lists at most `listLimit` keys of each kind.
LabelCsvPreview previewLabelCsv(const LabelCsvOptions& options, const std::vector<std::string>& sources, Project* project,
                                size_t listLimit = 50);

/// Reads the CSV and checks that the named columns exist, as applyLabelCsv() would; throws the
/// same UserError. Lets an import refuse a bad label table before it changes the project.
void checkLabelCsv(const LabelCsvOptions& options);

/// Parses a volume slicing axis: "axial" (or "z"), "coronal" ("y"), "sagittal" ("x"), any case,
/// into VolumeSlicing::axis; nullopt otherwise.
std::optional<int> parseSliceAxis(const std::string& text);

struct ImportOptions {
    std::vector<std::string> sources; ///< folders or single files
    VolumeSlicing slicing;
    int threads = 0;                  ///< 0: every core
    bool labelsFromFolders = false;   ///< first sub-folder under a source names the class
    bool keepDuplicates = false;      ///< import files whose content is already in the project
    std::optional<LabelCsvOptions> labels;
    std::vector<std::string> classNames; ///< names for integer labels in .npz archives (else a sidecar JSON, else "0", "1", ...)
    size_t chunkFiles = 64;           ///< files decoded between two commits
    /// A file whose decoding takes longer than this is given up and reported, and the rest of
    /// the import goes on (a damaged file can make a library loop forever). 0: no limit.
    double fileTimeoutSeconds = kDefaultFileTimeoutSeconds;
    static constexpr double kDefaultFileTimeoutSeconds = 120;
    /// The decoder for a format; empty: the built-in DecoderRegistry. Tests give decoders that
    /// misbehave here.
    std::function<const ImageDecoder*(ImageFormat)> decoderFor;
};

struct ImportProgress {
    size_t filesDone = 0;
    size_t filesTotal = 0;
    int64_t itemsAdded = 0;
    size_t issues = 0;
    double elapsedSeconds = 0;
    double filesPerSecond = 0;
    double etaSeconds = 0;
};

struct ImportSummary {
    size_t filesFound = 0;
    size_t filesImported = 0;
    size_t filesAlreadyPresent = 0;
    size_t filesWithIssues = 0;
    size_t filesTimedOut = 0;   ///< given up after ImportOptions::fileTimeoutSeconds (also counted as issues)
    size_t filesWithWarnings = 0; ///< imported, with a warning recorded (e.g. values beyond BitsStored)
    int64_t itemsAdded = 0;
    double seconds = 0;
    bool cancelled = false;
    std::optional<LabelImportResult> labels;
};

/// Receives import events. Called on the thread that runs the import; keep handlers short.
class ImportObserver {
public:
    virtual ~ImportObserver() = default;
    virtual void scanFinished(size_t /*files*/) {}
    virtual void progress(const ImportProgress& /*progress*/) {}
    virtual void issue(const std::string& /*path*/, const std::string& /*reason*/) {}
};

/// Imports folders into a project: scans recursively (symlink loops are safe), recognises each
/// file by content, decodes on every core, fits each item into the cache square, and commits
/// catalogue rows in file order, so the result is the same whatever the thread count.
/// Files already in the project (same content) are skipped; every file not imported gets an
/// import_issues row with its reason. Cancel keeps everything committed so far.
/// Needs the project open for writing. Throws UserError, before changing anything, when a
/// source does not exist or the label table is bad; DiskFullError, keeping every batch committed
/// before, when the disk fills up.
/// Adds one import's counts and time to `total` (several imports reported as one: the series
/// of a PACS retrieve, the batches a receiver imports). Labels are not summed.
void addImportSummary(ImportSummary& total, const ImportSummary& part);

ImportSummary importSources(Project& project, const ImportOptions& options, ImportObserver* observer = nullptr,
                            const CancelToken* cancel = nullptr);

/// Decoder threads still busy with a file that an import gave up on (ImportOptions::
/// fileTimeoutSeconds). A process that has some should end with _exit() rather than exit():
/// such a thread may still be inside a library whose static objects exit() would destroy.
int abandonedDecoderThreads();

} // namespace medsiam::core
