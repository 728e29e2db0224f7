"""Desktop notifications through the terminal itself: the bell, OSC 9 and OSC 777.

They are plain bytes on the terminal's output, so they reach the user's desktop through SSH
and on a login node with no notification daemon. Inside tmux they must be wrapped in tmux's
passthrough sequence, which tmux 3.3+ forwards only with ``set -g allow-passthrough on``.
"""

from __future__ import annotations

import os
import sys

BEL = "\a"
ESC = "\x1b"
ST = ESC + "\\"
#: what a notification may carry: terminals cut or mangle long ones anyway
MAX_TEXT = 200


def clean(text: str) -> str:
    """One line of printable text: control characters would end the sequence early or inject others."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    # ';' separates OSC 777's fields
    return " ".join(flat.split())[:MAX_TEXT]


def osc9(body: str) -> str:
    """iTerm2, Windows Terminal, kitty, WezTerm, foot, ghostty: ``ESC ] 9 ; text ST``."""
    return f"{ESC}]9;{clean(body)}{ST}"


def osc777(title: str, body: str) -> str:
    """urxvt, VTE terminals (GNOME Terminal, Tilix), foot, WezTerm: ``ESC ] 777 ; notify ; title ; body ST``."""
    return f"{ESC}]777;notify;{clean(title).replace(';', ',')};{clean(body)}{ST}"


def tmux_passthrough(sequence: str) -> str:
    """``ESC P tmux ; <sequence with every ESC doubled> ESC \\``."""
    return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"


def notification(title: str, body: str, *, bell: bool = True, in_tmux: bool | None = None) -> str:
    """The bytes that ring the bell and raise a desktop notification in as many terminals as possible.

    Both OSC forms are sent: a terminal ignores the one it does not know.
    """
    if in_tmux is None:
        in_tmux = bool(os.environ.get("TMUX"))
    sequences = osc9(f"{title}: {body}") + osc777(title, body)
    if in_tmux:
        sequences = tmux_passthrough(osc9(f"{title}: {body}")) + tmux_passthrough(osc777(title, body))
    return (BEL if bell else "") + sequences


def send(title: str, body: str) -> bool:
    """Write the notification to the controlling terminal (so it works with stdout redirected);
    False when there is none to write to."""
    sequence = notification(title, body)
    try:
        with open("/dev/tty", "w") as tty:
            tty.write(sequence)
    except OSError:
        if not sys.stdout.isatty():
            return False
        sys.stdout.write(sequence)
        sys.stdout.flush()
    return True
