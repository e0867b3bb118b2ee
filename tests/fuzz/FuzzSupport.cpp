#include "FuzzSupport.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace medsiam::fuzz {

MemFile::MemFile(const char* name)
{
    m_fd = ::memfd_create(name, 0);
    if (m_fd < 0) {
        std::perror("memfd_create");
        std::abort();
    }
    m_path = "/proc/self/fd/" + std::to_string(m_fd);
}

MemFile::~MemFile() { ::close(m_fd); }

const std::string& MemFile::write(const uint8_t* data, size_t size)
{
    if (::ftruncate(m_fd, 0) != 0 || (size && ::pwrite(m_fd, data, size, 0) != static_cast<ssize_t>(size))) {
        std::perror("memfd write");
        std::abort();
    }
    return m_path;
}

std::string writeShmFile(const std::string& extension, const uint8_t* data, size_t size)
{
    const std::string path = "/dev/shm/medsiam-fuzz-" + std::to_string(::getpid()) + extension;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size)) {
        std::perror(path.c_str());
        std::abort();
    }
    std::fclose(f);
    return path;
}

} // namespace medsiam::fuzz
