# SPDX-License-Identifier: GPL-3.0-or-later
"""A module's register() and unregister(): its Blender classes, and the properties it hangs on
Blender's own types (``bpy.types.Scene.a2g`` ...)."""

import bpy


def registrar(classes, properties=()):
    """``(register, unregister)``: register ``classes`` in order, then set ``properties``
    (``(owner type, attribute, bpy.props property)`` triples) on their owners; unregister deletes
    the properties, last first, then unregisters the classes in reverse order."""

    def register():
        for cls in classes:
            bpy.utils.register_class(cls)
        for owner, name, prop in properties:
            setattr(owner, name, prop)

    def unregister():
        for owner, name, _prop in reversed(properties):
            delattr(owner, name)
        for cls in reversed(classes):
            bpy.utils.unregister_class(cls)

    return register, unregister
