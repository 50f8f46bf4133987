"""Build the Blender extension zip: dist/audio2gestures-<version>.zip.

The zip holds the add-on package (a2g_blender/), the numpy runtime (core/) as the
subpackage `core` imported relatively, the bundled model (models/*.json + *.npz) and the
manifest. It is built and then validated with Blender's own extension tool
(`blender_ext.py`, shipped inside the bpy wheel); any validation failure stops the build.

Usage: python build_addon.py [--output-dir dist] [--no-validate]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "blender_manifest.toml"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


class BuildError(RuntimeError):
    pass


def manifest_version() -> str:
    with MANIFEST.open("rb") as f:
        manifest = tomllib.load(f)
    return manifest["version"]


def extension_tool() -> Path:
    """Blender's extension command line tool, from the installed bpy wheel."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("bpy is not installed: run `make build` (it sets up the venv) or pip install bpy")
    bpy_dir = Path(list(spec.submodule_search_locations)[0])
    found = sorted(bpy_dir.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise BuildError(f"Blender's extension tool blender_ext.py was not found under {bpy_dir}")
    return found[-1]


def stage(dest: Path) -> None:
    """Lay out the extension's files in `dest` exactly as they go into the zip."""
    shutil.copytree(ROOT / "a2g_blender", dest, ignore=IGNORED)
    shutil.copytree(ROOT / "core", dest / "core", ignore=IGNORED)
    models = dest / "models"
    models.mkdir()
    for path in sorted((ROOT / "models").glob("*")):
        if path.suffix in {".json", ".npz", ".md"}:
            shutil.copy2(path, models / path.name)
    shutil.copy2(MANIFEST, dest / "blender_manifest.toml")
    shutil.copy2(ROOT / "LICENSE", dest / "LICENSE")


def run_tool(*args: str) -> str:
    cmd = [sys.executable, str(extension_tool()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(args[:1])} failed (exit {proc.returncode}):\n{output}")
    return output


def build(output_dir: Path = ROOT / "dist", validate: bool = True) -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir / f"audio2gestures-{manifest_version()}.zip"
    if zip_path.exists():
        zip_path.unlink()
    with tempfile.TemporaryDirectory(prefix="a2g-build-") as tmp:
        src = Path(tmp) / "audio2gestures"
        stage(src)
        run_tool("build", "--source-dir", str(src), "--output-dir", str(output_dir))
    if not zip_path.exists():
        raise BuildError(f"Blender's builder did not write {zip_path}")
    if validate:
        run_tool("validate", str(zip_path))
    return zip_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    parser.add_argument("--no-validate", action="store_true", help="skip Blender's validator")
    args = parser.parse_args(argv)
    try:
        zip_path = build(args.output_dir, validate=not args.no_validate)
    except BuildError as exc:
        print(f"build_addon: error: {exc}", file=sys.stderr)
        return 1
    size_mb = zip_path.stat().st_size / 1e6
    print(f"built and validated {zip_path.relative_to(ROOT) if zip_path.is_relative_to(ROOT) else zip_path}"
          f" ({size_mb:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
