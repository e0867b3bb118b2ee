#pragma once
// Writes small DICOM files through DCMTK for tests: the test decides every attribute and the
// exact pixels, so the decoder's output can be checked pixel for pixel.
#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::test {

struct DicomSpec {
    int rows = 8;
    int columns = 8;
    int frames = 1;
    int samplesPerPixel = 1;
    int bitsAllocated = 8;
    int bitsStored = 0;        ///< 0: bitsAllocated; HighBit is bitsStored - 1
    bool isSigned = false;
    std::string photometric = "MONOCHROME2";
    std::vector<uint8_t> pixels8;   ///< used when bitsAllocated == 8
    std::vector<int32_t> pixels16;  ///< used when bitsAllocated == 16 (the words as written)
    double slope = 1.0;
    double intercept = 0.0;
    bool rescale = false;
    double windowCentre = 0.0;
    double windowWidth = 0.0; ///< 0: no window in the file
    std::string transferSyntax = "explicit"; ///< explicit, implicit, bigendian, jpegls, rle, jpeg (lossless), jpeg-baseline
    /// When set, the meta header declares this transfer syntax UID while the dataset is written in
    /// `transferSyntax` (as some writers wrongly do).
    std::string declaredTransferSyntaxUid;
    std::string patientId = "PAT001";
    std::string sopUid;        ///< generated when empty
    std::string studyUid;      ///< generated when empty
    std::string seriesUid;     ///< generated when empty
    std::string patientName = "Doe^Jane";
    std::string studyDate;     ///< YYYYMMDD; none when empty
    std::string studyDescription;
    std::string seriesDescription;
    std::string accession;
    int instanceNumber = 0;    ///< none when 0
    std::string modality = "OT";
    bool withPixelData = true;
    int claimedRows = 0;       ///< when > 0, Rows/Columns written as this while pixels stay small
};

/// Writes the file; throws std::runtime_error (which fails the test) when it cannot.
void writeDicom(const std::string& path, const DicomSpec& spec);

} // namespace medsiam::test
