#include "ArgParser.h"
#include "Commands.h"
#include "ImportOptionsCli.h"
#include "ProgressLine.h"

#include "project/Importer.h"
#include "project/Project.h"
#include "util/CancelToken.h"
#include "util/Text.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace medsiam::cli {

namespace {

core::CancelToken* g_cancel = nullptr;
std::atomic<int> g_interrupts{0};
extern "C" void onInterrupt(int)
{
    if (g_cancel)
        g_cancel->requestStop();
    if (g_interrupts.fetch_add(1) >= 1)
        ::_exit(130); // a second Ctrl-C: at once
}

/// Ends the process a few seconds after Ctrl-C or SIGTERM when the import has not returned by
/// then (a decoder stuck in a library cannot be interrupted). What was committed is kept: the
/// catalogue is transactional and bytes beyond the cache's index are reclaimed next time.
class InterruptWatchdog {
public:
    explicit InterruptWatchdog(double graceSeconds) : m_grace(graceSeconds), m_thread([this] { watch(); }) {}
    ~InterruptWatchdog()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_done = true;
        }
        m_cv.notify_all();
        m_thread.join();
    }

private:
    void watch()
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        std::chrono::steady_clock::time_point since{};
        while (!m_done) {
            m_cv.wait_for(lock, std::chrono::milliseconds(100));
            if (g_interrupts.load() == 0)
                continue;
            const auto now = std::chrono::steady_clock::now();
            if (since == std::chrono::steady_clock::time_point{})
                since = now;
            if (!m_done && now - since > std::chrono::duration<double>(m_grace)) {
                const char msg[] = "\nmedsiam-cli import: stopped. Files committed before the signal are kept; files still "
                                   "being decoded were abandoned. Run the import again to go on.\n";
                (void)!::write(2, msg, sizeof msg - 1);
                ::_exit(130);
            }
        }
    }
    double m_grace;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_done = false;
    std::thread m_thread;
};

class CliImportObserver : public core::ImportObserver {
public:
    void scanFinished(size_t files) override { std::fprintf(stderr, "Found %zu files\n", files); }
    void progress(const core::ImportProgress& p) override
    {
        char buf[256];
        const double pct = p.filesTotal ? 100.0 * p.filesDone / p.filesTotal : 100.0;
        std::snprintf(buf, sizeof buf, "Importing %zu/%zu files (%.0f%%)  %.0f files/s  ETA %s  items %lld  issues %zu", p.filesDone,
                      p.filesTotal, pct, p.filesPerSecond, core::text::humanDuration(p.etaSeconds).c_str(),
                      static_cast<long long>(p.itemsAdded), p.issues);
        m_line.update(buf, p.filesDone == p.filesTotal);
    }
    void finish() { m_line.finish(); }

private:
    ProgressLine m_line;
};

} // namespace

void addImportOptions(ArgParser& p)
{
    p.option("size", "N", "cache resolution in pixels for a new project (images are letterboxed to N x N)", "256")
        .option("axis", "AXIS", "volume slicing axis: axial, coronal or sagittal", "axial")
        .option("slices", "N", "slices per volume, evenly spaced over slices with content (0 = all)", "16")
        .option("labels", "CSV", "label table to apply after the import")
        .option("key", "COL", "CSV column naming the image (path, file name, SOPInstanceUID or PatientID)")
        .option("label", "COL", "CSV column holding the class name")
        .option("split", "COL", "CSV column holding train/val/test")
        .option("key-type", "KIND", "how keys name images: auto, path, filename, sop or patient", "auto")
        .flag("labels-from-folders", "name each image's class after its first sub-folder")
        .option("class-names", "A,B,...", "class names for the integer labels of .npz archives")
        .flag("keep-duplicates", "import files even when the same content is already in the project")
        .option("file-timeout", "SECONDS", "give up a file whose decoding takes longer (0: no limit)", "120")
        .threadsOption("decoding threads (0: every core)");
}

core::ImportOptions importOptionsFrom(const ArgParser& p)
{
    core::ImportOptions o;
    if (const auto axis = core::parseSliceAxis(p.value("axis")))
        o.slicing.axis = *axis;
    else
        throw UsageError("--axis must be axial, coronal or sagittal, got '" + p.value("axis") + "'");
    o.slicing.count = p.intValue("slices", 0, 100000);
    o.threads = p.threads();
    o.labelsFromFolders = p.has("labels-from-folders");
    o.keepDuplicates = p.has("keep-duplicates");
    o.fileTimeoutSeconds = p.doubleValue("file-timeout", 0, 1e7);
    if (p.has("class-names"))
        for (const std::string& n : core::text::split(p.value("class-names"), ','))
            o.classNames.push_back(core::text::trim(n));
    if (p.has("labels")) {
        core::LabelCsvOptions l;
        l.csvPath = p.value("labels");
        l.keyColumn = p.value("key");
        l.labelColumn = p.value("label");
        l.splitColumn = p.value("split");
        if (l.keyColumn.empty())
            throw UsageError("--labels needs --key COL");
        if (l.labelColumn.empty() && l.splitColumn.empty())
            throw UsageError("--labels needs --label COL, --split COL or both");
        const auto kind = core::parseLabelKeyKind(p.value("key-type"));
        if (!kind)
            throw UsageError("--key-type must be auto, path, filename, sop or patient");
        l.keyKind = *kind;
        o.labels = l;
    } else if (p.has("key") || p.has("label") || p.has("split")) {
        throw UsageError("--key, --label and --split need --labels CSV");
    }

    return o;
}

std::unique_ptr<core::Project> openProjectForImport(const ArgParser& p)
{
    const int size = p.intValue("size", 16, 4096);
    auto project = core::Project::openOrCreate(p.value("project"), size);
    if (p.has("size") && project->cacheResolution() != size)
        std::fprintf(stderr, "Note: this project caches images at %d px; --size %d applies only to new projects.\n",
                     project->cacheResolution(), size);
    return project;
}

void printImportSummary(const core::ImportSummary& s, core::Project& project, const core::ImportOptions& o)
{
    std::printf("%s %zu files in %.1f s (%.0f files/s): %zu imported (%lld items), %zu already in the project, %zu not imported\n",
                s.cancelled ? "Cancelled after" : "Processed", s.filesImported + s.filesAlreadyPresent + s.filesWithIssues,
                s.seconds, s.seconds > 0 ? s.filesFound / s.seconds : 0.0, s.filesImported, static_cast<long long>(s.itemsAdded),
                s.filesAlreadyPresent, s.filesWithIssues);
    if (s.labels) {
        const auto& l = *s.labels;
        std::printf("Labels: %zu CSV rows, %zu matched (by %s): %zu images labeled, %zu given a split; %zu keys matched nothing",
                    l.rows, l.matchedRows, core::labelKeyKindName(l.keyKind), l.imagesLabeled, l.imagesSplit, l.unmatchedKeys.size());
        if (!l.unmatchedKeys.empty()) {
            std::printf(" (");
            for (size_t i = 0; i < l.unmatchedKeys.size() && i < 5; ++i)
                std::printf("%s'%s'", i ? ", " : "", l.unmatchedKeys[i].c_str());
            std::printf("%s)", l.unmatchedKeys.size() > 5 ? ", ..." : "");
        }
        std::printf("\n");
        for (const auto& problem : l.rowProblems)
            std::printf("  %s\n", problem.c_str());
    }
    if (s.filesTimedOut > 0)
        std::printf("%zu files were given up after %.0f s of decoding (see the issues)\n", s.filesTimedOut, o.fileTimeoutSeconds);
    if (s.filesWithWarnings > 0)
        std::printf("%zu files were imported with a warning\n", s.filesWithWarnings);
    if (s.filesWithIssues > 0 || s.filesWithWarnings > 0)
        std::printf("See the reasons with: medsiam-cli info %s --issues\n", project.dir().c_str());
}

int runImport(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli import SRC [SRC...] --project DIR [options]",
                "Imports folders (searched recursively) or files of DICOM, NIfTI/MHA/NRRD volumes, PNG/JPEG/TIFF/BMP\n"
                "images and MedMNIST-style .npz archives into a project, creating the project when needed.\n"
                "Files are recognised by content. Importing again adds new files and skips known ones.\n"
                "Every file that is not imported is listed with its reason (see `medsiam-cli info`).");
    p.positional("SRC", "folders or files to import", true, true)
        .option("project", "DIR", "project folder (created when it does not exist)");
    addImportOptions(p);
    if (!p.parse(args))
        return 0;
    if (!p.has("project"))
        throw UsageError("--project DIR is required");

    core::ImportOptions o = importOptionsFrom(p);
    o.sources = p.values("SRC");
    auto project = openProjectForImport(p);

    core::CancelToken cancel;
    g_cancel = &cancel;
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    CliImportObserver observer;
    core::ImportSummary s;
    {
        InterruptWatchdog watchdog(3.0);
        s = core::importSources(*project, o, &observer, &cancel);
    }
    observer.finish();
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    g_cancel = nullptr;

    printImportSummary(s, *project, o);
    return s.cancelled ? 130 : 0;
}

} // namespace medsiam::cli
