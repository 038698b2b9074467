"""Dataclasses and pure logic: no Textual, no IO."""
