#include "util/Csv.h"

#include "util/Error.h"
#include "util/Text.h"

#include <fstream>
#include <sstream>

namespace medsiam::core {

int CsvTable::column(const std::string& name) const
{
    const std::string want = text::toLower(text::trim(name));
    for (size_t i = 0; i < header.size(); ++i)
        if (text::toLower(text::trim(header[i])) == want)
            return static_cast<int>(i);
    return -1;
}

CsvTable readCsv(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw UserError("cannot open CSV file '" + path + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string data = ss.str();
    if (text::startsWith(data, "\xEF\xBB\xBF"))
        data.erase(0, 3);
    if (text::trim(data).empty())
        throw UserError("CSV file '" + path + "' is empty");

    // The separator is whichever of ',', ';' or tab occurs most in the first line.
    const std::string firstLine = data.substr(0, data.find('\n'));
    char sep = ',';
    size_t best = 0;
    for (char c : {',', ';', '\t'}) {
        size_t n = 0;
        for (char d : firstLine)
            n += d == c;
        if (n > best) {
            best = n;
            sep = c;
        }
    }

    CsvTable table;
    std::vector<std::string> row;
    std::string field;
    bool inQuotes = false, fieldQuoted = false;
    int line = 1, rowLine = 1;
    auto endRow = [&] {
        row.push_back(fieldQuoted ? field : text::trim(field));
        field.clear();
        fieldQuoted = false;
        bool blank = row.size() == 1 && row[0].empty();
        if (!blank) {
            if (table.header.empty()) {
                table.header = row;
            } else {
                table.rows.push_back(row);
                table.rowLines.push_back(rowLine);
            }
        }
        row.clear();
    };
    for (size_t i = 0; i < data.size(); ++i) {
        char c = data[i];
        if (inQuotes) {
            if (c == '"') {
                if (i + 1 < data.size() && data[i + 1] == '"') {
                    field += '"';
                    ++i;
                } else {
                    inQuotes = false;
                }
            } else {
                if (c == '\n')
                    ++line;
                field += c;
            }
            continue;
        }
        if (c == '"' && text::trim(field).empty()) {
            inQuotes = true;
            fieldQuoted = true;
            field.clear();
        } else if (c == sep) {
            row.push_back(fieldQuoted ? field : text::trim(field));
            field.clear();
            fieldQuoted = false;
        } else if (c == '\n') {
            endRow();
            ++line;
            rowLine = line;
        } else if (c != '\r') {
            field += c;
        }
    }
    if (inQuotes)
        throw UserError("CSV file '" + path + "': a quoted field opened on line " + std::to_string(rowLine) + " is never closed");
    if (!field.empty() || !row.empty())
        endRow();
    if (table.header.empty())
        throw UserError("CSV file '" + path + "' has no header row");
    return table;
}

std::string csvField(const std::string& value)
{
    if (value.find_first_of(",;\"\n\r") == std::string::npos)
        return value;
    std::string out = "\"";
    for (char c : value) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

} // namespace medsiam::core
