"""Adapters to the outside world (and the embedded demo). No Textual here."""
