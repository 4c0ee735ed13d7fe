"""The package's public face: ``__all__`` names what users import, each one resolvable."""

from __future__ import annotations

import subprocess
import sys

import pytest

import gcdedup


@pytest.mark.parametrize("name", [n for n in gcdedup.__all__ if n != "__version__"])
def test_every_public_name_resolves_to_the_object_its_module_defines(name: str) -> None:
    value = getattr(gcdedup, name)
    module = __import__(gcdedup._EXPORTS[name], fromlist=[name])
    assert value is getattr(module, name)


def test_all_lists_exactly_the_exports() -> None:
    assert sorted(gcdedup.__all__) == sorted([*gcdedup._EXPORTS, "__version__"])


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'gcdedup' has no attribute 'nope'"):
        gcdedup.nope  # noqa: B018


def test_importing_the_package_loads_neither_the_cli_nor_the_analysis() -> None:
    code = (
        "import sys, gcdedup; from gcdedup import process, open_store; "
        "print(sorted(m for m in sys.modules if m.startswith(('gcdedup.cli', 'gcdedup.analysis',"
        " 'typer', 'rich'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
