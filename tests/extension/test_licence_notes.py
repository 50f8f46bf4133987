"""The bundled model is made from BEAT2 mocap, which its authors license CC BY-NC 4.0: every place a
user reads about the model or the sample says so (README, model card, sample README, the
extension's manifest and its preferences panel)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _flat(path: str) -> str:
    return " ".join((ROOT / path).read_text(encoding="utf-8").split())


def test_every_user_facing_text_says_non_commercial():
    for path in ("README.md", "models/MODEL_CARD.md", "samples/README.md", "blender_manifest.toml"):
        text = _flat(path)
        assert "CC BY-NC 4.0" in text, path
        assert "non-commercial" in text.lower(), path


def test_readme_says_what_to_do_for_commercial_work():
    text = _flat("README.md")
    assert "For commercial work" in text
    assert "Model File" in text


def test_preferences_panel_names_the_licence():
    text = _flat("a2g_blender/ui/preferences.py")
    assert "non-commercial use only" in text and "CC BY-NC 4.0" in text


def test_manifest_tagline_names_it_within_blenders_limit():
    import tomllib

    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))
    assert "non-commercial" in manifest["tagline"]
    assert len(manifest["tagline"]) <= 64  # Blender's extension validator refuses longer taglines
