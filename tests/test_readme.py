"""Every snippet in the README runs as written (issue: a snippet used a name it never
defined).  Python blocks run each in a namespace of its own, in a temporary folder;
the ``odeopt`` lines of bash blocks run through the command line in-process."""

import os
import re
import runpy
import shlex
from pathlib import Path

import pytest

from odeopt.cli import main

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks(language):
    return [
        body for lang, body in BLOCK.findall(README.read_text()) if lang == language
    ]


def commands():
    """``odeopt ...`` lines of the bash blocks (after a ``&&`` too), with any trailing
    comment removed."""
    found = []
    for body in blocks("bash"):
        for line in body.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["odeopt"]:
                    found.append(words[1:])
    return found


@pytest.fixture
def in_tmp(tmp_path):
    here = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(here)


def test_the_readme_has_snippets():
    assert len(blocks("python")) >= 3 and len(commands()) >= 4


@pytest.mark.parametrize("number", range(len(blocks("python"))))
def test_python_snippet_runs(number, in_tmp):
    source = blocks("python")[number]
    names = {}
    if "display(" in source:  # a Jupyter snippet: its display is IPython's
        pytest.importorskip("ipywidgets")
        names["display"] = pytest.importorskip("IPython.display").display
    snippet = in_tmp / f"readme_{number}.py"
    snippet.write_text(source)
    runpy.run_path(str(snippet), init_globals=names, run_name="__readme__")


@pytest.mark.parametrize("words", commands(), ids=" ".join)
def test_command_runs(words, in_tmp, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(list(words))
    assert exit_info.value.code == 0, capsys.readouterr().err
