"""The footer: the keys of what has the focus, with help and quit always first.

Why not Textual's own order: it lists the focused widget's keys first and the app's last, so on
an 80-column terminal ``? Help`` and ``^q Quit`` were the ones cut off. Here the app's keys lead.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        shown = [(node, binding, enabled, tooltip)
                 for node, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show]
        app_first = sorted(shown, key=lambda item: item[0] is not self.app)
        seen: set[str] = set()
        for _node, binding, enabled, tooltip in app_first:
            if binding.action in seen:
                continue
            seen.add(binding.action)
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip).data_bind(compact=Footer.compact)
        self.styles.grid_size_columns = len(seen)
