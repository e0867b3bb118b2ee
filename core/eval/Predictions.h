#pragma once
// A classifier's predictions put to work: one row per image (the class probabilities, the
// predicted class and how unsure the model is) and the table they are exported as. No LibTorch.
#include <cstdint>
#include <string>
#include <vector>

namespace medsiam::core {

/// One image as a classifier saw it.
struct ClassifiedImage {
    int64_t imageId = 0;   ///< the project's image id; 0 for an image from outside the project
    std::string id;        ///< a pseudonymous id: the image id, or for a file outside the project
                           ///< the start of its content hash (with "#frame" for multi-frame files)
    std::string split;     ///< the image's split when predicted ("" none)
    int truth = -1;        ///< its class index when predicted (-1 unlabeled)
    std::vector<float> probabilities; ///< one per class; empty when the file was not classified
    int predicted = -1;    ///< argmax of probabilities (-1: not classified)
    double margin = 0;     ///< top probability minus the second: 0 undecided .. 1 certain
    double entropy = 0;    ///< of the probabilities, in nats
    // Identifying facts, exported only when the user asks (--identify):
    std::string path;      ///< the file (relative to its folder), "#frame" for multi-frame files
    std::string sopUid;    ///< DICOM SOPInstanceUID ("" for other formats)
    std::string problem;   ///< why the file was not classified ("" when it was)
};

/// The index of the largest probability (-1 for none).
int predictedClass(const std::vector<float>& probabilities);
/// Top probability minus the second (1 for a single class, 0 for none).
double predictionMargin(const std::vector<float>& probabilities);
/// Shannon entropy of the probabilities in nats (zeros are skipped).
double predictionEntropy(const std::vector<float>& probabilities);
/// Fills predicted, margin and entropy from probabilities.
void scorePrediction(ClassifiedImage& image);

/// What a classifier said about a set of images.
struct PredictionSet {
    std::string runId;
    int64_t checkpointStep = 0;
    std::vector<std::string> classNames;
    std::vector<ClassifiedImage> images; ///< classified images and, for folders, files that were not
    size_t classified() const;
    /// Images per predicted class (parallel to classNames).
    std::vector<int64_t> perClass() const;
};

/// The prediction table as CSV text (see writePredictionsCsv).
std::string predictionsCsv(const PredictionSet& predictions, bool identify);
/// Writes a prediction table: id, [path, sop_instance_uid when `identify`], split, label (the
/// known class), predicted, p_<class> per class, margin, entropy, problem. No patient names or
/// ids, and no paths unless asked. Throws UserError when the file cannot be written.
void writePredictionsCsv(const std::string& path, const PredictionSet& predictions, bool identify);

} // namespace medsiam::core
