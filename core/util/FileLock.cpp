#include "util/FileLock.h"

#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <sys/file.h>
#include <thread>
#include <unistd.h>

namespace medsiam::core {

namespace {

std::mutex& registryMutex()
{
    static std::mutex m;
    return m;
}

std::map<std::string, std::weak_ptr<FileLock>>& registry()
{
    static std::map<std::string, std::weak_ptr<FileLock>> r;
    return r;
}

std::string& processPurpose()
{
    static std::string p = "medsiam";
    return p;
}

std::string key(const std::string& path)
{
    std::error_code ec;
    const auto k = std::filesystem::weakly_canonical(std::filesystem::absolute(path), ec);
    return ec ? path : k.string();
}

std::string hostName()
{
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0)
        return "this computer";
    return buf;
}

std::string nowText()
{
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

LockOwner ownOwner()
{
    return {static_cast<int64_t>(::getpid()), hostName(), processPurpose(), nowText()};
}

LockOwner readOwner(const std::string& path)
{
    LockOwner o;
    o.purpose = "another medsiam program";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return o;
    char buf[4096];
    const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    ::close(fd);
    if (n <= 0)
        return o;
    const auto j = nlohmann::json::parse(std::string(buf, static_cast<size_t>(n)), nullptr, false);
    if (!j.is_object())
        return o;
    o.pid = j.value("pid", int64_t(0));
    o.host = j.value("host", std::string());
    o.purpose = j.value("purpose", o.purpose);
    o.since = j.value("since", std::string());
    return o;
}

} // namespace

std::string LockOwner::describe() const
{
    std::string s = purpose.empty() ? "another medsiam program" : purpose;
    std::string details;
    if (pid > 0)
        details = "pid " + std::to_string(pid);
    if (!host.empty())
        details += (details.empty() ? "on " : " on ") + host;
    if (!since.empty())
        details += (details.empty() ? "since " : ", since ") + since;
    return details.empty() ? s : s + " (" + details + ")";
}

void FileLock::setProcessPurpose(const std::string& purpose)
{
    std::lock_guard<std::mutex> lock(registryMutex());
    processPurpose() = purpose;
}

std::shared_ptr<FileLock> FileLock::tryAcquire(const std::string& path, bool sharedInProcess, LockOwner* owner)
{
    const std::string k = key(path);
    std::lock_guard<std::mutex> lock(registryMutex());
    if (auto existing = registry()[k].lock()) {
        if (sharedInProcess)
            return existing;
        if (owner)
            *owner = readOwner(k);
        return nullptr;
    }
    const int fd = ::open(k.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        throw UserError("cannot create the lock file '" + k + "': " + std::strerror(errno));
    // A holder of this process that has just been released may not have closed its file yet.
    for (int attempt = 0;; ++attempt) {
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        const int err = errno;
        if (err == EINTR)
            continue;
        if (err == EWOULDBLOCK) {
            LockOwner o = readOwner(k);
            // A holder that has just taken the lock writes who it is a moment later.
            for (int wait = 0; o.pid == 0 && wait < 25; ++wait) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                o = readOwner(k);
            }
            if (o.pid == ::getpid() && attempt < 50) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            ::close(fd);
            if (owner)
                *owner = o;
            return nullptr;
        }
        ::close(fd);
        throw UserError("cannot lock '" + k + "': " + std::strerror(err));
    }
    const LockOwner me = ownOwner();
    const std::string text =
        nlohmann::json({{"pid", me.pid}, {"host", me.host}, {"purpose", me.purpose}, {"since", me.since}}).dump() + "\n";
    // Who holds it is advice for messages; a full disk here must not stop the lock from working.
    if (::ftruncate(fd, 0) == 0)
        (void)!::pwrite(fd, text.data(), text.size(), 0);
    std::shared_ptr<FileLock> held(new FileLock(k, fd));
    registry()[k] = held;
    return held;
}

std::optional<LockOwner> FileLock::currentOwner(const std::string& path)
{
    const std::string k = key(path);
    {
        std::lock_guard<std::mutex> lock(registryMutex());
        auto it = registry().find(k);
        if (it != registry().end() && !it->second.expired())
            return readOwner(k);
    }
    const int fd = ::open(k.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt; // no lock file: nobody has ever held it
    const bool free = ::flock(fd, LOCK_SH | LOCK_NB) == 0;
    ::close(fd); // also drops the shared lock just taken
    if (free)
        return std::nullopt;
    LockOwner o = readOwner(k);
    for (int wait = 0; o.pid == 0 && wait < 25; ++wait) { // written a moment after the lock is taken
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        o = readOwner(k);
    }
    return o;
}

FileLock::~FileLock()
{
    // Closing the file releases the flock. The registry entry has expired already; drop it
    // unless a new holder of the same path took its place.
    ::close(m_fd);
    std::lock_guard<std::mutex> lock(registryMutex());
    auto it = registry().find(m_path);
    if (it != registry().end() && it->second.expired())
        registry().erase(it);
}

} // namespace medsiam::core
