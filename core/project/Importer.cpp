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
struct Work {
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

ImportSummary importSources(Project& project, const ImportOptions& options, ImportObserver* observer, const CancelToken* cancel)
{
    const auto start = Clock::now();
    ImportSummary summary;
    if (options.sources.empty())
        throw UserError("nothing to import: give at least one folder or file");
    if (project.readOnly())
        throw UserError("the project '" + project.dir() + "' is open read-only; nothing can be imported into it");
    // Refuse a typo before touching the project: a missing source, a bad label table.
    for (const auto& source : options.sources) {
        std::error_code ec;
        if (!fs::exists(source, ec))
            throw UserError("'" + source + "' does not exist" + (fs::is_symlink(source, ec) ? " (a broken symbolic link)" : "") +
                            "; nothing was imported");
    }
    if (options.labels)
        checkLabelCsv(*options.labels);

    const int side = project.cacheResolution();
    ScanResult scan = scanSources(options.sources, project.dir());
    summary.filesFound = scan.files.size();
    const size_t total = scan.files.size();
    if (observer)
        observer->scanFinished(scan.files.size());
    {
        Database::Transaction tx(project.db());
        for (const auto& [path, reason] : scan.issues)
            project.recordIssue(path, reason);
        tx.commit();
    }
    for (const auto& [path, reason] : scan.issues) {
        ++summary.filesWithIssues;
        if (observer)
            observer->issue(path, reason);
    }

    // Content hash -> the source path that holds it. Read again before each batch is committed
    // (see refreshKnown), so that a second writer's files are seen even when its lock was bypassed.
    std::unordered_map<std::string, std::string> known;
    int64_t knownUpTo = 0;
    auto refreshKnown = [&] {
        auto q = project.db().prepare("SELECT id, content_hash, source_path FROM images WHERE id>? ORDER BY id");
        q.bind(1, knownUpTo);
        while (q.step()) {
            knownUpTo = q.columnInt(0);
            known.emplace(q.columnText(1), q.columnText(2));
        }
    };
    refreshKnown();
    (void)DecoderRegistry::instance(); // register codecs and IO factories before threads start

    ImageCacheWriter cache(project.cacheDir(), side);
    {
        // Bytes past the committed index were appended by an import that died before its commit.
        Database::Transaction tx(project.db());
        cache.reclaimBeyond(project.cacheEnd(side));
        tx.commit();
    }
    const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    const size_t chunk = std::max<size_t>(1, options.chunkFiles);
    std::map<std::string, std::vector<std::string>> classNameCache;

    auto emitProgress = [&](size_t done) {
        if (!observer)
            return;
        ImportProgress p;
        p.filesDone = done;
        p.filesTotal = total;
        p.itemsAdded = summary.itemsAdded;
        p.issues = summary.filesWithIssues;
        p.elapsedSeconds = std::chrono::duration<double>(Clock::now() - start).count();
        p.filesPerSecond = p.elapsedSeconds > 0 ? done / p.elapsedSeconds : 0;
        p.etaSeconds = p.filesPerSecond > 0 ? (p.filesTotal - done) / p.filesPerSecond : -1;
        observer->progress(p);
    };

    // Workers decode files in any order within a bounded window ahead of the commit point; this
    // thread commits finished files strictly in file order, in batches, while workers go on.
    auto work = std::make_shared<Work>();
    work->options = options;
    work->files = std::move(scan.files);
    for (const auto& [hash, path] : known)
        work->knownAtStart.insert(hash);
    work->side = side;
    work->window = std::max<size_t>(chunk * 4, static_cast<size_t>(threads) * 8);
    work->results.resize(total);
    work->ready.assign(total, 0);
    // However this function ends (a full disk throws), the workers are stopped and joined first.
    struct Finish {
        Work& w;
        ~Finish() { w.finish(); }
    } finishGuard{*work};
    {
        std::lock_guard<std::mutex> lock(work->m);
        const int n = std::max(1, std::min<int>(threads, static_cast<int>(total)));
        if (total > 0)
            for (int t = 0; t < n; ++t)
                work->startWorker(work);
    }

    auto commitOne = [&](FileResult& r, const ScannedFile& file) {
        if (r.status == FileResult::Status::Imported && !options.keepDuplicates) {
            auto it = known.find(r.hash);
            if (it != known.end()) {
                r.status = FileResult::Status::AlreadyPresent;
                r.frames.clear();
            }
        }
        if (r.status == FileResult::Status::AlreadyPresent) {
            const std::string& original = known.at(r.hash);
            if (original == file.path) {
                ++summary.filesAlreadyPresent;
                project.clearIssue(file.path);
            } else {
                r.status = FileResult::Status::Issue;
                r.reason = "same content as '" + original + "', already in the project";
            }
        }
        if (r.status == FileResult::Status::Issue) {
            project.recordIssue(file.path, r.reason);
            ++summary.filesWithIssues;
            summary.filesTimedOut += r.timedOut;
            if (observer)
                observer->issue(file.path, r.reason);
            return;
        }
        if (r.status != FileResult::Status::Imported)
            return;
        std::vector<std::string>* names = nullptr;
        if (r.meta.format == ImageFormat::Npz) {
            auto it = classNameCache.find(file.path);
            if (it == classNameCache.end())
                it = classNameCache.emplace(file.path, archiveClassNames(file.path, options)).first;
            names = &it->second;
            // Create the archive's classes in label order, so class 0 comes first.
            std::set<int> present;
            for (const FittedFrame& f : r.frames)
                if (f.label >= 0)
                    present.insert(f.label);
            for (int label : present)
                project.ensureClass(label < static_cast<int>(names->size()) ? (*names)[label] : std::to_string(label));
        }
        const std::string folderClass = options.labelsFromFolders ? firstFolder(file.relativePath) : std::string();
        const int64_t folderClassId = folderClass.empty() ? 0 : project.ensureClass(folderClass);
        for (FittedFrame& f : r.frames) {
            ImageRecord rec;
            rec.sourcePath = file.path;
            rec.relativePath = file.relativePath;
            rec.meta = r.meta;
            rec.frameIndex = f.index;
            rec.contentHash = r.hash;
            const int64_t id = project.insertImage(rec);
            CacheEntry e = cache.append(f.image);
            e.imageId = id;
            project.insertCacheEntry(side, e);
            if (f.label >= 0) {
                const std::string name = names && f.label < static_cast<int>(names->size()) ? (*names)[f.label] : std::to_string(f.label);
                project.setLabel(id, project.ensureClass(name), "archive");
            } else if (folderClassId) {
                project.setLabel(id, folderClassId, "folder");
            }
            if (!f.split.empty())
                project.setSplit(id, f.split);
            ++summary.itemsAdded;
        }
        project.clearIssue(file.path);
        if (!r.meta.warnings.empty()) {
            std::string text;
            for (const auto& w : r.meta.warnings)
                text += (text.empty() ? "" : "; ") + w;
            project.recordIssue(file.path, text, IssueSeverity::Warning);
            ++summary.filesWithWarnings;
            if (observer)
                observer->issue(file.path, "imported with a warning: " + text);
        }
        known.emplace(r.hash, file.path);
        ++summary.filesImported;
    };

    // Commits come in batches of `chunk` finished files, or with whatever is finished a quarter
    // second after the last one: each commit syncs the cache file and rewrites the database's
    // index pages, so committing after every file or two (as workers finish them) cost a tenth
    // of the import time on small DICOM files.
    const auto commitInterval = std::chrono::milliseconds(250);
    auto lastCommit = Clock::now();
    auto readyEnd = [&] { // with m held
        size_t end = work->committedUpTo;
        while (end < total && work->ready[end] && end - work->committedUpTo < 4 * chunk)
            ++end;
        return end;
    };
    ImportSummary committed = summary; // the counts as of the last commit
    try {
        while (work->committedUpTo < total) {
            size_t end;
            {
                std::unique_lock<std::mutex> lock(work->m);
                if (cancel && cancel->stopRequested())
                    work->cancelled = true;
                const auto timeoutCheck = work->abandonStuck(work);
                const auto wakeAt = std::min(timeoutCheck, std::max(lastCommit + commitInterval, Clock::now() + std::chrono::milliseconds(10)));
                work->doneCv.wait_until(lock, wakeAt, [&] { return work->running == 0 || readyEnd() - work->committedUpTo >= chunk; });
                work->abandonStuck(work);
                end = readyEnd();
                if (end == work->committedUpTo) {
                    if (work->running == 0 && (work->cancelled || work->next >= total))
                        break; // cancelled: nothing more will arrive
                    lock.unlock();
                    lastCommit = Clock::now(); // nothing to commit yet: report progress, wait another interval
                    emitProgress(work->committedUpTo);
                    continue;
                }
            }
            Database::Transaction tx(project.db());
            refreshKnown();
            cache.seek(project.cacheEnd(side));
            for (size_t i = work->committedUpTo; i < end; ++i) {
                FileResult r;
                {
                    std::lock_guard<std::mutex> lock(work->m);
                    r = std::move(work->results[i]);
                    work->results[i] = FileResult(); // release the pixels
                }
                commitOne(r, work->files[i]);
            }
            cache.sync();
            tx.commit();
            committed = summary;
            {
                std::lock_guard<std::mutex> lock(work->m);
                work->committedUpTo = end;
            }
            work->workCv.notify_all();
            lastCommit = Clock::now();
            emitProgress(end);
        }
    } catch (const DiskFullError& e) {
        throw DiskFullError("the disk holding the project '" + project.dir() + "' is full: " + std::to_string(committed.filesImported) +
                            " files were imported (" + std::to_string(committed.itemsAdded) +
                            " images) and are kept; run the import again when there is space, it goes on where it stopped (" +
                            e.what() + ")");
    }
    work->finish();
    summary.cancelled = work->committedUpTo < total;

    if (options.labels && !summary.cancelled)
        summary.labels = applyLabelCsv(project, *options.labels);
    summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return summary;
}

} // namespace medsiam::core
