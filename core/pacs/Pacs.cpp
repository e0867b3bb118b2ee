#include "pacs/Pacs.h"

#include "util/Error.h"
#include "util/Text.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace medsiam::core {

std::string PacsNode::address() const
{
    return aeTitle + "@" + host + ":" + std::to_string(port);
}

std::optional<std::string> aeTitleProblem(const std::string& ae)
{
    if (ae.empty())
        return std::string("an AE title is needed");
    if (ae.size() > 16)
        return "the AE title '" + ae + "' is " + std::to_string(ae.size()) + " characters long; DICOM allows 16";
    bool onlySpaces = true;
    for (unsigned char c : ae) {
        if (c < 0x20 || c == 0x7f || c == '\\')
            return "the AE title '" + ae + "' holds a backslash or a control character";
        if (c >= 0x80)
            return "the AE title '" + ae + "' holds a character outside ASCII";
        if (c != ' ')
            onlySpaces = false;
    }
    if (onlySpaces)
        return std::string("the AE title is only spaces");
    return std::nullopt;
}

void checkNode(const PacsNode& node)
{
    if (auto problem = aeTitleProblem(node.aeTitle))
        throw UserError("PACS node: " + *problem);
    if (text::trim(node.host).empty())
        throw UserError("PACS node " + node.aeTitle + ": a host name or address is needed");
    for (unsigned char c : node.host)
        if (c <= 0x20 || c == 0x7f)
            throw UserError("PACS node " + node.aeTitle + ": the host '" + node.host + "' holds a space or a control character");
    if (node.port < 1 || node.port > 65535)
        throw UserError("PACS node " + node.aeTitle + ": the port must be 1 to 65535, not " + std::to_string(node.port));
}

PacsNode parseNode(const std::string& textIn)
{
    const std::string s = text::trim(textIn);
    const size_t at = s.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= s.size())
        throw UserError("a PACS node is written AE@host:port (for example ORTHANC@pacs.example.org:4242), not '" + s + "'");
    PacsNode node;
    node.aeTitle = s.substr(0, at);
    std::string rest = s.substr(at + 1);
    const size_t colon = rest.rfind(':');
    if (colon != std::string::npos) {
        long long port = 0;
        if (!text::parseInt(rest.substr(colon + 1), port) || port < 1 || port > 65535)
            throw UserError("PACS node '" + s + "': the port must be a number from 1 to 65535");
        node.port = static_cast<int>(port);
        rest = rest.substr(0, colon);
    }
    node.host = rest;
    node.name = node.aeTitle;
    checkNode(node);
    return node;
}

const char* queryLevelName(QueryLevel level)
{
    switch (level) {
    case QueryLevel::Patient: return "patient";
    case QueryLevel::Study: return "study";
    case QueryLevel::Series: return "series";
    case QueryLevel::Image: return "image";
    }
    return "study";
}

std::optional<QueryLevel> parseQueryLevel(const std::string& textIn)
{
    const std::string s = text::toLower(text::trim(textIn));
    for (QueryLevel l : {QueryLevel::Patient, QueryLevel::Study, QueryLevel::Series, QueryLevel::Image})
        if (s == queryLevelName(l))
            return l;
    return std::nullopt;
}

namespace {

/// "2024-01-31" or "20240131" -> "20240131" when it is a real date; empty otherwise.
std::string normaliseDate(const std::string& in)
{
    std::string digits;
    for (size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c >= '0' && c <= '9')
            digits += c;
        else if (!((c == '-' || c == '.' || c == '/') && (i == 4 || i == 7)))
            return {};
    }
    if (digits.size() != 8 || (in.size() != 8 && in.size() != 10))
        return {};
    const int y = std::stoi(digits.substr(0, 4)), m = std::stoi(digits.substr(4, 2)), d = std::stoi(digits.substr(6, 2));
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1850 || m < 1 || m > 12 || d < 1 || d > days[m - 1])
        return {};
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return {};
    return digits;
}

} // namespace

bool isDicomUid(const std::string& s)
{
    if (s.empty() || s.size() > 64)
        return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || c == '.'))
            return false;
    return s.front() != '.' && s.back() != '.';
}

void parseDateRange(const std::string& textIn, PacsQuery& query)
{
    const std::string s = text::trim(textIn);
    const std::string bad = "the date '" + s + "' is not a date or range: write 20240131, 2024-01-31, 20240101-20240131 or 2024-01-01..2024-01-31";
    if (s.empty()) {
        query.dateFrom.clear();
        query.dateTo.clear();
        return;
    }
    std::string from, to;
    bool range = false;
    if (const size_t dots = s.find(".."); dots != std::string::npos) {
        from = s.substr(0, dots);
        to = s.substr(dots + 2);
        range = true;
    } else if (s.size() == 8 || s.size() == 10) {
        from = to = s;
    } else {
        // YYYYMMDD-YYYYMMDD, or an open end: "YYYYMMDD-" / "-YYYYMMDD".
        const size_t dash = s.find('-', s.front() == '-' ? 0 : 8);
        if (dash == std::string::npos)
            throw UserError(bad);
        from = s.substr(0, dash);
        to = s.substr(dash + 1);
        range = true;
    }
    std::string f = from.empty() ? std::string() : normaliseDate(from);
    std::string t = to.empty() ? std::string() : normaliseDate(to);
    if ((!from.empty() && f.empty()) || (!to.empty() && t.empty()) || (range && f.empty() && t.empty()))
        throw UserError(bad);
    if (!f.empty() && !t.empty() && f > t)
        throw UserError("the date range '" + s + "' ends before it begins");
    query.dateFrom = f;
    query.dateTo = t;
}

void checkQuery(const PacsQuery& q)
{
    for (const std::string* uid : {&q.studyUid, &q.seriesUid})
        if (!uid->empty() && !isDicomUid(*uid))
            throw UserError("'" + *uid + "' is not a DICOM UID (digits and dots, at most 64 characters)");
    auto checkDate = [](const std::string& d) {
        if (!d.empty() && normaliseDate(d) != d)
            throw UserError("the date '" + d + "' is not a date (YYYYMMDD)");
    };
    checkDate(q.dateFrom);
    checkDate(q.dateTo);
    struct Field { const std::string* value; const char* name; size_t max; };
    for (const Field& f : {Field{&q.patientId, "patient id", 64}, Field{&q.patientName, "patient name", 64 * 5},
                           Field{&q.modality, "modality", 16}, Field{&q.accession, "accession number", 16},
                           Field{&q.description, "description", 64}}) {
        if (f.value->size() > f.max)
            throw UserError(std::string("the ") + f.name + " is longer than DICOM allows (" + std::to_string(f.max) + " characters)");
        for (unsigned char c : *f.value)
            if (c < 0x20 || c == '\\')
                throw UserError(std::string("the ") + f.name + " holds a backslash or a control character");
    }
}

std::string pacsSeriesFolder(const std::string& root, const std::string& studyUid, const std::string& seriesUid)
{
    for (const std::string* uid : {&studyUid, &seriesUid})
        if (!isDicomUid(*uid))
            throw UserError("the PACS sent '" + *uid + "' as a UID; it is not one (digits and dots), so nothing is written under it");
    return (std::filesystem::path(root) / studyUid / seriesUid).string();
}

std::string pacsInstancePath(const std::string& root, const std::string& studyUid, const std::string& seriesUid,
                             const std::string& sopUid)
{
    if (!isDicomUid(sopUid))
        throw UserError("the PACS sent '" + sopUid + "' as a SOP Instance UID; it is not one (digits and dots)");
    return (std::filesystem::path(pacsSeriesFolder(root, studyUid, seriesUid)) / (sopUid + ".dcm")).string();
}

std::vector<std::string> instancesInFolder(const std::string& seriesFolder)
{
    std::vector<std::string> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(seriesFolder, ec), end; !ec && it != end; it.increment(ec)) {
        const std::filesystem::path& p = it->path();
        if (p.extension() == ".dcm" && it->is_regular_file(ec) && isDicomUid(p.stem().string()))
            out.push_back(p.stem().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string describeProgress(const RetrieveProgress& p)
{
    char buf[256];
    std::snprintf(buf, sizeof buf, "Retrieving: series %zu/%zu, %zu/%zu instances, %s, %.1f instances/s", p.seriesDone, p.seriesTotal,
                  p.instancesDone, p.instancesTotal, text::humanBytes(static_cast<double>(p.bytes)).c_str(),
                  p.seconds > 0 ? static_cast<double>(p.instancesDone) / p.seconds : 0.0);
    std::string out = buf;
    if (p.instancesFailed)
        out += ", " + std::to_string(p.instancesFailed) + " failed";
    return out;
}

std::string displayDate(const std::string& d)
{
    return d.size() == 8 ? d.substr(0, 4) + "-" + d.substr(4, 2) + "-" + d.substr(6, 2) : d;
}

std::string describeRetrieve(const RetrieveSummary& s)
{
    const size_t have = s.instancesReceived + s.instancesAlreadyPresent;
    std::string out = std::to_string(have) + " of " + std::to_string(s.instancesListed) + " instances";
    if (s.instancesAlreadyPresent)
        out += " (" + std::to_string(s.instancesAlreadyPresent) + " already here)";
    out += ", " + text::humanBytes(static_cast<double>(s.bytes)) + " in " + text::humanDuration(s.seconds);
    if (s.seconds > 0 && s.instancesReceived > 0) {
        char rate[96];
        std::snprintf(rate, sizeof rate, " (%.1f instances/s, %.1f MB/s)", s.instancesReceived / s.seconds,
                      static_cast<double>(s.bytes) / 1e6 / s.seconds);
        out += rate;
    }
    if (s.instancesFailed)
        out += "; " + std::to_string(s.instancesFailed) + " failed";
    if (s.cancelled)
        out += "; cancelled (what arrived is kept; retrieve again to complete it)";
    return out;
}

} // namespace medsiam::core
