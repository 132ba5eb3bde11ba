"""The README's Python example runs as shown and prints what its comments say."""

import contextlib
import io
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_prints_what_it_shows(tmp_path):
    text = README.read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    assert '"/tmp/metafs-example"' in code
    code = code.replace('"/tmp/metafs-example"', repr(str(tmp_path / "store")))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    first, second = out.getvalue().splitlines()
    assert f"# {first}" in code
    assert f"# {second}" in code
