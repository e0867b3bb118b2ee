#pragma once
// Automatic backups of a project's catalogue (project.sqlite) and restoring one.
#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// How many backups a project keeps in backups/ (the newest).
constexpr int kKeptBackups = 3;

struct ProjectBackupInfo {
    std::string path;
    std::string createdAt; ///< local time, "2026-12-01 10:32:05"
    int64_t images = -1;   ///< images in its catalogue; -1 when the backup cannot be read
    int64_t labels = -1;
    int64_t runs = -1;
    uint64_t bytes = 0;
};

/// The project's backups, newest first.
std::vector<ProjectBackupInfo> listBackups(const std::string& projectDir);

/// Copies the open catalogue to backups/project-YYYYMMDD-HHMMSS.sqlite with SQLite's online
/// backup API when it changed since the newest backup, and removes backups beyond
/// kKeptBackups. Project::open calls it for every writer. A backup that cannot be written (a
/// full disk) is skipped without a word to the caller: it must never stop the user's work.
void backupProject(Project& project);

/// What `medsiam-cli repair` finds in a project.
struct ProjectCheck {
    int64_t images = 0;
    int64_t cacheEntries = 0;
    std::vector<std::string> problems;  ///< each a sentence; empty: sound
    uint64_t unreferencedCacheBytes = 0; ///< past the index's end (an import stopped before its commit)
};

/// SQLite's integrity check of the catalogue, and the cache index against the cache file (every
/// entry inside the file, no two sharing a byte, one per image). Read-only.
ProjectCheck checkProject(const std::string& projectDir);

struct RestoreResult {
    ProjectBackupInfo backup;           ///< the backup restored
    std::string damagedCopy;            ///< where the catalogue it replaced was moved (kept, never deleted)
    std::vector<std::string> runsFound; ///< run folders newer than the backup, registered again
};

/// Replaces a project's catalogue by a backup (the newest readable one when `backupPath` is
/// empty). The catalogue it replaces is moved aside, never deleted; run folders that the backup
/// does not know are registered again from their config.json (as completed when they have a
/// summary.json, else as interrupted). Images imported after the backup are not in it: the
/// message tells the user to import their folders again. Takes the project's write lock.
/// Throws UserError (no backup, backup unreadable, project busy).
RestoreResult restoreProjectBackup(const std::string& projectDir, const std::string& backupPath = {});

} // namespace medsiam::core
