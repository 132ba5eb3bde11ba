"""The committed modules in metafs/etcd/proto are what scripts/protos makes of our etcd.proto."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO = ROOT / "metafs" / "etcd" / "proto"


def test_generated_modules_are_current(tmp_path: Path) -> None:
    subprocess.run([str(ROOT / "scripts" / "protos"), str(tmp_path)], check=True, timeout=120)
    made = sorted(p.name for p in (tmp_path / "metafs" / "etcd" / "proto").iterdir())
    assert (
        made == sorted(p.name for p in PROTO.glob("*_pb2.py*")) == ["etcd_pb2.py", "etcd_pb2.pyi"]
    )
    for name in made:
        assert (tmp_path / "metafs/etcd/proto" / name).read_bytes() == (PROTO / name).read_bytes()
