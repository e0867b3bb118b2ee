#include "util/Text.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cerrno>
#include <cstdlib>

namespace medsiam::core::text {

std::string trim(std::string_view s)
{
    auto isPad = [](char c) { return c == '\0' || std::isspace(static_cast<unsigned char>(c)); };
    size_t b = 0, e = s.size();
    while (b < e && isPad(s[b]))
        ++b;
    while (e > b && isPad(s[e - 1]))
        --e;
    return std::string(s.substr(b, e - b));
}

std::string toLower(std::string_view s)
{
    std::string r(s);
    std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return r;
}

bool startsWith(std::string_view s, std::string_view prefix)
{
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool endsWith(std::string_view s, std::string_view suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> split(std::string_view s, char sep)
{
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == sep) {
            out.emplace_back(s.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

std::string humanBytes(double bytes)
{
    const char* units[] = {"B", "KB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000.0 && u < 4) {
        bytes /= 1000.0;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

std::string humanDuration(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0)
        return "--";
    char buf[32];
    if (seconds < 9.95) { // "0.3s": a short transfer or step is not "0s"
        std::snprintf(buf, sizeof buf, "%.1fs", seconds);
        return buf;
    }
    long long s = static_cast<long long>(std::llround(seconds));
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    else if (s >= 60)
        std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%llds", s);
    return buf;
}

bool parseInt(std::string_view s, long long& out)
{
    std::string t = trim(s);
    if (t.empty())
        return false;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(t.c_str(), &end, 10);
    if (errno != 0 || end != t.c_str() + t.size())
        return false;
    out = v;
    return true;
}

bool parseDouble(std::string_view s, double& out)
{
    std::string t = trim(s);
    if (t.empty())
        return false;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(t.c_str(), &end);
    if (errno != 0 || end != t.c_str() + t.size() || !std::isfinite(v))
        return false;
    out = v;
    return true;
}

std::string formatNumber(double value)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", value);
    return buf;
}

} // namespace medsiam::core::text
