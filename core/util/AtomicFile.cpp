#include "util/AtomicFile.h"

#include "util/Error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace medsiam::core {

bool isDiskFullErrno(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG; }

namespace {
std::string errnoText() { return std::strerror(errno); }

/// The error for a failed write of `path`: DiskFullError when the disk is full.
[[noreturn]] void writeFailed(const std::string& what, const std::string& path, int err)
{
    const std::string message = what + " '" + path + "': " + std::strerror(err);
    if (isDiskFullErrno(err))
        throw DiskFullError(message + "; the previous version of the file is kept");
    throw UserError(message);
}
} // namespace

void writeFileAtomically(const std::string& path, std::string_view contents)
{
    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        writeFailed("cannot write", tmp, errno);
    size_t written = 0;
    while (written < contents.size()) {
        ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            writeFailed("cannot write", path, err);
        }
        written += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        writeFailed("cannot flush to disk", path, err);
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        writeFailed("cannot flush to disk", path, err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        std::string why = errnoText();
        ::unlink(tmp.c_str());
        throw UserError("cannot replace '" + path + "': " + why);
    }
    const std::string dir = std::filesystem::path(path).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

std::string readWholeFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw UserError("cannot open '" + path + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace medsiam::core
