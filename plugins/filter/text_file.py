# Copyright: rayfleet contributors
# Apache License 2.0 (see LICENSE)
"""A filter for the bundles of a node's files that the roles render for node_files."""

from __future__ import annotations

from collections.abc import Callable

DOCUMENTATION = r"""
name: text_file
short_description: Text as a file holds it, ending in a newline
description:
  - Returns the text with a newline added where it does not end in one.
  - A role renders a node's files in one template lookup that includes each file's template,
    and Jinja's C({% include %}) drops a template's last newline, which a file written from the
    template alone keeps.
options:
  _input:
    description: The text.
    type: str
    required: true
"""

EXAMPLES = r"""
# In a bundle template: {% set unit %}{% include 'ray.service.j2' %}{% endset %}
content: "{{ unit | rayfleet.cluster.text_file }}"
"""

RETURN = r"""
_value:
  description: The text, ending in a newline.
  type: str
"""


def text_file(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


class FilterModule:
    def filters(self) -> dict[str, Callable[[str], str]]:
        return {"text_file": text_file}
