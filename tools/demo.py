"""`make demo`: generate gestures for the bundled sample speech, headless.

Installs the built extension into an isolated Blender user folder (out/.blender-user, so your
own Blender configuration is untouched), then runs the extension's batch command on
samples/speech_sample.wav, writing out/demo.blend and a rendered preview in out/.
"""

from __future__ import annotations

import importlib
import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out"
SAMPLE = ROOT / "samples" / "speech_sample.wav"
MODULE = "bl_ext.user_default.audio2gestures"


def fail(message: str) -> int:
    print(f"make demo: {message}", file=sys.stderr)
    return 1


def main() -> int:
    version = tomllib.loads((ROOT / "blender_manifest.toml").read_text())["version"]
    zip_path = ROOT / "dist" / f"audio2gestures-{version}.zip"
    if not zip_path.exists():
        return fail(f"{zip_path.relative_to(ROOT)} is missing: run `make build` first")
    if not any((ROOT / "models").glob("*.json")):
        return fail("no trained model in models/ (the bundled one is missing from this checkout): "
                    "nothing to generate with")

    user_dir = OUT / ".blender-user"
    user_dir.mkdir(parents=True, exist_ok=True)
    os.environ["BLENDER_USER_RESOURCES"] = str(user_dir)
    os.environ["XDG_CONFIG_HOME"] = str(user_dir / "xdg-config")
    os.environ["XDG_CACHE_HOME"] = str(user_dir / "xdg-cache")
    import bpy

    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=True, overwrite=True
    )
    if result != {"FINISHED"}:
        return fail(f"installing {zip_path.name} into Blender failed: {result}")
    batch = importlib.import_module(f"{MODULE}.cli.batch")
    argv = ["generate", str(SAMPLE), "--output-dir", str(OUT), "--name", "demo", "--preview", "--overwrite"]
    return batch.main(argv)


if __name__ == "__main__":
    sys.exit(main())
