#include "ArgParser.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace medsiam::cli {

ArgParser::ArgParser(std::string usage, std::string description) : m_usage(std::move(usage)), m_description(std::move(description)) {}

ArgParser& ArgParser::option(const std::string& name, const std::string& valueName, const std::string& help, const std::string& fallback)
{
    m_specs.push_back({name, valueName, help, fallback});
    return *this;
}

ArgParser& ArgParser::multiOption(const std::string& name, const std::string& valueName, const std::string& help)
{
    Spec s{name, valueName, help, {}};
    s.isMulti = true;
    m_specs.push_back(s);
    return *this;
}

ArgParser& ArgParser::flag(const std::string& name, const std::string& help)
{
    Spec s{name, {}, help, {}};
    s.isFlag = true;
    m_specs.push_back(s);
    return *this;
}

ArgParser& ArgParser::positional(const std::string& name, const std::string& help, bool required, bool many)
{
    Spec s{name, {}, help, {}};
    s.isPositional = true;
    s.required = required;
    s.many = many;
    m_specs.push_back(s);
    return *this;
}

const ArgParser::Spec* ArgParser::find(const std::string& name) const
{
    for (const auto& s : m_specs)
        if (s.name == name)
            return &s;
    return nullptr;
}

ArgParser& ArgParser::threadsOption(const std::string& help) { return option("threads", "N", help, "0"); }

int ArgParser::threads() const { return intValue("threads", 0, 1024); }

bool ArgParser::parse(const std::vector<std::string>& args)
{
    std::vector<std::string> positionals;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-h" || a == "--help") {
            std::cout << help();
            return false;
        }
        if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
            std::string name = a.substr(2), value;
            bool inlineValue = false;
            if (auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                inlineValue = true;
            }
            const Spec* s = find(name);
            if (!s || s->isPositional)
                throw UsageError("unknown option --" + name);
            if (s->isFlag) {
                if (inlineValue)
                    throw UsageError("--" + name + " takes no value");
                m_values[name].push_back("1");
                continue;
            }
            if (!inlineValue) {
                if (i + 1 >= args.size())
                    throw UsageError("--" + name + " needs a value (" + s->valueName + ")");
                value = args[++i];
            }
            if (!s->isMulti && m_values.count(name))
                throw UsageError("--" + name + " given twice");
            m_values[name].push_back(value);
        } else if (a.size() > 1 && a[0] == '-' && a != "-") {
            throw UsageError("unknown option " + a);
        } else {
            positionals.push_back(a);
        }
    }
    size_t p = 0;
    for (const auto& s : m_specs) {
        if (!s.isPositional)
            continue;
        if (p >= positionals.size()) {
            if (s.required)
                throw UsageError("missing " + s.name);
            continue;
        }
        if (s.many) {
            while (p < positionals.size())
                m_values[s.name].push_back(positionals[p++]);
        } else {
            m_values[s.name].push_back(positionals[p++]);
        }
    }
    if (p < positionals.size())
        throw UsageError("unexpected argument '" + positionals[p] + "'");
    return true;
}

std::string ArgParser::help() const
{
    std::ostringstream o;
    o << "usage: " << m_usage << "\n\n" << m_description << "\n";
    bool anyPos = false, anyOpt = false;
    for (const auto& s : m_specs)
        (s.isPositional ? anyPos : anyOpt) = true;
    auto line = [&](const std::string& left, const std::string& help) {
        o << "  " << left;
        if (left.size() < 26)
            o << std::string(26 - left.size(), ' ');
        else
            o << "\n  " << std::string(26, ' ');
        o << help << "\n";
    };
    if (anyPos) {
        o << "\narguments:\n";
        for (const auto& s : m_specs)
            if (s.isPositional)
                line(s.name, s.help);
    }
    o << "\noptions:\n";
    for (const auto& s : m_specs) {
        if (s.isPositional)
            continue;
        std::string left = "--" + s.name + (s.isFlag ? "" : " " + s.valueName);
        line(left, s.help + (s.fallback.empty() ? "" : " (default: " + s.fallback + ")") + (s.isMulti ? " (repeatable)" : ""));
    }
    line("-h, --help", "show this help");
    (void)anyOpt;
    return o.str();
}

bool ArgParser::has(const std::string& name) const { return m_values.count(name) > 0; }

std::string ArgParser::value(const std::string& name) const
{
    auto it = m_values.find(name);
    if (it != m_values.end())
        return it->second.front();
    const Spec* s = find(name);
    return s ? s->fallback : std::string();
}

std::vector<std::string> ArgParser::values(const std::string& name) const
{
    auto it = m_values.find(name);
    return it == m_values.end() ? std::vector<std::string>{} : it->second;
}

int ArgParser::intValue(const std::string& name, int min, int max) const
{
    const std::string v = value(name);
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < min || n > max)
        throw UsageError("--" + name + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                         ", got '" + v + "'");
    return static_cast<int>(n);
}

double ArgParser::doubleValue(const std::string& name, double min, double max) const
{
    const std::string v = value(name);
    char* end = nullptr;
    const double n = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(n) || n < min || n > max)
    {
        char range[64];
        std::snprintf(range, sizeof range, "%g to %g", min, max);
        throw UsageError("--" + name + " must be a number from " + range + ", got '" + v + "'");
    }
    return n;
}

} // namespace medsiam::cli
