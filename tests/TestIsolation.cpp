// Linked into every test: before main, the test's settings, caches and data go to a fresh
// temporary folder (XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_DATA_HOME), removed at exit, so that no
// test reads the user's settings or leaves anything in ~/.config or ~/.cache. Child processes
// (the CLI tests run medsiam-cli) inherit the same folder.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>

namespace {

struct IsolatedHome {
    std::string dir;

    IsolatedHome()
    {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/medsiam-test-home-XXXXXX";
        if (!mkdtemp(pattern.data()))
            std::abort(); // no temporary folder: nothing here can run safely
        dir = pattern;
        const std::pair<const char*, const char*> homes[] = {
            {"XDG_CONFIG_HOME", "config"}, {"XDG_CACHE_HOME", "cache"}, {"XDG_DATA_HOME", "data"}};
        for (const auto& [var, sub] : homes) {
            const std::string path = dir + "/" + sub;
            std::filesystem::create_directories(path);
            setenv(var, path.c_str(), 1);
        }
    }

    ~IsolatedHome()
    {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }
};

const IsolatedHome isolatedHome;

} // namespace
