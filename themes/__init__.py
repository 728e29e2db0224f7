"""batchdeck's Textual themes and the colours of job states.

Job states keep the same hue in every theme (pending yellow, running blue,
failed red, done green, stale/unknown grey) so users learn them once. The hues
sit close to the ANSI palette's, so Textual's downgrade to 16 colours maps each
to the matching ANSI colour instead of collapsing two states into one.
"""

from __future__ import annotations

from textual.theme import Theme

DARK = "batchdeck-dark"
LIGHT = "batchdeck-light"

#: state colour roles; each theme defines a ``bd-<role>`` variable for every one
STATE_ROLES = ("pending", "running", "failed", "done", "stale")

BATCHDECK_DARK = Theme(
    name=DARK,
    primary="#5fafff",
    secondary="#87afd7",
    accent="#ffaf5f",
    warning="#d7af00",
    error="#ff5f5f",
    success="#5fd75f",
    foreground="#e4e4e4",
    background="#121212",
    surface="#1c1c1c",
    panel="#262626",
    dark=True,
    variables={
        "bd-pending": "#d7af00",
        "bd-running": "#5fafff",
        "bd-failed": "#ff5f5f",
        "bd-done": "#5fd75f",
        "bd-stale": "#8a8a8a",
        "footer-key-foreground": "#ffaf5f",
    },
)

BATCHDECK_LIGHT = Theme(
    name=LIGHT,
    primary="#005fd7",
    secondary="#005f87",
    accent="#af5f00",
    warning="#875f00",
    error="#d70000",
    success="#008700",
    foreground="#1c1c1c",
    background="#f5f5f5",
    surface="#ffffff",
    panel="#e4e4e4",
    dark=False,
    variables={
        # Darker shades than the dark theme's: the same hues stay readable on white.
        "bd-pending": "#875f00",
        "bd-running": "#005fd7",
        "bd-failed": "#d70000",
        "bd-done": "#008700",
        "bd-stale": "#6c6c6c",
        "footer-key-foreground": "#af5f00",
    },
)

THEMES: tuple[Theme, ...] = (BATCHDECK_DARK, BATCHDECK_LIGHT)

# Fallbacks when the app runs one of Textual's own themes, which lack bd-* variables.
DEFAULT_STATE_COLOURS = {
    "pending": "yellow",
    "running": "blue",
    "failed": "red",
    "done": "green",
    "stale": "bright_black",
}
