#include "project/ProjectBackup.h"

#include "project/Project.h"
#include "util/AtomicFile.h"
#include "util/Error.h"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

std::string backupDir(const std::string& projectDir) { return (fs::path(projectDir) / "backups").string(); }

std::string timestamp(const char* format)
{
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

/// Size and modification time of the catalogue and its write-ahead log: what changes whenever
/// a transaction is committed.
std::string fingerprint(const std::string& dbPath)
{
    std::string f;
    for (const std::string& p : {dbPath, dbPath + "-wal"}) {
        std::error_code ec;
        const auto size = fs::file_size(p, ec);
        if (ec)
            continue;
        const auto mtime = fs::last_write_time(p, ec).time_since_epoch().count();
        f += p.substr(p.size() - 4) + ":" + std::to_string(size) + ":" + std::to_string(mtime) + ";";
    }
    return f;
}

/// Counts from a backup file, read-only; -1 when it cannot be read.
void readCounts(ProjectBackupInfo& info)
{
    try {
        Database db(info.path, true);
        info.images = db.scalar("SELECT COUNT(*) FROM images");
        info.labels = db.scalar("SELECT COUNT(*) FROM labels");
        info.runs = db.scalar("SELECT COUNT(*) FROM runs");
    } catch (const std::exception&) {
        info.images = info.labels = info.runs = -1;
    }
}

/// "backups/project-20261201-103205.sqlite" -> "2026-12-01 10:32:05"
std::string createdAtFromName(const std::string& name)
{
    // project-YYYYMMDD-HHMMSS[-N].sqlite
    if (name.size() < 30 || name.compare(0, 8, "project-") != 0)
        return {};
    const std::string d = name.substr(8, 8), t = name.substr(17, 6);
    return d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2) + " " + t.substr(0, 2) + ":" + t.substr(2, 2) + ":" +
           t.substr(4, 2);
}

/// Copies database `from` into a new file `to` with SQLite's online backup API (consistent
/// even while another connection writes). Throws UserError.
void copyDatabase(sqlite3* from, const std::string& to)
{
    sqlite3* dest = nullptr;
    if (sqlite3_open_v2(to.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
        sqlite3_close(dest);
        throw UserError("cannot create '" + to + "'");
    }
    sqlite3_backup* b = sqlite3_backup_init(dest, "main", from, "main");
    int rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(dest);
    if (b)
        sqlite3_backup_finish(b);
    // A copy is one self-contained file: no write-ahead log beside it, even when it is read.
    if (rc == SQLITE_DONE && sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) != SQLITE_OK)
        rc = SQLITE_ERROR;
    const std::string why = sqlite3_errmsg(dest);
    sqlite3_close(dest);
    if (rc != SQLITE_DONE) {
        std::error_code ec;
        fs::remove(to, ec);
        throw UserError("cannot copy the catalogue to '" + to + "': " + why);
    }
}

} // namespace

std::vector<ProjectBackupInfo> listBackups(const std::string& projectDir)
{
    std::vector<ProjectBackupInfo> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(backupDir(projectDir), ec)) {
        const std::string name = e.path().filename().string();
        if (!e.is_regular_file() || name.size() < 8 || name.compare(name.size() - 7, 7, ".sqlite") != 0)
            continue;
        ProjectBackupInfo info;
        info.path = e.path().string();
        info.createdAt = createdAtFromName(name);
        info.bytes = e.file_size(ec);
        readCounts(info);
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path > b.path; });
    return out;
}

void backupProject(Project& project)
{
    try {
        const std::string dir = backupDir(project.dir());
        const std::string marker = dir + "/latest.json";
        const std::string print = fingerprint(projectDatabasePath(project.dir()));
        std::error_code ec;
        if (fs::exists(marker, ec)) {
            const auto j = nlohmann::json::parse(readWholeFile(marker), nullptr, false);
            if (j.is_object() && j.value("fingerprint", "") == print && fs::exists(j.value("file", ""), ec))
                return; // nothing committed since the newest backup
        }
        fs::create_directories(dir, ec);
        std::string path = dir + "/project-" + timestamp("%Y%m%d-%H%M%S") + ".sqlite";
        for (int k = 2; fs::exists(path, ec); ++k)
            path = dir + "/project-" + timestamp("%Y%m%d-%H%M%S") + "-" + std::to_string(k) + ".sqlite";
        sqlite3* handle = nullptr;
        // A connection of its own, so that the backup reads a consistent snapshot.
        if (sqlite3_open_v2(projectDatabasePath(project.dir()).c_str(), &handle, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            sqlite3_close(handle);
            return;
        }
        try {
            copyDatabase(handle, path);
        } catch (...) {
            sqlite3_close(handle);
            throw;
        }
        sqlite3_close(handle);
        writeFileAtomically(marker, nlohmann::json({{"fingerprint", print}, {"file", path}}).dump() + "\n");
        auto all = listBackups(project.dir());
        for (size_t i = kKeptBackups; i < all.size(); ++i)
            fs::remove(all[i].path, ec);
    } catch (const std::exception&) {
        // A backup is a safety net; failing to make one (a full disk) must not stop the work.
    }
}

ProjectCheck checkProject(const std::string& dir)
{
    ProjectCheck out;
    auto project = Project::open(dir, ProjectAccess::ReadOnly);
    {
        auto s = project->db().prepare("PRAGMA integrity_check");
        while (s.step()) {
            const std::string line = s.columnText(0);
            if (line != "ok")
                out.problems.push_back("catalogue: " + line);
        }
    }
    const int side = project->cacheResolution();
    const auto entries = project->cacheEntries(side);
    out.cacheEntries = static_cast<int64_t>(entries.size());
    out.images = project->db().scalar("SELECT COUNT(*) FROM images");
    std::error_code ec;
    const std::string cacheFile = cacheFilePath(project->cacheDir(), side);
    const uint64_t size = fs::exists(cacheFile, ec) ? fs::file_size(cacheFile, ec) : 0;
    const int64_t end = project->cacheEnd(side);
    if (static_cast<uint64_t>(end) > size)
        out.problems.push_back("cache: the index reaches byte " + std::to_string(end) + " but " + cacheFile + " holds " +
                               std::to_string(size) + " bytes");
    else
        out.unreferencedCacheBytes = size - static_cast<uint64_t>(end);
    std::vector<std::pair<int64_t, int64_t>> spans;
    for (const auto& e : entries)
        spans.emplace_back(e.offset, e.offset + int64_t(side) * side * e.channels);
    std::sort(spans.begin(), spans.end());
    int64_t overlaps = 0;
    for (size_t i = 1; i < spans.size(); ++i)
        overlaps += spans[i].first < spans[i - 1].second;
    if (overlaps > 0)
        out.problems.push_back("cache: " + std::to_string(overlaps) + " images share bytes with another image");
    if (out.cacheEntries != out.images)
        out.problems.push_back("cache: " + std::to_string(out.images) + " images but " + std::to_string(out.cacheEntries) +
                               " cache entries at " + std::to_string(side) + " px");
    return out;
}

RestoreResult restoreProjectBackup(const std::string& projectDir, const std::string& backupPath)
{
    const std::string dir = fs::absolute(projectDir).lexically_normal().string();
    RestoreResult result;
    const auto backups = listBackups(dir);
    if (backupPath.empty()) {
        for (const auto& b : backups)
            if (b.images >= 0) {
                result.backup = b;
                break;
            }
        if (result.backup.path.empty())
            throw UserError(backups.empty() ? "the project '" + dir + "' has no backups (backups/ is empty)"
                                            : "none of the project's backups in '" + backupDir(dir) + "' can be read");
    } else {
        result.backup.path = backupPath;
        result.backup.createdAt = createdAtFromName(fs::path(backupPath).filename().string());
        readCounts(result.backup);
        if (result.backup.images < 0)
            throw UserError("'" + backupPath + "' is not a readable medsiam catalogue backup");
    }
    auto lock = lockProjectForWriting(dir);
    const std::string db = projectDatabasePath(dir);
    std::error_code ec;
    if (fs::exists(db, ec)) {
        result.damagedCopy = db + ".damaged-" + timestamp("%Y%m%d-%H%M%S");
        fs::rename(db, result.damagedCopy, ec);
        if (ec)
            throw UserError("cannot move the damaged catalogue aside: " + ec.message());
        for (const char* side : {"-wal", "-shm"})
            if (fs::exists(db + side, ec))
                fs::rename(db + side, result.damagedCopy + side, ec);
    }
    {
        sqlite3* from = nullptr;
        if (sqlite3_open_v2(result.backup.path.c_str(), &from, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
            sqlite3_close(from);
            throw UserError("cannot open the backup '" + result.backup.path + "'");
        }
        try {
            copyDatabase(from, db);
        } catch (...) {
            sqlite3_close(from);
            throw;
        }
        sqlite3_close(from);
    }
    auto project = Project::open(dir);
    // Runs trained after the backup: their folders are intact, only their index rows are gone.
    for (const auto& e : fs::directory_iterator(fs::path(dir) / "runs", ec)) {
        const std::string id = e.path().filename().string();
        if (!e.is_directory() || project->run(id))
            continue;
        std::string config;
        try {
            config = readWholeFile((e.path() / "config.json").string());
        } catch (const UserError&) {
            continue;
        }
        const auto j = nlohmann::json::parse(config, nullptr, false);
        if (!j.is_object())
            continue;
        const std::string job = j.value("job", "");
        const bool done = fs::exists(e.path() / "summary.json", ec);
        std::string summary = "{}";
        if (done) {
            try {
                summary = readWholeFile((e.path() / "summary.json").string());
            } catch (const UserError&) {
            }
        }
        RunRecord run{id, job, done ? "completed" : "interrupted", j.value("source_run", ""), config, summary, "", "", "", ""};
        if (fs::exists(e.path() / "notes.json", ec)) {
            try {
                const auto notes = nlohmann::json::parse(readWholeFile((e.path() / "notes.json").string()), nullptr, false);
                if (notes.is_object()) {
                    run.title = notes.value("title", "");
                    run.note = notes.value("note", "");
                }
            } catch (const UserError&) {
            } // unreadable notes: the run is recovered without them
        }
        project->recordRun(run);
        if (!run.title.empty() || !run.note.empty())
            project->describeRun(id, run.title, run.note);
        result.runsFound.push_back(id);
    }
    return result;
}

} // namespace medsiam::core
