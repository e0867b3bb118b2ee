#pragma once
#include <string>
#include <vector>

namespace medsiam::cli {

/// Each command parses its own arguments and returns the process exit status:
/// 0 success, 1 failure (with a message on stderr), 2 usage error (thrown as UsageError).
int runImport(const std::vector<std::string>& args);
int runPacs(const std::vector<std::string>& args);
int runInfo(const std::vector<std::string>& args);
int runModel(const std::vector<std::string>& args);
int runPretrain(const std::vector<std::string>& args);
int runResume(const std::vector<std::string>& args);
int runProbe(const std::vector<std::string>& args);
int runFinetune(const std::vector<std::string>& args);
int runEvaluate(const std::vector<std::string>& args);
int runTsne(const std::vector<std::string>& args);
int runEmbed(const std::vector<std::string>& args);
int runSuggest(const std::vector<std::string>& args);
int runGradCam(const std::vector<std::string>& args);
int runReport(const std::vector<std::string>& args);
int runRuns(const std::vector<std::string>& args);
int runSplit(const std::vector<std::string>& args);
int runRepair(const std::vector<std::string>& args);
int runCompare(const std::vector<std::string>& args);
int runExperiment(const std::vector<std::string>& args);
int runTrainClassifier(const std::vector<std::string>& args);
int runPredict(const std::vector<std::string>& args);
int runExport(const std::vector<std::string>& args);

} // namespace medsiam::cli

namespace medsiam::core {
class Project;
struct Comparison;
enum class CurveMetric;
enum class CurveAxis;
} // namespace medsiam::core

namespace medsiam::cli {

/// The figures of `compare` and `experiment`, drawn by the report module (ReportCommand.cpp) in the
/// full build; a build without Qt writes none and says so (returns empty).
std::vector<std::string> writeComparisonFiles(const core::Comparison& comparison, core::CurveMetric metric, core::CurveAxis axis,
                                              const std::string& dir);
std::vector<std::string> writeExperimentFigureFiles(core::Project& project, const std::string& experimentId);

} // namespace medsiam::cli
