#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace medsiam::cli {

/// A command-line usage mistake; main() prints it with a hint and exits with status 2.
class UsageError : public std::runtime_error {
public:
    explicit UsageError(const std::string& m) : std::runtime_error(m) {}
};

/// A strict parser for one sub-command: declared options only, values checked, `--help`.
class ArgParser {
public:
    ArgParser(std::string usage, std::string description);
    /// An option taking a value: --name VALUE or --name=VALUE.
    ArgParser& option(const std::string& name, const std::string& valueName, const std::string& help, const std::string& fallback = {});
    /// An option that may be given several times.
    ArgParser& multiOption(const std::string& name, const std::string& valueName, const std::string& help);
    ArgParser& flag(const std::string& name, const std::string& help);
    ArgParser& positional(const std::string& name, const std::string& help, bool required = true, bool many = false);

    /// The --threads option every compute command takes (0: every core).
    ArgParser& threadsOption(const std::string& help = "CPU threads (0: all cores)");

    /// Parses; throws UsageError for unknown options, missing values or missing positionals.
    /// Returns false when --help was asked for; help() has then been printed to stdout, and the
    /// command returns 0.
    bool parse(const std::vector<std::string>& args);
    std::string help() const;

    bool has(const std::string& name) const;
    std::string value(const std::string& name) const;
    std::vector<std::string> values(const std::string& name) const;
    /// The option's value as an integer in [min, max]; UsageError otherwise.
    int intValue(const std::string& name, int min, int max) const;
    double doubleValue(const std::string& name, double min, double max) const;
    /// --threads, checked (0 .. 1024).
    int threads() const;

private:
    struct Spec {
        std::string name, valueName, help, fallback;
        bool isFlag = false, isMulti = false, isPositional = false, required = false, many = false;
    };
    std::string m_usage, m_description;
    std::vector<Spec> m_specs;
    std::map<std::string, std::vector<std::string>> m_values;
    const Spec* find(const std::string& name) const;
};

} // namespace medsiam::cli
