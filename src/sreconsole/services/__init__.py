"""One facade per pane, shared by the TUI and the CLI. No Textual here."""
