#pragma once
#include <string>
#include <vector>

namespace medsiam::core {

/// A CSV table read whole: a header row and data rows (RFC 4180 quoting, comma or semicolon
/// separated, detected from the header; a UTF-8 byte-order mark is ignored).
struct CsvTable {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
    std::vector<int> rowLines; ///< 1-based line number in the file where each row starts

    /// Index of the named column (case-insensitive), or -1.
    int column(const std::string& name) const;
};

/// Reads a CSV file. Throws UserError with the line number on malformed quoting, on an empty
/// file, or when it cannot be read.
CsvTable readCsv(const std::string& path);

/// Quotes one field for writing when it contains a separator, quote or newline.
std::string csvField(const std::string& value);

} // namespace medsiam::core
