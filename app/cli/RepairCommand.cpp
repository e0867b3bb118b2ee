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

int check(const std::string& dir)
{
    const core::ProjectCheck c = core::checkProject(dir);
    for (const auto& problem : c.problems)
        std::printf("%s\n", problem.c_str());
    if (c.unreferencedCacheBytes > 0)
        std::printf("cache: %s unreferenced bytes at the end (from an import that was stopped; the next import reclaims them)\n",
                    core::text::humanBytes(double(c.unreferencedCacheBytes)).c_str());
    std::printf("%s: %lld images, %lld cache entries; %s\n", dir.c_str(), static_cast<long long>(c.images),
                static_cast<long long>(c.cacheEntries), c.problems.empty() ? "no problems found" : "problems found");
    return c.problems.empty() ? 0 : 1;
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
