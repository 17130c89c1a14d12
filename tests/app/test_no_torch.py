"""The API process never imports torch or torch_geometric (checked in a fresh interpreter)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from app.db.migrate import upgrade
    from app.main import create_app
    from app.settings import get_settings

    url = "sqlite:///" + sys.argv[1] + "/api.db"
    upgrade(url)
    app = create_app(get_settings(database_url=url, data_dir=sys.argv[1] + "/data"))
    spec = {"components": [{"name": "qed"}, {"name": "sa"}]}
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/openapi.json").status_code == 200
        assert c.get("/libraries").status_code == 200
        r = c.post("/jobs", json={"reward": spec, "training": {"steps": 3, "batch_size": 2}})
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        assert c.get(f"/jobs/{job}").status_code == 200
        assert c.get(f"/jobs/{job}/samples").status_code == 200
        assert c.get(f"/jobs/{job}/samples", params={"fresh": True}).status_code == 409
        assert c.get("/molecules").status_code == 200
        assert c.post("/score", json={"reward": spec, "smiles": ["CCO"]}).status_code == 200
        assert c.get("/metrics").status_code == 200
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torch_geometric"))
    print("HEAVY:", heavy)
    assert not heavy, heavy
    """
)


def test_api_process_never_imports_torch(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "HEAVY: []" in out.stdout
