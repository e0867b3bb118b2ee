#pragma once
// The run chooser the map, training and results panels share.
#include <QString>

#include <functional>

class QComboBox;

namespace medsiam::core {
class Project;
struct RunRecord;
} // namespace medsiam::core

namespace medsiam::ui {

/// Fills `box` with the project's runs that `accept` takes, newest first, each shown as
/// "id (kind, state)" (runLabel) with the id as its data and the run's notes as its tooltip, and keeps the chosen run when it is still
/// listed (else the newest). The box's signals are blocked meanwhile: the caller refreshes its view.
void fillRunChoice(QComboBox* box, core::Project& project, const std::function<bool(const core::RunRecord&)>& accept);

/// "simsiam-20261201-101500 (SimSiam, running)", or with the name the user gave it "BiT start —
/// simsiam-20261201-101500 (SimSiam, running)": a run as the choosers list it; `state` replaces
/// the recorded one when given (a run paused in this window).
QString runLabel(const core::RunRecord& run, const QString& state = {});

/// Chooses the item whose data is `value`; false (nothing changed) when there is none.
bool chooseByData(QComboBox* box, const QString& value);

/// True when the run has a checkpoint to load.
bool hasCheckpoint(core::Project& project, const core::RunRecord& run);

} // namespace medsiam::ui
