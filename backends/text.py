"""Text from outside (job and file names, scheduler messages) made safe to show on a terminal.

A job name, a file name or a scheduler's error can carry escape sequences or
line breaks; printed raw they would move the cursor, retitle the window, hide
text or fake a line of output. Shown escaped, they read as what they are.
"""

from __future__ import annotations

import re

# C0 (with ESC, CR, LF, TAB), DEL, C1, the Unicode line/paragraph separators and
# bidirectional overrides (which reorder what follows), and the lone surrogates
# Python uses for bytes that were not UTF-8 (os.fsdecode, surrogateescape).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # the undecodable byte itself
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def terminal_safe(text: object) -> str:
    """``str(text)`` with every control character escaped (``\\x1b``, ``\\n``, ``\\u202e``...), on one line."""
    return _UNSAFE.sub(_escape, str(text))


_REPEATED_PREFIX = re.compile(r"^([\w.+-]+): (?=\1: )")


def first_line(message: object) -> tuple[str, int]:
    """A multi-line message (a scheduler's stderr) reduced to its one meaningful line.

    That is the first line that says "error" (else the first non-blank one), with a
    program name its caller repeated dropped (``sacct: sacct: error: x`` reads
    ``sacct: error: x``). Returns the line and how many other non-blank lines there were.
    """
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    if not lines:
        return "", 0
    head = lines[0]
    prefix = ""
    match = re.match(r"^([\w.+-]+): ", head)
    if match and len(lines) > 1 and not re.search(r"error", head[match.end() :], re.IGNORECASE):
        # "cmd: <first line of its stderr>" — an error line further down says more
        for line in lines[1:]:
            if re.search(r"\berror\b", line, re.IGNORECASE):
                prefix, head = match.group(0), line
                break
    line = prefix + head
    while _REPEATED_PREFIX.match(line):
        line = _REPEATED_PREFIX.sub("", line, count=1)
    return line, len(lines) - 1
