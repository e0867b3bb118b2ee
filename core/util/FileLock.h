#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace medsiam::core {

/// Who holds a lock: enough for a message that lets the user find the other program.
struct LockOwner {
    int64_t pid = 0;
    std::string host;
    std::string purpose; ///< e.g. "medsiam-cli import", "the medsiam desktop app"
    std::string since;   ///< local time the lock was taken, "2026-12-01 10:32:05"
    /// "medsiam-cli import (pid 4242 on ws1, since 2026-12-01 10:32:05)"
    std::string describe() const;
};

/// An exclusive advisory lock on a file (flock(2)), held for as long as the object lives.
/// The kernel releases it when its process ends, however it ends, so a lock left behind by a
/// killed process is no lock at all: the next writer takes it over without asking anyone.
/// The file records who holds it (pid, host, purpose, time) for the message a second writer gets.
///
/// flock locks belong to open files, so two acquisitions in one process would refuse each other;
/// within a process the locks are kept in a registry by path: a `shared` acquisition returns the
/// holder that already exists (the desktop app's worker threads share their window's project
/// lock), an exclusive one is refused while any holder lives (one training job per run).
class FileLock {
public:
    /// Takes the lock, or returns null when someone else holds it; `owner`, when given, then
    /// says who. Throws UserError when the lock file cannot be created.
    static std::shared_ptr<FileLock> tryAcquire(const std::string& path, bool sharedInProcess, LockOwner* owner = nullptr);
    /// Who holds the lock now (this process included); nullopt when nobody does.
    static std::optional<LockOwner> currentOwner(const std::string& path);

    /// What this process says it is doing, recorded in every lock it takes ("medsiam-cli
    /// import"). Set once at start-up; "medsiam" by default.
    static void setProcessPurpose(const std::string& purpose);

    ~FileLock();
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;
    const std::string& path() const { return m_path; }

private:
    FileLock(std::string path, int fd) : m_path(std::move(path)), m_fd(fd) {}
    std::string m_path;
    int m_fd = -1;
};

} // namespace medsiam::core
