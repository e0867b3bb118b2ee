#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace medsiam::core::text {

/// Removes leading and trailing ASCII whitespace (and DICOM's NUL padding).
std::string trim(std::string_view s);
std::string toLower(std::string_view s);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);
std::vector<std::string> split(std::string_view s, char sep);
/// Human-readable byte count, e.g. "3.2 GB".
std::string humanBytes(double bytes);
/// Seconds as "1h02m", "3m05s" or "12s".
std::string humanDuration(double seconds);
/// A number in its shortest form: 0.05, 0.0001, 300.
std::string formatNumber(double value);
/// Parses a whole string as an integer / floating point value; false on any junk.
bool parseInt(std::string_view s, long long& out);
bool parseDouble(std::string_view s, double& out);

} // namespace medsiam::core::text
