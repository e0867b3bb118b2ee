#pragma once
// Helpers shared by the core tests: paths and small file writers.
#include <QJsonObject>
#include <QString>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace medsiam::test {

/// Debian's python3 with numpy, pydicom, gdcm and scikit-learn (not a pyenv one on PATH).
QString systemPython();
/// The message of the UserError that `f` throws, or "(no error)".
std::string errorOf(const std::function<void()>& f);
void writeBytes(const QString& path, const std::vector<uint8_t>& bytes);
void writeText(const QString& path, const std::string& text);
/// The JSON object in a file ({} when it cannot be read).
QJsonObject readJsonFile(const QString& path);
/// A small two-class dataset (discs vs rings with noise, 28 px) as a NumPy archive in `dir`,
/// imported with the medsiam-cli at `cli` at 32 px: 160 train, 40 val, 40 test images. Returns
/// the project's folder, or "" when it could not be built.
QString makeShapesProject(const QString& dir, const QString& cli);

} // namespace medsiam::test
