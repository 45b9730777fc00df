"""One way down: each module of stdann imports only from its own layer or below.

The layers are those of the README's map of the code: the config, errors,
atomic writes, the device context and the native module at the bottom; then
data, model, stimuli and topo; then train; then analysis; then export, the
sweep and the command line. Every import counts, at the top of a module or
inside a function (a lazy import hides a cycle, it does not remove one).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "stdann"

LAYERS = {
    "stdann._native": 0,
    "stdann.errors": 0,
    "stdann.atomic": 0,
    "stdann.config": 0,
    "stdann.runtime": 0,
    "stdann.data": 1,
    "stdann.model": 1,
    "stdann.stimuli": 1,
    "stdann.topo": 1,
    "stdann.train": 2,
    "stdann.analysis": 3,
    "stdann.export": 4,
    "stdann.sweep": 4,
    "stdann.cli": 4,
}


def layer(module: str) -> int:
    if module == "stdann":
        # The package itself: `import stdann` loads the native module alone
        # (`__version__`); `load_model` it imports lazily, when asked for.
        return 0
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return LAYERS[name]
    raise KeyError(f"{module}: not in the map of layers; add it to LAYERS and the README")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of every stdann import in the module at `path` (its
    source `text`, read from the file where None), at any depth."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found = []
    text = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("stdann")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "stdann":
                # `from stdann import x`: x is a module of the package, or
                # one of the package's own names (`__version__`).
                found += [
                    (node.lineno, f"stdann.{a.name}" if _is_module(a.name) else "stdann")
                    for a in node.names
                ]
            elif target.startswith("stdann"):
                found.append((node.lineno, target))
    return found


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_is_in_a_layer():
    for path in MODULES:
        name = module_name(path)
        if name != "stdann":
            layer(name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_run_one_way_down(path):
    name = module_name(path)
    if name == "stdann":
        # The package's __init__ re-exports load_model (lazily): it is the top.
        return
    mine = layer(name)
    upward = [
        f"line {line}: {target} (layer {layer(target)})"
        for line, target in imports(path)
        if layer(target) > mine
    ]
    assert not upward, f"{name} (layer {mine}) imports from above: {upward}"


def test_train_never_imports_analysis():
    for path in (PACKAGE / "train").rglob("*.py"):
        bad = [t for _, t in imports(path) if t.startswith(("stdann.analysis", "stdann.cli"))]
        assert not bad, f"{module_name(path)} imports {bad}"


def test_the_check_sees_lazy_and_relative_imports():
    text = (
        "import stdann.cli\n"
        "def f():\n"
        "    from stdann.analysis import tuning\n"
        "    from ..analysis import maps\n"
        "    from stdann import sweep\n"
        "    from . import checkpoint\n"
    )
    seen = [t for _, t in imports(PACKAGE / "train" / "loop.py", text)]
    assert seen == [
        "stdann.cli",
        "stdann.analysis",
        "stdann.analysis",
        "stdann.sweep",
        "stdann.train",
    ]


def test_the_torchrun_entry_point_reports_errors_as_stdann_does(tmp_path):
    """`python -m stdann.train` is `stdann train`, with its exit statuses, and
    loads neither the analysis nor the command line above it."""
    import subprocess
    import sys

    missing = tmp_path / "missing.yaml"
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['stdann.train', '--config', {str(missing)!r}, '--out', {str(tmp_path)!r}]\n"
        "try:\n"
        "    runpy.run_module('stdann.train', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith(('stdann.analysis', 'stdann.cli')))\n"
        "    print('loaded:', loaded, file=sys.stderr)\n"
        "    raise\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "stdann train: ConfigError:" in result.stderr
    assert str(missing) in result.stderr
    assert "loaded: []" in result.stderr
