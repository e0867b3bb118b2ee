#pragma once
// Time budgets: "train for 10 minutes". A budgeted run measures its own speed on its first steps,
// sizes its whole schedule (steps, warmup, decays) to end within the budget, and re-sizes it at
// every validation as the measured speed changes, so that the learning rate reaches its final
// value at the last step however fast the machine turns out to be. The budget covers the whole
// job: loading, the measured steps, validations, checkpoints and the final evaluation. A resumed
// run keeps to the budget its earlier processes left. No LibTorch.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medsiam::core {

/// "90s", "10m", "1h", "1h30m", "2.5m" or a plain number of seconds. Throws UserError (naming
/// the accepted forms) for anything else, and for budgets under 1 second or over 30 days.
double parseDuration(const std::string& text);
/// "45 s", "10 min", "1 h 30 min": for messages and labels.
std::string formatDuration(double seconds);

/// The progress through a schedule (0 at the first step, 1 after the last) when `stepsDone`
/// of `totalSteps` steps are done, never lower than `floor` (what earlier plans reached): a plan
/// that grows cannot move a schedule back.
double scheduleProgress(int64_t stepsDone, int64_t totalSteps, double floor = 0);

/// A learning-rate schedule over a run's progress (0 at its first step, 1 after its last), so
/// that it stretches or shrinks with the run's length.
struct LrSchedule {
    enum class Shape { Steps, Cosine };
    Shape shape = Shape::Cosine;
    double warmup = 0;           ///< the first fraction of the run warms up linearly
    std::vector<double> decays;  ///< Steps: x0.1 at each of these fractions of the run
    /// The factor of the base learning rate for the step that begins at `progress` in a run of
    /// `totalSteps` steps.
    double factor(double progress, int64_t totalSteps) const;
    /// "cosine" or "steps".
    const char* name() const { return shape == Shape::Cosine ? "cosine" : "steps"; }
};

/// Sizes a budgeted run. Make one when the job starts (its clock starts then); feed it the
/// duration of every training step, validation and checkpoint, and ask for a plan.
class BudgetPlanner {
public:
    /// `usedSeconds`: what earlier processes of the run spent (from its checkpoint).
    BudgetPlanner(double budgetSeconds, double usedSeconds);

    double budgetSeconds() const { return m_budget; }
    /// Seconds spent by the run so far, earlier processes included.
    double elapsedSeconds() const;
    double remainingSeconds() const { return m_budget - elapsedSeconds(); }

    /// A training step of `images` images took `seconds` (the first step after a start is
    /// slower: memory, kernels; give it with `warmup` and it is not counted).
    void stepTimed(double seconds, bool warmup = false);
    /// A validation pass over `images` images took `seconds`.
    void evalTimed(double seconds);
    /// Writing a checkpoint took `seconds`.
    void saveTimed(double seconds);
    /// Whether a step has been timed since the start (a plan needs one).
    bool measured() const { return m_steps > 0; }
    double secondsPerStep() const;
    /// A validation pass over `evalImages` images: as measured, or before any was timed, a third
    /// of a training step's cost per image with `batch` images per step.
    double secondsPerEval(int64_t evalImages, int batch) const;

    /// The total steps that end the run within its budget, after `stepsDone` steps, with
    /// `validationsLeft` validation passes and `savesLeft` checkpoints still to come, and a final
    /// evaluation costing `finalEvalPasses` validation passes, keeping 5% of the time left (at
    /// least two steps' worth) for a machine that slows down. Never fewer than stepsDone + 1.
    /// Before any validation was timed, a pass is estimated as `evalImages` images at a third of
    /// a training step's cost per image, with `batch` images per step.
    int64_t plan(int64_t stepsDone, int validationsLeft, int savesLeft, double finalEvalPasses, int64_t evalImages, int batch) const;

private:
    double m_budget, m_used;
    friend class RunLength;
    std::chrono::steady_clock::time_point m_start;
    double m_stepSeconds = 0, m_evalSeconds = 0, m_saveSeconds = 0;
    int64_t m_steps = 0, m_evals = 0, m_saves = 0;
};

/// How long a training job runs: a fixed number of steps, or a time budget planned and re-planned
/// as the run goes. Also the run's position in its schedule, which never moves back when a new
/// plan lengthens the run. Its state travels in the checkpoint (checkpointExtra()).
class RunLength {
public:
    /// `budgetSeconds` 0: `steps` steps. With a budget, `steps` is the latest plan (0: none yet).
    /// Make it when the job starts: the budget's clock starts then.
    RunLength(double budgetSeconds, int64_t steps);
    /// A resumed run: the time its earlier processes took and its schedule position, from the
    /// extra JSON of its checkpoint (checkpointExtra()); older checkpoints have neither.
    void resume(const std::string& checkpointExtra);

    bool budgeted() const { return m_planner.has_value(); }
    int64_t totalSteps() const { return m_total; }
    /// A run without a budget: its length, once its schedule is known.
    void setSteps(int64_t steps) { m_total = steps; }
    /// Time spent paused does not count against the budget.
    void paused(double seconds);
    /// Seconds the run has taken, earlier processes included (0 without a budget).
    double elapsedSeconds() const { return m_planner ? m_planner->elapsedSeconds() : 0; }
    double budgetSeconds() const { return m_planner ? m_planner->budgetSeconds() : 0; }
    /// Seconds of training so far, with or without a budget: earlier processes included (from
    /// the checkpoint), pauses left out. The x axis of a run's curves by wall time.
    double runSeconds() const;

    /// The schedule position of the step about to run (0-based `step`); it becomes the floor of
    /// later positions.
    double advance(int64_t step);
    double progress() const { return m_progress; }

    void stepTimed(double seconds, bool warmup = false);
    void evalTimed(double seconds);
    void saveTimed(double seconds);
    double secondsPerStep() const { return m_planner ? m_planner->secondsPerStep() : 0; }
    double secondsPerEval(int64_t evalImages, int batch) const { return m_planner ? m_planner->secondsPerEval(evalImages, batch) : 0; }

    /// A budgeted run: sizes the run from what was measured (see BudgetPlanner::plan). Returns
    /// true when the total changed. A run without a budget keeps its steps.
    bool replan(int64_t stepsDone, int validationsLeft, int savesLeft, double finalEvalPasses, int64_t evalImages, int batch);
    /// A budgeted run whose time is up before its plan (the machine slowed down): the steps left
    /// would not end in time, and the run should end now with what it has.
    bool outOfTime(double finalEvalSeconds) const;

    /// {"seconds": time so far, "progress": schedule position}, for the checkpoint.
    std::string checkpointExtra() const;

private:
    std::optional<BudgetPlanner> m_planner;
    int64_t m_total = 0;
    double m_progress = 0;
    double m_clockUsed = 0; ///< without a budget: the earlier processes' seconds, less pauses
    std::chrono::steady_clock::time_point m_clockStart = std::chrono::steady_clock::now();
};

} // namespace medsiam::core
