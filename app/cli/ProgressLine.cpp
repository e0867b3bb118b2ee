#include "ProgressLine.h"

#include <cstdio>
#include <unistd.h>

namespace medsiam::cli {

ProgressLine::ProgressLine() : m_tty(::isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(const std::string& text, bool force)
{
    const auto now = std::chrono::steady_clock::now();
    const auto gap = m_tty ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
    if (!force && m_drawn && now - m_last < gap)
        return;
    m_last = now;
    m_drawn = true;
    if (m_tty) {
        std::string padded = text;
        if (padded.size() < m_lastWidth)
            padded += std::string(m_lastWidth - padded.size(), ' ');
        m_lastWidth = text.size();
        std::fprintf(stderr, "\r%s", padded.c_str());
    } else {
        std::fprintf(stderr, "%s\n", text.c_str());
    }
    std::fflush(stderr);
}

void ProgressLine::finish()
{
    if (m_tty && m_drawn)
        std::fprintf(stderr, "\n");
    m_drawn = false;
}

} // namespace medsiam::cli
