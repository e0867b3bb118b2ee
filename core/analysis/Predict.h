#pragma once
// Putting a fine-tuned classifier to work: classify a project's images (stored under the run, so
// that the desktop app can review them) or the images of new folders (decoded exactly as an
// import would, without adding them to the project), with Grad-CAM overlays on request.
#include "eval/Predictions.h"
#include "io/ImageDecoder.h"
#include "util/CancelToken.h"

#include <functional>
#include <string>
#include <vector>

namespace medsiam::core {

class Project;

/// Which of a project's images to classify.
enum class PredictScope {
    Unlabeled, ///< the images without a label (the default: what a person would review)
    All,       ///< every image
    Split,     ///< the images of one split (PredictOptions::split)
};

struct PredictOptions {
    PredictScope scope = PredictScope::Unlabeled;
    std::string split;      ///< with PredictScope::Split: "train", "val", "test" or "none"
    bool bf16 = false;
    std::string gradcamDir; ///< when set, each image's Grad-CAM overlay is written there as <id>.png
    VolumeSlicing slicing;  ///< for folders: how volumes become images, as for import
    int importThreads = 0;  ///< for folders: decoder threads (0: every core)
    const CancelToken* cancel = nullptr;
    /// Called as images are classified: (done, total).
    std::function<void(size_t, size_t)> progress;
};

/// Parses "unlabeled", "all" or a split name (train, val, test, none) into scope and split;
/// throws UserError naming the choices.
void parsePredictScope(const std::string& text, PredictOptions& options);

/// Classifies a project's images with a fine-tuned run's selected checkpoint. When the project
/// is open for writing, the predictions are stored under the run (Project::mergePredictions):
/// predictions of other images stay. Throws UserError when the run is not a fine-tuned
/// classifier, its classes no longer match the project's, or the cancel token fired (nothing
/// is stored then).
PredictionSet predictProject(Project& project, const std::string& runId, const PredictOptions& options);

/// Classifies the images in `sources` (folders or files) with a run of `project`, which is
/// only read. The files are decoded by the importer into a scratch project at the project's
/// cache resolution (same decoders, windowing and letterbox), which is deleted afterwards;
/// files that could not be read are rows with a problem and no prediction. Throws UserError
/// for a source that does not exist, and as predictProject does.
PredictionSet predictFolders(Project& project, const std::string& runId, const std::vector<std::string>& sources,
                             const PredictOptions& options);

/// The review queue of a run: its stored predictions of the images that are unlabeled now,
/// least certain (smallest margin) first; ties by image id. Predictions whose class count no
/// longer matches the project's classes are left out. (Reads the project only; no LibTorch.)
std::vector<ClassifiedImage> reviewQueue(Project& project, const std::string& runId);

/// The project folder a run folder (PROJECT/runs/RUN) belongs to, and the run's id. Throws
/// UserError when `runDir` is not a run folder of a project.
std::pair<std::string, std::string> projectOfRunDir(const std::string& runDir);

} // namespace medsiam::core
