#pragma once
// Helpers for the desktop tests: generated image folders and projects.
#include <QString>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace medsiam::core {
class Project;
struct PretrainConfig;
} // namespace medsiam::core

namespace medsiam::test {

/// Writes `n` small grey PNGs (side x side, all different) to folder/img<i>.png.
/// With `noisy`, pixels are pseudo-random (slow to compress and decode, like real images).
void writeImageFolder(const QString& folder, int n, int side = 16, bool noisy = false);

/// A project with `n` catalogue rows (no cache, no source files), patients "P<i / perPatient>",
/// written straight into the catalogue in one transaction: for tests that need many images fast.
void writeSyntheticCatalogue(const QString& projectDir, int n, int perPatient = 1);

/// `n` noisy 16 px PNGs written to `src` and imported into a new project at `dir` (32 px cache)
/// with the classes normal (key 1) and, with `twoClasses`, pneumonia (key 2); the project, open.
std::unique_ptr<core::Project> makeImportedProject(const QString& dir, const QString& src, int n, bool twoClasses = true);

/// Labels the first `count` catalogue rows normal and pneumonia alternately (normal first).
void labelAlternately(core::Project& project, int count);

/// Gives catalogue row i the split `splitOf(i)` ("" for none).
void assignSplits(core::Project& project, const std::function<std::string(int)>& splitOf);

/// A SimSiam configuration of bit-nano for grey images, small enough for a test.
core::PretrainConfig tinyPretrain(int steps, int batch, int inputSize);

} // namespace medsiam::test
