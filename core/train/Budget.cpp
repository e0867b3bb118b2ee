#include "train/Budget.h"

#include "util/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace medsiam::core {

namespace {
/// The share of the time left that a plan keeps free, and the fewest steps' worth it keeps.
constexpr double kSlowdownShare = 0.05;
constexpr double kSpareSteps = 2.0;
} // namespace


double parseDuration(const std::string& text)
{
    const std::string forms = "give a duration such as 90s, 10m, 1h or 1h30m (a plain number is seconds)";
    if (text.empty())
        throw UserError("the time budget is empty: " + forms);
    double total = 0;
    size_t i = 0;
    bool any = false;
    while (i < text.size()) {
        const char* begin = text.c_str() + i;
        char* end = nullptr;
        const double v = std::strtod(begin, &end);
        if (end == begin || !std::isfinite(v) || v < 0 || *begin == '+' || *begin == '-' || std::isspace(static_cast<unsigned char>(*begin)))
            throw UserError("'" + text + "' is not a time budget: " + forms);
        i += static_cast<size_t>(end - begin);
        double unit = 1;
        if (i < text.size()) {
            const char u = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
            if (u == 's')
                unit = 1;
            else if (u == 'm')
                unit = 60;
            else if (u == 'h')
                unit = 3600;
            else
                throw UserError("'" + text + "' is not a time budget: " + forms);
            ++i;
            if (u == 'm' && i + 2 < text.size() + 1 && text.compare(i, 2, "in") == 0)
                i += 2; // "10min"
        } else if (any) {
            throw UserError("'" + text + "' is not a time budget: " + forms);
        }
        total += v * unit;
        any = true;
    }
    if (total < 1)
        throw UserError("a time budget of " + text + " is too short: give at least 1 second");
    if (total > 30 * 86400.0)
        throw UserError("a time budget of " + text + " is more than 30 days");
    return total;
}

std::string formatDuration(double seconds)
{
    char buf[64];
    if (seconds < 90)
        std::snprintf(buf, sizeof buf, "%.0f s", seconds);
    else if (seconds < 3600)
        std::snprintf(buf, sizeof buf, "%.0f min", seconds / 60);
    else {
        const long minutes = std::lround(seconds / 60);
        if (minutes % 60)
            std::snprintf(buf, sizeof buf, "%ld h %ld min", minutes / 60, minutes % 60);
        else
            std::snprintf(buf, sizeof buf, "%ld h", minutes / 60);
    }
    return buf;
}

double scheduleProgress(int64_t stepsDone, int64_t totalSteps, double floor)
{
    if (totalSteps <= 0)
        return 1;
    return std::clamp(std::max(floor, double(stepsDone) / double(totalSteps)), 0.0, 1.0);
}

BudgetPlanner::BudgetPlanner(double budgetSeconds, double usedSeconds)
    : m_budget(budgetSeconds), m_used(usedSeconds), m_start(std::chrono::steady_clock::now())
{
}

double BudgetPlanner::elapsedSeconds() const
{
    return m_used + std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

void BudgetPlanner::stepTimed(double seconds, bool warmup)
{
    if (warmup)
        return;
    m_stepSeconds += seconds;
    ++m_steps;
}

void BudgetPlanner::evalTimed(double seconds)
{
    m_evalSeconds += seconds;
    ++m_evals;
}

void BudgetPlanner::saveTimed(double seconds)
{
    m_saveSeconds += seconds;
    ++m_saves;
}

double BudgetPlanner::secondsPerStep() const { return m_steps ? m_stepSeconds / double(m_steps) : 0; }

double BudgetPlanner::secondsPerEval(int64_t evalImages, int batch) const
{
    return m_evals ? m_evalSeconds / double(m_evals) : secondsPerStep() * double(evalImages) / (3.0 * std::max(1, batch));
}

int64_t BudgetPlanner::plan(int64_t stepsDone, int validationsLeft, int savesLeft, double finalEvalPasses, int64_t evalImages,
                            int batch) const
{
    const double perStep = secondsPerStep();
    if (perStep <= 0)
        return stepsDone + 1;
    const double perEval = secondsPerEval(evalImages, batch);
    const double perSave = m_saves ? m_saveSeconds / double(m_saves) : 0.05;
    const double reserved = perEval * (validationsLeft + finalEvalPasses) + perSave * (savesLeft + 1);
    // A margin for a machine that slows down (another job takes its cores): 5% of what is left,
    // and at least two steps, so that the last steps still fit when they run slower than the
    // ones measured.
    const double remaining = remainingSeconds();
    const double margin = std::max(kSlowdownShare * remaining, kSpareSteps * perStep);
    const double forSteps = remaining - reserved - margin;
    const int64_t more = forSteps > 0 ? static_cast<int64_t>(std::floor(forSteps / perStep)) : 0;
    return stepsDone + std::max<int64_t>(1, more);
}

double LrSchedule::factor(double progress, int64_t totalSteps) const
{
    const double p = std::clamp(progress, 0.0, 1.0);
    const double T = double(std::max<int64_t>(1, totalSteps));
    if (warmup > 0 && p < warmup)
        return std::min(1.0, (p * T + 1) / (warmup * T));
    if (shape == Shape::Cosine) {
        const double t = warmup < 1 ? (p - warmup) / (1 - warmup) : 1;
        return 0.5 * (1 + std::cos(M_PI * std::clamp(t, 0.0, 1.0)));
    }
    double f = 1;
    for (double d : decays)
        if (p >= d)
            f *= 0.1;
    return f;
}

RunLength::RunLength(double budgetSeconds, int64_t steps) : m_total(steps)
{
    if (budgetSeconds > 0)
        m_planner.emplace(budgetSeconds, 0.0);
}

void RunLength::resume(const std::string& checkpointExtra)
{
    try {
        const auto j = nlohmann::json::parse(checkpointExtra.empty() ? "{}" : checkpointExtra);
        if (!j.is_object())
            return;
        if (j.contains("seconds") && j["seconds"].is_number())
            (m_planner ? m_planner->m_used : m_clockUsed) = std::max(0.0, j["seconds"].get<double>());
        if (j.contains("progress") && j["progress"].is_number())
            m_progress = std::clamp(j["progress"].get<double>(), 0.0, 1.0);
    } catch (const std::exception&) {
        // A checkpoint without this state (an older medsiam) resumes at its step.
    }
}

double RunLength::advance(int64_t step)
{
    m_progress = scheduleProgress(step, m_total, m_progress);
    return m_progress;
}

void RunLength::paused(double seconds)
{
    if (seconds > 0)
        (m_planner ? m_planner->m_used : m_clockUsed) -= seconds;
}

double RunLength::runSeconds() const
{
    return m_planner ? m_planner->elapsedSeconds()
                     : m_clockUsed + std::chrono::duration<double>(std::chrono::steady_clock::now() - m_clockStart).count();
}

void RunLength::stepTimed(double seconds, bool warmup)
{
    if (m_planner)
        m_planner->stepTimed(seconds, warmup);
}

void RunLength::evalTimed(double seconds)
{
    if (m_planner)
        m_planner->evalTimed(seconds);
}

void RunLength::saveTimed(double seconds)
{
    if (m_planner)
        m_planner->saveTimed(seconds);
}

bool RunLength::replan(int64_t stepsDone, int validationsLeft, int savesLeft, double finalEvalPasses, int64_t evalImages, int batch)
{
    if (!m_planner || !m_planner->measured())
        return false;
    const int64_t planned = m_planner->plan(stepsDone, validationsLeft, savesLeft, finalEvalPasses, evalImages, batch);
    if (planned == m_total)
        return false;
    m_total = planned;
    return true;
}

bool RunLength::outOfTime(double finalEvalSeconds) const
{
    if (!m_planner || !m_planner->measured())
        return false;
    return m_planner->remainingSeconds() < finalEvalSeconds + m_planner->secondsPerStep();
}

std::string RunLength::checkpointExtra() const
{
    nlohmann::ordered_json j;
    j["seconds"] = runSeconds();
    j["progress"] = m_progress;
    return j.dump();
}

} // namespace medsiam::core
