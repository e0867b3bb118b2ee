#include "project/SourceScanner.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <filesystem>
#include <set>
#include <sys/stat.h>

namespace fs = std::filesystem;

namespace medsiam::core {

namespace {

struct Walker {
    ScanResult& out;
    std::set<std::pair<dev_t, ino_t>> visited;
    std::string exclude;
    std::string root;

    std::string relative(const std::string& p) const
    {
        return fs::path(p).lexically_relative(root).generic_string();
    }

    void walk(const std::string& dir)
    {
        struct stat st{};
        if (::stat(dir.c_str(), &st) != 0) {
            out.issues.emplace_back(dir, std::string("cannot read folder: ") + std::strerror(errno));
            return;
        }
        if (!visited.insert({st.st_dev, st.st_ino}).second)
            return; // already walked: a symbolic link loop or a second link to the same folder
        if (!exclude.empty() && dir == exclude)
            return;
        DIR* d = ::opendir(dir.c_str());
        if (!d) {
            out.issues.emplace_back(dir, std::string("cannot read folder: ") + std::strerror(errno));
            return;
        }
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..")
                names.push_back(n);
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        for (const std::string& n : names) {
            const std::string p = (fs::path(dir) / n).string();
            struct stat s{};
            if (::stat(p.c_str(), &s) != 0) {
                struct stat l{};
                const bool dangling = ::lstat(p.c_str(), &l) == 0 && S_ISLNK(l.st_mode);
                out.issues.emplace_back(p, dangling ? "cannot read file: broken symbolic link"
                                                    : std::string("cannot read file: ") + std::strerror(errno));
                continue;
            }
            if (S_ISDIR(s.st_mode))
                walk(p);
            else if (S_ISREG(s.st_mode))
                out.files.push_back({p, relative(p)});
            else
                out.issues.emplace_back(p, S_ISFIFO(s.st_mode) ? "not a regular file (a FIFO)" : "not a regular file (device or socket)");
        }
    }
};

} // namespace

ScanResult scanSources(const std::vector<std::string>& sources, const std::string& excludeDir)
{
    ScanResult out;
    Walker w{out, {}, excludeDir.empty() ? std::string() : fs::absolute(excludeDir).lexically_normal().string(), {}};
    if (!w.exclude.empty() && w.exclude.size() > 1 && w.exclude.back() == '/')
        w.exclude.pop_back();
    for (const std::string& src : sources) {
        std::string abs = fs::absolute(src).lexically_normal().string();
        if (abs.size() > 1 && abs.back() == '/')
            abs.pop_back();
        struct stat st{};
        if (::stat(abs.c_str(), &st) != 0) {
            out.issues.emplace_back(abs, std::string("cannot read: ") + std::strerror(errno));
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            w.root = abs;
            w.walk(abs);
        } else if (S_ISREG(st.st_mode)) {
            out.files.push_back({abs, fs::path(abs).filename().string()});
        } else {
            out.issues.emplace_back(abs, "not a regular file or folder");
        }
    }
    std::sort(out.files.begin(), out.files.end(), [](const ScannedFile& a, const ScannedFile& b) { return a.path < b.path; });
    out.files.erase(std::unique(out.files.begin(), out.files.end(), [](const ScannedFile& a, const ScannedFile& b) { return a.path == b.path; }),
                    out.files.end());
    return out;
}

} // namespace medsiam::core
