#include "project/Importer.h"

#include "data/ImageCache.h"
#include "io/FileSniffer.h"
#include "project/Project.h"
#include "project/SourceScanner.h"
#include "util/AtomicFile.h"
#include "util/ContentHash.h"
#include "util/Error.h"
#include "util/Text.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

struct FittedFrame {
    int index = 0;
    FittedImage image;
    int label = -1;
    std::string split;
};

struct FileResult {
    enum class Status { Pending, Imported, AlreadyPresent, Issue } status = Status::Pending;
    std::string reason;
    bool timedOut = false;
    std::string hash;
    ImageMeta meta;
    std::vector<FittedFrame> frames;
};

using Clock = std::chrono::steady_clock;

/// Files up to this size are read once, kept in memory while they are decoded, and parsed from
/// there (DICOM); larger ones are read again by their decoder.
constexpr uint64_t kKeepFilesUpTo = 4 << 20;

const ImageDecoder* decoderFor(const ImportOptions& options, ImageFormat format)
{
    return options.decoderFor ? options.decoderFor(format) : DecoderRegistry::instance().find(format);
}

FileResult processFile(const ScannedFile& file, const ImportOptions& options, int side, const std::unordered_set<std::string>& known)
{
    FileResult r;
    // One read gives the first bytes that tell the format and the content hash; a file that
    // turns out to be no image we can decode is not read further.
    FileDigest digest;
    SniffResult sniff;
    const ImageDecoder* decoder = nullptr;
    try {
        digest = digestFile(file.path, kSniffBytes, kKeepFilesUpTo, [&](const FileDigest& head) {
            sniff = sniffHead(file.path, head.head, head.size);
            const bool image = sniff.format != ImageFormat::Unknown && sniff.format != ImageFormat::DicomDir;
            decoder = image ? decoderFor(options, sniff.format) : nullptr;
            return decoder != nullptr;
        });
    } catch (const UserError& e) {
        r.status = FileResult::Status::Issue;
        r.reason = e.what();
        return r;
    }
    if (sniff.format == ImageFormat::Unknown || sniff.format == ImageFormat::DicomDir) {
        r.status = FileResult::Status::Issue;
        r.reason = sniff.reason;
        return r;
    }
    if (!decoder) {
        r.status = FileResult::Status::Issue;
        r.reason = DecoderRegistry::instance().unavailableReason(sniff.format);
        return r;
    }
    try {
        r.hash = std::move(digest.hash);
        if (!options.keepDuplicates && known.count(r.hash)) {
            r.status = FileResult::Status::AlreadyPresent;
            return r;
        }
        DecodeOptions d;
        d.slicing = options.slicing;
        // Only the cache's resolution is kept. Decoding at no less than twice it leaves the last
        // (at least 2x) reduction to fitToSquare's filter, so cached images look the same whatever
        // the source format (a JPEG 2000 low-pass band alone is visibly sharper).
        d.minLongSide = 2 * side;
        if (digest.complete)
            d.contents = &digest.contents;
        r.meta = decoder->decode(file.path, d, [&](DecodedFrame&& f) {
            r.frames.push_back({f.index, fitToSquare(f.image, side), f.label, std::move(f.split)});
        });
        if (r.meta.format == ImageFormat::Unknown)
            r.meta.format = sniff.format;
        if (r.frames.empty()) {
            r.status = FileResult::Status::Issue;
            r.reason = "file holds no images";
            return r;
        }
        r.status = FileResult::Status::Imported;
    } catch (const UserError& e) {
        r.status = FileResult::Status::Issue;
        r.reason = e.what();
        r.frames.clear();
    } catch (const std::bad_alloc&) {
        r.status = FileResult::Status::Issue;
        r.reason = "out of memory while decoding";
        r.frames.clear();
    } catch (const std::exception& e) {
        r.status = FileResult::Status::Issue;
        r.reason = std::string("cannot decode: ") + e.what();
        r.frames.clear();
    } catch (...) {
        r.status = FileResult::Status::Issue;
        r.reason = "cannot decode: the decoder failed";
        r.frames.clear();
    }
    return r;
}

std::atomic<int> g_abandoned{0};

/// What the decoding workers share with the committing thread. Workers hold a reference, so
/// that one left behind on a file that hangs its decoder can finish (or not) safely after the
/// import has returned.
struct Work : std::enable_shared_from_this<Work> {
    ImportOptions options;
    std::vector<ScannedFile> files;
    std::unordered_set<std::string> knownAtStart; ///< content hashes in the project when the import began
    int side = 0;
    size_t window = 0;
    std::atomic<bool> cancelled{false};

    std::mutex m;
    std::condition_variable workCv, doneCv;
    std::vector<FileResult> results;
    std::vector<char> ready;
    size_t next = 0, committedUpTo = 0;
    bool stop = false;
    struct Worker {
        std::thread thread;
        long file = -1; ///< the file it decodes, -1 when idle
        Clock::time_point since;
        bool abandoned = false;
    };
    std::vector<std::unique_ptr<Worker>> workers; ///< stable addresses: each thread keeps its own
    int running = 0; ///< workers in their loop and not abandoned

    void startWorker(const std::shared_ptr<Work>& self)
    {
        auto w = std::make_unique<Worker>();
        Worker* me = w.get();
        ++running;
        workers.push_back(std::move(w));
        me->thread = std::thread([self, me] { self->workerLoop(*me); });
    }

    void workerLoop(Worker& me)
    {
        std::unique_lock<std::mutex> lock(m);
        const size_t total = files.size();
        for (;;) {
            workCv.wait(lock, [&] { return stop || next >= total || next < committedUpTo + window; });
            if (stop || next >= total || cancelled.load())
                break;
            const size_t i = next++;
            me.file = static_cast<long>(i);
            me.since = Clock::now();
            lock.unlock();
            FileResult r = processFile(files[i], options, side, knownAtStart);
            lock.lock();
            me.file = -1;
            if (me.abandoned) {
                --g_abandoned; // its file was reported as timed out; its place was taken
                return;
            }
            results[i] = std::move(r);
            ready[i] = 1;
            doneCv.notify_all();
        }
        --running;
        doneCv.notify_all();
    }

    /// Gives up the files whose decoding has run past the timeout: each is reported, and a new
    /// worker takes the stuck one's place. Returns the earliest time another may time out.
    Clock::time_point abandonStuck(const std::shared_ptr<Work>& self) // with m held
    {
        Clock::time_point nextCheck = Clock::now() + std::chrono::seconds(1);
        if (options.fileTimeoutSeconds <= 0)
            return Clock::time_point::max();
        const auto limit = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.fileTimeoutSeconds));
        const size_t count = workers.size();
        for (size_t k = 0; k < count; ++k) {
            Worker& w = *workers[k];
            if (w.abandoned || w.file < 0)
                continue;
            const auto deadline = w.since + limit;
            if (Clock::now() < deadline) {
                nextCheck = std::min(nextCheck, deadline);
                continue;
            }
            FileResult r;
            r.status = FileResult::Status::Issue;
            char buf[160];
            std::snprintf(buf, sizeof buf, "decoding did not finish within %.0f s and was given up (the file may be damaged "
                                           "in a way that makes its decoder loop)", options.fileTimeoutSeconds);
            r.reason = buf;
            r.timedOut = true;
            results[static_cast<size_t>(w.file)] = std::move(r);
            ready[static_cast<size_t>(w.file)] = 1;
            w.abandoned = true;
            ++g_abandoned;
            --running;
            if (next < files.size() && !stop)
                startWorker(self);
        }
        doneCv.notify_all();
        return nextCheck;
    }

    /// Ends the workers: waits for those that are working normally and leaves the abandoned
    /// ones to themselves (they hold their own reference to this).
    void finish()
    {
        {
            std::lock_guard<std::mutex> lock(m);
            stop = true;
        }
        workCv.notify_all();
        for (auto& w : workers) {
            bool abandoned;
            {
                std::lock_guard<std::mutex> lock(m);
                abandoned = w->abandoned;
            }
            if (!w->thread.joinable())
                continue; // finished before
            if (abandoned)
                w->thread.detach();
            else
                w->thread.join();
        }
    }
};

// Class names for integer labels of an archive: options, else "<archive>.json" {"classes": [...]}.
std::vector<std::string> archiveClassNames(const std::string& archive, const ImportOptions& options)
{
    if (!options.classNames.empty())
        return options.classNames;
    fs::path sidecar = fs::path(archive).replace_extension(".json");
    std::error_code ec;
    if (!fs::exists(sidecar, ec))
        return {};
    try {
        const auto j = nlohmann::json::parse(readWholeFile(sidecar.string()));
        return j.at("classes").get<std::vector<std::string>>();
    } catch (const std::exception&) {
        return {};
    }
}

std::string firstFolder(const std::string& relativePath)
{
    const size_t slash = relativePath.find('/');
    return slash == std::string::npos ? std::string() : relativePath.substr(0, slash);
}

} // namespace

const char* labelKeyKindName(LabelKeyKind kind)
{
    switch (kind) {
    case LabelKeyKind::Auto:
        return "auto";
    case LabelKeyKind::RelativePath:
        return "path";
    case LabelKeyKind::FileName:
        return "filename";
    case LabelKeyKind::SopInstanceUid:
        return "sop";
    case LabelKeyKind::PatientId:
        return "patient";
    }
    return "auto";
}

std::optional<LabelKeyKind> parseLabelKeyKind(const std::string& t)
{
    for (LabelKeyKind k : {LabelKeyKind::Auto, LabelKeyKind::RelativePath, LabelKeyKind::FileName, LabelKeyKind::SopInstanceUid,
                           LabelKeyKind::PatientId})
        if (t == labelKeyKindName(k))
            return k;
    return std::nullopt;
}

int abandonedDecoderThreads() { return g_abandoned.load(); }

namespace {

/// One import: the project, what is known of it, the cache it appends to and the counts so far.
/// importSources() runs the steps in order; each is one method.
class ImportRun {
public:
    ImportRun(Project& project, const ImportOptions& options, ImportObserver* observer, const CancelToken* cancel)
        : m_project(project), m_options(options), m_observer(observer), m_cancel(cancel), m_side(project.cacheResolution()),
          m_cache(project.cacheDir(), m_side)
    {
    }

    /// Refuses a typo before the project is touched: a missing source, a bad label table.
    static void checkInputs(Project& project, const ImportOptions& options)
    {
        if (options.sources.empty())
            throw UserError("nothing to import: give at least one folder or file");
        if (project.readOnly())
            throw UserError("the project '" + project.dir() + "' is open read-only; nothing can be imported into it");
        for (const auto& source : options.sources) {
            std::error_code ec;
            if (!fs::exists(source, ec))
                throw UserError("'" + source + "' does not exist" + (fs::is_symlink(source, ec) ? " (a broken symbolic link)" : "") +
                                "; nothing was imported");
        }
        if (options.labels)
            checkLabelCsv(*options.labels);
    }

    ImportSummary run()
    {
        ScanResult scan = scanSources(m_options.sources, m_project.dir());
        m_summary.filesFound = scan.files.size();
        if (m_observer)
            m_observer->scanFinished(scan.files.size());
        recordScanIssues(scan);
        refreshKnown();
        (void)DecoderRegistry::instance(); // register codecs and IO factories before threads start
        {
            // Bytes past the committed index were appended by an import that died before its commit.
            Database::Transaction tx(m_project.db());
            m_cache.reclaimBeyond(m_project.cacheEnd(m_side));
            tx.commit();
        }
        auto work = startWorkers(std::move(scan.files));
        // However this ends (a full disk throws), the workers are stopped and joined first.
        struct Finish {
            Work& w;
            ~Finish() { w.finish(); }
        } finishGuard{*work};
        try {
            commitInOrder(*work);
        } catch (const DiskFullError& e) {
            throw DiskFullError("the disk holding the project '" + m_project.dir() + "' is full: " +
                                std::to_string(m_committed.filesImported) + " files were imported (" +
                                std::to_string(m_committed.itemsAdded) +
                                " images) and are kept; run the import again when there is space, it goes on where it stopped (" +
                                e.what() + ")");
        }
        work->finish();
        m_summary.cancelled = work->committedUpTo < work->files.size();
        if (m_options.labels && !m_summary.cancelled)
            m_summary.labels = applyLabelCsv(m_project, *m_options.labels);
        m_summary.seconds = std::chrono::duration<double>(Clock::now() - m_start).count();
        return m_summary;
    }

private:
    void recordScanIssues(const ScanResult& scan)
    {
        Database::Transaction tx(m_project.db());
        for (const auto& [path, reason] : scan.issues)
            m_project.recordIssue(path, reason);
        tx.commit();
        for (const auto& [path, reason] : scan.issues) {
            ++m_summary.filesWithIssues;
            if (m_observer)
                m_observer->issue(path, reason);
        }
    }

    /// Content hash -> the source path that holds it, read again before each batch is
    /// committed, so that a second writer's files are seen even when its lock was bypassed.
    void refreshKnown()
    {
        auto q = m_project.db().prepare("SELECT id, content_hash, source_path FROM images WHERE id>? ORDER BY id");
        q.bind(1, m_knownUpTo);
        while (q.step()) {
            m_knownUpTo = q.columnInt(0);
            m_known.emplace(q.columnText(1), q.columnText(2));
        }
    }

    /// Workers decode files in any order within a bounded window ahead of the commit point.
    std::shared_ptr<Work> startWorkers(std::vector<ScannedFile> files)
    {
        const int threads = m_options.threads > 0 ? m_options.threads : std::max(1u, std::thread::hardware_concurrency());
        auto work = std::make_shared<Work>();
        work->options = m_options;
        work->files = std::move(files);
        for (const auto& [hash, path] : m_known)
            work->knownAtStart.insert(hash);
        work->side = m_side;
        work->window = std::max<size_t>(chunk() * 4, static_cast<size_t>(threads) * 8);
        const size_t total = work->files.size();
        work->results.resize(total);
        work->ready.assign(total, 0);
        std::lock_guard<std::mutex> lock(work->m);
        const int n = std::max(1, std::min<int>(threads, static_cast<int>(total)));
        if (total > 0)
            for (int t = 0; t < n; ++t)
                work->startWorker(work);
        return work;
    }

    size_t chunk() const { return std::max<size_t>(1, m_options.chunkFiles); }

    void emitProgress(size_t done, size_t total)
    {
        if (!m_observer)
            return;
        ImportProgress p;
        p.filesDone = done;
        p.filesTotal = total;
        p.itemsAdded = m_summary.itemsAdded;
        p.issues = m_summary.filesWithIssues;
        p.elapsedSeconds = std::chrono::duration<double>(Clock::now() - m_start).count();
        p.filesPerSecond = p.elapsedSeconds > 0 ? done / p.elapsedSeconds : 0;
        p.etaSeconds = p.filesPerSecond > 0 ? (p.filesTotal - done) / p.filesPerSecond : -1;
        m_observer->progress(p);
    }

    /// This thread commits finished files strictly in file order, in batches, while the workers
    /// go on. A batch is `chunk` finished files, or whatever is finished a quarter second after
    /// the last commit: each commit syncs the cache file and rewrites the database's index pages,
    /// so committing after every file or two (as workers finish them) cost a tenth of the import
    /// time on small DICOM files.
    void commitInOrder(Work& work)
    {
        const size_t total = work.files.size();
        const auto commitInterval = std::chrono::milliseconds(250);
        auto lastCommit = Clock::now();
        auto readyEnd = [&] { // with m held
            size_t end = work.committedUpTo;
            while (end < total && work.ready[end] && end - work.committedUpTo < 4 * chunk())
                ++end;
            return end;
        };
        m_committed = m_summary;
        while (work.committedUpTo < total) {
            size_t end;
            {
                std::unique_lock<std::mutex> lock(work.m);
                if (m_cancel && m_cancel->stopRequested())
                    work.cancelled = true;
                const auto timeoutCheck = work.abandonStuck(self(work));
                const auto wakeAt = std::min(timeoutCheck, std::max(lastCommit + commitInterval, Clock::now() + std::chrono::milliseconds(10)));
                work.doneCv.wait_until(lock, wakeAt, [&] { return work.running == 0 || readyEnd() - work.committedUpTo >= chunk(); });
                work.abandonStuck(self(work));
                end = readyEnd();
                if (end == work.committedUpTo) {
                    if (work.running == 0 && (work.cancelled || work.next >= total))
                        break; // cancelled: nothing more will arrive
                    lock.unlock();
                    lastCommit = Clock::now(); // nothing to commit yet: report progress, wait another interval
                    emitProgress(work.committedUpTo, total);
                    continue;
                }
            }
            commitBatch(work, end);
            lastCommit = Clock::now();
            emitProgress(end, total);
        }
    }

    /// The shared pointer the workers hold, for a replacement worker.
    static std::shared_ptr<Work> self(Work& work) { return work.shared_from_this(); }

    /// Files committedUpTo .. end in one transaction, with the cache offsets read inside it.
    void commitBatch(Work& work, size_t end)
    {
        Database::Transaction tx(m_project.db());
        refreshKnown();
        m_cache.seek(m_project.cacheEnd(m_side));
        for (size_t i = work.committedUpTo; i < end; ++i) {
            FileResult r;
            {
                std::lock_guard<std::mutex> lock(work.m);
                r = std::move(work.results[i]);
                work.results[i] = FileResult(); // release the pixels
            }
            commitFile(r, work.files[i]);
        }
        m_cache.sync();
        tx.commit();
        m_committed = m_summary;
        {
            std::lock_guard<std::mutex> lock(work.m);
            work.committedUpTo = end;
        }
        work.workCv.notify_all();
    }

    /// A file already in the project (by content) is no new file; elsewhere it is an issue.
    bool alreadyPresent(FileResult& r, const ScannedFile& file)
    {
        if (r.status == FileResult::Status::Imported && !m_options.keepDuplicates && m_known.count(r.hash)) {
            r.status = FileResult::Status::AlreadyPresent;
            r.frames.clear();
        }
        if (r.status != FileResult::Status::AlreadyPresent)
            return false;
        const std::string& original = m_known.at(r.hash);
        if (original == file.path) {
            ++m_summary.filesAlreadyPresent;
            m_project.clearIssue(file.path);
            return true;
        }
        r.status = FileResult::Status::Issue;
        r.reason = "same content as '" + original + "', already in the project";
        return false;
    }

    void commitFile(FileResult& r, const ScannedFile& file)
    {
        if (alreadyPresent(r, file))
            return;
        if (r.status == FileResult::Status::Issue) {
            m_project.recordIssue(file.path, r.reason);
            ++m_summary.filesWithIssues;
            m_summary.filesTimedOut += r.timedOut;
            if (m_observer)
                m_observer->issue(file.path, r.reason);
            return;
        }
        if (r.status != FileResult::Status::Imported)
            return;
        const std::vector<std::string>* names = r.meta.format == ImageFormat::Npz ? &archiveClasses(r, file) : nullptr;
        const std::string folderClass = m_options.labelsFromFolders ? firstFolder(file.relativePath) : std::string();
        const int64_t folderClassId = folderClass.empty() ? 0 : m_project.ensureClass(folderClass);
        for (FittedFrame& f : r.frames) {
            ImageRecord rec;
            rec.sourcePath = file.path;
            rec.relativePath = file.relativePath;
            rec.meta = r.meta;
            rec.frameIndex = f.index;
            rec.contentHash = r.hash;
            const int64_t id = m_project.insertImage(rec);
            CacheEntry e = m_cache.append(f.image);
            e.imageId = id;
            m_project.insertCacheEntry(m_side, e);
            if (f.label >= 0) {
                const std::string name = names && f.label < static_cast<int>(names->size()) ? (*names)[f.label] : std::to_string(f.label);
                m_project.setLabel(id, m_project.ensureClass(name), "archive");
            } else if (folderClassId) {
                m_project.setLabel(id, folderClassId, "folder");
            }
            if (!f.split.empty())
                m_project.setSplit(id, f.split);
            ++m_summary.itemsAdded;
        }
        m_project.clearIssue(file.path);
        if (!r.meta.warnings.empty()) {
            std::string text;
            for (const auto& w : r.meta.warnings)
                text += (text.empty() ? "" : "; ") + w;
            m_project.recordIssue(file.path, text, IssueSeverity::Warning);
            ++m_summary.filesWithWarnings;
            if (m_observer)
                m_observer->issue(file.path, "imported with a warning: " + text);
        }
        m_known.emplace(r.hash, file.path);
        ++m_summary.filesImported;
    }

    /// An archive's class names, with its classes created in label order (class 0 first).
    const std::vector<std::string>& archiveClasses(const FileResult& r, const ScannedFile& file)
    {
        auto it = m_classNames.find(file.path);
        if (it == m_classNames.end())
            it = m_classNames.emplace(file.path, archiveClassNames(file.path, m_options)).first;
        const auto& names = it->second;
        std::set<int> present;
        for (const FittedFrame& f : r.frames)
            if (f.label >= 0)
                present.insert(f.label);
        for (int label : present)
            m_project.ensureClass(label < static_cast<int>(names.size()) ? names[label] : std::to_string(label));
        return names;
    }

    Project& m_project;
    const ImportOptions& m_options;
    ImportObserver* m_observer;
    const CancelToken* m_cancel;
    const Clock::time_point m_start = Clock::now();
    const int m_side;
    ImageCacheWriter m_cache;
    ImportSummary m_summary, m_committed; ///< the counts so far, and as of the last commit
    std::unordered_map<std::string, std::string> m_known;
    int64_t m_knownUpTo = 0;
    std::map<std::string, std::vector<std::string>> m_classNames;
};

} // namespace

std::optional<int> parseSliceAxis(const std::string& text)
{
    const std::string axis = text::toLower(text);
    if (axis == "axial" || axis == "z")
        return 2;
    if (axis == "coronal" || axis == "y")
        return 1;
    if (axis == "sagittal" || axis == "x")
        return 0;
    return std::nullopt;
}

ImportSummary importSources(Project& project, const ImportOptions& options, ImportObserver* observer, const CancelToken* cancel)
{
    ImportRun::checkInputs(project, options);
    return ImportRun(project, options, observer, cancel).run();
}

void addImportSummary(ImportSummary& total, const ImportSummary& part)
{
    total.filesFound += part.filesFound;
    total.filesImported += part.filesImported;
    total.filesAlreadyPresent += part.filesAlreadyPresent;
    total.filesWithIssues += part.filesWithIssues;
    total.filesTimedOut += part.filesTimedOut;
    total.filesWithWarnings += part.filesWithWarnings;
    total.itemsAdded += part.itemsAdded;
    total.seconds += part.seconds;
    total.cancelled = total.cancelled || part.cancelled;
}

} // namespace medsiam::core
