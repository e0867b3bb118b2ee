#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

/// A NumPy .npy array held in memory, little-endian, C order.
struct NpyArray {
    char kind = 'f';  ///< 'f' float, 'i' signed int, 'u' unsigned int, 'b' bool
    int itemSize = 4; ///< bytes per element
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;

    int64_t elementCount() const;
    /// "float32", "uint8", ... for messages.
    std::string dtypeName() const;
    /// Shape as "[3,3,64,64]" for messages.
    std::string shapeText() const;
    /// Element i converted to double / int64 whatever the stored type.
    double asDouble(int64_t i) const;
    int64_t asInt(int64_t i) const;
};

/// Parses a .npy byte buffer strictly: magic, version 1-3, a header dict with 'descr',
/// 'fortran_order' (must be False) and 'shape', and exactly shape-many elements of data.
/// Supported dtypes: bool, (u)int8/16/32/64, float16/32/64, little-endian or byte-sized.
/// Throws UserError naming `what` (the file or entry) and the problem.
NpyArray parseNpy(std::vector<uint8_t> bytes, const std::string& what);

/// Serialises float32 / uint8 / int64 arrays back to .npy (used by tests and exports).
std::vector<uint8_t> writeNpy(const NpyArray& array);

/// Reads and parses a .npy file (parseNpy's checks); throws UserError naming the file.
NpyArray loadNpyFile(const std::string& path);
/// Writes an array to a .npy file, atomically. Throws UserError.
void saveNpyFile(const std::string& path, const NpyArray& array);
/// Writes a float32 array of the given shape to a .npy file, atomically. Throws UserError.
void saveFloatNpy(const std::string& path, const float* data, const std::vector<int64_t>& shape);

/// IEEE half-precision bits to float.
float halfToFloat(uint16_t bits);

} // namespace medsiam::core
