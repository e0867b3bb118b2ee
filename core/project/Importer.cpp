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
    std::string hash;
    ImageMeta meta;
    std::vector<FittedFrame> frames;
};

using Clock = std::chrono::steady_clock;

/// Files up to this size are read once, kept in memory while they are decoded, and parsed from
/// there (DICOM); larger ones are read again by their decoder.
constexpr uint64_t kKeepFilesUpTo = 4 << 20;

FileResult processFile(const ScannedFile& file, const ImportOptions& options, int side,
                       const std::unordered_map<std::string, std::string>& known)
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
            decoder = image ? DecoderRegistry::instance().find(sniff.format) : nullptr;
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
    }
    return r;
}

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

ImportSummary importSources(Project& project, const ImportOptions& options, ImportObserver* observer, const CancelToken* cancel)
{
    const auto start = Clock::now();
    ImportSummary summary;
    if (options.sources.empty())
        throw UserError("nothing to import: give at least one folder or file");
    // Read and check the label CSV before touching the project, so a typo costs nothing.
    if (options.labels)
        checkLabelCsv(*options.labels);

    const int side = project.cacheResolution();
    ScanResult scan = scanSources(options.sources, project.dir());
    summary.filesFound = scan.files.size();
    if (observer)
        observer->scanFinished(scan.files.size());
    for (const auto& [path, reason] : scan.issues) {
        project.recordIssue(path, reason);
        ++summary.filesWithIssues;
        if (observer)
            observer->issue(path, reason);
    }

    std::unordered_map<std::string, std::string> known; // content hash -> source path
    {
        auto q = project.db().prepare("SELECT content_hash, MIN(source_path) FROM images GROUP BY content_hash");
        while (q.step())
            known.emplace(q.columnText(0), q.columnText(1));
    }
    (void)DecoderRegistry::instance(); // register codecs and IO factories before threads start

    ImageCacheWriter cache(project.cacheDir(), side);
    const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    const size_t chunk = std::max<size_t>(1, options.chunkFiles);
    std::map<std::string, std::vector<std::string>> classNameCache;

    auto insertEntry = project.db().prepare(
        "INSERT INTO cache_entries(image_id,resolution,offset,channels,content_x,content_y,content_w,content_h) VALUES(?,?,?,?,?,?,?,?)");
    std::atomic<size_t> doneInRun{0};

    auto emitProgress = [&](size_t done) {
        if (!observer)
            return;
        ImportProgress p;
        p.filesDone = done;
        p.filesTotal = scan.files.size();
        p.itemsAdded = summary.itemsAdded;
        p.issues = summary.filesWithIssues;
        p.elapsedSeconds = std::chrono::duration<double>(Clock::now() - start).count();
        p.filesPerSecond = p.elapsedSeconds > 0 ? done / p.elapsedSeconds : 0;
        p.etaSeconds = p.filesPerSecond > 0 ? (p.filesTotal - done) / p.filesPerSecond : -1;
        observer->progress(p);
    };

    // Workers decode files in any order within a bounded window ahead of the commit point; this
    // thread commits finished files strictly in file order, in batches, while workers go on.
    const size_t total = scan.files.size();
    const size_t window = std::max<size_t>(chunk * 4, static_cast<size_t>(threads) * 8);
    std::vector<FileResult> results(total);
    std::vector<char> ready(total, 0);
    std::mutex m;
    std::condition_variable workCv, doneCv;
    size_t next = 0, committedUpTo = 0;
    int running = std::max(1, std::min<int>(threads, static_cast<int>(total)));
    bool stop = false;

    std::vector<std::thread> pool;
    if (total > 0)
        for (int t = 0; t < running; ++t)
            pool.emplace_back([&] {
                std::unique_lock<std::mutex> lock(m);
                for (;;) {
                    workCv.wait(lock, [&] { return stop || next >= total || next < committedUpTo + window; });
                    if (stop || next >= total || (cancel && cancel->stopRequested()))
                        break;
                    const size_t i = next++;
                    lock.unlock();
                    FileResult r = processFile(scan.files[i], options, side, known);
                    lock.lock();
                    results[i] = std::move(r);
                    ready[i] = 1;
                    doneInRun.fetch_add(1);
                    doneCv.notify_all();
                }
                --running;
                doneCv.notify_all();
            });

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
            insertEntry.bind(1, id).bind(2, side).bind(3, e.offset).bind(4, e.channels);
            insertEntry.bind(5, e.content.x).bind(6, e.content.y).bind(7, e.content.width).bind(8, e.content.height);
            insertEntry.run();
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
        size_t end = committedUpTo;
        while (end < total && ready[end] && end - committedUpTo < 4 * chunk)
            ++end;
        return end;
    };
    while (committedUpTo < total) {
        size_t end;
        {
            std::unique_lock<std::mutex> lock(m);
            doneCv.wait_until(lock, std::max(lastCommit + commitInterval, Clock::now() + std::chrono::milliseconds(10)),
                              [&] { return running == 0 || readyEnd() - committedUpTo >= chunk; });
            end = readyEnd();
            if (end == committedUpTo) {
                if (running == 0)
                    break; // cancelled: nothing more will arrive
                lock.unlock();
                lastCommit = Clock::now(); // nothing to commit yet: report progress, wait another interval
                emitProgress(doneInRun.load());
                continue;
            }
        }
        Database::Transaction tx(project.db());
        for (size_t i = committedUpTo; i < end; ++i) {
            commitOne(results[i], scan.files[i]);
            results[i] = FileResult(); // release the pixels
        }
        cache.sync();
        tx.commit();
        {
            std::lock_guard<std::mutex> lock(m);
            committedUpTo = end;
        }
        workCv.notify_all();
        lastCommit = Clock::now();
        emitProgress(committedUpTo);
    }
    {
        std::lock_guard<std::mutex> lock(m);
        stop = true;
    }
    workCv.notify_all();
    for (auto& t : pool)
        t.join();
    summary.cancelled = committedUpTo < total;

    if (options.labels && !summary.cancelled)
        summary.labels = applyLabelCsv(project, *options.labels);
    summary.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return summary;
}

} // namespace medsiam::core
