#pragma once
#include <string>
#include <vector>

namespace medsiam::cli {

/// Each command parses its own arguments and returns the process exit status:
/// 0 success, 1 failure (with a message on stderr), 2 usage error (thrown as UsageError).
int runImport(const std::vector<std::string>& args);
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

} // namespace medsiam::cli
