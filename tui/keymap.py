"""[ui.keys], checked before the app starts: every id names a binding, every key is one Textual knows, and no
two bindings that are active together share a key.

    problems = check_keymap(settings.ui.keys)   # sentences naming the key; empty when the keymap is good
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from textual.binding import Binding
from textual.keys import Keys, key_to_character

from tui.app import OutboundPanelApp
from tui.screens.hand_over import HandOverScreen
from tui.screens.help import HelpScreen
from tui.screens.sends import SendsScreen
from tui.screens.workspace import WorkspaceScreen

MODIFIERS = {"ctrl", "shift", "alt", "meta", "super", "hyper"}
_NAMED = {key.value for key in Keys}
_APP: list[Binding] = OutboundPanelApp.BINDINGS  # type: ignore[assignment]
# tab, shift+tab, and quit: on every screen
_EVERYWHERE = [binding for binding in _APP if (binding.priority and not binding.id) or binding.id == "quit"]
# keys a terminal sends as another one (ctrl+i is Tab…), or that typing and editing need
_TAKEN = {"ctrl+i": "the terminal sends Tab for it", "ctrl+m": "the terminal sends Enter for it",
          "ctrl+h": "the terminal sends Backspace for it", "ctrl+left_square_bracket": "the terminal sends Escape for it",
          "ctrl+c": "it copies (and interrupts in a terminal)", "enter": "fields and lists need it",
          "backspace": "editing needs it", "space": "typing needs it", "delete": "editing needs it",
          "ctrl+[": "the terminal sends Escape for it",
          **dict.fromkeys(("up", "down", "left", "right", "home", "end", "pageup", "pagedown"),
                          "moving in fields and lists needs it")}
# the bindings active together: the app's on the panel; a screen's own (over the app's, which they may shadow)
# with the keys that act on every screen
SCOPES: dict[str, Sequence[Binding]] = {
    "the panel": _APP,
    "my chats": WorkspaceScreen.BINDINGS + _EVERYWHERE,  # type: ignore[operator]
    "my outbound messages": SendsScreen.BINDINGS + _EVERYWHERE,  # type: ignore[operator]
    "the hand-over chooser": HandOverScreen.BINDINGS + _EVERYWHERE,  # type: ignore[operator]
    "the help": HelpScreen.BINDINGS + _EVERYWHERE,  # type: ignore[operator]
}


def is_key(name: str) -> bool:
    """A key Textual can report: modifiers joined by + and one key (a character, or a name such as f5, escape,
    question_mark)."""
    *modifiers, key = name.split("+")
    if not key.strip() or any(modifier not in MODIFIERS for modifier in modifiers):
        return False
    return (len(key) == 1 and key.isprintable() and not key.isspace()) or key in _NAMED \
        or key_to_character(key) is not None


def _types(key: str) -> bool:
    """A key with no modifier that puts a character in a field (a, 7, question_mark), not f5 or escape."""
    return "+" not in key and (len(key) == 1 or (key not in _NAMED and key_to_character(key) is not None))


def check_keymap(keys: Mapping[str, str]) -> list[str]:
    """What is wrong with this [ui.keys] table, one sentence per problem (empty: nothing)."""
    ids = {binding.id for bindings in SCOPES.values() for binding in bindings if binding.id}
    problems = [f"[ui.keys] {binding_id} is not a binding; the bindings are {', '.join(sorted(ids))}."
                for binding_id in keys if binding_id not in ids]
    for binding_id, spec in keys.items():
        parts = [part.strip() for part in spec.split(",")]
        bad = [part for part in parts if not is_key(part)]
        if bad or not spec.strip():
            problems.append(f"[ui.keys] {binding_id} = {spec!r}: {', '.join(repr(p) for p in bad) or 'nothing'} "
                            "is not a key (keys look like ctrl+s, f5, escape, question_mark).")
            continue
        for part in parts:
            if part in _TAKEN:
                problems.append(f"[ui.keys] {binding_id} = {part!r} cannot work: {_TAKEN[part]}.")
            elif _types(part) and binding_id != "help":  # help's ? is the one character key, kept off fields
                problems.append(f"[ui.keys] {binding_id} = {part!r} cannot work: it types into the fields; "
                                "add a modifier (ctrl+…) or use a function key.")
    for scope, bindings in SCOPES.items():
        holders: dict[str, list[str]] = {}
        for binding in bindings:
            spec = keys.get(binding.id, binding.key) if binding.id else binding.key
            for key in (part.strip() for part in spec.split(",")):
                holders.setdefault(key, []).append(binding.id or f"{binding.action} (built in)")
        problems += [f"[ui.keys] {key} is given to {' and '.join(names)} in {scope}: one key, one binding."
                     for key, names in holders.items() if len(names) > 1]
    return problems
