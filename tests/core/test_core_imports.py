"""``import modnet`` must not pull in the integrations' heavy dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("gymnasium", "gym", "stable_baselines3", "metaworld", "mujoco")


def test_import_modnet_imports_no_rl_libraries() -> None:
    # A fresh interpreter: this test process may already have imported them.
    code = (
        "import json, sys, modnet, modnet.reference\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "modnet" in loaded and "torch" in loaded  # the probe itself worked
    assert not loaded & set(FORBIDDEN), sorted(loaded & set(FORBIDDEN))
