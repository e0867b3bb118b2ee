#pragma once
// What medsiam says to a PACS: the node it talks to, the queries it sends, what comes back and
// how a retrieve went. Plain data, no DCMTK: the CLI and the desktop app build these, and
// PacsClient (PacsClient.h) turns them into DICOM network messages.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

/// The AE title medsiam calls itself by default, and the port its storage receiver listens on.
inline constexpr const char* kDefaultOurAeTitle = "MEDSIAM";
inline constexpr int kDefaultStoragePort = 11112;
/// How long medsiam waits for a connection, or for a silent PACS, by default.
inline constexpr int kDefaultPacsTimeoutSeconds = 30;

/// A DICOM node (a PACS): its AE title, host and port. `name` is the user's label for it.
struct PacsNode {
    std::string name;
    std::string aeTitle;
    std::string host;
    int port = 104;
    /// "AE@host:port".
    std::string address() const;
};

/// Why `ae` is not a valid AE title (1 to 16 characters, no backslash or control characters, not
/// only spaces); nullopt when it is.
std::optional<std::string> aeTitleProblem(const std::string& ae);
/// Checks the AE title, host and port; throws UserError naming the field.
void checkNode(const PacsNode& node);
/// Parses "AE@host:port" (the port may be left out: 104); throws UserError.
PacsNode parseNode(const std::string& text);

/// Query/retrieve levels. Image is used by medsiam itself to list a series' instances.
enum class QueryLevel { Patient, Study, Series, Image };
const char* queryLevelName(QueryLevel level);
/// "patient", "study", "series", "image" (any case); nullopt otherwise.
std::optional<QueryLevel> parseQueryLevel(const std::string& text);

/// A C-FIND. Empty fields match anything. Values may use DICOM wildcards (* and ?).
/// The patient name is a matching key only: it goes to the called node and nowhere else (no
/// result, log line, setting or project file holds it).
struct PacsQuery {
    QueryLevel level = QueryLevel::Study;
    std::string patientId;
    std::string patientName;
    std::string dateFrom; ///< study date, YYYYMMDD
    std::string dateTo;   ///< study date, YYYYMMDD
    std::string modality;
    std::string accession;
    std::string description; ///< study description (study level), series description (series level)
    std::string studyUid;
    std::string seriesUid;
};

/// Parses a study date or range: "20240131", "2024-01-31", "20240101-20240131",
/// "2024-01-01..2024-01-31", an open end ("20240101-", "-20240131"). Sets dateFrom and dateTo;
/// throws UserError for anything else (an impossible date included).
void parseDateRange(const std::string& text, PacsQuery& query);
/// Checks a query (dates, UIDs, lengths); throws UserError.
void checkQuery(const PacsQuery& query);

/// One C-FIND answer. Patient names are never kept.
struct PacsRecord {
    QueryLevel level = QueryLevel::Study;
    std::string patientId;
    std::string studyUid;
    std::string seriesUid;
    std::string sopUid;
    std::string sopClassUid;
    std::string studyDate;   ///< YYYYMMDD
    std::string modality;    ///< series: Modality; study: ModalitiesInStudy ("CT\\MR")
    std::string description; ///< study or series description
    std::string accession;
    std::string seriesNumber;
    int relatedStudies = -1;   ///< patient level
    int relatedSeries = -1;    ///< patient and study level; -1: the node did not say
    int relatedInstances = -1; ///< every level above image; -1: the node did not say
};

/// A series to retrieve.
struct SeriesRef {
    std::string studyUid;
    std::string seriesUid;
};

/// How the images travel: C-GET brings them back on medsiam's own connection (no configuration
/// on the PACS); C-MOVE has the PACS send them to medsiam's storage receiver, which the PACS must
/// know by AE title, host and port.
enum class RetrieveMethod { Get, Move };

struct PacsTimeouts {
    int connectSeconds = kDefaultPacsTimeoutSeconds; ///< TCP connection and association negotiation
    int dimseSeconds = kDefaultPacsTimeoutSeconds;   ///< a silent peer during a transfer or a query
    /// One limit for both waits (what the CLI's --timeout and the desktop app's setting give).
    static PacsTimeouts uniform(int seconds) { return PacsTimeouts{seconds, seconds}; }
};

struct RetrieveOptions {
    RetrieveMethod method = RetrieveMethod::Get;
    int storagePort = kDefaultStoragePort; ///< C-MOVE: where the receiver listens
};

struct RetrieveProgress {
    size_t seriesDone = 0;
    size_t seriesTotal = 0;
    size_t instancesDone = 0;  ///< received (or found already here) so far, over all series
    size_t instancesTotal = 0; ///< as listed by the node; grows as series are listed
    size_t instancesFailed = 0;
    uint64_t bytes = 0;        ///< received in this retrieve
    double seconds = 0;
};

struct RetrieveSummary {
    size_t seriesRequested = 0;
    size_t seriesComplete = 0;       ///< every listed instance is on disk
    size_t instancesListed = 0;
    size_t instancesReceived = 0;
    size_t instancesAlreadyPresent = 0; ///< on disk from an earlier retrieve: not asked for again
    size_t instancesFailed = 0;      ///< the node reported them as failed, or they did not arrive
    uint64_t bytes = 0;
    double seconds = 0;
    bool cancelled = false;
    std::vector<std::string> problems; ///< per series, in words
    std::vector<std::string> seriesFolders; ///< where each requested series' files are
    /// Every requested series is complete, nothing failed and nobody cancelled.
    bool complete() const { return !cancelled && problems.empty() && seriesComplete == seriesRequested; }
};

/// True for a DICOM UID: 1 to 64 digits and dots, not starting or ending with a dot. Only such
/// UIDs name files and folders (a UID from the network is never trusted as a path).
bool isDicomUid(const std::string& text);

/// Where retrieved files go under a root folder: <root>/<StudyInstanceUID>/<SeriesInstanceUID>/
/// <SOPInstanceUID>.dcm. Throws UserError when a UID is not one.
std::string pacsSeriesFolder(const std::string& root, const std::string& studyUid, const std::string& seriesUid);
std::string pacsInstancePath(const std::string& root, const std::string& studyUid, const std::string& seriesUid,
                             const std::string& sopUid);
/// The SOP Instance UIDs of the files already in a series folder (complete files only: a
/// transfer that was cut leaves a ".part" file, which does not count).
std::vector<std::string> instancesInFolder(const std::string& seriesFolder);

/// A progress line: "Retrieving: series 1/3, 120/400 instances, 12.0 MB, 15.2 instances/s".
std::string describeProgress(const RetrieveProgress& progress);
/// A DICOM date (YYYYMMDD) as 2024-01-31; anything else as it is.
std::string displayDate(const std::string& dicomDate);

/// A line for the user: "12 of 12 instances (3 already here), 4.1 MB in 0.8 s (15 instances/s, 5.1 MB/s)".
std::string describeRetrieve(const RetrieveSummary& summary);

} // namespace medsiam::core
