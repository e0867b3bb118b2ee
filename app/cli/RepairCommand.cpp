// medsiam-cli repair: check a project, list its catalogue backups, restore one.
#include "ArgParser.h"
#include "Commands.h"

#include "project/Project.h"
#include "project/ProjectBackup.h"
#include "util/Text.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace medsiam::cli {

namespace {

void printBackups(const std::vector<core::ProjectBackupInfo>& backups)
{
    if (backups.empty()) {
        std::printf("no backups\n");
        return;
    }
    for (const auto& b : backups) {
        if (b.images < 0)
            std::printf("%s  %s  (unreadable)\n", b.createdAt.c_str(), b.path.c_str());
        else
            std::printf("%s  %lld images, %lld labels, %lld runs  %s\n", b.createdAt.c_str(), static_cast<long long>(b.images),
                        static_cast<long long>(b.labels), static_cast<long long>(b.runs), b.path.c_str());
    }
}

/// PRAGMA integrity_check of the catalogue and the cache index against the cache files.
int check(const std::string& dir)
{
    auto project = core::Project::open(dir, core::ProjectAccess::ReadOnly);
    int problems = 0;
    {
        auto s = project->db().prepare("PRAGMA integrity_check");
        while (s.step()) {
            const std::string line = s.columnText(0);
            if (line != "ok") {
                std::printf("catalogue: %s\n", line.c_str());
                ++problems;
            }
        }
    }
    const int side = project->cacheResolution();
    const auto entries = project->cacheEntries(side);
    std::error_code ec;
    const auto cacheFile = core::cacheFilePath(project->cacheDir(), side);
    const uint64_t size = std::filesystem::exists(cacheFile, ec) ? std::filesystem::file_size(cacheFile, ec) : 0;
    const int64_t end = project->cacheEnd(side);
    if (static_cast<uint64_t>(end) > size) {
        std::printf("cache: the index reaches byte %lld but %s holds %llu bytes\n", static_cast<long long>(end), cacheFile.c_str(),
                    static_cast<unsigned long long>(size));
        ++problems;
    }
    // Entries must not share bytes: each image has its own place.
    std::vector<std::pair<int64_t, int64_t>> spans;
    for (const auto& e : entries)
        spans.emplace_back(e.offset, e.offset + int64_t(side) * side * e.channels);
    std::sort(spans.begin(), spans.end());
    int64_t overlaps = 0;
    for (size_t i = 1; i < spans.size(); ++i)
        overlaps += spans[i].first < spans[i - 1].second;
    if (overlaps > 0) {
        std::printf("cache: %lld images share bytes with another image\n", static_cast<long long>(overlaps));
        ++problems;
    }
    const int64_t images = project->db().scalar("SELECT COUNT(*) FROM images");
    if (static_cast<int64_t>(entries.size()) != images) {
        std::printf("cache: %lld images but %zu cache entries at %d px\n", static_cast<long long>(images), entries.size(), side);
        ++problems;
    }
    if (static_cast<uint64_t>(end) < size)
        std::printf("cache: %s unreferenced bytes at the end (from an import that was stopped; the next import reclaims them)\n",
                    core::text::humanBytes(double(size - static_cast<uint64_t>(end))).c_str());
    std::printf("%s: %lld images, %zu cache entries; %s\n", project->dir().c_str(), static_cast<long long>(images), entries.size(),
                problems ? "problems found" : "no problems found");
    return problems ? 1 : 0;
}

} // namespace

int runRepair(const std::vector<std::string>& args)
{
    ArgParser p("medsiam-cli repair PROJECT [--check | --list | --restore [--backup FILE]]",
                "Checks a project (its catalogue with SQLite's integrity check, its cache index against the cache\n"
                "file), lists the backups of its catalogue that medsiam keeps in backups/ (the newest 3, one each\n"
                "time the project is opened for writing after a change), or restores one when the catalogue is\n"
                "damaged or empty. A restore keeps the catalogue it replaces beside it and finds runs trained since\n"
                "the backup again from their folders.");
    p.positional("PROJECT", "project folder")
        .flag("check", "check the catalogue and the cache (the default)")
        .flag("list", "list the catalogue backups")
        .flag("restore", "restore the newest readable backup (or --backup FILE)")
        .option("backup", "FILE", "the backup to restore (see --list)");
    if (!p.parse(args))
        return 0;
    const std::string dir = p.value("PROJECT");
    if (p.has("backup") && !p.has("restore"))
        throw UsageError("--backup goes with --restore");
    if (p.has("list")) {
        printBackups(core::listBackups(dir));
        return 0;
    }
    if (p.has("restore")) {
        const auto r = core::restoreProjectBackup(dir, p.has("backup") ? p.value("backup") : std::string());
        std::printf("restored the catalogue backup of %s: %lld images, %lld labels, %lld runs\n", r.backup.createdAt.c_str(),
                    static_cast<long long>(r.backup.images), static_cast<long long>(r.backup.labels),
                    static_cast<long long>(r.backup.runs));
        if (!r.damagedCopy.empty())
            std::printf("the catalogue it replaced is kept as %s\n", r.damagedCopy.c_str());
        for (const auto& run : r.runsFound)
            std::printf("found run %s again (from its folder)\n", run.c_str());
        std::printf("images imported after the backup are not in it: import their folders again (known files are skipped)\n");
        return 0;
    }
    if (!core::Project::exists(dir))
        throw core::UserError("'" + dir + "' is not a medsiam project (no project.sqlite in it)");
    return check(dir);
}

} // namespace medsiam::cli
