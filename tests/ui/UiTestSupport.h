#pragma once
// Helpers for the desktop tests: generated image folders and projects.
#include <QString>

#include <string>
#include <vector>

namespace medsiam::test {

/// Writes `n` small grey PNGs (side x side, all different) to folder/img<i>.png.
/// With `noisy`, pixels are pseudo-random (slow to compress and decode, like real images).
void writeImageFolder(const QString& folder, int n, int side = 16, bool noisy = false);

/// A project with `n` catalogue rows (no cache, no source files), patients "P<i / perPatient>",
/// written straight into the catalogue in one transaction: for tests that need many images fast.
void writeSyntheticCatalogue(const QString& projectDir, int n, int perPatient = 1);

} // namespace medsiam::test
