#pragma once
#include <chrono>
#include <string>

namespace medsiam::cli {

/// A one-line progress display on stderr: redrawn in place on a terminal (at most 10 times a
/// second), printed as a plain line every few seconds when stderr is a log file.
class ProgressLine {
public:
    ProgressLine();
    /// Shows `text`; `force` draws even if the last draw was very recent.
    void update(const std::string& text, bool force = false);
    /// Ends the line (a newline on a terminal).
    void finish();

private:
    bool m_tty;
    bool m_drawn = false;
    size_t m_lastWidth = 0;
    std::chrono::steady_clock::time_point m_last;
};

} // namespace medsiam::cli
