"""A WhatsApp content template's variables: one input each, and a preview of exactly what the customer reads."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Static

from core.templates import ContentTemplate
from tui.text import literal


class VariableInput(Input):
    """One variable's value: a paste of several lines is kept whole, its lines joined by spaces (Input keeps
    only the first line of a paste, silently)."""

    def _on_paste(self, event: events.Paste) -> None:
        lines = [line.strip() for line in event.text.splitlines() if line.strip()]
        if len(lines) > 1:
            event.prevent_default()
            event.stop()
            self.insert_text_at_cursor(" ".join(lines))
            self.notify(f"Pasted {len(lines)} lines into {{{{{self.name}}}}} as one: a template value is one line.",
                        markup=False)


class TemplateForm(VerticalScroll):
    """Shown instead of the message body while a template is chosen: an Input per `{{variable}}` (filled with
    the template's defaults) and the rendered preview below them.

    Bindings: none of its own. Messages: posts Input.Changed (from its inputs) as a value changes.
    """

    can_focus = False  # Tab goes straight to the first input

    def __init__(self) -> None:
        super().__init__(id="template-form")
        self.template: ContentTemplate | None = None
        self.hint = "Choose an approved template above."  # shown while none is chosen

    def compose(self) -> ComposeResult:
        yield Static("", id="preview", markup=False)

    def on_mount(self) -> None:
        self.refresh_preview()

    async def show(self, template: ContentTemplate | None) -> None:
        """Rebuilds the inputs for this template (None: no template, nothing to fill)."""
        self.template = template
        await self.query(".variable").remove()
        if template is not None:
            rows = [self._row(name, template.defaults.get(name, "")) for name in template.placeholders]
            await self.mount_all(rows, before="#preview")
        self.refresh_preview()

    @property
    def values(self) -> dict[str, str]:
        return {field.name: field.value for field in self.query(".variable Input").results(Input)
                if field.name is not None}

    def refresh_preview(self) -> None:
        preview = self.query_one("#preview", Static)
        if self.template is None:
            preview.update(self.hint)
            return
        preview.update(literal(f"Preview: {self.template.render(self.values)}", "italic"))

    def on_input_changed(self) -> None:
        self.refresh_preview()

    @staticmethod
    def _row(name: str, default: str) -> Horizontal:
        field = VariableInput(default, name=name, compact=True, placeholder=f"value for {{{{{name}}}}}")
        return Horizontal(Static(literal(f"{{{{{name}}}}}"), classes="variable-label"), field,
                          classes="variable row")
