# SPDX-License-Identifier: GPL-3.0-or-later
"""The extension's panels and settings: what the artist sees (sidebar panels, scene and
add-on properties)."""
